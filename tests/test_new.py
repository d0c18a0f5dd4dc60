"""``python -m layers new`` end to end from the shared OSM extract, through the CLI only.

Every step runs ``python -m layers …`` in a subprocess (``new``, ``validate``, ``coverage``,
``reach``, ``import``, ``partition``); Python only prepares input files and reads results to
assert. Households are checked against the extract's tags parsed independently with
``xml.etree`` (brute force: ray casting for ``building=yes`` inside ``landuse=residential``).
The four stores are made concurrently (one process each) to keep the module fast.
"""

from __future__ import annotations

import bz2
import hashlib
import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely
from clikit import run_cli, start_cli

ROOT = Path(__file__).resolve().parent.parent
OSM = ROOT.parent / "shared" / "osm" / "shenzhen_longgang_map.osm.bz2"
#: the extract's bounds (../shared/osm/README.md) and the communities cut from them
W, S, E, N = 114.1862, 22.6732, 114.2318, 22.7019
SPLIT_1, SPLIT_2 = 114.200, 114.215
RESIDENTIAL = {"residential", "apartments", "house", "dormitory", "detached",
               "semidetached_house", "terrace"}  # Settings.osm_residential_buildings
TOWN_CODE = "440307901"

pytestmark = pytest.mark.skipif(not OSM.exists(), reason="the shared OSM extract is missing")


def cli(*args: str | Path) -> subprocess.CompletedProcess:
    return run_cli(*args)


def start(*args: str | Path):
    return start_cli(*args)


# ---------------------------------------------------------------------------------------------
# the extract, parsed independently


def _parse(path: Path = OSM) -> tuple[dict, list, list]:
    with (bz2.open(path) if path.suffix == ".bz2" else open(path, "rb")) as fh:
        root = ET.parse(fh).getroot()
    nodes = {n.get("id"): (float(n.get("lon")), float(n.get("lat")))
             for n in root.iter("node")}
    ways = {w.get("id"): ([nd.get("ref") for nd in w.findall("nd")],
                          {t.get("k"): t.get("v") for t in w.findall("tag")})
            for w in root.iter("way")}
    rels = [(r.get("id"), [m.get("ref") for m in r.findall("member") if m.get("type") == "way"],
             {t.get("k"): t.get("v") for t in r.findall("tag")}) for r in root.iter("relation")]
    return nodes, list(ways.items()), rels


def _inside(x: float, y: float, ring: list[tuple[float, float]]) -> bool:
    """Ray casting."""
    hit = False
    for (x1, y1), (x2, y2) in zip(ring, ring[1:] + ring[:1], strict=True):
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            hit = not hit
    return hit


@pytest.fixture(scope="module")
def truth() -> dict:
    return _truth(OSM)


def _truth(path: Path) -> dict:
    """Brute force from the tags: osm id → (residential?, vertices) for every building with
    an outline."""
    nodes, ways, rels = _parse(path)
    way_xy = {i: [nodes[r] for r in refs if r in nodes] for i, (refs, _) in ways}
    landuse = [way_xy[i] for i, (refs, tags) in ways
               if tags.get("landuse") == "residential" and refs[0] == refs[-1]]
    out = {}
    items = [(f"w{i}", way_xy[i], tags) for i, (refs, tags) in ways
             if "building" in tags and len(refs) >= 4 and refs[0] == refs[-1]]
    items += [(f"r{i}", [p for m in members if m in way_xy for p in way_xy[m]], tags)
              for i, members, tags in rels if "building" in tags]
    for oid, xy, tags in items:
        kind = tags["building"]
        cx = sum(p[0] for p in xy) / len(xy)
        cy = sum(p[1] for p in xy) / len(xy)
        res = kind in RESIDENTIAL or (kind == "yes" and any(_inside(cx, cy, r[:-1])
                                                            for r in landuse))
        out[oid] = (res, xy)
    return out


# ---------------------------------------------------------------------------------------------
# input files and the stores, made once


def _communities(crs: str = "wgs84") -> gpd.GeoDataFrame:
    boxes = [shapely.box(W - 0.001, S - 0.001, SPLIT_1, N + 0.001),
             shapely.box(SPLIT_1, S - 0.001, SPLIT_2, N + 0.001)]
    frame = gpd.GeoDataFrame({"名称": ["大运社区", "荷坳村"]}, geometry=boxes, crs=4326)
    if crs == "gcj02":
        from layers.crs import convert_geometries  # preparing the input file only

        frame = frame.set_geometry(convert_geometries(frame.geometry.to_numpy(), "wgs84",
                                                      "gcj02"))
    return frame


