"""The 工单 page in a real browser, as clerks use it: select a ticket in the list, move it
through its lifecycle, two clerks on one ticket, English labels.

Every test files its own tickets (``TicketStore.add`` on the server's store, before opening the
page) in a grid of its own, filters the list by that grid and picks the newest row, so the
choice is deterministic. One Streamlit server for the module, on a private copy of the demo.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import sqlite3

import pytest
from browserkit import ARTIFACTS, shot, streamlit_server

from dashboard.i18n import t
from layers.auth import Principal
from layers.tickets import TicketStore, workflow

#: The CLI's operator: whole area, full data (what tests that are not about
#: authorisation act as).
OP = Principal.operator()

pytestmark = pytest.mark.skipif(
    os.environ.get("WANGGE_SKIP_BROWSER") == "1", reason="browser tests switched off")

RERUN_MS = 1500  # a click's rerun, drawn


@pytest.fixture(scope="module")
def town(tmp_path_factory, demo_file):
    """A private copy of the demo store, with its tickets database if it has one."""
    path = tmp_path_factory.mktemp("tickets-browser") / demo_file.name
    shutil.copyfile(demo_file, path)
    for db in demo_file.parent.glob("*.tickets.sqlite"):
        src, dst = sqlite3.connect(db), sqlite3.connect(path.parent / db.name)
        with dst:
            src.backup(dst)  # a consistent copy, WAL included
        src.close()
        dst.close()
    return path


@pytest.fixture(scope="module")
def server(town):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with streamlit_server(town) as url:
        yield url


def _file(town, demo, grid_no: int, status: str, *, hours_ago: float = 0) -> tuple[str, str]:
    """File a ticket in the ``grid_no``-th grid that has buildings and move it to ``status``
    along the usual path; return (ticket id, grid code)."""
    grids = demo.buildings.grid_code.drop_duplicates().tolist()
    grid = grids[grid_no]
    b = demo.buildings[demo.buildings.grid_code == grid].iloc[0]
    p = b.geometry.representative_point()
    ts = TicketStore.for_store(town)
    created = dt.datetime.now().replace(microsecond=0) - dt.timedelta(hours=hours_ago)
    tid = ts.add("sanitation", p.x, p.y, f"楼道堆物 {grid_no}-{hours_ago}",
                 building_code=b.code, principal=Principal.operator("测试"), created_at=created)
    for s in workflow.path_to(status)[1:]:
        ts.move(tid, s, principal=Principal.operator("测试"))
    ts.close()
    return tid, grid


def _open_list(ctx, server: str, grid: str, L: str = "zh"):
    """The 工单列表 tab filtered to ``grid``, its newest ticket selected."""
    page = ctx.new_page()
    page.set_viewport_size({"width": 1500, "height": 1300})
    page.goto(f"{server}/tickets" + ("?lang=en" if L == "en" else ""),
              wait_until="domcontentloaded")
    tab = page.get_by_role("tab", name=t("tab_list", L), exact=True)
    tab.wait_for(timeout=90_000)
    tab.click()
    box = page.locator(f'input[aria-label="{t("grid_filter", L)}"]:visible')
    box.fill(grid)
    box.press("Enter")
    page.wait_for_timeout(RERUN_MS)
    _pick_row(page, 0)
    return page


def _pick_row(page, row: int) -> None:
    table = page.locator('[data-testid="stDataFrame"]:visible').first
    table.wait_for(timeout=30_000)
    page.wait_for_timeout(800)
    b = table.bounding_box()
    page.mouse.click(b["x"] + 18, b["y"] + 35 + 17 + 35 * row)
    page.wait_for_timeout(RERUN_MS)


def _heading(page, tid: str):
    return page.locator('[data-testid="stHeading"]:visible', has_text=tid)


def _wait_status(page, tid: str, status: str, L: str = "zh") -> None:
    """The detail panel shows ``tid`` in ``status``."""
    label = t(f"status_t_{status}", L)
    _heading(page, tid).filter(has_text=f"· {label}").first.wait_for(timeout=30_000)
    assert label in _heading(page, tid).first.inner_text()


def _press(page, target: str, source: str, L: str = "zh") -> None:
    page.get_by_role("button", name=t(f"move_{source}_{target}", L), exact=True).click()
    page.wait_for_timeout(RERUN_MS)


def _type_note(page, text: str, L: str = "zh") -> None:
    note = page.locator(f'input[aria-label="{t("note", L)}"]:visible')
    note.fill(text)
    note.press("Tab")


def _headings(page) -> list[str]:
    return page.locator('[data-testid="stHeading"]:visible').all_inner_texts()


def test_closing_a_ticket_keeps_it_selected(server, town, demo, browser):
    """Moving the selected ticket (closing it takes it out of the default filter, and the
    table re-sorts) never switches the detail to another ticket."""
    other, _ = _file(town, demo, 0, "received", hours_ago=1)
    tid, grid = _file(town, demo, 0, "in_progress")
    page = _open_list(browser, server, grid)
    _wait_status(page, tid, "in_progress")
    for source, target in (("in_progress", "handled"), ("handled", "verified"),
                           ("verified", "closed")):
        _press(page, target, source)
        _wait_status(page, tid, target)
        assert not any(other in h for h in _headings(page)), "another ticket was opened"
    page.get_by_text(t("ticket_final", "zh")).first.wait_for(timeout=10_000)
    page.wait_for_timeout(RERUN_MS)  # a late rerun must not pick another ticket either
    assert not any(other in h for h in _headings(page))
    _wait_status(page, tid, "closed")
    shot(page, "tickets-closed-stays-selected")
    ts = TicketStore.for_store(town)
    assert ts.get(tid, principal=OP)["status"] == "closed" and ts.get(other,
                                                                      principal=OP)["status"] == "received"
    # choosing another row in the list still opens that ticket
    _pick_row(page, 0)  # the closed ticket left the list: the newest is now ``other``
    _wait_status(page, other, "received")
    page.close()


def test_notes_belong_to_one_step(server, town, demo, browser):
    tid, grid = _file(town, demo, 1, "in_progress")
    page = _open_list(browser, server, grid)
    _wait_status(page, tid, "in_progress")
    _type_note(page, "已更换楼道灯")
    _press(page, "handled", "in_progress")
    _wait_status(page, tid, "handled")
    _press(page, "verified", "handled")
    _wait_status(page, tid, "verified")
    hist = TicketStore.for_store(town).get(tid, principal=OP)["history"]
    notes = {h["status"]: h["note"] for h in hist}
    assert notes["handled"] == "已更换楼道灯"
    assert notes["verified"] is None, hist
    assert page.locator(f'input[aria-label="{t("note", "zh")}"]:visible').input_value() == ""
    page.close()


def test_a_stale_click_is_refused_with_a_message(server, town, demo, browser):
    """Clerk A verifies, clerk B (who still sees 已反馈) sends it back: B is told, nothing of
    B's move is applied."""
    tid, grid = _file(town, demo, 2, "handled")
    ctx_a, ctx_b = browser.new_context(), browser.new_context()
    a = _open_list(ctx_a, server, grid)
    b = _open_list(ctx_b, server, grid)
    _wait_status(a, tid, "handled")
    _wait_status(b, tid, "handled")
    _press(a, "verified", "handled")
    _wait_status(a, tid, "verified")
    _press(b, "returned", "handled")
    warning = b.locator('[data-testid="stAlert"]:visible', has_text=t("status_t_verified"))
    warning.first.wait_for(timeout=15_000)
    prefix = t("conflict", "zh").split("{status}")[0].strip()
    assert prefix in warning.first.inner_text()
    _wait_status(b, tid, "verified")  # B now sees the ticket as it is
    shot(b, "tickets-stale-click")
    tk = TicketStore.for_store(town).get(tid, principal=OP)
    assert tk["status"] == "verified"
    assert [h["status"] for h in tk["history"]][-2:] == ["handled", "verified"]
    ctx_a.close()
    ctx_b.close()


def test_labels_come_from_the_interface_catalogue(server, town, demo, browser):
    tid, grid = _file(town, demo, 3, "verified")
    page = _open_list(browser, server, grid, "en")
    _wait_status(page, tid, "verified", "en")
    moves = page.locator('[data-testid="stFormSubmitButton"]:visible')
    moves.first.wait_for(timeout=30_000)  # the form is drawn after the heading
    page.wait_for_timeout(RERUN_MS)
    buttons = moves.all_inner_texts()
    assert [b.strip() for b in buttons] == [
        t(f"move_{m.source}_{m.target}", "en") for m in workflow.allowed_moves("verified")]
    for action in ("close", "close_unresolved"):  # the library's verbs are not labels
        assert page.get_by_role("button", name=action, exact=True).count() == 0
    shot(page, "tickets-english")
    page.close()
