"""In a real browser, as a clerk would: tickets filed in the app show everywhere, the clock is one,
the first page has its own address.

- A ticket filed through the intake form on a building appears in the map's detail panel of
  that building (未办结工单（1）) — the panel once read the store's import layer instead.
- The demo town seen on a day long after its anchor looks live: the wall's last 30 days have
  tickets, nothing is a year overdue, and the tiles equal the library's figures at that clock.
- ``/map`` opens the map page (it said "Page not found"); ``/map?sel=`` and the wall's
  ``?c=`` links round-trip.
"""

from __future__ import annotations

import datetime as dt
import shutil

import pytest
from browserkit import metric_tiles, shot, streamlit_server

from layers import clock
from layers.auth import Principal
from layers.coverage import coverage
from layers.store import open_store
from layers.tickets import TicketStore
from layers.wall import wall_snapshot

#: The CLI's operator: whole area, full data (what tests that are not about
#: authorisation act as).
OP = Principal.operator()


@pytest.fixture(scope="module")
def fresh_store(tmp_path_factory, demo_file):
    """A demo store with no ticket database yet (as a real office's starts)."""
    path = tmp_path_factory.mktemp("fresh") / "town.gpkg"
    shutil.copyfile(demo_file, path)
    return path


def test_ticket_filed_in_the_app_shows_in_the_detail_panel(browser, fresh_store, demo):
    building = demo.buildings.iloc[11]
    with streamlit_server(fresh_store) as server:
        page = browser.new_page(viewport={"width": 1500, "height": 1100})
        page.goto(f"{server}/tickets", wait_until="domcontentloaded")
        page.get_by_text("哨兵一键下单").first.wait_for(timeout=90_000)
        box = page.locator("[data-testid=stSelectbox]").first
        box.click()
        page.keyboard.type(building.code)
        page.wait_for_timeout(800)
        page.keyboard.press("Enter")
        page.wait_for_timeout(2500)
        page.locator("textarea").first.fill("楼道灯坏了，晚上看不见")
        page.get_by_role("button", name="受理").click()
        page.wait_for_timeout(3000)
        shot(page, "one-source-intake")
        page.goto(f"{server}/map?sel={building.code}", wait_until="domcontentloaded")
        page.get_by_text("未办结工单（1）").first.wait_for(timeout=90_000)
        assert page.get_by_text("Page not found").count() == 0
        shot(page, "one-source-detail-panel")
        page.close()
    tickets = TicketStore.for_store(fresh_store).frame(principal=OP)
    assert list(tickets.building_code) == [building.code]


def test_demo_wall_looks_live_long_after_its_anchor(browser, tmp_path, demo_file, demo,
                                                   monkeypatch):
    anchor = dt.date.fromisoformat(demo.meta["date_anchor"])
    later = dt.datetime.combine(anchor + dt.timedelta(days=300), dt.time(15, 0))
    monkeypatch.setenv(clock.ENV, later.isoformat())
    store = tmp_path / "town.gpkg"
    shutil.copyfile(demo_file, store)
    TicketStore.for_store(store, seed=True).close()  # the demo set up "today"
    data = open_store(store).read()
    frame = TicketStore.for_store(store).frame(principal=OP)
    snap = wall_snapshot(data, coverage(data), frame, clock.now())
    assert snap.per_day["received"].tail(7).sum() > 0  # a live town, not a week of zeros
    # the same town as on its anchor day: the same figures, shifted in time
    at_anchor = wall_snapshot(demo, coverage(demo), _frame_at_anchor(demo_file, tmp_path),
                              dt.datetime.combine(anchor, dt.time(15, 0)))
    assert (snap.open_tickets, snap.new_today, snap.overdue) == (
        at_anchor.open_tickets, at_anchor.new_today, at_anchor.overdue)
    assert snap.per_day["received"].tolist() == at_anchor.per_day["received"].tolist()
    with streamlit_server(store, WANGGE_NOW=later.isoformat()) as server:
        page = browser.new_page(viewport={"width": 1920, "height": 1080})
        page.goto(f"{server}/wall", wait_until="domcontentloaded")
        tiles = metric_tiles(page, ["未办结工单", "今日新增", "超期工单"])
        assert tiles["未办结工单"] == f"{snap.open_tickets:,}"
        assert tiles["今日新增"] == f"{snap.new_today:,}"
        assert tiles["超期工单"] == f"{snap.overdue:,}"
        shot(page, "one-clock-wall")
        page.close()


def test_first_page_and_app_links_round_trip(browser, fresh_store, demo):
    grid = demo.grids.code.iloc[9]
    comm = demo.communities.iloc[2]
    with streamlit_server(fresh_store) as server:
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        page.goto(f"{server}/map?sel={grid}", wait_until="domcontentloaded")
        page.get_by_text(demo.grids.set_index("code").name[grid]).first.wait_for(
            timeout=90_000)
        page.wait_for_timeout(1500)
        assert page.get_by_text("Page not found").count() == 0
        assert "/map" in page.url and f"sel={grid}" in page.url
        page.reload(wait_until="domcontentloaded")
        page.get_by_text(demo.grids.set_index("code").name[grid]).first.wait_for(
            timeout=90_000)
        page.goto(f"{server}/wall?c={comm.code}", wait_until="domcontentloaded")
        page.get_by_text(f"{comm['name']} · ").first.wait_for(timeout=90_000)
        assert f"c={comm.code}" in page.url
        shot(page, "wall-community-link")
        page.close()


def _frame_at_anchor(demo_file, tmp_path):
    """The demo's tickets as seeded on its anchor day (the session's fixed clock)."""
    import os

    store = tmp_path / "anchor" / "town.gpkg"
    store.parent.mkdir()
    shutil.copyfile(demo_file, store)
    saved = os.environ[clock.ENV]
    os.environ[clock.ENV] = demo_file_anchor(store)
    try:
        ts = TicketStore.for_store(store, seed=True)
        return ts.frame(principal=OP)
    finally:
        os.environ[clock.ENV] = saved


def demo_file_anchor(store) -> str:
    from layers.store import GeoPackageStore

    return GeoPackageStore(store).meta()["date_anchor"] + "T15:00:00"
