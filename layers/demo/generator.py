"""A deterministic generator of a **fictional** town (示例数据，非真实).

The demo town is modelled on 曾家镇 near 106.28°E 29.60°N (6 communities and 6 villages,
about 96,000 people): a dense core of 1990s–2020s compounds (小区) of 6–33-storey buildings on a
street grid, split among the urban communities, and villages of low houses strung along winding
roads in hamlets (村民小组). Grids are cut with :func:`layers.partition.partition_grids`.
Party members, sentinels and building members are assigned with a few deliberate gaps; care
points, parking and a year of tickets are placed where they would plausibly be.

``scale="city"`` lays out hundreds of such towns (~100k grids, ~2M buildings, ~1M people) for
benchmarks. Everything is generated with numpy/shapely arrays; Python loops run over towns and
villages (dozens to thousands), never over buildings or people.

Same seed, same profile and same ``as_of`` → the same data, byte for byte.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import NamedTuple

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer
from scipy.spatial import cKDTree

from ..layerset import DATE_ANCHOR, LayerSet
from ..partition import partition_grids
from ..settings import DEFAULT_SETTINGS, Settings
from . import names as _names

METRIC = "EPSG:4544"  # CGCS2000 / 3-degree Gauss-Krüger CM 105E
CENTRE_LONLAT = (106.28, 29.60)
DEMO_AS_OF = "2026-11-20"
FICTIONAL_LABEL = "示例数据，非真实"
FICTIONAL_LABEL_EN = "Sample data, not real"

Progress = Callable[[str], None]


@dataclass(frozen=True)
class DemoProfile:
    """Size and character of a generated town (and of each town of a city)."""

    n_urban: int = 6
    n_village: int = 6
    town_radius_m: float = 5000.0
    urban_households: int = 32000
    village_households: int = 5200
    persons_per_household: float = 2.58
    urban_density_per_km2: float = 12000.0
    party_share: float = 0.045
    tickets_per_year: int = 4200
    sentinel_gap_share: float = 0.05
    member_gap_share: float = 0.08
    sentinel_double_share: float = 0.04


TOWN = DemoProfile()
CITY_TOWN = replace(TOWN, village_households=2400, party_share=0.012, tickets_per_year=360)
CITY_TOWNS = 870


def generate_demo(
    scale: str = "town",
    seed: int = 7,
    *,
    as_of: str = DEMO_AS_OF,
    settings: Settings = DEFAULT_SETTINGS,
    n_towns: int | None = None,
    progress: Progress | None = None,
) -> LayerSet:
    """Generate the fictional demo data.

    Parameters
    ----------
    scale
        ``"town"`` (one town, ~96,000 people) or ``"city"`` (``n_towns`` towns, default 870:
        ~100k grids, ~2M buildings, ~1M people in the people layer).
    seed
        Random seed; the output is a pure function of (scale, seed, as_of, settings, n_towns).
    as_of
        The "today" of the data (ISO date): tickets cover the twelve months before it.
    settings
        ``households_per_grid`` drives the grid partition.
    n_towns
        Number of towns for ``scale="city"`` (ignored for a town).
    progress
        Called with a short message before each step.

    Returns
    -------
    LayerSet
        All contract layers plus ``roads``; ``meta['fictional'] == 'true'``.
    """
    say = progress or (lambda _m: None)
    if scale == "town":
        profile, towns = TOWN, 1
    elif scale == "city":
        profile, towns = CITY_TOWN, (n_towns or CITY_TOWNS)
    else:
        raise ValueError(f"scale must be 'town' or 'city', not {scale!r}")
    rng = np.random.default_rng(seed)
    to_m = Transformer.from_crs("EPSG:4326", METRIC, always_xy=True)
    cx, cy = to_m.transform(*CENTRE_LONLAT)

    say("towns and communities")
    sk = _skeletons(rng, profile, towns, (cx, cy))
    say("buildings")
    b = _buildings(rng, profile, sk)
    say("grids")
    comm = sk["communities"]
    b_gdf = gpd.GeoDataFrame(
        {"households": b["households"], "community_code": comm["code"][b["community"]]},
        geometry=b["geometry"],
        crs=METRIC,
    )
    comm_gdf = gpd.GeoDataFrame(
        {"code": comm["code"], "name": comm["name"]}, geometry=comm["geometry"], crs=METRIC
    )
    grids, grid_of = partition_grids(
        comm_gdf, b_gdf, settings.households_per_grid, metric_crs=METRIC
    )
    buildings = _finish_buildings(b, grid_of.to_numpy(), comm)
    say("people and assignments")
    people, assignments = _people(rng, profile, buildings, grids, comm, as_of)
    say("care points and parking")
    care = _care_points(rng, sk, comm)
    parking = _parking(rng, sk, comm, b)
    say("tickets")
    tickets = _tickets(rng, profile, towns, buildings, as_of, comm["code"])
    # like intake: a ticket's grid is the grid its point lies in
    cell = _owner(tickets["geometry"], grids.geometry.to_numpy())
    found = cell >= 0
    tickets["grid_code"] = np.where(found, grids["code"].to_numpy()[np.maximum(cell, 0)],
                                    tickets["grid_code"]).astype(object)
    tickets["community_code"] = np.where(
        found, grids["community_code"].to_numpy()[np.maximum(cell, 0)],
        tickets["community_code"]).astype(object)

    say("assembling layers")
    households_c = (
        pd.Series(buildings["households"]).groupby(buildings["community_idx"]).sum()
        .reindex(np.arange(len(comm["code"])), fill_value=0).to_numpy()
    )
    pph = rng.uniform(profile.persons_per_household - 0.15, profile.persons_per_household + 0.15,
                      len(households_c))
    population_c = np.round(households_c * pph).astype(np.int64)
    town_idx = comm["town"]
    town_hh = np.bincount(town_idx, weights=households_c, minlength=towns).astype(np.int64)
    town_pop = np.bincount(town_idx, weights=population_c, minlength=towns).astype(np.int64)

    def gdf(data: dict, geoms: np.ndarray) -> gpd.GeoDataFrame:
        # full precision: rounding neighbours independently would open slivers between them
        lonlat = gpd.GeoSeries(geoms, crs=METRIC).to_crs("EPSG:4326")
        return gpd.GeoDataFrame(data, geometry=lonlat.to_numpy(), crs="EPSG:4326")

    layers = {
        "towns": gdf(
            {"code": sk["towns"]["code"], "name": sk["towns"]["name"],
             "district_code": sk["towns"]["district"],
             "households": town_hh, "population": town_pop},
            sk["towns"]["geometry"],
        ),
        "communities": gdf(
            {"code": comm["code"], "name": comm["name"], "kind": comm["kind"],
             "town_code": sk["towns"]["code"][town_idx],
             "households": households_c.astype(np.int64), "population": population_c},
            comm["geometry"],
        ),
        "grids": grids.to_crs("EPSG:4326"),
        "buildings": gdf({k: v for k, v in buildings.items() if k not in {"geometry",
                          "community_idx", "centroid"}}, buildings["geometry"]),
        "people": gdf({k: v for k, v in people.items() if k != "geometry"}, people["geometry"]),
        "assignments": pd.DataFrame(assignments),
        "care_points": gdf({k: v for k, v in care.items() if k != "geometry"}, care["geometry"]),
        "parking": gdf({k: v for k, v in parking.items() if k != "geometry"},
                       parking["geometry"]),
        "tickets": gdf({k: v for k, v in tickets.items() if k != "geometry"},
                       tickets["geometry"]),
        "roads": gdf({"name": sk["roads"]["name"], "kind": sk["roads"]["kind"]},
                     sk["roads"]["geometry"]),
    }
    meta = {
        "fictional": "true",
        "label": FICTIONAL_LABEL,
        "label_en": FICTIONAL_LABEL_EN,
        "generator": "layers.demo",
        "scale": scale,
        "seed": str(seed),
        DATE_ANCHOR: as_of,  # dates are relative to this day: shown relative to today
        "households_per_grid": str(settings.households_per_grid),
        "source": "generated demo data (fictional)",
    }
    return LayerSet(layers, meta)


# =============================================================================================
# towns, communities, streets


def _noisy_radius(rng: np.random.Generator, angles: np.ndarray, amp: float) -> np.ndarray:
    k = np.arange(1, 4)
    ph = rng.uniform(0, 2 * np.pi, 3)
    a = rng.uniform(0.3, 1.0, 3) / k
    return 1 + amp * (np.sin(np.outer(angles, k) + ph) * a).sum(axis=1) / a.sum()


def _skeletons(
    rng: np.random.Generator, p: DemoProfile, n_towns: int, centre: tuple[float, float]
) -> dict:
    """Towns, communities, street lattice blocks and roads (metric CRS).

    The steps draw from ``rng`` in a fixed order (outlines, town names, each town in turn,
    community names, street names): reordering them would change the demo data.
    """
    centres, town_polys = _town_outlines(rng, p, n_towns, centre)
    names, district, tcodes = _town_names_codes(rng, n_towns)
    parts = _TownParts()
    for t in range(n_towns):
        _lay_out_town(rng, p, t, centres[t], town_polys[t], parts)
    c_codes, c_names, c_kind_a, c_town_a = _community_names_codes(rng, parts, tcodes)
    road_geoms, road_kind, road_names = _all_roads(rng, parts)
    blk = np.array(parts.blk_rows, dtype=float).reshape(-1, 7)
    return {
        "towns": {"code": tcodes, "name": names, "district": district.astype(object),
                  "geometry": town_polys, "centre": centres},
        "communities": {"code": c_codes, "name": c_names, "kind": c_kind_a,
                        "town": c_town_a, "geometry": np.array(parts.c_geom, dtype=object),
                        "seed": np.array(parts.c_seed)},
        "blocks": {"town": blk[:, 0].astype(int), "community": blk[:, 1].astype(int),
                   "box": blk[:, 2:6], "centrality": blk[:, 6]},
        "village_roads": {"community": np.array([r[0] for r in parts.v_roads], dtype=int),
                          "geometry": np.array([r[1] for r in parts.v_roads], dtype=object)},
        "roads": {"geometry": road_geoms, "kind": road_kind,
                  "name": road_names.astype(object)},
    }


@dataclass
class _TownParts:
    """What :func:`_lay_out_town` accumulates over the towns."""

    c_geom: list = field(default_factory=list)
    c_kind: list[str] = field(default_factory=list)
    c_town: list[int] = field(default_factory=list)
    c_seed: list = field(default_factory=list)
    #: (town, community, x0, y0, x1, y1, distance to the centre / core radius)
    blk_rows: list[tuple] = field(default_factory=list)
    #: lattice streets and their kinds
    roads_g: list = field(default_factory=list)
    roads_kind: list[str] = field(default_factory=list)
    #: (community index, line, kind)
    v_roads: list[tuple[int, shapely.LineString, str]] = field(default_factory=list)
    #: communities laid out so far (the index of the next town's first community)
    n_comm: int = 0


class _Lattice(NamedTuple):
    """The built-up core of a town: a street lattice (lines ``xs``, ``ys``), its cells'
    corners, centres and distance to the town centre, and which cells are kept."""

    xs: np.ndarray
    ys: np.ndarray
    X0: np.ndarray
    Y0: np.ndarray
    X1: np.ndarray
    Y1: np.ndarray
    mx: np.ndarray
    my: np.ndarray
    dist: np.ndarray
    keep: np.ndarray
    rc: float
    cells: np.ndarray
    core: shapely.Geometry


def _town_outlines(
    rng: np.random.Generator, p: DemoProfile, n_towns: int, centre: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """Town centres and outlines: one noisy round town, or a jittered square of Voronoi
    cells for a city."""
    R = p.town_radius_m
    if n_towns == 1:
        centres = np.array([centre])
        ang = np.linspace(0, 2 * np.pi, 40, endpoint=False)
        r = R * _noisy_radius(rng, ang, 0.18)
        town_polys = np.array([shapely.convex_hull(shapely.multipoints(
            np.c_[centre[0] + r * np.cos(ang) * 1.15, centre[1] + r * np.sin(ang) * 0.9]))])
    else:
        side = math.ceil(math.sqrt(n_towns))
        ij = np.array([(i, j) for j in range(side) for i in range(side)])[:n_towns]
        spacing = 2.0 * R
        centres = (np.asarray(centre) + (ij - side / 2) * spacing
                   + rng.uniform(-0.08, 0.08, (n_towns, 2)) * spacing)
        region = shapely.box(*(centres.min(0) - R), *(centres.max(0) + R))
        cells = shapely.voronoi_polygons(shapely.multipoints(centres), extend_to=region,
                                         ordered=True)
        town_polys = shapely.intersection(np.asarray(shapely.get_parts(cells)), region)
    return centres, town_polys


def _town_names_codes(
    rng: np.random.Generator, n_towns: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Town names, district codes and 9-digit town codes."""
    names = _names.town_names(rng, n_towns)
    if n_towns == 1:  # the demo town is a 镇 with villages, like 曾家镇
        names = np.array([str(names[0]).removesuffix("街道").removesuffix("镇") + "镇"],
                         dtype=object)
    district = np.array([f"5001{(i // 24) + 1:02d}" for i in range(n_towns)]) if n_towns > 1 \
        else np.array(["500106"])
    town_no = np.array([f"{110 + (i % 24) * 2:03d}" for i in range(n_towns)])
    tcodes = np.char.add(district, town_no).astype(object)
    return names, district, tcodes


