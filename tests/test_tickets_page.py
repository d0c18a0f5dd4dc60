"""The 工单 page's move form, through AppTest (the same cases run in a real browser in
test_tickets_browser.py): a move applies to the version the user saw, each step records only
what was entered for it, labels come from the interface catalogue."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboard.i18n import t
from layers.tickets import TicketStore, workflow

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def filed(app_store, demo):
    """A ticket filed in the app's store; returns (store, ticket id)."""
    b = demo.buildings.iloc[5]
    p = b.geometry.representative_point()
    ts = TicketStore.for_store(app_store)
    return ts, ts.add("sanitation", p.x, p.y, "楼道堆物", building_code=b.code)


def _page(tid: str, lang: str = "zh") -> AppTest:
    at = AppTest.from_string(
        f"import sys; sys.path.insert(0, {str(ROOT)!r})\n"
        "from dashboard.views import tickets_page\ntickets_page.render()\n",
        default_timeout=120)
    at.session_state["ticket_sel"] = tid
    at.session_state["tickets_tab"] = t("tab_list", lang)  # the list's tab open (lazy tabs)
    if lang != "zh":
        at.query_params["lang"] = lang
    return at.run()


def _to(ts: TicketStore, tid: str, status: str) -> None:
    for s in workflow.path_to(status)[1:]:
        ts.move(tid, s)


def _button(at: AppTest, source: str, target: str, lang: str = "zh"):
    label = t(f"move_{source}_{target}", lang)
    return next(b for b in at.button if b.label == label)


def _conflicts(at: AppTest) -> int:
    prefix = t("conflict").split("{status}")[0].strip()
    return sum(prefix in w.value for w in at.warning)


def test_a_move_decided_on_an_old_version_is_refused(filed):
    ts, tid = filed
    _to(ts, tid, "handled")
    at = _page(tid)
    ts.move(tid, "verified", by="甲")  # another clerk, meanwhile
    _button(at, "handled", "returned").click().run()
    assert not at.exception
    assert _conflicts(at) == 1 and any(t("status_t_verified") in w.value for w in at.warning)
    tk = ts.get(tid)
    assert tk["status"] == "verified" and tk["history"][-1]["by"] == "甲"
    # the form now offers the moves from 已核查, and they work
    labels = [b.label for b in at.button]
    assert t("move_verified_closed") in labels
    _button(at, "verified", "closed").click().run()
    assert ts.get(tid)["status"] == "closed"
    assert _conflicts(at) == 0


def test_a_note_is_recorded_once(filed):
    ts, tid = filed
    _to(ts, tid, "in_progress")
    at = _page(tid)
    next(i for i in at.text_input if i.label == t("note")).set_value("已清理")
    _button(at, "in_progress", "handled").click().run()
    assert next(i for i in at.text_input if i.label == t("note")).value == ""
    _button(at, "handled", "verified").click().run()
    assert not at.exception
    notes = [(h["status"], h["note"]) for h in ts.get(tid)["history"]][-2:]
    assert notes == [("handled", "已清理"), ("verified", None)]


def test_move_buttons_are_labelled_from_the_catalogue(filed):
    ts, tid = filed
    for lang in ("zh", "en"):
        at = _page(tid, lang)
        labels = [b.label for b in at.button if b.label != t("submit_ticket", lang)]
        assert labels == [t(f"move_{m.source}_{m.target}", lang)
                          for m in workflow.allowed_moves("received")]
        assert all(not label.startswith("move_") for label in labels)
    assert [b.label for b in _page(tid).button][-2:] == ["立案", "不予立案"]
