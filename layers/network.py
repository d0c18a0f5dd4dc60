"""Walking networks: from the store's own ``roads`` layer or a local OpenStreetMap file.

A :class:`WalkNetwork` is nodes in a metric CRS plus a symmetric sparse matrix of edge lengths
(metres), ready for ``scipy.sparse.csgraph`` shortest paths. OSM files (``.osm``, ``.osm.bz2``,
``.osm.gz``) are read with osmnx's ``graph_from_xml``, which makes no network call; only ways
with a ``highway`` tag are kept (it also turns building outlines into edges) and small
components are kept too (``retain_all``). Networks are cached next to a GeoPackage store in a
GeoPackage (``town.walk.gpkg``), in the cache folder of any other store.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import shapely
from pyproj import Transformer
from scipy import sparse
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from . import crs as _crs
from .errors import LayersError

if TYPE_CHECKING:  # pragma: no cover
    from .store import Store

log = logging.getLogger(__name__)


class NetworkError(LayersError):
    """A network file cannot be read or holds no streets."""


@dataclass
class WalkNetwork:
    """A walking network.

    Attributes
    ----------
    x, y
        Node coordinates in ``crs`` (metres).
    graph
        Symmetric CSR matrix of edge lengths in metres.
    crs
        The metric CRS of the coordinates.
    source
        Where it came from (``roads`` or ``osm:<file>``), for reports.
    """

    x: np.ndarray
    y: np.ndarray
    graph: sparse.csr_matrix
    crs: str
    source: str

    @property
    def n_nodes(self) -> int:
        return len(self.x)

    @property
    def n_edges(self) -> int:
        return int(self.graph.nnz // 2)

    def components(self) -> np.ndarray:
        """Component label of each node."""
        return connected_components(self.graph, directed=False)[1]

    def snap(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Nearest node of each point and the distance to it (metres)."""
        d, i = cKDTree(np.c_[self.x, self.y]).query(np.c_[x, y])
        return i.astype(np.int64), d

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write ``walk_nodes`` and ``walk_edges`` layers to a GeoPackage (QGIS opens it)."""
        import pyogrio

        g = sparse.triu(self.graph, format="coo")
        nodes = gpd.GeoDataFrame({"node": np.arange(self.n_nodes)},
                                 geometry=shapely.points(self.x, self.y), crs=self.crs)
        edges = gpd.GeoDataFrame(
            {"u": g.row, "v": g.col, "length_m": g.data},
            geometry=shapely.linestrings(np.stack([np.c_[self.x[g.row], self.y[g.row]],
                                                   np.c_[self.x[g.col], self.y[g.col]]],
                                                  axis=1)), crs=self.crs)
        tmp = Path(path).with_suffix(".tmp.gpkg")
        tmp.unlink(missing_ok=True)
        pyogrio.write_dataframe(nodes, tmp, layer="walk_nodes", driver="GPKG")
        pyogrio.write_dataframe(edges, tmp, layer="walk_edges", driver="GPKG",
                                layer_options={"DESCRIPTION": self.source})
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> WalkNetwork:
        import pyogrio

        nodes = pyogrio.read_dataframe(path, layer="walk_nodes", use_arrow=True)
        edges = pyogrio.read_dataframe(path, layer="walk_edges", use_arrow=True,
                                       read_geometry=False)
        info = pyogrio.read_info(path, layer="walk_edges")
        order = np.argsort(nodes["node"].to_numpy())
        x, y = shapely.get_x(nodes.geometry.to_numpy()[order]), shapely.get_y(
            nodes.geometry.to_numpy()[order])
        n = len(x)
        u, v, w = (edges[c].to_numpy() for c in ("u", "v", "length_m"))
        g = sparse.csr_matrix((np.r_[w, w], (np.r_[u, v], np.r_[v, u])), shape=(n, n))
        source = (info.get("layer_metadata") or {}).get("DESCRIPTION") or "cache"
        return cls(x, y, g, nodes.crs.to_string(), source)


def _from_edges(ex0, ey0, ex1, ey1, length, crs: str, source: str,
                snap_m: float) -> WalkNetwork:
    """Build a network from segment end points, merging ends closer than ``snap_m``."""
    pts = np.r_[np.c_[ex0, ey0], np.c_[ex1, ey1]]
    key = np.round(pts / snap_m).astype(np.int64)
    uniq, inv = np.unique(key, axis=0, return_inverse=True)
    inv = inv.ravel()
    xy = np.zeros((len(uniq), 2))
    np.add.at(xy, inv, pts)
    xy /= np.bincount(inv, minlength=len(uniq))[:, None]
    m = len(ex0)
    u, v = inv[:m], inv[m:]
    keep = u != v
    u, v, w = u[keep], v[keep], np.asarray(length, float)[keep]
    n = len(uniq)
    # parallel edges: keep the shortest (converting to CSR would add them up)
    coo = sparse.coo_matrix((np.r_[w, w], (np.r_[u, v], np.r_[v, u])), shape=(n, n))
    order = np.lexsort((coo.data, coo.col, coo.row))
    r, c, d = coo.row[order], coo.col[order], coo.data[order]
    first = np.r_[True, (r[1:] != r[:-1]) | (c[1:] != c[:-1])]
    g = sparse.csr_matrix((d[first], (r[first], c[first])), shape=(n, n))
    return WalkNetwork(xy[:, 0], xy[:, 1], g, crs, source)


def from_roads(roads: gpd.GeoDataFrame, metric_crs: str | None = None, *,
               snap_m: float = 1.0, heal_m: float = 15.0) -> WalkNetwork:
    """A walking network from a ``roads`` layer (LineStrings in any CRS).

    The lines are noded at their crossings; dead ends within ``heal_m`` of another part of the
    network are joined to it (digitising gaps, a village road stopping short of a street).
    """
    if roads.empty:
        raise NetworkError("the roads layer is empty: no network to build")
    crs = metric_crs or _crs.metric_crs(tuple(roads.to_crs(4326).total_bounds)).to_string()
    lines = roads.to_crs(crs).geometry.to_numpy()
    noded = shapely.get_parts(shapely.node(shapely.multilinestrings(lines)))
    coords, idx = shapely.get_coordinates(noded, return_index=True)
    same = idx[1:] == idx[:-1]
    a, b = coords[:-1][same], coords[1:][same]
    length = np.hypot(*(b - a).T)
    net = _from_edges(a[:, 0], a[:, 1], b[:, 0], b[:, 1], length, crs, "roads", snap_m)
    return _heal(net, heal_m)


def _heal(net: WalkNetwork, heal_m: float) -> WalkNetwork:
    """Join each dead end to the nearest point of an edge of another component within
    ``heal_m``: a node is inserted there, linked to the edge's two ends and to the dead end."""
    deg = np.diff(net.graph.indptr)
    comp = net.components()
    ends = np.flatnonzero(deg == 1)
    if not len(ends):
        return net
    g = sparse.triu(net.graph, format="coo")
    segs = shapely.linestrings(np.stack([np.c_[net.x[g.row], net.y[g.row]],
                                         np.c_[net.x[g.col], net.y[g.col]]], axis=1))
    tree = shapely.STRtree(segs)
    ends_pt = shapely.points(net.x[ends], net.y[ends])
    ei, si = tree.query(ends_pt, predicate="dwithin", distance=heal_m)
    other = comp[g.row[si]] != comp[ends[ei]]
    ei, si = ei[other], si[other]
    if not len(ei):
        return net
    d = shapely.distance(ends_pt[ei], segs[si])
    best = np.lexsort((d, ei))
    first = np.r_[True, ei[best][1:] != ei[best][:-1]]
    ei, si, d = ei[best][first], si[best][first], d[best][first]
    proj = shapely.line_interpolate_point(segs[si], shapely.line_locate_point(
        segs[si], ends_pt[ei]))
    n0 = net.n_nodes
    new = n0 + np.arange(len(ei))
    a, b = g.row[si], g.col[si]
    px, py = shapely.get_x(proj), shapely.get_y(proj)
    da = np.hypot(px - net.x[a], py - net.y[a])
    db = np.hypot(px - net.x[b], py - net.y[b])
    u = np.r_[new, new, new]
    v = np.r_[a, b, ends[ei]]
    w = np.r_[da, db, d]
    n = n0 + len(new)
    extra = sparse.coo_matrix((np.r_[w, w], (np.r_[u, v], np.r_[v, u])), shape=(n, n))
    base = sparse.csr_matrix((net.graph.data, net.graph.indices,
                              np.r_[net.graph.indptr, np.full(n - n0, net.graph.nnz)]),
                             shape=(n, n))
    return WalkNetwork(np.r_[net.x, px], np.r_[net.y, py], (base + extra).tocsr(), net.crs,
                       net.source)


