"""Coverage analysis: who is responsible for each grid and building, and where the gaps are.

Finds grids without an active sentinel (网格哨兵), sentinels responsible for too many
households, buildings without an active building party member (楼栋党员), buildings whose
outline lies in a different grid than their ``grid_code`` says, and, for every grid without a
sentinel, the nearest party members who hold no assignment yet (who could fill the gap).

Everything is vectorised: assignments are resolved with pandas set operations; the spatial
parts are two ``shapely.STRtree`` queries (building centroids in grids, party members within
reach of each uncovered grid).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import shapely
from pyproj import Transformer

from . import crs as _crs
from ._keys import index_in as _index_in
from ._keys import strings as _strings
from ._keys import take as _take
from .assignments import active_mask, resolve_as_of
from .layerset import LayerSet
from .settings import DEFAULT_SETTINGS, Settings

#: The layers :func:`coverage` reads (a store can be read with just these).
LAYERS_NEEDED = ("towns", "communities", "grids", "buildings", "people", "assignments")
#: The columns :func:`coverage` uses, by layer: all it needs to read (``Store.read(columns=)``);
#: a city's building names, floors and residents' phones are never loaded.
COLUMNS_NEEDED: dict[str, tuple[str, ...]] = {
    "communities": ("code", "name"),
    "grids": ("code", "community_code", "name", "households", "geometry"),
    "buildings": ("code", "grid_code", "households", "geometry"),
    "people": ("person_id", "name", "is_party_member", "home_building_code", "geometry"),
    "assignments": ("person_id", "role", "target_code", "active", "since", "until"),
}

SUMMARY_COLUMNS = [
    "community_code",
    "community_name",
    "grids",
    "grids_without_sentinel",
    "grid_coverage",
    "households",
    "households_without_sentinel",
    "buildings",
    "buildings_without_member",
    "building_coverage",
    "overloaded_sentinels",
    "unassigned_party_members",
]


@dataclass
class CoverageResult:
    """What :func:`coverage` found.

    Attributes
    ----------
    as_of
        The date assignments were evaluated at.
    grids
        One row per grid: ``code``, ``community_code``, ``name``, ``households`` (from its
        buildings), ``sentinels`` (active sentinel ids, ``;``-separated), ``n_sentinels`` and
        ``status`` (``ok``, ``no_sentinel`` or ``overloaded``).
    grids_without_sentinel
        Codes of grids with no active sentinel, sorted.
    overloaded_sentinels
        ``person_id``, ``name``, ``grids`` (list of codes), ``households``, ``limit``.
    buildings_without_member
        Codes of buildings with no active building member, sorted.
    overloaded_members
        Building members covering more buildings than ``Settings.member_max_buildings``.
    buildings_outside_grid
        ``code``, ``grid_code`` (stored) and ``located_grid`` (where its centroid lies, or
        ``None``) for buildings whose outline is not in their own grid.
    suggestions
        For each grid without a sentinel, up to ``Settings.suggestions_per_gap`` unassigned
        party members by straight-line distance from home to the grid: ``grid_code``,
        ``rank``, ``person_id``, ``name``, ``distance_m``.
    unassigned_party_members
        Number of party members with no active assignment.
    summary
        Per community (and a last row ``town`` for the total), columns ``SUMMARY_COLUMNS``.
    """

    as_of: dt.date
    grids: pd.DataFrame
    grids_without_sentinel: list[str]
    overloaded_sentinels: pd.DataFrame
    buildings_without_member: list[str]
    overloaded_members: pd.DataFrame
    buildings_outside_grid: pd.DataFrame
    suggestions: pd.DataFrame
    unassigned_party_members: int
    summary: pd.DataFrame
    settings: Settings = field(default=DEFAULT_SETTINGS, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the CLI's ``--format json``). Contains no phone numbers."""
        return {
            "as_of": self.as_of.isoformat(),
            "grids_without_sentinel": list(self.grids_without_sentinel),
            "overloaded_sentinels": _records(self.overloaded_sentinels),
            "buildings_without_member": list(self.buildings_without_member),
            "overloaded_members": _records(self.overloaded_members),
            "buildings_outside_grid": _records(self.buildings_outside_grid),
            "suggestions": _records(self.suggestions),
            "unassigned_party_members": int(self.unassigned_party_members),
            "summary": _records(self.summary),
            "settings": {
                "sentinel_max_households": self.settings.sentinel_max_households,
                "member_max_buildings": self.settings.member_max_buildings,
                "suggestions_per_gap": self.settings.suggestions_per_gap,
                "suggestion_max_distance_m": self.settings.suggestion_max_distance_m,
            },
        }

    def to_tables(self) -> dict[str, pd.DataFrame]:
        """The result as plain tables (for a cache: :func:`layers.snapshot.write_tables`);
        :meth:`from_tables` makes the same result again."""
        out = {name: getattr(self, name) for name in _RESULT_TABLES}
        out["codes"] = pd.DataFrame({
            "of": ["grids_without_sentinel"] * len(self.grids_without_sentinel)
            + ["buildings_without_member"] * len(self.buildings_without_member),
            "code": [*self.grids_without_sentinel, *self.buildings_without_member]})
        out["facts"] = pd.DataFrame({"as_of": [self.as_of.isoformat()],
                                     "unassigned_party_members": [self.unassigned_party_members]})
        return out

    @classmethod
    def from_tables(cls, tables: Mapping[str, pd.DataFrame],
                    settings: Settings = DEFAULT_SETTINGS) -> CoverageResult:
        """The result :meth:`to_tables` wrote (computed with ``settings``).

        Raises
        ------
        KeyError
            A table or column is missing.
        """
        codes, facts = tables["codes"], tables["facts"]
        frames = {name: _as_computed(tables[name], name) for name in _RESULT_TABLES}
        return cls(
            as_of=dt.date.fromisoformat(str(facts["as_of"].iloc[0])),
            grids_without_sentinel=_codes_of(codes, "grids_without_sentinel"),
            buildings_without_member=_codes_of(codes, "buildings_without_member"),
            unassigned_party_members=int(facts["unassigned_party_members"].iloc[0]),
            settings=settings, **frames)


