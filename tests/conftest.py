"""Shared fixtures: the demo town is generated once per test session.

The product's one clock (:mod:`layers.clock`) is fixed for the whole run — and for every
server and CLI process the tests start — at the demo's anchor day, so figures are
reproducible; tests of the clock itself set ``WANGGE_NOW`` to other days.

**Backends.** A test module marked ``pytestmark = pytest.mark.backends`` runs each of its tests
that use ``store_copy`` (or ``backend``) once per backend of ``$WANGGE_TEST_BACKENDS`` (default
``gpkg,postgis``): ``store_copy`` is then a ``.gpkg`` path or a ``postgresql://`` URL of a
private copy of the demo. A test of such a module that only makes sense for one file is marked
``gpkg_only``. The PostGIS copies come from a throwaway cluster each test worker starts
(:mod:`layers.store.postgis.cluster`): the demo is copied into a template database once
(``python -m layers copy`` underneath), and every test gets ``CREATE DATABASE … TEMPLATE`` of it
(a file copy on the server, ~0.2 s), dropped afterwards."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import tempfile
from pathlib import Path

import pytest

os.environ["WANGGE_NOW"] = "2026-11-20T12:00:00"
# derived caches of stores that are not files (PostGIS) go to a folder of this run, not ~/.cache
os.environ.setdefault("WANGGE_CACHE_DIR", tempfile.mkdtemp(prefix="wangge-test-cache-"))

import layers.snapshot
from layers.demo import generate_demo
from layers.layerset import LayerSet
from layers.store import open_store
from layers.tickets import TicketStore, db_path_for

layers.snapshot.WRITE_DELAY_S = 0.0  # snapshot files written at once: tests wait() for them


@pytest.fixture(scope="session")
def demo() -> LayerSet:
    """The default demo town (seed 7), validated as it comes out of the store."""
    return generate_demo()


@pytest.fixture(scope="session")
def demo_file(tmp_path_factory, demo) -> Path:
    """The demo store with its ticket database seeded from the demo's history (what
    ``python -m layers demo`` makes)."""
    path = tmp_path_factory.mktemp("store") / "demo.gpkg"
    open_store(path).write(demo)
    TicketStore.for_store(path, seed=True).close()  # checkpointed: one file
    return path


#: The backends the parametrised tests run on.
BACKENDS = tuple(b for b in os.environ.get("WANGGE_TEST_BACKENDS", "gpkg,postgis").split(",")
                 if b)


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "backends: run the module's store tests on every backend")
    config.addinivalue_line("markers", "gpkg_only: a test of a backends module for the file only")
    config.addinivalue_line(
        "markers", "postgis_first_case: of a table of cases, only the first runs on PostGIS")


def pytest_collection_modifyitems(config, items) -> None:
    """A table of cases marked ``postgis_first_case`` runs whole on the file and its first case
    on PostGIS: the cases differ in what the CLI or the library refuses before any write, the
    backend only in how "nothing changed" is stored (the contract suite covers that)."""
    seen: set[str] = set()
    keep, drop = [], []
    for item in items:
        params = getattr(item, "callspec", None)
        if (item.get_closest_marker("postgis_first_case") is None or params is None
                or params.params.get("backend") != "postgis"):
            keep.append(item)
            continue
        name = item.nodeid.split("[", 1)[0]
        (drop if name in seen else keep).append(item)
        seen.add(name)
    if drop:
        config.hook.pytest_deselected(items=drop)
    # the browser modules (the longest files) first: with a file per worker, the many short
    # files then fill the end of the run evenly instead of one worker finishing a long
    # browser module alone
    items[:] = sorted(keep, key=lambda item: not item.path.name.endswith("_browser.py"))


def pytest_generate_tests(metafunc) -> None:
    """``backend`` takes every backend in modules marked ``backends`` (``gpkg`` elsewhere)."""
    if "backend" not in metafunc.fixturenames:
        return
    if metafunc.definition.get_closest_marker("backends") is None or \
            metafunc.definition.get_closest_marker("gpkg_only") is not None:
        return
    metafunc.parametrize("backend", BACKENDS)


@pytest.fixture
def backend() -> str:
    """The backend of ``store_copy``: ``gpkg`` unless the module is marked ``backends``."""
    return "gpkg"


@pytest.fixture(scope="session")
def pg_cluster():
    """A throwaway PostgreSQL + PostGIS cluster of this test worker."""
    from layers.store.postgis.cluster import Cluster, available

    if not available():
        pytest.fail("PostgreSQL/PostGIS is not installed: run the test command "
                    "`bash scripts/test.sh` (or set WANGGE_TEST_BACKENDS=gpkg)")
    with Cluster.start() as cluster:
        yield cluster


@pytest.fixture(scope="session")
def pg_template(pg_cluster, demo_file) -> str:
    """A database holding the demo store (schema ``wangge``), the template of every test's."""
    from layers.store.copy import copy_store as copy_between
    from layers.store.postgis import _url

    url = pg_cluster.database("demo_template")
    copy_between(open_store(demo_file), open_store(url))
    _url.dispose_all()  # a template database must have no connection
    return "demo_template"


