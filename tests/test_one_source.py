"""One source of tickets, one clock, reading never writes (issue: tickets staff can trust).

- The ticket database is the only source of tickets: after tickets are filed, moved and closed
  the way the app does it, the map's detail panel (library and page), the map layer, the wall,
  the CLI and the Open311 export all count the same open tickets for a grid.
- One clock: ``$WANGGE_NOW`` moves "now" for intake, overdue, the wall and the detail panel
  alike; the demo's dates follow it (stored relative to an anchor day).
- Reading never writes: opening the pages or the library on a store without a ticket database
  leaves no file behind; seeding is explicit and happens once under concurrency.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import threading
from pathlib import Path

import pandas as pd
import pytest
import shapely
from clikit import run_cli, start_cli
from streamlit.testing.v1 import AppTest

from dashboard import mapview
from layers import clock, lookup
from layers.auth import Principal
from layers.coverage import coverage
from layers.store import open_store
from layers.tickets import TicketNotFound, TicketStore, db_path_for
from layers.tickets import reports as tr
from layers.wall import wall_snapshot

pytestmark = pytest.mark.backends
#: The CLI's operator: whole area, full data (what tests that are not about
#: authorisation act as).
OP = Principal.operator()

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "dashboard" / "app.py")
PATH = ["registered", "dispatched", "in_progress", "handled", "verified"]


def _cli(*args: str) -> subprocess.CompletedProcess:
    return run_cli(*args, timeout=300)


def _file_in_grid(ts: TicketStore, demo, grid: str, n: int) -> list[str]:
    """File ``n`` tickets on buildings of ``grid`` as the intake form does."""
    b = demo.buildings[demo.buildings.grid_code == grid].iloc[:n]
    pts = shapely.point_on_surface(b.geometry.to_numpy())
    return [ts.add("sanitation", p.x, p.y, f"测试工单 {i}", building_code=code,
                   principal=Principal.operator("王芳"))
            for i, (p, code) in enumerate(zip(pts, b.code, strict=True))]


def test_every_reader_counts_the_same_open_tickets_for_a_grid(store_copy, demo, monkeypatch):
    grid = demo.grids.code.iloc[5]
    ts = TicketStore.for_store(store_copy)
    ids = _file_in_grid(ts, demo, grid, 4)
    for to in [*PATH, "closed"]:  # one closed the whole way
        ts.move(ids[0], to, principal=Principal.operator("李娜"))
    for to in PATH[:3]:  # one in progress
        ts.move(ids[1], to, principal=Principal.operator("李娜"))
    frame = ts.frame(principal=OP)
    truth = int(((frame.grid_code == grid) & ~frame.status.isin(["closed",
                                                                  "closed_unresolved"])).sum())
    assert truth >= 3  # the three still open (plus any the demo history had there)
    data = open_store(store_copy).read()
    cov = coverage(data)
    # the detail panel's library call
    detail = lookup.grid_detail(data, grid, tickets=frame)
    assert len(detail.open_tickets) == truth
    # the map layer (what state.map_data draws)
    layer = data.replace(tickets=frame.assign(geometry=shapely.points(frame.lon, frame.lat)))
    md = mapview.prepare(layer, cov)
    in_grid = set(frame.id[frame.grid_code == grid])
    assert sum(row[3] in in_grid for row in md.tickets) == truth
    # the CLI
    out = _cli("tickets", "list", str(store_copy), "--grid", grid, "--format", "json")
    assert out.returncode == 0, out.stderr
    listed = json.loads(out.stdout)
    assert sum(r["status"] not in ("closed", "closed_unresolved") for r in listed) == truth
    show = json.loads(_cli("tickets", "show", str(store_copy), ids[0], "--format",
                           "json").stdout)
    assert show == next(r for r in listed if r["id"] == ids[0])  # one JSON form
    # the Open311 export
    reqs = tr.to_open311(ts, principal=OP)
    assert sum(r["status"] == "open" for r in reqs if r["service_request_id"] in in_grid) \
        == truth
    # the wall, for the grid's community
    comm = demo.grids.set_index("code").community_code[grid]
    snap = wall_snapshot(data, cov, frame, clock.now(), comm)
    comm_open = int(((frame.community_code == comm)
                     & ~frame.status.isin(["closed", "closed_unresolved"])).sum())
    assert snap.open_tickets == comm_open
    # the map page's detail panel, rendered
    monkeypatch.setenv("WANGGE_STORE", str(store_copy))
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["sel"] = grid
    at.run()
    assert not at.exception
    assert any(f"未办结工单**（{truth}）" in m.value or f"未办结工单（{truth}）" in m.value
               for m in at.markdown), [m.value for m in at.markdown]


def test_reading_never_creates_the_ticket_database(tmp_path, demo_file, monkeypatch):
    store = tmp_path / "town.gpkg"
    store.write_bytes(demo_file.read_bytes())
    db = db_path_for(store)
    ts = TicketStore.for_store(store)
    errors: list[BaseException] = []

    def read() -> None:  # pages read from several threads (one per session)
        try:
            assert ts.frame(principal=OP).empty
            assert ts.version()[0] == 0
            assert ts.records(ts.frame(principal=OP), principal=OP) == []
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            errors.append(exc)

    threads = [threading.Thread(target=read) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    with pytest.raises(TicketNotFound):
        ts.get("T2026010100001", principal=OP)
    monkeypatch.setenv("WANGGE_STORE", str(store))
    for page in ("map_page", "tickets_page", "wall_page"):
        at = AppTest.from_string(
            f"import sys; sys.path.insert(0, {str(ROOT)!r})\n"
            f"from dashboard.views import {page}\n{page}.render()\n", default_timeout=120)
        at.run()
        assert not at.exception, page
    assert not db.exists()  # nothing was created by reading
    # the first ticket filed creates it
    p = shapely.point_on_surface(open_store(store).read(["communities", "grids"]
                                                        ).grids.geometry.iloc[0])
    tid = ts.add("other", p.x, p.y, "第一张工单", principal=OP)
    assert db.exists() and ts.get(tid, principal=OP)["status"] == "received"


def test_seeding_is_explicit_and_happens_once(tmp_path, demo_file, demo):
    store = tmp_path / "town.gpkg"
    store.write_bytes(demo_file.read_bytes())
    procs = [start_cli("tickets", "seed", store) for _ in range(4)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, [e for _, e in outs]
    imported = sorted(int(o.strip().splitlines()[-1]) for o, _ in outs)
    assert imported == [0, 0, 0, len(demo.tickets)]
    assert len(TicketStore.for_store(store).frame(principal=OP)) == len(demo.tickets)


def test_one_clock_moves_everything(store_copy, demo, monkeypatch):
    monkeypatch.setenv(clock.ENV, "2026-11-20T09:00:00")
    grid = demo.grids.code.iloc[7]
    ts = TicketStore.for_store(store_copy)
    tid = _file_in_grid(ts, demo, grid, 1)[0]  # sanitation: 3 days allowed
    got = ts.get(tid, principal=OP)
    assert got["created_at"] == "2026-11-20T09:00:00" and not got["overdue"]
    monkeypatch.setenv(clock.ENV, "2026-11-24T09:00:00")  # four days later
    frame = ts.frame(principal=OP)
    assert ts.get(tid, principal=OP)["overdue"] and bool(frame.set_index("id").overdue[tid])
    data = open_store(store_copy).read()
    detail = lookup.grid_detail(data, grid, tickets=frame)
    assert bool(detail.open_tickets.set_index("id").overdue[tid])
    snap = wall_snapshot(data, coverage(data), frame, clock.now())
    assert tid in set(snap.overdue_list.id)
    assert snap.overdue == int(frame.overdue.sum())


def test_demo_dates_follow_the_clock(demo_file, demo, monkeypatch):
    anchor = dt.date.fromisoformat(demo.meta["date_anchor"])
    later = anchor + dt.timedelta(days=51)
    monkeypatch.setenv(clock.ENV, later.isoformat())
    shifted = open_store(demo_file).read()
    assert shifted.meta["date_anchor"] == later.isoformat()
    delta = pd.Timedelta(days=51)
    a0, a1 = demo.assignments, shifted.assignments
    assert (pd.to_datetime(a1.since) - pd.to_datetime(a0.since)).dropna().eq(delta).all()
    assert (pd.to_datetime(a1.until) - pd.to_datetime(a0.until)).dropna().eq(delta).all()
    # the town looks the same today as on its anchor day
    before = coverage(demo, settings=_at(anchor))
    after = coverage(shifted)
    assert after.as_of == later
    assert list(after.grids_without_sentinel) == list(before.grids_without_sentinel)
    pd.testing.assert_frame_equal(after.summary, before.summary)


def _at(day: dt.date):
    from layers.settings import Settings

    return Settings(as_of=day.isoformat())
