"""The spatial steps of the coverage analysis, and what they remember between runs.

Two steps: which grid each building's centroid lies in (:class:`Located`), and for every grid
without a sentinel the nearest party members with no assignment (:class:`Suggested`). Both
keep their last answer: the locations are reused while the buildings' and grids' geometries
are the same objects (the app's layer cache hands out the same frame until the layer
changes); the suggestions are recomputed only for the grids an edit can have changed (a grid
that became a gap, or one within reach of a party member who joined or left the pool).
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

from . import crs as _crs
from .settings import Settings

SUGGESTION_COLUMNS = ["grid_code", "rank", "person_id", "name", "distance_m"]
#: Search radii (metres) tried in turn for suggestions; each grid stops at the first radius
#: holding enough candidates, which is exact (its k nearest are all within that radius).
_SEARCH_RADII = (250.0, 1000.0)


class Located:
    """Where each building's centroid lies, kept for the same geometries."""

    def __init__(self) -> None:
        self._key: tuple[Any, Any, np.ndarray] | None = None
        self._answer: tuple[np.ndarray, np.ndarray] | None = None

    def submit(self, ex: ThreadPoolExecutor, buildings: Any, grids: Any, stored: np.ndarray
               ) -> Future:
        """A future of :func:`locate_buildings` for these geometry arrays (the layers'
        ``GeometryArray``) and stored grid positions: the last answer when they are the
        same, else computed in ``ex``'s threads (GEOS releases the GIL)."""
        key = self._key
        if (key is not None and self._answer is not None and key[0] is buildings
                and key[1] is grids and np.array_equal(key[2], stored)):
            done: Future = Future()
            done.set_result(self._answer)
            return done
        b_geom = buildings.to_numpy()
        half = len(b_geom) // 2
        centroids = [ex.submit(shapely.centroid, b_geom[:half]),
                     ex.submit(shapely.centroid, b_geom[half:])]
        self._key, self._answer = (buildings, grids, stored), None
        return ex.submit(self._locate, centroids, grids.to_numpy(), stored)

    def _locate(self, centroids: list[Future], grids: np.ndarray, stored: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
        self._answer = locate_buildings(centroids, grids, stored)
        return self._answer


def locate_buildings(
    centroids: list[Future], grids: np.ndarray, stored: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Grid index of each building's centroid (-1 for none), and the mask of buildings with
    no geometry.

    Each centroid is first tested against the grid its ``grid_code`` names (``stored``) with a
    prepared point-in-polygon test; only the buildings that fail (or name no grid) are looked
    up in an ``STRtree`` of the grids. Same answer as a full spatial join, about ten times
    less work when the codes are mostly right.
    """
    pts = np.concatenate([f.result() for f in centroids])
    missing = shapely.is_missing(pts)
    shapely.prepare(grids)
    located = np.full(len(pts), -1, dtype=np.int64)
    known = np.flatnonzero((stored >= 0) & ~missing)
    inside = shapely.contains(grids[stored[known]], pts[known])
    located[known[inside]] = stored[known[inside]]
    todo = np.setdiff1d(np.flatnonzero(~missing), known[inside], assume_unique=True)
    if todo.size:
        located[todo] = locate_points(pts[todo], grids, tree_on="polygons")
    return located, missing


def locate_points(
    points: np.ndarray, polygons: np.ndarray, tree_on: str = "points"
) -> np.ndarray:
    """Index of the polygon containing each point, -1 for none (first match on overlaps).

    ``tree_on="points"`` builds the tree on the points and queries it with the (prepared)
    polygons: the fast way to join many points. ``tree_on="polygons"`` suits a few points.
    """
    out = np.full(len(points), -1, dtype=np.int64)
    if len(points) == 0 or len(polygons) == 0:
        return out
    if tree_on == "points":
        g_idx, p_idx = shapely.STRtree(points).query(polygons, predicate="contains")
    else:
        p_idx, g_idx = shapely.STRtree(polygons).query(points, predicate="within")
    order = np.lexsort((g_idx, p_idx))[::-1]  # the lowest polygon index wins
    out[p_idx[order]] = g_idx[order]
    return out


class Suggested:
    """Suggestions for the grids without a sentinel, recomputed only where an edit reaches.

    A gap's suggestions depend on its own geometry and on the pool members within
    ``suggestion_max_distance_m`` of it, nothing else; so while the grids' and people's
    geometries (and the settings) are the same, a gap that was a gap before keeps its rows
    unless a member who joined or left the pool lies within reach of it.
    """

    def __init__(self) -> None:
        self._key: tuple[Any, ...] | None = None
        self._space: _Space | None = None
        self._gaps = np.zeros(0, np.int64)
        self._pool = np.zeros(0, bool)
        self._rows: pd.DataFrame | None = None

    def suggest(self, grids: pd.DataFrame, gaps: np.ndarray, people: pd.DataFrame,
                pool: np.ndarray, settings: Settings) -> pd.DataFrame:
        """Up to ``settings.suggestions_per_gap`` pool members (``pool``: a mask of
        ``people``) per gap (``gaps``: grid positions) by distance, nearest first:
        :data:`SUGGESTION_COLUMNS`, sorted by grid code and rank."""
        key = (grids.geometry.values, people.geometry.values, settings.suggestions_per_gap,
               settings.suggestion_max_distance_m, settings.metric_crs)
        if self._space is None or not _same(key, self._key):
            self._key, self._space, self._rows = key, _Space(grids, people, settings), None
        if self._rows is None:
            redo, kept = gaps, None
        else:
            redo = self._affected(self._space, gaps, pool, settings)
            was = self._rows["_gap"].to_numpy()
            kept = self._rows[np.isin(was, gaps) & ~np.isin(was, redo)]
        new = self._space.rank(redo, np.flatnonzero(pool), settings)
        self._rows = new if kept is None else pd.concat([kept, new], ignore_index=True)
        self._gaps, self._pool = gaps, pool.copy()
        return _finish(self._rows, grids, people)

    def _affected(self, space: _Space, gaps: np.ndarray, pool: np.ndarray,
                  settings: Settings) -> np.ndarray:
        """The gaps whose suggestions can differ from last time: new gaps, and old ones
        within reach of a member who joined or left the pool."""
        new_gaps = np.setdiff1d(gaps, self._gaps)
        old_gaps = np.intersect1d(gaps, self._gaps)
        changed = np.flatnonzero(self._pool ^ pool)
        near = space.near(old_gaps, changed, settings.suggestion_max_distance_m)
        return np.union1d(new_gaps, near)


def _same(key: tuple[Any, ...], old: tuple[Any, ...] | None) -> bool:
    """The same geometry arrays (identity: the cache's frames) and the same settings."""
    return old is not None and key[0] is old[0] and key[1] is old[1] and key[2:] == old[2:]


class _Space:
    """Grids and people in the metric CRS of the area (all grids' extent), transformed
    lazily and kept: the grids asked for, and every person's home point."""

    def __init__(self, grids: pd.DataFrame, people: pd.DataFrame, settings: Settings) -> None:
        self.grids = grids.geometry.to_numpy()
        self.people = people.geometry.to_numpy()
        self.tf = _metric_transformer(shapely.total_bounds(self.grids), settings)
        self._grid_m = _Lazy(self.grids, self.tf)
        self._x = np.full(len(self.people), np.nan)
        self._y = np.full(len(self.people), np.nan)
        self._xy_done = np.zeros(len(self.people), bool)

    def grid_m(self, idx: np.ndarray) -> np.ndarray:
        """Metric geometries of the grids ``idx``."""
        return self._grid_m.get(idx)

    def people_xy(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Metric coordinates of the homes of the people ``idx`` (NaN where none),
        transformed the first time they are asked for."""
        todo = idx[~self._xy_done[idx]]
        if todo.size:
            pts = self.people[todo]
            self._x[todo], self._y[todo] = self.tf.transform(shapely.get_x(pts),
                                                             shapely.get_y(pts))
            self._xy_done[todo] = True
        return self._x[idx], self._y[idx]

    def people_m(self, idx: np.ndarray) -> np.ndarray:
        """Metric home points of the people ``idx``."""
        return shapely.points(*self.people_xy(idx))

    def within_box(self, people: np.ndarray, geoms: np.ndarray, reach: float) -> np.ndarray:
        """Those of ``people`` whose home lies in the bounding box of ``geoms`` widened by
        ``reach`` metres: every one within ``reach`` of any of them, and few others when the
        geometries are near one another."""
        x0, y0, x1, y1 = shapely.total_bounds(geoms)
        px, py = self.people_xy(people)
        inside = (px >= x0 - reach) & (px <= x1 + reach) & (py >= y0 - reach) & (py <= y1 + reach)
        return people[inside]

    def near(self, gaps: np.ndarray, persons: np.ndarray, reach: float) -> np.ndarray:
        """The gaps within ``reach`` metres of any of ``persons``."""
        if gaps.size == 0 or persons.size == 0:
            return np.zeros(0, np.int64)
        pts = self.people_m(persons)
        pts = pts[~shapely.is_missing(pts) & ~shapely.is_empty(pts)]
        hit, _ = shapely.STRtree(pts).query(self.grid_m(gaps), predicate="dwithin",
                                            distance=reach)
        return gaps[np.unique(hit)]

    def rank(self, gaps: np.ndarray, pool: np.ndarray, settings: Settings) -> pd.DataFrame:
        """The k nearest of ``pool`` (people positions) to each of ``gaps`` within reach:
        ``_gap``, ``rank``, ``_person`` (a people position), ``distance_m``."""
        k = settings.suggestions_per_gap
        empty = pd.DataFrame({"_gap": np.zeros(0, np.int64), "rank": np.zeros(0, np.int64),
                              "_person": np.zeros(0, np.int64), "distance_m": np.zeros(0)})
        if len(gaps) == 0 or len(pool) == 0 or k == 0:
            return empty
        gm = self.grid_m(gaps)
        pool = self.within_box(pool, gm, settings.suggestion_max_distance_m)
        pm = self.people_m(pool)
        gi, pi = _radius_search(shapely.STRtree(pm), gm, k, settings.suggestion_max_distance_m)
        if gi.size == 0:
            return empty
        d = shapely.distance(gm[gi], pm[pi])
        # ties (several members living inside the grid) go to the one nearest its centre,
        # then to the first in the people layer: the same order however many gaps are ranked
        d2 = shapely.distance(shapely.centroid(gm)[gi], pm[pi])
        order = np.lexsort((pool[pi], d2, d, gi))
        gi, pi, d = gi[order], pi[order], d[order]
        first = np.r_[0, np.flatnonzero(np.diff(gi)) + 1]
        rank = np.arange(len(gi)) - np.repeat(first, np.diff(np.r_[first, len(gi)])) + 1
        keep = rank <= k
        return pd.DataFrame({"_gap": gaps[gi[keep]], "rank": rank[keep],
                             "_person": pool[pi[keep]], "distance_m": np.round(d[keep], 1)})


class _Lazy:
    """Geometries in a metric CRS, each transformed the first time it is asked for."""

    def __init__(self, geoms: np.ndarray, tf: Transformer) -> None:
        self._geoms, self._tf = geoms, tf
        self._out = np.empty(len(geoms), dtype=object)
        self._done = np.zeros(len(geoms), bool)

    def get(self, idx: np.ndarray) -> np.ndarray:
        todo = idx[~self._done[idx]]
        if todo.size:
            self._out[todo] = _to_metric(self._geoms[todo], self._tf)
            self._done[todo] = True
        return self._out[idx]


def _finish(rows: pd.DataFrame, grids: pd.DataFrame, people: pd.DataFrame) -> pd.DataFrame:
    """The ranked rows with grid codes, person ids and names, sorted by grid and rank."""
    gap, person = rows["_gap"].to_numpy(np.int64), rows["_person"].to_numpy(np.int64)
    out = pd.DataFrame({
        "grid_code": grids["code"].iloc[gap].to_numpy(dtype=object),
        "rank": rows["rank"].to_numpy(np.int64),
        "person_id": people["person_id"].iloc[person].to_numpy(dtype=object),
        "name": people["name"].iloc[person].to_numpy(dtype=object),
        "distance_m": rows["distance_m"].to_numpy(float),
    })
    return out.sort_values(["grid_code", "rank"], ignore_index=True)


def _metric_transformer(bounds: np.ndarray, settings: Settings) -> Transformer:
    target = settings.metric_crs or _crs.metric_crs(tuple(bounds))
    return Transformer.from_crs("EPSG:4326", target, always_xy=True)


def _to_metric(geoms: np.ndarray, tf: Transformer) -> np.ndarray:
    return shapely.transform(geoms, lambda xy: np.column_stack(tf.transform(xy[:, 0], xy[:, 1])))


def _radius_search(
    tree: shapely.STRtree, geoms: np.ndarray, k: int, max_d: float
) -> tuple[np.ndarray, np.ndarray]:
    """(geometry index, tree index) pairs within ``max_d``, enough to rank the k nearest.

    Radii grow through ``_SEARCH_RADII``; a geometry stops at the first radius that holds at
    least ``k`` tree items, which is exact: its k nearest all lie within that radius.
    """
    radii = [r for r in _SEARCH_RADII if r < max_d] + [max_d]
    todo = np.arange(len(geoms))
    found_g, found_p = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
    for r in radii:
        gi, pi = tree.query(geoms[todo], predicate="dwithin", distance=r)
        enough = np.bincount(gi, minlength=len(todo)) >= k
        if r == radii[-1]:
            enough[:] = True
        take = enough[gi]
        found_g.append(todo[gi[take]])
        found_p.append(pi[take])
        todo = todo[~enough]
        if len(todo) == 0:
            break
    return np.concatenate(found_g), np.concatenate(found_p)
