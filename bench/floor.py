"""The bare spatial queries behind :func:`layers.coverage.coverage`, timed: the coverage
benchmark's floor (benchmark-only code, not part of the library)."""

from __future__ import annotations

import time

import pyarrow.compute as pc
import shapely

from layers._coverage_space import _metric_transformer, _radius_search, _to_metric
from layers._keys import index_in as _index_in
from layers._keys import strings as _strings
from layers.assignments import active_assignments, resolve_as_of
from layers.layerset import LayerSet
from layers.settings import DEFAULT_SETTINGS, Settings


def spatial_floor(data: LayerSet, settings: Settings = DEFAULT_SETTINGS) -> dict[str, float]:
    """Time the bare spatial queries behind :func:`layers.coverage.coverage` (the benchmark's floor).

    Everything is prepared before the clock starts (centroids, metric coordinates, the pool of
    unassigned party members); each step then runs single-threaded:

    ``join``
        the plain spatial join of building centroids into grids: an ``STRtree`` of the points
        queried with the (prepared) grid polygons — what finding every building's grid costs
        done directly;
    ``own_grid``
        what the analysis runs instead: each centroid tested against the grid its code names
        (prepared ``contains``), the same answer when codes are mostly right;
    ``members_near_gaps``
        the ``STRtree`` radius search for party members around grids without a sentinel.

    Returns
    -------
    dict
        Seconds per step, ``join_total`` (join + members) and ``run_total`` (own_grid +
        members).
    """
    act = active_assignments(data["assignments"], resolve_as_of(data, settings))
    covered = _strings(act.loc[act["role"] == "grid_sentinel", "target_code"])
    grids = data["grids"]
    g_codes = _strings(grids["code"])
    gaps = ~pc.is_in(g_codes, value_set=covered).to_numpy(zero_copy_only=False)
    b_pts = shapely.centroid(data["buildings"].geometry.to_numpy())
    stored = _index_in(_strings(data["buildings"]["grid_code"]), g_codes)
    g_geom = grids.geometry.to_numpy().copy()
    people = data["people"]
    assigned = pc.is_in(_strings(people["person_id"]), value_set=_strings(act["person_id"]))
    pool = people["is_party_member"].to_numpy(dtype=bool) & ~assigned.to_numpy(
        zero_copy_only=False)
    tf = _metric_transformer(shapely.total_bounds(g_geom[gaps]), settings)
    gm = _to_metric(g_geom[gaps], tf)
    pm = _to_metric(people.geometry.to_numpy()[pool], tf)
    known = stored >= 0
    shapely.prepare(g_geom)
    t0 = time.perf_counter()
    shapely.STRtree(b_pts).query(g_geom, predicate="contains")
    t1 = time.perf_counter()
    shapely.contains(g_geom[stored[known]], b_pts[known])
    t2 = time.perf_counter()
    _radius_search(shapely.STRtree(pm), gm, settings.suggestions_per_gap,
                   settings.suggestion_max_distance_m)
    t3 = time.perf_counter()
    return {
        "join": t1 - t0,
        "own_grid": t2 - t1,
        "members_near_gaps": t3 - t2,
        "join_total": (t1 - t0) + (t3 - t2),
        "run_total": (t2 - t1) + (t3 - t2),
    }
