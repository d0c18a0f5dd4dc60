"""人员管理, the detail panel's 责任人调整 and the coverage page's 补位, through AppTest (the
panel's assignment runs in a real browser in test_people_browser.py): edits go through the
register with the logged-in account's name, an edit decided on a stale view changes nothing and says
what is there now, leaving asks to confirm first, phones stay masked outside the edit form."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboard.i18n import t
from dashboard.text import md
from layers import clock
from layers import register as reg
from layers.assignments import active_assignments
from layers.auth import Accounts, Principal
from layers.coverage import coverage
from layers.store import open_store

#: The CLI's operator: whole area, full data (what tests that are not about
#: authorisation act as).
OP = Principal.operator()

ROOT = Path(__file__).resolve().parent.parent
OPERATOR = "王芳"


def _page(module: str, *, sel: str | None = None, person: str | None = None,
          lang: str = "zh") -> AppTest:
    at = AppTest.from_string(
        f"import sys; sys.path.insert(0, {str(ROOT)!r})\n"
        f"from dashboard.views import {module}\n{module}.render()\n", default_timeout=180)
    if sel:
        at.query_params["sel"] = sel
    if person:
        at.session_state["people_sel"] = person
    if lang != "zh":
        at.query_params["lang"] = lang
    # the logged-in account (app.py's login gate puts it there before every page)
    at.session_state["_principal"] = Principal(OPERATOR, "admin")
    at.run()
    assert not at.exception
    return at


def _keyed(widgets, prefix: str):
    return next(w for w in widgets if (w.key or "").startswith(prefix))


def _prefix(key: str) -> str:
    """The fixed head of a message with placeholders."""
    return t(key).split("{")[0]


def _warned(at: AppTest, key: str) -> bool:
    return any(_prefix(key) in w.value for w in at.warning)


def _person(store, pid: str):
    p = open_store(store).read(["people"], check_geometry=False)["people"]
    return p.set_index("person_id").loc[pid]


def _in_force(store, pid: str):
    a = open_store(store).read(["assignments"], check_geometry=False)["assignments"]
    act = active_assignments(a, clock.today())
    return act[act["person_id"] == pid]


# -- 人员管理 ----------------------------------------------------------------------------------

def test_add_a_person(app_store, demo):
    at = _page("people_page")
    building = demo.buildings.iloc[20]
    community = demo.grids.set_index("code").community_code[building.grid_code]
    at.text_input(key="ppl_new_name_0").set_value("柳青")
    at.button(key="ppl_add_go_0").click().run()
    assert [e.value for e in at.error] == [t("ppl_home_required")]  # nothing written
    at.text_input(key="ppl_new_phone_0").set_value("13912345678")
    at.checkbox(key="ppl_new_party_0").check()
    at.selectbox(key="ppl_new_home_0_c").set_value(community).run()
    at.selectbox(key="ppl_new_home_0_b").set_value(building.code)
    at.button(key="ppl_add_go_0").click().run()
    assert not at.exception
    added = [s.value for s in at.success if _prefix("ppl_added") in s.value]
    assert len(added) == 1
    people = open_store(app_store).read(["people"], check_geometry=False)["people"]
    new = people[people["name"] == "柳青"].iloc[0]
    assert (new.phone, bool(new.is_party_member), new.home_building_code) == (
        "13912345678", True, building.code)
    h = reg.history(open_store(app_store), person=new.person_id, principal=OP)
    assert list(h["action"]) == ["person_add"]
    assert (h["by"].iloc[0], h["source"].iloc[0]) == (OPERATOR, "page:people")
    # the new person is chosen; the form for the next one starts empty
    assert at.subheader[0].value.startswith("柳青")
    assert at.text_input(key="ppl_new_name_1").value == ""
    # the list shows the phone masked; only the edit form shows it in full
    at.text_input(key="ppl_q").set_value("柳青").run()
    listed = at.dataframe[0].value
    assert listed[t("ppl_phone")].tolist() == ["139****5678"]
    assert "13912345678" not in "".join(str(df.value.to_dict()) for df in at.dataframe)
    # the edit form too, until 显示完整电话 — which the audit log records
    assert _keyed(at.text_input, "ppl_phone_").value == "139****5678"
    assert Accounts(app_store).audit_log(action="reveal_phone").empty
    _keyed(at.button, "ppl_reveal_").click().run()
    assert _keyed(at.text_input, "ppl_phone_").value == "13912345678"
    log = Accounts(app_store).audit_log(action="reveal_phone")
    assert log[["user", "target"]].values.tolist() == [[OPERATOR, new.person_id]]


def test_search_by_phone_digits_and_filters(app_store, demo):
    p = demo.people.iloc[33]
    at = _page("people_page")
    at.text_input(key="ppl_q").set_value(p.phone[-5:]).run()
    assert p.person_id in at.dataframe[0].value.iloc[:, 0].tolist()
    at.text_input(key="ppl_q").set_value("").run()
    at.selectbox(key="ppl_role").set_value("grid_sentinel").run()
    ids = set(at.dataframe[0].value.iloc[:, 0])
    act = active_assignments(demo.assignments, clock.today())
    sentinels = set(act.loc[act["role"] == "grid_sentinel", "person_id"])
    assert ids == sentinels
    at.selectbox(key="ppl_party").set_value("no").run()
    assert ids >= set(at.dataframe[0].value.iloc[:, 0])
    assert not at.exception


def test_an_edit_decided_on_an_old_view_is_refused(app_store, demo):
    pid = demo.people.person_id.iloc[40]
    at = _page("people_page", person=pid)
    before = _person(app_store, pid)
    reg.edit_person(open_store(app_store), pid, phone="13700001111",
                    principal=Principal.operator("甲"))  # meanwhile
    _keyed(at.text_input, "ppl_name_").set_value("改过的名字")
    _keyed(at.button, "ppl_save_").click().run()
    assert not at.exception
    assert _warned(at, "ppl_conflict")
    assert md("137****1111") in next(w.value for w in at.warning if _prefix("ppl_conflict") in w.value)
    now = _person(app_store, pid)
    assert (now["name"], now["phone"]) == (before["name"], "13700001111")  # nothing of ours
    # the form now starts from the person as stored (phone masked until revealed), and saving
    # works
    assert _keyed(at.text_input, "ppl_phone_").value == "137****1111"
    _keyed(at.text_input, "ppl_name_").set_value("改过的名字")
    _keyed(at.button, "ppl_save_").click().run()
    assert [s.value for s in at.success] == [t("ppl_saved")]
    assert not _warned(at, "ppl_conflict")
    assert _person(app_store, pid)["name"] == "改过的名字"
    h = reg.history(open_store(app_store), person=pid, principal=OP)
    assert list(h["by"]) == ["甲", OPERATOR]
    assert h["source"].iloc[-1] == "page:people"


def test_leaving_asks_to_confirm_and_ends_the_duties(app_store, demo):
    act = active_assignments(demo.assignments, clock.today())
    pid = act.loc[act["role"] == "grid_sentinel", "person_id"].iloc[3]
    duties = len(act[act["person_id"] == pid])
    at = _page("people_page", person=pid)
    at.text_input(key=f"ppl_leave_reason_{pid}").set_value("搬家")
    at.date_input(key=f"ppl_leave_date_{pid}").set_value(clock.today())
    at.button(key=f"ppl_leave_{pid}").click().run()
    assert _warned(at, "ppl_leave_confirm")
    assert reg.people_left(open_store(app_store)).empty  # not before the confirmation
    at.button(key=f"ppl_leave_no_{pid}").click().run()  # cancel: back to the first step
    assert not _warned(at, "ppl_leave_confirm")
    at.button(key=f"ppl_leave_{pid}").click().run()
    at.button(key=f"ppl_leave_yes_{pid}").click().run()
    assert not at.exception
    assert [s.value for s in at.success] == [t("ppl_left_done").format(n=duties)]
    left = reg.people_left(open_store(app_store)).set_index("person_id")
    assert left.loc[pid, "reason"] == "搬家"
    assert left.loc[pid, "left_on"].date() == clock.today()
    assert _in_force(app_store, pid).empty or (
        _in_force(app_store, pid)["until"].dt.date == clock.today()).all()
    assert any(_prefix("ppl_already_left") in c.value for c in at.caption)
    at.selectbox(key="ppl_left").set_value("gone").run()
    assert at.dataframe[0].value.iloc[:, 0].tolist() == [pid]


# -- the detail panel -----------------------------------------------------------------------

@pytest.fixture
def gap(demo) -> str:
    return coverage(demo).grids_without_sentinel[0]


def test_panel_assigns_and_refuses_a_stale_click(app_store, gap):
    at = _page("map_page", sel=gap)
    assert any(t("no_sentinel_warning") in e.value for e in at.error)
    pick = _keyed(at.selectbox, f"asg_pick_{gap}")
    first = pick.value
    at.button(key=f"asg_add_{gap}").click().run()
    assert not at.exception
    assert not any(t("no_sentinel_warning") in e.value for e in at.error)
    h = reg.history(open_store(app_store), target=gap, principal=OP)
    assert list(h["person_id"]) == [first]
    assert (h["by"].iloc[0], h["source"].iloc[0]) == (OPERATOR, "page:map")
    # the history table under the panel shows it (None as empty)
    table = at.dataframe[-1].value
    assert len(table) == 1 and "None" not in table.to_string()
    # someone else replaces the sentinel; a 更换 from the old view changes nothing
    reg.assign(open_store(app_store), person_id="P00000009", role="grid_sentinel", target=gap,
               replace=True, principal=Principal.operator("甲"))
    at.button(key=f"asg_replace_{gap}").click().run()
    assert not at.exception
    assert _warned(at, "asg_conflict")
    holders = set(_in_force_on(app_store, gap))
    assert holders == {"P00000009"}


def _in_force_on(store, target: str) -> list[str]:
    a = open_store(store).read(["assignments"], check_geometry=False)["assignments"]
    act = active_assignments(a, clock.today())
    return act.loc[act["target_code"] == target, "person_id"].tolist()


def test_panel_unassigns_a_building_member(app_store, demo):
    act = active_assignments(demo.assignments, clock.today())
    row = act[act["role"] == "building_member"].iloc[0]
    at = _page("map_page", sel=row.target_code)
    _keyed(at.button, f"asg_unassign_{row.target_code}").click().run()
    assert not at.exception
    assert any(_prefix("asg_done_unassign") in s.value for s in at.success)
    assert row.person_id not in _in_force_on_after_today(app_store, row.target_code)


def _in_force_on_after_today(store, target: str) -> list[str]:
    a = open_store(store).read(["assignments"], check_geometry=False)["assignments"]
    act = active_assignments(a, clock.today() + dt.timedelta(days=1))
    return act.loc[act["target_code"] == target, "person_id"].tolist()


def test_panel_in_english(app_store, gap):
    at = _page("map_page", sel=gap, lang="en")
    labels = [b.label for b in at.button]
    assert t("asg_assign_sentinel", "en") in labels
    assert any(t("hist_empty", "en") == c.value for c in at.caption)


# -- 补位 on the coverage page -------------------------------------------------------------

def test_coverage_accepts_one_grid_and_fills_a_community_in_two_steps(app_store, demo):
    at = _page("coverage_page")
    sug = reg.suggestions(demo)
    first = sug.grid_code.iloc[0]
    at.button(key=f"cov_accept_{first}").click().run()
    assert not at.exception
    assert any(_prefix("cov_accepted") in s.value for s in at.success)
    assert _in_force_on(app_store, first) == [sug.person_id.iloc[0]]
    comm = at.selectbox(key="cov_fill_comm").value
    left = {g for g in sug.grid_code if g != first and g.startswith(comm)}
    at.button(key=f"cov_fill_{comm}").click().run()
    assert _warned(at, "cov_fill_confirm")  # the list first, nothing written yet
    assert all(not _in_force_on(app_store, g) for g in left)
    at.button(key=f"cov_fill_yes_{comm}").click().run()
    assert not at.exception
    assert any(_prefix("cov_fill_done") in s.value for s in at.success)
    assert all(_in_force_on(app_store, g) for g in left)
    h = reg.history(open_store(app_store), principal=OP)
    assert set(h.loc[h["action"] == "assign", "source"]) == {"page:coverage"}
    assert set(h.loc[h["action"] == "assign", "by"]) == {OPERATOR}


def test_as_of_a_past_day_shows_the_history(app_store, demo):
    """After a sentinel is assigned today, ``?asof=`` of an earlier day shows the grid as it
    was then (no sentinel), and the panel offers no edits for the past."""
    grid = coverage(demo).grids_without_sentinel[0]
    pool = reg.suggestions(open_store(app_store).read())
    person = pool[pool.grid_code == grid].person_id.iloc[0]
    reg.assign(open_store(app_store), person_id=person, role="grid_sentinel", target=grid,
               principal=Principal.operator("王芳"))
    root = str(ROOT)
    yesterday = (clock.today() - dt.timedelta(days=1)).isoformat()
    for asof, expect_gap in ((None, False), (yesterday, True)):
        at = AppTest.from_string(f"import sys; sys.path.insert(0, {root!r})\n"
                                 "from dashboard.views import map_page\nmap_page.render()\n",
                                 default_timeout=120)
        at.query_params["sel"] = grid
        if asof:
            at.query_params["asof"] = asof
        at.run()
        assert not at.exception
        gap = any("没有在岗哨兵" in e.value for e in at.error)
        assert gap == expect_gap, asof
        edits = [b for b in at.button if "指派" in b.label]
        assert bool(edits) == (asof is None)
