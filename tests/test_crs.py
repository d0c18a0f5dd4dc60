"""Tests of layers.crs: metric CRS choice, reprojection and the GCJ-02 / BD-09 conversions."""

from __future__ import annotations

import warnings

import geopandas as gpd
import numpy as np
import pyproj
import pytest
import shapely
from shapely.geometry import LineString, MultiPoint, Point, Polygon

from layers import crs
from layers.crs import (
    DEFAULT_METRIC_CRS,
    WGS84,
    CRSError,
    bd09_to_gcj02,
    bd09_to_wgs84,
    convert_coords,
    convert_gdf,
    convert_geometries,
    ensure_wgs84,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    metric_crs,
    to_metric,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)

GEOD = pyproj.Geod(ellps="WGS84")
CHONGQING = (106.28, 29.60)
CHONGQING_BOUNDS = (106.20, 29.52, 106.36, 29.68)


def metres(lon1, lat1, lon2, lat2) -> np.ndarray:
    """Geodesic distance in metres between two sets of lon/lat points (vectorised)."""
    lon1, lat1, lon2, lat2 = np.broadcast_arrays(
        *(np.asarray(v, dtype=np.float64) for v in (lon1, lat1, lon2, lat2))
    )
    return np.asarray(GEOD.inv(lon1.ravel(), lat1.ravel(), lon2.ravel(), lat2.ravel())[2])


# --- published reference vectors -----------------------------------------------------------------
# Each row: (source, src datum, dst datum, (lon, lat) in, (lon, lat) expected). Where a source
# writes (lat, lng), the values are reordered to (lon, lat) here.
REFERENCE = [
    # eviltransform (googollee/eviltransform) test suite, go/transform_test.go, python/test.py,
    # javascript/test.js, csharp/EvilTransformUnitTest.cs: wgsLat, wgsLng, gcjLat, gcjLng
    (
        "eviltransform shanghai",
        "wgs84",
        "gcj02",
        (121.5272106, 31.1774276),
        (121.531541859215, 31.17530398364597),
    ),
    (
        "eviltransform shenzhen",
        "wgs84",
        "gcj02",
        (113.912316, 22.543847),
        (113.9171764808363, 22.540796131694766),
    ),
    (
        "eviltransform beijing",
        "wgs84",
        "gcj02",
        (116.377817, 39.911954),
        (116.38404722455657, 39.91334545536069),
    ),
    # coordtransform (wandergis/coordtransform) README.md, published results for (116.404, 39.915)
    (
        "coordtransform README",
        "wgs84",
        "gcj02",
        (116.404, 39.915),
        (116.41024449916938, 39.91640428150164),
    ),
    (
        "coordtransform README",
        "gcj02",
        "bd09",
        (116.404, 39.915),
        (116.41036949371029, 39.92133699351021),
    ),
    (
        "coordtransform README",
        "bd09",
        "gcj02",
        (116.404, 39.915),
        (116.39762729119315, 39.90865673957631),
    ),
    # gcoord (hujiulong/gcoord) unit tests, test/unit/crs/{WGS84,GCJ02,BD09}.spec.ts, at [123, 45]
    ("gcoord WGS84.spec", "wgs84", "gcj02", (123.0, 45.0), (123.00607541, 45.00197815)),
    ("gcoord WGS84.spec", "wgs84", "bd09", (123.0, 45.0), (123.0124491, 45.0083293)),
    ("gcoord GCJ02.spec", "gcj02", "bd09", (123.0, 45.0), (123.00636499, 45.00636899)),
    ("gcoord BD09.spec", "bd09", "gcj02", (123.0, 45.0), (122.99363304, 44.99365430)),
]

# Inverse vectors: published (input, expected) pairs for the iterative inverses. gcoord's own
# inverse stops at a 1e-6 degree residual, so these are checked to 0.5 m rather than 1e-6 degrees.
REFERENCE_INVERSE = [
    ("gcoord GCJ02.spec", "gcj02", "wgs84", (123.0, 45.0), (122.99395597, 44.99804071)),
    ("gcoord BD09.spec", "bd09", "wgs84", (123.0, 45.0), (122.98762210, 44.99171540)),
]