def _lay_out_town(
    rng: np.random.Generator,
    p: DemoProfile,
    t: int,
    centre: np.ndarray,
    town: shapely.Geometry,
    parts: _TownParts,
) -> None:
    """One town: community seeds and cells, the core's street lattice, its blocks and
    streets, and the village roads; appended to ``parts``."""
    cx, cy = centre
    seeds, village = _community_seeds(rng, p, cx, cy)
    vor = shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=town, ordered=True)
    vcells = shapely.intersection(np.asarray(shapely.get_parts(vor)), town)
    lat = _street_lattice(rng, p, cx, cy)
    keep = lat.keep
    owner = _owner(shapely.points(lat.mx[keep], lat.my[keep]), vcells)
    _add_communities(parts, p, t, seeds, vcells, lat, owner)
    _add_blocks(parts, p, t, lat, owner)
    _add_lattice_streets(parts, lat, cx, cy)
    _add_village_roads(rng, p, parts, lat.core, village, town)
    parts.n_comm += len(seeds)


def _community_seeds(
    rng: np.random.Generator, p: DemoProfile, cx: float, cy: float
) -> tuple[np.ndarray, np.ndarray]:
    """Seeds of the communities (urban in the centre, villages around) and of the villages
    alone."""
    R = p.town_radius_m
    ang_u = rng.uniform(0, 2 * np.pi) + np.linspace(0, 2 * np.pi, p.n_urban - 1,
                                                    endpoint=False)
    ru = 0.16 * R * rng.uniform(0.85, 1.15, p.n_urban - 1)
    urban = np.r_[[[cx, cy]], np.c_[cx + ru * np.cos(ang_u), cy + ru * np.sin(ang_u)]]
    ang_v = rng.uniform(0, 2 * np.pi) + np.linspace(0, 2 * np.pi, p.n_village,
                                                    endpoint=False)
    ang_v += rng.uniform(-0.2, 0.2, p.n_village)
    rv = 0.6 * R * rng.uniform(0.9, 1.1, p.n_village)
    village = np.c_[cx + rv * np.cos(ang_v), cy + rv * np.sin(ang_v)]
    return np.r_[urban, village], village


