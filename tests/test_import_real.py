"""Real files as a street office has them (issue 12): Chinese headers and the labels staff use,
GBK shapefiles without ``.cpg``, GCJ-02 web-map coordinates, optional fields missing, features
without codes or parent codes, people and assignments registers — and reports that group
repeated problems and number rows as the file does. Mostly through the command line."""

from __future__ import annotations

import csv
import io
import json
import subprocess
from pathlib import Path

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pyogrio
import pytest
import shapely
from clikit import run_cli
from conftest import content_digest

from layers import crs as lcrs
from layers.auth import Principal
from layers.coverage import coverage
from layers.errors import LayerValidationError
from layers.importer import check_file, import_file
from layers.layerset import LayerSet
from layers.store import open_store

pytestmark = pytest.mark.backends
#: The CLI's operator: whole area, full data (what tests that are not about
#: authorisation act as).
OP = Principal.operator()

ROOT = Path(__file__).resolve().parent.parent
OSM = ROOT.parent / "shared" / "osm" / "shenzhen_longgang_map.osm.bz2"


def run(*args: object) -> subprocess.CompletedProcess:
    return run_cli(*args, timeout=300)


def _digest(p) -> str:
    return content_digest(p)


def _inside(demo, n: int, dx: float = 0.0) -> np.ndarray:
    """Points inside the first ``n`` grids."""
    pts = shapely.point_on_surface(demo.grids.geometry.to_numpy()[:n])
    return shapely.points(shapely.get_x(pts) + dx, shapely.get_y(pts))


# -- labels, headers, web-map coordinates ------------------------------------------------------

def test_csv_with_chinese_headers_labels_and_gcj02_through_the_cli(store_copy, demo, tmp_path):
    pts = _inside(demo, 4)
    glon, glat = lcrs.wgs84_to_gcj02(shapely.get_x(pts), shapely.get_y(pts))
    rows = pd.DataFrame({"名称": ["甲日照", "乙幼儿园", "丙托育", "丁长者食堂"],
                         "类型": ["日间照料中心", "幼儿园", "托育园", "长者食堂"],
                         "床位": ["40", "", "25", ""],  # capacity unknown for two
                         "经度": glon, "纬度": glat})
    f = tmp_path / "一老一小.csv"
    rows.to_csv(f, index=False, encoding="gb18030")
    r = run("import", store_copy, f, "--layer", "care_points", "--crs", "gcj02", "--append",
            "-q")
    assert r.returncode == 0, r.stderr
    cp = open_store(store_copy).read(["care_points"]).care_points
    new = cp.iloc[len(demo.care_points):]
    assert new["kind"].tolist() == ["elder_day_care", "kindergarten", "nursery",
                                    "elder_canteen"]
    assert new["capacity"].isna().tolist() == [False, True, False, True]
    # codes made under the community each point lies in (C + 2 digits, after the demo's)
    comm = [c for c in demo.grids["community_code"].iloc[:4]]
    assert all(code.startswith(c + "C") and len(code) == len(c) + 3
               for code, c in zip(new["code"], comm, strict=True))
    assert new["code"].is_unique and not new["code"].isin(demo.care_points["code"]).any()
    d = shapely.distance(new.geometry.to_numpy(), pts)
    assert d.max() < 1e-6  # GCJ-02 converted back onto the WGS-84 spot


def test_excel_buildings_without_codes_are_placed_by_location(store_copy, demo, tmp_path):
    pts = _inside(demo, 3)
    x, y = shapely.get_x(pts), shapely.get_y(pts)
    boxes = shapely.box(x - 5e-5, y - 5e-5, x + 5e-5, y + 5e-5)
    gdf = gpd.GeoDataFrame({"楼栋名称": ["新一栋", "新二栋", "新三栋"], "户数": [24, 36, None],
                            "层数": [6, 7, None], "改造状态": ["已改造", "已完成改造", ""],
                            "有无电梯": ["是", "否", ""]}, geometry=boxes, crs=4326)
    f = tmp_path / "楼栋.geojson"
    gdf.to_file(f)
    r = run("import", store_copy, f, "--layer", "buildings", "--append", "-q")
    assert r.returncode == 0, r.stderr
    b = open_store(store_copy).read(["buildings"]).buildings.iloc[len(demo.buildings):]
    grids = demo.grids["code"].iloc[:3].tolist()
    assert b["grid_code"].tolist() == grids
    assert all(c.startswith(g) and len(c) == len(g) + 4
               for c, g in zip(b["code"], grids, strict=True))
    assert b["renovation"].tolist()[:2] == ["completed", "completed"]
    assert pd.isna(b["renovation"].iloc[2]) and pd.isna(b["has_elevator"].iloc[2])
    assert b["has_elevator"].tolist()[:2] == [True, False]
    assert b["year_built"].isna().all() and pd.isna(b["floors"].iloc[2])
    # households derived for the one without: footprint × (assumed) floors ÷ m² per household
    assert b["households"].iloc[:2].tolist() == [24, 36] and b["households"].iloc[2] >= 1
    assert "households estimated" in r.stderr


