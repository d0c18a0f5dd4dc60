"""Local OpenStreetMap extracts as frames of the layer contract (no network call).

:func:`read_extract` parses a ``.osm``, ``.osm.bz2`` or ``.osm.gz`` file once with osmnx
``features_from_xml`` and turns its features into:

- **buildings** (polygons; a multipolygon relation as its largest part; a building mapped as a
  point is left out, in ``dropped``): ``name`` from ``name``, else the address, else
  ``楼栋 OSM w…``; ``floors`` from ``building:levels`` (else unknown where the contract allows
  it, else ``Settings.osm_default_levels`` for homes and 1 for others); ``has_elevator`` from 7 floors (GB 50096); ``year_built`` from ``start_date``;
  ``households`` by the rule below; ``code`` and ``grid_code`` are left for the caller (they
  need grids);
- **roads**: ways with a walkable ``highway`` value as LineStrings with ``name`` and a contract
  ``kind`` (:data:`HIGHWAY_KINDS`; motorways, construction and ``foot=no`` are left out) — the
  walking network kept in a store's ``roads`` layer;
- **care points**: kindergartens and childcare (child care kinds), nursing homes and social
  facilities for the elderly (elder care kinds), as points;
- **parking** (``amenity=parking``), see below;
- **administrative boundaries** of ``Settings.osm_admin_levels`` that close into polygons.

**Households.** Only residential buildings get households: ``building`` one of
``Settings.osm_residential_buildings``, or ``building=yes`` whose inner point lies in a
``landuse=residential`` area. They get footprint (m²) × levels ÷
``Settings.osm_m2_per_household`` (at least 1), levels from ``building:levels`` or
``Settings.osm_default_levels``. Every other building (school, commercial, gym, station,
retail, …) gets 0. A ``households`` or ``building:flats`` tag always wins. The column
``households_source`` says which applied (``tag``, ``estimate``, ``non_residential``).

**Parking.** ``capacity`` is the *public* supply every analysis counts:

- ``access=private`` (or ``no``): kept, with ``public`` false and ``capacity`` 0; the spaces
  it has are in ``spaces``;
- the ``capacity`` tag when there is one; a surface car park drawn as an area without one:
  area ÷ ``Settings.osm_m2_per_parking_space``; an underground or multi-storey car park (or a
  point) without one: **unknown** — ``None`` when the contract's ``parking.capacity`` is
  nullable, else 0 with ``capacity_source == "unknown"`` (the documented sentinel);
- ``fee=no`` → ``fee`` 0; ``fee=yes`` is "paid, price unknown": ``fee_status == "paid"`` and
  ``fee`` ``NaN`` when the contract's ``parking.fee`` is nullable, else 0 (sentinel: read
  ``fee_status``, never ``fee`` alone); no ``fee`` tag: ``fee_status == "unknown"``.

Extra columns (the contract welcomes them): ``osm_id`` (``n``/``w``/``r`` + id) everywhere;
buildings ``building``, ``residential``, ``households_source``; parking ``access``,
``public``, ``spaces``, ``capacity_source``, ``fee_status``; care points ``capacity_known``.

Data © OpenStreetMap contributors, ODbL: keep :data:`OSM_ATTRIBUTION` beside anything made
from it (a store's metadata ``attribution``; the map shows :data:`OSM_MAP_ATTRIBUTION`).
"""

from __future__ import annotations

import os
import warnings
import xml.sax
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from . import crs as lcrs
from .errors import LayersError
from .schema import spec
from .settings import DEFAULT_SETTINGS, Settings

OSM_ATTRIBUTION = ("© OpenStreetMap contributors, Open Database License 1.0 "
                   "(https://www.openstreetmap.org/copyright)")
#: What a map drawing OSM-derived data shows in its attribution corner.
OSM_MAP_ATTRIBUTION = "© OpenStreetMap contributors"
OSM_LICENCE = "ODbL-1.0 (https://opendatacommons.org/licenses/odbl/1-0/)"
OSM_SUFFIXES = (".osm", ".osm.bz2", ".osm.gz")

#: Walkable ``highway`` values → the contract's road kinds; other values are left out.
HIGHWAY_KINDS: dict[str, str] = {
    **dict.fromkeys(("trunk", "trunk_link", "primary", "primary_link"), "primary"),
    **dict.fromkeys(("secondary", "secondary_link", "tertiary", "tertiary_link"), "secondary"),
    **dict.fromkeys(("residential", "living_street", "unclassified", "service", "road"),
                    "residential"),
    "track": "village",
    **dict.fromkeys(("footway", "pedestrian", "path", "steps", "cycleway", "bridleway",
                     "corridor"), "path"),
}
_NO_FOOT = ("no", "use_sidepath")