def _street_lattice(rng: np.random.Generator, p: DemoProfile, cx: float, cy: float) -> _Lattice:
    """The built-up core: a street lattice with irregular spacing, cells kept within a noisy
    radius."""
    rc = math.sqrt(p.urban_households / (p.urban_density_per_km2 * math.pi)) * 1000
    xs = _street_lines(rng, cx - 1.3 * rc, cx + 1.3 * rc)
    ys = _street_lines(rng, cy - 1.3 * rc, cy + 1.3 * rc)
    X0, Y0 = np.meshgrid(xs[:-1], ys[:-1], indexing="ij")
    X1, Y1 = np.meshgrid(xs[1:], ys[1:], indexing="ij")
    mx, my = (X0 + X1) / 2, (Y0 + Y1) / 2
    theta = np.arctan2(my - cy, mx - cx)
    dist = np.hypot(mx - cx, my - cy)
    keep = dist < rc * _noisy_radius(rng, theta.ravel(), 0.22).reshape(theta.shape)
    cells = shapely.box(X0[keep], Y0[keep], X1[keep], Y1[keep])
    core = shapely.coverage_union_all(cells)
    return _Lattice(xs, ys, X0, Y0, X1, Y1, mx, my, dist, keep, rc, cells, core)


def _add_communities(parts: _TownParts, p: DemoProfile, t: int, seeds: np.ndarray,
                     vcells: np.ndarray, lat: _Lattice, owner: np.ndarray) -> None:
    """Each community: its lattice cells plus its Voronoi cell outside the core."""
    for i in range(len(seeds)):
        mine = lat.cells[owner == i]
        outside = shapely.difference(vcells[i], lat.core)
        geom = shapely.union_all(np.r_[mine, [outside]]) if len(mine) else outside
        geom = _polygonal(geom)
        parts.c_geom.append(geom)
        parts.c_kind.append("社区" if i < p.n_urban else "村")
        parts.c_town.append(t)
        parts.c_seed.append(seeds[i])


def _add_blocks(parts: _TownParts, p: DemoProfile, t: int, lat: _Lattice,
                owner: np.ndarray) -> None:
    """The lattice cells of the urban communities, as blocks to build on."""
    for k in np.flatnonzero(owner < p.n_urban):
        ci = np.flatnonzero(lat.keep.ravel())[k]
        parts.blk_rows.append((t, parts.n_comm + owner[k], lat.X0.ravel()[ci],
                               lat.Y0.ravel()[ci], lat.X1.ravel()[ci], lat.Y1.ravel()[ci],
                               lat.dist.ravel()[ci] / lat.rc))


def _add_lattice_streets(parts: _TownParts, lat: _Lattice, cx: float, cy: float) -> None:
    """Streets: the lattice edges touching the core (primary near the centre lines)."""
    kx = lat.keep
    for axis, lines, other in ((0, lat.xs, lat.ys), (1, lat.ys, lat.xs)):
        for li in range(len(lines)):
            # a segment on line li between other[j], other[j+1] is a street if a cell on
            # either side is kept
            if axis == 0:
                left = kx[li - 1, :] if li > 0 else np.zeros(kx.shape[1], bool)
                right = kx[li, :] if li < kx.shape[0] else np.zeros(kx.shape[1], bool)
            else:
                left = kx[:, li - 1] if li > 0 else np.zeros(kx.shape[0], bool)
                right = kx[:, li] if li < kx.shape[1] else np.zeros(kx.shape[0], bool)
            on = left | right
            if not on.any():
                continue
            for a, bnd in _runs(on):
                s0, s1 = other[a], other[bnd]
                seg = ((lines[li], s0), (lines[li], s1)) if axis == 0 else \
                    ((s0, lines[li]), (s1, lines[li]))
                parts.roads_g.append(shapely.linestrings(seg))
                near = abs(lines[li] - (cx if axis == 0 else cy)) < 150
                parts.roads_kind.append("primary" if near else
                                        ("secondary" if li % 3 == 0 else "residential"))


def _add_village_roads(rng: np.random.Generator, p: DemoProfile, parts: _TownParts,
                       core: shapely.Geometry, village: np.ndarray,
                       town: shapely.Geometry) -> None:
    """Village roads from the core's edge out through each village, with a few branch
    paths."""
    edge = core.exterior if core.geom_type == "Polygon" else shapely.convex_hull(core).exterior
    for v in range(p.n_village):
        ci = parts.n_comm + p.n_urban + v
        seed_pt = village[v]
        start = shapely.line_interpolate_point(
            edge, shapely.line_locate_point(edge, shapely.points(*seed_pt)))
        sx, sy = start.x, start.y
        d = np.array(seed_pt) - (sx, sy)
        far = 1.55 * np.hypot(*d)
        main = _wiggly(rng, (sx, sy), math.atan2(d[1], d[0]), far, 160.0)
        main = shapely.intersection(main, town)
        main = _longest_line(main)
        if main is None:
            continue
        parts.v_roads.append((ci, main, "village"))
        for _ in range(rng.integers(3, 6)):
            at = shapely.line_interpolate_point(main, rng.uniform(0.25, 0.9),
                                                normalized=True)
            a0 = math.atan2(d[1], d[0]) + rng.choice([-1, 1]) * rng.uniform(0.9, 2.0)
            br = _wiggly(rng, (at.x, at.y), a0, rng.uniform(700, 1800), 90.0)
            br = _longest_line(shapely.intersection(br, town))
            if br is not None:
                parts.v_roads.append((ci, br, "path"))