@pytest.mark.parametrize(("source", "src", "dst", "given", "expected"), REFERENCE)
def test_forward_matches_published_vectors(source, src, dst, given, expected):
    lon, lat = convert_coords(given[0], given[1], src, dst)
    assert abs(float(lon) - expected[0]) <= 1e-6, source
    assert abs(float(lat) - expected[1]) <= 1e-6, source


@pytest.mark.parametrize(("source", "src", "dst", "given", "expected"), REFERENCE)
def test_inverse_of_published_vectors_within_half_metre(source, src, dst, given, expected):
    # run the published pair backwards: expected -> given
    lon, lat = convert_coords(expected[0], expected[1], dst, src)
    assert metres(lon, lat, given[0], given[1])[0] < 0.5, source


@pytest.mark.parametrize(("source", "src", "dst", "given", "expected"), REFERENCE_INVERSE)
def test_inverse_matches_published_vectors(source, src, dst, given, expected):
    lon, lat = convert_coords(given[0], given[1], src, dst)
    assert metres(lon, lat, expected[0], expected[1])[0] < 0.5, source


# gcoord (hujiulong/gcoord) test/fixtures/china-cities.json: coordinates of real places near
# Chongqing as returned by the map services (WGS84, GCJ02, BD09; 7 decimals). These are service
# outputs, not formula outputs: their GCJ-02 differs from the public formula by a systematic
# ~5e-6 degrees (≈ 0.6 m), and gcoord itself checks them to 1e-4 degrees. The GCJ-02 → BD-09 step
# matches them to 1e-7, so that is checked to 1e-6; the WGS-84 → GCJ-02 offset to 1e-5 (~1 m).
CITIES = [
    # (name, WGS84, GCJ02, BD09)
    (
        "泸州市 Luzhou",
        (105.4386655, 28.8748404),
        (105.4422659, 28.871815),
        (105.4487888, 28.8776874),
    ),
    (
        "毕节市 Bijie",
        (105.2884121, 27.2873271),
        (105.2916458, 27.2839591),
        (105.2982343, 27.2896767),
    ),
    (
        "资阳市 Ziyang",
        (104.6252411, 30.1317508),
        (104.6276449, 30.1289052),
        (104.6340814, 30.1351581),
    ),
]


@pytest.mark.parametrize(("name", "wgs", "gcj", "bd"), CITIES)
def test_real_map_service_points_near_chongqing(name, wgs, gcj, bd):
    bd_lon, bd_lat = gcj02_to_bd09(*gcj)
    assert abs(float(bd_lon) - bd[0]) <= 1e-6, name
    assert abs(float(bd_lat) - bd[1]) <= 1e-6, name
    gcj_lon, gcj_lat = wgs84_to_gcj02(*wgs)
    assert abs(float(gcj_lon) - gcj[0]) <= 1e-5, name
    assert abs(float(gcj_lat) - gcj[1]) <= 1e-5, name
    wgs_lon, wgs_lat = bd09_to_wgs84(*bd)
    assert metres(wgs_lon, wgs_lat, *wgs)[0] < 1.5, name


# --- round trips and magnitude -----------------------------------------------------------------


@pytest.fixture(scope="module")
def china_points() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(20240601)
    n = 10_000
    # well inside the out_of_china rectangle, so the ≤ 0.01° shift never crosses its edge
    return rng.uniform(73.0, 135.0, n), rng.uniform(18.0, 53.0, n)


def test_round_trip_wgs_gcj_wgs_within_half_metre(china_points):
    lon, lat = china_points
    gcj_lon, gcj_lat = wgs84_to_gcj02(lon, lat)
    assert np.all(metres(lon, lat, gcj_lon, gcj_lat) > 1.0)  # the offset really was applied
    back_lon, back_lat = gcj02_to_wgs84(gcj_lon, gcj_lat)
    err = metres(lon, lat, back_lon, back_lat)
    assert err.max() < 0.5
    assert err.max() < 0.01  # in fact the iteration converges to millimetres


