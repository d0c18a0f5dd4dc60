"""PostGIS whole reads (issue 23): every layer of a read from one snapshot of the database,
straight into Arrow; the same frames as the row-by-row path; the hex WKB decoder."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pyarrow as pa
import pytest
import shapely
from conftest import BACKENDS, raw_query
from geopandas.testing import assert_geodataframe_equal

from layers.store import open_store
from layers.store.postgis import PostGISStore, _copy, _read

pytestmark = pytest.mark.skipif("postgis" not in BACKENDS, reason="PostGIS not tested here")


@pytest.fixture
def backend() -> str:
    return "postgis"


@pytest.mark.parametrize("path", ["arrow", "copy"])
def test_a_whole_read_is_one_moment_of_the_database(store_copy, monkeypatch, backend, path):
    """Another client deletes every assignment after the read began (before its first layer
    is read): the read still returns the assignments of the moment it began — through ADBC
    (a large read: connections importing one exported snapshot) and through COPY (a small
    one: one REPEATABLE READ transaction)."""
    store = open_store(store_copy)
    before = len(store.read(["assignments"])["assignments"])
    assert before > 0
    monkeypatch.setattr(_read, "ARROW_ROWS", 0 if path == "arrow" else 10**9)
    owner, hook = (_read, "_read_in") if path == "arrow" else (PostGISStore, "_read_one")
    original = getattr(owner, hook)
    deleted = []

    def delete_first(*args, **kwargs):  # the first layer is read only after another commit
        if not deleted:
            raw_query(store_copy, "DELETE FROM assignments")
            deleted.append(True)
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, hook, delete_first)
    data = store.read(["buildings", "assignments"])
    assert deleted and len(data["assignments"]) == before
    monkeypatch.setattr(owner, hook, original)
    assert len(store.read(["assignments"])["assignments"]) == 0  # the delete did happen


def test_a_whole_read_gives_the_frames_each_layer_read_gives(store_copy, monkeypatch, backend):
    """The Arrow path (large whole reads) and the COPY path (bbox reads) agree on every
    layer: columns, dtypes, values and geometries."""
    monkeypatch.setattr(_read, "ARROW_ROWS", 0)
    store = open_store(store_copy)
    whole = store.read(relative_dates=False)
    assert len(whole) >= 8
    for name in whole:  # a bbox read of the whole world goes the COPY way, layer by layer
        one = store.read([name], bbox=(-180, -90, 180, 90), relative_dates=False)[name]
        assert len(one) == len(whole[name]) > 0, name
        if isinstance(one, gpd.GeoDataFrame):
            assert_geodataframe_equal(whole[name], one, check_less_precise=False)
        else:
            pd.testing.assert_frame_equal(whole[name], one, obj=name)


def test_hex_wkb_decodes_to_the_same_geometries_nulls_and_slices_included():
    geoms = [shapely.Point(106.5, 29.5), None, shapely.box(0, 0, 1, 2),
             shapely.LineString([(0, 0), (1, 1)])] * 3
    hexes = pa.array([None if g is None else shapely.to_wkb(g, hex=True) for g in geoms])
    for start, stop in ((0, 12), (1, 7), (5, 5), (3, 12)):
        part = hexes.slice(start, stop - start)
        wkb = _copy._unhex(part)
        wkb.validate(full=True)
        assert wkb.null_count == part.null_count
        got = [None if v is None else shapely.from_wkb(v) for v in wkb.to_pylist()]
        want = geoms[start:stop]
        assert [g is None for g in got] == [g is None for g in want]
        assert all(g is None or g.equals_exact(w, 0) for g, w in zip(got, want, strict=True))


def test_an_arrow_table_becomes_the_layer_frame_with_the_declared_types():
    """PostgreSQL's numeric arrives as an opaque extension of text, timestamps in µs: the
    frame has the contract's types (float, datetime64[ms]) and the geometry in EPSG:4326."""
    numeric = pa.opaque(pa.string(), "numeric", "PostgreSQL")
    table = pa.table({
        "n": pa.ExtensionArray.from_storage(numeric, pa.array(["1.5", None])),
        "t": pa.array([pd.Timestamp("2026-01-02 03:04:05.678"), None], pa.timestamp("us")),
        "geometry": pa.array([shapely.to_wkb(shapely.Point(1, 2)), None], pa.binary()),
    })
    frame = _copy.arrow_frame(table, {"n": "numeric", "t": "timestamp without time zone"},
                              "geometry")
    assert frame.crs == "EPSG:4326"
    assert frame["n"].tolist()[0] == 1.5 and pd.isna(frame["n"].tolist()[1])
    assert str(frame["t"].dtype) == "datetime64[ms]"
    assert frame["t"][0] == pd.Timestamp("2026-01-02 03:04:05.678")
    assert frame.geometry[0].equals(shapely.Point(1, 2)) and frame.geometry[1] is None