#: The result's tables, in :meth:`CoverageResult.to_tables`.
_RESULT_TABLES = ("grids", "overloaded_sentinels", "overloaded_members",
                  "buildings_outside_grid", "suggestions", "summary")


def _codes_of(codes: pd.DataFrame, name: str) -> list[str]:
    return [str(c) for c in codes["code"][codes["of"] == name]]


def _as_computed(df: pd.DataFrame, name: str) -> pd.DataFrame:
    """A table read back from Arrow with the column types :func:`coverage` gives it (lists
    of codes as lists)."""
    if name == "overloaded_sentinels":
        df = df.assign(grids=[list(map(str, g)) for g in df["grids"]])
    elif name == "summary":  # names, None for the town's row and unknown communities
        names = df["community_name"].astype(object)
        df = df.assign(community_name=names.where(names.notna(), None))
    return df


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    out = df.astype(object).where(df.notna(), None).to_dict(orient="records")
    for rec in out:
        for k, v in rec.items():
            if isinstance(v, np.generic):
                rec[k] = v.item()
            elif isinstance(v, np.ndarray):
                rec[k] = v.tolist()
    return out


def coverage(data: LayerSet, settings: Settings = DEFAULT_SETTINGS) -> CoverageResult:
    """Run the coverage analysis.

    Parameters
    ----------
    data
        Needs ``grids``, ``buildings``, ``people`` and ``assignments``; ``communities`` names
        the summary rows when present.
    settings
        Thresholds (``sentinel_max_households``, ``member_max_buildings``,
        ``suggestions_per_gap``, ``suggestion_max_distance_m``), ``as_of`` and ``metric_crs``.

    Returns
    -------
    CoverageResult
    """
    # GEOS releases the GIL: the spatial steps run in worker threads while this thread does
    # the tabular work, so the analysis uses both cores of a small server.
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="coverage") as pool_ex:
        return _coverage(data, settings, pool_ex)