def test_gbk_shapefile_without_cpg_missing_optional_fields(store_copy, demo, tmp_path):
    src = demo.buildings.iloc[:6]
    shp = tmp_path / "测绘楼栋.shp"
    out = gpd.GeoDataFrame({"楼栋名称": [f"{n}（测绘）" for n in src["name"]],
                            "户数": src["households"].to_numpy()},
                           geometry=src.geometry.to_numpy(), crs=4326).to_crs(4544)
    pyogrio.write_dataframe(out, shp, encoding="GB18030")
    shp.with_suffix(".cpg").unlink(missing_ok=True)
    result = check_file(open_store(store_copy), shp, "buildings", mode="append")
    assert result.report.ok, result.report.format()
    assert any("GB18030" in n for n in result.notes)
    assert any("left unknown" in n and "floors" in n for n in result.notes)
    rows = result.file_rows
    assert rows["name"].tolist() == [f"{n}（测绘）" for n in src["name"]]
    assert rows["grid_code"].tolist() == src["grid_code"].tolist()
    assert rows[["floors", "year_built", "has_elevator", "renovation"]].isna().all().all()


def test_roads_from_a_line_file_with_osm_kinds(store_copy, demo, tmp_path):
    c = shapely.centroid(demo.grids.geometry.iloc[0])
    lines = [shapely.LineString([(c.x, c.y), (c.x + 0.002, c.y)]),
             shapely.MultiLineString([[(c.x, c.y), (c.x, c.y + 0.002)],
                                      [(c.x, c.y + 0.003), (c.x, c.y + 0.004)]]),
             shapely.LineString([(c.x, c.y), (c.x - 0.001, c.y - 0.001)])]
    f = tmp_path / "roads.geojson"
    gpd.GeoDataFrame({"道路名称": ["新路", "新街", None],
                      "fclass": ["footway", "主干路", "bus_guideway"]},
                     geometry=lines, crs=4326).to_file(f)
    r = run("import", store_copy, f, "--layer", "roads", "-q")
    assert r.returncode == 0, r.stderr
    roads = open_store(store_copy).read(["roads"]).roads
    assert len(roads) == 4  # the two-part line is two rows
    assert roads["kind"].tolist()[:3] == ["path", "primary", "primary"]
    assert pd.isna(roads["kind"].iloc[3]) and "bus_guideway" in r.stderr


@pytest.mark.skipif(not OSM.exists(), reason="shared/osm extract not beside the repository")
def test_osm_roads_into_the_roads_layer(tmp_path):
    area = shapely.box(114.1862, 22.6732, 114.2318, 22.7019)
    gdf = lambda d: gpd.GeoDataFrame(d, geometry=[area], crs=4326)  # noqa: E731
    path = tmp_path / "sz.gpkg"
    open_store(path).write(LayerSet({
        "towns": gdf({"code": ["440307001"], "name": ["测试街道"]}),
        "communities": gdf({"code": ["440307001001"], "name": ["测试社区"], "kind": ["社区"],
                            "town_code": ["440307001"]}),
    }))
    r = run("import", path, OSM, "--layer", "roads", "-q")
    assert r.returncode == 0, r.stderr
    back = open_store(path)
    roads = back.read(["roads"]).roads
    assert len(roads) > 100 and roads["kind"].notna().all()
    assert "OpenStreetMap contributors" in back.meta()["attribution_roads"]


# -- registers -----------------------------------------------------------------------------------

def _people_file(demo, gap: str) -> pd.DataFrame:
    b = demo.buildings
    return pd.DataFrame({
        "姓名": ["张伟", "李娜", "王芳", "张伟"],
        "电话": ["13800001111", "13900002222", "13700003333", "13800001111"],
        "党员": ["是", "否", "中共党员", "是"],
        "楼栋编码": [b["code"].iloc[0], "", "", b["code"].iloc[0]],
        "住址": ["", b["name"].iloc[5], b["name"].iloc[6], ""],
        "角色": ["网格哨兵", "", "楼栋长", "楼栋党员"],
        "负责网格/楼栋": [gap, "", b["code"].iloc[6], b["name"].iloc[7]],
    })


