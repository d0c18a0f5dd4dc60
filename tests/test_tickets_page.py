"""The 工单 page's move form, through AppTest (the same cases run in a real browser in
test_tickets_browser.py): a move applies to the version the user saw, each step records only
what was entered for it, labels come from the interface catalogue."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboard.i18n import t
from layers.auth import Principal
from layers.tickets import TicketStore, workflow

#: The CLI's operator: whole area, full data (what tests that are not about
#: authorisation act as).
OP = Principal.operator()

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def filed(app_store, demo):
    """A ticket filed in the app's store; returns (store, ticket id)."""
    b = demo.buildings.iloc[5]
    p = b.geometry.representative_point()
    ts = TicketStore.for_store(app_store)
    return ts, ts.add("sanitation", p.x, p.y, "楼道堆物", building_code=b.code, principal=OP)


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
        ts.move(tid, s, principal=OP)


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
    ts.move(tid, "verified", principal=Principal.operator("甲"))  # another clerk, meanwhile
    _button(at, "handled", "returned").click().run()
    assert not at.exception
    assert _conflicts(at) == 1 and any(t("status_t_verified") in w.value for w in at.warning)
    tk = ts.get(tid, principal=OP)
    assert tk["status"] == "verified" and tk["history"][-1]["by"] == "甲"
    # the form now offers the moves from 已核查, and they work
    labels = [b.label for b in at.button]
    assert t("move_verified_closed") in labels
    _button(at, "verified", "closed").click().run()
    assert ts.get(tid, principal=OP)["status"] == "closed"
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
    notes = [(h["status"], h["note"]) for h in ts.get(tid, principal=OP)["history"]][-2:]
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


def _photo_png() -> bytes:
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress((b"\x00" + b"\x00\x00\xff" * 2) * 2))
            + chunk(b"IEND", b""))


def _all_text(at: AppTest) -> str:
    """Every text the page shows: markdown, captions, alerts, tables' cells."""
    parts = [e.value for kind in ("markdown", "caption", "success", "warning", "error",
                                  "subheader") for e in getattr(at, kind)]
    parts += [df.value.to_csv() for df in at.dataframe]
    return "\n".join(str(p) for p in parts)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_history_says_a_dash_and_words_never_none(filed, lang):
    ts, tid = filed
    _to(ts, tid, "closed")  # moves without notes; closing without a rating
    at = _page(tid, lang)
    assert not at.exception
    hist = next(df.value for df in at.dataframe if t("note", lang) in df.value.columns)
    assert hist[t("note", lang)].tolist() == ["—"] * len(hist)
    assert set(hist[t("tk_status", lang)]) <= {t(f"status_t_{s}", lang)
                                              for s in workflow.path_to("closed")}
    assert "None" not in _all_text(at) and "nan" not in _all_text(at).lower().split()


def test_a_rating_is_shown_in_words(filed):
    ts, tid = filed
    for s in workflow.path_to("closed")[1:-1]:
        ts.move(tid, s, principal=OP)
    ts.move(tid, "closed", satisfaction="basically_satisfied", principal=OP)
    at = _page(tid, "en")
    assert any(t("sat_basically_satisfied", "en") in c.value for c in at.caption)
    assert not any("basically_satisfied" in c.value for c in at.caption)


def test_the_detail_shows_the_ticket_photo(app_store, demo):
    b = demo.buildings.iloc[9]
    p = b.geometry.representative_point()
    ts = TicketStore.for_store(app_store)
    tid = ts.add("sanitation", p.x, p.y, "墙面渗水", photo=_photo_png(), principal=OP)
    at = _page(tid)
    assert not at.exception
    assert len(at.get("image")) == 1
    other = ts.add("sanitation", p.x, p.y, "无照片", principal=OP)
    assert len(_page(other).get("image")) == 0


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_kpi_table_shows_shares_as_the_tiles_do(app_store, lang):
    at = AppTest.from_string(
        f"import sys; sys.path.insert(0, {str(ROOT)!r})\n"
        "from dashboard.views import tickets_page\ntickets_page.render()\n",
        default_timeout=120)
    at.session_state["tickets_tab"] = t("tab_kpi", lang)
    if lang != "zh":
        at.query_params["lang"] = lang
    at.run()
    assert not at.exception
    tiles = {m.label: m.value for m in at.metric}
    table = at.dataframe[0].value
    total = table.iloc[-1]
    for key in ("kpi_closure_rate", "kpi_on_time_rate"):
        assert total[t(key, lang)] == tiles[t(key, lang)]
        assert tiles[t(key, lang)].endswith("%")
    for key in ("kpi_closure_rate", "kpi_on_time_rate", "kpi_satisfaction_rate"):
        col = table[t(key, lang)]
        assert all(v == "—" or (v.endswith("%") and float(v[:-1]) <= 100) for v in col), col
    assert "None" not in table.to_csv()


def _intake(lang: str = "zh", clicked: tuple[float, float] | None = None) -> AppTest:
    at = AppTest.from_string(
        f"import sys; sys.path.insert(0, {str(ROOT)!r})\n"
        "from dashboard.views import tickets_page\ntickets_page.render()\n",
        default_timeout=120)
    if clicked is not None:  # what the map component reports after a tap
        at.session_state["intake_map_0"] = {"last_clicked": {"lng": clicked[0],
                                                             "lat": clicked[1]}}
    if lang != "zh":
        at.query_params["lang"] = lang
    return at.run()


def _placement_text(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown) + "\n".join(c.value for c in at.caption)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_tap_shows_grid_community_and_building_before_filing(app_store, demo, lang):
    from dashboard.text import md

    b = demo.buildings.iloc[23]
    p = b.geometry.representative_point()
    before = len(TicketStore.for_store(app_store).frame(principal=OP))
    at = _intake(lang, (p.x, p.y))
    assert not at.exception
    grid = demo.grids.set_index("code").loc[b.grid_code]
    comm = demo.communities.set_index("code").loc[grid.community_code]
    shown = _placement_text(at)
    for words in (t("tk_place_title", lang), grid["name"], comm["name"], b["name"],
                  t("tk_place_building_in", lang).split("{")[-1].split("}")[-1]):
        assert md(words) in shown or words in shown, (words, shown)
    assert md(b.code) in shown
    assert len(TicketStore.for_store(app_store).frame(principal=OP)) == before  # a tap files nothing


def test_a_tap_outside_every_grid_says_so(app_store):
    at = _intake("en", (0.5, 0.5))
    assert not at.exception
    assert any(t("tk_place_outside", "en") in w.value for w in at.warning)


def test_an_empty_request_is_refused_in_the_users_language(app_store, demo, lang="zh"):
    b = demo.buildings.iloc[23]
    p = b.geometry.representative_point()
    before = len(TicketStore.for_store(app_store).frame(principal=OP))
    at = _intake(lang, (p.x, p.y))
    next(b for b in at.button if b.label == t("submit_ticket", lang)).click().run()
    assert not at.exception
    assert [e.value for e in at.error] == [t("tk_text_missing", lang)]
    assert len(TicketStore.for_store(app_store).frame(principal=OP)) == before