def _coverage(
    data: LayerSet, settings: Settings, ex: ThreadPoolExecutor
) -> CoverageResult:
    """The analysis as a list of steps; the spatial ones run in ``ex``'s worker threads."""
    as_of = resolve_as_of(data, settings)
    grids, buildings, people = data["grids"], data["buildings"], data["people"]
    centroids = _submit_centroids(ex, buildings.geometry.to_numpy())
    act = _active_roles(data["assignments"], as_of)
    g_codes = _strings(grids["code"])
    b_codes = _strings(buildings["code"])
    p_ids = _strings(people["person_id"])

    pos = _index_in(_strings(buildings["grid_code"]), g_codes)
    located_f = ex.submit(_locate_buildings, centroids, grids.geometry.to_numpy(), pos)
    g_hh, n_b = _grid_households(grids, buildings, pos)
    sent = _sentinel_load(act, g_codes, g_hh, settings)
    overloaded = _overloaded_sentinels(sent, g_codes, people, p_ids, settings)
    grid_table = _grid_table(grids, g_hh, n_b, sent)
    gaps = np.flatnonzero(sent.n_sent == 0)
    grids_without = sorted(_take(g_codes, gaps).tolist())

    pool = _party_pool(people, p_ids, act.person.filter(pa.array(act.active)))
    suggestions_f = ex.submit(_suggest, grids, gaps, people, np.flatnonzero(pool), settings)
    members = _building_members(act, people, pool, b_codes)
    overloaded_members = _overloaded_members(act, members, people, p_ids, settings)
    outside = _buildings_outside(located_f, pos, buildings, b_codes, g_codes)

    suggestions = suggestions_f.result()
    summary = _summary(data, grid_table, pos, members.has_member, members.home_pos,
                       int(pool.sum()), sent.grid[sent.in_over], sent.pidx[sent.in_over],
                       len(sent.over_p))
    return CoverageResult(
        as_of=as_of,
        grids=grid_table,
        grids_without_sentinel=grids_without,
        overloaded_sentinels=overloaded,
        buildings_without_member=members.without_member,
        overloaded_members=overloaded_members,
        buildings_outside_grid=outside,
        suggestions=suggestions,
        unassigned_party_members=int(pool.sum()),
        summary=summary,
        settings=settings,
    )


class _ActiveRoles(NamedTuple):
    """The assignments as Arrow strings, with the masks of the active ones (per role)."""

    target: pa.Array
    person: pa.Array
    is_sentinel: np.ndarray
    is_member: np.ndarray
    active: np.ndarray


class _SentinelLoad(NamedTuple):
    """Sentinel assignments resolved to integer ids, and the households each sentinel serves.

    ``grid``, ``person`` and ``pidx`` (index into ``persons``) are per sentinel assignment to
    a known grid; ``persons`` the distinct sentinels, ``n_sent`` the sentinels per grid,
    ``load`` the households per sentinel, ``over_p`` the overloaded ones (indexes into
    ``persons``), ``in_over`` the assignments of those and ``over_grids`` their grids (mask).
    """

    grid: np.ndarray
    person: pa.Array
    pidx: np.ndarray
    persons: pa.Array
    n_sent: np.ndarray
    load: np.ndarray
    over_p: np.ndarray
    in_over: np.ndarray
    over_grids: np.ndarray


class _BuildingMembers(NamedTuple):
    """Building-member assignments resolved against the building codes."""

    m_rows: pa.Array
    has_member: np.ndarray
    home_pos: np.ndarray
    without_member: list[str]