def _square(lon: float, lat: float, d: float = 0.0001) -> shapely.Polygon:
    return shapely.box(lon, lat, lon + d, lat + d)


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> dict:
    """Four stores made by ``new`` at the same time: from the extract alone, with a GBK
    shapefile without .cpg, with GCJ-02 GeoJSON, and with fictional people."""
    tmp = tmp_path_factory.mktemp("new")
    shp = tmp / "communities.shp"
    _communities().to_file(shp, encoding="GBK")
    shp.with_suffix(".cpg").unlink(missing_ok=True)
    assert "大运".encode("gbk") in shp.with_suffix(".dbf").read_bytes()
    gcj = tmp / "communities_gcj.geojson"
    _communities("gcj02").to_file(gcj, driver="GeoJSON")
    sys.path.insert(0, str(ROOT / "bench"))
    from bench_new import write_synthetic_osm

    synthetic = tmp / "synthetic.osm"
    write_synthetic_osm(synthetic, 3000, communities_per_side=2)
    runs = {
        "synthetic": start("new", tmp / "synthetic.gpkg", "--osm", synthetic, "-q"),
        "plain": start("new", tmp / "plain.gpkg", "--osm", OSM, "-q"),
        "gbk": start("new", tmp / "gbk.gpkg", "--osm", OSM, "--communities", shp,
                     "--town-code", TOWN_CODE, "--town-name", "测试街道", "-q"),
        "gcj": start("new", tmp / "gcj.gpkg", "--osm", OSM, "--communities", gcj, "--crs",
                     "gcj02", "-q"),
        "fictional": start("new", tmp / "fictional.gpkg", "--osm", OSM, "--fictional-people",
                           "--town-name", "龙岗大运片区", "--households-per-grid", "150", "-q"),
    }
    out = {"dir": tmp, "synthetic.osm": synthetic}
    for key, proc in runs.items():
        stdout, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, f"{key}: {stderr}"
        out[key] = (tmp / f"{key}.gpkg", stdout)
    return out


def _layer(path: Path, name: str) -> gpd.GeoDataFrame:
    return pyogrio.read_dataframe(path, layer=name)


def _meta(path: Path) -> dict[str, str]:
    df = pyogrio.read_dataframe(path, layer="store_meta", read_geometry=False)
    return dict(zip(df.iloc[:, 0], df.iloc[:, 1], strict=True))


# ---------------------------------------------------------------------------------------------
# from the extract alone


def test_new_from_the_extract_then_every_command(made, truth) -> None:
    path, out = made["plain"]
    assert "communities from the extract's area" in out
    b = _layer(path, "buildings")
    assert set(b["osm_id"]) == set(truth)  # every outline kept: one community over them all
    assert f"buildings {len(b)}" in out
    # the node mapped as a building is reported, by id
    assert re.search(r"1 building\(s\) dropped", out) and "n2481998550" in out
    for args in (["validate"], ["coverage", "--format", "json", "-q"],
                 ["reach", "--format", "json", "-q"]):
        done = cli(*args[:1], path, *args[1:])
        assert done.returncode == 0, done.stderr
        if args[0] == "coverage":
            cov = json.loads(done.stdout)
            town = [r for r in cov["summary"] if r["community_code"] == "town"][0]
            assert town["households"] == b["households"].sum()
            assert len(cov["grids_without_sentinel"]) == len(_layer(path, "grids"))
        if args[0] == "reach":
            assert json.loads(done.stdout)["network"]["source"] == "roads"
    meta = _meta(path)
    assert meta["fictional"] == "false" and "OpenStreetMap" in meta["attribution"]
    assert meta["licence"].startswith("ODbL") and meta["source"] == OSM.name
    assert len(_layer(path, "roads")) > 300 and len(_layer(path, "people")) == 0


def test_households_only_for_homes(made, truth) -> None:
    """households > 0 exactly for the residential buildings of the brute-force count; every
    school, university, station, stadium … has 0, and the summary counts them."""
    path, out = made["plain"]
    b = _layer(path, "buildings").set_index("osm_id")
    homes = {oid for oid, (res, _) in truth.items() if res}
    assert set(b.index[b["households"] > 0]) == homes
    assert (b.loc[~b.index.isin(homes), "households_source"] == "non_residential").all()
    assert {"school", "university", "train_station"} <= set(b.loc[b["households"] == 0,
                                                                  "building"])
    n0 = len(truth) - len(homes)
    assert f"{n0} non-residential building(s) kept with 0 households" in out