def _community_names_codes(
    rng: np.random.Generator, parts: _TownParts, tcodes: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Community codes, names, kinds and town indexes."""
    c_kind_a = np.array(parts.c_kind, dtype=object)
    c_town_a = np.array(parts.c_town)
    n_u = int((c_kind_a == "社区").sum())
    u_names, v_names = _names.community_names(rng, n_u, len(c_kind_a) - n_u)
    c_names = np.empty(len(c_kind_a), dtype=object)
    c_names[c_kind_a == "社区"] = u_names
    c_names[c_kind_a == "村"] = v_names
    # codes: urban 0xx (居委会), villages 2xx (村委会) within each town
    urban_no = pd.Series(c_kind_a == "社区").groupby(c_town_a).cumsum().to_numpy()
    vil_no = pd.Series(c_kind_a == "村").groupby(c_town_a).cumsum().to_numpy()
    suffix = np.where(c_kind_a == "社区", urban_no, 200 + vil_no)
    c_codes = np.char.add(tcodes[c_town_a].astype(str),
                          np.char.zfill(suffix.astype(str), 3)).astype(object)
    return c_codes, c_names, c_kind_a, c_town_a


def _all_roads(
    rng: np.random.Generator, parts: _TownParts
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All roads (lattice streets of every town, then the village roads), their kinds and
    names (paths have none)."""
    roads_g = parts.roads_g + [line for _ci, line, _kind in parts.v_roads]
    roads_kind = parts.roads_kind + [kind for _ci, _line, kind in parts.v_roads]
    road_geoms = np.array(roads_g, dtype=object)
    road_kind = np.array(roads_kind, dtype=object)
    road_names = np.where(road_kind == "path", None,  # type: ignore[call-overload]  # stubs
                          _names.street_names(rng, len(road_geoms)))
    return road_geoms, road_kind, road_names


def _street_lines(rng: np.random.Generator, lo: float, hi: float) -> np.ndarray:
    steps = rng.uniform(150, 260, int((hi - lo) / 150) + 2)
    return lo + np.r_[0, np.cumsum(steps)]


def _owner(points: np.ndarray, polys: np.ndarray) -> np.ndarray:
    tree = shapely.STRtree(polys)
    pi, gi = tree.query(points, predicate="intersects")
    out = np.full(len(points), -1)
    out[pi[::-1]] = gi[::-1]  # first match wins
    return out


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) index pairs of the True runs of a 1-d mask (end is the next line index)."""
    d = np.diff(np.r_[0, mask.astype(int), 0])
    return list(zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1), strict=True))


def _polygonal(geom: shapely.Geometry) -> shapely.Geometry:
    parts = shapely.get_parts(geom)
    parts = parts[np.isin(shapely.get_type_id(parts), [3, 6])]
    parts = parts[shapely.area(parts) > 1.0]
    return shapely.union_all(parts) if len(parts) else shapely.Polygon()


def _wiggly(rng: np.random.Generator, start: tuple[float, float], heading: float,
            length: float, amp: float) -> shapely.LineString:
    n = max(6, int(length / 120))
    t = np.linspace(0, length, n)
    drift = np.cumsum(rng.normal(0, 1, n))
    drift = (drift - np.linspace(0, drift[-1], n)) / (np.abs(drift).max() + 1e-9) * amp
    drift[0] = 0
    ux, uy = math.cos(heading), math.sin(heading)
    return shapely.linestrings(start[0] + t * ux - drift * uy, start[1] + t * uy + drift * ux)


def _longest_line(geom: shapely.Geometry) -> shapely.LineString | None:
    parts = shapely.get_parts(geom)
    parts = parts[shapely.get_type_id(parts) == 1]
    if not len(parts):
        return None
    return parts[int(np.argmax(shapely.length(parts)))]


# =============================================================================================
# buildings

# era: (width, depth, gap x, gap y, floors lo, hi, households per floor, year lo, hi, elevator)
_ERAS = {
    "old": (40.0, 11.0, 12.0, 22.0, 6, 7, 6, 1986, 1999, False),
    "mid": (48.0, 14.0, 15.0, 30.0, 11, 18, 8, 2000, 2010, True),
    "new": (26.0, 22.0, 25.0, 36.0, 25, 33, 4, 2011, 2022, True),
}


def _rects(cx, cy, w, h, angle) -> np.ndarray:
    """Rotated rectangles (vectorised) as a Polygon array."""
    dx = np.array([-0.5, 0.5, 0.5, -0.5, -0.5])
    dy = np.array([-0.5, -0.5, 0.5, 0.5, -0.5])
    lx = np.outer(w, dx)
    ly = np.outer(h, dy)
    c, s = np.cos(angle)[:, None], np.sin(angle)[:, None]
    x = cx[:, None] + lx * c - ly * s
    y = cy[:, None] + lx * s + ly * c
    return shapely.polygons(np.stack([x, y], axis=-1))


def _buildings(rng: np.random.Generator, p: DemoProfile, sk: dict) -> dict:
    blocks = sk["blocks"]
    comm = sk["communities"]
    nb = len(blocks["town"])
    # block use: residential compounds, or schools / parks / offices / markets
    use = rng.choice(["residential", "school", "park", "office", "market"], nb,
                     p=[0.72, 0.07, 0.08, 0.08, 0.05])
    central = blocks["centrality"]
    p_old = np.clip(0.75 - 0.5 * central, 0.1, 0.8)
    p_new = np.clip(0.1 + 0.35 * central, 0.05, 0.5)
    r = rng.random(nb)
    era = np.where(r < p_old, "old", np.where(r < p_old + p_new, "new", "mid"))
    blocks["use"] = use
    blocks["era"] = era
    res = np.flatnonzero(use == "residential")
    inset = 18.0
    x0, y0, x1, y1 = (blocks["box"][res] + [inset, inset, -inset, -inset]).T
    spec = np.array([_ERAS[e] for e in era[res]], dtype=object)
    w, h, gx, gy = (spec[:, i].astype(float) for i in range(4))
    ncol = np.maximum(0, np.floor((x1 - x0 + gx) / (w + gx))).astype(int)
    nrow = np.maximum(0, np.floor((y1 - y0 + gy) / (h + gy))).astype(int)
    count = ncol * nrow
    bi = np.repeat(np.arange(len(res)), count)
    local = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    col = local % ncol[bi]
    row = local // ncol[bi]
    used_w = ncol * w + (ncol - 1) * gx
    used_h = nrow * h + (nrow - 1) * gy
    ox = x0 + (x1 - x0 - used_w) / 2
    oy = y0 + (y1 - y0 - used_h) / 2
    bx = ox[bi] + col * (w[bi] + gx[bi]) + w[bi] / 2
    by = oy[bi] + row * (h[bi] + gy[bi]) + h[bi] / 2
    # gardens and courtyards: drop some slots; then thin to the household target
    floors_lo = spec[:, 4].astype(int)[bi]
    floors_hi = spec[:, 5].astype(int)[bi]
    floors = rng.integers(floors_lo, floors_hi + 1)
    hh = floors * spec[:, 6].astype(int)[bi]
    keep = rng.random(len(bx)) > 0.08
    total = hh[keep].sum()
    if total > p.urban_households * len(sk["towns"]["code"]):
        frac = p.urban_households * len(sk["towns"]["code"]) / total
        keep &= rng.random(len(bx)) < frac
    bi, bx, by, floors, hh = bi[keep], bx[keep], by[keep], floors[keep], hh[keep]
    blk = res[bi]
    yl = spec[:, 7].astype(int)[bi]
    yh = spec[:, 8].astype(int)[bi]
    year_u = rng.integers(yl, yh + 1)
    elev_u = spec[:, 9].astype(bool)[bi] | ((era[blk] == "old") & (rng.random(len(bx)) < 0.12))
    # renovation status by era (老旧小区改造 targets pre-2000 compounds)
    rr = rng.random(len(bx))
    reno_old = np.select([rr < 0.35, rr < 0.5, rr < 0.75], ["completed", "in_progress", "planned"],
                         "not_planned")
    reno_mid = np.select([rr < 0.1, rr < 0.3], ["completed", "planned"], "not_planned")
    reno_u = np.where(era[blk] == "old", reno_old,
                      np.where(era[blk] == "mid", reno_mid, "not_planned"))
    geom_u = _rects(bx, by, w[bi], h[bi], np.zeros(len(bx)))
    # compound names: one per residential block; building number within its compound
    cnames = _names.compound_names(rng, len(res))
    bno = pd.Series(np.ones(len(bi), int)).groupby(bi).cumsum().to_numpy()
    name_u = np.char.add(np.char.add(cnames[bi].astype(str), bno.astype(str)), "栋")

    # --- villages: houses in hamlets along the village roads
    vr = sk["village_roads"]
    v_comm_all = np.flatnonzero(comm["kind"] == "村")
    hh_per_village = p.village_households / p.n_village
    want = np.round(hh_per_village / 1.25 * rng.uniform(0.8, 1.2, len(v_comm_all))).astype(int)
    gen = (want * 3.0).astype(int)
    vid = np.repeat(np.arange(len(v_comm_all)), gen)
    road_of = _pick_road(rng, vr["community"], v_comm_all[vid])
    ok = road_of >= 0
    vid, road_of = vid[ok], road_of[ok]
    lines = vr["geometry"][road_of]
    lengths = shapely.length(lines)
    # hamlets: 6-10 per village at fixed positions along its roads
    n_ham = rng.integers(6, 11, len(v_comm_all))
    ham = (rng.random(len(vid)) * n_ham[vid]).astype(int)
    ham_pos = _hash_uniform(vid * 31 + ham, rng.integers(1 << 30))
    pos = np.clip(ham_pos * lengths + rng.normal(0, 110, len(vid)), 0, lengths)
    pt = shapely.line_interpolate_point(lines, pos)
    pt2 = shapely.line_interpolate_point(lines, np.minimum(pos + 2.0, lengths))
    pt0 = shapely.line_interpolate_point(lines, np.maximum(pos - 2.0, 0))
    ang = np.arctan2(shapely.get_y(pt2) - shapely.get_y(pt0), shapely.get_x(pt2) - shapely.get_x(pt0))
    off = rng.choice([-1, 1], len(vid)) * rng.uniform(14, 55, len(vid))
    hx = shapely.get_x(pt) - off * np.sin(ang)
    hy = shapely.get_y(pt) + off * np.cos(ang)
    # inside the village with a setback, so no house straddles a community boundary
    inner = _prep(shapely.buffer(comm["geometry"][v_comm_all], -12.0))
    inside = shapely.contains_xy(inner[vid], hx, hy)
    # outside the built-up core and away from other houses
    sel = np.flatnonzero(inside)
    tree = cKDTree(np.c_[hx[sel], hy[sel]])
    pairs = tree.query_pairs(16.0, output_type="ndarray")
    drop = np.zeros(len(sel), bool)
    drop[np.maximum(pairs[:, 0], pairs[:, 1])] = True
    sel = sel[~drop]
    if len(geom_u):
        near_urban = cKDTree(np.c_[bx, by]).query(np.c_[hx[sel], hy[sel]],
                                                  distance_upper_bound=60)[0] < 60
        sel = sel[~near_urban]
    # thin each village to its wanted number of houses
    order = rng.permutation(len(sel))
    sel = sel[order]
    rank = pd.Series(np.ones(len(sel), int)).groupby(vid[sel]).cumsum().to_numpy()
    sel = sel[rank <= want[vid[sel]]]
    sel = np.sort(sel)
    nv = len(sel)
    vw = rng.uniform(10, 15, nv)
    vh = rng.uniform(8, 12, nv)
    geom_v = _rects(hx[sel], hy[sel], vw, vh, ang[sel])
    floors_v = rng.choice([1, 2, 3], nv, p=[0.25, 0.55, 0.2])
    hh_v = rng.choice([1, 2], nv, p=[0.8, 0.2])
    year_v = rng.integers(1975, 2021, nv)
    v_of = v_comm_all[vid[sel]]
    group = ham[sel] + 1
    no_in_group = pd.Series(np.ones(nv, int)).groupby([v_of, group]).cumsum().to_numpy()
    vname = comm["name"][v_of].astype(str)
    name_v = np.char.add(np.char.add(np.char.add(np.char.add(vname, group.astype(str)), "组"),
                                     no_in_group.astype(str)), "号")
    reno_v = np.where(rng.random(nv) < 0.1, "completed", "not_planned")

    return {
        "geometry": np.r_[geom_u, geom_v],
        "community": np.r_[blocks["community"][blk], v_of].astype(int),
        "name": np.r_[name_u.astype(object), name_v.astype(object)],
        "households": np.r_[hh, hh_v].astype(np.int64),
        "floors": np.r_[floors, floors_v].astype(np.int64),
        "year_built": np.r_[year_u, year_v].astype(np.int64),
        "has_elevator": np.r_[elev_u, np.zeros(nv, bool)],
        "renovation": np.r_[reno_u, reno_v].astype(object),
        "block": np.r_[blk, np.full(nv, -1)],
        "compound": np.r_[cnames[bi].astype(object), np.full(nv, None, dtype=object)],
    }


def _prep(geoms: np.ndarray) -> np.ndarray:
    shapely.prepare(geoms)
    return geoms


def _pick_road(rng: np.random.Generator, road_comm: np.ndarray, want_comm: np.ndarray
               ) -> np.ndarray:
    """A random road of each wanted community (-1 when it has none); main roads weigh 3×."""
    order = np.argsort(road_comm, kind="stable")
    rc = road_comm[order]
    start = np.searchsorted(rc, want_comm, "left")
    end = np.searchsorted(rc, want_comm, "right")
    n = end - start
    k = np.floor(rng.random(len(want_comm)) ** 1.8 * np.maximum(n, 1)).astype(int)
    out = np.where(n > 0, order[np.minimum(start + k, len(order) - 1)], -1)
    return out


def _hash_uniform(key: np.ndarray, salt: int | np.integer) -> np.ndarray:
    """A deterministic uniform(0.05, 0.95) per integer key (hamlet positions)."""
    x = (key.astype(np.uint64) * np.uint64(2654435761) + np.uint64(salt)) % np.uint64(1 << 32)
    x = (x ^ (x >> np.uint64(13))) * np.uint64(1274126177) % np.uint64(1 << 32)
    return 0.05 + 0.9 * (x.astype(float) / float(1 << 32))


def _finish_buildings(b: dict, grid_of: np.ndarray, comm: dict) -> dict:
    seq = pd.Series(np.ones(len(grid_of), int)).groupby(grid_of).cumsum().to_numpy()
    codes = np.char.add(grid_of.astype(str), np.char.zfill(seq.astype(str), 4)).astype(object)
    return {
        "code": codes,
        "grid_code": grid_of.astype(object),
        "name": b["name"],
        "households": b["households"],
        "floors": b["floors"],
        "year_built": b["year_built"],
        "has_elevator": b["has_elevator"],
        "renovation": b["renovation"],
        "compound": b["compound"],
        "geometry": b["geometry"],
        "community_idx": b["community"],
        "centroid": shapely.centroid(b["geometry"]),
    }


# =============================================================================================
# people and assignments


def _people(
    rng: np.random.Generator,
    p: DemoProfile,
    bld: dict,
    grids: gpd.GeoDataFrame,
    comm: dict,
    as_of: str,
) -> tuple[dict, dict]:
    """Party members, sentinels and building members; assignments with deliberate gaps."""
    today = np.datetime64(as_of, "D")
    b_grid = bld["grid_code"].astype(str)
    grid_codes = grids["code"].astype(str).to_numpy()
    n_g = len(grid_codes)
    hh = bld["households"]
    is_village = comm["kind"][bld["community_idx"]] == "村"

    # a home building for anyone living in grid g: random building of g, weighted by households
    order = np.argsort(b_grid, kind="stable")
    g_sorted = b_grid[order]
    g_start = np.searchsorted(g_sorted, grid_codes, "left")
    g_end = np.searchsorted(g_sorted, grid_codes, "right")
    cum_hh = np.cumsum(hh[order])

    def home_in_grid(g: np.ndarray) -> np.ndarray:
        lo = np.where(g_start[g] > 0, cum_hh[np.maximum(g_start[g] - 1, 0)], 0)
        hi = cum_hh[np.maximum(g_end[g] - 1, 0)]
        target = lo + rng.random(len(g)) * (hi - lo)
        j = np.searchsorted(cum_hh, target, "right")
        j = np.clip(j, g_start[g], np.maximum(g_end[g] - 1, g_start[g]))
        return order[j]

    # -- sentinels: one per grid, except a few gaps; a few take a second grid
    r = rng.random(n_g)
    gap = r < p.sentinel_gap_share
    double = (~gap) & (r > 1 - p.sentinel_double_share)
    staffed = np.flatnonzero(~gap & ~double)
    n_sent = len(staffed)
    sent_home = home_in_grid(staffed)
    sent_party = rng.random(n_sent) < 0.75
    # doubles: the nearest staffed grid's sentinel covers them too
    dbl = np.flatnonzero(double)
    gc = shapely.centroid(grids.geometry.to_numpy())
    if len(dbl) and n_sent:
        tree = cKDTree(np.c_[shapely.get_x(gc[staffed]), shapely.get_y(gc[staffed])])
        _, nn = tree.query(np.c_[shapely.get_x(gc[dbl]), shapely.get_y(gc[dbl])])
        dbl_sent = nn
    else:
        dbl_sent = np.array([], int)

    # -- building members: urban buildings one each (big ones sometimes two); village
    #    members each look after the houses of one hamlet stretch (8-15 houses)
    urban_b = np.flatnonzero(~is_village)
    covered_u = urban_b[rng.random(len(urban_b)) > p.member_gap_share]
    n_mem_u = len(covered_u)
    vb = np.flatnonzero(is_village)
    covered_v = vb[rng.random(len(vb)) > p.member_gap_share * 1.5]
    # group village houses of the same grid into runs of ~12 by building code order
    cv_grid = b_grid[covered_v]
    o = np.lexsort((bld["code"][covered_v].astype(str), cv_grid))
    covered_v = covered_v[o]
    run_no = pd.Series(np.ones(len(covered_v), int)).groupby(cv_grid[o]).cumsum().to_numpy() - 1
    chunk = run_no // 12
    key = pd.factorize(pd.Series(cv_grid[o]) + "#" + pd.Series(chunk).astype(str))[0]
    n_mem_v = int(key.max() + 1) if len(key) else 0
    mem_v_home = np.empty(n_mem_v, int)
    if n_mem_v:
        first = np.unique(key, return_index=True)[1]
        mem_v_home = covered_v[first]

    # -- the pool: party members with no assignment (retired, 在职党员 reporting to the
    #    community); homes weighted by households
    population = hh.sum() * p.persons_per_household
    n_party_total = int(population * p.party_share)
    n_assigned_party = int(sent_party.sum()) + n_mem_u + n_mem_v
    n_pool = max(n_party_total - n_assigned_party, int(0.05 * n_party_total))
    cum_all = np.cumsum(hh)
    pool_home = np.searchsorted(cum_all, rng.random(n_pool) * cum_all[-1], "right")

    homes = np.r_[sent_home, covered_u, mem_v_home, pool_home]
    party = np.r_[sent_party, rng.random(n_mem_u) < 0.9, np.ones(n_mem_v, bool),
                  np.ones(n_pool, bool)]
    n_people = len(homes)
    ids = np.char.add("P", np.char.zfill(np.arange(1, n_people + 1).astype(str), 8))
    # homes: a point inside the home building
    hc = bld["centroid"][homes]
    jitter = rng.uniform(-3, 3, (n_people, 2))
    home_pts = shapely.points(shapely.get_x(hc) + jitter[:, 0], shapely.get_y(hc) + jitter[:, 1])
    people = {
        "person_id": ids.astype(object),
        "name": _names.person_names(rng, n_people),
        "phone": _names.phones(rng, n_people),
        "is_party_member": party,
        "home_building_code": bld["code"][homes],
        "geometry": home_pts,
    }
    # -- assignments
    s_ids = ids[:n_sent]
    u_ids = ids[n_sent:n_sent + n_mem_u]
    v_ids = ids[n_sent + n_mem_u:n_sent + n_mem_u + n_mem_v]
    since_s = today - rng.integers(60, 2000, n_sent + len(dbl))
    since_u = today - rng.integers(30, 2500, n_mem_u)
    since_v = today - rng.integers(30, 2500, len(covered_v))
    # a past sentinel for most gap grids: "grids that lost their sentinel"
    lost = np.flatnonzero(gap)
    lost = lost[rng.random(len(lost)) < 0.8]
    lost_person = rng.choice(np.arange(n_sent + n_mem_u + n_mem_v, n_people), len(lost)) \
        if n_people > n_sent + n_mem_u + n_mem_v else np.zeros(0, int)
    lost = lost[: len(lost_person)]
    until_lost = today - rng.integers(3, 120, len(lost))
    since_lost = until_lost - rng.integers(200, 1500, len(lost))
    a = {
        "person_id": np.r_[s_ids, s_ids[dbl_sent], u_ids, v_ids[key], ids[lost_person]],
        "role": np.r_[np.full(n_sent + len(dbl), "grid_sentinel"),
                      np.full(n_mem_u + len(covered_v), "building_member"),
                      np.full(len(lost), "grid_sentinel")],
        "target_code": np.r_[grid_codes[staffed], grid_codes[dbl], bld["code"][covered_u],
                             bld["code"][covered_v], grid_codes[lost]],
        "active": np.r_[np.ones(n_sent + len(dbl) + n_mem_u + len(covered_v), bool),
                        np.zeros(len(lost), bool)],
        "since": np.r_[since_s, since_u, since_v, since_lost].astype("datetime64[ms]"),
        "until": np.r_[np.full(n_sent + len(dbl) + n_mem_u + len(covered_v),
                               np.datetime64("NaT")), until_lost].astype("datetime64[ms]"),
    }
    a = {k: (v.astype(object) if v.dtype.kind in "UO" else v) for k, v in a.items()}
    return people, a


# =============================================================================================
# care points and parking

_CARE_CAPACITY = {
    "elder_day_care": (30, 80),
    "elder_station": (15, 40),
    "elder_canteen": (60, 200),
    "nursery": (30, 90),
    "kindergarten": (120, 360),
    "after_school": (40, 120),
}


def _care_points(rng: np.random.Generator, sk: dict, comm: dict) -> dict:
    blocks = sk["blocks"]
    nonres = np.flatnonzero(blocks["use"] != "residential")
    kinds, where, ci = [], [], []
    # urban: at non-residential blocks (offices, markets, schools) of each community
    b_comm = blocks["community"][nonres]
    box = blocks["box"][nonres]
    centre = np.c_[(box[:, 0] + box[:, 2]) / 2, (box[:, 1] + box[:, 3]) / 2]
    table = [
        ("elder_day_care", 0.85), ("elder_station", 0.9), ("elder_canteen", 0.55),
        ("nursery", 0.4), ("kindergarten", 0.6), ("after_school", 0.45),
    ]
    urban_c = np.flatnonzero(comm["kind"] == "社区")
    for kind, share in table:
        has = urban_c[rng.random(len(urban_c)) < share]
        # the first non-residential block of the community (random order), else its seed
        perm = rng.permutation(len(nonres))
        first = pd.Series(perm, index=b_comm[perm]).groupby(level=0).first()
        at = first.reindex(has)
        xy = np.where(at.notna().to_numpy()[:, None],
                      centre[at.fillna(0).astype(int).to_numpy()],
                      comm["seed"][has])
        xy = xy + rng.uniform(-40, 40, xy.shape)
        kinds += [kind] * len(has)
        where.append(xy)
        ci.append(has)
    # villages: an elder station at most village centres, a canteen and a kindergarten at some
    vil = np.flatnonzero(comm["kind"] == "村")
    for kind, share in (("elder_station", 0.8), ("elder_canteen", 0.35), ("kindergarten", 0.3)):
        has = vil[rng.random(len(vil)) < share]
        xy = _village_centre(sk, has) + rng.uniform(-30, 30, (len(has), 2))
        kinds += [kind] * len(has)
        where.append(xy)
        ci.append(has)
    xy = np.concatenate(where) if where else np.zeros((0, 2))
    ci_a = np.concatenate(ci).astype(int) if ci else np.zeros(0, int)
    kinds_a = np.array(kinds, dtype=object)
    n = len(kinds_a)
    stems = _stems(comm["name"][ci_a])
    lo = np.array([_CARE_CAPACITY[k][0] for k in kinds_a])
    hi = np.array([_CARE_CAPACITY[k][1] for k in kinds_a])
    seq = pd.Series(np.ones(n, int)).groupby(ci_a).cumsum().to_numpy()
    return {
        "code": np.char.add(np.char.add(comm["code"][ci_a].astype(str), "C"),
                            np.char.zfill(seq.astype(str), 2)).astype(object),
        "name": _names.care_point_names(rng, kinds_a, stems),
        "kind": kinds_a,
        "capacity": rng.integers(lo, hi + 1).astype(np.int64),
        "community_code": comm["code"][ci_a],
        "geometry": shapely.points(xy),
    }


def _stems(names: np.ndarray) -> np.ndarray:
    """Community names without their 社区/村 suffix (龙台社区 → 龙台), for facility names."""
    return pd.Series(names, dtype="str").str.replace(r"(社区|村)$", "", regex=True).to_numpy(
        dtype=object)


def _village_centre(sk: dict, comm_idx: np.ndarray) -> np.ndarray:
    """A point on each village's main road, near the village seed."""
    vr = sk["village_roads"]
    out = sk["communities"]["seed"][comm_idx].astype(float).copy()
    for j, c in enumerate(comm_idx):
        roads = vr["geometry"][vr["community"] == c]
        if len(roads):
            seed = shapely.points(*out[j])
            p = shapely.line_interpolate_point(roads[0], shapely.line_locate_point(roads[0],
                                                                                    seed))
            out[j] = (p.x, p.y)
    return out


