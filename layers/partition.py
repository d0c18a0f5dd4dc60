"""Partition communities into grids (网格) of a target number of households.

The algorithm is weighted recursive coordinate bisection, a classic of domain decomposition:
a community that should hold ``k = round(households / target)`` grids is cut by a straight line
across its longer side so that ``k // 2`` grids' worth of households fall on one side; both
halves are cut again until every cell holds one grid's worth. Cuts are placed in the widest gap
between buildings near the ideal position, so they tend to run along streets rather than
through buildings. Because every cut splits a polygon into two pieces that share the cut line
exactly, the grids tile their community with no gaps and no overlaps.

All communities are processed together, one level of the recursion at a time, with numpy and
shapely array operations: the work grows with the number of buildings, not with Python loops.

Around it: :func:`locate_buildings` (the community holding each building's inner point),
:func:`building_codes` (grid code + 4 digits), :func:`grid_buildings` (partition and codes, as
``python -m layers new`` uses them) and :func:`partition_store` (``python -m layers partition``:
grids for a store's communities that have none, from its own buildings or a file's, buildings
outside every community reported in a :class:`PartitionReport`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from . import crs as _crs
from .errors import LayersError
from .settings import DEFAULT_SETTINGS, Settings

if TYPE_CHECKING:  # pragma: no cover
    from .layerset import LayerSet
    from .store import Store

#: Cuts may move this far from the ideal split — as a share of *one grid's* households — to
#: follow a wider gap between buildings.
SPLIT_SLACK = 0.2

#: Buildings whose centroids are closer than this (metres) along the cut axis count as one row:
#: a cut never runs between them.
MIN_GAP_M = 0.5


def partition_grids(
    communities: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame,
    households_per_grid: int = 300,
    *,
    community_column: str = "community_code",
    metric_crs: str | CRS | None = None,
    code_digits: int = 3,
) -> tuple[gpd.GeoDataFrame, pd.Series]:
    """Partition each community into grids of about ``households_per_grid`` households.

    Parameters
    ----------
    communities
        Community polygons with ``code`` and (optionally) ``name``; any CRS.
    buildings
        Buildings (polygons or points) with ``households``. If ``community_column`` is absent
        they are located by a spatial join of their centroids.
    households_per_grid
        Target households per grid (``Settings.households_per_grid``).
    community_column
        Column of ``buildings`` naming each building's community.
    metric_crs
        CRS to cut in (default: the communities' own CRS when it is projected, else one chosen
        for the data's extent).
    code_digits
        Digits appended to the community code for a grid code (``500106110001`` + ``007``).

    Returns
    -------
    grids : GeoDataFrame
        ``code``, ``community_code``, ``name``, ``households``, Polygon geometry, in the
        communities' CRS. Every community gets at least one grid.
    grid_of_building : Series
        The grid code of each building, aligned with ``buildings.index``.

    Raises
    ------
    ValueError
        On a non-positive target, a missing ``households`` column, or more grids in a community
        than ``code_digits`` can number.
    """
    if households_per_grid <= 0:
        raise ValueError("households_per_grid must be positive")
    if "households" not in buildings:
        raise ValueError("buildings need a 'households' column")
    src_crs = communities.crs or "EPSG:4326"
    if metric_crs is None:
        crs_obj = communities.crs
        if crs_obj is not None and crs_obj.is_projected:
            metric_crs = crs_obj  # already metric: cut in it, no round trip
        else:
            metric_crs = _crs.metric_crs(tuple(communities.to_crs(4326).total_bounds))
    comm_m = communities.to_crs(metric_crs).geometry.to_numpy()
    b_pts = shapely.centroid(buildings.to_crs(metric_crs).geometry.to_numpy())
    hh = pd.to_numeric(buildings["households"], errors="coerce").fillna(0).to_numpy(float)
    hh = np.maximum(hh, 0)
    codes = communities["code"].astype(str).to_numpy()
    if community_column in buildings:
        pos = pd.Series(np.arange(len(codes)), index=codes).reindex(
            buildings[community_column].astype(str).to_numpy()
        )
        b_comm = pos.fillna(-1).to_numpy(int)
    else:
        b_comm = _locate(b_pts, comm_m)

    cell_poly, b_cell, cell_comm = _bisect(comm_m, b_pts, hh, b_comm, households_per_grid)
    cell_poly, b_cell, cell_comm = _fix_multipart(cell_poly, b_cell, cell_comm, b_pts, hh)

    # number grids inside each community: north to south, then west to east
    c = shapely.centroid(cell_poly)
    cx, cy = shapely.get_x(c), shapely.get_y(c)
    order = np.lexsort((cx, -np.round(cy / 250.0), cell_comm))
    rank = np.empty(len(order), int)
    rank[order] = np.arange(len(order))
    seq = rank - pd.Series(rank).groupby(cell_comm).transform("min").to_numpy() + 1
    if seq.max(initial=0) >= 10**code_digits:
        raise ValueError(
            f"a community needs {seq.max()} grids, more than {code_digits} digits can number; "
            "raise households_per_grid or code_digits"
        )
    gcodes = np.char.add(codes[cell_comm].astype(str), np.char.zfill(seq.astype(str), code_digits))
    if "name" in communities:
        cname = communities["name"].astype(str).to_numpy()[cell_comm]
        names = np.char.add(np.char.add(cname.astype(str), "第"), seq.astype(str))
        names = np.char.add(names, "网格")
    else:
        names = gcodes
    households = np.bincount(b_cell[b_cell >= 0], weights=hh[b_cell >= 0], minlength=len(cell_poly))
    grids = gpd.GeoDataFrame(
        {
            "code": pd.array(gcodes, dtype="str"),
            "community_code": pd.array(codes[cell_comm], dtype="str"),
            "name": pd.array(names, dtype="str"),
            "households": households.round().astype("int64"),
        },
        geometry=gpd.GeoSeries(cell_poly, crs=metric_crs).to_crs(src_crs).to_numpy(),
        crs=src_crs,
    ).iloc[order].reset_index(drop=True)
    of_building = np.where(b_cell >= 0, gcodes[np.maximum(b_cell, 0)], None)
    return grids, pd.Series(of_building, index=buildings.index, dtype="str", name="grid_code")


def _locate(points: np.ndarray, polys: np.ndarray) -> np.ndarray:
    """Index of the polygon containing each point (-1 for none)."""
    tree = shapely.STRtree(polys)
    p_idx, g_idx = tree.query(points, predicate="within")
    out = np.full(len(points), -1, dtype=int)
    out[p_idx] = g_idx
    return out


def _bisect(
    comm: np.ndarray,
    pts: np.ndarray,
    w: np.ndarray,
    b_comm: np.ndarray,
    target: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Level-synchronous weighted recursive bisection of all communities at once."""
    total = np.bincount(b_comm[b_comm >= 0], weights=w[b_comm >= 0], minlength=len(comm))
    cell_k = np.maximum(1, np.round(total / target)).astype(int)
    cell_poly = comm.copy()
    cell_comm = np.arange(len(comm))
    b_cell = b_comm.copy()
    x, y = shapely.get_x(pts), shapely.get_y(pts)
    while (cell_k > 1).any():
        active = np.flatnonzero(cell_k > 1)
        bounds = shapely.bounds(cell_poly[active])
        along_x = (bounds[:, 2] - bounds[:, 0]) >= (bounds[:, 3] - bounds[:, 1])
        k_left = cell_k[active] // 2
        frac = k_left / cell_k[active]
        # members of active cells, sorted by (cell, coordinate along its cut axis)
        slot = np.full(len(cell_poly), -1)
        slot[active] = np.arange(len(active))
        bs = np.flatnonzero(b_cell >= 0)
        bs = bs[slot[b_cell[bs]] >= 0]
        s_of = slot[b_cell[bs]]
        # a cell whose buildings all line up across the preferred axis is cut the other way
        spread = pd.DataFrame({"s": s_of, "x": x[bs], "y": y[bs]}).groupby("s").agg(
            ["min", "max"])
        sx = np.zeros(len(active))
        sy = np.zeros(len(active))
        sx[spread.index] = (spread["x"]["max"] - spread["x"]["min"]).to_numpy()
        sy[spread.index] = (spread["y"]["max"] - spread["y"]["min"]).to_numpy()
        flat_x, flat_y = sx <= MIN_GAP_M, sy <= MIN_GAP_M
        along_x = np.where(along_x & flat_x & ~flat_y, False, along_x)
        along_x = np.where(~along_x & flat_y & ~flat_x, True, along_x)
        coord = np.where(along_x[s_of], x[bs], y[bs])
        o = np.lexsort((coord, s_of))
        bs, s_of, coord = bs[o], s_of[o], coord[o]
        cut = _cut_positions(s_of, coord, w[bs], frac, cell_k[active], bounds, along_x)
        # split polygons with two half-plane boxes sharing the cut line exactly
        pad = 1.0
        lo_box = np.where(
            along_x[:, None],
            np.c_[bounds[:, 0] - pad, bounds[:, 1] - pad, cut, bounds[:, 3] + pad],
            np.c_[bounds[:, 0] - pad, bounds[:, 1] - pad, bounds[:, 2] + pad, cut],
        )
        hi_box = np.where(
            along_x[:, None],
            np.c_[cut, bounds[:, 1] - pad, bounds[:, 2] + pad, bounds[:, 3] + pad],
            np.c_[bounds[:, 0] - pad, cut, bounds[:, 2] + pad, bounds[:, 3] + pad],
        )
        polys = cell_poly[active]
        # numpy stubs: np.c_ is Any, so np.where(cond, x, y) resolves to its 1-argument form
        left = shapely.intersection(polys, shapely.box(*lo_box.T))  # type: ignore[attr-defined]
        right = shapely.intersection(polys, shapely.box(*hi_box.T))  # type: ignore[attr-defined]
        new_ids = len(cell_poly) + np.arange(len(active))
        cell_poly[active] = left
        cell_poly = np.concatenate([cell_poly, right])
        cell_comm = np.concatenate([cell_comm, cell_comm[active]])
        cell_k = np.concatenate([cell_k, cell_k[active] - k_left])
        cell_k[active] = k_left
        goes_right = coord > cut[s_of]
        b_cell[bs[goes_right]] = new_ids[s_of[goes_right]]
    return cell_poly, b_cell, cell_comm


def _cut_positions(
    s_of: np.ndarray,
    coord: np.ndarray,
    w: np.ndarray,
    frac: np.ndarray,
    k: np.ndarray,
    bounds: np.ndarray,
    along_x: np.ndarray,
) -> np.ndarray:
    """Cut coordinate per active cell: near the weighted ``frac`` quantile, in a wide gap.

    A cut can only fall between two buildings more than ``MIN_GAP_M`` apart along the axis
    (buildings in one row share a coordinate and must stay on one side together).
    """
    n_cells = len(frac)
    lo = np.where(along_x, bounds[:, 0], bounds[:, 1])
    hi = np.where(along_x, bounds[:, 2], bounds[:, 3])
    cut = lo + (hi - lo) * frac  # cells without buildings: cut by area share
    if len(s_of) == 0:
        return cut
    start = np.searchsorted(s_of, np.arange(n_cells), side="left")
    end = np.searchsorted(s_of, np.arange(n_cells), side="right")
    csum = np.cumsum(w)
    base = np.where(start > 0, csum[np.maximum(start - 1, 0)], 0.0)
    cell_total = np.where(end > start, csum[np.maximum(end - 1, 0)] - base, 0.0)
    share = (csum - base[s_of]) / np.where(cell_total[s_of] > 0, cell_total[s_of], 1.0)
    # candidate cut after position j (between j and j+1, same cell)
    nxt_same = np.r_[s_of[1:] == s_of[:-1], False]
    gap = np.where(nxt_same, np.r_[coord[1:] - coord[:-1], 0.0], -1.0)
    nxt_same &= gap > MIN_GAP_M
    dev = np.abs(share - frac[s_of])
    ok = nxt_same & (dev <= SPLIT_SLACK / k[s_of])
    # fall back to the position closest to the ideal share when nothing is within the slack
    score = np.where(ok, gap, -np.inf)
    best = pd.Series(score).groupby(s_of).idxmax()
    closest = pd.Series(np.where(nxt_same, dev, np.inf)).groupby(s_of).idxmin()
    has_ok = pd.Series(ok).groupby(s_of).any()
    pick = np.where(has_ok.to_numpy(), best.to_numpy(), closest.to_numpy())
    cells = has_ok.index.to_numpy()
    valid = nxt_same[pick]
    j = pick[valid]
    cut[cells[valid]] = (coord[j] + coord[j + 1]) / 2.0
    # cells whose buildings all sit at one coordinate keep the area-share cut
    return cut


def _fix_multipart(
    cell_poly: np.ndarray,
    b_cell: np.ndarray,
    cell_comm: np.ndarray,
    pts: np.ndarray,
    w: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Make every grid a Polygon.

    Cutting a non-convex community can leave a cell in several pieces. The piece with most
    households (or area) stays the grid; each other piece joins the grid of the same community
    it shares the longest border with, or becomes a grid of its own when it touches none
    (an island). Only such rare pieces are handled one by one.
    """
    multi = np.flatnonzero(shapely.get_type_id(cell_poly) != 3)
    if multi.size == 0:
        return cell_poly, b_cell, cell_comm
    polys = list(cell_poly)
    comm = list(cell_comm)
    orphans: list[tuple[shapely.Geometry, np.integer]] = []
    for i in multi:
        parts = shapely.get_parts(shapely.make_valid(cell_poly[i]))
        parts = parts[shapely.get_type_id(parts) == 3]
        if len(parts) == 0:
            continue
        mine = np.flatnonzero(b_cell == i)
        where = _locate(pts[mine], parts) if len(mine) else np.array([], int)
        load = np.bincount(where[where >= 0], weights=w[mine][where >= 0], minlength=len(parts))
        main = int(np.lexsort((shapely.area(parts), load))[-1])
        polys[i] = parts[main]
        orphans += [(p, i) for k, p in enumerate(parts) if k != main]
    cell_poly = np.array(polys, dtype=object)
    for piece, origin in orphans:
        same = np.flatnonzero(np.asarray(comm) == comm[origin])
        shared = shapely.length(shapely.intersection(shapely.boundary(cell_poly[same]),
                                                     piece.boundary))
        if shared.size and shared.max() > 0:
            tgt = int(same[np.argmax(shared)])
            cell_poly[tgt] = shapely.union(cell_poly[tgt], piece)
        else:
            cell_poly = np.append(cell_poly, piece)
            comm.append(comm[origin])
            tgt = len(cell_poly) - 1
        moved = np.flatnonzero(b_cell == origin)
        if len(moved):
            inside = shapely.within(pts[moved], piece)
            b_cell[moved[inside]] = tgt
    return cell_poly, b_cell, np.asarray(comm)


# =============================================================================================
# placing buildings and partitioning a store's communities


class PartitionError(LayersError):
    """Nothing to partition, or buildings that cannot size grids."""


#: Buildings listed by name in a report (the count is always complete).
LISTED = 200


@dataclass
class PartitionReport:
    """What :func:`partition_store` made and what it could not place.

    Attributes
    ----------
    communities
        Codes of the communities partitioned.
    grids
        The grids made (WGS-84).
    buildings
        The buildings placed in them, with ``grid_code`` and ``code``.
    outside
        Buildings outside every community: ``id`` (code, else OSM id, else ``row N`` of the
        file) and ``name``; a file's are not added, the store's stay as they are.
    recoded
        Store building code → its new code (buildings moved into the new grids).
    elsewhere
        A file's buildings inside communities that had grids already (not added: ``import``
        them into the buildings layer).
    """

    communities: list[str]
    grids: gpd.GeoDataFrame
    buildings: gpd.GeoDataFrame
    outside: pd.DataFrame
    recoded: dict[str, str] = field(default_factory=dict)
    elsewhere: int = 0

    def lines(self) -> list[str]:
        """The report as printed by ``python -m layers partition``."""
        out = [f"partitioned {len(self.communities)} community(ies): {len(self.grids)} grid(s), "
               f"{len(self.buildings)} building(s) placed"]
        if self.recoded:
            out.append(f"{len(self.recoded)} building(s) of the store moved into the new grids "
                       "(new codes; homes and building members follow)")
        if self.elsewhere:
            out.append(f"{self.elsewhere} building(s) of the file lie in communities that have "
                       "grids already: not added (import them into the buildings layer)")
        out += outside_lines(self.outside)
        return out


def outside_lines(outside: pd.DataFrame, limit: int = LISTED) -> list[str]:
    """``N building(s) outside every community:`` and one line per building (``id``,
    ``name``; up to ``limit``)."""
    if outside.empty:
        return ["0 buildings outside every community"]
    out = [f"{len(outside)} building(s) outside every community:"]
    out += [f"  {k}  {n}".rstrip() for k, n in zip(outside["id"].astype(str).head(limit),
                                          outside["name"].fillna("").astype(str).head(limit),
                                          strict=True)]
    if len(outside) > limit:
        out.append(f"  … and {len(outside) - limit} more")
    return out


def locate_buildings(communities: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame
                     ) -> np.ndarray:
    """Position (row) of the community holding each building's inner point
    (``point_on_surface``: inside the outline even for an L-shaped building); -1 when it lies
    in none. Both frames in the same CRS."""
    if len(buildings) == 0 or len(communities) == 0:
        return np.full(len(buildings), -1)
    pts = shapely.point_on_surface(buildings.geometry.to_numpy())
    return _locate(pts, communities.geometry.to_numpy())


def building_codes(grid_code: np.ndarray, points: np.ndarray, given: np.ndarray | None = None
                   ) -> np.ndarray:
    """Hierarchical building codes: grid code + 4 digits, numbered north to south and west
    to east inside each grid (``points`` in any CRS). A ``given`` code that already starts
    with its grid's code is kept."""
    grid_code = np.asarray(grid_code, dtype=str)
    x, y = shapely.get_x(points), shapely.get_y(points)
    order = np.lexsort((x, -y, grid_code))
    seq = np.empty(len(order), int)
    seq[order] = pd.Series(np.ones(len(order), int)).groupby(
        grid_code[order]).cumsum().to_numpy()
    made = np.char.add(grid_code, np.char.zfill(seq.astype(str), 4)).astype(object)
    if given is None:
        return made
    given = np.asarray(given, dtype=object)
    sd = np.dtypes.StringDType()
    ok = pd.notna(given) & np.strings.startswith(np.asarray(given.astype(str), dtype=sd),
                                                 np.asarray(grid_code, dtype=sd))
    return np.where(ok, given, made)


def grid_buildings(communities: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame,
                   households_per_grid: int, *, keep_codes: bool = True
                   ) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Partition ``communities`` (``code``, ``name``) into grids for ``buildings`` (each
    with ``community_code`` and ``households``) and give the buildings ``grid_code`` and a
    hierarchical ``code`` (kept from the input when it fits and ``keep_codes``).

    Returns
    -------
    (grids, buildings)
        In the communities' CRS.
    """
    grids, grid_of = partition_grids(communities, buildings, households_per_grid)
    b = buildings.copy()
    b["grid_code"] = grid_of.to_numpy(dtype=object)
    given = b["code"].to_numpy(dtype=object) if keep_codes and "code" in b else None
    pts = shapely.point_on_surface(b.geometry.to_numpy())
    b["code"] = building_codes(b["grid_code"].to_numpy(), pts, given) if len(b) else \
        pd.Series([], dtype=object)
    return grids, b.drop(columns="community_code")


def partition_store(store: Store, buildings: gpd.GeoDataFrame | None = None, *,
                    settings: Settings = DEFAULT_SETTINGS) -> PartitionReport:
    """Cut grids for the store's communities that have none, and write them.

    Without ``buildings`` the store's own buildings size the grids: those inside a
    community without grids move into its new grids (new codes; people's homes and
    building-member assignments follow). With ``buildings`` (a file read with
    :func:`layers.importer.read_source`, ``code`` and ``grid_code`` optional) they are
    placed by location and added. Buildings outside every community are reported, never
    dropped silently: a file's are not added, the store's stay as they are.

    Raises
    ------
    PartitionError
        Every community has grids already, or buildings lack ``households``.
    """
    data = store.read(check_geometry=False)
    comms = data["communities"]
    bare = comms[~comms["code"].isin(set(data["grids"]["community_code"]))]
    if bare.empty:
        raise PartitionError("every community already has grids; nothing to partition")
    own = buildings is None
    b = data["buildings"] if buildings is None else gpd.GeoDataFrame(
        buildings, geometry=buildings.geometry.name).to_crs("EPSG:4326")
    if "households" not in b:
        raise PartitionError("buildings need a households column to size the grids")
    where = locate_buildings(bare, b)
    outside = _outside(comms, b)
    placed = b[where >= 0].assign(community_code=bare["code"].to_numpy()[where[where >= 0]])
    grids, new_b = grid_buildings(bare, placed, settings.households_per_grid,
                                  keep_codes=not own)
    recoded = dict(zip(placed["code"], new_b["code"], strict=True)) if own else {}
    layers = _with_new_grids(data, grids, new_b, where >= 0 if own else None, recoded)
    store.update(layers, settings=settings)
    elsewhere = 0 if own else int((where < 0).sum()) - len(outside)
    return PartitionReport(bare["code"].tolist(), grids, new_b, outside, recoded, elsewhere)


def _outside(comms: gpd.GeoDataFrame, b: gpd.GeoDataFrame) -> pd.DataFrame:
    """``id`` (the code, else the OSM id, else ``row N`` of the file) and ``name`` of the
    buildings outside every community."""
    rows = np.flatnonzero(locate_buildings(comms, b) < 0)
    ids = pd.Series([f"row {i + 1}" for i in rows], dtype=object)
    for col in ("osm_id", "code"):
        if col in b:
            ids = b[col].iloc[rows].reset_index(drop=True).astype(object).fillna(ids)
    names = b["name"].iloc[rows].reset_index(drop=True) if "name" in b else ""
    return pd.DataFrame({"id": ids, "name": names})


def _with_new_grids(data: LayerSet, grids: gpd.GeoDataFrame, new_b: gpd.GeoDataFrame,
                    moved: np.ndarray | None, recoded: dict[str, str]
                    ) -> dict[str, pd.DataFrame]:
    """The layers to write: grids and buildings (store buildings that moved replaced), and
    the references to moved buildings (homes, building members) renamed."""
    kept = data["buildings"] if moved is None else data["buildings"][~moved]
    layers: dict[str, pd.DataFrame] = {
        "grids": gpd.GeoDataFrame(pd.concat([data["grids"], grids.to_crs("EPSG:4326")],
                                            ignore_index=True), geometry="geometry",
                                  crs="EPSG:4326"),
        "buildings": gpd.GeoDataFrame(pd.concat([kept, new_b], ignore_index=True),
                                      geometry="geometry", crs="EPSG:4326")}
    if recoded:
        people = data["people"].copy()
        people["home_building_code"] = people["home_building_code"].replace(recoded)
        a = data["assignments"].copy()
        member = (a["role"] == "building_member").to_numpy()
        a.loc[member, "target_code"] = a.loc[member, "target_code"].replace(recoded)
        layers |= {"people": people, "assignments": a}
    return layers
