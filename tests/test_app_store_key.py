"""The app on any store location (issue 23): ``$WANGGE_STORE`` may be a ``postgresql://`` URL
with a password; every cache is keyed by the store's identity, the location the server was
given is kept in the process only to open the store again, and nothing the app shows or logs
names the password. ``?data=`` stays a plain name of a file in the data folder.

A database server is stood in for by a store opened from a URL whose data is a GeoPackage
file (the PostGIS backend passes the same contract suite), refused without the password (so
whatever re-opens it from a key must use the configured location); accounts are reached
through the file until they reach their tables through the store itself."""

from __future__ import annotations

import logging
import urllib.parse
from pathlib import Path

import pytest
from conftest import copy_store
from streamlit.testing.v1 import AppTest

from dashboard import data as appdata
from dashboard.i18n import t
from layers import network
from layers.auth.accounts import Accounts
from layers.store import GeoPackageStore, StoreUnavailable, open_store, postgis

APP = str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py")
SECRET = "s3cret-Pw9"
URL = f"postgresql://wangge:{SECRET}@db.example:6543/town?schema=demo"
SHOWN = "postgresql://wangge@db.example:6543/town?schema=demo"


@pytest.fixture
def server(tmp_path, demo_file, monkeypatch) -> Path:
    """``postgresql://…`` URLs open a store whose data is a copy of the demo town (returned),
    its caches in a folder of their own; ``$WANGGE_STORE`` is :data:`URL`."""
    (tmp_path / "server").mkdir()
    data = copy_store(demo_file, tmp_path / "server" / "town.gpkg")
    cache = tmp_path / "server-cache"

    class ServerStore(GeoPackageStore):
        def __init__(self, url: str) -> None:
            super().__init__(data)
            u = urllib.parse.urlsplit(url)
            schema = urllib.parse.parse_qs(u.query).get("schema", ["wangge"])[0]
            port = f":{u.port}" if u.port else ""
            self.location = f"postgresql://{u.username}@{u.hostname}{port}{u.path}?schema={schema}"
            self.identity = (f"postgresql://{u.username}@{u.hostname}:{u.port or 5432}{u.path}"
                             f"?schema={schema}")
            if u.password != SECRET:  # opened again from its key alone: refused
                raise StoreUnavailable(f"{self.location}: password authentication failed")

        def __repr__(self) -> str:
            return f"ServerStore({self.location!r})"

        def cache_dir(self) -> Path:
            return cache

    monkeypatch.setattr(postgis, "PostGISStore", ServerStore, raising=False)
    monkeypatch.setattr(appdata, "Accounts",
                        lambda loc, *a, **kw: Accounts(open_store(loc).path, *a, **kw))
    monkeypatch.setenv("WANGGE_STORE", URL)
    return data


def _everything(at: AppTest) -> str:
    """Every element the run sent to the browser, as text (its protobuf messages)."""
    out: list[str] = []

    def walk(node: object) -> None:
        proto = getattr(node, "proto", None)
        if proto is not None:
            out.append(str(proto))
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    return "\n".join(out)


def _logged(caplog) -> str:
    """Every log line of the test, with its traceback."""
    fmt = logging.Formatter()
    return "\n".join(fmt.format(r) for r in caplog.records)


def test_the_store_key_is_the_identity_and_opens_the_configured_location(server):
    key = appdata.store_key(URL)
    assert key == "postgresql://wangge@db.example:6543/town?schema=demo"
    assert SECRET not in key and SECRET not in appdata.shown(key)
    assert appdata.shown(key) == SHOWN
    assert appdata.location_of(key) == URL  # to open it again: in this process only
    assert appdata.open_key(key).layer_names() == open_store(server).layer_names()
    assert appdata.store_key(URL) == key
    # a GeoPackage's key is its resolved path, its location as given
    assert appdata.store_key(str(server)) == str(server.resolve())