def pg_copy(cluster, template: str) -> str:
    """A new database cloned from ``template``; its store URL."""
    import psycopg

    name = f"t_{secrets.token_hex(6)}"
    with psycopg.connect(cluster.url(), autocommit=True) as con:
        con.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    return cluster.url(name)


def pg_drop(cluster, url: str) -> None:
    """Drop the database of ``url`` (its pooled connections closed first)."""
    import psycopg

    from layers.store.postgis import _url

    _url.dispose_all()
    name = url.rsplit("/", 1)[1].split("?")[0]
    with psycopg.connect(cluster.url(), autocommit=True) as con:
        con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def store_copy(request, tmp_path, demo_file, backend):
    """A private copy of the demo store (layers and tickets) that a test may write to: a
    ``.gpkg`` path, or — in a ``backends`` module — a PostGIS URL."""
    if backend == "gpkg":
        path = tmp_path / "town.gpkg"
        copy_store(demo_file, path)
        return path
    cluster = request.getfixturevalue("pg_cluster")
    url = pg_copy(cluster, request.getfixturevalue("pg_template"))
    request.addfinalizer(lambda: pg_drop(cluster, url))
    return url


@pytest.fixture
def empty_store(request, tmp_path, backend):
    """The location of a store that does not exist yet (a new ``.gpkg`` path, or an empty
    PostGIS database)."""
    if backend == "gpkg":
        return tmp_path / "new.gpkg"
    cluster = request.getfixturevalue("pg_cluster")
    name = f"e_{secrets.token_hex(6)}"
    url = cluster.database(name)
    request.addfinalizer(lambda: pg_drop(cluster, url))
    return url


def copy_store(source: Path, target: Path) -> Path:
    """Copy a GeoPackage store and its ticket database (when it has one)."""
    shutil.copyfile(source, target)
    if db_path_for(source).exists():
        shutil.copyfile(db_path_for(source), db_path_for(target))
    return target


@pytest.fixture
def accounts_store(store_copy):
    """The store accounts and session tests run on, as a :class:`~layers.store.Store`: a
    private GeoPackage demo copy (tests taking it assert through the contract only, so other
    backends can be added as parameters of this fixture)."""
    return open_store(store_copy)


@pytest.fixture
def app_store(store_copy, monkeypatch) -> Path:
    """A private copy of the demo store that the dashboard under test shows."""
    monkeypatch.setenv("WANGGE_STORE", str(store_copy))
    return store_copy


