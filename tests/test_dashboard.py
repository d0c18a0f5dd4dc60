"""AppTest smoke tests of each page, and the problem-list exports (the map's content is
tested in test_mapview.py and in a real browser in test_browser.py)."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from dashboard import reports
from dashboard.i18n import MESSAGES, t
from layers.auth import Principal
from layers.coverage import coverage
from layers.lookup import mask_phone

#: The CLI's operator: whole area, full data (what tests that are not about
#: authorisation act as).
OP = Principal.operator()

APP = str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py")


@pytest.fixture
def app(monkeypatch, demo_file):
    monkeypatch.setenv("WANGGE_STORE", str(demo_file))
    return AppTest.from_file(APP, default_timeout=120)


def test_map_page_in_chinese(app, demo):
    at = app.run()
    assert not at.exception
    assert at.title[0].value == "地图总览"
    assert any("示例数据，非真实" in w.value for w in at.warning)
    assert any("点击地图上的网格或楼栋" in c.value for c in at.caption)


def test_selection_from_the_url_fills_the_detail_panel(app, demo):
    cov = coverage(demo)
    grid = cov.grids_without_sentinel[0]
    app.query_params["sel"] = grid
    at = app.run()
    assert not at.exception
    assert any("没有在岗哨兵" in e.value for e in at.error)
    metrics = {m.label: m.value for m in at.metric}
    hh = int(cov.grids.set_index("code").households[grid])
    assert metrics["户数"] == f"{hh:,}"
    # a building: its member's phone is masked
    b = demo.buildings.code.iloc[0]
    at.query_params["sel"] = b
    at.run()
    assert not at.exception
    shown = "".join(str(df.value.to_dict()) for df in at.dataframe)
    for phone in demo.people.phone:
        assert phone not in shown
    assert "****" in shown


def test_search_finds_a_building(app, demo):
    at = app.run()
    name = demo.buildings.name.iloc[7]
    at.sidebar.text_input(key="search").set_value(name).run()
    assert not at.exception
    radio = at.sidebar.radio(key="search_pick")
    assert any(name in o for o in radio.options)
    assert at.query_params["q"] == [name] or at.query_params["q"] == name


def test_english_switch(app):
    at = app.run()
    at.sidebar.radio(key="lang").set_value("en").run()
    assert not at.exception
    assert at.title[0].value == "Map overview"
    assert any("Sample data" in w.value for w in at.warning)


def test_coverage_page(app, demo):
    # st.navigation pages are callables: run the page in a small harness script
    root = str(Path(APP).parent.parent)
    harness = AppTest.from_string(
        f"import sys; sys.path.insert(0, {root!r})\n"
        "from dashboard.views import coverage_page\ncoverage_page.render()\n",
        default_timeout=120)
    at = harness.run()
    assert not at.exception
    cov = coverage(demo)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["无哨兵网格"] == str(len(cov.grids_without_sentinel))
    assert metrics["超负荷哨兵"] == str(len(cov.overloaded_sentinels))
    headers = [s.value for s in at.subheader]
    flagged = (cov.grids.status != "ok").sum()
    assert f"问题网格（{flagged}）" in headers
    assert len(at.get("download_button")) == 2


def test_problem_list_exports(demo):
    cov = coverage(demo)
    tables = reports.problem_tables(demo, cov, "zh")
    grids = tables["问题网格"]
    assert set(grids["网格"]) == set(cov.grids.code[cov.grids.status != "ok"])
    assert set(grids["问题"]) <= {"无在岗哨兵", "哨兵负责户数超过上限"}
    nomem = tables["无楼栋党员的楼栋"]
    assert len(nomem) == len(cov.buildings_without_member) + len(cov.buildings_outside_grid)
    csv = reports.to_csv(tables)
    assert csv.startswith(b"\xef\xbb\xbf")  # BOM: Excel in China opens UTF-8 right
    assert "问题网格" in csv.decode("utf-8-sig")
    xl = pd.read_excel(io.BytesIO(reports.to_excel(tables)), sheet_name=None)
    assert set(xl) == set(tables)
    assert len(xl["问题网格"]) == len(grids)
    en = reports.problem_tables(demo, cov, "en")
    assert "Flagged grids" in en


def test_mask_phone():
    assert mask_phone("13812341234") == "138****1234"
    assert mask_phone("138-1234-1234") == "138****1234"
    assert mask_phone("12345") == "*****"
    assert mask_phone(None) == ""


def test_catalogue_is_complete():
    for key, entry in MESSAGES.items():
        assert entry.get("zh") and entry.get("en"), key
    assert t("missing-key") == "missing-key"


def test_data_parameter_only_picks_stores_from_the_data_folder(tmp_path, monkeypatch):
    from dashboard import data as appdata

    (tmp_path / "other.gpkg").write_bytes(b"x")
    secret = tmp_path.parent / "secret.gpkg"
    secret.write_bytes(b"x")
    monkeypatch.setenv("WANGGE_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("WANGGE_STORE", raising=False)
    assert appdata.configured_location("other") == str((tmp_path / "other.gpkg").resolve())
    assert appdata.configured_location("other.gpkg") == str((tmp_path / "other.gpkg").resolve())
    for attempt in ("../secret", str(secret), "/etc/passwd", "missing", "x" * 300, "a\x00b",
                    "..", ".hidden", "a/b", "postgresql://u:pw@db/town", "postgresql://db/x",
                    "file:///etc/passwd"):
        with pytest.raises(appdata.UnknownDataSet):
            appdata.configured_location(attempt)
    assert appdata.configured_location(None) == str(appdata.DEMO_STORE)


def _tickets_harness():
    root = str(Path(APP).parent.parent)
    return AppTest.from_string(
        f"import sys; sys.path.insert(0, {root!r})\n"
        "from dashboard.views import tickets_page\ntickets_page.render()\n",
        default_timeout=120)


def test_tickets_page_intake_and_move(app_store, demo):
    from layers.tickets import TicketStore

    at = _tickets_harness().run()
    assert not at.exception
    assert not at.metric  # lazy tabs: only the open one (受理) ran
    at.session_state["tickets_tab"] = "统计"
    at.run()
    assert {m.label for m in at.metric} >= {"受理", "结案率", "按期结案率", "超期"}
    at.session_state["tickets_tab"] = "哨兵一键下单"
    at.run()
    building = demo.buildings.code.iloc[11]
    at.selectbox(key="intake_building").set_value(building).run()
    form_text = [a for a in at.text_area if a.label == "内容"][0]
    form_text.set_value("<b>楼道灯</b>坏了")
    at.button[0].click().run()  # 受理
    assert not at.exception
    assert any("已受理" in s.value for s in at.success)
    ts = TicketStore.for_store(app_store)
    new = ts.frame(principal=OP).sort_values("id").iloc[-1]
    assert new["text"] == "<b>楼道灯</b>坏了"  # stored as typed, shown as text
    assert new["grid_code"] == demo.buildings.grid_code.iloc[11]
    assert new["building_code"] == building
    at.session_state["tickets_tab"] = "工单列表"
    at.run()
    # the detail of the new ticket offers exactly the allowed moves
    labels = [b.label for b in at.button]
    assert "立案" in labels and "不予立案" in labels and "结案" not in labels
    [b for b in at.button if b.label == "立案"][0].click().run()
    assert not at.exception
    assert ts.get(new["id"], principal=OP)["status"] == "registered"
    # dispatch it to the street's joint meeting
    [s for s in at.selectbox if s.label == "承办"][0].set_value("joint_meeting")
    [b for b in at.button if b.label == "派遣"][0].click().run()
    assert not at.exception
    t = ts.get(new["id"], principal=OP)
    assert t["status"] == "dispatched" and t["handler"] == "joint_meeting"
    assert [h["status"] for h in t["history"]] == ["received", "registered", "dispatched"]


def test_reach_page(app_store, demo):
    from layers import network
    from layers.reach import reach

    root = str(Path(APP).parent.parent)
    at = AppTest.from_string(f"import sys; sys.path.insert(0, {root!r})\n"
                             "from dashboard.views import reach_page\nreach_page.render()\n",
                             default_timeout=120).run()
    assert not at.exception
    exp = reach(demo, network.from_roads(demo.roads))
    town = exp.summary[exp.summary.level == "town"].iloc[0]
    tiles = {m.label.split("（")[0]: m.value for m in at.metric}
    assert tiles["步行 500 m"] == f"{town['share_elder_care_500']:.1%}"
    at.radio(key="reach_group").set_value("parking").run()
    assert not at.exception
    tiles = {m.label.split("（")[0]: m.value for m in at.metric}
    assert tiles["步行 1000 m"] == f"{town['share_parking_1000']:.1%}"
    assert any("停车缺口" in s.value for s in at.subheader)


def test_data_page_checks_then_imports(app_store, demo, tmp_path):
    import shapely

    from layers.store import open_store

    root = str(Path(APP).parent.parent)
    pts = shapely.point_on_surface(demo.grids.geometry.to_numpy()[:3])
    good = pd.DataFrame({"编码": ["U1", "U2", "U3"], "名称": ["甲", "乙", "丙"],
                         "类型": ["nursery"] * 3, "容量": [30, 40, 50],
                         "经度": shapely.get_x(pts), "纬度": shapely.get_y(pts)})
    at = AppTest.from_string(f"import sys; sys.path.insert(0, {root!r})\n"
                             "from dashboard.views import data_page\ndata_page.render()\n",
                             default_timeout=120).run()
    assert not at.exception
    from layers.importer import check_file

    f = tmp_path / "nurseries.csv"
    good.to_csv(f, index=False)
    res = check_file(open_store(app_store), f, "care_points", mode="append")
    assert res.report.ok and res.rows == len(demo.care_points) + 3
    assert res.file_rows["code"].tolist() == ["U1", "U2", "U3"]
    bad = tmp_path / "bad.csv"
    good.assign(类型="sauna").to_csv(bad, index=False)
    res = check_file(open_store(app_store), bad, "care_points", mode="append")
    assert not res.report.ok
    assert any("'sauna' is not one of" in p.message and p.row == 2
               for p in res.report.errors)  # the file's own line: header = 1


def test_intake_picker_asks_for_the_community_first_on_a_large_store(app_store, demo):
    """A city's buildings are not listed all at once (megabytes per rerun): above the limit
    the picker offers the buildings of the community chosen."""
    root = str(Path(APP).parent.parent)
    at = AppTest.from_string(
        f"import sys; sys.path.insert(0, {root!r})\n"
        "from dashboard.views import tickets_page\n"
        "tickets_page.INTAKE_MAX_BUILDINGS = 10\ntickets_page.render()\n",
        default_timeout=120).run()
    assert not at.exception
    assert len(at.selectbox(key="intake_building").options) == 1  # 'by a click' only
    comm = demo.communities.code.iloc[2]
    at.selectbox(key="intake_community").set_value(comm).run()
    grids = set(demo.grids.code[demo.grids.community_code == comm])
    expected = set(demo.buildings.code[demo.buildings.grid_code.isin(grids)])
    offered = at.selectbox(key="intake_building").options[1:]
    assert {o.rsplit("（", 1)[1].rstrip("）") for o in offered} == expected
