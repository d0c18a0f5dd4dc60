"""Tickets: lifecycle as data, intake with the grid found by spatial join, optimistic
concurrency, append-only history, several processes at once, and a crash mid-batch."""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely
from clikit import run_cli
from conftest import is_pg, raw_query

from layers.auth import Principal
from layers.schema import TICKET_STATUSES
from layers.store import open_store
from layers.tickets import (
    ConflictError,
    GridLocator,
    TicketError,
    TicketNotFound,
    TicketStore,
    db_path_for,
    rules,
    workflow,
)

pytestmark = pytest.mark.backends
#: The CLI's operator: whole area, full data (what tests that are not about
#: authorisation act as).
OP = Principal.operator()

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def store(store_copy) -> Path:
    return store_copy


@pytest.fixture
def ts(store) -> TicketStore:
    return TicketStore.for_store(store)


def _point_in(demo, grid_index: int) -> tuple[float, float]:
    p = shapely.point_on_surface(demo.grids.geometry.iloc[grid_index])
    return p.x, p.y


# -- lifecycle ---------------------------------------------------------------------------------


def test_lifecycle_table():
    for m in workflow.MOVES:
        assert m.source in TICKET_STATUSES and m.target in TICKET_STATUSES
    # every status is reachable from received, and the happy path exists
    for s in TICKET_STATUSES:
        assert workflow.path_to(s)[0] == "received"
    assert workflow.path_to("closed") == ["received", "registered", "dispatched",
                                          "in_progress", "handled", "verified", "closed"]
    assert workflow.allowed_moves("closed") == ()
    with pytest.raises(workflow.IllegalMove, match="allowed next: registered"):
        workflow.check_move("received", "closed")
    with pytest.raises(workflow.IllegalMove, match="final"):
        workflow.check_move("closed", "returned")
    with pytest.raises(workflow.IllegalMove, match="unknown status"):
        workflow.check_move("received", "teleported")


# -- intake ------------------------------------------------------------------------------------


def test_intake_finds_grid_and_community_like_brute_force(ts, demo):
    rng = np.random.default_rng(0)
    idx = rng.choice(len(demo.grids), 25, replace=False)
    rows = []
    for i in idx:
        lon, lat = _point_in(demo, int(i))
        rows.append({"category": "sanitation", "lon": lon, "lat": lat, "text": "垃圾未清运"})
    ids = ts.add_many(rows, principal=OP)
    assert len(set(ids)) == 25
    for tid, i in zip(ids, idx, strict=True):
        t = ts.get(tid, principal=OP)
        # brute force: which grid polygon contains the point
        pt = shapely.Point(t["lon"], t["lat"])
        owner = [c for c, g in zip(demo.grids.code, demo.grids.geometry, strict=True)
                 if g.intersects(pt)]
        assert t["grid_code"] == owner[0] == demo.grids.code.iloc[i]
        assert t["community_code"] == demo.grids.community_code.iloc[i]
        assert t["status"] == "received" and t["version"] == 1
        assert [h["status"] for h in t["history"]] == ["received"]


def test_deadline_from_category_limit(ts, demo):
    lon, lat = _point_in(demo, 0)
    t = ts.get(ts.add("power_supply", lon, lat, "晚间频繁跳闸", principal=OP), principal=OP)
    created = np.datetime64(t["created_at"])
    assert np.datetime64(t["deadline"]) - created == np.timedelta64(2, "D")


def test_bad_intake_is_refused_with_a_clear_message(ts, demo):
    lon, lat = _point_in(demo, 0)
    before = len(ts.frame(principal=OP))
    with pytest.raises(TicketError, match="unknown category 'ufo'"):
        ts.add("ufo", lon, lat, "?", principal=OP)
    with pytest.raises(TicketError, match="text is empty"):
        ts.add("dispute", lon, lat, "   ", principal=OP)
    with pytest.raises(TicketError, match="outside every grid"):
        ts.add("dispute", lon + 1.0, lat, "far away", principal=OP)
    # a batch with one bad row stores nothing
    with pytest.raises(TicketError, match="row 2"):
        ts.add_many([{"category": "dispute", "lon": lon, "lat": lat, "text": "ok"},
                     {"category": "dispute", "lon": float("nan"), "lat": lat,
                      "text": "bad"}], principal=OP)
    assert len(ts.frame(principal=OP)) == before


