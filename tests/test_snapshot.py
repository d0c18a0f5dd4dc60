"""The store's snapshot (issue 15): a derived Arrow copy of each layer beside the store, used
only while the layer keeps the version it was made from; whatever goes wrong with it, a read
still returns exactly what the store holds."""

from __future__ import annotations

import os
import stat

import pandas as pd
import pytest
from conftest import copy_store

from layers import register as reg
from layers import snapshot
from layers.auth import Principal
from layers.store import GeoPackageStore, open_store

#: The CLI's operator: whole area, full data (what tests that are not about
#: authorisation act as).
OP = Principal.operator()


@pytest.fixture
def store(demo_file, tmp_path):
    return open_store(copy_store(demo_file, tmp_path / "s.gpkg"))


@pytest.fixture
def store_reads(monkeypatch):
    """The layers read from the GeoPackage itself (not from the snapshot)."""
    reads: list[str] = []
    real = GeoPackageStore.read

    def counted(self, layers=None, **kw):
        reads.extend(layers or [])
        return real(self, layers, **kw)

    monkeypatch.setattr(GeoPackageStore, "read", counted)
    return reads


def _read(store, name: str) -> pd.DataFrame:
    frame = snapshot.read_layer(store, name, store.layer_versions()[name])
    snapshot.wait()
    return frame


def test_every_layer_reads_back_as_the_store_holds_it(store, store_reads):
    for name in store.layer_names():
        expected = store.read([name], relative_dates=False)[name]
        first = _read(store, name)  # from the store; the snapshot is written
        again = _read(store, name)  # from the snapshot
        for got in (first, again):
            pd.testing.assert_frame_equal(got, expected, obj=name)
            assert type(got) is type(expected)
            if hasattr(expected, "crs"):
                assert got.crs == expected.crs and got.crs.to_epsg() == 4326
    assert store_reads.count("buildings") == 2  # the expected frame and the first read only
    files = sorted(p.name.split(".")[0] for p in snapshot.snapshot_dir(store).iterdir())
    assert files == sorted(store.layer_names())


def test_an_edited_layer_is_read_from_the_store_again(store, store_reads):
    _read(store, "people")
    old = snapshot.layer_file(store, "people", store.layer_versions()["people"])
    assert old.exists()
    reg.add_person(store, name="新居民", phone="13800000000", source="test",
                   building=str(store.read(["buildings"]).buildings["code"].iloc[0]), principal=OP)
    store_reads.clear()
    people = _read(store, "people")
    assert store_reads == ["people"]
    assert "新居民" in set(people["name"])
    assert not old.exists()  # the older version is dropped once the new one is in place
    store_reads.clear()
    assert "新居民" in set(_read(store, "people")["name"]) and store_reads == []


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty", "other_layer"])
def test_a_damaged_or_foreign_file_is_not_used(store, store_reads, damage):
    tokens = store.layer_versions()
    expected = _read(store, "grids")
    path = snapshot.layer_file(store, "grids", tokens["grids"])
    if damage == "garbage":
        path.write_bytes(b"not arrow at all" * 100)
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif damage == "empty":
        path.write_bytes(b"")
    else:  # another layer's file under this layer's name
        _read(store, "communities")
        other = snapshot.layer_file(store, "communities", tokens["communities"])
        path.write_bytes(other.read_bytes())
    store_reads.clear()
    pd.testing.assert_frame_equal(_read(store, "grids"), expected)
    assert store_reads == ["grids"]
    store_reads.clear()
    pd.testing.assert_frame_equal(_read(store, "grids"), expected)  # written again
    assert store_reads == []


def test_a_read_only_folder_means_no_snapshot_not_an_error(store, store_reads):
    if os.geteuid() == 0:
        # root writes anywhere: the folder's name is taken by a file instead
        snapshot.snapshot_dir(store).write_text("not a folder")
    else:
        store.path.parent.chmod(0o555)
    try:
        for _ in range(2):
            pd.testing.assert_frame_equal(_read(store, "grids"),
                                          store.read(["grids"], relative_dates=False).grids)
    finally:
        store.path.parent.chmod(0o755)
    assert store_reads.count("grids") == 4  # each read from the store
    assert not any(p.name.endswith(".tmp") for p in store.path.parent.iterdir())


def test_snapshot_files_get_the_store_files_permissions(store):
    store.path.chmod(0o600)
    _read(store, "grids")
    for p in snapshot.snapshot_dir(store).iterdir():
        assert stat.S_IMODE(p.stat().st_mode) == 0o600


def test_sets_of_tables_round_trip_and_are_keyed(store):
    tables = {"a": pd.DataFrame({"code": ["G1", "G2"], "n": pd.array([1, None], "Int64")}),
              "b": pd.DataFrame({"x": [0.5]})}
    assert snapshot.read_tables(store, "cov", "k1") is None
    snapshot.write_tables(store, "cov", "k1", tables)
    snapshot.wait()
    got = snapshot.read_tables(store, "cov", "k1")
    assert got is not None and set(got) == {"a", "b"}
    for k, v in tables.items():
        pd.testing.assert_frame_equal(got[k], v)
    assert snapshot.read_tables(store, "cov", "k2") is None
    snapshot.write_tables(store, "cov", "k2", {"a": tables["a"]})
    snapshot.wait()
    assert snapshot.read_tables(store, "cov", "k1") is None  # replaced
    assert set(snapshot.read_tables(store, "cov", "k2") or {}) == {"a"}


def test_files_a_killed_writer_left_are_removed_later(store):
    folder = snapshot.snapshot_dir(store)
    folder.mkdir()
    old = folder / ".grids.0123.arrow.dead.tmp"
    fresh = folder / ".grids.4567.arrow.live.tmp"  # another writer, still at work
    for p in (old, fresh):
        p.write_bytes(b"half a file")
    os.utime(old, (1, 1))
    _read(store, "grids")
    assert not old.exists() and fresh.exists()


def test_mixed_and_empty_geometries_keep_their_types():
    """WKB keeps a layer mixing Polygon and MultiPolygon as it is (GeoArrow's native
    encoding would make them all MultiPolygons), and an empty layer its columns."""
    import geopandas as gpd
    import shapely

    from layers.layerset import empty_layer

    mixed = gpd.GeoDataFrame(
        {"code": ["a", "b"], "n": pd.array([1, None], "Int64")},
        geometry=[shapely.box(0, 0, 1, 1), shapely.MultiPolygon([shapely.box(2, 2, 3, 3)])],
        crs="EPSG:4326")
    for frame in (mixed, empty_layer("care_points")):
        got = snapshot._geo_frame(snapshot._to_table(frame, {"layer": "x", "token": "t"}))
        pd.testing.assert_frame_equal(got, frame, check_index_type=False)
        assert list(got.geom_type) == list(frame.geom_type) and got.crs == frame.crs
