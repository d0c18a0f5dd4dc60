"""Reading trusts what the store wrote (issue 15): a cheap integrity check by default, the full
validation on request; per-layer versions."""

from __future__ import annotations

import subprocess
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
import shapely
from clikit import run_cli
from geopandas.testing import assert_geodataframe_equal

from layers.coverage import COLUMNS_NEEDED, coverage
from layers.errors import LayerValidationError, StoreError
from layers.store import StoreIntegrityError, open_store
from layers.store.gpkg._sqlite import connect as _connect

ROOT = Path(__file__).resolve().parent.parent


def _assert_same(fast, full) -> None:
    """Same layers, columns, dtypes and values (geometry included), same metadata."""
    assert list(fast) == list(full)
    assert fast.meta == full.meta
    for name in full:
        a, b = fast[name], full[name]
        assert type(a) is type(b), name
        if isinstance(b, gpd.GeoDataFrame):
            assert_geodataframe_equal(a, b, check_less_precise=False)
        else:
            pd.testing.assert_frame_equal(a, b, obj=name)


def _sql(path: Path, *statements: str) -> None:
    """Edit the file as a plain SQLite client would (with the GeoPackage's ST_ functions)."""
    con = _connect(path)
    try:
        for sql in statements:
            con.execute(sql)
    finally:
        con.close()


def _validate_cli(path: Path) -> subprocess.CompletedProcess:
    return run_cli("validate", path, timeout=300)


# -- the fast read returns what the full check returns --------------------------------------------
def test_fast_read_equals_fully_validated_read(demo_file):
    store = open_store(demo_file)
    _assert_same(store.read(), store.read(full_check=True))
    some = ["grids", "buildings", "assignments", "tickets"]
    _assert_same(store.read(some), store.read(some, full_check=True))


def test_column_read_has_just_those_columns(demo_file):
    store = open_store(demo_file)
    full = store.read(list(COLUMNS_NEEDED), full_check=True)
    part = store.read(list(COLUMNS_NEEDED), columns=COLUMNS_NEEDED)
    for name, cols in COLUMNS_NEEDED.items():
        assert set(part[name].columns) == set(cols), name
        for c in cols:
            pd.testing.assert_series_equal(part[name][c], full[name][c], obj=f"{name}.{c}")
    assert not isinstance(part["communities"], gpd.GeoDataFrame)  # no geometry asked for
    # the analysis gives the same answer from the columns it needs
    a, b = coverage(part), coverage(full)
    assert a.grids_without_sentinel == b.grids_without_sentinel
    assert a.buildings_without_member == b.buildings_without_member
    pd.testing.assert_frame_equal(a.summary, b.summary)
    pd.testing.assert_frame_equal(a.suggestions, b.suggestions)
    with pytest.raises(StoreError, match="full check"):
        store.read(["grids"], columns={"grids": ["code"]}, full_check=True)


# -- a file edited outside the app: a clear error on read -------------------------------------------
def test_dropped_column_is_a_clear_error(store_copy):
    _sql(store_copy, 'ALTER TABLE grids DROP COLUMN "name"')
    with pytest.raises(StoreIntegrityError) as err:
        open_store(store_copy).read()
    text = str(err.value)
    assert "grids / field name: required column is missing" in text
    assert "edited outside the app" in text and "python -m layers validate" in text
    assert isinstance(err.value, LayerValidationError)  # callers catching that still do
    # a read of other layers is not concerned
    assert len(open_store(store_copy).read(["buildings"]).buildings) > 0


def test_wrong_types_are_clear_errors(store_copy):
    # text in a date column (sqlite3), a required value removed, a number column rewritten
    # as text (pyogrio, as a GIS client saving a layer would)
    _sql(store_copy, "UPDATE assignments SET since = 'last spring' WHERE fid = 3",
         "UPDATE grids SET community_code = NULL WHERE fid = 2")
    b = pyogrio.read_dataframe(store_copy, layer="buildings")
    b["households"] = b["households"].astype(str)
    b.loc[4, "households"] = "many"
    pyogrio.write_dataframe(b, store_copy, layer="buildings")
    with pytest.raises(StoreIntegrityError) as err:
        open_store(store_copy).read()
    text = str(err.value)
    assert "assignments / row 3 / field since: not a date/time: 'last spring'" in text
    assert "grids / row 2" in text and "field community_code: value is missing" in text
    assert "buildings / row 5" in text and "not a whole number: 'many'" in text


def test_missing_and_wrong_geometry_are_clear_errors(store_copy):
    p = pyogrio.read_dataframe(store_copy, layer="people")
    p.loc[1, "geometry"] = None
    pyogrio.write_dataframe(p, store_copy, layer="people", geometry_type="Point")
    g = pyogrio.read_dataframe(store_copy, layer="grids")
    g.loc[0, "geometry"] = g.geometry.iloc[0].centroid
    pyogrio.write_dataframe(g, store_copy, layer="grids", geometry_type="Unknown")
    with pytest.raises(StoreIntegrityError) as err:
        open_store(store_copy).read()
    text = str(err.value)
    assert "people / row 2" in text and "geometry is missing" in text
    assert "grids / row 1" in text and "geometry type Point not allowed" in text