def test_round_trip_gcj_bd_gcj_within_half_metre(china_points):
    lon, lat = china_points
    bd_lon, bd_lat = gcj02_to_bd09(lon, lat)
    back_lon, back_lat = bd09_to_gcj02(bd_lon, bd_lat)
    assert metres(lon, lat, back_lon, back_lat).max() < 0.5


def test_round_trip_wgs_bd_wgs_within_half_metre(china_points):
    lon, lat = china_points
    back_lon, back_lat = bd09_to_wgs84(*wgs84_to_bd09(lon, lat))
    assert metres(lon, lat, back_lon, back_lat).max() < 0.5


def test_inverse_iteration_tolerance_is_honoured(china_points):
    lon, lat = china_points
    gcj_lon, gcj_lat = wgs84_to_gcj02(lon, lat)
    coarse = gcj02_to_wgs84(gcj_lon, gcj_lat, tol=1e-7)
    assert metres(lon, lat, *coarse).max() < 0.5
    one_step = gcj02_to_wgs84(gcj_lon, gcj_lat, max_iter=0)  # the classic approximation
    assert metres(lon, lat, *one_step).max() > 0.5


def test_shift_magnitude_near_chongqing():
    lon, lat = CHONGQING
    gcj_lon, gcj_lat = wgs84_to_gcj02(lon, lat)
    dlon, dlat = float(gcj_lon) - lon, float(gcj_lat) - lat
    assert 0.0030 < dlon < 0.0045  # ≈ +0.0038°: east
    assert -0.0035 < dlat < -0.0020  # ≈ -0.0027°: south
    east = metres(lon, lat, lon + dlon, lat)[0]
    south = metres(lon, lat, lon, lat + dlat)[0]
    assert 300 < east < 450
    assert 250 < south < 350
    assert 200 < metres(lon, lat, gcj_lon, gcj_lat)[0] < 700


def test_bd09_is_further_shifted_than_gcj02_near_chongqing():
    lon, lat = CHONGQING
    gcj = wgs84_to_gcj02(lon, lat)
    bd = wgs84_to_bd09(lon, lat)
    # the BD-09 step adds roughly another +0.0065° lon / +0.006° lat
    assert 0.005 < float(bd[0] - gcj[0]) < 0.008
    assert 0.005 < float(bd[1] - gcj[1]) < 0.008


# --- outside China, NaN, shapes ------------------------------------------------------------------

OUTSIDE = np.array([[13.40, 52.52], [-74.0, 40.7], [139.69, 35.69], [151.2, -33.87], [0.0, 0.0]])


def test_gcj_offset_not_applied_outside_china():
    lon, lat = OUTSIDE[:, 0], OUTSIDE[:, 1]
    for fn in (wgs84_to_gcj02, gcj02_to_wgs84):
        out_lon, out_lat = fn(lon, lat)
        np.testing.assert_array_equal(out_lon, lon)
        np.testing.assert_array_equal(out_lat, lat)


def test_bd_step_applies_outside_china_like_coordtransform_and_gcoord():
    lon, lat = OUTSIDE[:, 0], OUTSIDE[:, 1]
    bd_lon, bd_lat = wgs84_to_bd09(lon, lat)
    np.testing.assert_array_equal(bd_lon, gcj02_to_bd09(lon, lat)[0])
    np.testing.assert_array_equal(bd_lat, gcj02_to_bd09(lon, lat)[1])
    assert np.all(np.abs(bd_lon - lon) > 1e-3)
    back_lon, back_lat = bd09_to_wgs84(bd_lon, bd_lat)
    assert metres(lon, lat, back_lon, back_lat).max() < 0.5


