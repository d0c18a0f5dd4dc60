"""服务覆盖 (issue 16): the planner's summary first, headers in the UI language on the page and
in the workbook, the isochrone as filled bands that do not overlap."""

from __future__ import annotations

import io
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
import shapely
from streamlit.testing.v1 import AppTest

from dashboard import reports
from dashboard.views import reach_page
from layers import network
from layers.reach import isochrones, reach

ROOT = str(Path(__file__).resolve().parent.parent)
RAW = ("grid_code", "distance_m", "snap_m", "community_code", "person_id", "households",
       "share_", "_m", "balance", "supply", "demand", "method")


@pytest.fixture(scope="module")
def net(demo):
    return network.from_roads(demo.roads)


@pytest.fixture(scope="module")
def result(demo, net):
    return reach(demo, net)


def _page(monkeypatch, demo_file, **params: str) -> AppTest:
    monkeypatch.setenv("WANGGE_STORE", str(demo_file))
    at = AppTest.from_string(
        f"import sys; sys.path.insert(0, {ROOT!r})\n"
        "from dashboard.views import reach_page\nreach_page.render()\n", default_timeout=120)
    for k, v in params.items():
        at.query_params[k] = v
    return at.run()


def _raw_headers(columns) -> list[str]:
    return [str(c) for c in columns if any(r in str(c) for r in RAW)]


def _beyond(demo, result, metres: float) -> tuple[int, int, pd.Series]:
    """By hand: households of buildings farther than ``metres`` from elder care (or none)."""
    b = result.buildings
    far = b[b["elder_care_m"].isna() | (b["elder_care_m"] > metres)]
    per = far.groupby("community_code")["households"].sum().sort_values(ascending=False)
    return int(far["households"].sum()), int(b["households"].sum()), per


def test_summary_comes_first_and_counts_households_beyond_500_m(monkeypatch, demo_file, demo,
                                                                result):
    at = _page(monkeypatch, demo_file)
    assert not at.exception
    n, total, per = _beyond(demo, result, 500)
    assert 0 < n < total
    text = at.info[0].value
    assert text.startswith(f"**{n:,} 户（{n / total:.1%}）** 步行 500 m 内没有养老服务。")
    names = demo.communities.set_index("code")["name"]
    first = per.index[0]
    assert f"{names[first]}（{int(per.iloc[0]):,} 户）" in text
    # the summary is the first thing after the method caption and the service choice
    kinds = [type(e).__name__ for e in at.main]
    assert kinds.index("Info") < kinds.index("Metric") < kinds.index("Dataframe")
    assert [m.label for m in at.metric][1] == "步行 500 m（约 7 分钟）"


def test_households_beyond_matches_a_hand_count(demo, result):
    for metres in (300, 500, 1000):
        n, total, per = reports.households_beyond(result.buildings, "elder_care", metres)
        want_n, want_total, want_per = _beyond(demo, result, metres)
        assert (n, total) == (want_n, want_total)
        assert per.to_dict() == {k: int(v) for k, v in want_per[want_per > 0].items()}


def test_page_tables_have_chinese_headers(monkeypatch, demo_file):
    at = _page(monkeypatch, demo_file)
    cols = [c for df in at.dataframe for c in df.value.columns]
    assert not _raw_headers(cols), _raw_headers(cols)
    for head in ("网格", "距离（米）", "离道路（米）", "到养老服务（米）", "户数", "社区/村"):
        assert head in cols


def test_page_in_english(monkeypatch, demo_file, result):
    at = _page(monkeypatch, demo_file, lang="en")
    assert not at.exception
    assert "have no elder care within a 500 m walk" in at.info[0].value
    cols = [c for df in at.dataframe for c in df.value.columns]
    assert not _raw_headers(cols)
    assert not [c for c in cols if any("\u4e00" <= ch <= "\u9fff" for ch in str(c))]
    assert "Off the street (m)" in cols
    labels = [m.label for m in at.metric] + [s.value for s in at.subheader]
    assert not [x for x in labels if any("\u4e00" <= ch <= "\u9fff" for ch in x)]