def test_new_refuses_an_existing_store(made) -> None:
    path, _ = made["plain"]
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    done = cli("new", path, "--osm", OSM, "-q")
    assert done.returncode == 2 and "exists already" in done.stderr
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before


def test_synthetic_extract_admin_boundaries_landuse_and_parking(made) -> None:
    """A generated extract: communities from its admin_level=10 outlines, ``building=yes``
    homes only inside ``landuse=residential``, parking access, capacity and fee unknowns."""
    path, out = made["synthetic"]
    assert "communities from the extract's admin_level=10 boundaries (4)" in out
    c = _layer(path, "communities")
    assert sorted(c["name"]) == [f"合成{i}社区" for i in range(1, 5)]
    b = _layer(path, "buildings").set_index("osm_id")
    truth = _truth(made["synthetic.osm"])
    homes = {oid for oid, (res, _) in truth.items() if res}
    assert set(b.index[b["households"] > 0]) == homes
    yes = {oid for oid, (_, xy) in truth.items() if oid in b.index
           and b.loc[oid, "building"] == "yes"}
    assert 0 < len(yes & homes) < len(yes)  # some yes inside the residential land, some not
    p = _layer(path, "parking").sort_values("name").set_index("name")
    private = p[p["access"] == "private"]
    assert len(private) and not private["public"].any() and (private["capacity"] == 0).all()
    assert (private["spaces"] == 30).all() and (private["capacity_source"] == "private").all()
    under = p.loc["停车场3"]
    assert under["capacity_source"] == "unknown" and np.isnan(under["spaces"])
    assert under["capacity"] == 0 or np.isnan(under["capacity"])  # sentinel until nullable
    assert p.loc["停车场4", "fee_status"] == "paid" and p.loc["停车场0", "fee_status"] == "unknown"
    assert p.loc["停车场1", "capacity_source"] == "area" and p.loc["停车场1", "capacity"] > 0
    assert cli("validate", path).returncode == 0


def test_new_refuses_communities_that_miss_the_extract(tmp_path) -> None:
    """A boundary file elsewhere (a wrong CRS, another town's file): refused, nothing made."""
    far = tmp_path / "far.geojson"
    gpd.GeoDataFrame({"名称": ["远处社区"]}, geometry=[shapely.box(106.2, 29.5, 106.3, 29.6)],
                     crs=4326).to_file(far, driver="GeoJSON")
    done = cli("new", tmp_path / "x.gpkg", "--osm", OSM, "--communities", far, "-q")
    assert done.returncode == 2 and "none of the extract's" in done.stderr
    assert not (tmp_path / "x.gpkg").exists()


# ---------------------------------------------------------------------------------------------
# with a communities file: GBK shapefile without .cpg, GCJ-02 GeoJSON


def test_communities_file_gbk_and_dropped_buildings(made, truth) -> None:
    path, out = made["gbk"]
    c = _layer(path, "communities").sort_values("code")
    assert list(c["code"]) == [f"{TOWN_CODE}001", f"{TOWN_CODE}002"]
    assert list(c["name"]) == ["大运社区", "荷坳村"] and list(c["kind"]) == ["社区", "村"]
    b = _layer(path, "buildings")
    assert (c["households"].sum() == b["households"].sum()) and (c["population"] > 0).all()
    assert _layer(path, "towns")["name"].iloc[0] == "测试街道"
    # buildings east of the second community: dropped, counted and listed by OSM id
    east_all = {o for o, (_, xy) in truth.items() if min(p[0] for p in xy) > SPLIT_2}
    east_any = {o for o, (_, xy) in truth.items() if max(p[0] for p in xy) > SPLIT_2}
    listed = set(re.findall(r"^\s+([wr]\d+)\s", out.split("outside every community:")[1],
                            flags=re.M))
    assert east_all <= listed <= east_any
    assert f"{len(listed)} outside every community:" in out
    assert set(b["osm_id"]) == set(truth) - listed
    assert all(code.startswith(g) and len(code) == len(g) + 4
               for code, g in zip(b["code"], b["grid_code"], strict=True))
    assert cli("validate", path).returncode == 0


def test_communities_file_gcj02(made) -> None:
    """The GCJ-02 file, converted with --crs gcj02, gives the WGS-84 communities back."""
    gcj = _layer(made["gcj"][0], "communities").sort_values("code")
    wgs = _layer(made["gbk"][0], "communities").sort_values("code")
    assert (shapely.hausdorff_distance(gcj.geometry.to_numpy(), wgs.geometry.to_numpy())
            < 1e-7).all()
    assert list(gcj["code"]) == ["000000000001", "000000000002"]
    assert len(_layer(made["gcj"][0], "buildings")) == len(_layer(made["gbk"][0], "buildings"))