class SharedBrowser:
    """Debian's headless Chromium for one test module: every page opens in **one** browser
    context (``launch_persistent_context``) with Chromium's ``--process-per-site``, so a page
    after the first reuses the Streamlit bundle Chromium already loaded and compiled (a new
    context per page parsed it again: ~1 s and ~2 CPU-seconds a visit). Each page is still
    a Streamlit session of its own (the login lives in the server-side session, no cookie).

    ``new_page(viewport=…)`` and ``new_context(viewport=…)`` look like Playwright's; a
    context asked for with other options (a phone's user agent, touch) is a real context of
    a second browser. Pages a test leaves open are closed after it (:func:`_close_pages`)."""

    def __init__(self, playwright, user_data_dir: str) -> None:
        from browserkit import ARGS, CHROMIUM

        self._p, self._args, self._exe = playwright, [*ARGS, "--process-per-site"], CHROMIUM
        self._ctx = playwright.chromium.launch_persistent_context(
            user_data_dir, executable_path=CHROMIUM, args=self._args, headless=True,
            viewport={"width": 1280, "height": 720}, accept_downloads=True)
        self._other = None
        self._open: list = []

    def new_page(self, viewport: dict | None = None, **options):
        if options:
            return self.new_context(viewport=viewport, **options).new_page()
        page = self._ctx.new_page()
        if viewport:
            page.set_viewport_size(viewport)
        self._open.append(page)
        return page

    def new_context(self, viewport: dict | None = None, **options):
        options.pop("accept_downloads", None)  # the shared context accepts them
        if not options:
            return _ContextView(self, viewport)
        if self._other is None:
            self._other = self._p.chromium.launch(executable_path=self._exe, args=self._args)
        ctx = self._other.new_context(viewport=viewport, **options)
        self._open.append(ctx)
        return ctx

    def close_pages(self) -> None:
        _close_all(self._open)

    def close(self) -> None:
        self.close_pages()
        self._ctx.close()
        if self._other is not None:
            self._other.close()


class _ContextView:
    """What a test calls a browser context: its pages, in the shared context."""

    def __init__(self, shared: SharedBrowser, viewport: dict | None) -> None:
        self._shared, self._viewport, self._pages = shared, viewport, []

    def new_page(self):
        page = self._shared.new_page(viewport=self._viewport)
        self._pages.append(page)
        return page

    def close(self) -> None:
        _close_all(self._pages)


def _close_all(things: list) -> None:
    """Close pages or contexts (one already closed, or whose browser went, is left alone)."""
    for thing in things:
        with contextlib.suppress(Exception):
            thing.close()
    things.clear()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """Debian's headless Chromium driven by Playwright (one per test module)."""
    from browserkit import CHROMIUM
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed: run the test command `bash scripts/test.sh`")
    with sync_playwright() as p:
        b = SharedBrowser(p, str(tmp_path_factory.mktemp("chromium-profile")))
        yield b
        b.close()


@pytest.fixture(autouse=True)
def _close_pages(request):
    """The pages a browser test left open are closed after it (they would go on running
    their Streamlit sessions in the shared renderer)."""
    shared = request.getfixturevalue("browser") if "browser" in request.fixturenames else None
    yield
    if shared is not None:
        shared.close_pages()


def is_pg(location) -> bool:
    return str(location).startswith("postgresql://")


def raw_query(location, sql: str, params: tuple = ()) -> list[tuple]:
    """Rows of ``sql`` read as a plain SQL client would, not through the library: sqlite3 on
    a GeoPackage, psycopg on a PostGIS store (its schema first in the search path; ``?``
    placeholders; dates come back as ISO text either way)."""
    import datetime as dt
    import sqlite3

    if not is_pg(location):
        con = sqlite3.connect(location)
        try:
            return con.execute(sql, params).fetchall()
        finally:
            con.close()
    import psycopg

    with psycopg.connect(str(location).split("?")[0], autocommit=True) as con:
        con.execute("SET search_path = wangge, public")
        cur = con.execute(sql.replace("?", "%s"), params or None)
        rows = cur.fetchall() if cur.description else []
    return [tuple(v.isoformat() if isinstance(v, dt.datetime) else v for v in r) for r in rows]


def content_bytes(location) -> bytes:
    """Everything a store holds, as bytes: a GeoPackage file's (and its tickets'), or every
    table of a PostGIS store's schema dumped in key order."""
    if not is_pg(location):
        out = Path(location).read_bytes()
        if db_path_for(location).exists():
            out += db_path_for(location).read_bytes()
        return out
    import psycopg

    parts: list[bytes] = []
    with psycopg.connect(str(location).split("?")[0], autocommit=True) as con:
        tables = [r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'wangge' "
            "ORDER BY table_name")]
        for t in tables:
            parts.append(t.encode())
            with con.cursor().copy(f'COPY (SELECT * FROM wangge."{t}" ORDER BY 1) TO STDOUT'
                                   ) as cp:
                parts.extend(bytes(block) for block in cp)
    return b"".join(parts)


def content_digest(location) -> str:
    """A digest of :func:`content_bytes`."""
    import hashlib

    return hashlib.sha256(content_bytes(location)).hexdigest()
