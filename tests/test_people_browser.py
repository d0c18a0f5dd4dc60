"""In a real browser, as a clerk would: assign a sentinel to a grid that has none from the map's
detail panel, and see the panel turn from 没有在岗哨兵 to the sentinel, with the change in its
变更记录; the 人员管理 page and the panel in English at 1440×900.

One Streamlit server for the module, on a private copy of the demo store.
"""

from __future__ import annotations

import os

import pytest
from browserkit import ARTIFACTS, add_account, login, shot, streamlit_server
from conftest import copy_store

from dashboard.i18n import t
from layers import clock
from layers import register as reg
from layers.assignments import active_assignments
from layers.auth import Principal
from layers.coverage import coverage
from layers.store import open_store

#: The CLI's operator: whole area, full data (what tests that are not about
#: authorisation act as).
OP = Principal.operator()

pytestmark = pytest.mark.skipif(
    os.environ.get("WANGGE_SKIP_BROWSER") == "1", reason="browser tests switched off")

OPERATOR = "王芳"
LOAD = 90_000  # the first page load (the store and its analyses are read once)
RERUN_MS = 1500


@pytest.fixture(scope="module")
def town(tmp_path_factory, demo_file):
    path = copy_store(demo_file, tmp_path_factory.mktemp("people-browser") / "town.gpkg")
    add_account(path, OPERATOR, "admin")  # every change is made as the logged-in account
    return path


@pytest.fixture(scope="module")
def server(town):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with streamlit_server(town) as url:
        yield url


def _show(page, text: str) -> None:
    """Scroll the page's main area (it scrolls inside itself) so ``text`` is mid-screen."""
    page.get_by_text(text).first.evaluate("e => e.scrollIntoView({block: 'center'})")
    page.wait_for_timeout(500)


def _tables(page) -> list[str]:
    """The text of each st.dataframe (its accessible table; the grid itself is a canvas)."""
    return [tb.inner_text() for tb in page.locator("[data-testid=stDataFrame] table").all()]


def _history(page, tries: int = 15) -> str:
    """The panel's change-history table (its header has 操作人, who made the change) once it is
    drawn, polled each second; "" when it never is."""
    header = t("hist_by")
    for _ in range(tries):
        found = [tb for tb in _tables(page) if header in tb]
        if found:
            return found[-1]
        page.wait_for_timeout(1000)
    return ""


def _holders(town, grid: str) -> list[str]:
    a = open_store(town).read(["assignments"], check_geometry=False)["assignments"]
    act = active_assignments(a, clock.today())
    return act.loc[(act["target_code"] == grid) & (act["role"] == "grid_sentinel"),
                   "person_id"].tolist()


def test_assign_a_sentinel_from_the_detail_panel(browser, server, town):
    grid = coverage(open_store(town).read()).grids_without_sentinel[0]
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    page.goto(f"{server}/?sel={grid}", wait_until="domcontentloaded")
    login(page, OPERATOR)
    page.get_by_text(t("no_sentinel_warning")).first.wait_for(timeout=LOAD)
    page.get_by_text(t("hist_empty")).first.wait_for(timeout=LOAD)
    _show(page, t("asg_title"))
    shot(page, "people-panel-no-sentinel")
    page.wait_for_timeout(RERUN_MS)
    picker = page.locator("[data-testid=stSelectbox]").filter(has_text=t("asg_pick"))
    label = picker.locator("input").input_value() or picker.inner_text().splitlines()[-1]
    name = label.split(" · ")[0].strip()
    assert name and " m · " in label  # 姓名 · 距离 m · 已负责 N
    page.get_by_role("button", name=t("asg_assign_sentinel")).click()
    page.get_by_text(t("asg_done_assign").format(name=name)).first.wait_for(timeout=LOAD)
    page.wait_for_timeout(RERUN_MS)

    assert page.get_by_text(t("no_sentinel_warning")).count() == 0
    assert page.get_by_text(t("hist_empty")).count() == 0
    tables = _tables(page)
    sentinel_table = tables[0]  # the panel's first table: the grid's sentinels
    assert name in sentinel_table and "****" in sentinel_table  # phone masked
    history = _history(page)  # 变更记录 (drawn after the panel's other tables)
    assert t("reg_action_assign") in history and OPERATOR in history and name in history
    _show(page, t("hist_title"))
    shot(page, "people-panel-assigned")
    page.close()

    [pid] = _holders(town, grid)
    h = reg.history(open_store(town), target=grid, principal=OP)
    assert list(zip(h["action"], h["person_id"], h["by"], h["source"], strict=True)) == [
        ("assign", pid, OPERATOR, "page:map")]