def test_the_pages_show_and_log_no_password(server, caplog):
    caplog.set_level(logging.DEBUG)
    at = AppTest.from_file(APP, default_timeout=180).run()  # the map, header and sidebar
    assert not at.exception
    assert t("page_map") in [x.value for x in at.title]
    assert at.session_state["_store_shown"][0] == appdata.store_key(URL)
    assert SECRET not in _everything(at)
    for module in ("coverage_page", "people_page", "tickets_page", "reach_page",
                   "audit_page", "data_page"):
        at = AppTest.from_string(f"from dashboard.views import {module}\n{module}.render()\n",
                                 default_timeout=180).run()
        assert not at.exception, module
        assert not at.error, (module, [e.value for e in at.error])
        assert SECRET not in _everything(at), module
    assert SECRET not in _logged(caplog)
    caches = [*appdata._LAYERS, *appdata._LOCKS, *((k,) for k in appdata._MEMOS)]
    assert caches and not [k for k in caches if SECRET in k[0]]


def test_a_failure_is_logged_with_the_store_location_not_its_password(server, caplog,
                                                                      monkeypatch):
    def broken(self):
        raise OSError("the server went away")

    monkeypatch.setattr(GeoPackageStore, "version", broken)
    caplog.set_level(logging.DEBUG)
    at = AppTest.from_string("from dashboard import chrome, state\n"
                             "chrome.header(state.store_key(), 'zh')\n").run()
    assert not at.exception  # the header is left without its area; the reason is logged
    logged = _logged(caplog)
    assert SHOWN in logged and SECRET not in logged


def test_the_first_admin_notice_names_the_url_without_its_password(server):
    open_store(server).transform(lambda _cur: {}, meta={"fictional": "false"})
    at = AppTest.from_file(APP, default_timeout=180).run()
    assert not at.exception
    assert [w.value for w in at.warning] == [t("auth_no_accounts")]
    assert SHOWN in at.code[0].value and SECRET not in _everything(at)


def test_a_server_store_is_never_set_up_as_a_demo_and_offers_no_file_picker(server, tmp_path,
                                                                           monkeypatch):
    folder = tmp_path / "data"
    folder.mkdir()
    for name in ("a", "b"):
        copy_store(server, folder / f"{name}.gpkg")
    monkeypatch.setenv("WANGGE_DATA_DIR", str(folder))
    assert not appdata.is_shipped_demo(URL)
    assert appdata.ensure_demo(URL) is False
    key = appdata.store_key(URL)
    assert appdata.data_folder_name(key) is None
    at = AppTest.from_file(APP, default_timeout=180).run()
    assert not at.exception
    assert "dataset" not in {w.key for w in at.sidebar.selectbox}
    # a file of the data folder is offered the folder's other stores
    monkeypatch.setenv("WANGGE_STORE", str(folder / "a.gpkg"))
    assert appdata.data_folder_name(appdata.store_key(str(folder / "a.gpkg"))) == "a"
    at = AppTest.from_file(APP, default_timeout=180).run()
    assert not at.exception
    assert at.sidebar.selectbox(key="dataset").options == ["a", "b"]


def test_the_data_parameter_never_opens_a_url(server):
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params["data"] = URL
    at.run()
    assert not at.exception
    assert [e.value for e in at.error] == [t("err_bad_data_param")]
    assert SECRET not in _everything(at)


def test_the_walking_network_of_a_server_store_is_kept_in_its_cache_folder(server, tmp_path,
                                                                          monkeypatch):
    monkeypatch.chdir(tmp_path)  # a URL taken as a path would leave files here
    roads = open_store(server).read(["roads"], check_geometry=False).roads
    net = network.cached(URL, roads)
    assert net is not None and net.n_nodes > 0
    kept = list((tmp_path / "server-cache").glob("walk.*.gpkg"))
    assert len(kept) == 1
    again = network.cached(URL, roads)
    assert again is not None and again.n_edges == net.n_edges
    assert list((tmp_path / "server-cache").glob("walk.*.gpkg")) == kept
    assert not list(tmp_path.glob("postgresql*"))