# -- moves, conflicts, history -----------------------------------------------------------------


def test_moves_follow_the_table_and_history_grows(ts, demo):
    lon, lat = _point_in(demo, 3)
    tid = ts.add("facility_repair", lon, lat, "楼顶漏水", principal=OP)
    for target in workflow.path_to("closed")[1:]:
        t = ts.move(tid, target, principal=Principal.operator("staff"), note=f"to {target}")
    assert t["status"] == "closed" and t["closed_at"] and t["version"] == 7
    assert [h["status"] for h in t["history"]] == workflow.path_to("closed")
    assert [h["seq"] for h in t["history"]] == list(range(1, 8))
    with pytest.raises(workflow.IllegalMove):
        ts.move(tid, "returned", principal=OP)
    with pytest.raises(TicketNotFound):
        ts.move("T000", "registered", principal=OP)


def test_open_only_is_the_open_rule_applied_to_every_ticket(ts, demo):
    """The map's open-ticket layer reads only open tickets: the same rows, columns and types
    as the whole frame filtered by the one rule (tickets filed and closed here)."""
    ids = ts.add_many([{"category": "sanitation", "lon": x, "lat": y, "text": f"第{i}件"}
                       for i, (x, y) in enumerate(_point_in(demo,
                                                            g) for g in range(6))], principal=OP)
    for tid in ids[:2]:
        for target in workflow.path_to("closed")[1:]:
            ts.move(tid, target, principal=Principal.operator("staff"))
    ts.move(ids[2], "closed_unresolved",
            principal=Principal.operator("staff"))  # rejected at intake
    whole = ts.frame(principal=OP)
    assert {"closed", "closed_unresolved"} <= set(whole["status"])
    expected = whole[rules.open_mask(whole["status"])].reset_index(drop=True)
    got = ts.frame(open_only=True, principal=OP)
    assert len(got) == len(expected) < len(whole)
    pd.testing.assert_frame_equal(got, expected)
    assert not set(got["id"]) & set(ids[:3]) and set(ids[3:]) <= set(got["id"])
    pd.testing.assert_frame_equal(ts.frame(open_only=True, category="sanitation", principal=OP),
                                  expected[expected["category"] == "sanitation"]
                                  .reset_index(drop=True))


def test_opening_the_store_reads_no_grids_until_a_ticket_is_placed(store, demo, monkeypatch):
    made: list[object] = []
    real = GridLocator.from_store.__func__

    def counted(cls, path):
        made.append(path)
        return real(cls, path)

    monkeypatch.setattr(GridLocator, "from_store", classmethod(counted))
    ts = TicketStore.for_store(store)
    ts.frame(principal=OP)
    ts.version()
    assert made == []
    lon, lat = _point_in(demo, 2)
    tid = ts.add("sanitation", lon, lat, "垃圾未清运", principal=OP)
    assert ts.get(tid, principal=OP)["grid_code"] == demo.grids["code"].iloc[2]
    ts.add("sanitation", lon, lat, "又一件", principal=OP)
    assert [getattr(m, "location", m) for m in made] == [open_store(store).location]  # once


