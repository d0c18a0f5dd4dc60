"""Coordinate reference systems: storage CRS, metric CRS and China's obfuscated web-map datums.

Everything the library stores is in WGS-84 longitude/latitude (``EPSG:4326``). Lengths, areas and
distances are measured in a metric CRS: in China the CGCS2000 3-degree Gauss-Krüger zone (the
"CM" variants, EPSG:4534 … EPSG:4554) whose central meridian is nearest the data, elsewhere the
data's UTM zone. For Chongqing (about 106.28°E, 29.60°N) that is EPSG:4544,
*CGCS2000 / 3-degree Gauss-Kruger CM 105E*.

Chinese web maps use two datums that PROJ does not know, so they are converted here explicitly:

* **GCJ-02** ("Mars coordinates"; AMap/Gaode, Tencent, Google Maps in China): WGS-84 plus a
  non-linear offset of a few hundred metres, defined on the Krasovsky 1940 ellipsoid
  (``a = 6378245.0``, ``ee = 0.00669342162296594323``).
* **BD-09** (Baidu): GCJ-02 with a further rotation/scaling around the origin and a fixed shift.

The formulas are the standard public ones shared by ``coordtransform`` (wandergis),
``eviltransform`` (googollee), ``gcoord`` (hujiulong) and ``PRCoords`` (Artoria2e5):

* The GCJ-02 offset is applied only inside the usual rough "in China" rectangle
  (72.004 ≤ lon ≤ 137.8347, 0.8293 ≤ lat ≤ 55.8271); points outside are returned unchanged,
  exactly as every one of those libraries does.
* The BD-09 step (:func:`gcj02_to_bd09`, :func:`bd09_to_gcj02`) is applied *everywhere*, without
  the rectangle test, as ``coordtransform``, ``gcoord`` and ``PRCoords`` do (``eviltransform``
  alone skips it outside China). Baidu's own API returns BD-09 coordinates worldwide.
* :func:`gcj02_to_wgs84` is the *exact* inverse (fixed-point iteration to well under a
  millimetre), not the one-step approximation (error of a few metres) that ``coordtransform``
  ships as ``gcj02towgs84``. :func:`bd09_to_gcj02` is the standard closed-form inverse, good to
  about 1e-7 degrees (centimetres).

All array conversions are vectorised with numpy: they take longitudes and latitudes as scalars or
arrays (broadcast against each other) and return two float64 arrays of the broadcast shape (0-d
arrays for scalar input). NaN inputs give NaN outputs and never raise or warn: a point with a NaN
coordinate comes out as ``(NaN, NaN)``, as in the reference implementations.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, overload

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pyproj
import shapely
from pyproj.aoi import AreaOfInterest
from pyproj.database import query_utm_crs_info

from .errors import LayersError

__all__ = [
    "DEFAULT_METRIC_CRS",
    "WGS84",
    "CRSError",
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "convert_coords",
    "convert_gdf",
    "convert_geometries",
    "ensure_wgs84",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "metric_crs",
    "to_metric",
    "wgs84_to_bd09",
    "wgs84_to_gcj02",
]

WGS84 = "EPSG:4326"
"""The storage CRS: WGS-84 longitude/latitude in degrees."""

DEFAULT_METRIC_CRS = "EPSG:4544"
"""CGCS2000 / 3-degree Gauss-Kruger CM 105E: the metric CRS for Chongqing."""

FloatArray = npt.NDArray[np.float64]
GeoT = TypeVar("GeoT", gpd.GeoDataFrame, gpd.GeoSeries)

# --- constants of the public GCJ-02 / BD-09 formulas -------------------------------------------
_KRASOVSKY_A = 6378245.0
_KRASOVSKY_EE = 0.00669342162296594323
_X_PI = np.pi * 3000.0 / 180.0
_BD_DLON = 0.0065
_BD_DLAT = 0.006

# the rough "in China" rectangle used by every common implementation (out_of_china)
_CHINA_MIN_LON, _CHINA_MAX_LON = 72.004, 137.8347
_CHINA_MIN_LAT, _CHINA_MAX_LAT = 0.8293, 55.8271

# where a CGCS2000 Gauss-Krüger zone is preferred over UTM (centre of the data's extent)
_GK_MIN_LON, _GK_MAX_LON = 73.0, 136.0
_GK_MIN_LAT, _GK_MAX_LAT = 3.0, 54.0
_GK_FIRST_CM, _GK_LAST_CM = 75, 135  # EPSG:4534 … EPSG:4554 ("CM" variants, no zone prefix)
_GK_FIRST_EPSG = 4534

_GCJ_INVERSE_TOL = 1e-9  # degrees (≈ 0.1 mm); far inside the 0.5 m the library needs
_GCJ_INVERSE_MAX_ITER = 20  # the fixed point contracts by ~1e-2 per step: ~5 steps suffice


class CRSError(LayersError):
    """A CRS is missing, unknown or unsuitable for the requested operation.

    Subclasses :class:`ValueError` (through :class:`layers.errors.LayersError`).
    """


# --- helpers ------------------------------------------------------------------------------------


def _as_float_pair(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Broadcast ``lon`` and ``lat`` against each other as fresh, writable float64 arrays."""
    lon_b, lat_b = np.broadcast_arrays(
        np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)
    )
    return np.array(lon_b, dtype=np.float64), np.array(lat_b, dtype=np.float64)