#: ``amenity`` → care kind; social facilities are decided from their other tags.
CARE_AMENITIES = {"kindergarten": "kindergarten", "childcare": "nursery",
                  "nursing_home": "elder_day_care"}
_ELDERLY = ("senior", "elderly", "aged")
_CHILDREN = ("child", "children", "juvenile")
_CARE_NAMES = {"kindergarten": "幼儿园", "nursery": "托育点", "elder_day_care": "养老院",
               "elder_station": "养老服务站"}
_STREET_PARKING = ("street_side", "lane", "on_street", "on_kerb", "half_on_kerb")
_INDOOR_PARKING = ("underground", "multi-storey", "rooftop")
_PRIVATE = ("private", "no")

#: The tags read from an extract (one parse for every layer).
FEATURE_TAGS: dict[str, bool | str | list[str]] = {
    "building": True, "highway": True, "landuse": "residential",
    "amenity": [*CARE_AMENITIES, "social_facility", "parking"], "social_facility": True,
    "boundary": "administrative"}


class OsmError(LayersError):
    """An OSM extract cannot be read (missing, not OSM XML, no usable features)."""


@dataclass
class OsmLayers:
    """What an extract holds, as frames in WGS-84 (see the module docstring for columns)."""

    source: str
    buildings: gpd.GeoDataFrame
    roads: gpd.GeoDataFrame
    care_points: gpd.GeoDataFrame
    parking: gpd.GeoDataFrame
    boundaries: gpd.GeoDataFrame
    #: features left out and why: ``osm_id``, ``name``, ``layer``, ``reason``
    dropped: pd.DataFrame = field(default_factory=lambda: dropped_frame([], [], "", ""))


def is_osm(path: str | os.PathLike[str]) -> bool:
    """True for an OSM XML file name (``.osm``, ``.osm.bz2``, ``.osm.gz``)."""
    return str(path).lower().endswith(OSM_SUFFIXES)


def read_extract(path: str | os.PathLike[str], *,
                 settings: Settings = DEFAULT_SETTINGS) -> OsmLayers:
    """Read every layer an OSM extract can fill (the file is parsed once, offline).

    Raises
    ------
    OsmError
        The file is missing, not an OSM XML file, or holds none of the features read.
    """
    f = read_features(path)
    b, dropped = buildings(f, settings)
    return OsmLayers(Path(path).name, b, roads(f), care_points(f, settings),
                     parking(f, settings), admin_boundaries(f, settings), dropped)