def _parking(rng: np.random.Generator, sk: dict, comm: dict, b: dict) -> dict:
    blocks = sk["blocks"]
    n_blk = len(blocks["use"])
    geoms, kinds, ci, cap, fee = [], [], [], [], []
    # lots: inside compounds (a polygon at the block's south edge) for ~45% of compounds
    res = np.flatnonzero((blocks["use"] == "residential") & (rng.random(n_blk) < 0.45))
    box = blocks["box"][res]
    lot = shapely.box(box[:, 0] + 25, box[:, 1] + 20, box[:, 0] + 25 + rng.uniform(30, 60,
                      len(res)), box[:, 1] + 20 + rng.uniform(15, 25, len(res)))
    geoms.append(lot)
    kinds += ["lot"] * len(res)
    ci.append(blocks["community"][res])
    cap.append(np.round(shapely.area(lot) / 25).astype(int))
    fee.append(rng.choice([0.0, 2.0, 3.0], len(res), p=[0.3, 0.4, 0.3]))
    # shared staggered-hours parking at offices and schools (错时共享停车)
    sh = np.flatnonzero(np.isin(blocks["use"], ["office", "school"]) & (rng.random(n_blk) < 0.6))
    box = blocks["box"][sh]
    geoms.append(shapely.points((box[:, 0] + box[:, 2]) / 2, (box[:, 1] + box[:, 3]) / 2))
    kinds += ["shared_staggered"] * len(sh)
    ci.append(blocks["community"][sh])
    cap.append(rng.integers(40, 200, len(sh)))
    fee.append(rng.choice([0.0, 2.0], len(sh)))
    # idle land turned into parking (荒改停) at markets and parks' edges
    cw = np.flatnonzero(np.isin(blocks["use"], ["market", "park"]) & (rng.random(n_blk) < 0.5))
    box = blocks["box"][cw]
    geoms.append(shapely.points(box[:, 0] + 20, box[:, 3] - 20))
    kinds += ["converted_wasteland"] * len(cw)
    ci.append(blocks["community"][cw])
    cap.append(rng.integers(30, 150, len(cw)))
    fee.append(rng.choice([0.0, 1.0, 2.0], len(cw)))
    # street parking beside residential blocks
    st = np.flatnonzero((blocks["use"] == "residential") & (rng.random(n_blk) < 0.3))
    box = blocks["box"][st]
    geoms.append(shapely.points(box[:, 2] - 4, (box[:, 1] + box[:, 3]) / 2))
    kinds += ["street"] * len(st)
    ci.append(blocks["community"][st])
    cap.append(rng.integers(8, 40, len(st)))
    fee.append(rng.choice([0.0, 2.0], len(st)))
    # villages: a lot by the village centre for some
    vil = np.flatnonzero(comm["kind"] == "村")
    vil = vil[rng.random(len(vil)) < 0.6]
    xy = _village_centre(sk, vil) + 35
    geoms.append(shapely.points(xy))
    kinds += ["lot"] * len(vil)
    ci.append(vil)
    cap.append(rng.integers(15, 60, len(vil)))
    fee.append(np.zeros(len(vil)))
    ci_a = np.concatenate(ci).astype(int)
    kinds_a = np.array(kinds, dtype=object)
    stems = _stems(comm["name"][ci_a])
    seq = pd.Series(np.ones(len(ci_a), int)).groupby(ci_a).cumsum().to_numpy()
    return {
        "code": np.char.add(np.char.add(comm["code"][ci_a].astype(str), "P"),
                            np.char.zfill(seq.astype(str), 3)).astype(object),
        "name": _names.parking_names(rng, kinds_a, stems),
        "kind": kinds_a,
        "capacity": np.concatenate(cap).astype(np.int64),
        "fee": np.concatenate(fee).astype(float),
        "community_code": comm["code"][ci_a],
        "geometry": np.concatenate(geoms),
    }