def from_osm(path: str | os.PathLike[str], metric_crs: str | None = None) -> WalkNetwork:
    """A walking network from a local OSM XML file (``.osm``, ``.osm.bz2``, ``.osm.gz``).

    Raises
    ------
    NetworkError
        Unreadable file, or no way with a ``highway`` tag in it.
    """
    import osmnx as ox

    p = Path(path)
    if not p.is_file():
        raise NetworkError(f"{p}: no such file")
    if p.suffix == ".pbf":
        raise NetworkError(f"{p}: .pbf is not supported; convert it to .osm or .osm.bz2")
    try:
        G = ox.graph_from_xml(p, simplify=True, retain_all=True)
    except Exception as exc:  # osmnx raises several kinds for bad files
        raise NetworkError(f"{p}: cannot be read as OSM XML ({exc})") from exc
    return _from_nx(G, f"osm:{p.name}", metric_crs)


def _from_nx(G, source: str, metric_crs: str | None) -> WalkNetwork:
    """A WalkNetwork from an osmnx graph (lon/lat nodes, ``length`` on edges), streets only."""
    edges = [(u, v, d.get("length", 0.0)) for u, v, d in G.edges(data=True)
             if d.get("highway") is not None]  # streets only: drop building outlines
    if not edges:
        raise NetworkError(f"{source}: no ways with a highway tag")
    node_ids = np.array(list(G.nodes))
    lon = np.array([G.nodes[n]["x"] for n in node_ids])
    lat = np.array([G.nodes[n]["y"] for n in node_ids])
    crs = metric_crs or _crs.metric_crs((lon.min(), lat.min(), lon.max(), lat.max())
                                        ).to_string()
    x, y = Transformer.from_crs(4326, crs, always_xy=True).transform(lon, lat)
    pos = {n: i for i, n in enumerate(node_ids)}
    u = np.array([pos[e[0]] for e in edges])
    v = np.array([pos[e[1]] for e in edges])
    w = np.array([e[2] for e in edges], float)
    return _from_edges(x[u], y[u], x[v], y[v], w, crs, source, snap_m=0.01)