def test_people_page_and_the_panel_in_english(browser, server, town, demo):
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    page.goto(f"{server}/people?lang=en", wait_until="domcontentloaded")
    login(page, OPERATOR, lang="en")
    page.get_by_text(t("ppl_search", "en")).first.wait_for(timeout=LOAD)
    page.wait_for_timeout(RERUN_MS)
    assert page.get_by_text("Page not found").count() == 0
    page.locator("[data-testid=stDataFrame] table").first.wait_for(state="attached", timeout=LOAD)
    listed = _tables(page)[0]
    assert demo.people.name.iloc[0] in listed
    assert demo.people.phone.iloc[0] not in listed  # masked in the list
    shot(page, "people-page-en")
    building = demo.buildings.code.iloc[3]
    page.goto(f"{server}/?sel={building}&lang=en", wait_until="domcontentloaded")
    login(page, OPERATOR, lang="en")
    page.get_by_text(t("asg_title", "en")).first.wait_for(timeout=LOAD)
    page.get_by_role("button", name=t("asg_assign_member", "en")).first.wait_for()
    _show(page, t("hist_title", "en"))
    shot(page, "people-panel-building-en")
    page.close()


@pytest.fixture(scope="module")
def hostile_town(tmp_path_factory, demo):
    """The demo town with every grid, building and person named by a payload."""
    from test_security_browser import PAYLOADS

    path = tmp_path_factory.mktemp("people-hostile") / "town.gpkg"
    layers = {}
    for name in ("grids", "buildings", "people"):
        df = demo[name].copy()
        df["name"] = [f"恶意{i} {PAYLOADS[i % len(PAYLOADS)]}" for i in range(len(df))]
        layers[name] = df
    open_store(path).write(demo.replace(**layers).replace(tickets=demo.tickets.iloc[:0]))
    return path


def test_names_and_operator_stay_text_in_the_new_controls(browser, hostile_town):
    """Hostile names in the picker, the notices, the coverage page's choices, the people
    list and the person's forms; a hostile account name in the sidebar and the history: all
    text."""
    from test_security_browser import _assert_inert, _watch

    hostile = "<b class='pwn'>b</b>"
    add_account(hostile_town, hostile, "admin")
    gaps = coverage(open_store(hostile_town).read()).grids_without_sentinel
    with streamlit_server(hostile_town) as server:
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        seen = _watch(page)
        page.goto(f"{server}/?sel={gaps[0]}", wait_until="domcontentloaded")
        login(page, hostile)
        page.get_by_text(t("asg_title")).first.wait_for(timeout=LOAD)
        page.wait_for_timeout(RERUN_MS)
        page.get_by_role("button", name=t("asg_assign_sentinel")).click()
        page.get_by_text(_head("asg_done_assign")).first.wait_for(timeout=LOAD)
        _assert_inert(page, seen, "detail panel")
        shot(page, "people-hostile-panel")

        page.goto(f"{server}/coverage", wait_until="domcontentloaded")
        login(page, hostile)
        page.get_by_text(t("cov_fill")).first.wait_for(timeout=LOAD)
        page.get_by_role("button", name=t("cov_accept")).first.click()
        page.get_by_text(_head("cov_accepted")).first.wait_for(timeout=LOAD)
        _assert_inert(page, seen, "coverage 补位")

        page.goto(f"{server}/people", wait_until="domcontentloaded")
        login(page, hostile)
        table = page.locator("[data-testid=stDataFrame]").first
        table.wait_for(timeout=LOAD)
        page.wait_for_timeout(RERUN_MS)
        b = table.bounding_box()
        page.mouse.click(b["x"] + 18, b["y"] + 35 + 17)  # the first row's selector
        page.get_by_text(t("ppl_edit")).first.wait_for(timeout=LOAD)
        assert page.get_by_text("恶意0", exact=False).count() >= 1  # the name, as text
        _assert_inert(page, seen, "people page")
        shot(page, "people-hostile-person")
        page.close()
    h = reg.history(open_store(hostile_town), principal=OP)
    assert hostile in set(h["by"])


def _head(key: str) -> str:
    """The fixed head of a message with placeholders."""
    return t(key).split("{")[0]