def _in_china(lon: FloatArray, lat: FloatArray) -> npt.NDArray[np.bool_]:
    """``not out_of_china``: the standard rectangle test of coordtransform & co.

    Like those implementations it only *excludes* points beyond the rectangle, so a point with
    a NaN coordinate counts as inside and the formula turns it into ``(NaN, NaN)``.
    """
    return ~(
        (lon < _CHINA_MIN_LON)
        | (lon > _CHINA_MAX_LON)
        | (lat < _CHINA_MIN_LAT)
        | (lat > _CHINA_MAX_LAT)
    )


def _gcj_delta(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    """GCJ-02 offset (degrees) at WGS-84 ``lon``/``lat``, without the in-China test."""
    x = lon - 105.0
    y = lat - 35.0
    with np.errstate(invalid="ignore", over="ignore"):
        common = (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
        sqrt_abs_x = np.sqrt(np.abs(x))
        dlat_m = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sqrt_abs_x + common
        dlat_m += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
        dlat_m += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
        dlon_m = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sqrt_abs_x + common
        dlon_m += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
        dlon_m += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0

        rad_lat = lat / 180.0 * np.pi
        magic = 1.0 - _KRASOVSKY_EE * np.sin(rad_lat) ** 2
        sqrt_magic = np.sqrt(magic)
        dlat = (dlat_m * 180.0) / (
            (_KRASOVSKY_A * (1.0 - _KRASOVSKY_EE)) / (magic * sqrt_magic) * np.pi
        )
        dlon = (dlon_m * 180.0) / (_KRASOVSKY_A / sqrt_magic * np.cos(rad_lat) * np.pi)
    return dlon, dlat


# --- array conversions --------------------------------------------------------------------------


def wgs84_to_gcj02(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Convert WGS-84 longitude/latitude to GCJ-02 (AMap/Gaode, Tencent).

    Parameters
    ----------
    lon, lat
        WGS-84 degrees; scalars or arrays, broadcast against each other.

    Returns
    -------
    tuple of numpy.ndarray
        GCJ-02 ``(lon, lat)`` as float64 arrays of the broadcast shape. Points outside the rough
        China rectangle are returned unchanged; a point with a NaN coordinate becomes
        ``(NaN, NaN)``.
    """
    lon_a, lat_a = _as_float_pair(lon, lat)
    inside = _in_china(lon_a, lat_a)
    dlon, dlat = _gcj_delta(lon_a, lat_a)
    return np.where(inside, lon_a + dlon, lon_a), np.where(inside, lat_a + dlat, lat_a)


def gcj02_to_wgs84(
    lon: npt.ArrayLike,
    lat: npt.ArrayLike,
    *,
    tol: float = _GCJ_INVERSE_TOL,
    max_iter: int = _GCJ_INVERSE_MAX_ITER,
) -> tuple[FloatArray, FloatArray]:
    """Convert GCJ-02 longitude/latitude back to WGS-84 (exact inverse by fixed-point iteration).

    Starting from the usual one-step approximation ``wgs = gcj - delta(gcj)``, every point is
    refined with ``wgs -= wgs84_to_gcj02(wgs) - gcj`` until its residual is below ``tol`` degrees
    in both axes. Each round works on the whole set of not-yet-converged points at once and
    drops the converged ones, so the loop runs a handful of times for any array size.

    Parameters
    ----------
    lon, lat
        GCJ-02 degrees; scalars or arrays, broadcast against each other.
    tol
        Convergence threshold on the forward residual, in degrees (default 1e-9, ≈ 0.1 mm).
    max_iter
        Upper bound on refinement rounds; a point still above ``tol`` then keeps its last
        estimate (never observed for finite input: the map contracts by ~1e-2 per round).

    Returns
    -------
    tuple of numpy.ndarray
        WGS-84 ``(lon, lat)`` as float64 arrays of the broadcast shape. Points whose GCJ-02
        input is outside the rough China rectangle are returned unchanged; a point with a NaN
        coordinate becomes ``(NaN, NaN)`` (and is not iterated on).
    """
    lon_a, lat_a = _as_float_pair(lon, lat)
    shape = lon_a.shape
    out_lon = lon_a.ravel()
    out_lat = lat_a.ravel()

    idx = np.flatnonzero(_in_china(out_lon, out_lat))
    gcj_lon = out_lon[idx]
    gcj_lat = out_lat[idx]
    dlon, dlat = _gcj_delta(gcj_lon, gcj_lat)
    wgs_lon = gcj_lon - dlon
    wgs_lat = gcj_lat - dlat
    out_lon[idx] = wgs_lon
    out_lat[idx] = wgs_lat

    for _ in range(max_iter):
        if idx.size == 0:
            break
        # the offset is evaluated without the rectangle test so points near its edge converge
        dlon, dlat = _gcj_delta(wgs_lon, wgs_lat)
        res_lon = wgs_lon + dlon - gcj_lon
        res_lat = wgs_lat + dlat - gcj_lat
        wgs_lon = wgs_lon - res_lon
        wgs_lat = wgs_lat - res_lat
        out_lon[idx] = wgs_lon
        out_lat[idx] = wgs_lat
        todo = (np.abs(res_lon) >= tol) | (np.abs(res_lat) >= tol)
        idx, gcj_lon, gcj_lat = idx[todo], gcj_lon[todo], gcj_lat[todo]
        wgs_lon, wgs_lat = wgs_lon[todo], wgs_lat[todo]

    return out_lon.reshape(shape), out_lat.reshape(shape)


def gcj02_to_bd09(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Convert GCJ-02 longitude/latitude to BD-09 (Baidu).

    Applied everywhere, without the in-China test (as ``coordtransform``, ``gcoord`` and
    ``PRCoords`` do).

    Parameters
    ----------
    lon, lat
        GCJ-02 degrees; scalars or arrays, broadcast against each other.

    Returns
    -------
    tuple of numpy.ndarray
        BD-09 ``(lon, lat)`` as float64 arrays of the broadcast shape; NaN stays NaN.
    """
    x, y = _as_float_pair(lon, lat)
    with np.errstate(invalid="ignore"):
        z = np.hypot(x, y) + 0.00002 * np.sin(y * _X_PI)
        theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _X_PI)
        return z * np.cos(theta) + _BD_DLON, z * np.sin(theta) + _BD_DLAT


def bd09_to_gcj02(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Convert BD-09 (Baidu) longitude/latitude to GCJ-02 (standard closed-form inverse).

    Applied everywhere, without the in-China test. Accurate to about 1e-7 degrees.

    Parameters
    ----------
    lon, lat
        BD-09 degrees; scalars or arrays, broadcast against each other.

    Returns
    -------
    tuple of numpy.ndarray
        GCJ-02 ``(lon, lat)`` as float64 arrays of the broadcast shape; NaN stays NaN.
    """
    lon_a, lat_a = _as_float_pair(lon, lat)
    x = lon_a - _BD_DLON
    y = lat_a - _BD_DLAT
    with np.errstate(invalid="ignore"):
        z = np.hypot(x, y) - 0.00002 * np.sin(y * _X_PI)
        theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
        return z * np.cos(theta), z * np.sin(theta)


def wgs84_to_bd09(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Convert WGS-84 longitude/latitude to BD-09: :func:`wgs84_to_gcj02` then :func:`gcj02_to_bd09`.

    Parameters
    ----------
    lon, lat
        WGS-84 degrees; scalars or arrays, broadcast against each other.

    Returns
    -------
    tuple of numpy.ndarray
        BD-09 ``(lon, lat)``. Outside China only the BD-09 step applies; NaN stays NaN.
    """
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Convert BD-09 longitude/latitude to WGS-84: :func:`bd09_to_gcj02` then :func:`gcj02_to_wgs84`.

    Parameters
    ----------
    lon, lat
        BD-09 degrees; scalars or arrays, broadcast against each other.

    Returns
    -------
    tuple of numpy.ndarray
        WGS-84 ``(lon, lat)``. Outside China only the BD-09 step is undone; NaN stays NaN.
    """
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


def _identity(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    return _as_float_pair(lon, lat)


_Converter = Callable[[npt.ArrayLike, npt.ArrayLike], tuple[FloatArray, FloatArray]]

_CONVERTERS: dict[tuple[str, str], _Converter] = {
    ("wgs84", "gcj02"): wgs84_to_gcj02,
    ("gcj02", "wgs84"): gcj02_to_wgs84,
    ("gcj02", "bd09"): gcj02_to_bd09,
    ("bd09", "gcj02"): bd09_to_gcj02,
    ("wgs84", "bd09"): wgs84_to_bd09,
    ("bd09", "wgs84"): bd09_to_wgs84,
}

_ALIASES = {
    "wgs84": "wgs84",
    "epsg:4326": "wgs84",
    "gcj02": "gcj02",
    "bd09": "bd09",
}


def _datum_name(name: object) -> str:
    """Normalise a datum name ("WGS84", "gcj-02", "EPSG:4326" …) to wgs84/gcj02/bd09."""
    if isinstance(name, str):
        key = name.strip().lower().replace("-", "").replace("_", "")
        if key in _ALIASES:
            return _ALIASES[key]
    raise CRSError(
        f"unknown coordinate system {name!r}; expected one of 'wgs84' (or 'EPSG:4326'), "
        "'gcj02', 'bd09' (case-insensitive)"
    )


def _converter(src: str, dst: str) -> _Converter:
    key = (_datum_name(src), _datum_name(dst))
    return _identity if key[0] == key[1] else _CONVERTERS[key]


def convert_coords(
    lon: npt.ArrayLike, lat: npt.ArrayLike, src: str, dst: str
) -> tuple[FloatArray, FloatArray]:
    """Convert longitude/latitude arrays between WGS-84, GCJ-02 and BD-09.

    Parameters
    ----------
    lon, lat
        Degrees in ``src``; scalars or arrays, broadcast against each other.
    src, dst
        ``"wgs84"`` (also ``"EPSG:4326"``), ``"gcj02"`` or ``"bd09"``; case-insensitive,
        hyphens allowed (``"GCJ-02"``).

    Returns
    -------
    tuple of numpy.ndarray
        ``(lon, lat)`` in ``dst`` as new float64 arrays (a copy when ``src == dst``).

    Raises
    ------
    CRSError
        If ``src`` or ``dst`` is not one of the names above.
    """
    return _converter(src, dst)(lon, lat)


# --- geometries and frames ----------------------------------------------------------------------


def _require_lonlat_crs(crs: pyproj.CRS | None, what: str) -> None:
    """Raise unless ``crs`` is missing or WGS-84 lon/lat (how GCJ-02/BD-09 data is carried)."""
    if crs is None:
        return
    if crs.to_epsg() == 4326 or crs.equals(WGS84, ignore_axis_order=True):
        return
    raise CRSError(
        f"{what} has CRS {crs.to_string()!r}; WGS-84/GCJ-02/BD-09 conversion needs lon/lat "
        "degrees carried as EPSG:4326 (or no CRS). Reproject with ensure_wgs84() first."
    )


@overload
def convert_geometries(geoms: gpd.GeoSeries, src: str, dst: str) -> gpd.GeoSeries: ...
@overload
def convert_geometries(  # type: ignore[overload-cannot-match]  # gpd: Any
    geoms: shapely.Geometry, src: str, dst: str) -> shapely.Geometry: ...
@overload
def convert_geometries(  # type: ignore[overload-cannot-match]  # gpd: Any
    geoms: npt.ArrayLike, src: str, dst: str) -> npt.NDArray[np.object_]: ...


def convert_geometries(geoms: Any, src: str, dst: str) -> Any:
    """Convert shapely geometries between WGS-84, GCJ-02 and BD-09.

    All coordinates go through one vectorised :func:`shapely.transform` call. Geometry types,
    vertex counts, missing geometries (``None``) and Z values (present or absent) are preserved.

    Parameters
    ----------
    geoms
        A :class:`geopandas.GeoSeries`, a numpy array (or list) of shapely geometries, or one
        geometry, with lon/lat degrees in ``src``. A GeoSeries must have no CRS or EPSG:4326.
    src, dst
        ``"wgs84"`` (also ``"EPSG:4326"``), ``"gcj02"`` or ``"bd09"``; case-insensitive.

    Returns
    -------
    geopandas.GeoSeries, numpy.ndarray or shapely.Geometry
        The same kind as ``geoms``: a GeoSeries keeps its index and name and gets CRS EPSG:4326;
        an array keeps its shape.

    Raises
    ------
    CRSError
        For an unknown datum name, or a GeoSeries in a CRS other than EPSG:4326.
    """
    convert = _converter(src, dst)

    def _transform(coords: FloatArray) -> FloatArray:
        out = coords.copy()
        out[:, 0], out[:, 1] = convert(coords[:, 0], coords[:, 1])
        return out

    if isinstance(geoms, gpd.GeoSeries):
        _require_lonlat_crs(geoms.crs, "the GeoSeries")
        values = shapely.transform(geoms.to_numpy(), _transform, include_z=True)
        return gpd.GeoSeries(values, index=geoms.index, name=geoms.name, crs=WGS84)
    return shapely.transform(geoms, _transform, include_z=True)


def convert_gdf(gdf: gpd.GeoDataFrame, src: str, dst: str) -> gpd.GeoDataFrame:
    """Return a copy of ``gdf`` with its active geometry converted between WGS-84/GCJ-02/BD-09.

    GCJ-02 and BD-09 frames are expected to carry lon/lat degrees with CRS EPSG:4326 or no CRS;
    the result always has CRS EPSG:4326. Other geometry columns, if any, are copied unchanged.

    Parameters
    ----------
    gdf
        The frame to convert (not modified).
    src, dst
        ``"wgs84"`` (also ``"EPSG:4326"``), ``"gcj02"`` or ``"bd09"``; case-insensitive.

    Returns
    -------
    geopandas.GeoDataFrame
        A new frame with converted geometry and CRS EPSG:4326.

    Raises
    ------
    CRSError
        For an unknown datum name, or a frame in a CRS other than EPSG:4326.
    """
    _require_lonlat_crs(gdf.crs, "the GeoDataFrame")
    geometry = gdf.geometry
    out = gdf.copy()
    out[geometry.name] = convert_geometries(geometry, src, dst)
    return out.set_crs(WGS84, allow_override=True)


# --- CRS choice and reprojection -----------------------------------------------------------------


def _gk_epsg(lon: float) -> int:
    """EPSG code of the CGCS2000 3-degree GK "CM" zone whose central meridian is nearest ``lon``."""
    cm = _GK_FIRST_CM + 3 * int(np.floor((lon - _GK_FIRST_CM) / 3.0 + 0.5))
    cm = min(max(cm, _GK_FIRST_CM), _GK_LAST_CM)
    return _GK_FIRST_EPSG + (cm - _GK_FIRST_CM) // 3


def metric_crs(bounds: tuple[float, float, float, float] | npt.ArrayLike) -> pyproj.CRS:
    """Choose a metric CRS for data with the given WGS-84 bounds.

    Parameters
    ----------
    bounds
        ``(minx, miny, maxx, maxy)`` in WGS-84 lon/lat degrees, e.g. ``gdf.total_bounds``.
        ``minx > maxx`` is read as an extent crossing the antimeridian.

    Returns
    -------
    pyproj.CRS
        When the centre of the bounds is inside China's rough extent (lon 73–136, lat 3–54): the
        CGCS2000 3-degree Gauss-Krüger "CM" zone (EPSG:4534 = CM 75E … EPSG:4554 = CM 135E)
        whose central meridian is nearest the centre longitude, e.g. EPSG:4544 (CM 105E) for
        Chongqing. Elsewhere: the WGS-84 UTM zone of the centre, chosen as
        :meth:`geopandas.GeoDataFrame.estimate_utm_crs` does. Non-finite bounds (an empty
        layer) give :data:`DEFAULT_METRIC_CRS`.

    Raises
    ------
    CRSError
        If no UTM zone covers the centre (beyond 84°N / 80°S).
    """
    minx, miny, maxx, maxy = (float(v) for v in np.asarray(bounds, dtype=np.float64).ravel())
    if not np.all(np.isfinite([minx, miny, maxx, maxy])):
        return pyproj.CRS.from_user_input(DEFAULT_METRIC_CRS)
    if minx > maxx:  # crosses the antimeridian
        cx = ((minx + maxx + 360.0) / 2.0 + 180.0) % 360.0 - 180.0
    else:
        cx = (minx + maxx) / 2.0
    cy = (miny + maxy) / 2.0

    if _GK_MIN_LON <= cx <= _GK_MAX_LON and _GK_MIN_LAT <= cy <= _GK_MAX_LAT:
        return pyproj.CRS.from_epsg(_gk_epsg(cx))

    infos = query_utm_crs_info(
        datum_name="WGS 84",
        area_of_interest=AreaOfInterest(
            west_lon_degree=cx, south_lat_degree=cy, east_lon_degree=cx, north_lat_degree=cy
        ),
    )
    if not infos:
        raise CRSError(
            f"no UTM zone covers lon {cx:.4f}, lat {cy:.4f}; pass a metric CRS explicitly"
        )
    return pyproj.CRS.from_authority(infos[0].auth_name, infos[0].code)


def _require_crs(crs: pyproj.CRS | None) -> pyproj.CRS:
    """Return ``crs``, or raise :class:`CRSError` with a clear message when it is missing."""
    if crs is None:
        raise CRSError(
            "the data has no CRS, so it cannot be placed on the map; set one with "
            "gdf.set_crs(...) — 'EPSG:4326' for lon/lat degrees (GCJ-02/BD-09 degrees are "
            "carried as EPSG:4326 too, then converted with convert_gdf)"
        )
    return crs


def ensure_wgs84(gdf: GeoT) -> GeoT:
    """Return ``gdf`` in WGS-84 (EPSG:4326), reprojecting when it is in any other CRS.

    Parameters
    ----------
    gdf
        A GeoDataFrame or GeoSeries with a CRS.

    Returns
    -------
    geopandas.GeoDataFrame or geopandas.GeoSeries
        ``gdf`` itself when it is already EPSG:4326, otherwise a reprojected copy.

    Raises
    ------
    CRSError
        If ``gdf`` has no CRS.
    """
    crs = _require_crs(gdf.crs)
    if crs.to_epsg() == 4326:
        return gdf
    return gdf.to_crs(WGS84)


def to_metric(gdf: GeoT) -> GeoT:
    """Reproject ``gdf`` to the metric CRS chosen by :func:`metric_crs` for its WGS-84 extent.

    Parameters
    ----------
    gdf
        A GeoDataFrame or GeoSeries with a CRS.

    Returns
    -------
    geopandas.GeoDataFrame or geopandas.GeoSeries
        A copy in metres (CGCS2000 Gauss-Krüger in China, UTM elsewhere).

    Raises
    ------
    CRSError
        If ``gdf`` has no CRS.
    """
    crs = _require_crs(gdf.crs)
    bounds = gdf.total_bounds
    if crs.to_epsg() != 4326 and np.all(np.isfinite(bounds)):
        # only the extent is needed: reproject the (densified) bounding box, not every vertex
        to_wgs84 = pyproj.Transformer.from_crs(crs, WGS84, always_xy=True)
        minx, miny, maxx, maxy = bounds
        bounds = np.asarray(to_wgs84.transform_bounds(minx, miny, maxx, maxy, densify_pts=21))
    return gdf.to_crs(metric_crs(tuple(bounds)))
