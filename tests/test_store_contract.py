"""The store contract (:class:`layers.store.base.Store`), passed by every backend: each test runs
on the embedded GeoPackage and on PostGIS (a throwaway cluster, see conftest), against
independent expectations (the demo as generated, brute-force filters, a plain SQL client)."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import shapely

from layers.auth import Principal
from layers.errors import LayerValidationError, StoreError
from layers.store import (
    RowConflict,
    Store,
    StoreUnavailable,
    open_store,
)
from layers.store.copy import CopyError, copy_store
from layers.tickets import TicketStore

pytestmark = pytest.mark.backends

#: The operator (what tests that are not about authorisation act as).
OP = Principal.operator()


def _frames_equal(a: pd.DataFrame, b: pd.DataFrame, name: str) -> None:
    """Same columns, rows, values (dtype-tolerant) and geometries."""
    assert list(a.columns) == list(b.columns), name
    assert len(a) == len(b), name
    for col in a.columns:
        if col == "geometry":
            assert shapely.equals_exact(a.geometry.to_numpy(), b.geometry.to_numpy(),
                                        tolerance=1e-12).all(), name
        else:
            pd.testing.assert_series_equal(a[col].reset_index(drop=True),
                                           b[col].reset_index(drop=True), check_dtype=False,
                                           check_names=False, obj=f"{name}.{col}")


def raw_sql(location, sql: str, params: tuple = ()) -> None:
    """Change the store as a plain SQL client would (sqlite3 on the file, psycopg on the
    server): not through the library."""
    if str(location).startswith("postgresql://"):
        import psycopg

        with psycopg.connect(str(location).split("?")[0], autocommit=True) as con:
            con.execute("SET search_path = wangge, public")
            con.execute(sql.replace("?", "%s"), params)
        return
    from layers.store.gpkg._sqlite import connect

    con = connect(location)
    try:
        con.execute(sql, params)
    finally:
        con.close()


# -- reading ------------------------------------------------------------------------------------
def test_is_a_store_and_reads_what_was_generated(store_copy, demo):
    store = open_store(store_copy)
    assert isinstance(store, Store) and store.exists()
    assert "password" not in store.location and store.identity
    back = store.read()
    assert set(back) == set(demo)
    for name in demo:
        _frames_equal(demo[name], back[name], name)
    assert back.fictional and back.meta["label"] == "示例数据，非真实"


def test_reads_give_the_same_frames_on_every_backend(store_copy, demo_file):
    """Dtypes too: a page cannot tell the backends apart."""
    mine = open_store(store_copy).read(relative_dates=False)
    gpkg = open_store(demo_file).read(relative_dates=False)
    for name in gpkg:
        pd.testing.assert_frame_equal(mine[name].reset_index(drop=True),
                                      gpkg[name].reset_index(drop=True), obj=name)


def test_bbox_read_is_what_intersects_the_box(store_copy, demo):
    minx, miny, maxx, maxy = demo.grids.geometry.iloc[3].bounds
    part = open_store(store_copy).read(["buildings"], bbox=(minx, miny, maxx, maxy)).buildings
    box = shapely.box(minx, miny, maxx, maxy)
    expected = {c for c, g in zip(demo.buildings.code, demo.buildings.geometry, strict=True)
                if g.intersects(box)}
    assert 0 < len(part) < len(demo.buildings)
    assert set(part.code) == expected


def test_read_layer_columns_and_rows_by_id(store_copy, demo):
    store = open_store(store_copy)
    only = store.read_layer("people", columns=["person_id", "is_party_member"])
    assert list(only.columns) == ["person_id", "is_party_member"]
    assert only["person_id"].tolist() == demo.people["person_id"].tolist()
    rows = store.read_layer("people", fids=[3, 1, 10])
    assert sorted(rows.index.tolist()) == [1, 3, 10]
    assert rows.loc[3, "person_id"] == demo.people["person_id"].iloc[2]
    assert rows.geometry.iloc[0] is not None
    with pytest.raises(StoreError, match="no column"):
        store.read_layer("people", columns=[])


def test_missing_store_and_layer_are_clear_errors(store_copy, empty_store):
    new = open_store(empty_store)
    assert not new.exists()
    with pytest.raises(StoreError, match="no such"):
        new.read()
    with pytest.raises(StoreError, match="no such"):
        new.layer_versions()
    store = open_store(store_copy)
    store.write(store.read(["towns", "communities", "grids", "buildings", "people",
                            "assignments"],
                           relative_dates=False))
    with pytest.raises(StoreError, match="roads"):
        store.read_layer("roads")
    for bbox in (None, (106.0, 29.0, 107.0, 30.0)):  # a whole read, a bbox read
        with pytest.raises(StoreError, match="layer 'roads' is missing"):
            store.read(["buildings", "roads"], bbox=bbox)


# -- whole-store writes -------------------------------------------------------------------------
def test_refused_write_and_update_leave_everything(store_copy, demo):
    store = open_store(store_copy)
    before = store.layer_versions()
    g = demo.grids.copy()
    g.loc[3, "code"] = g.loc[4, "code"]
    with pytest.raises(LayerValidationError, match="not unique"):
        store.write(demo.replace(grids=g))
    with pytest.raises(LayerValidationError, match="not a code in grids"):
        store.update({"grids": demo.grids.iloc[1:]})
    assert store.layer_versions() == before
    assert len(store.read(["grids"]).grids) == len(demo.grids)


def test_write_replaces_layers_and_keeps_the_service_tables(store_copy, demo):
    store = open_store(store_copy)
    tickets = len(TicketStore.for_store(store).frame(principal=OP))
    with store.edit_rows() as edit:
        edit.log([{"action": "note", "by": "测试"}])
    smaller = demo.replace(care_points=demo.care_points.iloc[:5])
    store.write(smaller.replace(**{}))
    assert len(store.read(["care_points"]).care_points) == 5
    assert len(store.change_log()) == 1  # kept
    assert len(TicketStore.for_store(store).frame(principal=OP)) == tickets


def test_update_keeps_the_other_layers_tokens_and_merges_meta(store_copy, demo):
    store = open_store(store_copy)
    before = store.layer_versions()
    more = pd.concat([demo.care_points, demo.care_points.iloc[:1].assign(code="NEW-1")],
                     ignore_index=True)
    store.update({"care_points": more}, meta={"source_care": "街道提供"})
    after = store.layer_versions()
    assert after["care_points"] != before["care_points"] and after["meta"] != before["meta"]
    assert {k for k in before if before[k] != after.get(k)} == {"care_points", "meta"}
    assert store.meta()["source_care"] == "街道提供" and store.meta()["fictional"] == "true"
    assert "NEW-1" in set(store.read(["care_points"]).care_points.code)


APPEND = """
import sys, time
import pandas as pd
from layers.store import open_store
store = open_store(sys.argv[1])
def add(current):
    time.sleep(0.3)  # both read before either writes, were it not for the lock
    cp = current.care_points
    return {"care_points": pd.concat([cp, cp.iloc[:1].assign(code=sys.argv[2])],
                                     ignore_index=True)}