def _submit_centroids(ex: ThreadPoolExecutor, b_geom: np.ndarray) -> list[Future]:
    """Start the building centroids, half in each worker (GEOS releases the GIL)."""
    half = len(b_geom) // 2
    return [ex.submit(shapely.centroid, b_geom[:half]),
            ex.submit(shapely.centroid, b_geom[half:])]


def _active_roles(assignments: pd.DataFrame, as_of: dt.date) -> _ActiveRoles:
    """Every assignment's target and person, with the masks of those active on ``as_of``
    (no copy of the rows: nearly all of them are active)."""
    active = active_mask(assignments, as_of)
    role = _strings(assignments["role"])
    return _ActiveRoles(
        target=_strings(assignments["target_code"]),
        person=_strings(assignments["person_id"]),
        is_sentinel=pc.equal(role, "grid_sentinel").to_numpy(zero_copy_only=False) & active,
        is_member=pc.equal(role, "building_member").to_numpy(zero_copy_only=False) & active,
        active=active,
    )


def _grid_households(
    grids: pd.DataFrame, buildings: pd.DataFrame, pos: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Households and number of buildings per grid, from its buildings (``pos``: each
    building's grid index, -1 for none); a grid with no buildings keeps its own column."""
    n_g = len(grids)
    hh_b = pd.to_numeric(buildings["households"], errors="coerce").fillna(0).to_numpy(float)
    known = pos >= 0
    g_hh = np.bincount(pos[known], weights=hh_b[known], minlength=n_g)
    n_b = np.bincount(pos[known], minlength=n_g)
    own = pd.to_numeric(grids["households"], errors="coerce").fillna(0).to_numpy(float)
    return np.where(n_b > 0, g_hh, own), n_b


def _sentinel_load(
    act: _ActiveRoles, g_codes: pa.Array, g_hh: np.ndarray, settings: Settings
) -> _SentinelLoad:
    """Sentinels per grid and households per sentinel (integer ids throughout), and which
    sentinels (and so which grids) are over ``settings.sentinel_max_households``."""
    n_g = len(g_codes)
    s_rows = np.flatnonzero(act.is_sentinel)
    s_grid = _index_in(act.target.take(pa.array(s_rows)), g_codes)
    ok = s_grid >= 0
    s_rows, s_grid = s_rows[ok], s_grid[ok]
    s_person = act.person.take(pa.array(s_rows, type=pa.int64()))
    persons = pc.unique(s_person)
    s_pidx = _index_in(s_person, persons)
    n_sent = np.bincount(s_grid, minlength=n_g)
    load = np.bincount(s_pidx, weights=g_hh[s_grid], minlength=len(persons))
    over_p = np.flatnonzero(load > settings.sentinel_max_households)
    in_over = np.isin(s_pidx, over_p)
    over_grids = np.zeros(n_g, bool)
    over_grids[s_grid[in_over]] = True
    return _SentinelLoad(s_grid, s_person, s_pidx, persons, n_sent, load, over_p, in_over,
                         over_grids)


def _overloaded_sentinels(
    sent: _SentinelLoad,
    g_codes: pa.Array,
    people: pd.DataFrame,
    p_ids: pa.Array,
    settings: Settings,
) -> pd.DataFrame:
    """The overloaded sentinels with their names, grid codes and households, most loaded
    first."""
    over_p, in_over = sent.over_p, sent.in_over
    over_ids = _take(sent.persons, over_p)
    # grid codes of each overloaded sentinel: sort by (person, code), split at person changes
    oc = _take(g_codes, sent.grid[in_over]).astype(str)
    op = sent.pidx[in_over]
    o = np.lexsort((oc, op))
    cuts = np.flatnonzero(np.diff(op[o])) + 1
    by_person = dict(zip(op[o][np.r_[0, cuts]] if len(o) else [],
                         [c.tolist() for c in np.split(oc[o], cuts)] if len(o) else [],
                         strict=True))
    over_grid_lists = pd.Series([by_person[i] for i in over_p], dtype=object)
    return pd.DataFrame(
        {
            "person_id": over_ids,
            "name": _person_names(people, p_ids, over_ids),
            "grids": list(over_grid_lists.to_numpy()),
            "households": np.round(sent.load[over_p]).astype("int64"),
            "limit": settings.sentinel_max_households,
        }
    ).sort_values(["households", "person_id"], ascending=[False, True], ignore_index=True)


def _grid_table(
    grids: pd.DataFrame, g_hh: np.ndarray, n_b: np.ndarray, sent: _SentinelLoad
) -> pd.DataFrame:
    """One row per grid: households, buildings, its sentinels (``;``-joined) and status."""
    n_g = len(grids)
    n_sent, s_grid = sent.n_sent, sent.grid
    # the sentinels of each grid, ';'-joined (most grids have one: only the rest are grouped)
    sp = sent.person.to_numpy(zero_copy_only=False)
    sentinels_of = np.full(n_g, "", dtype=object)
    single = n_sent[s_grid] == 1
    sentinels_of[s_grid[single]] = sp[single]
    if (~single).any():
        multi = pd.Series(sp[~single]).groupby(s_grid[~single]).agg(
            lambda c: ";".join(sorted(c)))
        sentinels_of[multi.index.to_numpy()] = multi.to_numpy()
    status = np.where(n_sent == 0, "no_sentinel", np.where(sent.over_grids, "overloaded", "ok"))
    return pd.DataFrame(
        {
            "code": grids["code"].to_numpy(dtype=object),
            "community_code": grids["community_code"].to_numpy(dtype=object),
            "name": grids["name"].to_numpy(dtype=object),
            "households": np.round(g_hh).astype("int64"),
            "buildings": n_b,
            "sentinels": sentinels_of,
            "n_sentinels": n_sent,
            "status": status,
        }
    )


def _party_pool(people: pd.DataFrame, p_ids: pa.Array, a_person: pa.Array) -> np.ndarray:
    """Mask of the party members with no active assignment and a home location."""
    assigned = pc.is_in(p_ids, value_set=pc.unique(a_person)).to_numpy(zero_copy_only=False)
    pool = people["is_party_member"].to_numpy(dtype=bool) & ~assigned
    pool &= ~shapely.is_missing(people.geometry.to_numpy())
    return pool


def _building_members(
    act: _ActiveRoles, people: pd.DataFrame, pool: np.ndarray, b_codes: pa.Array
) -> _BuildingMembers:
    """Which buildings have an active member, the sorted codes of those without, and the
    home building of each pooled party member; one hash of the building codes serves
    members' targets and the pool's home buildings."""
    m_rows = pa.array(np.flatnonzero(act.is_member), type=pa.int64())
    m_target = act.target.take(m_rows)
    pool_idx = np.flatnonzero(pool)
    homes = _strings(people["home_building_code"].iloc[pool_idx])
    found = _index_in(pa.concat_arrays([m_target, homes]), b_codes)
    m_pos, home_pos = found[: len(m_target)], found[len(m_target):]
    has_member = np.bincount(m_pos[m_pos >= 0], minlength=len(b_codes)) > 0
    missing = np.flatnonzero(~has_member)
    order = pc.sort_indices(b_codes.take(pa.array(missing, type=pa.int64())))
    without_member = b_codes.take(pa.array(missing, type=pa.int64())).take(order).to_pylist()
    return _BuildingMembers(m_rows, has_member, home_pos, without_member)


def _overloaded_members(
    act: _ActiveRoles,
    members: _BuildingMembers,
    people: pd.DataFrame,
    p_ids: pa.Array,
    settings: Settings,
) -> pd.DataFrame:
    """Building members covering more than ``settings.member_max_buildings`` buildings."""
    m_person = act.person.take(members.m_rows)
    distinct = pc.unique(m_person)
    per_member = np.bincount(_index_in(m_person, distinct), minlength=len(distinct))
    om = np.flatnonzero(per_member > settings.member_max_buildings)
    om_ids = _take(distinct, om)
    return pd.DataFrame(
        {
            "person_id": om_ids,
            "name": _person_names(people, p_ids, om_ids),
            "buildings": per_member[om],
            "limit": settings.member_max_buildings,
        }
    )


def _buildings_outside(
    located_f: Future,
    pos: np.ndarray,
    buildings: pd.DataFrame,
    b_codes: pa.Array,
    g_codes: pa.Array,
) -> pd.DataFrame:
    """Buildings whose centroid is not in the grid their ``grid_code`` names (waits for the
    spatial lookup started earlier)."""
    located, no_point = located_f.result()
    wrong = np.flatnonzero((located != pos) & ~no_point)
    return pd.DataFrame(
        {
            "code": _take(b_codes, wrong),
            "grid_code": buildings["grid_code"].iloc[wrong].to_numpy(dtype=object),
            "located_grid": np.where(located[wrong] >= 0,
                                     _take(g_codes, np.maximum(located[wrong], 0)),
                                     None),  # type: ignore[call-overload]  # numpy stubs: None
        }
    )


def _person_names(people: pd.DataFrame, p_ids: pa.Array, ids: np.ndarray) -> np.ndarray:
    """Names of the given person ids (None where unknown); looks up only those rows."""
    if len(ids) == 0:
        return np.array([], dtype=object)
    # hash the few ids asked for, not the whole people layer
    at = pc.index_in(p_ids, value_set=_strings(ids))
    rows = np.flatnonzero(pc.is_valid(at).to_numpy(zero_copy_only=False))
    which = pc.take(at, pa.array(rows, type=pa.int64())).to_numpy(zero_copy_only=False)
    out = np.full(len(ids), None, dtype=object)
    out[which[::-1]] = people["name"].iloc[rows[::-1]].to_numpy(dtype=object)  # first wins
    return out


def _locate_buildings(
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
        located[todo] = _locate_points(pts[todo], grids, tree_on="polygons")
    return located, missing


def _locate_points(
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


def _metric_transformer(bounds: np.ndarray, settings: Settings) -> Transformer:
    target = settings.metric_crs or _crs.metric_crs(tuple(bounds))
    return Transformer.from_crs("EPSG:4326", target, always_xy=True)


def _to_metric(geoms: np.ndarray, tf: Transformer) -> np.ndarray:
    return shapely.transform(geoms, lambda xy: np.column_stack(tf.transform(xy[:, 0], xy[:, 1])))


#: Search radii (metres) tried in turn for suggestions; each grid stops at the first radius
#: holding enough candidates, which is exact (its k nearest are all within that radius).
_SEARCH_RADII = (250.0, 1000.0)


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


def _suggest(
    grids: pd.DataFrame,
    gaps: np.ndarray,
    people: pd.DataFrame,
    pool: np.ndarray,
    settings: Settings,
) -> pd.DataFrame:
    cols = ["grid_code", "rank", "person_id", "name", "distance_m"]
    k = settings.suggestions_per_gap
    if len(gaps) == 0 or len(pool) == 0 or k == 0:
        return pd.DataFrame(columns=cols)
    gap_geoms = grids.geometry.to_numpy()[gaps]
    tf = _metric_transformer(shapely.total_bounds(gap_geoms), settings)
    gm = _to_metric(gap_geoms, tf)
    centre = shapely.centroid(gm)
    pm = _to_metric(people.geometry.to_numpy()[pool], tf)
    gi, pi = _radius_search(shapely.STRtree(pm), gm, k, settings.suggestion_max_distance_m)
    if gi.size == 0:
        return pd.DataFrame(columns=cols)
    d = shapely.distance(gm[gi], pm[pi])
    # ties (several members living inside the grid) go to the one nearest its centre
    d2 = shapely.distance(centre[gi], pm[pi])
    order = np.lexsort((d2, d, gi))
    gi, pi, d = gi[order], pi[order], d[order]
    first = np.r_[0, np.flatnonzero(np.diff(gi)) + 1]
    rank = np.arange(len(gi)) - np.repeat(first, np.diff(np.r_[first, len(gi)])) + 1
    keep = rank <= k
    rows = pool[pi[keep]]
    out = pd.DataFrame(
        {
            "grid_code": grids["code"].iloc[gaps[gi[keep]]].to_numpy(dtype=object),
            "rank": rank[keep],
            "person_id": people["person_id"].iloc[rows].to_numpy(dtype=object),
            "name": people["name"].iloc[rows].to_numpy(dtype=object),
            "distance_m": np.round(d[keep], 1),
        }
    )
    return out.sort_values(["grid_code", "rank"], ignore_index=True)


def _summary(
    data: LayerSet,
    grid_table: pd.DataFrame,
    b_grid: np.ndarray,
    has_member: np.ndarray,
    homes: np.ndarray,
    n_pool: int,
    over_grid: np.ndarray,
    over_person: np.ndarray,
    n_over: int,
) -> pd.DataFrame:
    """Per-community counts with integer community ids and ``bincount``."""
    gt = grid_table
    c_idx, c_codes = pd.factorize(gt["community_code"], sort=True)
    n_c = len(c_codes)
    nos = (gt["status"] == "no_sentinel").to_numpy()
    hh = gt["households"].to_numpy()
    known = b_grid >= 0
    b_comm = np.full(len(b_grid), -1)
    b_comm[known] = c_idx[b_grid[known]]
    bk = b_comm >= 0
    over_pairs = np.unique(np.c_[over_person, c_idx[over_grid]], axis=0) if n_over else \
        np.zeros((0, 2), int)
    home_comm = np.where(homes >= 0, b_comm[np.maximum(homes, 0)], -1)
    s = pd.DataFrame(
        {
            "community_code": np.asarray(c_codes, dtype=object),
            "grids": np.bincount(c_idx, minlength=n_c),
            "grids_without_sentinel": np.bincount(c_idx, weights=nos, minlength=n_c),
            "households": np.bincount(c_idx, weights=hh, minlength=n_c),
            "households_without_sentinel": np.bincount(c_idx, weights=hh * nos, minlength=n_c),
            "buildings": np.bincount(b_comm[bk], minlength=n_c),
            "buildings_without_member": np.bincount(b_comm[bk], weights=~has_member[bk],
                                                    minlength=n_c),
            "overloaded_sentinels": np.bincount(over_pairs[:, 1], minlength=n_c),
            "unassigned_party_members": np.bincount(home_comm[home_comm >= 0], minlength=n_c),
        }
    )
    comms = data["communities"]
    if "code" in comms and len(comms):
        ci = _index_in(_strings(s["community_code"]), _strings(comms["code"]))
        names = comms["name"].iloc[np.maximum(ci, 0)].to_numpy(dtype=object)
        s["community_name"] = np.where(ci >= 0, names, None)
    else:
        s["community_name"] = None
    total = s.drop(columns=["community_code", "community_name"]).sum()
    total["overloaded_sentinels"] = n_over
    total["unassigned_party_members"] = n_pool
    total_row = pd.DataFrame([{"community_code": "town", "community_name": None, **total}])
    s = pd.concat([s, total_row], ignore_index=True)
    s["grid_coverage"] = np.round(
        1 - s["grids_without_sentinel"] / s["grids"].where(s["grids"] > 0), 4)
    s["building_coverage"] = np.round(
        1 - s["buildings_without_member"] / s["buildings"].where(s["buildings"] > 0), 4)
    int_cols = [c for c in SUMMARY_COLUMNS if c not in
                ("community_code", "community_name", "grid_coverage", "building_coverage")]
    s[int_cols] = s[int_cols].astype("int64")
    return s[SUMMARY_COLUMNS]