def test_duplicate_key_is_a_clear_error(store_copy):
    # keys are hashed only when they are not in increasing order (people's are)
    for layer, key, rows in (("people", "person_id", (5, 6)), ("buildings", "code", (0, 9))):
        df = pyogrio.read_dataframe(store_copy, layer=layer)
        df.loc[rows[1], key] = df.loc[rows[0], key]
        pyogrio.write_dataframe(df, store_copy, layer=layer)
    with pytest.raises(StoreIntegrityError) as err:
        open_store(store_copy).read()
    text = str(err.value)
    assert "people / field person_id: 2 rows: person_id is not unique (rows 6, 7)" in text
    assert "buildings / field code: 2 rows: code is not unique (rows 1, 10)" in text


# -- what moved to the full check -------------------------------------------------------------------
def test_bad_geometry_and_references_only_the_full_check_finds(store_copy):
    b = pyogrio.read_dataframe(store_copy, layer="buildings")
    x0, y0 = b.geometry.iloc[2].centroid.coords[0]
    d = 0.0002  # a bow tie: self-intersecting, not safely repairable
    b.loc[2, "geometry"] = shapely.Polygon([(x0, y0), (x0 + d, y0 + d), (x0 + d, y0),
                                            (x0, y0 + d)])
    b.loc[3, "grid_code"] = "nowhere"
    pyogrio.write_dataframe(b, store_copy, layer="buildings")
    store = open_store(store_copy)
    fast = store.read()  # the integrity check lets both through
    assert fast.buildings.loc[3, "grid_code"] == "nowhere"
    assert not fast.buildings.geometry.iloc[2].is_valid
    with pytest.raises(LayerValidationError) as err:
        store.read(full_check=True)
    assert not isinstance(err.value, StoreIntegrityError)
    text = str(err.value)
    assert "buildings / row 3" in text and "invalid geometry (Self-intersection" in text
    assert "'nowhere' is not a code in grids" in text
    r = _validate_cli(store_copy)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "invalid geometry (Self-intersection" in r.stdout
    assert "'nowhere' is not a code in grids" in r.stdout


# -- per-layer versions -----------------------------------------------------------------------------
def _changed(before: dict[str, str], after: dict[str, str]) -> set[str]:
    return {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}


def test_a_row_edit_changes_only_its_layers_version(store_copy, demo):
    store = open_store(store_copy)
    v0, whole0 = store.layer_versions(), store.version()
    assert {"towns", "grids", "buildings", "people", "assignments", "meta"} <= set(v0)
    pid = demo.people.person_id.iloc[0]
    for n in (1, 2):  # twice in a row: each edit moves the version on
        store.update_rows("people", {"person_id": pid}, {"name": f"改名{n}"},
                          log_entries=[{"action": "edit", "layer": "people", "person_id": pid}])
        v1 = store.layer_versions()
        assert _changed(v0, v1) == {"people", "change_log"}
        assert v1["buildings"] == v0["buildings"]
        v0 = v1
    assert store.version() != whole0
    # an edit the store refuses changes nothing
    with pytest.raises(LayerValidationError):
        store.update_rows("people", {"person_id": pid}, {"person_id": demo.people.person_id[1]})
    assert store.layer_versions() == v0


def test_layer_writes_and_whole_writes(store_copy, demo):
    store = open_store(store_copy)
    v0 = store.layer_versions()
    store.update({"care_points": demo.care_points.iloc[:-1]})
    v1 = store.layer_versions()
    assert _changed(v0, v1) == {"care_points"}  # the others were copied byte for byte
    # a GIS client rewriting a layer (GDAL sets last_change)
    pyogrio.write_dataframe(pyogrio.read_dataframe(store_copy, layer="parking"), store_copy,
                            layer="parking")
    v2 = store.layer_versions()
    assert _changed(v1, v2) == {"parking"}
    store.write(demo)
    v3 = store.layer_versions()
    assert _changed(v2, v3) >= {*demo, "meta"}


def test_datetimes_from_gdal_text_are_parsed_as_before():
    """Dates come from GDAL as ISO text and are parsed by Arrow; what Arrow does not take is
    parsed by pandas (an offset), and text that is no date stays text for the check."""
    from layers.store import _datetimes

    iso = pd.Series(["2026-01-02T03:04:05", None, "2026-11-20T00:00:00.250"], dtype="str",
                    index=[5, 9, 3595])  # rows read by fid keep their fids
    got = _datetimes(iso)
    assert str(got.dtype) == "datetime64[ms]" and got.isna().tolist() == [False, True, False]
    assert got.iloc[2] == pd.Timestamp("2026-11-20 00:00:00.250")
    assert got.index.tolist() == [5, 9, 3595]
    offset = _datetimes(pd.Series(["2026-01-02T03:04:05+08:00"], dtype="str"))
    assert offset.iloc[0] == pd.Timestamp("2026-01-02T03:04:05+08:00")
    text = pd.Series(["2026-01-02T00:00:00", "last spring"], dtype="str")
    assert _datetimes(text).tolist() == ["2026-01-02T00:00:00", "last spring"]