def read_features(path: str | os.PathLike[str]) -> gpd.GeoDataFrame:
    """The extract's features with the tags of :data:`FEATURE_TAGS`, flat, with ``osm_id``."""
    import osmnx as ox

    p = Path(path)
    if not p.is_file():
        raise OsmError(f"{p}: no such file")
    if not is_osm(p):
        raise OsmError(f"{p}: not an OSM extract (.osm, .osm.bz2 or .osm.gz)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            f = _features_from_xml(ox, p)
    except Exception as exc:  # osmnx raises several kinds for bad or empty files
        raise OsmError(f"{p}: no usable OSM features ({exc})") from exc
    f = f.reset_index()
    f["osm_id"] = (f["element"].astype(str).str[0] + f["id"].astype(str)).to_numpy()
    return f.set_crs("EPSG:4326", allow_override=True)


def _features_from_xml(ox: ModuleType, path: Path) -> gpd.GeoDataFrame:
    """osmnx ``features_from_xml`` without its first pass: it parses the whole file into an
    ElementTree only to read the root's ``generator`` attribute, then again with SAX — the
    first pass was 40 % of the time on a 90 MB extract. Same SAX handler, same feature
    builder; the public function when osmnx's internals differ."""
    try:
        from osmnx import _osm_xml
        from osmnx.features import _create_gdf

        handler = _osm_xml._OSMContentHandler()
        opener = _osm_xml._open_file
    except (ImportError, AttributeError):  # another osmnx: the public path
        return ox.features_from_xml(path, tags=FEATURE_TAGS)
    with opener(path, "utf-8") as fh:
        xml.sax.parse(fh, handler)  # a local file the user chose, as osmnx parses it
    gdf = _create_gdf([handler.object], shapely.Polygon(), FEATURE_TAGS)
    return gdf.drop(columns=list(set(gdf.columns) & {"changeset", "timestamp", "uid", "user",
                                                     "version"}))


def _col(f: pd.DataFrame, name: str) -> pd.Series:
    """Tag ``name`` as text (missing → NaN), whether or not any feature has it."""
    if name not in f:
        return pd.Series(np.nan, index=f.index, dtype=object)
    return f[name].astype(object).where(f[name].notna(), np.nan)


def _number(f: pd.DataFrame, name: str) -> pd.Series:
    """Tag ``name`` as a number (``6``, ``6.5``; ``6;7`` and text → NaN)."""
    return pd.to_numeric(_col(f, name), errors="coerce").astype(float)


def _nullable(layer: str, column: str) -> bool:
    return spec(layer).field(column).nullable


def _unknown(layer: str, column: str, sentinel: float) -> float:
    """What an unknown value is stored as: NaN when the contract allows it, else
    ``sentinel`` (documented with a ``*_source``/``*_status`` column beside it)."""
    return np.nan if _nullable(layer, column) else sentinel


def dropped_frame(ids: list, names: list, layer: str, reason: str) -> pd.DataFrame:
    return pd.DataFrame({"osm_id": pd.Series(ids, dtype=object),
                         "name": pd.Series(names, dtype=object), "layer": layer,
                         "reason": reason})


def _metric_area(geoms: gpd.GeoSeries) -> np.ndarray:
    if geoms.empty:
        return np.zeros(0)
    return geoms.to_crs(lcrs.metric_crs(tuple(geoms.total_bounds))).area.to_numpy()


# =============================================================================================
# buildings


def buildings(f: gpd.GeoDataFrame, settings: Settings = DEFAULT_SETTINGS
              ) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Building outlines with names, floors and households (module docstring), and the
    buildings left out (mapped as a point or a line: no outline)."""
    tag = _col(f, "building").str.lower()
    b = f[tag.notna() & (tag != "no")]
    kind = b.geometry.geom_type
    outline = kind.isin(["Polygon", "MultiPolygon"]).to_numpy()
    dropped = dropped_frame(b["osm_id"][~outline].tolist(), _col(b, "name")[~outline].tolist(),
                             "buildings", "no outline (mapped as a point or line)")
    b = b[outline]
    geom = _largest_parts(b.geometry.to_numpy())
    b = gpd.GeoDataFrame(b.drop(columns="geometry"), geometry=geom, crs="EPSG:4326")
    residential = _residential(b, f, settings)
    levels = _number(b, "building:levels").where(lambda v: v >= 1).round()
    assumed = levels.fillna(settings.osm_default_levels).to_numpy()
    estimate = np.where(residential, np.maximum(1, np.round(
        _metric_area(b.geometry) * assumed / settings.osm_m2_per_household)), 0)
    floors = levels.fillna(_unknown("buildings", "floors", 0)).to_numpy()
    floors = np.where(np.isnan(floors) | (floors > 0), floors, np.where(residential, assumed, 1))
    tagged = _number(b, "households").fillna(_number(b, "building:flats")).where(
        lambda v: v >= 0)
    households = tagged.fillna(pd.Series(estimate, index=b.index)).round().astype(int)
    source = np.where(tagged.notna(), "tag", np.where(residential, "estimate",
                                                      "non_residential"))
    out = gpd.GeoDataFrame({
        "osm_id": b["osm_id"].to_numpy(), "name": building_names(b),
        "building": _col(b, "building").to_numpy(), "residential": residential,
        "households": households.to_numpy(), "households_source": source,
        "floors": pd.array(floors, dtype="Int64"), "year_built": _year_built(b),
        "has_elevator": _lift(floors),
        "renovation": None if _nullable("buildings", "renovation") else "not_planned",
    }, geometry=b.geometry.to_numpy(), crs="EPSG:4326")
    return out.reset_index(drop=True), dropped


def _lift(floors: np.ndarray) -> pd.api.extensions.ExtensionArray | np.ndarray:
    """A lift from 7 storeys (GB 50096); unknown when the floors are (and the contract
    allows it)."""
    lift = pd.array(floors >= 7, dtype="boolean")
    if _nullable("buildings", "has_elevator"):
        lift[np.isnan(floors)] = pd.NA
    return lift


def _largest_parts(geoms: np.ndarray) -> np.ndarray:
    """A multipolygon building (an OSM relation) as its largest polygon."""
    multi = np.flatnonzero(shapely.get_type_id(geoms) == 6)
    out = geoms.copy()
    for i in multi:  # rare: relations only
        parts = shapely.get_parts(geoms[i])
        out[i] = parts[int(np.argmax(shapely.area(parts)))]
    return out


def _residential(b: gpd.GeoDataFrame, f: gpd.GeoDataFrame, settings: Settings) -> np.ndarray:
    """Residential by its tag, or ``building=yes`` inside ``landuse=residential``."""
    tag = _col(b, "building").str.lower()
    by_tag = tag.isin(settings.osm_residential_buildings).to_numpy()
    areas = residential_areas(f)
    yes = (tag == "yes").to_numpy()
    if not yes.any() or len(areas) == 0:
        return by_tag
    pts = shapely.point_on_surface(b.geometry.to_numpy()[yes])
    inside = np.zeros(int(yes.sum()), bool)
    inside[shapely.STRtree(areas).query(pts, predicate="within")[0]] = True
    out = by_tag.copy()
    out[np.flatnonzero(yes)] = inside
    return out


def residential_areas(f: gpd.GeoDataFrame) -> np.ndarray:
    """The extract's ``landuse=residential`` polygons."""
    sel = (_col(f, "landuse") == "residential") & f.geometry.geom_type.isin(
        ["Polygon", "MultiPolygon"])
    return f.geometry[sel.to_numpy()].to_numpy()


def building_names(b: pd.DataFrame) -> np.ndarray:
    """The name, else the address (street + number), else ``楼栋 OSM <id>``."""
    address = (_col(b, "addr:street").fillna("")
               + _col(b, "addr:housenumber").fillna("").astype(str)).replace("", np.nan)
    fallback = "楼栋 OSM " + b["osm_id"].astype(str)
    return _col(b, "name").fillna(address).fillna(fallback).to_numpy(dtype=object)


def _year_built(b: pd.DataFrame) -> pd.arrays.IntegerArray:
    """``start_date`` / ``building:start_date`` → a plausible year (1800–2100), else NA."""
    raw = _col(b, "building:start_date").fillna(_col(b, "start_date"))
    year = pd.to_numeric(raw.astype(str).str.extract(r"^(\d{4})")[0], errors="coerce")
    return pd.array(year.where((year >= 1800) & (year <= 2100)), dtype="Int64")


# =============================================================================================
# roads, care points, parking, boundaries


def roads(f: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Walkable ways as LineStrings with ``name`` and ``kind`` (areas as their outline)."""
    hw = _col(f, "highway")
    kind = hw.map(HIGHWAY_KINDS)
    foot = _col(f, "foot")
    barred = foot.isin(_NO_FOOT) | ((_col(f, "access") == "no") & ~foot.isin(
        ["yes", "designated", "permissive"]))
    r = f[(kind.notna() & ~barred & (f["element"] != "node")).to_numpy()]
    geom = r.geometry.to_numpy()
    area = shapely.get_type_id(geom) >= 3  # polygons: the pedestrian area's outline
    geom = np.where(area, shapely.boundary(geom), geom)
    out = gpd.GeoDataFrame({"osm_id": r["osm_id"].to_numpy(),
                            "name": _col(r, "name").to_numpy(),
                            "kind": kind[r.index].to_numpy(), "highway": hw[r.index].to_numpy()},
                           geometry=geom, crs="EPSG:4326")
    out = out.explode(index_parts=False)
    out = out[out.geometry.geom_type == "LineString"]
    return out.reset_index(drop=True)


def _care_kind(f: gpd.GeoDataFrame) -> pd.Series:
    amenity = _col(f, "amenity")
    kind = amenity.map(CARE_AMENITIES)
    sf, sf_for = _col(f, "social_facility"), _col(f, "social_facility:for")
    social = (amenity == "social_facility") | sf.notna()
    elderly = social & (sf_for.isin(_ELDERLY) | sf.isin(["nursing_home", "assisted_living"]))
    elder_kind = np.where(sf.isin(["day_care", "nursing_home"]), "elder_day_care",
                          "elder_station")
    kind = kind.where(kind.notna() | ~elderly, pd.Series(elder_kind, index=f.index))
    child = social & sf_for.isin(_CHILDREN) & (sf == "day_care")
    return kind.where(kind.notna() | ~child, "nursery")


def care_points(f: gpd.GeoDataFrame, settings: Settings = DEFAULT_SETTINGS
                ) -> gpd.GeoDataFrame:
    """Child and elder care as points: ``code`` ``OSM-<osm_id>``, ``name``, ``kind``,
    ``capacity`` (the tag; unknown → NaN when the contract allows it, else 0 with
    ``capacity_known`` false)."""
    del settings
    kind = _care_kind(f)
    c = f[kind.notna().to_numpy()]
    cap = _number(c, "capacity")
    kinds = kind[c.index]
    out = gpd.GeoDataFrame({
        "code": ("OSM-" + c["osm_id"].astype(str)).to_numpy(), "osm_id": c["osm_id"].to_numpy(),
        "name": _col(c, "name").fillna(kinds.map(_CARE_NAMES)).to_numpy(),
        "kind": kinds.to_numpy(),
        "capacity": cap.fillna(_unknown("care_points", "capacity", 0)).to_numpy(),
        "capacity_known": cap.notna().to_numpy()},
        geometry=shapely.point_on_surface(c.geometry.to_numpy()), crs="EPSG:4326")
    return out.reset_index(drop=True)


def parking(f: gpd.GeoDataFrame, settings: Settings = DEFAULT_SETTINGS) -> gpd.GeoDataFrame:
    """``amenity=parking`` with public capacity, access and fee (module docstring)."""
    p = f[(_col(f, "amenity") == "parking").to_numpy()]
    where = _col(p, "parking")
    access = _col(p, "access").fillna("public")
    public = ~access.isin(_PRIVATE)
    is_area = p.geometry.geom_type.isin(["Polygon", "MultiPolygon"]).to_numpy()
    indoor = where.isin(_INDOOR_PARKING).to_numpy()
    tagged = _number(p, "capacity")
    by_area = np.where(is_area & ~indoor, np.round(
        _metric_area(p.geometry) / settings.osm_m2_per_parking_space), np.nan)
    spaces = tagged.fillna(pd.Series(by_area, index=p.index))
    source = np.where(tagged.notna(), "tag", np.where(np.isfinite(by_area), "area", "unknown"))
    capacity = np.where(public, spaces.fillna(_unknown("parking", "capacity", 0)), 0.0)
    fee_tag = _col(p, "fee").str.lower()
    fee_status = np.where(fee_tag == "no", "free", np.where(fee_tag.notna(), "paid", "unknown"))
    fee = np.where(fee_status == "free", 0.0, _unknown("parking", "fee", 0.0))
    geom = p.geometry.to_numpy()
    geom = np.where(shapely.get_type_id(geom) == 3, geom, shapely.point_on_surface(geom))
    out = gpd.GeoDataFrame({
        "code": ("OSM-" + p["osm_id"].astype(str)).to_numpy(), "osm_id": p["osm_id"].to_numpy(),
        "name": _col(p, "name").fillna("停车场").to_numpy(),
        "kind": np.where(where.isin(_STREET_PARKING), "street", "lot"),
        "capacity": capacity, "fee": fee, "access": access.to_numpy(),
        "public": public.to_numpy(), "spaces": spaces.to_numpy(),
        "capacity_source": np.where(public, source, "private"), "fee_status": fee_status,
    }, geometry=geom, crs="EPSG:4326")
    return out.reset_index(drop=True)


def admin_boundaries(f: gpd.GeoDataFrame, settings: Settings = DEFAULT_SETTINGS
                     ) -> gpd.GeoDataFrame:
    """Administrative boundaries of ``settings.osm_admin_levels`` that the extract closes
    into polygons (a relation cut by the extract's edge is not one), with ``name`` and
    ``admin_level``."""
    level = _number(f, "admin_level")
    sel = ((_col(f, "boundary") == "administrative") & level.isin(settings.osm_admin_levels)
           & f.geometry.geom_type.isin(["Polygon", "MultiPolygon"]))
    b = f[sel.to_numpy()]
    name = _col(b, "name:zh").fillna(_col(b, "name")).fillna("OSM " + b["osm_id"].astype(str))
    out = gpd.GeoDataFrame({"osm_id": b["osm_id"].to_numpy(), "name": name.to_numpy(),
                            "admin_level": level[b.index].astype(int).to_numpy()},
                           geometry=shapely.make_valid(b.geometry.to_numpy()), crs="EPSG:4326")
    return out.reset_index(drop=True)


def map_attribution(meta: dict[str, str]) -> str | None:
    """What a map drawing a store's layers must credit: :data:`OSM_MAP_ATTRIBUTION` when its
    metadata says any layer came from OpenStreetMap (``attribution`` or
    ``attribution_<layer>``, as ``new`` and ``import`` write them), else ``None``."""
    for key, value in meta.items():
        if (key == "attribution" or key.startswith("attribution_")) and \
                "OpenStreetMap" in str(value):
            return OSM_MAP_ATTRIBUTION
    return None