# ---------------------------------------------------------------------------------------------
# partition STORE: the store's own buildings; buildings outside every community listed


def test_partition_from_store_buildings_reports_outside(made) -> None:
    path, _ = made["gbk"]
    tmp = made["dir"]
    east = tmp / "east.geojson"
    gpd.GeoDataFrame({"code": [f"{TOWN_CODE}009"], "name": ["东区社区"], "kind": ["社区"],
                      "town_code": [TOWN_CODE], "households": [0], "population": [0]},
                     geometry=[shapely.box(SPLIT_2, S - 0.001, E + 0.002, N + 0.001)],
                     crs=4326).to_file(east, driver="GeoJSON")
    done = cli("import", path, east, "--layer", "communities", "--append", "-q")
    assert done.returncode == 0, done.stderr
    # buildings filed under a grid of the first community: three in the east, two north of
    # every community
    grid = sorted(_layer(path, "grids")["code"])[0]
    spots = [(114.220, 22.680), (114.225, 22.690), (114.228, 22.695), (114.19, 22.71),
             (114.21, 22.71)]
    codes = [f"{grid}{9001 + i}" for i in range(5)]
    extra = tmp / "extra_buildings.geojson"
    gpd.GeoDataFrame({"code": codes, "grid_code": grid, "name": [f"新楼{i}" for i in range(5)],
                      "households": 40, "floors": 6, "year_built": 1995, "has_elevator": False,
                      "renovation": "not_planned"},
                     geometry=[_square(*p) for p in spots], crs=4326).to_file(
        extra, driver="GeoJSON")
    done = cli("import", path, extra, "--layer", "buildings", "--append", "-q")
    assert done.returncode == 0, done.stderr
    done = cli("partition", path)
    assert done.returncode == 0, done.stderr
    assert "partitioned 1 community(ies)" in done.stdout
    assert "2 building(s) outside every community:" in done.stdout
    assert codes[3] in done.stdout and codes[4] in done.stdout
    assert "3 building(s) of the store moved" in done.stdout
    b = _layer(path, "buildings").set_index("name")
    assert all(b.loc[f"新楼{i}", "code"].startswith(f"{TOWN_CODE}009") for i in range(3))
    assert [b.loc[f"新楼{i}", "code"] for i in (3, 4)] == codes[3:]  # left as they were
    assert cli("validate", path).returncode == 0
    again = cli("partition", path)
    assert again.returncode == 2 and "nothing to partition" in again.stderr


def test_partition_with_a_buildings_file(made) -> None:
    path, _ = made["gcj"]
    tmp = made["dir"]
    east = tmp / "east2.geojson"
    gpd.GeoDataFrame({"code": ["000000000003"], "name": ["东区"], "kind": ["社区"],
                      "town_code": ["000000000"], "households": [0], "population": [0]},
                     geometry=[shapely.box(SPLIT_2, S - 0.001, E + 0.002, N + 0.001)],
                     crs=4326).to_file(east, driver="GeoJSON")
    assert cli("import", path, east, "--layer", "communities", "--append", "-q").returncode == 0
    spots = [(114.220, 22.680), (114.225, 22.690), (114.20, 22.72)]
    file = tmp / "file_buildings.geojson"
    gpd.GeoDataFrame({"name": ["甲", "乙", "丙"], "households": [120, 200, 10], "floors": 6,
                      "year_built": 2001, "has_elevator": False, "renovation": "not_planned"},
                     geometry=[_square(*p) for p in spots], crs=4326).to_file(
        file, driver="GeoJSON")
    done = cli("partition", path, "--buildings", file)
    assert done.returncode == 0, done.stderr
    assert "2 building(s) placed" in done.stdout
    assert "1 building(s) outside every community:" in done.stdout and "丙" in done.stdout
    b = _layer(path, "buildings")
    placed = b[b["name"].isin(["甲", "乙"])]
    assert len(placed) == 2 and placed["code"].str.startswith("000000000003").all()
    assert "丙" not in set(b["name"])


# ---------------------------------------------------------------------------------------------
# fictional people on the real map