def test_the_version_changes_with_every_ticket_filed_or_moved_and_only_then(ts, demo):
    seen = [ts.version()]
    lon, lat = _point_in(demo, 5)
    tid = ts.add("sanitation", lon, lat, "垃圾未清运", principal=OP)
    seen.append(ts.version())
    ts.get(tid, principal=OP)
    ts.frame(principal=OP)
    assert ts.version() == seen[-1]  # reading changes nothing
    for target in workflow.path_to("closed")[1:3]:
        ts.move(tid, target, principal=Principal.operator("staff"))
        seen.append(ts.version())
    ts.add_many([{"category": "dispute", "lon": lon, "lat": lat, "text": "邻里纠纷"}], principal=OP)
    seen.append(ts.version())
    assert len(set(seen)) == len(seen)
    assert [v[0] for v in seen] == sorted(v[0] for v in seen)  # it only grows


def test_second_mover_gets_a_conflict_and_nothing_is_overwritten(ts, demo):
    lon, lat = _point_in(demo, 4)
    tid = ts.add("dispute", lon, lat, "邻里纠纷", principal=OP)
    seen_by_a = ts.get(tid, principal=OP)["version"]
    seen_by_b = ts.get(tid, principal=OP)["version"]
    ts.move(tid, "registered", principal=Principal.operator("A"), expected_version=seen_by_a)
    with pytest.raises(ConflictError, match="changed by someone else"):
        ts.move(tid, "closed_unresolved", principal=Principal.operator("B"),
                expected_version=seen_by_b)
    t = ts.get(tid, principal=OP)
    assert t["status"] == "registered" and t["version"] == 2
    assert [h["by"] for h in t["history"]] == [OP.name, "A"]


def test_history_is_append_only_in_the_database(ts, demo, store):
    lon, lat = _point_in(demo, 5)
    tid = ts.add("dispute", lon, lat, "x", principal=OP)
    where = store if is_pg(store) else db_path_for(store)  # as a plain SQL client
    with pytest.raises(Exception, match="append-only"):
        raw_query(where, "UPDATE ticket_events SET status='closed' WHERE ticket_id=?", (tid,))
    with pytest.raises(Exception, match="append-only"):
        raw_query(where, "DELETE FROM ticket_events WHERE ticket_id=?", (tid,))
    assert [h["status"] for h in ts.get(tid, principal=OP)["history"]] == ["received"]


def test_demo_history_is_imported_once(store, demo):
    ts = TicketStore.for_store(store)
    df = ts.frame(principal=OP)
    assert len(df) == len(demo.tickets)
    assert set(df.id) == set(demo.tickets.id)
    closed = demo.tickets[demo.tickets.status == "closed"].id.iloc[0]
    t = ts.get(closed, principal=OP)
    assert [h["status"] for h in t["history"]] == workflow.path_to("closed")
    assert TicketStore.for_store(store).frame(principal=OP).shape[0] == len(demo.tickets)  # not twice


# -- several processes -------------------------------------------------------------------------


def _add_from_process(args) -> list[str]:
    store, k, lon, lat = args
    ts = TicketStore.for_store(store)
    return [ts.add("other", lon, lat, f"process ticket {k}-{j}", principal=OP) for j in range(15)]


def test_parallel_processes_lose_nothing(store, demo):
    ts = TicketStore.for_store(store)
    before = len(ts.frame(principal=OP))
    lon, lat = _point_in(demo, 6)
    with ProcessPoolExecutor(4) as ex:
        got = list(ex.map(_add_from_process, [(store, k, lon, lat) for k in range(4)]))
    ids = [i for g in got for i in g]
    assert len(ids) == 60 and len(set(ids)) == 60
    after = ts.frame(principal=OP)
    assert len(after) == before + 60
    assert set(ids) <= set(after.id)


CRASH = """
import os, sys
from layers.auth import Principal
from layers.tickets.store import TicketStore, events_table
ts = TicketStore(sys.argv[1])
real = events_table.insert
def boom(*a, **k):
    os._exit(9)  # killed after the tickets were written, before their history
events_table.insert = boom
ts.add_many([{"category": "other", "lon": 106.28, "lat": 29.6, "text": f"t{i}"}
             for i in range(500)], principal=Principal.operator())
"""


