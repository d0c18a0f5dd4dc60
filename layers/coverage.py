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
import threading
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import shapely

from . import _coverage_space as _space
from ._keys import LookupMemo
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


class CoverageMemo:
    """What :func:`coverage` worked out on its last run, for the next run after an edit.

    Pass the same memo to successive runs over successive versions of the same store: each
    run then looks up only the codes that changed (:class:`~layers._keys.LookupMemo`), locates
    buildings only when the geometries changed and ranks suggestions only for the gaps an edit
    reaches (:mod:`layers._coverage_space`); everything else is integer counting over all
    rows. The answer is always the one a run without a memo gives. Runs sharing a memo take
    turns (it holds a lock).
    """

    def __init__(self) -> None:
        self.lookups = LookupMemo()
        self.located = _space.Located()
        self.suggested = _space.Suggested()
        self.lock = threading.Lock()
        self.primed = False  # a run has filled it



def coverage(data: LayerSet, settings: Settings = DEFAULT_SETTINGS,
             memo: CoverageMemo | None = None) -> CoverageResult:
    """Run the coverage analysis.

    Parameters
    ----------
    data
        Needs ``grids``, ``buildings``, ``people`` and ``assignments``; ``communities`` names
        the summary rows when present. Keys (grid and building codes, person ids) are unique,
        as the store guarantees.
    settings
        Thresholds (``sentinel_max_households``, ``member_max_buildings``,
        ``suggestions_per_gap``, ``suggestion_max_distance_m``), ``as_of`` and ``metric_crs``.
    memo
        The :class:`CoverageMemo` of earlier runs over earlier versions of these layers
        (updated): the same answer, sooner after a small edit.

    Returns
    -------
    CoverageResult
    """
    memo = memo or CoverageMemo()
    # GEOS releases the GIL: the spatial steps run in worker threads while this thread does
    # the tabular work, so the analysis uses both cores of a small server.
    with memo.lock, ThreadPoolExecutor(max_workers=2, thread_name_prefix="coverage") as ex:
        result = _coverage(data, settings, ex, memo)
        memo.primed = True
        return result


def _coverage(
    data: LayerSet, settings: Settings, ex: ThreadPoolExecutor, memo: CoverageMemo
) -> CoverageResult:
    """The analysis as a list of steps; the spatial ones run in ``ex``'s worker threads."""
    as_of = resolve_as_of(data, settings)
    grids, buildings, people = data["grids"], data["buildings"], data["people"]
    g_codes = _strings(grids["code"])
    b_codes = _strings(buildings["code"])
    pos = memo.lookups.index_in(
        g_codes, {"building_grid": (_strings(buildings["grid_code"]), None)})["building_grid"]
    located_f = memo.located.submit(ex, buildings.geometry.values, grids.geometry.values, pos)
    act = _active_roles(data["assignments"], as_of, memo.lookups, g_codes, people)
    g_hh, n_b = _grid_households(grids, buildings, pos)
    sent = _sentinel_load(act, len(g_codes), g_hh, settings)
    overloaded = _overloaded_sentinels(sent, g_codes, people, act.persons, settings)
    grid_table = _grid_table(grids, g_hh, n_b, sent, act.persons)
    gaps = np.flatnonzero(sent.n_sent == 0)
    grids_without = sorted(_take(g_codes, gaps).tolist())

    pool = _party_pool(people, act)
    suggestions_f = ex.submit(memo.suggested.suggest, grids, gaps, people, pool, settings)
    members = _building_members(act, people, pool, b_codes, memo.lookups)
    overloaded_members = _overloaded_members(act, members, people, settings)
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


class _Persons(NamedTuple):
    """Person keys: a position in the people layer, or ``len(people) + i`` for the i-th
    person id an assignment names that the people layer does not hold."""

    ids: pa.Array
    unknown: pa.Array

    def id_of(self, keys: np.ndarray) -> np.ndarray:
        """The person ids of ``keys`` (an object array of strings)."""
        n = len(self.ids)
        out = np.empty(len(keys), dtype=object)
        known = keys < n
        out[known] = _take(self.ids, keys[known])
        out[~known] = _take(self.unknown, keys[~known] - n)
        return out

    def names(self, people: pd.DataFrame, keys: np.ndarray) -> np.ndarray:
        """Their names (None for an id the people layer does not hold)."""
        known = keys < len(self.ids)
        out = np.full(len(keys), None, dtype=object)
        out[known] = people["name"].iloc[keys[known]].to_numpy(dtype=object)
        return out