def test_people_register_with_chinese_headers_through_the_cli(store_copy, demo, tmp_path):
    gap = coverage(demo).grids_without_sentinel[0]
    f = tmp_path / "人员台账.xlsx"
    _people_file(demo, gap).to_excel(f, index=False)
    r = run("import", store_copy, f, "--layer", "people", "--by", "王芳", "-q")
    assert r.returncode == 0, r.stderr
    assert "people: 3 row(s) added" in r.stdout
    store = open_store(store_copy)
    data = store.read()
    new = data.people.iloc[len(demo.people):]
    b = demo.buildings
    assert new["home_building_code"].tolist() == [b["code"].iloc[0], b["code"].iloc[5],
                                                  b["code"].iloc[6]]
    assert new["is_party_member"].tolist() == [True, False, True]
    a = data.assignments.iloc[len(demo.assignments):]
    zhang, wang = new["person_id"].iloc[0], new["person_id"].iloc[2]
    assert set(zip(a["person_id"], a["role"], a["target_code"], strict=True)) == {
        (zhang, "grid_sentinel", gap), (wang, "building_member", b["code"].iloc[6]),
        (zhang, "building_member", b["code"].iloc[7])}
    assert gap not in coverage(data).grids_without_sentinel
    log = store.change_log({"source": "import"})
    assert sorted(log["action"]) == ["assign"] * 3 + ["person_add"] * 3
    assert (log["by"] == "王芳").all() and "张伟" not in log.to_string()
    assert "人员台账.xlsx line 2" in log["reason"].iloc[0]
    # the same file again adds nothing
    r = run("import", store_copy, f, "--layer", "people", "-q")
    assert r.returncode == 0 and "people: 0 row(s) added" in r.stdout
    assert len(open_store(store_copy).read(["people"]).people) == len(demo.people) + 3


def test_assignments_register_by_person_id_and_labels(store_copy, demo, tmp_path):
    cov = coverage(demo)
    gaps = cov.grids_without_sentinel[:2]
    free = demo.people[demo.people["is_party_member"].astype(bool)
                       & ~demo.people["person_id"].isin(demo.assignments["person_id"])]
    rows = pd.DataFrame({"人员编号": free["person_id"].iloc[:3].tolist(),
                         "角色": ["网格哨兵", "哨兵", ""],
                         "负责网格/楼栋": [gaps[0], gaps[1], demo.buildings["code"].iloc[9]],
                         "起始日期": ["2026-11-01", "2026/11/02", ""]})
    f = tmp_path / "指派.csv"
    rows.to_csv(f, index=False)
    r = run("import", store_copy, f, "--layer", "assignments", "-q")
    assert r.returncode == 0, r.stderr
    a = open_store(store_copy).read(["assignments"]).assignments.iloc[len(demo.assignments):]
    assert a["role"].tolist() == ["grid_sentinel", "grid_sentinel", "building_member"]
    assert a["since"].dt.strftime("%Y-%m-%d").tolist()[:2] == ["2026-11-01", "2026-11-02"]
    assert r.stdout.splitlines()[0] == "assignments: 3 row(s) added"


def test_a_bad_register_is_refused_whole_with_the_files_lines(store_copy, demo, tmp_path):
    b = demo.buildings
    rows = pd.DataFrame({
        "姓名": ["赵一", "钱二", "孙三", "", "周五"],
        "手机号": ["13800001112", "abc", "13700003334", "13700003335", "13700003336"],
        "政治面貌": ["群众", "党员", "也许", "是", "是"],
        "楼栋编码": ["NOPE", "", "", b["code"].iloc[1], b["code"].iloc[1]],
        "住址": ["", "不存在的楼", b["name"].iloc[6], "", ""],
        "职责": ["", "", "厨师", "网格哨兵", "网格哨兵"],
        "负责网格": ["", "", demo.grids["code"].iloc[0], b["code"].iloc[3], "XX"],
    })
    f = tmp_path / "bad.xlsx"
    rows.to_excel(f, index=False)
    before = _digest(store_copy)
    r = run("import", store_copy, f, "--layer", "people")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert _digest(store_copy) == before
    for expected in ("line 2 / field home_building_code: 'NOPE' is not a building code",
                     "line 3 / field address: 住址 matches no building name",
                     "line 3 / field phone: not a phone number",
                     "line 4 / field is_party_member: not 是/否",
                     "line 4 / field role: '厨师' is not a role",
                     "line 5 / field name: value is missing",
                     "line 5 / field role: role grid_sentinel does not fit",
                     "line 6 / field target_code: 'XX' is not a grid or building"):
        assert expected in r.stderr, expected
    assert "13800001112" not in r.stderr and "不存在的楼" not in r.stderr  # personal data