def test_out_of_china_rectangle_edges():
    # the standard rectangle: 72.004 <= lon <= 137.8347, 0.8293 <= lat <= 55.8271
    lon = np.array([72.0039, 72.0041, 137.8346, 137.8348, 100.0, 100.0, 100.0, 100.0])
    lat = np.array([30.0, 30.0, 30.0, 30.0, 0.8292, 0.8294, 55.8270, 55.8272])
    inside = np.array([False, True, True, False, False, True, True, False])
    out_lon, out_lat = wgs84_to_gcj02(lon, lat)
    np.testing.assert_array_equal(out_lon == lon, ~inside)
    np.testing.assert_array_equal(out_lat == lat, ~inside)


@pytest.mark.parametrize(
    "fn",
    [wgs84_to_gcj02, gcj02_to_wgs84, gcj02_to_bd09, bd09_to_gcj02, wgs84_to_bd09, bd09_to_wgs84],
)
def test_nan_stays_nan_and_never_warns(fn):
    lon = np.array([np.nan, 106.28, np.nan, 106.30, np.inf])
    lat = np.array([29.60, np.nan, np.nan, 29.62, 29.6])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out_lon, out_lat = fn(lon, lat)
    # a point with any NaN coordinate comes out as (NaN, NaN), as in coordtransform
    assert np.all(np.isnan(out_lon[:3]))
    assert np.all(np.isnan(out_lat[:3]))
    assert np.isfinite(out_lon[3])
    assert np.isfinite(out_lat[3])
    expected = fn(lon[3], lat[3])
    assert out_lon[3] == pytest.approx(float(expected[0]), abs=1e-12)
    assert out_lat[3] == pytest.approx(float(expected[1]), abs=1e-12)


def test_scalars_broadcast_and_shapes_are_kept():
    lon = np.linspace(106.0, 106.5, 12).reshape(3, 4)
    out_lon, out_lat = wgs84_to_gcj02(lon, 29.6)
    assert out_lon.shape == out_lat.shape == (3, 4)
    assert out_lon.dtype == np.float64
    scalar_lon, scalar_lat = gcj02_to_wgs84(106.28, 29.6)
    assert np.ndim(scalar_lon) == 0
    assert float(scalar_lon) == pytest.approx(float(gcj02_to_wgs84([106.28], [29.6])[0][0]))
    int_lon, _ = wgs84_to_gcj02(np.array([106]), np.array([29]))
    assert int_lon.dtype == np.float64


def test_inputs_are_not_modified():
    lon = np.array([106.28, 106.30])
    lat = np.array([29.60, 29.62])
    before = lon.copy(), lat.copy()
    for fn in (gcj02_to_wgs84, bd09_to_wgs84, wgs84_to_bd09):
        fn(lon, lat)
    np.testing.assert_array_equal(lon, before[0])
    np.testing.assert_array_equal(lat, before[1])


def test_million_points_use_a_handful_of_vectorised_calls(monkeypatch):
    rng = np.random.default_rng(1)
    lon = rng.uniform(73.0, 135.0, 1_000_000)
    lat = rng.uniform(18.0, 53.0, 1_000_000)
    calls = []
    real_delta = crs._gcj_delta

    def counting_delta(x, y):
        calls.append(np.size(x))
        return real_delta(x, y)

    monkeypatch.setattr(crs, "_gcj_delta", counting_delta)
    out_lon, _ = gcj02_to_wgs84(lon, lat)
    assert out_lon.shape == lon.shape
    assert 1 <= len(calls) <= 10  # independent of the number of points
    assert calls[0] == lon.size


# --- convert_coords ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("src", "dst", "fn"),
    [
        ("wgs84", "gcj02", wgs84_to_gcj02),
        ("GCJ02", "WGS84", gcj02_to_wgs84),
        ("gcj-02", "bd-09", gcj02_to_bd09),
        ("BD09", "gcj02", bd09_to_gcj02),
        ("EPSG:4326", "bd09", wgs84_to_bd09),
        ("bd09", "epsg:4326", bd09_to_wgs84),
    ],
)
def test_convert_coords_dispatches(src, dst, fn):
    lon = np.array([106.28, 106.5])
    lat = np.array([29.60, 29.5])
    got = convert_coords(lon, lat, src, dst)
    want = fn(lon, lat)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