def test_a_process_killed_mid_batch_leaves_no_half_ticket(tmp_path):
    db = tmp_path / "t.sqlite"
    ts = TicketStore(db)
    ts.add("other", 106.28, 29.6, "before", principal=OP)
    r = subprocess.run([sys.executable, "-c", CRASH, str(db)], cwd=ROOT)
    assert r.returncode == 9
    df = ts.frame(principal=OP)
    assert df["text"].tolist() == ["before"]
    assert len(ts.histories(principal=OP)) == 1
    ts.add("other", 106.28, 29.6, "after",
           principal=OP)  # the store still works, the lock was released


# -- CLI ---------------------------------------------------------------------------------------


def _cli(*args: str) -> subprocess.CompletedProcess:
    return run_cli("tickets", *args)


def test_cli(store, demo):
    lon, lat = _point_in(demo, 7)
    r = _cli("add", str(store), "--category", "tree_trimming", "--lon", str(lon), "--lat",
             str(lat), "--text", "<script>alert(1)</script> 树挡光", "--reporter", "sentinel")
    assert r.returncode == 0, r.stderr
    tid = r.stdout.strip().splitlines()[-1]
    assert tid.startswith("T")
    r = _cli("move", str(store), tid, "--to", "closed")
    assert r.returncode != 0 and "cannot move from received" in r.stderr
    assert _cli("move", str(store), tid, "--to", "registered", "--by", "staff").returncode == 0
    shown = json.loads(_cli("show", str(store), tid, "--format", "json").stdout)
    assert shown["status"] == "registered" and shown["grid_code"] == demo.grids.code.iloc[7]
    assert shown["community_code"] == demo.grids.community_code.iloc[7]
    assert [h["status"] for h in shown["history"]] == ["received", "registered"]
    assert shown["version"] == 2
    listed = json.loads(_cli("list", str(store), "--format", "json").stdout)
    mine = [t for t in listed if t["id"] == tid]
    assert mine and mine[0]["status"] == "registered" and "history" in mine[0]
    assert {"id", "category", "status", "grid_code"} <= set(listed[0])
    assert set(shown) == set(mine[0])  # the same fields as show
    r = _cli("show", str(store), "T-nope")
    assert r.returncode != 0 and "no ticket" in r.stderr


def test_catalogue_is_configurable(store, demo):
    from layers.tickets import catalogue_path_for, load_catalogue
    from layers.tickets.catalogue import CATALOGUE_META_KEY

    own = json.dumps({"dispute": {"name": "矛盾纠纷", "days": 3},
                      "stray_dogs": {"name": "流浪犬", "days": 1}}, ensure_ascii=False)
    cat = catalogue_path_for(store)  # a GeoPackage's file beside it; a server store's metadata
    if cat is None:
        open_store(store).update({}, meta={CATALOGUE_META_KEY: own})
    else:
        cat.write_text(own, encoding="utf-8")
    ts = TicketStore.for_store(store)
    lon, lat = _point_in(demo, 2)
    t = ts.get(ts.add("stray_dogs", lon, lat, "小区流浪犬伤人", principal=OP), principal=OP)
    assert np.datetime64(t["deadline"]) - np.datetime64(t["created_at"]) == np.timedelta64(
        1, "D")
    with pytest.raises(TicketError, match="unknown category 'sanitation'"):
        ts.add("sanitation", lon, lat, "x", principal=OP)
    if cat is None:
        open_store(store).update({}, meta={CATALOGUE_META_KEY: '{"x": {"name": "X", "days": '
                                           '"soon"}}'})
        with pytest.raises(TicketError, match=r"ticket_catalogue\): category 'x': field 'days'"):
            TicketStore.for_store(store)
        return
    cat.write_text('{"x": {"name": "X", "days": "soon"}}', encoding="utf-8")
    with pytest.raises(TicketError, match=r"categories.json: category 'x': field 'days'"):
        load_catalogue(cat)