# =============================================================================================
# tickets

# category code → (share of tickets, median days to close, reporter mix: resident, sentinel,
# hotline, inspection)
_TICKETS = {
    "dispute": (0.14, 6, (0.5, 0.3, 0.2, 0.0)),
    "sanitation": (0.16, 2, (0.4, 0.2, 0.2, 0.2)),
    "facility_repair": (0.15, 8, (0.5, 0.2, 0.2, 0.1)),
    "parking_order": (0.10, 3, (0.4, 0.2, 0.3, 0.1)),
    "cooking_fumes": (0.06, 5, (0.4, 0.1, 0.5, 0.0)),
    "group_rental_fire": (0.04, 4, (0.2, 0.3, 0.1, 0.4)),
    "elevator_retrofit": (0.04, 30, (0.8, 0.2, 0.0, 0.0)),
    "tree_trimming": (0.06, 7, (0.6, 0.2, 0.2, 0.0)),
    "employment": (0.05, 10, (0.7, 0.2, 0.1, 0.0)),
    "power_supply": (0.06, 1, (0.5, 0.1, 0.4, 0.0)),
    "elderly_child_care": (0.07, 5, (0.6, 0.3, 0.1, 0.0)),
    "other": (0.07, 4, (0.6, 0.2, 0.2, 0.0)),
}
REPORTERS = ("resident", "sentinel", "hotline_12345", "inspection")
#: Days allowed per category before a ticket is overdue (the ticket issue makes it a setting).
TIME_LIMIT_DAYS = {"dispute": 10, "sanitation": 3, "facility_repair": 15, "parking_order": 5,
                   "cooking_fumes": 7, "group_rental_fire": 5, "elevator_retrofit": 60,
                   "tree_trimming": 10, "employment": 15, "power_supply": 2,
                   "elderly_child_care": 7, "other": 7}


