"""The interactive map: folium objects built from a LayerSet, fast and offline.

Two steps, both pure (no Streamlit here, so tests call them directly):

1. :func:`prepare` turns the layers into display data — one GeoJSON string per map layer with
   geometry simplified for the screen (grids and communities with ``coverage_simplify``, so
   neighbours keep sharing their edges), coordinates rounded, only the properties shown, HTML
   in tooltips escaped, and overlays shifted to GCJ-02 when the base map needs it. The app
   caches this per (store version, community, base map, language).
2. :func:`build_map` wraps the strings in thin ``L.geoJSON`` layers (:class:`VectorLayer`),
   styled in the browser from a property, so a rerun costs little Python.

Large stores are aggregated: above ``MAX_GRIDS`` grids (and no community chosen) the map shows
communities coloured by their sentinel coverage instead of every grid and building.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import folium
import numpy as np
import pandas as pd
import shapely
from branca.element import MacroElement
from folium.plugins import FastMarkerCluster, GroupedLayerControl, HeatMap
from folium.template import Template

from dashboard import offline
from dashboard.i18n import t
from layers import clock
from layers import crs as lcrs
from layers.assignments import active_assignments
from layers.coverage import CoverageResult
from layers.layerset import LayerSet
from layers.osm import OSM_MAP_ATTRIBUTION, map_attribution
from layers.schema import CHILD_CARE_KINDS, ELDER_CARE_KINDS
from layers.tickets import rules

#: Above this many grids (with no community chosen) the map aggregates to communities.
MAX_GRIDS = 5000
#: Buildings appear from this zoom level on (street level).
BUILDING_MIN_ZOOM = 16
#: Above this many communities an aggregated map shows towns; communities come with the view.
MAX_COMMUNITIES = 1500
#: On a map aggregated to towns, the communities in view are sent from this zoom on.
COMMUNITY_VIEW_MIN_ZOOM = 11
#: On an aggregated (city) map, the grids in view are sent from this zoom on.
GRID_VIEW_MIN_ZOOM = 14
#: Most features of one layer a viewport sends (beyond: zoom in further).
MAX_VIEW_FEATURES = 5000

# One meaning per colour, from the Okabe–Ito palette (distinguishable with the common colour
# vision deficiencies); what a colour means is said once here and drawn by the legend.
#: Grids by sentinel status (and areas by the share of grids with a sentinel).
STATUS_COLOURS = {"ok": "#009E73", "no_sentinel": "#D55E00", "overloaded": "#E69F00"}
#: Areas (towns, communities on an aggregated map) by sentinel coverage: all, most, few grids.
AREA_COLOURS = {"a": STATUS_COLOURS["ok"], "b": "#F0E442", "c": STATUS_COLOURS["no_sentinel"]}
#: Buildings by building-member status.
MEMBER_COLOURS = {"yes": "#56B4E9", "no": "#CC79A7"}
#: Open tickets; overdue ones are black whatever their status (the status is in the tooltip).
TICKET_COLOURS = {"open": "#0072B2", "overdue": "#000000"}
#: People on duty (points): a sentinel a white dot ringed dark, a building member a yellow dot
#: (yellow means "mostly covered" only on the town/community overview, which draws no people).
PEOPLE_COLOURS = {"sentinel": "#ffffff", "member": "#F0E442", "ring": "#1f2328"}
#: Service facilities (care points, parking): one slate grey, told apart by glyph or size.
SERVICE_COLOUR = "#5f6f7f"
BACKGROUND = "#f3f1ec"
#: The wall screen's dark map (no tiles): background, muted roads, light boundary lines and
#: the text of the map's own controls (scale bar, credits).
DARK_MAP = {"background": "#0f1a2b", "roads": "#3a4a62", "boundaries": "#d5deea",
            "labels": "#e6edf3"}
#: The outline of the selected grid or building (drawn in the browser on a click, or sent as
#: a dynamic layer for a selection made elsewhere).
SELECTION_STYLE = {"color": "#00e5ff", "weight": 4, "opacity": 1}

_ROAD_STYLE = {"color": "#c9c4b8", "weight": 1.2, "opacity": 1, "fill": False}


# =============================================================================================
# base maps


@dataclass(frozen=True)
class TileSource:
    """A base map.

    Attributes
    ----------
    key
        ``none``, ``osm``, ``tianditu`` or ``amap`` (or a configured name).
    url
        Tile URL template (``None`` for no tiles: our own roads and blocks are the base).
    attribution
        Shown in the map corner.
    crs
        ``wgs84`` or ``gcj02``: AMap tiles are GCJ-02, so overlays are shifted onto them.
    subdomains
        Values of ``{s}``.
    overlay_url
        A label layer drawn above the tiles (Tianditu's 注记).
    needs
        Name of a required secret (``tianditu_token``) that fills ``{token}``.
    """

    key: str
    url: str | None
    attribution: str = ""
    crs: str = "wgs84"
    subdomains: str = "abc"
    overlay_url: str | None = None
    needs: str | None = None


DEFAULT_TILES: dict[str, TileSource] = {
    "none": TileSource("none", None),
    "osm": TileSource("osm", "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
                      "© OpenStreetMap contributors", subdomains="abc"),
    "tianditu": TileSource(
        "tianditu", "https://t{s}.tianditu.gov.cn/DataServer?T=vec_w&x={x}&y={y}&l={z}&tk={token}",
        "天地图 © 国家地理信息公共服务平台", subdomains="01234567",
        overlay_url="https://t{s}.tianditu.gov.cn/DataServer?T=cva_w&x={x}&y={y}&l={z}"
                    "&tk={token}", needs="tianditu_token"),
    "amap": TileSource(
        "amap", "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8"
                "&x={x}&y={y}&z={z}", "© 高德地图 AutoNavi", crs="gcj02", subdomains="1234"),
}


def tile_sources(config: Mapping[str, object] | None = None) -> dict[str, TileSource]:
    """The base maps, with URLs and tokens from configuration (an intranet tile server, a
    Tianditu token): ``config`` is the ``[tiles]`` table of ``.streamlit/secrets.toml``, e.g.
    ``tianditu_token = "…"``, ``osm_url = "http://tiles.intranet/{z}/{x}/{y}.png"``,
    ``amap_url = …``. Tokens are never written into the repository."""
    cfg: dict[str, Any] = dict(config or {})  # secrets (TOML): text values, not checked
    out = {}
    for key, src in DEFAULT_TILES.items():
        url = cfg.get(f"{key}_url", src.url)
        overlay = cfg.get(f"{key}_overlay_url", src.overlay_url)
        token = cfg.get(src.needs) if src.needs else None
        if src.needs and not token:
            url = overlay = None  # unavailable without its token
        elif token:
            url = str(url).replace("{token}", str(token))
            overlay = str(overlay).replace("{token}", str(token)) if overlay else None
        out[key] = TileSource(key, url if key != "none" else None, src.attribution, src.crs,
                              str(cfg.get(f"{key}_subdomains", src.subdomains)), overlay,
                              src.needs)
    return out


# =============================================================================================
# display data


@dataclass
class MapData:
    """Display-ready layers: GeoJSON strings plus what the map needs around them.

    Clickable features carry ``k`` (``c`` community, ``g`` grid, ``b`` building, ``s`` the
    selection outline) and ``code``.
    """

    layers: dict[str, str]
    counts: dict[str, int]
    bounds: tuple[float, float, float, float]
    aggregated: bool
    crs: str
    tickets: list[list] = field(default_factory=list)
    #: coordinates are integers: lon = x0 + x·step, lat = y0 + y·step, per layer
    quant: dict[str, tuple[float, float, float]] = field(default_factory=dict)
    ticket_labels: dict[str, list[str]] = field(default_factory=dict)
    #: credit for the data drawn (``© OpenStreetMap contributors`` for OSM-derived layers)
    attribution: str | None = None
    #: aggregated to towns (too many communities for one screen): communities come by view
    by_town: bool = False

    def payload_bytes(self) -> int:
        return sum(len(s) for s in self.layers.values()) + len(json.dumps(self.tickets))


def escape(values: pd.Series | np.ndarray) -> pd.Series:
    """HTML-escape text for tooltips and popups (vectorised)."""
    s = pd.Series(values, dtype="str").fillna("")
    for a, b in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ('"', "&quot;"), ("'", "&#x27;")):
        s = s.str.replace(a, b, regex=False)
    return s


def _round(geoms: np.ndarray, decimals: int) -> np.ndarray:
    """Round coordinates; a feature that rounding would make invalid (a narrow polygon whose
    sides cross) keeps its exact coordinates."""
    rounded = shapely.transform(geoms, lambda xy: np.round(xy, decimals))
    broken = ~shapely.is_valid(rounded) & shapely.is_valid(geoms)
    if broken.any():
        rounded = np.where(broken, geoms, rounded)
    return rounded


def _shift(geoms: np.ndarray, crs: str) -> np.ndarray:
    return lcrs.convert_geometries(geoms, "wgs84", crs) if crs != "wgs84" else geoms


_TRAILING_ZERO = re.compile(r"\.0(?=[,\]])")


def quantise(geoms: np.ndarray, origin: tuple[float, float], step: float) -> np.ndarray:
    """Coordinates as whole multiples of ``step`` from ``origin`` (TopoJSON-style quantisation:
    half the bytes of decimal degrees); the map decodes them with ``coordsToLatLng``."""
    ox, oy = origin
    return shapely.transform(
        geoms, lambda xy: np.round((xy - (ox, oy)) / step))


def feature_collection(geoms: np.ndarray, props: pd.DataFrame, *, integers: bool = False
                       ) -> str:
    """Features as a compact JSON array of ``[geometry, properties]`` rows (the layer turns
    them into GeoJSON features in the browser: ~45 bytes a feature less than a
    FeatureCollection), built with vectorised string operations. ``<`` is written as
    ``\\u003c`` so data can never close the page's ``<script>``. With ``integers``
    (quantised coordinates) ``1.0`` is written ``1``."""
    if len(geoms) == 0:
        return "[]"
    g = shapely.to_geojson(geoms).astype(object)
    if integers:
        g = pd.Series(g, dtype="str").str.replace(_TRAILING_ZERO, "", regex=True).to_numpy(
            dtype=object)
    if len(props.columns) == 0:
        p = ["{}"] * len(geoms)
    else:
        p = props.to_json(orient="records", lines=True, force_ascii=False).rstrip("\n").split(
            "\n")
    sd = np.dtypes.StringDType()
    f = np.strings.add(np.strings.add("[", g.astype(sd)), ",")
    f = np.strings.add(np.strings.add(f, np.asarray(p, dtype=sd)), "]")
    text = "[" + ",".join(f.tolist()) + "]"
    return text.replace("<", "\\u003c")


def features(text: str) -> list[dict]:
    """The GeoJSON features of a display layer string (for tests and server-side reuse)."""
    return [{"type": "Feature", "geometry": g, "properties": p} for g, p in json.loads(text)]


def layer_geometries(md: MapData, name: str) -> np.ndarray:
    """The geometries of display layer ``name`` in degrees (quantisation undone)."""
    feats = features(md.layers[name])
    geoms = shapely.from_geojson([json.dumps(f["geometry"]) for f in feats]) if feats else \
        np.array([], dtype=object)
    if name in md.quant and len(geoms):
        x0, y0, step = md.quant[name]
        geoms = shapely.transform(geoms, lambda xy: xy * step + (x0, y0))
    return geoms


def _names_of(ids: pd.Series, people: pd.DataFrame) -> pd.Series:
    """';'-joined person ids → '、'-joined names (vectorised via explode)."""
    ex = ids.fillna("").astype(str).str.split(";").explode()
    people = people[isin(people["person_id"], ex.dropna().unique())]  # a city has ~1M people
    lookup = pd.Series(people["name"].to_numpy(), index=people["person_id"].to_numpy())
    lookup = lookup[~lookup.index.duplicated()]
    names = ex.map(lookup).dropna()
    joined = names.groupby(level=0).agg("、".join).astype(object)
    return joined.reindex(ids.index).fillna("")


def _simplify_coverage(geoms: np.ndarray, tolerance: float) -> np.ndarray:
    """Simplify polygons that tile an area without opening gaps between neighbours."""
    if len(geoms) == 0:
        return geoms
    try:
        return shapely.coverage_simplify(geoms, tolerance, simplify_boundary=True)
    except shapely.errors.GEOSException:  # not a clean coverage: simplify one by one
        return shapely.simplify(geoms, tolerance, preserve_topology=True)


def prepare(
    data: LayerSet,
    cov: CoverageResult,
    *,
    crs: str = "wgs84",
    community: str | None = None,
    lang: str = "zh",
    max_grids: int = MAX_GRIDS,
    max_communities: int = MAX_COMMUNITIES,
    tolerance: float = 1e-5,
    decimals: int = 5,
) -> MapData:
    """Build the display data for one map view.

    Parameters
    ----------
    data, cov
        The store's layers and their coverage analysis.
    crs
        ``wgs84``, or ``gcj02`` when the base map is AMap (overlays are shifted onto it).
    community
        Show only this community: its grids and buildings, the people on duty for them who
        live inside it, and the points inside it.
    lang
        Language of tooltips.
    max_grids
        Above this many grids (and no ``community``), aggregate to communities.
    max_communities
        Aggregated, and above this many communities: aggregate to towns (the communities,
        grids and buildings in view come from :func:`prepare_view`).
    tolerance, decimals
        Simplification tolerance and rounding (degrees; 1e-5° ≈ 1 m).
    """
    comms = data["communities"]
    grids = data["grids"]
    aggregated = community is None and len(grids) > max_grids
    out = _Emitter(crs, _origin(comms, crs), aggregated, decimals, tolerance)
    cmask, gmask, area = _view_area(comms, grids, community)
    clip = area if community else None  # points are clipped to the community's area

    by_town = aggregated and len(comms) > max_communities
    _emit_base(out, data, area, cov.summary if by_town else None)
    if not by_town:
        _emit_communities(out, comms[cmask], cov.summary)
    if not aggregated:
        g = grids[gmask]
        asg = data["assignments"]
        if community is not None:  # the view's grids and their buildings (a city: 1.9M rows)
            b_in = data["buildings"]["code"][isin(data["buildings"]["grid_code"], g["code"])]
            asg = asg[isin(asg["target_code"], pd.concat([g["code"], b_in]))]
        act = active_assignments(asg, cov.as_of)  # the coverage's day
        _emit_grids(out, g, cov.grids.set_index("code"), data["people"], lang)
        _emit_buildings(out, data["buildings"], g, cov.buildings_without_member, lang)
        _emit_people(out, data["people"], act, clip, lang)
        _emit_care_points(out, data["care_points"], clip, lang)
        _emit_parking(out, data["parking"], clip, lang)

    # -- open tickets, clustered
    tickets: list[list]
    labels: dict[str, list[str]]
    if by_town:  # counts per town; the tickets themselves come with the view
        tickets, labels = [], {}
        _emit_ticket_counts(out, data, lang)
    else:
        tickets, labels = _open_tickets(data, community, gmask, crs, lang,
                                        with_text=not aggregated)
    out.counts["tickets"] = len(tickets)
    bounds = _bounds(comms.geometry.to_numpy()[cmask] if cmask.any() else
                     comms.geometry.to_numpy(), crs)
    return MapData(out.layers, out.counts, bounds, aggregated, crs, tickets, out.quant, labels,
                   map_attribution(data.meta), by_town)


def prepare_view(
    data: LayerSet,
    cov: CoverageResult,
    bbox: tuple[float, float, float, float],
    zoom: int,
    *,
    crs: str = "wgs84",
    lang: str = "zh",
    communities: bool = False,
    max_features: int = MAX_VIEW_FEATURES,
) -> MapData:
    """The communities, grids and buildings in one viewport of an aggregated (city) map.

    Parameters
    ----------
    data, cov
        As for :func:`prepare` (the whole store).
    bbox
        The view as ``(minx, miny, maxx, maxy)`` in degrees of the map's ``crs``.
    zoom
        The map's zoom: communities (with ``communities``) from
        :data:`COMMUNITY_VIEW_MIN_ZOOM`, grids from :data:`GRID_VIEW_MIN_ZOOM`, buildings from
        :data:`BUILDING_MIN_ZOOM`.
    communities
        Send the communities in view too (the map is aggregated to towns).
    max_features
        A layer with more features than this in view is left out (zoom in further);
        ``counts`` then holds its count negated.

    Returns
    -------
    MapData
        Only ``layers``/``counts``/``quant`` are meaningful; empty below the first zoom.
    """
    out = _Emitter(crs, _origin(data["communities"], crs), False, 5, 1e-5)
    area = shapely.box(*_unshifted_bbox(bbox, crs))
    if communities and zoom >= COMMUNITY_VIEW_MIN_ZOOM:
        comms = data["communities"]
        ci = np.sort(comms.sindex.query(area, predicate="intersects"))
        if len(ci) > max_features:
            out.counts["communities"] = -len(ci)
        else:
            out.aggregated = zoom < GRID_VIEW_MIN_ZOOM  # coloured until the grids show
            _emit_communities(out, comms.iloc[ci], cov.summary)
            out.aggregated = False
        _emit_view_tickets(out, data, area, lang)
    if zoom < GRID_VIEW_MIN_ZOOM:
        return MapData(out.layers, out.counts, bbox, False, crs, quant=out.quant)
    grids = data["grids"]
    gi = np.sort(grids.sindex.query(area, predicate="intersects"))
    if len(gi) > max_features:
        out.counts["grids"] = -len(gi)
    else:
        g = grids.iloc[gi]
        _emit_grids(out, g, cov.grids.set_index("code"), data["people"], lang)
    if zoom >= BUILDING_MIN_ZOOM:
        b = data["buildings"]
        bi = np.sort(b.sindex.query(area, predicate="intersects"))
        if len(bi) > max_features:
            out.counts["buildings"] = -len(bi)
        else:
            _emit_view_buildings(out, b.iloc[bi], cov.buildings_without_member, lang)
    return MapData(out.layers, out.counts, bbox, False, crs, quant=out.quant)


def _unshifted_bbox(bbox: tuple[float, float, float, float], crs: str
                    ) -> tuple[float, float, float, float]:
    """A display bbox as WGS-84 degrees (GCJ-02 views padded by the shift's size, ~0.01°)."""
    if crs == "wgs84":
        return bbox
    pad = 0.01
    return (bbox[0] - pad, bbox[1] - pad, bbox[2] + pad, bbox[3] + pad)


def _sorted_contains(sorted_codes: list[str], codes: np.ndarray) -> np.ndarray:
    """Which ``codes`` are in ``sorted_codes`` (a sorted list, e.g. a coverage result's):
    a binary search per code, not a hash table of the whole list per call (a city has ~10⁵
    buildings without a member; a view holds a few hundred)."""
    ref = np.asarray(sorted_codes, dtype=object)
    if len(ref) == 0 or len(codes) == 0:
        return np.zeros(len(codes), bool)
    pos = np.minimum(np.searchsorted(ref, codes), len(ref) - 1)
    return ref[pos] == codes


def _emit_view_buildings(out: _Emitter, b: pd.DataFrame, without_member: list[str],
                         lang: str) -> None:
    """Buildings of one viewport, by building-member status (from the coverage result: no
    assignment table scan per pan)."""
    has = ~_sorted_contains(without_member, b["code"].to_numpy(dtype=object))
    tip = ("<b>" + escape(b["name"]).values + "</b><br>" + escape(b["code"]).values + "<br>"
           + t("col_households", lang) + " " + b["households"].astype(str).values + " · "
           + _counts(b["floors"], lang) + t("floors_unit", lang))
    out.emit("buildings", b.geometry.to_numpy(), pd.DataFrame({
        "k": "b", "code": b["code"].to_numpy(), "s": np.where(has, "yes", "no"),
        "tt": tip}), "each", tol=out.tolerance / 2)


def _origin(comms: pd.DataFrame, crs: str) -> tuple[float, float]:
    """The quantisation origin: the whole degrees south-west of the communities."""
    b0 = shapely.total_bounds(_shift(comms.geometry.to_numpy(), crs)) if len(comms) else (0, 0)
    return (float(np.floor(b0[0])), float(np.floor(b0[1])))


def _view_area(
    comms: pd.DataFrame, grids: pd.DataFrame, community: str | None
) -> tuple[np.ndarray, np.ndarray, shapely.Geometry | None]:
    """Masks of the communities and grids in view, and the chosen community's area (``None``
    for the whole store)."""
    if community is not None:
        cmask = (comms["code"] == community).to_numpy()
        gmask = (grids["community_code"] == community).to_numpy()
    else:
        cmask = np.ones(len(comms), bool)
        gmask = np.ones(len(grids), bool)
    area = shapely.union_all(comms.geometry.to_numpy()[cmask]) \
        if community is not None and cmask.any() else None
    return cmask, gmask, area


class _Emitter:
    """Collects the display layers: simplifies, shifts, rounds and (when every vertex lands
    on the grid) quantises each layer's geometries, and writes its features."""

    def __init__(self, crs: str, origin: tuple[float, float], aggregated: bool,
                 decimals: int, tolerance: float) -> None:
        if aggregated:  # a whole city on one screen: 10 m detail is below a pixel
            decimals, tolerance = decimals - 1, tolerance * 3
        self.crs = crs
        self.origin = origin
        self.aggregated = aggregated
        self.decimals = decimals
        self.tolerance = tolerance
        self.layers: dict[str, str] = {}
        self.counts: dict[str, int] = {}
        self.quant: dict[str, tuple[float, float, float]] = {}

    def emit(self, name: str, geoms: np.ndarray, props: pd.DataFrame,
             simplify: str | None = None, tol: float | None = None) -> None:
        """Add layer ``name``; ``simplify`` is ``"coverage"`` (polygons tiling an area),
        ``"each"`` or ``None``; ``tol`` defaults to the view's tolerance."""
        tol = self.tolerance if tol is None else tol
        places = self.decimals
        if simplify == "coverage":
            geoms = _simplify_coverage(geoms, tol)
            # neighbours share edges split at different vertices (T-junctions); rounding moves
            # those vertices off the other side's edge, so keep 10× finer coordinates here:
            # slivers stay centimetres wide, far below a pixel at any zoom
            places = self.decimals if self.aggregated else self.decimals + 1
        elif simplify == "each":
            geoms = shapely.simplify(geoms, tol, preserve_topology=True)
        geoms = _round(_shift(geoms, self.crs), places)
        step = 10.0 ** -places
        exact = np.abs(shapely.get_coordinates(geoms) / step - np.round(
            shapely.get_coordinates(geoms) / step)) < 1e-6
        if exact.all():  # every vertex on the grid (none kept exact to stay valid)
            self.quant[name] = (self.origin[0], self.origin[1], step)
            geoms = quantise(geoms, self.origin, step)
        self.layers[name] = feature_collection(geoms, props.reset_index(drop=True),
                                               integers=name in self.quant)
        self.counts[name] = len(geoms)


def _emit_base(out: _Emitter, data: LayerSet, area: shapely.Geometry | None,
               summary: pd.DataFrame | None = None) -> None:
    """The light base: roads (not when aggregated; only those crossing ``area`` when given)
    and the town outlines — coloured by their grids' sentinel coverage when ``summary`` (the
    coverage summary by community) is given: the city overview."""
    roads = data["roads"]
    if len(roads) and not out.aggregated:
        sel = roads[roads.intersects(area)] if area is not None and not area.is_empty else roads
        out.emit("roads", sel.geometry.to_numpy(), pd.DataFrame(index=range(len(sel))), "each")
    towns = data["towns"]
    if summary is None:
        out.emit("towns", towns.geometry.to_numpy(),
                 pd.DataFrame({"tt": "<b>" + escape(towns["name"]) + "</b>"}), "each",
                 tol=out.tolerance * (20 if out.aggregated else 5))
        return
    by_comm = summary.set_index("community_code")[["grids", "grids_without_sentinel"]]
    comms = data["communities"][["code", "town_code"]].set_index("code")
    per_town = by_comm.join(comms, how="inner").groupby("town_code").sum()
    s = per_town.reindex(towns["code"]).fillna(0)
    out.emit("towns", towns.geometry.to_numpy(), pd.DataFrame({
        "k": "t", "code": escape(towns["code"]).to_numpy(),
        "s": _coverage_level(s["grids"].to_numpy(), s["grids_without_sentinel"].to_numpy()),
        "n": escape(towns["name"]).to_numpy(), "g": s["grids"].astype(int).to_numpy(),
        "w": s["grids_without_sentinel"].astype(int).to_numpy()}),
        "each", tol=out.tolerance * 20)


def _coverage_level(grids: np.ndarray, without: np.ndarray) -> np.ndarray:
    """An area's coverage level: ``a`` every grid has a sentinel, ``b`` ≥ 90 %, ``c`` less."""
    share = np.where(grids > 0, 1 - without / np.maximum(grids, 1), 1.0)
    return np.where(share >= 0.999, "a", np.where(share >= 0.9, "b", "c"))


def _emit_communities(out: _Emitter, c: pd.DataFrame, summary: pd.DataFrame) -> None:
    """Communities: outlines, or (aggregated) coloured by the share of grids with a
    sentinel."""
    s = summary.set_index("community_code").reindex(c["code"])
    level = _coverage_level(s["grids"].fillna(0).to_numpy(),
                            s["grids_without_sentinel"].fillna(0).to_numpy())
    out.emit("communities", c.geometry.to_numpy(), pd.DataFrame({
        "k": "c", "code": escape(c["code"]).to_numpy(),
        "s": level if out.aggregated else "line", "n": escape(c["name"]).to_numpy(),
        "g": s["grids"].fillna(0).astype(int).to_numpy(),
        "w": s["grids_without_sentinel"].fillna(0).astype(int).to_numpy()}),
        "coverage", tol=out.tolerance * (30 if out.aggregated else 2))


def _emit_grids(out: _Emitter, g: pd.DataFrame, status: pd.DataFrame, people: pd.DataFrame,
                lang: str) -> None:
    """Grids by sentinel status (``status``: the coverage grid table by code), with the
    sentinels' names in the tooltip."""
    st = status.reindex(g["code"])
    sentinel_names = _names_of(st["sentinels"].reset_index(drop=True), people)
    tip = ("<b>" + escape(g["name"]).values + "</b>（" + escape(g["code"]).values + "）<br>"
           + t("col_households", lang) + " " + st["households"].astype(str).values
           + "<br>" + t("sentinel", lang) + "："
           + escape(sentinel_names.replace("", t("none_assigned", lang))).values)
    # grids without a sentinel drawn last (on top), so their outline is never under another's
    last = np.argsort(st["status"].eq("no_sentinel").to_numpy(), kind="stable")
    out.emit("grids", g.geometry.to_numpy()[last], pd.DataFrame({
        "k": "g", "code": g["code"].to_numpy()[last], "s": st["status"].to_numpy()[last],
        "tt": tip[last]}), "coverage")
    # and a badge on each, above ticket clusters and care points: a grid a few pixels wide at
    # the town overview is still seen, and a click on its badge opens it
    gap = st["status"].eq("no_sentinel").to_numpy()
    out.emit("grid_gaps", shapely.point_on_surface(g.geometry.to_numpy()[gap]), pd.DataFrame({
        "k": "g", "code": g["code"].to_numpy()[gap], "tt": tip[gap]}))


def _emit_buildings(out: _Emitter, b: pd.DataFrame, g: pd.DataFrame,
                    without_member: list[str], lang: str) -> None:
    """The buildings of the grids in view (shown from street zoom), by building-member
    status."""
    _emit_view_buildings(out, b[isin(b["grid_code"], g["code"])], without_member, lang)


def _emit_people(out: _Emitter, people: pd.DataFrame, act: pd.DataFrame,
                 clip: shapely.Geometry | None, lang: str) -> None:
    """People on duty at home: sentinels and building members (inside ``clip`` if given)."""
    in_area = _within(people.geometry.to_numpy(), clip)
    for role, name in (("grid_sentinel", "sentinels"), ("building_member", "members")):
        ids = act.loc[act["role"] == role, "person_id"].unique()
        near = people[in_area]  # the area first: a city has ~1M people
        p = near[isin(near["person_id"], ids)]
        tip = ("<b>" + escape(p["name"]).values + "</b> · " + t(role, lang))
        out.emit(name, p.geometry.to_numpy(), pd.DataFrame({
            "k": "p", "code": p["person_id"].to_numpy(), "s": role, "tt": tip}))


def _emit_care_points(out: _Emitter, cp: pd.DataFrame, clip: shapely.Geometry | None,
                      lang: str) -> None:
    """Elder-care and child-care points, one layer each (inside ``clip`` if given)."""
    cp = cp[_within(cp.geometry.to_numpy(), clip)] if clip is not None else cp
    for group, kinds in (("elder_care", ELDER_CARE_KINDS), ("child_care", CHILD_CARE_KINDS)):
        q = cp[cp["kind"].isin(kinds)]
        tip = ("<b>" + escape(q["name"]).values + "</b><br>"
               + escape(q["kind"].map(lambda k: t(f"kind_{k}", lang))).values + " · "
               + t("capacity", lang) + " " + _counts(q["capacity"], lang))
        out.emit(group, q.geometry.to_numpy(), pd.DataFrame({
            "k": "f", "code": q["code"].to_numpy(), "s": group, "tt": tip}))


def _emit_parking(out: _Emitter, pk: pd.DataFrame, clip: shapely.Geometry | None,
                  lang: str) -> None:
    """Parking as points sized by capacity (inside ``clip`` if given)."""
    pk = pk[_within(shapely.point_on_surface(pk.geometry.to_numpy()), clip)] \
        if clip is not None else pk
    cap = np.nan_to_num(pd.to_numeric(pk["capacity"], errors="coerce").to_numpy(float))
    tip = ("<b>" + escape(pk["name"]).values + "</b><br>"
           + escape(pk["kind"].map(lambda k: t(f"kind_{k}", lang))).values + " · "
           + t("capacity", lang) + " " + _counts(pk["capacity"], lang))
    out.emit("parking", shapely.point_on_surface(pk.geometry.to_numpy()), pd.DataFrame({
        "k": "f", "code": pk["code"].to_numpy(), "s": "parking", "r": np.round(3 + 2.2 * np.sqrt(np.maximum(cap, 0) / 10), 1),
        "tt": tip}))


def _live_tickets(data: LayerSet) -> pd.DataFrame:
    """The open tickets, with ``overdue`` by the one rule and clock."""
    tk = data["tickets"]
    if tk.empty:
        return tk.assign(overdue=pd.Series(dtype=bool))
    tk = tk[rules.open_mask(tk["status"])]
    overdue = (tk["overdue"].to_numpy(dtype=bool) if "overdue" in tk else  # the live store's
               rules.overdue_mask(tk["status"], tk["deadline"], clock.now()))  # one rule, clock
    return tk.assign(overdue=overdue)


def _emit_ticket_counts(out: _Emitter, data: LayerSet, lang: str) -> None:
    """Open tickets counted per town (the city overview): a circle per town sized by the
    count, the overdue ones in its tooltip."""
    tk = _live_tickets(data)
    towns = data["towns"]
    town_of = data["communities"].set_index("code")["town_code"]
    by_town = pd.DataFrame({"town": tk["community_code"].map(town_of).to_numpy(),
                            "overdue": tk["overdue"].to_numpy()}).groupby("town")["overdue"]
    n = by_town.size().reindex(towns["code"]).fillna(0).astype(int).to_numpy()
    late = by_town.sum().reindex(towns["code"]).fillna(0).astype(int).to_numpy()
    keep = n > 0
    tip = ("<b>" + escape(towns["name"]).values + "</b><br>" + t("open_tickets", lang) + " "
           + n.astype(str) + " · " + t("overdue", lang) + " " + late.astype(str))
    out.emit("ticket_counts", shapely.point_on_surface(towns.geometry.to_numpy()[keep]),
             pd.DataFrame({"s": np.where(late[keep] > 0, "overdue", "open"),
                           "r": _count_radius(n[keep]), "tt": tip[keep]}))


def _count_radius(n: np.ndarray) -> np.ndarray:
    """A count circle's radius (px): grows with the square root of the count, small enough
    that the town's coverage colour around it stays visible at the city overview (870 towns
    at zoom 8 are ~15 px each)."""
    return np.round(np.minimum(3 + 1.2 * np.sqrt(n), 12), 1)


def _emit_view_tickets(out: _Emitter, data: LayerSet, area: shapely.Geometry,
                       lang: str) -> None:
    """The open tickets in one viewport, by status (overdue ones in the overdue colour)."""
    tk = _live_tickets(data)
    tk = tk[_within(tk.geometry.to_numpy(), area)] if len(tk) else tk
    cat = tk["category"].map(lambda c: t(f"cat_{c}", lang))
    status = tk["status"].map(lambda x: t(f"status_t_{x}", lang))
    tip = ("<b>" + escape(tk["id"]).values + "</b> · " + escape(cat).values + " · "
           + escape(status).values + np.where(tk["overdue"].to_numpy(),
                                              " · <b>" + t("overdue", lang) + "</b>", ""))
    out.emit("tickets", tk.geometry.to_numpy(), pd.DataFrame({
        "s": np.where(tk["overdue"].to_numpy(), "overdue", tk["status"].to_numpy()),
        "tt": tip}))


def isin(values: pd.Series, allowed: object) -> np.ndarray:
    """``values.isin(allowed)`` as a boolean array, hashed in Arrow's C++ (pandas' Arrow
    strings build their value set in a Python loop: 3 s for a city's sentinel ids); Arrow
    columns are used as they are, without a copy."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        arr = pa.array(values)  # zero-copy for Arrow-backed strings
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        arr = pa.array(values.astype(str).to_numpy(dtype=object))
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        arr = arr.cast(pa.string())
    try:  # Arrow-backed and numpy string columns without a Python loop
        ref = pa.array(allowed if isinstance(allowed, (np.ndarray, pd.Series, pd.Index,
                                                       pd.api.extensions.ExtensionArray))
                       else list(allowed)).cast(arr.type)  # type: ignore[call-overload]
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        ref = pa.array([str(v) for v in allowed], type=arr.type)  # type: ignore[attr-defined]
    return pc.is_in(arr, value_set=ref).to_numpy(zero_copy_only=False).astype(bool)


def _counts(values: pd.Series, lang: str) -> np.ndarray:
    """Whole numbers as text; an unknown one (a nullable field left empty) as 未知."""
    num = pd.to_numeric(values, errors="coerce")
    text = num.map(lambda v: f"{int(v):,}" if pd.notna(v) else t("unknown", lang))
    return text.to_numpy(dtype=object).astype(str)


def _within(points: np.ndarray, area: shapely.Geometry | None) -> np.ndarray:
    if area is None or len(points) == 0:
        return np.ones(len(points), bool)
    shapely.prepare(area)
    return shapely.contains_xy(area, shapely.get_x(points), shapely.get_y(points))


def _bounds(geoms: np.ndarray, crs: str) -> tuple[float, float, float, float]:
    b = shapely.total_bounds(_shift(geoms, crs))
    return tuple(float(v) for v in b)  # type: ignore[return-value]


def _open_tickets(data: LayerSet, community: str | None,
                  gmask: np.ndarray, crs: str, lang: str, with_text: bool = True
                  ) -> tuple[list[list], dict[str, list[str]]]:
    """Rows ``[lat, lon, overdue, id, category#, status#, text]`` (text escaped, empty in the
    aggregated view) and the label tables the category/status numbers index."""
    labels: dict[str, list[str]] = {"category": [], "status": [],
                                    "overdue": [t("overdue", lang)]}
    tk = _live_tickets(data)
    if tk.empty:
        return [], labels
    if community is not None:
        tk = tk[isin(tk["grid_code"].fillna(""), data["grids"]["code"][gmask])]
    overdue = tk["overdue"].to_numpy(dtype=bool)
    cat_i, cats = pd.factorize(tk["category"])
    st_i, sts = pd.factorize(tk["status"])
    labels["category"] = [str(escape([t(f"cat_{c}", lang)])[0]) for c in cats]
    labels["status"] = [str(escape([t(f"status_t_{x}", lang)])[0]) for x in sts]
    pts = _shift(tk.geometry.to_numpy(), crs)
    places = 5 if with_text else 4  # the city overview clusters them anyway
    lat = np.round(shapely.get_y(pts), places)
    lon = np.round(shapely.get_x(pts), places)
    text = escape(tk["text"]).to_numpy() if with_text else np.full(len(tk), "")
    ids = escape(tk["id"]).to_numpy()
    return [list(r) for r in zip(lat.tolist(), lon.tolist(), overdue.astype(int).tolist(),
                                 ids.tolist(), cat_i.tolist(), st_i.tolist(), text.tolist(),
                                 strict=True)], labels


# =============================================================================================
# folium elements


class VectorLayer(folium.map.Layer):
    """An ``L.geoJSON`` layer from a ready-made GeoJSON string.

    Features are styled in the browser from ``properties.s`` through a small lookup table;
    ``properties.tt`` (already escaped HTML) becomes the tooltip — or ``tooltip_js`` builds it
    from the properties in the browser; ``properties.r`` sizes circle markers. Points are drawn as SVG circle markers in a pane
    above the areas (so a dot on a grid is what a click gets), or as ``DivIcon`` badges when an
    icon is given. With ``min_zoom`` the layer shows only from that zoom on.
    """

    _template = Template(
        """
{% macro script(this, kwargs) %}
var {{ this.get_name() }}_styles = {{ this.styles|tojson }};
// points in a pane of their own above the areas: a dot on a grid is clicked, not the grid
// (on the map itself; a dynamic layer's points use the default renderer)
var {{ this.get_name() }}_points = (function(P) {
    if (!(P instanceof L.Map)) { return null; }  // a dynamic layer's group
    if (!P.getPane('wgPoints')) { P.createPane('wgPoints').style.zIndex = 450; }
    return L.svg({pane: 'wgPoints', padding: 0.3});
})({{ this._parent.get_name() }});
var {{ this.get_name() }} = L.geoJson(({{ this.data }}).map(function(r) {
    return {type: "Feature", geometry: r[0], properties: r[1]};
}), {
    {%- if this.quant %}
    coordsToLatLng: function(c) {
        return new L.LatLng({{ this.quant[1] }} + c[1] * {{ this.quant[2] }},
                            {{ this.quant[0] }} + c[0] * {{ this.quant[2] }});
    },
    {%- endif %}
    style: function(f) {
        return Object.assign({}, {{ this.base|tojson }},
                             {{ this.get_name() }}_styles[f.properties.s] || {});
    },
    pointToLayer: function(f, ll) {
        {%- if this.icon %}
        return L.marker(ll, {icon: L.divIcon({{ this.icon|tojson }}),
                             zIndexOffset: {{ this.z_offset }}});
        {%- else %}
        var o = Object.assign({{ this.get_name() }}_points ? {
                                  renderer: {{ this.get_name() }}_points, pane: 'wgPoints'} : {},
                              {{ this.base|tojson }},
                              {{ this.get_name() }}_styles[f.properties.s] || {});
        if (f.properties.r) { o.radius = f.properties.r; }
        return L.circleMarker(ll, o);
        {%- endif %}
    },
    onEachFeature: function(f, layer) {
        {%- if this.tooltip_js %}
        var p = f.properties;
        layer.bindTooltip({{ this.tooltip_js }}, {sticky: true});
        {%- else %}
        if (f.properties.tt) { layer.bindTooltip(f.properties.tt, {sticky: true}); }
        {%- endif %}
        {%- if this.highlight %}
        // a click outlines the feature at once, in the browser (the server is not asked to
        // redraw anything for it; a selection made elsewhere comes as a dynamic layer)
        layer.on('click', function() {
            var prev = window.__wgSelected;
            if (prev && prev.layer.setStyle) { prev.group.resetStyle(prev.layer); }
            layer.setStyle({{ this.selection_style|tojson }});
            if (layer.bringToFront) { layer.bringToFront(); }
            window.__wgSelected = {layer: layer, group: {{ this.get_name() }}};
        });
        {%- endif %}
    }
});
{%- if this.show %}
{{ this.get_name() }}.addTo({{ this._parent.get_name() }});
{%- endif %}
{%- if this.fade_zoom %}
(function() {
    var m = {{ this._parent.get_name() }}, l = {{ this.get_name() }};
    function fade() {
        var z = m.getZoom();
        l.eachLayer(function(x) { x.setStyle({fillOpacity: z >= {{ this.fade_zoom }} ? 0 :
            Object.assign({}, {{ this.base|tojson }},
                          {{ this.get_name() }}_styles[x.feature.properties.s] || {}
                          ).fillOpacity}); });
    }
    m.on('zoomend', fade); fade();
})();
{%- endif %}
{%- if this.min_zoom %}
(function() {
    var m = {{ this._parent.get_name() }}, l = {{ this.get_name() }};
    var wanted = {{ 'true' if this.show else 'false' }}, busy = false;
    m.on('overlayadd', function(e) { if (e.layer === l && !busy) { wanted = true; } });
    m.on('overlayremove', function(e) { if (e.layer === l && !busy) { wanted = false; } });
    // wanted, not on the map: the address keeps it (url_view_script)
    l.wgWanted = function(w) { if (w !== undefined) { wanted = w; sync(); } return wanted; };
    function sync() {
        busy = true;
        if (wanted && m.getZoom() >= {{ this.min_zoom }}) { m.addLayer(l); }
        else { m.removeLayer(l); }
        busy = false;
    }
    m.on('zoomend', sync); sync();
})();
{%- endif %}
{% endmacro %}
"""
    )

    def __init__(self, data: str, name: str, *, styles: Mapping[str, dict] | None = None,
                 base: Mapping[str, object] | None = None, icon: Mapping | None = None,
                 show: bool = True, min_zoom: int | None = None,
                 fade_zoom: int | None = None, tooltip_js: str | None = None,
                 highlight: bool = False,
                 quant: tuple[float, float, float] | None = None, z_offset: int = 0) -> None:
        super().__init__(name=name, overlay=True, control=True, show=show)
        self._name = "VectorLayer"
        self.data = data
        self.styles = dict(styles or {})
        self.base = dict(base or {})
        self.icon = dict(icon) if icon else None
        #: badges (``icon``) drawn above other markers by this much (Leaflet's zIndexOffset)
        self.z_offset = int(z_offset)
        self.min_zoom = min_zoom
        #: from this zoom on the fill is cleared (what comes with the view is drawn over it)
        self.fade_zoom = fade_zoom
        #: a click outlines the feature in the browser (grids, buildings)
        self.highlight = highlight
        self.selection_style = SELECTION_STYLE
        #: a JS expression of ``p`` (the properties, text already escaped) for the tooltip
        self.tooltip_js = tooltip_js
        #: ``(x0, y0, step)`` when coordinates are quantised integers
        self.quant = quant

    def render(self, **kwargs) -> None:  # type: ignore[override]
        """Render without folium's own ``addTo`` for shown layers (``Layer.render``): the
        template adds the layer itself, and a second ``addTo`` after it would put a
        ``min_zoom`` layer back on the map at every zoom."""
        MacroElement.render(self, **kwargs)


class MapScript(MacroElement):
    """A snippet of JavaScript run once the map exists (``map`` is the Leaflet map)."""

    _template = Template(
        """
{% macro script(this, kwargs) %}
(function(map) { {{ this.code }} })({{ this._parent.get_name() }});
{% endmacro %}
"""
    )

    def __init__(self, code: str) -> None:
        super().__init__()
        self._name = "MapScript"
        self.code = code


#: A legend entry: (colour, label, shape); shape is ``square`` (an area), ``circle`` (a
#: point), ``ring`` (a point drawn as a ring), ``dot`` (a point ringed dark), ``band`` (a
#: translucent area), ``line`` or
#: ``badge:<glyph>`` (a service point's badge). A row with no colour is a sub-heading.
LegendRow = tuple[str, str, str]


def legend_rows(lang: str, aggregated: bool, by_town: bool = False) -> list[LegendRow]:
    """What the layer map draws, in the colours it draws them (one meaning per colour)."""
    if aggregated:
        head = t("legend_towns", lang) if by_town else t("legend_communities", lang)
        rows: list[LegendRow] = [("", head, ""),
                                 (AREA_COLOURS["a"], t("legend_all_covered", lang), "square"),
                                 (AREA_COLOURS["b"], t("legend_mostly_covered", lang), "square"),
                                 (AREA_COLOURS["c"], t("legend_poorly_covered", lang), "square")]
    else:
        rows = [("", t("grids", lang), ""),
                *[(STATUS_COLOURS[k], t(f"status_{k}", lang), "square") for k in STATUS_COLOURS],
                (STATUS_COLOURS["no_sentinel"], t("legend_gap_badge", lang), "badge:!"),
                ("", t("buildings", lang), ""),
                (MEMBER_COLOURS["yes"], t("legend_has_member", lang), "square"),
                (MEMBER_COLOURS["no"], t("legend_no_member", lang), "square"),
                ("", t("legend_points", lang), ""),
                (PEOPLE_COLOURS["ring"], t("grid_sentinel", lang), "ring"),
                (PEOPLE_COLOURS["member"], t("building_member", lang), "dot"),
                (SERVICE_COLOUR, t("elder_care", lang), "badge:老"),
                (SERVICE_COLOUR, t("child_care", lang), "badge:幼"),
                (SERVICE_COLOUR, t("parking", lang), "circle")]
    return [*rows, ("", t("open_tickets", lang), ""),
            (TICKET_COLOURS["open"], t("legend_ticket_open", lang), "circle"),
            (TICKET_COLOURS["overdue"], t("overdue", lang), "circle")]


def _swatch(colour: str, shape: str) -> str:
    """The coloured mark of one legend row (colours are ours, never user data)."""
    if shape.startswith("badge:"):
        glyph = str(escape([shape.removeprefix("badge:")])[0])
        return f'<span class="wg-badge" style="background:{colour}">{glyph}</span>'
    css = {"square": f"background:{colour};border-radius:2px",
           "band": f"background:{colour};opacity:.55;border-radius:2px",
           "circle": f"background:{colour};border-radius:50%;border:1px solid #fff",
           "ring": f"background:#fff;border-radius:50%;border:2px solid {colour}",
           "dot": f"background:{colour};border-radius:50%;border:1px solid #1f2328",
           "line": f"height:0;border-top:3px solid {colour};margin-top:5px"}[shape]
    return f'<span class="wg-sw" style="{css}"></span>'


def _legend_html(title: str, rows: list[LegendRow]) -> str:
    """A ``<details>`` block: the title is the toggle; labels are escaped here."""
    body = []
    for colour, label, shape in rows:
        text = str(escape([label])[0])
        body.append(f'<div class="wg-lh">{text}</div>' if not colour
                    else f"<div>{_swatch(colour, shape)}{text}</div>")
    return (f'<details class="wg-legend-box"><summary>{escape([title])[0]}</summary>'
            f'<div class="wg-legend-rows">{"".join(body)}</div></details>')


def add_legend(m: folium.Map, title: str, rows: list[LegendRow], *,
               collapsed: bool | None = None, position: str = "bottomleft") -> None:
    """A collapsible legend on ``m``.

    Parameters
    ----------
    title
        The toggle's text (e.g. 图例).
    rows
        :data:`LegendRow` entries, in the colours the map draws; labels are escaped here.
    collapsed
        Start folded; default: folded on a map narrower than 600 px or lower than 500 px
        (a phone, a side map), open otherwise. Either way one tap opens or folds it.
    position
        A Leaflet control corner.
    """
    html = json.dumps(_legend_html(title, rows), ensure_ascii=False).replace("<", "\\u003c")
    fold = "null" if collapsed is None else json.dumps(collapsed)
    MapScript(
        f"var lg = L.control({{position: {json.dumps(position)}}});"
        "lg.onAdd = function() { var d = L.DomUtil.create('div', 'wg-legend');"
        f" d.innerHTML = {html}; var s = map.getSize(), fold = {fold};"
        " if (fold === null) { fold = s.x < 600 || s.y < 500; }"
        " if (!fold) { d.firstChild.setAttribute('open', ''); }"
        " L.DomEvent.disableClickPropagation(d); L.DomEvent.disableScrollPropagation(d);"
        " return d; }; lg.addTo(map);"
    ).add_to(m)


_BADGE_CSS = (
    ".wg-badge{display:inline-block;width:18px;height:18px;line-height:18px;border-radius:50%;"
    "color:#fff;font-size:11px;font-weight:bold;text-align:center;margin-right:6px;"
    "border:1.5px solid #fff;box-shadow:0 0 2px rgba(0,0,0,.6);font-family:sans-serif}"
    f".wg-elder,.wg-child{{background:{SERVICE_COLOUR}}}"
    f".wg-gap{{background:{STATUS_COLOURS['no_sentinel']}}}"
    # ticket clusters in the open-ticket colour (Leaflet.markercluster's own are green to
    # orange: colours that mean sentinel status here), small enough to leave grids readable
    f".marker-cluster,.marker-cluster div{{background:{TICKET_COLOURS['open']}33}}"
    f".marker-cluster div{{background:{TICKET_COLOURS['open']}e6;color:#fff;font-weight:600}}"
    ".leaflet-marker-icon.marker-cluster{opacity:.7 !important}"
    ".leaflet-marker-icon.marker-cluster:hover{opacity:1 !important}"
    ".wg-legend{background:rgba(255,255,255,.94);padding:4px 10px;border-radius:6px;"
    "font:12px/1.55 sans-serif;box-shadow:0 1px 4px rgba(0,0,0,.3);max-width:200px;"
    "max-height:calc(100vh - 120px);overflow:auto}"
    ".wg-legend summary{cursor:pointer;font-weight:600;padding:4px 0;min-height:24px;"
    "list-style-position:inside}"
    ".wg-legend .wg-lh{margin-top:4px;color:#555}"
    ".wg-legend .wg-badge{width:16px;height:16px;line-height:16px;font-size:10px}"
    ".wg-sw{display:inline-block;width:12px;height:12px;margin-right:6px;"
    "vertical-align:middle;box-sizing:border-box}"
)


def build_map(
    md: MapData,
    tiles: TileSource,
    *,
    lang: str = "zh",
    height_hint: int = 640,
    selected: str | None = None,
    selected_geojson: str | None = None,
    view: tuple[float, float, int] | None = None,
    url_view: bool = False,
    dark: bool = False,
) -> folium.Map:
    """Assemble the folium map from display data.

    Parameters
    ----------
    md
        From :func:`prepare` (its ``crs`` must match ``tiles.crs``).
    tiles
        The base map; ``url=None`` draws no tiles (our own roads are the base).
    selected, selected_geojson
        Code and (display) geometry of the selected grid or building, outlined on top.
    view
        ``(lat, lon, zoom)`` to open at; default: fit the data's bounds.
    url_view
        Keep the view in the page's address (:func:`url_view_script`): a reload or a shared
        link opens the same centre, zoom and overlays.
    dark
        The wall screen's dark style (:data:`DARK_MAP`).
    """
    offline.use_local_assets()
    m = _base_map(md.bounds, tiles, dark=dark)
    if md.aggregated:  # the view's data is asked for when the map stops: no coasting after
        m.options["inertia"] = False  # a drag (it delayed the request by ~0.7 s)
    _credit_data(m, md.attribution, tiles)
    groups = _LayerGroups(m, md)
    _add_admin_layers(groups, md, tiles, lang)
    if "grids" in md.layers:
        _add_detail_layers(groups, md, lang)
    if md.tickets:
        _add_ticket_layers(groups, md, lang)
    if "ticket_counts" in md.layers:
        groups.add("ticket_counts", t("group_events", lang), VectorLayer(
            md.layers["ticket_counts"], t("open_tickets", lang), styles=_TICKET_STYLES,
            base={"color": "#fff", "weight": 1, "fillOpacity": 0.75}))
    if selected_geojson:
        VectorLayer(selected_geojson, t("selection", lang), base={
            "color": "#00e5ff", "weight": 4, "fill": False, "radius": 9},
            show=True).add_to(m)
    control = GroupedLayerControl(groups.groups, exclusive_groups=False, collapsed=True)
    # folium keeps the layers to switch off in a set of random names: in the order drawn, so
    # the same map renders to the same script (the component's key is a hash of it)
    control.layers_untoggle = [layer.get_name() for group in groups.groups.values()
                               for layer in group if not layer.show]
    control.add_to(m)
    add_legend(m, t("legend", lang), legend_rows(lang, md.aggregated, md.by_town))
    _set_view(m, md.bounds, view, selected_geojson)
    if url_view:
        MapScript(url_view_script({k: v.get_name() for k, v in groups.by_key.items()})).add_to(m)
    return m


_URL_VIEW_JS = """(function() {
    var P; try { P = window.parent; P.location.search; } catch (e) { return; }
    var OV = {OVERLAYS}, KEYS = Object.keys(OV);
    function q() { return new URLSearchParams(P.location.search); }
    function shown(k) { return OV[k].wgWanted ? OV[k].wgWanted() : map.hasLayer(OV[k]); }
    function show(k, want) {
        if (OV[k].wgWanted) { OV[k].wgWanted(want); return; }  // a layer shown from a zoom on
        if (want && !map.hasLayer(OV[k])) { map.addLayer(OV[k]); }
        if (!want && map.hasLayer(OV[k])) { map.removeLayer(OV[k]); }
    }
    function restore() {
        var p = q(), z = parseInt(p.get('z'), 10), ll = (p.get('ll') || '').split(',').map(Number);
        if (z >= 3 && z <= 19 && ll.length === 2 && isFinite(ll[0]) && isFinite(ll[1])
                && Math.abs(ll[0]) <= 90 && Math.abs(ll[1]) <= 180) {
            map.setView([ll[0], ll[1]], z, {animate: false});
        }
        if (p.has('lyr')) {
            var on = p.get('lyr').split(',');
            KEYS.forEach(function(k) { show(k, on.indexOf(k) >= 0); });
        }
    }
    function write() {
        var p = q(), c = map.getCenter();
        p.set('z', String(map.getZoom()));
        p.set('ll', c.lat.toFixed(5) + ',' + c.lng.toFixed(5));
        p.set('lyr', KEYS.filter(shown).join(','));
        var s = '?' + p.toString();
        if (s !== P.location.search) {
            P.history.replaceState(P.history.state, '', P.location.pathname + s + P.location.hash);
        }
    }
    // after the component has set its first view (right after this script, animated)
    function start() {
        if (map._animatingZoom) { map.once('zoomend', function() { setTimeout(start, 0); }); return; }
        restore();
        map.on('moveend overlayadd overlayremove', write);
        setInterval(write, 1500);
        write();
    }
    setTimeout(start, 0);
})();"""


#: The address's view parameters: ``z`` zoom, ``ll`` centre (lat,lon), ``lyr`` overlays shown.
URL_VIEW_PARAMS = ("z", "ll", "lyr")


def url_view_script(overlays: Mapping[str, str]) -> str:
    """Leaflet code keeping the map's view in the page's address, and opening at it.

    The address (the app's page, the component's parent: same origin) holds ``z`` (zoom),
    ``ll`` (centre, ``lat,lon``) and ``lyr`` (the overlays shown, by the stable names of
    ``overlays``: name → the overlay's JS variable). On load the map takes the view from
    there; it writes it back after every move or overlay change, and re-writes it when the
    app replaced the address (a selection), so a reload or a shared link shows the same view.
    Values from the address are parsed as numbers and known names only.
    """
    table = ",".join(f"{json.dumps(k)}: {v}" for k, v in overlays.items())
    return _URL_VIEW_JS.replace("OVERLAYS", table)


#: Leaflet's scale bar in metres only (its default adds miles and feet).
METRIC_SCALE = "L.control.scale({imperial: false, maxWidth: 120}).addTo(map);"


def _base_map(bounds: tuple[float, float, float, float], tiles: TileSource,
              dark: bool = False) -> folium.Map:
    """The Leaflet map with its tiles (if any), background colour and badge CSS (``dark``:
    the :data:`DARK_MAP` colours; lines are recoloured by the colour they are drawn in)."""
    minx, miny, maxx, maxy = bounds
    m = folium.Map(location=[(miny + maxy) / 2, (minx + maxx) / 2], zoom_start=13, tiles=None,
                   control_scale=False, zoom_control=True)
    # without tiles Leaflet has no maxZoom, and marker clustering refuses to start
    m.options["maxZoom"] = 19
    m.options["minZoom"] = 3
    if tiles.url:
        folium.TileLayer(tiles.url, attr=tiles.attribution, name=tiles.key, overlay=False,
                         control=False, subdomains=tiles.subdomains, max_zoom=19,
                         max_native_zoom=18).add_to(m)
        if tiles.overlay_url:
            folium.TileLayer(tiles.overlay_url, attr=tiles.attribution, name="labels",
                             overlay=True, control=False, subdomains=tiles.subdomains,
                             max_zoom=19, max_native_zoom=18).add_to(m)
    css = _BADGE_CSS
    if dark:
        d = DARK_MAP
        css += (f'path[stroke="{_ROAD_STYLE["color"]}"]{{stroke:{d["roads"]}}}'
                f'path[stroke="#333"],path[stroke="#1f2328"]{{stroke:{d["boundaries"]}}}'
                f".leaflet-control-scale-line,.leaflet-control-attribution{{color:{d['labels']}"
                f";border-color:{d['labels']};background:{d['background']}cc !important}}"
                f".leaflet-control-attribution a{{color:{d['labels']}}}")
    MapScript(
        "map.getContainer().style.background = "
        f"{json.dumps(DARK_MAP['background'] if dark else BACKGROUND)};"
        "var css = document.createElement('style');"
        f"css.textContent = {json.dumps(css)}; document.head.appendChild(css);"
        "map.attributionControl.setPrefix('Leaflet');"
        + METRIC_SCALE
    ).add_to(m)
    return m


#: The OSM credit as a link to its copyright page (ODbL asks for the link where possible).
_OSM_CREDIT = ('© <a href="https://www.openstreetmap.org/copyright" target="_blank">'
               'OpenStreetMap</a> contributors')


def _credit_data(m: folium.Map, attribution: str | None, tiles: TileSource) -> None:
    """Credit the data drawn in Leaflet's attribution control (once: OSM tiles credit OSM
    already)."""
    if not attribution or attribution in tiles.attribution:
        return
    text = _OSM_CREDIT if attribution == OSM_MAP_ATTRIBUTION else attribution
    MapScript(f"map.attributionControl.addAttribution({json.dumps(text)});").add_to(m)


class _LayerGroups:
    """Adds overlays to the map and remembers them by layer-control group."""

    def __init__(self, m: folium.Map, md: MapData) -> None:
        self.m = m
        self.md = md
        self.groups: dict[str, list] = {}
        #: a stable name per overlay (``?lyr=`` lists the ones shown) → the overlay
        self.by_key: dict[str, folium.map.Layer] = {}

    def add(self, key: str, group: str, layer: folium.map.Layer, url_key: str | None = None
            ) -> None:
        """Add ``layer`` (display layer ``key``, skipped when the data has none) to ``group``;
        ``url_key`` names it in the address (default ``key``)."""
        if key in self.md.layers or key == "tickets":
            if isinstance(layer, VectorLayer):
                layer.quant = self.md.quant.get(key)
            layer.add_to(self.m)
            self.groups.setdefault(group, []).append(layer)
            self.by_key[url_key or key] = layer


def _area_styles() -> dict[str, dict]:
    """Areas (towns, communities) coloured by coverage level, or outlined (``line``)."""
    styles: dict[str, dict] = {
        lvl: {"fillColor": c, "fillOpacity": 0.55} for lvl, c in AREA_COLOURS.items()}
    styles["line"] = {"fill": False}
    return styles


def _area_tip(lang: str) -> str:
    """The tooltip of an area coloured by coverage (built in the browser from its
    properties, text already escaped)."""
    return ("'<b>' + p.n + '</b>（' + p.code + '）<br>' + "
            f"{json.dumps(t('col_grids', lang) + ' ')} + p.g + ' · ' + "
            f"{json.dumps(t('col_grids_without_sentinel', lang) + ' ')} + p.w")


def _add_admin_layers(groups: _LayerGroups, md: MapData, tiles: TileSource, lang: str) -> None:
    """Roads (the base when there are no tiles), the town outline and the communities."""
    if "roads" in md.layers:
        groups.add("roads", t("group_base", lang), VectorLayer(
            md.layers["roads"], t("roads", lang), base=_ROAD_STYLE, show=tiles.url is None))
    g_admin = t("group_admin", lang)
    if md.by_town:
        groups.add("towns", g_admin, VectorLayer(
            md.layers["towns"], t("town_boundary", lang), styles=_area_styles(),
            base={"color": "#333", "weight": 1.2, "fillOpacity": 0.0},
            tooltip_js=_area_tip(lang), fade_zoom=COMMUNITY_VIEW_MIN_ZOOM))
    else:
        groups.add("towns", g_admin, VectorLayer(
            md.layers["towns"], t("town_boundary", lang),
            base={"color": "#333", "weight": 3, "fill": False, "dashArray": "6 4"}))
    if "communities" in md.layers:
        groups.add("communities", g_admin, VectorLayer(
            md.layers["communities"], t("communities", lang),
            base={"color": "#1f2328", "weight": 1.2 if md.aggregated else 2.2,
                  "fillOpacity": 0.0},
            styles=_area_styles(), tooltip_js=_area_tip(lang)))


#: Grids by sentinel status; one without a sentinel is also outlined thick in its colour, to
#: be seen at the town overview where it is a few pixels wide.
_GRID_STYLES: dict[str, dict] = {**{k: {"fillColor": v} for k, v in STATUS_COLOURS.items()},
                "no_sentinel": {"fillColor": STATUS_COLOURS["no_sentinel"], "fillOpacity": 0.75,
                                "color": STATUS_COLOURS["no_sentinel"], "weight": 3}}


def _grid_layer(data: str, name: str, **kw) -> VectorLayer:
    """Grids coloured by sentinel status; a click outlines one (the town map and a view)."""
    return VectorLayer(data, name, base={"color": "#ffffff", "weight": 1, "fillOpacity": 0.45},
                       styles=_GRID_STYLES, highlight=True, **kw)


def _building_layer(data: str, name: str, **kw) -> VectorLayer:
    """Buildings coloured by building-member status; a click outlines one."""
    return VectorLayer(data, name, base={"weight": 0.8, "color": "#555", "fillOpacity": 0.8},
                       styles={k: {"fillColor": v} for k, v in MEMBER_COLOURS.items()},
                       highlight=True, **kw)


def _add_detail_layers(groups: _LayerGroups, md: MapData, lang: str) -> None:
    """The detailed view: grids, buildings, people on duty, care points and parking."""
    g_admin, g_people, g_service = (
        t("group_admin", lang), t("group_people", lang), t("group_service", lang))
    groups.add("grids", g_admin, _grid_layer(md.layers["grids"], t("grids_by_status", lang)))
    groups.add("grid_gaps", g_admin, VectorLayer(
        md.layers["grid_gaps"], t("grids_without_sentinel", lang), z_offset=10_000,
        icon={"className": "", "html": '<span class="wg-badge wg-gap">!</span>',
              "iconSize": [22, 22], "iconAnchor": [11, 11]}))
    groups.add("buildings", g_admin, _building_layer(
        md.layers["buildings"], t("buildings_from_zoom", lang), min_zoom=BUILDING_MIN_ZOOM))
    groups.add("sentinels", g_people, VectorLayer(
        md.layers["sentinels"], t("grid_sentinel", lang),
        base={"radius": 4.5, "color": PEOPLE_COLOURS["ring"], "weight": 1.5,
              "fillColor": PEOPLE_COLOURS["sentinel"], "fillOpacity": 1}))
    groups.add("members", g_people, VectorLayer(
        md.layers["members"], t("building_member", lang), show=False,
        base={"radius": 3.5, "color": PEOPLE_COLOURS["ring"], "weight": 1,
              "fillColor": PEOPLE_COLOURS["member"], "fillOpacity": 1}))
    groups.add("elder_care", g_service, VectorLayer(
        md.layers["elder_care"], t("elder_care", lang),
        icon={"className": "", "html": '<span class="wg-badge wg-elder">老</span>',
              "iconSize": [22, 22], "iconAnchor": [11, 11]}))
    groups.add("child_care", g_service, VectorLayer(
        md.layers["child_care"], t("child_care", lang),
        icon={"className": "", "html": '<span class="wg-badge wg-child">幼</span>',
              "iconSize": [22, 22], "iconAnchor": [11, 11]}))
    groups.add("parking", g_service, VectorLayer(
        md.layers["parking"], t("parking", lang),
        base={"color": "#fff", "weight": 1, "fillColor": SERVICE_COLOUR,
              "fillOpacity": 1}))


_TICKET_STYLES = {k: {"fillColor": c} for k, c in TICKET_COLOURS.items()}


def _add_ticket_layers(groups: _LayerGroups, md: MapData, lang: str) -> None:
    """Open tickets: a marker cluster, and a heat map (off until chosen)."""
    g_events = t("group_events", lang)
    callback = _TICKET_CALLBACK.replace(
        "LABELS", json.dumps(md.ticket_labels, ensure_ascii=False).replace("<", "\\u003c")
    ).replace("OVERDUE", json.dumps(TICKET_COLOURS["overdue"])).replace(
        "OPEN", json.dumps(TICKET_COLOURS["open"]))
    cluster = TicketCluster(
        md.tickets, name=f"{t('open_tickets', lang)} ({len(md.tickets)})",
        callback=callback, options={"maxClusterRadius": 45})
    groups.add("tickets", g_events, cluster)
    heat = HeatMap([[r[0], r[1]] for r in md.tickets], name=t("ticket_heat", lang),
                   show=False, radius=18, blur=14, min_opacity=0.35)
    groups.add("tickets", g_events, heat, url_key="heat")


def _set_view(m: folium.Map, bounds: tuple[float, float, float, float],
              view: tuple[float, float, int] | None, selected_geojson: str | None) -> None:
    """Open at ``view``, else around the selection, else fit the data's bounds."""
    minx, miny, maxx, maxy = bounds
    if view is not None:
        m.location = [view[0], view[1]]
        m.options["zoom"] = view[2]
    elif selected_geojson:
        sel_geoms = [json.dumps(f["geometry"]) for f in features(selected_geojson)]
        sx0, sy0, sx1, sy1 = shapely.total_bounds(shapely.from_geojson(sel_geoms))
        pad = max(sx1 - sx0, sy1 - sy0, 0.002) * 0.6
        m.fit_bounds([[sy0 - pad, sx0 - pad], [sy1 + pad, sx1 + pad]])
    else:
        m.fit_bounds([[miny, minx], [maxy, maxx]])


class TicketCluster(FastMarkerCluster):
    """``FastMarkerCluster`` whose rows are embedded as UTF-8 JSON (folium's ``tojson`` writes
    every Chinese character as a 6-byte ``\\uXXXX`` escape); ``<`` is still escaped."""

    _template = Template(
        """
{% macro script(this, kwargs) %}
var {{ this.get_name() }} = (function(){
    {{ this.callback }}
    var data = {{ this.data_json }};
    var cluster = L.markerClusterGroup({{ this.options|tojavascript }});
    for (var i = 0; i < data.length; i++) { callback(data[i]).addTo(cluster); }
    cluster.addTo({{ this._parent.get_name() }});
    return cluster;
})();
{% endmacro %}"""
    )

    def __init__(self, data: list[list], **kwargs) -> None:
        super().__init__([], **kwargs)
        self.data_json = json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace(
            "<", "\\u003c")


# folium writes ``var callback = <this>;``: one expression, a closure over the label tables
_TICKET_CALLBACK = """(function() {
    var LB = LABELS;
    return function(row) {
        var colour = row[2] ? OVERDUE : OPEN;
        var m = L.circleMarker(new L.LatLng(row[0], row[1]),
            {radius: row[2] ? 7 : 6, color: '#fff', weight: 2, fillColor: colour, fillOpacity: 0.95});
        var tip = '<b>' + row[3] + '</b> · ' + LB.category[row[4]] + ' · ' + LB.status[row[5]]
            + (row[2] ? ' · <b>' + LB.overdue[0] + '</b>' : '')
            + (row[6] ? '<br>' + row[6] : '');
        m.bindTooltip(tip);
        // a click reports the ticket (streamlit-folium sends the clicked layer's GeoJSON)
        m.feature = {type: 'Feature', properties: {k: 'k', code: row[3]}};
        return m;
    };
})()"""


def selection_layer(selected_geojson: str | None, lang: str = "zh") -> folium.FeatureGroup | None:
    """The selected grid or building's outline as a dynamic layer (the map stays mounted when
    only the selection changes: ``st_folium(feature_group_to_add=…)``)."""
    if not selected_geojson:
        return None
    fg = folium.FeatureGroup(name=t("selection", lang), control=False)
    VectorLayer(selected_geojson, t("selection", lang), base={
        **SELECTION_STYLE, "fill": False, "radius": 9}, show=True).add_to(fg)
    MapScript(_UNHIGHLIGHT).add_to(fg)  # a clicked outline from before goes
    return fg


#: Removes the outline a click drew in the browser (the selection changed elsewhere).
_UNHIGHLIGHT = ("var prev = window.__wgSelected; if (prev && prev.layer.setStyle) "
                "{ prev.group.resetStyle(prev.layer); } window.__wgSelected = null;")


def unhighlight_layer() -> folium.FeatureGroup:
    """A dynamic layer that only removes a clicked outline (the selection was cleared)."""
    fg = folium.FeatureGroup(name="unselect", control=False)
    MapScript(_UNHIGHLIGHT).add_to(fg)
    return fg


def view_layer(md: MapData, lang: str = "zh") -> folium.FeatureGroup | None:
    """The grids and buildings of one viewport (:func:`prepare_view`) as a dynamic layer."""
    if not md.layers:
        return None
    fg = folium.FeatureGroup(name=t("grids", lang), control=False)
    if "communities" in md.layers:
        VectorLayer(md.layers["communities"], t("communities", lang),
                    base={"color": "#1f2328", "weight": 1.5, "fillOpacity": 0.0},
                    styles=_area_styles(), tooltip_js=_area_tip(lang),
                    quant=md.quant.get("communities")).add_to(fg)
    if "grids" in md.layers:
        _grid_layer(md.layers["grids"], t("grids_by_status", lang),
                    quant=md.quant.get("grids")).add_to(fg)
    if "tickets" in md.layers:
        VectorLayer(md.layers["tickets"], t("open_tickets", lang), styles=_TICKET_STYLES,
                    base={"radius": 6, "color": "#fff", "weight": 1, "fillOpacity": 0.95},
                    quant=md.quant.get("tickets")).add_to(fg)
    if "buildings" in md.layers:
        _building_layer(md.layers["buildings"], t("buildings", lang),
                        quant=md.quant.get("buildings")).add_to(fg)
    return fg


def point_view(lon: float, lat: float, crs: str, zoom: int = 17
               ) -> tuple[tuple[float, float], int]:
    """``((lat, lon), zoom)`` centred on a WGS-84 point, on a map drawn in ``crs``."""
    pt = _shift(np.array([shapely.Point(lon, lat)]), crs)[0]
    return (round(float(pt.y), 6), round(float(pt.x), 6)), zoom


def view_of(selected_geojson: str, width_px: int = 800, height_px: int = 600
            ) -> tuple[tuple[float, float], int]:
    """``((lat, lon), zoom)`` that shows the selection with some room around it (a Web
    Mercator zoom for a map of about ``width_px`` × ``height_px``), for ``st_folium``'s
    ``center``/``zoom`` (which move the map without redrawing it)."""
    geoms = shapely.from_geojson([json.dumps(f["geometry"]) for f in features(selected_geojson)])
    x0, y0, x1, y1 = shapely.total_bounds(geoms)
    span_x = max(x1 - x0, 0.0008) * 2.2
    span_y = max(y1 - y0, 0.0008) * 2.2
    lat = (y0 + y1) / 2
    zx = np.log2(width_px * 360 / (256 * span_x))
    zy = np.log2(height_px * 360 * np.cos(np.radians(lat)) / (256 * span_y))
    zoom = int(np.clip(np.floor(min(zx, zy)), 3, 18))
    return (round(float(lat), 6), round(float((x0 + x1) / 2), 6)), zoom


def selection_geojson(data: LayerSet, code: str | None, crs: str = "wgs84") -> str | None:
    """The outline of the selected grid or building (by code), for the map's highlight."""
    if not code:
        return None
    for layer in ("grids", "buildings"):
        df = data[layer]
        hit = df[(df["code"] == code).to_numpy()]
        if len(hit):
            geoms = _round(_shift(hit.geometry.to_numpy(), crs), 6)
            return feature_collection(geoms, pd.DataFrame({"s": ["sel"], "k": ["s"]}))
    return None