# -- reports -------------------------------------------------------------------------------------

def _brute_lines(text: str, marker: str) -> list[int]:
    """The 1-based lines of ``text`` holding ``marker`` (a plain scan of the file)."""
    return [i for i, line in enumerate(text.splitlines(), 1) if marker in line]


def test_repeated_problems_are_grouped_with_the_csv_s_own_lines(store_copy, demo, tmp_path):
    pts = _inside(demo, 1)
    x, y = shapely.get_x(pts)[0], shapely.get_y(pts)[0]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["编码", "名称", "类型", "经度", "纬度"])
    for i in range(600):
        w.writerow([f"MISS{i:03d}", "", "nursery", x, y])  # name missing: 600 rows
        if i == 2:
            w.writerow([])  # a blank line
        if i == 4:
            w.writerow(["QUOTE", "多行\n名称", "nursery", x, y])  # a quoted line break
    w.writerow(["BADKIND", "某点", "洗浴中心", x, y])
    text = buf.getvalue()
    f = tmp_path / "many.csv"
    f.write_text(text, encoding="utf-8")
    with pytest.raises(LayerValidationError) as err:
        import_file(open_store(store_copy), f, "care_points", mode="append", principal=OP)
    msg = str(err.value)
    lines = [_brute_lines(text, f"MISS{i:03d},")[0] for i in range(600)]
    assert lines[:7] == [2, 3, 4, 6, 7, 10, 11]  # after the blank line and the 2-line row
    shown = ", ".join(map(str, lines[:5]))
    assert f"field name: 600 rows: value is missing, e.g. lines {shown} …" in msg
    [bad] = _brute_lines(text, "BADKIND")
    assert f"line {bad} / code BADKIND / field kind: '洗浴中心' is not one of" in msg
    report = err.value.report
    listed = sorted(p.row for p in report.errors if p.field == "name" and p.row is not None)
    assert listed == lines[:200] and all(p.unit == "line" for p in report.errors)
    assert sum(p.count for p in report.errors if p.field == "name") == 600


def test_excel_rows_are_the_sheet_s_rows(store_copy, demo, tmp_path):
    pts = _inside(demo, 1)
    x, y = shapely.get_x(pts)[0], shapely.get_y(pts)[0]
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append([])  # a title row left empty above the header
    ws.append(["编码", "名称", "类型", "经度", "纬度"])
    ws.append(["OK1", "好点", "幼儿园", x, y])
    ws.append([])
    ws.append(["BAD1", "坏点", "spa", x, y])
    ws.append(["BAD2", "坏点2", "spa", x, y])
    f = tmp_path / "sheet.xlsx"
    wb.save(f)
    brute = {ws.cell(row=r, column=1).value: r for r in range(1, ws.max_row + 1)}
    result = check_file(open_store(store_copy), f, "care_points", mode="append")
    bad = sorted(p.row for p in result.report.errors if p.field == "kind")
    assert bad == [brute["BAD1"], brute["BAD2"]] == [5, 6]


def test_vector_files_number_features(store_copy, demo, tmp_path):
    pts = _inside(demo, 3)
    f = tmp_path / "p.geojson"
    gpd.GeoDataFrame({"code": ["F1", "F2", "F3"], "name": ["a", "b", "c"],
                      "kind": ["kindergarten", "spa", "幼儿园"]},
                     geometry=pts, crs=4326).to_file(f)
    result = check_file(open_store(store_copy), f, "care_points", mode="append")
    [p] = result.report.errors
    assert (p.row, p.unit) == (2, "feature")
    assert "feature 2 / code F2 / field kind" in result.report.format()


def test_every_kind_of_problem_is_reported_at_once(store_copy, demo, tmp_path):
    g = demo.grids.iloc[:3]
    geoms = [shapely.affinity.translate(shapely.box(*g.geometry.iloc[i].bounds).buffer(-1e-4),
                                        0, 0) for i in range(2)]
    geoms.append(shapely.box(116.40, 39.90, 116.401, 39.901))  # Beijing
    f = tmp_path / "b.geojson"
    gpd.GeoDataFrame({"name": ["甲", "乙", "丙"], "households": [10, 10, 10],
                      "grid_code": [g["code"].iloc[0], "500106110999999", g["code"].iloc[2]],
                      "renovation": ["拆除", "已改造", "已改造"]},
                     geometry=geoms, crs=4326).to_file(f)
    with pytest.raises(LayerValidationError) as err:
        import_file(open_store(store_copy), f, "buildings", mode="append", principal=OP)
    text = str(err.value)
    assert "feature 1 / " in text and "'拆除' is not one of" in text
    assert "feature 2 / " in text and "'500106110999999' is not a code in grids" in text
    assert "feature 3 / " in text and "outside the area of this store" in text


