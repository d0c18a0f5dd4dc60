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
                     ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Walking distance from each point (xs, ys) to the nearest source point (metric xy
    arrays of shape (k, 2)), and each point's snap distance. One Dijkstra for all sources."""
    n = net.n_nodes
    if len(sources) == 0:
        _, snap = net.snap(xs, ys)
        return np.full(len(xs), np.inf), snap
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
    b_node, b_snap = net.snap(xs, ys)
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
    for group, pts in _targets(data).items():
        xy = shapely.get_coordinates(gpd.GeoSeries(pts, crs="EPSG:4326").to_crs(crs)
                                     .to_numpy()) if len(pts) else np.zeros((0, 2))
        if network is not None:
            d, snap = network_distance(network, xy, bx, by)
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
