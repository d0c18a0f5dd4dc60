"""AppTest smoke tests of the dashboard (the map's content is tested on its spec)."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboard import charts
from dashboard.i18n import MESSAGES, t
from layers.coverage import coverage

APP = str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py")


@pytest.fixture
def app(monkeypatch, demo_file):
    monkeypatch.setenv("WANGGE_STORE", str(demo_file))
    return AppTest.from_file(APP, default_timeout=120)


def test_overview_in_chinese(app, demo):
    at = app.run()
    assert not at.exception
    assert at.title[0].value == "网格化治理地图"
    assert any("示例数据，非真实" in w.value for w in at.warning)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["网格"] == str(len(demo.grids))
    res = coverage(demo)
    share = 1 - len(res.grids_without_sentinel) / len(demo.grids)
    assert metrics["网格哨兵覆盖率"] == f"{share:.1%}"
    table = at.dataframe[0].value
    assert "无哨兵网格" in table.columns and len(table) == 13


def test_english_switch(app):
    at = app.run()
    at.sidebar.radio(key="lang").set_value("en").run()
    assert not at.exception
    assert at.title[0].value == "Grid Governance Map"
    assert "Grids" in [m.label for m in at.metric]


def test_map_spec_colours_grids_by_status(demo):
    res = coverage(demo)
    spec = charts.town_map(demo, res.grids, "zh").to_dict()
    grid_layer = spec["layer"][0]
    features = grid_layer["data"]["values"]
    assert len(features) == len(demo.grids)
    by_code = {f["properties"]["code"]: f["properties"]["status"] for f in features}
    for code in res.grids_without_sentinel:
        assert by_code[code] == "无哨兵"
    scale = grid_layer["encoding"]["color"]["scale"]
    assert scale["range"][scale["domain"].index("无哨兵")] == charts.STATUS_COLOURS["no_sentinel"]


def test_catalogue_is_complete():
    for key, entry in MESSAGES.items():
        assert entry.get("zh") and entry.get("en"), key
    assert t("missing-key") == "missing-key"
