"""The wall screen's figures against brute force, and the page's tiles against the library."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from layers.coverage import coverage
from layers.tickets import TicketStore
from layers.wall import grids_that_lost_their_sentinel, wall_snapshot

ROOT = Path(__file__).resolve().parent.parent
AT = dt.datetime(2026, 11, 20, 15, 0)


def test_snapshot_matches_brute_force(app_store, demo):
    df = TicketStore.for_store(app_store).frame()
    cov = coverage(demo)
    snap = wall_snapshot(demo, cov, df, AT)
    today = pd.Timestamp("2026-11-20")
    n_open = n_new = n_closed = n_over = 0
    for r in df.itertuples():
        closed = r.status in ("closed", "closed_unresolved")
        n_open += not closed
        n_new += r.created_at >= today
        n_closed += closed and r.closed_at >= today
        n_over += (not closed) and r.deadline < pd.Timestamp(AT)
    assert (snap.open_tickets, snap.new_today, snap.closed_today, snap.overdue) == (
        n_open, n_new, n_closed, n_over)
    assert len(snap.per_day) == 30 and snap.per_day["date"].iloc[-1] == today
    assert snap.per_day["received"].iloc[-1] == n_new
    assert snap.grid_coverage == pytest.approx(
        1 - len(cov.grids_without_sentinel) / len(demo.grids), abs=1e-4)
    assert len(snap.overdue_list) == n_over
    # a community's screen counts only its tickets
    code = demo.communities.code.iloc[0]
    part = wall_snapshot(demo, cov, df, AT, community=code)
    assert part.open_tickets == int(((df.community_code == code)
                                     & ~df.status.isin(["closed", "closed_unresolved"])).sum())


def test_grids_that_lost_their_sentinel(demo):
    lost = grids_that_lost_their_sentinel(demo, dt.date(2026, 11, 20))
    cov = coverage(demo)
    assert len(lost) > 0
    assert set(lost.grid_code) <= set(cov.grids_without_sentinel)
    a = demo.assignments
    for code in lost.grid_code:  # each had a sentinel whose assignment ended
        past = a[(a.target_code == code) & (a.role == "grid_sentinel")]
        assert (~past.active).any() and past.until.notna().any()


def test_wall_page_tiles_equal_the_library(app_store, demo):
    at = AppTest.from_string(
        f"import sys; sys.path.insert(0, {str(ROOT)!r})\n"
        "from dashboard.views import wall_page\nwall_page.render()\n", default_timeout=120)
    at.query_params["at"] = AT.isoformat()
    at.run()
    assert not at.exception
    snap = wall_snapshot(demo, coverage(demo), TicketStore.for_store(app_store).frame(), AT)
    tiles = {m.label: m.value for m in at.metric}
    assert tiles["未办结工单"] == f"{snap.open_tickets:,}"
    assert tiles["今日新增"] == f"{snap.new_today:,}"
    assert tiles["超期工单"] == f"{snap.overdue:,}"
    assert tiles["本月按期结案率"] == f"{snap.on_time_rate_month:.1%}"
    assert tiles["网格哨兵覆盖率"] == f"{snap.grid_coverage:.1%}"
    assert any("示例数据" in m.value for m in at.markdown)
    from layers import network
    from layers.reach import reach

    r = reach(demo, network.from_roads(demo.roads)).summary
    share = r[r.level == "town"].share_elder_care_500.iloc[0]
    assert tiles["500米养老覆盖"] == f"{share:.1%}"  # households within 500 m walk


def test_clock_parameter_cannot_inject_script(app_store):
    at = AppTest.from_string(
        f"import sys; sys.path.insert(0, {str(ROOT)!r})\n"
        "from dashboard.views import wall_page\nwall_page.render()\n", default_timeout=120)
    at.query_params["at"] = '");alert(1);//'
    at.run()
    assert not at.exception
    html = "".join(str(e.proto) for e in at.get("iframe"))
    assert "alert(1)" not in html and "const fixed = null" in html