def from_place(query: str | shapely.Geometry, metric_crs: str | None = None) -> WalkNetwork:
    """Download a walking network by place name (``"曾家镇, 重庆"``) or WGS-84 polygon with
    osmnx. Needs the internet: on an offline machine it fails with a clear
    :class:`NetworkError` — use :func:`from_osm` with a local extract instead."""
    import osmnx as ox

    try:
        if isinstance(query, str):
            G = ox.graph_from_place(query, network_type="walk", retain_all=True)
        else:
            G = ox.graph_from_polygon(query, network_type="walk", retain_all=True)
    except Exception as exc:  # no connection, unknown place, …
        raise NetworkError(
            f"could not download a network for {query!s:.80} ({type(exc).__name__}); "
            "offline machines load a local OSM file instead (--osm FILE)") from exc
    return _from_nx(G, f"osm-online:{query!s:.40}", metric_crs)


def cached(store: str | os.PathLike[str] | Store, roads: gpd.GeoDataFrame | None = None,
           osm: str | os.PathLike[str] | None = None) -> WalkNetwork | None:
    """The store's walking network: built from ``osm`` (or the ``roads`` given) and kept in
    the store's cache folder (:meth:`~layers.store.Store.cache_dir`; a GeoPackage's
    ``town.snapshot/``) as ``walk.<digest>.gpkg``, the digest of what it was built from — the
    roads' geometries, or the extract's name, size and time — so changed roads (or another
    scope's) are built again, never served another's network. None when there are no roads
    to build from. Messages never name the store (its URL may hold a password)."""
    from .store import open_store

    if osm:
        o = Path(osm)
        made_from = f"osm|{o.resolve()}|{o.stat().st_size}|{o.stat().st_mtime_ns}".encode()
    elif roads is not None and not roads.empty:
        made_from = b"roads|" + b"".join(shapely.to_wkb(roads.geometry.to_numpy()))
    else:
        return None
    opened = open_store(store)
    folder = opened.cache_dir()
    if folder is None:
        return _build(roads, osm)
    cache = folder / f"walk.{hashlib.blake2b(made_from, digest_size=10).hexdigest()}.gpkg"
    if cache.exists():
        try:
            return WalkNetwork.load(cache)
        except Exception as exc:  # a cache must never break the page: built again
            log.warning("a walking network cache file was not used: %s", exc)
    net = _build(roads, osm)
    if net is not None:
        _keep(net, cache, opened.cache_mode())
    return net


def _build(roads: gpd.GeoDataFrame | None, osm: str | os.PathLike[str] | None
           ) -> WalkNetwork | None:
    if osm:
        return from_osm(osm)
    if roads is not None and not roads.empty:
        return from_roads(roads)
    return None


#: Networks kept in a store's cache folder (the roads of several scopes, or versions).
_KEEP_NETWORKS = 4


def _keep(net: WalkNetwork, cache: Path, mode: int) -> None:
    """Save ``net`` as ``cache`` (written under a temporary name, then renamed), keeping the
    :data:`_KEEP_NETWORKS` newest of the folder; best effort."""
    tmp = cache.with_name(f".{cache.stem}.{os.getpid()}.tmp.gpkg")
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        net.save(tmp)
        os.chmod(tmp, mode)
        os.replace(tmp, cache)
        kept = sorted(cache.parent.glob("walk.*.gpkg"), key=lambda f: f.stat().st_mtime,
                      reverse=True)
        for old in kept[_KEEP_NETWORKS:]:
            old.unlink(missing_ok=True)
    except OSError as exc:
        log.info("a walking network was not kept: %s", exc)
        tmp.unlink(missing_ok=True)