def _workbook(demo_file, lang: str, monkeypatch) -> openpyxl.Workbook:
    from dashboard import state

    monkeypatch.setenv("WANGGE_STORE", str(demo_file))
    state.reach_workbook.clear()
    return openpyxl.load_workbook(io.BytesIO(state.reach_workbook(
        str(demo_file), 1, lang=lang)))


def test_workbook_headers_in_the_ui_language(demo_file, monkeypatch):
    wb = _workbook(demo_file, "zh", monkeypatch)
    assert wb.sheetnames == ["楼栋步行距离", "生活圈覆盖", "停车余缺", "建议补位"]
    for ws in wb.worksheets:
        heads = [c.value for c in ws[1]]
        assert not _raw_headers(heads), (ws.title, heads)
    assert [c.value for c in wb["楼栋步行距离"][1]][:3] == ["楼栋", "名称", "社区/村"]
    en = _workbook(demo_file, "en", monkeypatch)
    assert en.sheetnames == ["Buildings", "Life circles", "Parking", "Suggestions"]
    assert "To elder care (m)" in [c.value for c in en["Buildings"][1]]


def test_workbook_tables_write_names_as_text():
    from layers.export import write_excel

    b = pd.DataFrame({"code": ["B1"], "name": ["=HYPERLINK(1)"], "elder_care_m": [12.4]})
    tables = {"x": reports.reach_buildings(b, "zh"),
              "y": reports.reach_suggestions(pd.DataFrame({"grid_code": ["G"],
                                                           "name": ["+1"]}), "zh")}
    wb = openpyxl.load_workbook(io.BytesIO(write_excel(tables)))
    values = [c.value for ws in wb.worksheets for row in ws.iter_rows() for c in row]
    assert "'=HYPERLINK(1)" in values and "'+1" in values and 12 in values


def test_isochrone_rings_are_filled_bands_that_do_not_overlap(demo, net):
    p = demo.care_points.geometry.iloc[0]
    iso = isochrones(net, p.x, p.y, (300, 500, 1000))
    rings = reach_page.isochrone_rings(iso)
    assert list(rings["distance_m"]) == [300, 500, 1000]
    g = rings.geometry.to_numpy()
    assert all(shapely.area(g) > 0)
    for i in range(3):
        for j in range(i + 1, 3):
            assert shapely.area(shapely.intersection(g[i], g[j])) < 1e-12
    whole = iso.sort_values("distance_m").geometry.iloc[-1]
    assert abs(shapely.area(shapely.union_all(g)) - shapely.area(whole)) < 1e-9


def test_one_colour_per_distance_class():
    colours = [c for _, _, c in reach_page.BANDS]
    assert len(set(colours)) == len(colours)
    assert reach_page._colour(300) == colours[0] and reach_page._colour(1000) == colours[2]
    assert reach_page.summary_metres((300, 500, 1000)) == 500


def test_numbers_formatted_like_the_figures(monkeypatch, demo_file, result):
    """Counts with thousands separators, shares as percent with one decimal (like 46.2%)."""
    import json

    at = _page(monkeypatch, demo_file)
    conf = json.loads(at.dataframe[0].proto.columns)
    assert conf["户数"]["type_config"]["format"] == "localized"
    assert conf["≤500 m"]["type_config"]["format"] == "%.1f%%"
    table = at.dataframe[0].value
    comm = result.summary[result.summary.level == "community"]
    assert table["≤500 m"].round(6).tolist() == (comm["share_elder_care_500"] * 100).round(
        6).tolist()
    for df in at.dataframe[1:]:
        numeric = [c for c in df.value.columns if pd.api.types.is_numeric_dtype(df.value[c])]
        conf = json.loads(df.proto.columns)
        assert all(conf[c]["type_config"]["format"] == "localized" for c in numeric)


def test_network_source_in_the_page_language():
    assert reach_page.network_source("roads", "zh") == "本辖区道路图层"
    assert reach_page.network_source("roads", "en") == "the area's roads layer"
    assert reach_page.network_source("osm:town_[1].pbf", "zh") == r"osm\:town\_\[1\]\.pbf"