def test_convert_coords_identity_returns_copies():
    lon = np.array([106.28])
    lat = np.array([29.60])
    out_lon, out_lat = convert_coords(lon, lat, "GCJ02", "gcj02")
    np.testing.assert_array_equal(out_lon, lon)
    out_lon[0] = 0.0
    assert lon[0] == 106.28


@pytest.mark.parametrize(("src", "dst"), [("wgs84", "mars"), ("EPSG:4490", "gcj02"), ("", "bd09")])
def test_convert_coords_unknown_name_raises(src, dst):
    with pytest.raises(CRSError, match="unknown coordinate system"):
        convert_coords(106.28, 29.60, src, dst)
    assert issubclass(CRSError, ValueError)


# --- geometries and frames -----------------------------------------------------------------------


@pytest.fixture
def chongqing_geoseries() -> gpd.GeoSeries:
    x, y = CHONGQING
    polygon = Polygon(
        [(x, y), (x + 0.01, y), (x + 0.01, y + 0.01), (x, y + 0.01)],
        holes=[[(x + 0.002, y + 0.002), (x + 0.004, y + 0.002), (x + 0.004, y + 0.004)]],
    )
    line = LineString([(x, y), (x + 0.02, y + 0.01), (x + 0.03, y - 0.01)])
    points = MultiPoint([(x, y), (x + 0.05, y + 0.05)])
    return gpd.GeoSeries([polygon, line, points], index=["a", "b", "c"], name="geom", crs=WGS84)


@pytest.mark.parametrize(
    ("src", "dst"), [("wgs84", "gcj02"), ("gcj02", "wgs84"), ("wgs84", "bd09")]
)
def test_convert_geometries_geoseries(chongqing_geoseries, src, dst):
    gs = chongqing_geoseries
    out = convert_geometries(gs, src, dst)
    assert isinstance(out, gpd.GeoSeries)
    assert list(out.geom_type) == ["Polygon", "LineString", "MultiPoint"]
    assert list(out.index) == ["a", "b", "c"]
    assert out.name == "geom"
    assert out.crs == pyproj.CRS(WGS84)
    assert not shapely.has_z(out.to_numpy()).any()
    np.testing.assert_array_equal(
        shapely.get_num_coordinates(out.to_numpy()), shapely.get_num_coordinates(gs.to_numpy())
    )
    assert len(out.iloc[0].interiors) == 1
    coords = shapely.get_coordinates(gs.to_numpy())
    want_lon, want_lat = convert_coords(coords[:, 0], coords[:, 1], src, dst)
    got = shapely.get_coordinates(out.to_numpy())
    np.testing.assert_array_equal(got[:, 0], want_lon)
    np.testing.assert_array_equal(got[:, 1], want_lat)


def test_convert_geometries_array_scalar_none_and_z():
    x, y = CHONGQING
    arr = np.array([Point(x, y), None, Point(x, y, 250.0), Polygon()], dtype=object)
    out = convert_geometries(arr, "wgs84", "gcj02")
    assert isinstance(out, np.ndarray)
    assert out[1] is None
    assert out[3].is_empty
    assert not out[0].has_z
    assert out[2].has_z
    assert out[2].z == 250.0
    want = wgs84_to_gcj02(x, y)
    assert (out[0].x, out[0].y) == (float(want[0]), float(want[1]))
    assert (out[2].x, out[2].y) == (float(want[0]), float(want[1]))
    single = convert_geometries(Point(x, y), "wgs84", "gcj02")
    assert isinstance(single, Point)
    assert single.equals(out[0])