def test_fictional_people(made) -> None:
    path, out = made["fictional"]
    meta = _meta(path)
    assert meta["fictional"] == "true" and "虚构" in meta["label"]
    assert "OpenStreetMap" in meta["attribution"]
    people, a = _layer(path, "people"), _layer(path, "assignments")
    assert len(people) > 100 and set(a["role"]) == {"grid_sentinel", "building_member"}
    n = int(re.search(r"([\d,]+) fictional ticket\(s\)", out)[1].replace(",", ""))
    assert n == len(_layer(path, "tickets")) > 0
    assert path.with_name("fictional.tickets.sqlite").exists()
    assert _layer(path, "towns")["name"].iloc[0] == "龙岗大运片区"
    done = cli("coverage", path, "--format", "json", "-q")
    assert done.returncode == 0 and "虚构" in json.loads(done.stdout)["label"]
    sentinels = a[a["role"] == "grid_sentinel"]["target_code"]
    assert 0 < sentinels.nunique() <= len(_layer(path, "grids"))
    assert np.isin(a[a["role"] == "building_member"]["target_code"],
                   _layer(path, "buildings")["code"]).all()


def test_map_credits_openstreetmap(made) -> None:
    """The folium map of an OSM-derived store shows © OpenStreetMap contributors; the
    fictional demo town's does not."""
    from dashboard import mapview
    from layers.coverage import coverage
    from layers.store import open_store

    data = open_store(made["plain"][0]).read()
    md = mapview.prepare(data, coverage(data))
    html = mapview.build_map(md, mapview.tile_sources()["none"]).get_root().render()
    assert "addAttribution" in html and "OpenStreetMap</a> contributors" in html
    osm_tiles = mapview.build_map(md, mapview.tile_sources()["osm"]).get_root().render()
    assert "addAttribution" not in osm_tiles  # the OSM tiles credit it already
    assert mapview.prepare(data.replace(), coverage(data)).attribution is not None
    from layers.layerset import LayerSet

    bare = LayerSet(dict(data.items()), {"fictional": "true"})
    assert mapview.prepare(bare, coverage(bare)).attribution is None


# ---------------------------------------------------------------------------------------------
# the shipped second demo: real streets of Longgang, fictional people


SHIPPED = ROOT / "geodata" / "longgang.gpkg"


def test_shipped_longgang_demo() -> None:
    assert SHIPPED.stat().st_size < 5_000_000
    meta = _meta(SHIPPED)
    assert meta["fictional"] == "true" and "虚构" in meta["label"]
    assert meta["licence"].startswith("ODbL") and "OpenStreetMap" in meta["attribution"]
    assert meta["osm_extract"] == OSM.name
    assert len(_layer(SHIPPED, "people")) > 100 and len(_layer(SHIPPED, "buildings")) > 100


def test_app_shows_longgang_by_url(tmp_path, monkeypatch) -> None:
    """``?data=longgang`` picks the second demo (a copy in the data folder): open, labelled
    fictional, its town on the map page."""
    import shutil

    from streamlit.testing.v1 import AppTest

    shutil.copyfile(SHIPPED, tmp_path / "longgang.gpkg")
    monkeypatch.setenv("WANGGE_DATA_DIR", str(tmp_path))
    at = AppTest.from_file(str(ROOT / "dashboard" / "app.py"), default_timeout=120)
    at.query_params["data"] = "longgang"
    at.run()
    assert not at.exception, at.exception
    assert any("示例数据，非真实" in w.value and "OpenStreetMap" in w.value for w in at.warning)
    assert not at.error
    assert any("龙岗大运片区社区" in str(o) for s in at.sidebar.selectbox for o in s.options)


def test_the_summary_is_said_in_the_pages_language(made) -> None:
    """The 新建辖区 preview says what was made and left out in the page's language, from
    keys (issue 16: the CLI's English lines were shown in Chinese mode)."""
    from dashboard.views.new_area import summary_markdown
    from layers.newstore import new_store

    report = new_store(made["dir"] / "summary.gpkg", OSM,
                       communities=made["dir"] / "communities.shp", town_code=TOWN_CODE)
    zh = summary_markdown(report.summary(), {"communities.shp": "社区边界.shp"}, "zh")
    assert "已生成：镇街 1" in zh and "社区来源：社区边界" in zh and "不在任何社区内" in zh
    assert "GB18030" in zh  # the encoding detected, said in Chinese around it
    assert not re.search(r"\b(made|dropped|outside|communities|buildings)\b", zh)
    en = summary_markdown(report.summary(), {}, "en")
    assert "outside every community" in en and "Buildings" in en
    # the CLI's lines are as they were
    assert report.lines()[0].startswith("made ") and "communities from" in report.lines()[2]