class _ActiveRoles(NamedTuple):
    """The assignments in force, resolved to integer positions.

    ``key`` is each assignment's person key (:class:`_Persons`; only meaningful where
    ``active``); ``target`` every assignment's target code; ``s_rows``/``s_grid`` the
    sentinel assignments to a known grid and their grids; ``m_rows`` the building-member
    assignments.
    """

    key: np.ndarray
    persons: _Persons
    active: np.ndarray
    target: pa.Array
    s_rows: np.ndarray
    s_grid: np.ndarray
    m_rows: np.ndarray


class _SentinelLoad(NamedTuple):
    """Sentinel assignments resolved to integer ids, and the households each sentinel serves.

    ``grid``, ``key`` (person key) and ``pidx`` (index into ``persons``) are per sentinel
    assignment to a known grid; ``persons`` the distinct sentinels' keys, ``n_sent`` the
    sentinels per grid, ``load`` the households per sentinel, ``over_p`` the overloaded ones
    (indexes into ``persons``), ``in_over`` the assignments of those and ``over_grids`` their
    grids (mask).
    """

    grid: np.ndarray
    key: np.ndarray
    pidx: np.ndarray
    persons: np.ndarray
    n_sent: np.ndarray
    load: np.ndarray
    over_p: np.ndarray
    in_over: np.ndarray
    over_grids: np.ndarray


class _BuildingMembers(NamedTuple):
    """Which buildings have an active member, and the pool's home buildings."""

    has_member: np.ndarray
    home_pos: np.ndarray
    without_member: list[str]


def _active_roles(assignments: pd.DataFrame, as_of: dt.date, lookups: LookupMemo,
                  g_codes: pa.Array, people: pd.DataFrame) -> _ActiveRoles:
    """The assignments in force on ``as_of`` (no copy of the rows: nearly all are), their
    persons and targets looked up once in the people, grids and buildings (only the rows
    that changed since the memo's last run)."""
    active = active_mask(assignments, as_of)
    role = _strings(assignments["role"])
    target = _strings(assignments["target_code"])
    s_rows = np.flatnonzero(
        pc.equal(role, "grid_sentinel").to_numpy(zero_copy_only=False) & active)
    m_rows = np.flatnonzero(
        pc.equal(role, "building_member").to_numpy(zero_copy_only=False) & active)
    s_grid = lookups.index_in(g_codes, {"sentinel_grid": (target, s_rows)})["sentinel_grid"]
    key, persons = _person_keys(_strings(assignments["person_id"]), active,
                                _strings(people["person_id"]), lookups)
    ok = s_grid >= 0
    return _ActiveRoles(key, persons, active, target, s_rows[ok], s_grid[ok], m_rows)


def _person_keys(person: pa.Array, active: np.ndarray, p_ids: pa.Array, lookups: LookupMemo
                 ) -> tuple[np.ndarray, _Persons]:
    """Every assignment's person key (:class:`_Persons`)."""
    key = lookups.index_in(p_ids, {"person": (person, None)})["person"].copy()
    unknown_rows = np.flatnonzero(key < 0)  # ids the people layer lacks (none in a store)
    picked = person.take(pa.array(unknown_rows, type=pa.int64()))
    unknown = pc.unique(picked)
    key[unknown_rows] = len(p_ids) + _index_in(picked, unknown)
    return key, _Persons(p_ids, unknown)


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
    act: _ActiveRoles, n_g: int, g_hh: np.ndarray, settings: Settings
) -> _SentinelLoad:
    """Sentinels per grid and households per sentinel (integer ids throughout), and which
    sentinels (and so which grids) are over ``settings.sentinel_max_households``."""
    s_grid = act.s_grid
    s_key = act.key[act.s_rows]
    persons, s_pidx = np.unique(s_key, return_inverse=True)
    n_sent = np.bincount(s_grid, minlength=n_g)
    load = np.bincount(s_pidx, weights=g_hh[s_grid], minlength=len(persons))
    over_p = np.flatnonzero(load > settings.sentinel_max_households)
    in_over = np.isin(s_pidx, over_p)
    over_grids = np.zeros(n_g, bool)
    over_grids[s_grid[in_over]] = True
    return _SentinelLoad(s_grid, s_key, s_pidx, persons, n_sent, load, over_p, in_over,
                         over_grids)