def test_convert_geometries_rejects_projected_geoseries(chongqing_geoseries):
    with pytest.raises(CRSError, match="EPSG:4326"):
        convert_geometries(chongqing_geoseries.to_crs(DEFAULT_METRIC_CRS), "gcj02", "wgs84")


def test_convert_gdf(chongqing_geoseries):
    gdf = gpd.GeoDataFrame(
        {"name": ["网格一", "道路", "点位"], "households": [300, 0, 2]},
        geometry=chongqing_geoseries.set_crs(None, allow_override=True).to_numpy(),
        crs=None,
    )
    original = gdf.copy()
    out = convert_gdf(gdf, "gcj02", "wgs84")
    assert out is not gdf
    assert out.crs == pyproj.CRS(WGS84)
    assert list(out.columns) == list(gdf.columns)
    assert list(out["name"]) == ["网格一", "道路", "点位"]
    assert gdf.geometry.geom_equals_exact(original.geometry, tolerance=0).all()  # untouched
    assert gdf.crs is None
    expected = convert_geometries(gdf.geometry, "gcj02", "wgs84")
    assert out.geometry.geom_equals_exact(expected, tolerance=0).all()
    # converting back lands within half a metre of the input
    back = convert_gdf(out.set_crs(WGS84), "wgs84", "gcj02")
    a = shapely.get_coordinates(back.geometry.to_numpy())
    b = shapely.get_coordinates(gdf.geometry.to_numpy())
    assert metres(a[:, 0], a[:, 1], b[:, 0], b[:, 1]).max() < 0.5


def test_convert_gdf_keeps_a_renamed_geometry_column(chongqing_geoseries):
    gdf = gpd.GeoDataFrame({"id": [1, 2, 3], "shape": chongqing_geoseries.to_numpy()})
    gdf = gdf.set_geometry("shape", crs=WGS84)
    out = convert_gdf(gdf, "wgs84", "bd09")
    assert out.geometry.name == "shape"
    assert out.crs == pyproj.CRS(WGS84)
    assert not out.geometry.geom_equals_exact(gdf.geometry, tolerance=1e-4).any()


def test_convert_gdf_rejects_metric_frame(chongqing_geoseries):
    gdf = gpd.GeoDataFrame(geometry=chongqing_geoseries.to_crs(DEFAULT_METRIC_CRS))
    with pytest.raises(CRSError):
        convert_gdf(gdf, "gcj02", "wgs84")


# --- metric CRS ----------------------------------------------------------------------------------


def test_metric_crs_chongqing_is_cgcs2000_gk_cm105():
    got = metric_crs(CHONGQING_BOUNDS)
    assert got.to_epsg() == 4544
    assert got == pyproj.CRS(DEFAULT_METRIC_CRS)
    assert got.name == "CGCS2000 / 3-degree Gauss-Kruger CM 105E"
    assert got.is_projected


@pytest.mark.parametrize(
    ("lon", "lat", "cm"),
    [
        (76.0, 39.5, 75),  # Kashgar: first zone
        (87.6, 43.8, 87),  # Ürümqi
        (104.07, 30.67, 105),  # Chengdu
        (106.4, 29.5, 105),  # just west of the CM 105 / CM 108 boundary (106.5)
        (106.6, 29.5, 108),  # just east of it
        (107.4, 29.7, 108),  # Fuling
        (121.47, 31.23, 120),  # Shanghai
        (126.6, 45.75, 126),  # Harbin
        (135.5, 48.0, 135),  # Fuyuan: last zone
    ],
)
def test_metric_crs_picks_nearest_central_meridian(lon, lat, cm):
    got = metric_crs((lon - 0.05, lat - 0.05, lon + 0.05, lat + 0.05))
    assert got.to_epsg() == 4534 + (cm - 75) // 3
    assert got.name == f"CGCS2000 / 3-degree Gauss-Kruger CM {cm}E"


def test_metric_crs_accepts_total_bounds_array():
    gs = gpd.GeoSeries([Point(106.2, 29.5), Point(106.4, 29.7)], crs=WGS84)
    assert metric_crs(gs.total_bounds).to_epsg() == 4544


