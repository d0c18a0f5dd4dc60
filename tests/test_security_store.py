"""Store and import hardening: concurrent appends, read-only and mode-keeping writes, leftover
staging files, data outside the store's area, and limits on rows, vertices and text."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from dataclasses import replace
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from clikit import start_cli

from layers.auth import Principal
from layers.errors import LayerValidationError, StoreError
from layers.importer import ImportFileError, check_file, import_file
from layers.layerset import LayerSet
from layers.settings import DEFAULT_SETTINGS
from layers.store import open_store

#: The CLI's operator: whole area, full data (what tests that are not about
#: authorisation act as).
OP = Principal.operator()

ROOT = Path(__file__).resolve().parent.parent


def _digest(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _care_csv(demo, path: Path, prefix: str, n: int = 3, start: int = 0,
              lonlat: tuple[float, float] | None = None) -> list[str]:
    """A valid care-points CSV (Chinese headers) with codes ``prefix0 …``; returns the codes."""
    pts = shapely.point_on_surface(demo.grids.geometry.to_numpy()[start:start + n])
    codes = [f"{prefix}{i}" for i in range(n)]
    lon = [lonlat[0]] * n if lonlat else shapely.get_x(pts)
    lat = [lonlat[1]] * n if lonlat else shapely.get_y(pts)
    pd.DataFrame({"编码": codes, "名称": [f"养老服务站{c}" for c in codes],
                  "类型": ["elder_station"] * n, "容量": [10] * n,
                  "经度": lon, "纬度": lat}).to_csv(path, index=False)
    return codes


def _cli_import(store: Path, file: Path, *extra: str):
    return start_cli("import", store, file, "--layer", "care_points", "-q", *extra)


# -- 1. concurrent imports ------------------------------------------------------------------

def test_parallel_appends_keep_every_file(demo, store_copy, tmp_path):
    expected = set(demo.care_points.code)
    for trial in range(3):
        files = []
        for k in range(4):
            f = tmp_path / f"care_{trial}_{k}.csv"
            expected |= set(_care_csv(demo, f, f"P{trial}F{k}N", n=3, start=3 * k))
            files.append(f)
        procs = [_cli_import(store_copy, f, "--append") for f in files]
        for p in procs:
            _, err = p.communicate(timeout=120)
            assert p.returncode == 0, err
        stored = set(open_store(store_copy).read(["care_points"]).care_points.code)
        missing = expected - stored
        assert not missing, f"trial {trial}: rows lost: {sorted(missing)}"
    assert len(stored) == len(demo.care_points) + 3 * 4 * 3


def test_append_merges_with_the_layer_as_it_is_when_written(demo, store_copy, tmp_path):
    """A write between the dry run and the import must not be overwritten."""
    store = open_store(store_copy)
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    codes_a = _care_csv(demo, a, "A")
    codes_b = _care_csv(demo, b, "B", start=3)
    check_file(store, a, "care_points", mode="append")  # preview, before b lands
    import_file(store, b, "care_points", mode="append", principal=OP)
    result = import_file(store, a, "care_points", mode="append", principal=OP)
    stored = set(store.read(["care_points"]).care_points.code)
    assert set(codes_a) | set(codes_b) <= stored
    assert result.rows == len(demo.care_points) + 6


# -- 2. read-only stores and file modes ------------------------------------------------------

def test_read_only_store_is_refused_and_left_alone(demo, store_copy, tmp_path):
    f = tmp_path / "c.csv"
    _care_csv(demo, f, "RO")
    os.chmod(store_copy, 0o444)
    before = _digest(store_copy)
    with pytest.raises(StoreError, match="read-only"):
        import_file(open_store(store_copy), f, "care_points", mode="append", principal=OP)
    with pytest.raises(StoreError, match="read-only"):
        open_store(store_copy).write(demo)
    assert _digest(store_copy) == before
    assert stat.S_IMODE(os.stat(store_copy).st_mode) == 0o444
    assert not [p for p in os.listdir(store_copy.parent) if ".tmp" in p]


def test_write_keeps_the_store_file_mode(demo, store_copy, tmp_path):
    f = tmp_path / "c.csv"
    _care_csv(demo, f, "MODE")
    os.chmod(store_copy, 0o640)
    import_file(open_store(store_copy), f, "care_points", mode="append", principal=OP)
    assert stat.S_IMODE(os.stat(store_copy).st_mode) == 0o640
    open_store(store_copy).write(demo)
    assert stat.S_IMODE(os.stat(store_copy).st_mode) == 0o640


def test_new_store_gets_a_normal_mode(tmp_path):
    old = os.umask(0o027)
    try:
        path = tmp_path / "new.gpkg"
        open_store(path).write(LayerSet({}))
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640  # 0666 less the umask, not 0600


# -- 3. leftovers of killed writers -----------------------------------------------------------

def test_stale_staging_files_are_removed_on_the_next_write(demo, store_copy, tmp_path):
    d = store_copy.parent
    stale = [d / ".town.k1ll3d_x.tmp.gpkg", d / ".town.k1ll3d_x.tmp.gpkg-journal",
             d / ".town.ab12cd34.tmp.gpkg-wal", d / ".town.ab12cd34.tmp.gpkg-shm",
             d / ".town.ab12cd34.tmp.gpkg"]
    unrelated = [d / ".other.ab12cd34.tmp.gpkg", d / ".town.x.ab12cd34.tmp.gpkg",
                 d / "town.tmp.gpkg", d / "notes.txt"]
    for p in stale + unrelated:
        p.write_bytes(b"left behind")
    f = tmp_path / "c.csv"
    _care_csv(demo, f, "TMP")
    import_file(open_store(store_copy), f, "care_points", mode="append", principal=OP)
    assert [p.name for p in stale if p.exists()] == []
    assert all(p.read_bytes() == b"left behind" for p in unrelated)


# -- 4. data outside the store's area ----------------------------------------------------------

def test_beijing_point_in_the_chongqing_store_is_refused(demo, store_copy, tmp_path):
    f = tmp_path / "beijing.csv"
    _care_csv(demo, f, "BJ", n=1, lonlat=(116.4, 39.9))
    before = _digest(store_copy)
    with pytest.raises(LayerValidationError, match="outside the area of this store") as err:
        import_file(open_store(store_copy), f, "care_points", mode="append", principal=OP)
    assert "line 2" in str(err.value)  # the file's own line: the header is line 1
    assert _digest(store_copy) == before
    r = check_file(open_store(store_copy), f, "care_points", mode="append",
                   force_outside_region=True)
    assert r.report.ok


def test_outside_rows_are_grouped_and_the_cli_can_force(demo, store_copy, tmp_path):
    f = tmp_path / "far.csv"
    _care_csv(demo, f, "FAR", n=6, lonlat=(116.4, 39.9))
    with pytest.raises(LayerValidationError) as err:
        import_file(open_store(store_copy), f, "care_points", mode="append", principal=OP)
    text = str(err.value)
    assert "6 rows: outside the area of this store" in text
    assert "e.g. lines 2, 3, 4, 5, 6 …" in text
    assert text.count("outside the area") == 1
    p = _cli_import(store_copy, f, "--append")
    _, stderr = p.communicate(timeout=120)
    assert p.returncode == 2 and "outside the area of this store" in stderr
    assert "--force-outside-region" in stderr
    p = _cli_import(store_copy, f, "--append", "--force-outside-region")
    _, stderr = p.communicate(timeout=120)
    assert p.returncode == 0, stderr
    assert "FAR5" in set(open_store(store_copy).read(["care_points"]).care_points.code)


def test_projected_prj_on_lonlat_numbers_is_refused(demo, store_copy, tmp_path):
    pts = demo.care_points.iloc[:4][["code", "name", "kind", "capacity", "geometry"]].copy()
    pts["code"] = [f"PRJ{i}" for i in range(4)]
    shp = tmp_path / "care.shp"
    pyogrio.write_dataframe(pts.set_crs(4544, allow_override=True), shp)  # lon/lat as metres
    with pytest.raises(LayerValidationError, match="4 rows: outside the area of this store"):
        import_file(open_store(store_copy), shp, "care_points", mode="append", principal=OP)
    r = import_file(open_store(store_copy), shp, "care_points", mode="append",
                    force_outside_region=True, principal=OP)
    assert r.rows == len(demo.care_points) + 4


def test_store_without_communities_accepts_china_only(demo, tmp_path):
    path = tmp_path / "empty.gpkg"
    open_store(path).write(LayerSet({}))
    inside, outside = tmp_path / "in.csv", tmp_path / "out.csv"
    _care_csv(demo, inside, "CN", n=1, lonlat=(116.4, 39.9))
    _care_csv(demo, outside, "EU", n=1, lonlat=(2.35, 48.85))
    import_file(open_store(path), inside, "care_points", principal=OP)
    with pytest.raises(LayerValidationError, match="outside the area of this store"):
        import_file(open_store(path), outside, "care_points", principal=OP)


# -- 5. limits --------------------------------------------------------------------------------

def _care_frame(demo, n: int) -> gpd.GeoDataFrame:
    pts = shapely.point_on_surface(demo.grids.geometry.to_numpy()[:n])
    return gpd.GeoDataFrame({"code": [f"LIM{i}" for i in range(n)], "name": ["点"] * n,
                             "kind": ["nursery"] * n, "capacity": [5] * n},
                            geometry=pts, crs=4326)


@pytest.mark.parametrize("suffix", [".csv", ".xlsx", ".geojson", ".gpkg", ".shp"])
def test_too_many_rows_are_refused_before_reading_everything(demo, store_copy, tmp_path,
                                                             suffix):
    f = tmp_path / f"many{suffix}"
    if suffix in (".csv", ".xlsx"):
        _care_csv(demo, tmp_path / "many.csv", "M", n=7)
        if suffix == ".xlsx":
            pd.read_csv(tmp_path / "many.csv").to_excel(f, index=False)
    else:
        _care_frame(demo, 7).to_file(f)
    before = _digest(store_copy)
    settings = replace(DEFAULT_SETTINGS, max_import_rows=5)
    with pytest.raises(ImportFileError) as err:
        import_file(open_store(store_copy), f, "care_points", mode="append", settings=settings,
                    principal=OP)
    text = str(err.value)
    assert str(f) in text and "7 rows" in text and "5" in text
    assert _digest(store_copy) == before


def _building(demo, n_vertices: int) -> gpd.GeoDataFrame:
    b = demo.buildings.iloc[:1].copy()
    c = b.geometry.iloc[0].centroid
    t = np.linspace(0, 2 * np.pi, n_vertices - 1, endpoint=False)
    ring = np.c_[c.x + 2e-5 * np.cos(t), c.y + 2e-5 * np.sin(t)]
    b["geometry"] = [shapely.Polygon(ring)]
    b["code"] = b["code"] + "X"
    b["has_elevator"] = b["has_elevator"].astype(int)
    return b[["code", "grid_code", "name", "households", "floors", "has_elevator",
              "renovation", "geometry"]]


@pytest.mark.filterwarnings("ignore:.*(10 characters|laundered)")
@pytest.mark.parametrize("suffix", [".geojson", ".gpkg", ".shp"])
def test_vertex_cap_is_the_same_for_every_format(demo, store_copy, tmp_path, suffix):
    f = tmp_path / f"b{suffix}"
    _building(demo, 3000).to_file(f)
    settings = replace(DEFAULT_SETTINGS, max_vertices_per_geometry=2000)
    with pytest.raises(LayerValidationError) as err:
        import_file(open_store(store_copy), f, "buildings", mode="append", settings=settings,
                    principal=OP)
    [p] = err.value.report.errors
    assert (p.row, p.field) == (1, "geometry")
    assert p.message.startswith("3000 vertices, more than the limit of 2000")


def test_two_million_vertex_polygon_is_refused_from_geopackage_and_geojson(demo, store_copy,
                                                                             tmp_path):
    b = _building(demo, 2_000_000)
    gpkg = tmp_path / "huge.gpkg"
    b.to_file(gpkg)
    geojson = tmp_path / "huge.geojson"
    ring = np.asarray(b.geometry.iloc[0].exterior.coords)
    props = {k: (v.item() if hasattr(v, "item") else v)
             for k, v in b.drop(columns="geometry").iloc[0].items()}
    # plain text, as files come: "[x,y],[x,y],…" (json's C encoder: 2 million pairs in ~1 s,
    # a Python f-string a pair took ~7 s)
    coords = json.dumps(np.round(ring, 9).tolist(), separators=(",", ":"))[1:-1]
    geojson.write_text(
        '{"type":"FeatureCollection","features":[{"type":"Feature","properties":'
        + json.dumps(props, ensure_ascii=False)
        + ',"geometry":{"type":"Polygon","coordinates":[[' + coords + "]]}}]}",
        encoding="utf-8")
    found = []
    for f in (gpkg, geojson):
        with pytest.raises(LayerValidationError) as err:
            import_file(open_store(store_copy), f, "buildings", mode="append", principal=OP)
        [p] = err.value.report.errors
        found.append((p.row, p.field, p.message))
    assert found[0] == found[1]
    assert found[0][:2] == (1, "geometry")
    assert found[0][2].startswith("2000000 vertices, more than the limit of 100000")


def test_long_names_are_refused(demo, store_copy, tmp_path):
    f = tmp_path / "long.csv"
    _care_csv(demo, f, "LONG")
    df = pd.read_csv(f)
    df.loc[1, "名称"] = "长" * 201
    df.to_csv(f, index=False)
    with pytest.raises(LayerValidationError) as err:
        import_file(open_store(store_copy), f, "care_points", mode="append", principal=OP)
    [p] = err.value.report.errors
    assert (p.row, p.unit, p.field) == (3, "line", "name")  # header = line 1
    assert p.message.startswith("201 characters, more than the limit of 200")
    ok = replace(DEFAULT_SETTINGS, max_name_length=300)
    assert check_file(open_store(store_copy), f, "care_points", mode="append",
                      settings=ok).report.ok
