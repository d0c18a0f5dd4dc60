"""Service reach: walking distance from every building to elder care, child care and parking.

With a :class:`~layers.network.WalkNetwork`, distances follow the streets: buildings and
facilities snap to their nearest node (the snap distances are added and reported), and one
multi-source Dijkstra per facility group (``scipy.sparse.csgraph``) gives every node its
distance to the nearest facility — never one search per building. A virtual source joined to
each facility's node by that facility's snap distance makes the result exact. Without a
network, straight-line distances (a KD-tree in the metric CRS) stand in, marked
``method="straight"``.

Life circles (GB 50180-2018 plans 5/10/15-minute circles): the shares of households within
each distance of ``Settings.life_circle_m`` per grid, community and town.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import sparse
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree

from . import crs as _crs
from .layerset import LayerSet
from .network import WalkNetwork
from .schema import CHILD_CARE_KINDS, ELDER_CARE_KINDS
from .settings import DEFAULT_SETTINGS, Settings

GROUPS = ("elder_care", "child_care", "parking")
__all__ = ["CHILD_CARE_KINDS", "ELDER_CARE_KINDS", "GROUPS", "ReachResult", "isochrones",
           "network_distance", "parking_balance", "reach", "suggest_sentinels"]


@dataclass
class ReachResult:
    """Distances per building and life-circle shares.

    Attributes
    ----------
    buildings
        ``code``, ``grid_code``, ``community_code``, ``households``, ``elder_care_m``,
        ``child_care_m``, ``parking_m`` (NaN where no facility is reachable), ``snap_m`` (the
        building's distance to the network), ``method`` (``network`` or ``straight``).
    summary
        One row per level and unit (``level`` town/community/grid, ``code``) with
        ``share_<group>_<metres>`` = share of households within that walking distance.
    thresholds
        The life-circle distances used (metres).
    """

    buildings: pd.DataFrame
    summary: pd.DataFrame
    thresholds: tuple[int, ...]
    method: str

    def to_dict(self) -> dict[str, Any]:
        b = self.buildings[["code", "elder_care_m", "child_care_m", "parking_m", "snap_m",
                            "method"]].copy()
        for c in ("elder_care_m", "child_care_m", "parking_m", "snap_m"):
            b[c] = b[c].round(1)
        recs = b.astype(object).where(b.notna(), None).to_dict(orient="records")
        s = self.summary.astype(object).where(self.summary.notna(), None)
        return {"method": self.method, "thresholds_m": list(self.thresholds),
                "buildings": recs, "summary": s.to_dict(orient="records")}


def _targets(data: LayerSet) -> dict[str, np.ndarray]:
    cp = data["care_points"]
    pk = data["parking"]
    return {
        "elder_care": cp.geometry.to_numpy()[cp["kind"].isin(ELDER_CARE_KINDS).to_numpy()],
        "child_care": cp.geometry.to_numpy()[cp["kind"].isin(CHILD_CARE_KINDS).to_numpy()],
        "parking": shapely.point_on_surface(pk.geometry.to_numpy()),
    }


def network_distance(net: WalkNetwork, sources: np.ndarray, xs: np.ndarray,
                     ys: np.ndarray, snapped: tuple[np.ndarray, np.ndarray] | None = None
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Walking distance from each point (xs, ys) to the nearest source point (metric xy
    arrays of shape (k, 2)), and each point's snap distance. One Dijkstra for all sources.
    ``snapped`` passes the points' (node, distance) when already known."""
    n = net.n_nodes
    b_node, b_snap = snapped if snapped is not None else net.snap(xs, ys)
    if len(sources) == 0:
        return np.full(len(xs), np.inf), b_snap
    s_node, s_snap = net.snap(sources[:, 0], sources[:, 1])
    # several sources on one node: the nearest counts (a sparse matrix would add them up)
    best = np.full(n, np.inf)
    np.minimum.at(best, s_node, s_snap)
    s_node = np.flatnonzero(np.isfinite(best))
    s_snap = best[s_node]
    # a virtual node joined to every source's node by that source's snap distance
    g = sparse.bmat([[net.graph, None], [None, sparse.csr_matrix((1, 1))]], format="csr")
    extra = sparse.csr_matrix((s_snap + 1e-9, (np.full(len(s_node), n), s_node)),
                              shape=(n + 1, n + 1))
    dist = dijkstra(g + extra, directed=True, indices=n)
    return dist[b_node] + b_snap, b_snap


def reach(data: LayerSet, network: WalkNetwork | None = None,
          settings: Settings = DEFAULT_SETTINGS) -> ReachResult:
    """Walking distance from every building to the nearest elder care, child care and parking,
    by the street network when one is given, else in a straight line."""
    b = data["buildings"]
    crs = network.crs if network is not None else (
        settings.metric_crs or _crs.metric_crs(tuple(b.total_bounds)).to_string())
    bm = b.geometry.to_crs(crs)
    centre = shapely.centroid(bm.to_numpy())
    bx, by = shapely.get_x(centre), shapely.get_y(centre)
    out = pd.DataFrame({"code": b["code"].to_numpy(), "grid_code": b["grid_code"].to_numpy(),
                        "households": pd.to_numeric(b["households"]).fillna(0).to_numpy()})
    grids = data["grids"]
    comm = pd.Series(grids["community_code"].to_numpy(), index=grids["code"].to_numpy())
    out["community_code"] = comm.reindex(out["grid_code"]).to_numpy()
    snap = np.zeros(len(out))
    snapped = network.snap(bx, by) if network is not None else None  # once for all groups
    for group, pts in _targets(data).items():
        xy = shapely.get_coordinates(gpd.GeoSeries(pts, crs="EPSG:4326").to_crs(crs)
                                     .to_numpy()) if len(pts) else np.zeros((0, 2))
        if network is not None:
            d, snap = network_distance(network, xy, bx, by, snapped)
        elif len(xy):
            d = cKDTree(xy).query(np.c_[bx, by])[0]
        else:
            d = np.full(len(out), np.inf)
        out[f"{group}_m"] = np.where(np.isfinite(d), d, np.nan)
    out["snap_m"] = snap
    method = "network" if network is not None else "straight"
    out["method"] = method
    thresholds = tuple(int(t) for t in settings.life_circle_m)
    return ReachResult(out, _summary(out, thresholds), thresholds, method)


def _summary(b: pd.DataFrame, thresholds: tuple[int, ...]) -> pd.DataFrame:
    """Household-weighted shares within each distance, per grid, community and town."""
    hh = b["households"].to_numpy(float)
    cols = {}
    for group in GROUPS:
        d = b[f"{group}_m"].to_numpy()
        for t in thresholds:
            cols[f"share_{group}_{t}"] = hh * (np.nan_to_num(d, nan=np.inf) <= t)
    parts = pd.DataFrame(cols)
    parts["households"] = hh
    frames = []
    for level, key in (("grid", b["grid_code"]), ("community", b["community_code"]),
                       ("town", pd.Series("town", index=b.index))):
        s = parts.groupby(key.fillna("—").to_numpy()).sum()
        shares = s.drop(columns="households").div(s["households"].where(s["households"] > 0),
                                                  axis=0).round(4)
        shares.insert(0, "households", s["households"].astype(int))
        shares.insert(0, "code", shares.index)
        shares.insert(0, "level", level)
        frames.append(shares.reset_index(drop=True))
    return pd.concat(frames, ignore_index=True)


def parking_balance(data: LayerSet, settings: Settings = DEFAULT_SETTINGS) -> pd.DataFrame:
    """Parking supply against demand per grid.

    Supply: the capacity of the car parks inside the grid (staggered-hours shared parking
    counted at ``shared_parking_share``); demand: households × ``parking_spaces_per_household``.
    A negative ``balance`` is a deficit.
    """
    grids = data["grids"]
    pk = data["parking"]
    pts = shapely.point_on_surface(pk.geometry.to_numpy())
    tree = shapely.STRtree(grids.geometry.to_numpy())
    pi, gi = tree.query(pts, predicate="within")
    cap = pd.to_numeric(pk["capacity"]).fillna(0).to_numpy(float)
    cap = np.where(pk["kind"].to_numpy() == "shared_staggered",
                   cap * settings.shared_parking_share, cap)
    supply = np.bincount(gi, weights=cap[pi], minlength=len(grids))
    b = data["buildings"]
    hh = pd.to_numeric(b["households"]).fillna(0).groupby(b["grid_code"].to_numpy()).sum()
    households = hh.reindex(grids["code"].to_numpy()).fillna(0).to_numpy()
    demand = households * settings.parking_spaces_per_household
    out = pd.DataFrame({"grid_code": grids["code"].to_numpy(),
                        "community_code": grids["community_code"].to_numpy(),
                        "households": households.astype(int), "supply": np.round(supply, 1),
                        "demand": np.round(demand, 1), "balance": np.round(supply - demand, 1)})
    return out.sort_values("balance", ignore_index=True)


def suggest_sentinels(data: LayerSet, gaps: list[str], network: WalkNetwork | None = None,
                      settings: Settings = DEFAULT_SETTINGS) -> pd.DataFrame:
    """One unassigned party member for each grid without a sentinel, globally best.

    Costs are walking distances from each member's home to the grid (to the network node
    nearest the grid's centre, plus both snaps; straight lines without a network); the
    assignment minimises their total (``scipy.optimize.linear_sum_assignment``). Pairs farther
    than ``assignment_max_walk_m`` are never suggested.
    """
    from scipy.optimize import linear_sum_assignment
    from scipy.sparse.csgraph import dijkstra as _dijkstra

    from .assignments import active_assignments, resolve_as_of

    cols = ["grid_code", "person_id", "name", "distance_m", "method"]
    people = data["people"]
    act = active_assignments(data["assignments"], resolve_as_of(data, settings))
    pool = people[people["is_party_member"].astype(bool).to_numpy()
                  & ~people["person_id"].isin(act["person_id"]).to_numpy()]
    grids = data["grids"].set_index("code").loc[gaps] if gaps else data["grids"].iloc[:0]
    if pool.empty or grids.empty:
        return pd.DataFrame(columns=cols)
    crs = network.crs if network is not None else (
        settings.metric_crs or _crs.metric_crs(tuple(data["grids"].total_bounds)).to_string())
    gm = shapely.point_on_surface(grids.geometry.to_crs(crs).to_numpy())
    pm = pool.geometry.to_crs(crs).to_numpy()
    gx, gy = shapely.get_x(gm), shapely.get_y(gm)
    px, py = shapely.get_x(pm), shapely.get_y(pm)
    if network is not None:
        g_node, g_snap = network.snap(gx, gy)
        p_node, p_snap = network.snap(px, py)
        # one Dijkstra per gap grid (gaps are few), read at every member's node
        d = _dijkstra(network.graph, directed=False, indices=g_node,
                      limit=settings.assignment_max_walk_m)
        cost = d[:, p_node] + g_snap[:, None] + p_snap[None, :]
        method = "network"
    else:
        cost = np.hypot(gx[:, None] - px[None, :], gy[:, None] - py[None, :])
        method = "straight"
    big = 1e12
    allowed = np.isfinite(cost) & (cost <= settings.assignment_max_walk_m)
    rows, colsel = linear_sum_assignment(np.where(allowed, cost, big))
    keep = allowed[rows, colsel]
    rows, colsel = rows[keep], colsel[keep]
    return pd.DataFrame({
        "grid_code": grids.index.to_numpy()[rows],
        "person_id": pool["person_id"].to_numpy()[colsel],
        "name": pool["name"].to_numpy()[colsel],
        "distance_m": np.round(cost[rows, colsel], 1),
        "method": method,
    }).sort_values("grid_code", ignore_index=True)


def isochrones(network: WalkNetwork, lon: float, lat: float,
               distances: tuple[int, ...] = (300, 500, 1000)) -> gpd.GeoDataFrame:
    """Areas within each walking distance of a point (e.g. a care point), as polygons: the
    streets reachable within the distance, buffered by what is left to walk off them (at most
    the 50 m a building is set back), in EPSG:4326."""
    from scipy.sparse.csgraph import dijkstra as _dijkstra

    x, y = gpd.GeoSeries([shapely.Point(lon, lat)], crs=4326).to_crs(network.crs).iloc[0].xy
    node, snap = network.snap(np.array(x), np.array(y))
    dist = _dijkstra(network.graph, directed=False, indices=int(node[0]),
                     limit=max(distances)) + snap[0]
    coo = sparse.triu(network.graph, format="coo")
    polys = []
    for limit in sorted(distances):  # a handful of distances
        ok = (dist[coo.row] <= limit) & (dist[coo.col] <= limit)
        segs = shapely.linestrings(np.stack([np.c_[network.x[coo.row[ok]],
                                                   network.y[coo.row[ok]]],
                                             np.c_[network.x[coo.col[ok]],
                                                   network.y[coo.col[ok]]]], axis=1))
        reached = np.flatnonzero(dist <= limit)
        pts = shapely.buffer(shapely.points(network.x[reached], network.y[reached]),
                             np.minimum(limit - dist[reached], 50.0))
        polys.append(shapely.union_all(np.r_[shapely.buffer(segs, 25.0), pts]))
    out = gpd.GeoDataFrame({"distance_m": sorted(distances)}, geometry=polys,
                           crs=network.crs).to_crs(4326)
    out["minutes"] = (out["distance_m"] / DEFAULT_SETTINGS.walk_speed_m_per_min).round(1)
    return out
