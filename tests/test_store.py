"""GeoPackage store: round trip, QGIS-readable layout, atomic writes, clear errors."""

from __future__ import annotations

import hashlib
import os

import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely

from layers.errors import LayerValidationError, StoreError
from layers.layerset import LayerSet
from layers.store import GeoPackageStore, Store, open_store


def _digest(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def test_round_trip_keeps_every_layer_and_value(demo, demo_file):
    back = open_store(demo_file).read()
    assert set(back) == set(demo)
    for name in demo:
        a, b = demo[name], back[name]
        assert list(b.columns) == list(a.columns), name
        assert len(a) == len(b), name
        for col in a.columns:
            if col == "geometry":
                assert shapely.equals_exact(a.geometry.to_numpy(), b.geometry.to_numpy(),
                                            tolerance=1e-12).all(), name
            else:
                pd.testing.assert_series_equal(
                    a[col].reset_index(drop=True), b[col].reset_index(drop=True),
                    check_dtype=False, check_names=False, obj=f"{name}.{col}")
    assert back.fictional and back.meta["label"] == "示例数据，非真实"


def test_layout_is_plain_geopackage(demo_file):
    layers = dict(pyogrio.list_layers(demo_file))
    assert layers["communities"] in ("Polygon", "MultiPolygon")
    assert layers["grids"] == "Polygon"
    assert layers["buildings"] == "Polygon"
    assert layers["people"] == "Point"
    assert layers["assignments"] is None  # attribute table, no geometry
    assert pyogrio.read_info(demo_file, layer="grids")["crs"] == "EPSG:4326"


def test_bbox_read(demo, demo_file):
    g = demo.grids.geometry.iloc[0]
    minx, miny, maxx, maxy = g.bounds
    part = open_store(demo_file).read(["buildings"], bbox=(minx, miny, maxx, maxy))
    expected = demo.buildings[demo.buildings.intersects(shapely.box(minx, miny, maxx, maxy))]
    assert 0 < len(part.buildings) < len(demo.buildings)
    assert set(part.buildings.code) == set(expected.code)


def test_bad_write_leaves_file_untouched(demo, store_copy):
    before = _digest(store_copy)
    mtime = os.stat(store_copy).st_mtime_ns
    g = demo.grids.copy()
    g.loc[3, "code"] = g.loc[4, "code"]
    with pytest.raises(LayerValidationError) as err:
        open_store(store_copy).write(demo.replace(grids=g))
    assert "grids" in str(err.value) and "not unique" in str(err.value)
    assert str(store_copy) in str(err.value)
    assert _digest(store_copy) == before and os.stat(store_copy).st_mtime_ns == mtime
    assert not [p for p in os.listdir(store_copy.parent) if ".tmp" in p]


def test_update_validates_against_the_rest(demo, store_copy):
    store = open_store(store_copy)
    before = _digest(store_copy)
    # removing a grid that buildings still point at must be refused
    with pytest.raises(LayerValidationError) as err:
        store.update({"grids": demo.grids.iloc[1:]})
    assert "not a code in grids" in str(err.value)
    assert _digest(store_copy) == before
    # a legal update: one more care point
    extra = demo.care_points.iloc[[0]].copy()
    extra["code"] = "NEW-1"
    store.update({"care_points": pd.concat([demo.care_points, extra], ignore_index=True)})
    back = store.read(["care_points"])
    assert "NEW-1" in set(back.care_points.code) and len(back.care_points) == len(
        demo.care_points) + 1
    assert store.meta()["fictional"] == "true"


def test_failure_during_write_keeps_old_file(demo, store_copy, monkeypatch):
    before = _digest(store_copy)
    import layers.store.gpkg._files as st

    calls = {"n": 0}
    real = st.write_layer

    def flaky(path, name, df):
        calls["n"] += 1
        if calls["n"] == 4:
            raise OSError("disk full (simulated)")
        real(path, name, df)

    monkeypatch.setattr(st, "write_layer", flaky)
    with pytest.raises(OSError):
        open_store(store_copy).write(demo)
    assert _digest(store_copy) == before
    assert not [p for p in os.listdir(store_copy.parent) if ".tmp" in p]


def test_protocol_and_open_errors(tmp_path):
    assert isinstance(open_store(tmp_path / "x.gpkg"), Store)
    with pytest.raises(StoreError, match="no such file"):
        open_store(tmp_path / "missing.gpkg").read()
    empty = tmp_path / "empty.gpkg"
    empty.write_bytes(b"")
    with pytest.raises(StoreError, match="empty"):
        open_store(empty).read()
    junk = tmp_path / "junk.gpkg"
    junk.write_text("not a database")
    with pytest.raises(StoreError, match="cannot be opened"):
        open_store(junk).read()
    with pytest.raises(StoreError, match=r"\.gpkg"):
        open_store(tmp_path / "x.shp")
    pg = open_store("postgresql://user:secret@db/grid")  # opened lazily, shown without password
    assert pg.location == "postgresql://user@db/grid?schema=wangge" and "secret" not in repr(pg)
    with pytest.raises(StoreError, match="URL"):
        open_store("PG:dbname=grid")


def test_missing_required_layer(tmp_path, demo):
    path = tmp_path / "partial.gpkg"
    pyogrio.write_dataframe(demo.grids, path, layer="grids")
    with pytest.raises(StoreError, match="required layer"):
        GeoPackageStore(path).read()


def test_read_refuses_a_file_broken_outside_the_app(store_copy):
    # someone edits the GeoPackage in QGIS and duplicates a building code
    b = pyogrio.read_dataframe(store_copy, layer="buildings")
    b.loc[1, "code"] = b.loc[0, "code"]
    pyogrio.write_dataframe(b, store_copy, layer="buildings")
    with pytest.raises(LayerValidationError, match="not unique"):
        open_store(store_copy).read()


def test_writing_a_new_store_from_scratch(tmp_path, demo):
    path = tmp_path / "sub" / "new.gpkg"
    small = LayerSet({n: demo[n] for n in ("towns", "communities")}, {"source": "test"})
    report = open_store(path).write(small)
    assert report.ok
    back = open_store(path).read()
    assert len(back.communities) == 12 and len(back.grids) == 0
    # empty grids: every community is warned about, not refused
    assert sum("no grids yet" in p.message for p in report.warnings) == 12
    np.testing.assert_array_equal(back.communities.code, demo.communities.code)
