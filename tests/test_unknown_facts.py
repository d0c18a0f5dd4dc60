"""Optional fields of real files are unknown, not errors (issue 12): a building whose floors,
elevator and renovation are unknown opens in the detail panel and the map (found by trying the
Longgang demo: the panel crashed on int(None))."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from streamlit.testing.v1 import AppTest

from dashboard.i18n import t
from layers import lookup
from layers.store import open_store

ROOT = Path(__file__).resolve().parent.parent
LONGGANG = ROOT / "geodata" / "longgang.gpkg"


def _unknown_building() -> str:
    with sqlite3.connect(LONGGANG) as con:
        return con.execute("SELECT code FROM buildings WHERE floors IS NULL AND "
                           "has_elevator IS NULL LIMIT 1").fetchone()[0]


def test_building_detail_says_unknown_facts_are_unknown():
    code = _unknown_building()
    d = lookup.building_detail(open_store(LONGGANG).read(), code)
    assert d.facts["floors"] is None and d.facts["has_elevator"] is None


def test_detail_panel_shows_unknown(tmp_path, monkeypatch):
    code = _unknown_building()
    at = AppTest.from_file(str(ROOT / "dashboard" / "app.py"), default_timeout=180)
    at.query_params["data"] = "longgang"
    at.query_params["sel"] = code
    at.run()
    assert not at.exception
    assert any(m.label == t("floors") and m.value == t("unknown") for m in at.metric)
    assert any(f"{t('has_elevator')} {t('unknown')}" in c.value for c in at.caption)