def _tickets(rng: np.random.Generator, p: DemoProfile, n_towns: int, bld: dict, as_of: str,
             community_codes: np.ndarray) -> dict:
    n = p.tickets_per_year * n_towns
    cats = np.array(list(_TICKETS), dtype=object)
    share = np.array([v[0] for v in _TICKETS.values()])
    cat_i = rng.choice(len(cats), n, p=share / share.sum())
    today = np.datetime64(as_of, "s") + np.timedelta64(17 * 3600, "s")
    # created over the last 365 days, more on weekdays and a summer bump
    day = rng.integers(0, 365, n)
    weekday_w = np.where(((np.datetime64(as_of, "D") - day).astype("datetime64[D]").view("int64")
                          - 4) % 7 < 5, 1.0, 0.6)
    summer = 1 + 0.3 * np.cos((day - 120) / 365 * 2 * np.pi)
    keep = rng.random(n) < weekday_w * summer / (1.3)
    cat_i, day = cat_i[keep], day[keep]
    n = len(day)
    secs = rng.integers(8 * 3600, 20 * 3600, n)
    created = (np.datetime64(as_of, "D") - day).astype("datetime64[s]") + secs
    created = np.minimum(created, today - np.timedelta64(600, "s"))
    # where: a building, weighted by households
    cum = np.cumsum(bld["households"])
    bi = np.searchsorted(cum, rng.random(n) * cum[-1], "right")
    c = bld["centroid"][bi]
    loc = shapely.points(shapely.get_x(c) + rng.uniform(-2, 2, n),
                         shapely.get_y(c) + rng.uniform(-2, 2, n))  # at the building
    median = np.array([v[1] for v in _TICKETS.values()])[cat_i]
    dur_days = median * np.exp(rng.normal(0, 0.7, n))
    age_days = (today - created).astype("timedelta64[s]").astype(float) / 86400
    # status: by how far along a ticket would be; a few get stuck or fail
    progress = age_days / dur_days
    stuck = rng.random(n) < 0.04
    unresolved = rng.random(n) < 0.035
    open_states = np.array(["received", "registered", "dispatched", "in_progress", "handled",
                            "verified", "returned"], dtype=object)
    stage = np.clip((progress * 5).astype(int), 0, 5)
    stage = np.where(stuck & (progress >= 1), rng.integers(2, 4, n), stage)
    returned = (rng.random(n) < 0.05) & (stage >= 3) & (progress < 1)
    status = np.where(returned, "returned", open_states[np.minimum(stage, 5)])
    done = (progress >= 1) & ~stuck
    status = np.where(done, np.where(unresolved, "closed_unresolved", "closed"), status)
    closed_at = np.where(done, created + (dur_days * 86400).astype("timedelta64[s]"),
                         np.datetime64("NaT"))
    closed_at = np.where(done, np.minimum(closed_at, today), closed_at)
    rep_mix = np.array([v[2] for v in _TICKETS.values()])[cat_i]
    rep = (rng.random(n)[:, None] > np.cumsum(rep_mix, axis=1)).sum(axis=1)
    reporter = np.array(REPORTERS, dtype=object)[np.minimum(rep, 3)]
    limit = np.array([TIME_LIMIT_DAYS[k] for k in cats])[cat_i]
    deadline = created + (limit * 86400).astype("timedelta64[s]")
    order = np.argsort(created, kind="stable")
    created, cat_i, status, closed_at, reporter, bi, loc, deadline = (
        a[order] for a in (created, cat_i, status, closed_at, reporter, bi, loc, deadline))
    dstr = created.astype("datetime64[D]").astype(str)
    seq = pd.Series(np.ones(n, int)).groupby(dstr).cumsum().to_numpy()
    ids = np.char.add(np.char.add("T", np.char.replace(dstr, "-", "")),
                      np.char.zfill(seq.astype(str), 5))
    place = bld["name"][bi]
    grid_code = bld["grid_code"][bi]
    return {
        "id": ids.astype(object),
        "category": cats[cat_i],
        "status": status.astype(object),
        "grid_code": grid_code,
        "community_code": community_codes[bld["community_idx"][bi]],
        "building_code": bld["code"][bi],
        "reporter": reporter,
        "created_at": created.astype("datetime64[ms]"),
        "deadline": deadline.astype("datetime64[ms]"),
        "closed_at": closed_at.astype("datetime64[ms]"),
        "text": _names.ticket_texts(rng, cats[cat_i], place.astype(object)),
        "geometry": loc,
    }