def _overloaded_sentinels(
    sent: _SentinelLoad,
    g_codes: pa.Array,
    people: pd.DataFrame,
    persons: _Persons,
    settings: Settings,
) -> pd.DataFrame:
    """The overloaded sentinels with their names, grid codes and households, most loaded
    first."""
    over_p, in_over = sent.over_p, sent.in_over
    over_keys = sent.persons[over_p]
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
            "person_id": persons.id_of(over_keys),
            "name": persons.names(people, over_keys),
            "grids": list(over_grid_lists.to_numpy()),
            "households": np.round(sent.load[over_p]).astype("int64"),
            "limit": settings.sentinel_max_households,
        }
    ).sort_values(["households", "person_id"], ascending=[False, True], ignore_index=True)


def _grid_table(
    grids: pd.DataFrame, g_hh: np.ndarray, n_b: np.ndarray, sent: _SentinelLoad,
    persons: _Persons,
) -> pd.DataFrame:
    """One row per grid: households, buildings, its sentinels (``;``-joined) and status."""
    n_g = len(grids)
    n_sent, s_grid = sent.n_sent, sent.grid
    # the sentinels of each grid, ';'-joined (most grids have one: only the rest are grouped)
    sp = persons.id_of(sent.key)
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


def _party_pool(people: pd.DataFrame, act: _ActiveRoles) -> np.ndarray:
    """Mask of the party members with no active assignment and a home location."""
    keys = act.key[act.active]
    assigned = np.zeros(len(people), bool)
    assigned[keys[keys < len(people)]] = True
    pool = people["is_party_member"].to_numpy(dtype=bool) & ~assigned
    pool &= ~shapely.is_missing(people.geometry.to_numpy())
    return pool


def _building_members(
    act: _ActiveRoles, people: pd.DataFrame, pool: np.ndarray, b_codes: pa.Array,
    lookups: LookupMemo,
) -> _BuildingMembers:
    """Which buildings have an active member, the sorted codes of those without, and the
    home building of each pooled party member (one hash of the building codes for both)."""
    found = lookups.index_in(b_codes, {
        "member_building": (act.target, act.m_rows),
        "home_building": (_strings(people["home_building_code"]), np.flatnonzero(pool))})
    m_pos, home_pos = found["member_building"], found["home_building"]
    has_member = np.bincount(m_pos[m_pos >= 0], minlength=len(b_codes)) > 0
    missing = pa.array(np.flatnonzero(~has_member), type=pa.int64())
    order = pc.sort_indices(b_codes.take(missing))
    without_member = b_codes.take(missing).take(order).to_pylist()
    return _BuildingMembers(has_member, home_pos, without_member)


def _overloaded_members(
    act: _ActiveRoles,
    members: _BuildingMembers,
    people: pd.DataFrame,
    settings: Settings,
) -> pd.DataFrame:
    """Building members covering more than ``settings.member_max_buildings`` buildings."""
    distinct, inverse = np.unique(act.key[act.m_rows], return_inverse=True)
    per_member = np.bincount(inverse, minlength=len(distinct))
    om = np.flatnonzero(per_member > settings.member_max_buildings)
    return pd.DataFrame(
        {
            "person_id": act.persons.id_of(distinct[om]),
            "name": act.persons.names(people, distinct[om]),
            "buildings": per_member[om],
            "limit": settings.member_max_buildings,
        }
    ).sort_values(["buildings", "person_id"], ascending=[False, True], ignore_index=True)


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