@pytest.mark.parametrize(
    ("bounds", "epsg"),
    [
        ((13.3, 52.4, 13.5, 52.6), 32633),  # Berlin: UTM 33N
        ((-74.1, 40.6, -73.9, 40.8), 32618),  # New York: UTM 18N
        ((151.1, -33.95, 151.3, -33.8), 32756),  # Sydney: UTM 56S
        ((139.6, 35.6, 139.8, 35.8), 32654),  # Tokyo: outside the China box (lon > 136)
    ],
)
def test_metric_crs_outside_china_is_utm(bounds, epsg):
    got = metric_crs(bounds)
    assert got.to_epsg() == epsg
    assert "UTM zone" in got.name
    assert got.is_projected


def test_metric_crs_empty_bounds_fall_back_to_default():
    empty = gpd.GeoSeries([], crs=WGS84)
    assert metric_crs(empty.total_bounds) == pyproj.CRS(DEFAULT_METRIC_CRS)


def test_metric_crs_polar_raises():
    with pytest.raises(CRSError, match="UTM"):
        metric_crs((10.0, 85.0, 11.0, 86.0))


def test_to_metric_gives_metres():
    lon, lat = CHONGQING
    gdf = gpd.GeoDataFrame(
        {"i": [0, 1]}, geometry=[Point(lon, lat), Point(lon + 0.01, lat)], crs=WGS84
    )
    m = to_metric(gdf)
    assert m.crs.to_epsg() == 4544
    d = m.geometry.iloc[0].distance(m.geometry.iloc[1])
    assert d == pytest.approx(967.0, abs=5.0)
    assert d == pytest.approx(metres(lon, lat, lon + 0.01, lat)[0], rel=1e-3)
    assert gdf.crs == pyproj.CRS(WGS84)  # input untouched


def test_to_metric_from_another_crs_and_geoseries():
    lon, lat = CHONGQING
    gs = gpd.GeoSeries([Point(lon, lat), Point(lon + 0.01, lat)], crs=WGS84).to_crs(3857)
    m = to_metric(gs)
    assert isinstance(m, gpd.GeoSeries)
    assert m.crs.to_epsg() == 4544
    assert m.iloc[0].distance(m.iloc[1]) == pytest.approx(967.0, abs=5.0)


def test_to_metric_without_crs_raises():
    with pytest.raises(CRSError, match="no CRS"):
        to_metric(gpd.GeoDataFrame(geometry=[Point(*CHONGQING)]))


# --- ensure_wgs84 --------------------------------------------------------------------------------


def test_ensure_wgs84_reprojects_metric_frame():
    lon, lat = CHONGQING
    gdf = gpd.GeoDataFrame(
        {"i": [0, 1]}, geometry=[Point(lon, lat), Point(lon + 0.01, lat + 0.01)], crs=WGS84
    )
    metric = gdf.to_crs(DEFAULT_METRIC_CRS)
    assert metric.geometry.iloc[0].x > 1000  # really metres
    back = ensure_wgs84(metric)
    assert back.crs.to_epsg() == 4326
    np.testing.assert_allclose(
        shapely.get_coordinates(back.geometry.to_numpy()),
        shapely.get_coordinates(gdf.geometry.to_numpy()),
        atol=1e-9,
    )


def test_ensure_wgs84_keeps_wgs84_as_is():
    gdf = gpd.GeoDataFrame(geometry=[Point(*CHONGQING)], crs=WGS84)
    assert ensure_wgs84(gdf) is gdf


def test_ensure_wgs84_missing_crs_raises():
    gdf = gpd.GeoDataFrame(geometry=[Point(*CHONGQING)])
    with pytest.raises(CRSError, match="no CRS"):
        ensure_wgs84(gdf)
    with pytest.raises(ValueError, match="set_crs"):
        ensure_wgs84(gdf.geometry)
