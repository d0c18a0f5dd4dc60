"""Bringing files in: a corpus of bad and awkward files made by the tests."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyogrio
import pytest
import shapely
from clikit import run_cli
from conftest import content_digest

from layers import crs as lcrs
from layers.auth import Principal
from layers.errors import LayerValidationError
from layers.importer import ImportFileError, check_file, import_file, read_source
from layers.store import open_store

pytestmark = pytest.mark.backends
#: The CLI's operator: whole area, full data (what tests that are not about
#: authorisation act as).
OP = Principal.operator()

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def store(store_copy):
    return store_copy


def _digest(p: Path) -> str:
    return content_digest(p)


def _care_rows(demo, n=5):
    pts = shapely.point_on_surface(demo.grids.geometry.to_numpy()[:n])
    return pd.DataFrame({"编码": [f"NEW{i}" for i in range(n)],
                         "名称": [f"新建养老服务站{i}" for i in range(n)],
                         "类型": ["elder_station"] * n, "容量": [20 + i for i in range(n)],
                         "经度": shapely.get_x(pts), "纬度": shapely.get_y(pts)})


def test_csv_with_chinese_headers_in_gcj02_appends(store, demo, tmp_path):
    rows = _care_rows(demo)
    glon, glat = lcrs.wgs84_to_gcj02(rows["经度"].to_numpy(), rows["纬度"].to_numpy())
    rows["经度"], rows["纬度"] = glon, glat
    f = tmp_path / "care.csv"
    rows.to_csv(f, index=False, encoding="gb18030")  # GBK text, as office PCs save it
    result = import_file(open_store(store), f, "care_points", mode="append", crs="gcj02",
                         principal=OP)
    assert any("GCJ-02" in n for n in result.notes)
    back = open_store(store).read(["care_points"]).care_points
    assert len(back) == len(demo.care_points) + 5
    new = back[back.code.str.startswith("NEW")]
    assert new.name.iloc[0] == "新建养老服务站0"
    exp = shapely.point_on_surface(demo.grids.geometry.to_numpy()[:5])
    d = shapely.distance(new.geometry.to_numpy(), exp)
    assert (d < 1e-6).all()  # back on the WGS-84 spot, not ~500 m off


def test_any_invalid_row_refuses_the_file_and_keeps_the_store(store, demo, tmp_path):
    rows = _care_rows(demo).astype({"经度": object, "纬度": object})
    rows.loc[1, "经度"] = "abc"  # NaN coordinate
    rows.loc[2, ["经度", "纬度"]] = [29.6, 106.28]  # swapped
    rows.loc[3, "编码"] = "NEW4"  # duplicate code
    rows.loc[4, "类型"] = "spa"
    f = tmp_path / "bad.csv"
    rows.to_csv(f, index=False)
    before = _digest(store)
    with pytest.raises(LayerValidationError) as err:
        import_file(open_store(store), f, "care_points", mode="append", principal=OP)
    text = str(err.value)
    assert str(f) in text
    # numbered as the file's own lines: the header is line 1, the first data row line 2
    assert "line 3" in text and "not numbers" in text
    assert "line 4" in text and "swapped" in text
    assert "not unique" in text and "(lines 5, 6)" in text  # grouped: one entry, two lines
    assert "line 6" in text and "'spa' is not one of" in text
    assert _digest(store) == before


def test_missing_columns_are_named(store, demo, tmp_path):
    # capacity is optional (unknown when absent); the name is not
    rows = _care_rows(demo).drop(columns=["名称"])
    f = tmp_path / "noname.xlsx"
    rows.to_excel(f, index=False)
    with pytest.raises(LayerValidationError, match="field name: required column is missing"):
        import_file(open_store(store), f, "care_points", principal=OP)


def test_shapefile_gbk_without_cpg_and_projected_crs(store, demo, tmp_path):
    shp = tmp_path / "bld.shp"
    b = demo.buildings.iloc[:20].to_crs(4544)[["code", "grid_code", "name", "households",
                                              "floors", "year_built", "has_elevator",
                                              "renovation", "geometry"]]
    b["has_elevator"] = b["has_elevator"].astype(int)
    pyogrio.write_dataframe(b, shp, encoding="GB18030")
    shp.with_suffix(".cpg").unlink(missing_ok=True)  # like many offices' files
    df, problems, notes = read_source(shp, "buildings")
    assert not problems
    assert any("GB18030" in n for n in notes) and any("4544" in n for n in notes)
    assert df.name.tolist() == demo.buildings.name.iloc[:20].tolist()
    assert df.crs.to_epsg() == 4326
    d = shapely.hausdorff_distance(df.geometry.to_numpy(), demo.buildings.geometry.iloc[:20]
                                   .to_numpy())
    assert d.max() < 1e-7


def test_self_intersecting_polygon_is_refused(store, demo, tmp_path):
    b = demo.buildings.iloc[:3].copy()
    x0, y0, x1, y1 = b.geometry.iloc[1].bounds
    b.loc[b.index[1], "geometry"] = shapely.Polygon([(x0, y0), (x1, y1), (x1, y0), (x0, y1)])
    f = tmp_path / "b.geojson"
    b.to_file(f, driver="GeoJSON")
    with pytest.raises(LayerValidationError, match="feature 2 .*Self-intersection"):
        import_file(open_store(store), f, "buildings", mode="append", principal=OP)


@pytest.mark.parametrize("name,content,message", [
    ("empty.csv", b"", "empty"),
    ("broken.geojson", b'{"type": "FeatureCollection", "features": [', "malformed JSON"),
    ("trunc.zip", b"PK\x03\x04 truncated", "zip"),
    ("table.ods", b"whatever", "unknown format"),
])
def test_unreadable_files_get_a_message(store, tmp_path, name, content, message):
    f = tmp_path / name
    f.write_bytes(content)
    with pytest.raises(ImportFileError, match=message):
        import_file(open_store(store), f, "care_points", principal=OP)


def test_cli_import(store, demo, tmp_path):
    rows = _care_rows(demo).rename(columns={"容量": "beds"})
    f = tmp_path / "c.csv"
    rows.to_csv(f, index=False)
    r = run_cli("import", store, f, "--layer", "care_points", "--map", "beds=capacity",
                "--append", "-q", timeout=300)
    assert r.returncode == 0, r.stderr
    assert f"care_points: {len(demo.care_points) + 5} row(s)" in r.stdout
    bad = tmp_path / "bad.csv"
    rows.assign(经度="x").to_csv(bad, index=False)
    r = run_cli("import", store, bad, "--layer", "care_points", "--map", "beds=capacity", "-q",
                timeout=300)
    assert r.returncode == 2 and "Traceback" not in r.stderr and "not numbers" in r.stderr


OSM = ROOT.parent / "shared" / "osm" / "shenzhen_longgang_map.osm.bz2"


@pytest.mark.skipif(not OSM.exists(), reason="shared/osm extract not beside the repository")
def test_osm_care_points_and_parking_keep_the_attribution(store, demo):
    # the Shenzhen extract lies far from the Chongqing demo: refused unless forced
    with pytest.raises(LayerValidationError, match="outside the area"):
        import_file(open_store(store), OSM, "parking", mode="append", principal=OP)
    r = import_file(open_store(store), OSM, "parking", mode="append",
                    force_outside_region=True, principal=OP)
    back = open_store(store)
    pk = back.read(["parking"]).parking
    assert len(pk) == len(demo.parking) + 6
    assert pk.code.str.startswith("OSM-").sum() == 6
    osm_pk = pk[pk.code.str.startswith("OSM-")]
    # fee=yes is "paid, price unknown", no tag is unknown: no invented price
    assert osm_pk.fee.isna().all() and set(osm_pk.fee_status) <= {"paid", "unknown"}
    meta = back.meta()
    assert "OpenStreetMap contributors" in meta["attribution_parking"]
    assert "Open Database License" in meta["attribution_parking"]
    assert any("attribution kept" in n for n in r.notes)
    import_file(open_store(store), OSM, "care_points", mode="append",
                force_outside_region=True, principal=OP)
    cp = open_store(store).read(["care_points"]).care_points
    assert (cp[cp.code.str.startswith("OSM-")].kind == "kindergarten").all()
    assert meta["fictional"] == "true"  # the store's own metadata is kept


@pytest.mark.skipif(not OSM.exists(), reason="shared/osm extract not beside the repository")
def test_osm_buildings_are_placed_in_grids(tmp_path):
    import geopandas as gpd

    from layers.layerset import LayerSet

    area = shapely.box(114.1862, 22.6732, 114.2318, 22.7019)
    gdf = lambda d: gpd.GeoDataFrame(d, geometry=[area], crs=4326)  # noqa: E731
    small = LayerSet({
        "towns": gdf({"code": ["440307001"], "name": ["测试街道"], "households": [0],
                      "population": [0]}),
        "communities": gdf({"code": ["440307001001"], "name": ["测试社区"], "kind": ["社区"],
                            "town_code": ["440307001"], "households": [0],
                            "population": [0]}),
        "grids": gdf({"code": ["440307001001001"], "community_code": ["440307001001"],
                      "name": ["测试社区第1网格"], "households": [0]}),
    })
    path = tmp_path / "sz.gpkg"
    open_store(path).write(small)
    r = import_file(open_store(path), OSM, "buildings", principal=OP)
    b = open_store(path).read(["buildings"]).buildings
    assert len(b) > 100 and r.rows == len(b)
    assert b.code.str.startswith("440307001001001").all() and b.code.is_unique
    assert (b.grid_code == "440307001001001").all() and (b.households >= 0).all()
    # layers.osm's rule: households for homes only, none invented for a stadium or a station
    homes = b.residential.astype(bool)
    assert homes.any() and (b.households[homes] > 0).all()
    assert (b.households[~homes] == 0).all() and (b.households_source[~homes]
                                                    == "non_residential").all()
    assert b.osm_id.str.match(r"^[nwr]\d+$").all()
    # the extract's buildings beyond the store's grid are left out, said with their ids
    out = [p for p in r.report.warnings if "outside every grid" in p.message]
    assert out and all(p.unit == "feature" and p.code and p.code[0] in "nwr"
                       for p in out if p.row is not None)
    assert r.rows + sum(p.count for p in out) == 139  # the extract's 139 outlines
    assert open_store(path).meta()["attribution_buildings"].startswith(
        "© OpenStreetMap contributors")
    with pytest.raises(ImportFileError, match="OSM files can fill"):
        import_file(open_store(path), OSM, "people", principal=OP)


def test_partition_imported_community(tmp_path):
    # a surveying file's buildings (no code, no grid_code) cut the grids of a community
    # without any, as `python -m layers partition STORE --buildings FILE` does
    import geopandas as gpd
    import numpy as np

    from layers.layerset import LayerSet
    from layers.partition import PartitionError, partition_store

    area = shapely.box(106.20, 29.50, 106.22, 29.52)
    gdf = lambda d: gpd.GeoDataFrame(d, geometry=[area], crs=4326)  # noqa: E731
    path = tmp_path / "new.gpkg"
    open_store(path).write(LayerSet({
        "towns": gdf({"code": ["500106120"], "name": ["新镇"], "households": [0],
                      "population": [0]}),
        "communities": gdf({"code": ["500106120001"], "name": ["新社区"], "kind": ["社区"],
                            "town_code": ["500106120"], "households": [0], "population": [0]}),
    }))
    rng = np.random.default_rng(2)
    x, y = 106.2005 + rng.random(300) * 0.019, 29.5005 + rng.random(300) * 0.019
    bld = gpd.GeoDataFrame({"name": [f"楼{i}" for i in range(300)],
                            "households": rng.integers(5, 40, 300), "floors": 6,
                            "year_built": 2000, "has_elevator": False,
                            "renovation": "not_planned"},
                           geometry=shapely.box(x, y, x + 0.0001, y + 0.0001), crs=4326)
    made = partition_store(open_store(path), bld)
    back = open_store(path).read()  # validated: tiling, prefixes, references
    assert made.communities == ["500106120001"] and made.outside.empty
    assert len(made.buildings) == 300 and len(back.buildings) == 300
    assert len(made.grids) == len(back.grids) == round(bld.households.sum() / 300)
    assert back.grids.code.str.startswith("500106120001").all()
    assert (back.buildings.code.str.slice(0, 15) == back.buildings.grid_code).all()
    g = back.grids.to_crs(4544)
    assert g.area.sum() == pytest.approx(
        gpd.GeoSeries([area], crs=4326).to_crs(4544).area.iloc[0], rel=1e-6)
    assert abs(back.grids.households.mean() - 300) < 60
    with pytest.raises(PartitionError, match="already has grids"):
        partition_store(open_store(path), bld)


def test_every_kind_of_problem_is_reported_at_once(store, demo, tmp_path):
    """An unknown kind must not hide a community code that does not exist nor a point in
    Beijing (issue 16): the three kinds are reported together, each with the file's own
    lines, and nothing stored changes."""
    rows = _care_rows(demo, 6)
    rows["社区编码"] = demo.communities.code.iloc[0]
    rows.loc[[1, 5], "类型"] = "火星站"  # lines 3 and 7
    rows.loc[2, "社区编码"] = "999999999999"  # line 4
    rows.loc[4, ["经度", "纬度"]] = [116.40, 39.90]  # line 6: Beijing
    f = tmp_path / "mixed.csv"
    rows.drop(columns="编码").to_csv(f, index=False)
    before = _digest(store)
    result = check_file(open_store(store), f, "care_points", mode="append")
    found = {(p.field, p.row) for p in result.report.errors}
    assert {("kind", 3), ("kind", 7), ("community_code", 4), ("geometry", 6)} <= found
    with pytest.raises(LayerValidationError) as err:
        import_file(open_store(store), f, "care_points", mode="append", principal=OP)
    text = str(err.value)
    assert "'火星站' is not one of" in text
    assert "'999999999999' is not a code in communities" in text
    assert "outside the area of this store" in text
    assert _digest(store) == before


def test_unreadable_files_say_why_in_a_word(store, demo, tmp_path):
    """Each way a file cannot be read has its reason (the page says it in the user's
    language); a zipped shapefile without its .dbf is refused, not read as outlines without
    a single column."""
    import zipfile

    shp = tmp_path / "c.shp"
    demo.care_points.iloc[:2].to_file(shp)
    cases = {"fake.gpkg": ("unreadable", b"not a geopackage" * 20),
             "utf16.csv": ("encoding", "名称,经度,纬度\n甲,106.28,29.6\n".encode("utf-16")),
             "bad.xlsx": ("excel", b"PK\x03\x04 garbage")}
    for name, (_, content) in cases.items():
        (tmp_path / name).write_bytes(content)
    nodbf = tmp_path / "nodbf.zip"
    with zipfile.ZipFile(nodbf, "w") as z:
        for ext in (".shp", ".shx", ".prj"):
            z.write(shp.with_suffix(ext), f"c{ext}")
    cases["nodbf.zip"] = ("shapefile_parts", b"")
    for name, (reason, _) in cases.items():
        with pytest.raises(ImportFileError) as err:
            check_file(open_store(store), tmp_path / name, "care_points", mode="append")
        assert err.value.reason == reason, name
    assert err.value.values == {"parts": ".dbf"}


def test_an_upload_is_recorded_under_its_users_name(store, demo, tmp_path):
    """The page imports a server-side copy (upload.csv): the store's metadata and the
    register's change log name the file as its user named it."""
    from layers import register as reg

    f = tmp_path / "upload.csv"
    _care_rows(demo).to_csv(f, index=False)
    import_file(open_store(store), f, "care_points", mode="append", name="养老点.csv", principal=OP)
    assert open_store(store).meta()["source_care_points"] == "养老点.csv"
    code = demo.buildings.code.iloc[0]
    people = tmp_path / "upload.xlsx"
    pd.DataFrame({"姓名": ["甲"], "电话": ["13900000000"], "党员": ["是"],
                  "楼栋编码": [code]}).to_excel(people, index=False)
    import_file(open_store(store), people, "people", name="人员台账.xlsx",
                principal=Principal.operator("测试"))
    reasons = reg.history(open_store(store), principal=OP)["reason"].astype(str)
    assert reasons.str.contains("人员台账.xlsx line 2").any()
    assert not reasons.str.contains("upload").any()