store.transform(add)
"""


def test_two_processes_transforming_at_once_both_land(store_copy, demo):
    procs = [subprocess.Popen([sys.executable, "-c", APPEND, str(store_copy), code])
             for code in ("A-1", "B-1")]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    codes = set(open_store(store_copy).read(["care_points"]).care_points.code)
    assert {"A-1", "B-1"} <= codes and len(codes) == len(demo.care_points) + 2


# -- row edits ----------------------------------------------------------------------------------
def _person(demo, **kw) -> pd.DataFrame:
    import geopandas as gpd

    b = demo.buildings.iloc[0]
    row = {"person_id": "P99999999", "name": "测试人", "phone": "13800000000",
           "is_party_member": True, "home_building_code": b["code"], **kw}
    return gpd.GeoDataFrame([row], geometry=[b.geometry.representative_point()],
                            crs="EPSG:4326")


def test_row_edits_insert_update_expect_and_log(store_copy, demo):
    store = open_store(store_copy)
    before = store.layer_versions()
    store.insert_rows("people", _person(demo), [{"action": "person_add", "by": "王芳",
                                                 "person_id": "P99999999",
                                                 "after": {"name": "测试人"}}])
    got = store.select_rows("people", {"person_id": "P99999999"})
    assert got["name"].tolist() == ["测试人"] and bool(got["is_party_member"].iloc[0])
    assert got.geometry.iloc[0].within(demo.buildings.geometry.iloc[0])
    n = store.update_rows("people", {"person_id": "P99999999"}, {"phone": "13900000000"},
                          expected={"phone": "13800000000"},
                          log_entries=[{"action": "person_edit", "by": "王芳"}])
    assert n == 1
    with pytest.raises(RowConflict, match="changed by someone else"):
        store.update_rows("people", {"person_id": "P99999999"}, {"phone": "13700000000"},
                          expected={"phone": "13800000000"})
    assert store.select_rows("people", {"person_id": "P99999999"})["phone"].tolist() == [
        "13900000000"]
    log = store.change_log({"person_id": "P99999999"})
    assert log["action"].tolist() == ["person_add"] and log["after"].iloc[0] == {"name": "测试人"}
    assert store.change_log({"action": "person_edit"})["by"].tolist() == ["王芳"]
    after = store.layer_versions()
    assert {k for k in after if after[k] != before.get(k)} == {"people", "change_log"}


def test_a_row_breaking_the_contract_or_a_failing_block_writes_nothing(store_copy, demo):
    store = open_store(store_copy)
    before = store.layer_versions()
    with pytest.raises(LayerValidationError):
        store.insert_rows("people", _person(demo, home_building_code="NOPE"))
    with pytest.raises(LayerValidationError, match="already in the store"):
        store.insert_rows("people", _person(demo, person_id=demo.people.person_id.iloc[0]))
    with pytest.raises(RuntimeError), store.edit_rows() as edit:
        edit.insert("people", _person(demo))
        edit.log([{"action": "person_add"}])
        raise RuntimeError("killed half way")
    assert store.layer_versions() == before
    assert store.select_rows("people", {"person_id": "P99999999"}).empty


def test_dates_are_shown_relative_to_a_demo_anchor(store_copy):
    store = open_store(store_copy)
    shown = store.read(["assignments"]).assignments
    stored = store.read(["assignments"], relative_dates=False).assignments
    shift = (shown["since"] - stored["since"]).dropna().unique()
    assert len(shift) == 1
    rows = store.select_rows("assignments", {"person_id": shown["person_id"].iloc[0]})
    assert rows["since"].iloc[0] == shown["since"].iloc[0]


# -- versions and catching up ---------------------------------------------------------------
def test_every_client_moves_the_layer_token(store_copy, demo):
    store = open_store(store_copy)
    before = store.layer_versions()
    raw_sql(store_copy, "UPDATE parking SET name = ? WHERE code = ?",
            ("新停车场", demo.parking.code.iloc[0]))
    after = store.layer_versions()
    assert after["parking"] != before["parking"]
    assert after["grids"] == before["grids"]
    assert store.version() != ""


def test_version_ignores_accounts_and_tickets(store_copy, demo):
    from layers.auth import Accounts

    store = open_store(store_copy)
    v = store.version()
    Accounts(store).add("管理员", "admin", password="a-long-password-1", by="cli")
    ts = TicketStore.for_store(store)
    g = demo.grids.geometry.iloc[0].representative_point()
    ts.add("other", g.x, g.y, "测试", principal=OP)
    assert store.version() == v


def test_read_changed_equals_a_whole_read_after_any_client_edits(store_copy, demo):
    store = open_store(store_copy)
    name = "people"
    frame = store.read([name], relative_dates=False)[name]
    marker = store.row_marker(name)
    assert marker is not None and marker.rows == len(demo.people)
    rng = np.random.default_rng(5)
    ids = demo.people["person_id"].to_numpy()
    for pid in rng.choice(ids, 5, replace=False):
        store.update_rows(name, {"person_id": str(pid)}, {"phone": "13811112222"})
    raw_sql(store_copy, "UPDATE people SET name = ? WHERE person_id = ?", ("改名", str(ids[7])))
    store.insert_rows(name, _person(demo))
    got = store.read_changed(name, frame, marker)
    assert got is not None
    whole = store.read([name], relative_dates=False)[name]
    pd.testing.assert_frame_equal(got[0].reset_index(drop=True), whole.reset_index(drop=True))
    assert got[1] == store.row_marker(name)
    changed = store.rows_changed(name, marker)
    assert changed is not None and len(changed[1]) == 7


def test_a_layer_written_whole_is_read_whole_again(store_copy, demo):
    store = open_store(store_copy)
    frame = store.read(["parking"], relative_dates=False).parking
    marker = store.row_marker("parking")
    assert marker is not None
    store.update({"parking": demo.parking.iloc[:-1]})
    assert store.read_changed("parking", frame, marker) is None


# -- what is kept beside the layers -------------------------------------------------------------
def test_tickets_live_beside_the_layers_with_their_history(store_copy, demo):
    store = open_store(store_copy)
    ts = TicketStore.for_store(store)
    n = len(ts.frame(principal=OP))
    g = demo.grids.geometry.iloc[2].representative_point()
    tid = ts.add("sanitation", g.x, g.y, "垃圾未清运", principal=Principal.operator("哨兵"))
    t = ts.move(tid, "registered", expected_version=1, principal=Principal.operator("社区"))
    assert t["grid_code"] == demo.grids.code.iloc[2] and t["version"] == 2
    assert [h["status"] for h in t["history"]] == ["received", "registered"]
    assert len(TicketStore.for_store(open_store(store_copy)).frame(principal=OP)) == n + 1


def test_ticket_history_is_append_only_in_the_database(store_copy, demo):
    store = open_store(store_copy)
    tid = TicketStore.for_store(store).frame(principal=OP)["id"].iloc[0]
    if isinstance(store_copy, str):
        raw = store_copy
    else:
        from layers.tickets import db_path_for

        raw = db_path_for(store_copy)
    with pytest.raises(Exception, match="append-only"):
        if isinstance(raw, str):
            raw_sql(raw, "DELETE FROM ticket_events WHERE ticket_id = ?", (tid,))
        else:
            import sqlite3

            with sqlite3.connect(raw) as con:
                con.execute("DELETE FROM ticket_events WHERE ticket_id = ?", (tid,))


def test_the_cache_folder_is_the_stores_own(store_copy, tmp_path, monkeypatch):
    monkeypatch.setenv("WANGGE_CACHE_DIR", str(tmp_path / "cache"))
    store = open_store(store_copy)
    folder = store.cache_dir()
    assert folder is not None and folder == open_store(store_copy).cache_dir()
    other = open_store(tmp_path / "elsewhere.gpkg").cache_dir()
    assert other is not None and other != folder
    assert store.cache_mode() & 0o111 == 0  # data files, never executable


# -- copy between backends ------------------------------------------------------------------
def _empty_other(request, backend: str, tmp_path):
    """An empty store of the other backend than ``backend``."""
    from conftest import pg_drop

    if backend != "gpkg":
        return tmp_path / "other.gpkg"
    cluster = request.getfixturevalue("pg_cluster")
    url = cluster.database("c_" + tmp_path.name[-20:].lower().replace("-", "_"))
    request.addfinalizer(lambda: pg_drop(cluster, url))
    return url


def test_copy_round_trip_is_lossless(request, backend, store_copy, demo, tmp_path):
    """store → the other backend → back into a new GeoPackage: every layer, date, geometry,
    the metadata, the change log, accounts, the audit log, tickets with history and photos."""
    from layers.auth import Accounts

    store = open_store(store_copy)
    acc = Accounts(store)
    acc.add("管理员", "admin", password="a-long-password-1", by="cli")
    acc.audit("管理员", "export", "问题清单.xlsx", "xlsx, 3 rows")
    with store.edit_rows() as edit:
        edit.log([{"action": "person_edit", "by": "王芳", "person_id": "P00000001",
                   "before": {"phone": "1"}, "after": {"phone": "2"},
                   "when": dt.datetime(2026, 11, 3, 9, 30)}])
    ts = TicketStore.for_store(store)
    tid = ts.frame(principal=OP)["id"].iloc[0]
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buf, "PNG")
    ts.attach(tid, buf.getvalue(), principal=Principal.operator("哨兵"))

    middle = open_store(_empty_other(request, backend, tmp_path))
    copy_store(store, middle)
    back_loc = tmp_path / "back.gpkg"
    back = open_store(back_loc)
    copy_store(middle, back)
    with pytest.raises(CopyError, match="holds a store already"):
        copy_store(store, back)

    a, b = store.read(relative_dates=False), back.read(relative_dates=False)
    assert set(a) == set(b) and a.meta == b.meta
    for name in a:
        pd.testing.assert_frame_equal(a[name].reset_index(drop=True),
                                      b[name].reset_index(drop=True), obj=name)
    pd.testing.assert_frame_equal(store.change_log(), back.change_log())
    t1, t2 = TicketStore.for_store(store), TicketStore.for_store(back)
    pd.testing.assert_frame_equal(t1.frame(principal=OP), t2.frame(principal=OP))
    assert t1.histories(principal=OP) == t2.histories(principal=OP)
    assert [p.data for p in t1.photos(tid, principal=OP)] == [
        p.data for p in t2.photos(tid, principal=OP)]
    acc2 = Accounts(back)
    assert acc2.authenticate("管理员", "a-long-password-1").role == "admin"
    log1 = acc.audit_log().drop(columns="source", errors="ignore")
    log2 = acc2.audit_log().drop(columns="source", errors="ignore")
    assert len(log2) >= len(log1) and set(log1["action"]) <= set(log2["action"])


def test_unreachable_server_is_a_plain_error_without_password():
    store = open_store("postgresql://u:s3cret@127.0.0.1:1/nowhere")
    assert "s3cret" not in store.location and "s3cret" not in repr(store)
    with pytest.raises(StoreUnavailable) as err:
        store.read()
    assert "s3cret" not in str(err.value)


def test_a_bad_postgis_url_is_refused():
    for bad in ("postgresql://u@h/db?schema=Robert'); DROP", "postgresql://u@h"):
        with pytest.raises(StoreError):
            open_store(bad)