# -- a store in the middle of set-up ------------------------------------------------------------

def test_validate_refuses_a_store_mid_set_up_with_what_is_missing(tmp_path):
    area = shapely.box(106.20, 29.50, 106.22, 29.52)
    gdf = lambda d: gpd.GeoDataFrame(d, geometry=[area], crs=4326)  # noqa: E731
    path = tmp_path / "mid.gpkg"
    open_store(path).write(LayerSet({
        "towns": gdf({"code": ["500106120"], "name": ["新镇"]}),  # households unknown
        "communities": gdf({"code": ["500106120001"], "name": ["新社区"], "kind": ["社区"],
                            "town_code": ["500106120"]}),
    }))
    r = run("validate", path)
    assert r.returncode == 2
    out = r.stdout
    assert "still missing (set-up not finished):" in out
    assert f"- [error] grids: none yet — run `python -m layers partition {path}`" in out
    assert "- [error] buildings: none yet" in out
    assert "- [warning] people: none yet" in out
    r = run("validate", path, "--format", "json")
    rows = json.loads(r.stdout)
    assert {(p["layer"], p["severity"]) for p in rows} >= {("grids", "error"),
                                                            ("buildings", "error")}


def test_a_store_that_validates_is_taken_by_the_analyses(store_copy):
    r = run("validate", store_copy)
    assert r.returncode == 0, r.stdout
    for args in (["coverage", "--format", "json"], ["reach", "--straight", "--format", "json"]):
        assert run(*args[:1], store_copy, *args[1:]).returncode == 0


def test_set_up_from_boundary_files_without_codes(tmp_path):
    """Communities and grids from plain boundary files: codes follow the hierarchy, kinds from
    the names, parents by location; validate then says buildings are still missing."""
    # the west community has the vertices its two grids meet at (an edge without them would
    # bend apart from theirs in the metric CRS)
    west = shapely.Polygon([(106.20, 29.50), (106.21, 29.50), (106.21, 29.51), (106.21, 29.52),
                            (106.20, 29.52), (106.20, 29.51)])
    east = shapely.Polygon([(106.21, 29.50), (106.22, 29.50), (106.22, 29.52), (106.21, 29.52),
                            (106.21, 29.51)])
    path = tmp_path / "town.gpkg"
    open_store(path).write(LayerSet({"towns": gpd.GeoDataFrame(
        {"code": ["500106120"], "name": ["新镇"]}, geometry=[shapely.union(west, east)],
        crs=4326)}))
    comm = tmp_path / "社区.geojson"
    gpd.GeoDataFrame({"社区名称": ["东岳社区", "白林村"]}, geometry=[west, east],
                     crs=4326).to_file(comm)
    assert run("import", path, comm, "--layer", "communities", "-q").returncode == 0
    c = open_store(path).read(["communities"]).communities
    assert c["code"].tolist() == ["500106120001", "500106120002"]
    assert c["kind"].tolist() == ["社区", "村"] and c["households"].isna().all()
    halves = [shapely.box(106.20, 29.50, 106.21, 29.51), shapely.box(106.20, 29.51, 106.21,
                                                                       29.52), east]
    grids = tmp_path / "网格.gpkg"  # full precision: the grids tile the communities
    gpd.GeoDataFrame({"网格名称": ["一格", "二格", "三格"]}, geometry=halves,
                     crs=4326).to_file(grids)
    r = run("import", path, grids, "--layer", "grids", "-q")
    assert r.returncode == 0, r.stderr
    g = open_store(path).read(["grids"]).grids
    assert g["code"].tolist() == ["500106120001001", "500106120001002", "500106120002001"]
    assert g["community_code"].tolist() == ["500106120001"] * 2 + ["500106120002"]
    assert (g["households"] == 0).all()
    r = run("validate", path)
    assert r.returncode == 2 and "- [error] buildings: none yet" in r.stdout
    assert "grids: none yet" not in r.stdout


def test_a_register_is_never_replaced(store_copy, demo, tmp_path):
    f = tmp_path / "p.csv"
    _people_file(demo, demo.grids["code"].iloc[0]).to_csv(f, index=False)
    r = run("import", store_copy, f, "--layer", "people", "--replace")
    assert r.returncode == 2 and "never replaced" in r.stderr
