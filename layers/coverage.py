"""Coverage analysis: who is responsible for each grid and building, and where the gaps are.

Finds grids without an active sentinel (网格哨兵), sentinels responsible for too many
households, buildings without an active building party member (楼栋党员), buildings whose
outline lies in a different grid than their ``grid_code`` says, and, for every grid without a
sentinel, the nearest party members who hold no assignment yet (who could fill the gap).

Everything is vectorised: assignments are resolved with pandas set operations; the spatial
parts are two ``shapely.STRtree`` queries (building centroids in grids, party members within
reach of each uncovered grid). :func:`spatial_floor` times those bare queries for benchmarks.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

from . import crs as _crs
from .layerset import LayerSet
from .settings import DEFAULT_SETTINGS, Settings

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


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    out = df.astype(object).where(df.notna(), None).to_dict(orient="records")
    for rec in out:
        for k, v in rec.items():
            if isinstance(v, np.generic):
                rec[k] = v.item()
            elif isinstance(v, np.ndarray):
                rec[k] = v.tolist()
    return out


def resolve_as_of(data: LayerSet, settings: Settings = DEFAULT_SETTINGS) -> dt.date:
    """The evaluation date: ``settings.as_of``, else the store's ``as_of`` (demo data), else
    today."""
    value = settings.as_of or data.meta.get("as_of")
    return dt.date.fromisoformat(value) if value else dt.date.today()


def active_assignments(
    assignments: pd.DataFrame, as_of: dt.date | str | None = None
) -> pd.DataFrame:
    """Assignments in force on ``as_of``: ``active`` and within ``since``/``until`` (inclusive).

    Parameters
    ----------
    assignments
        The assignments layer.
    as_of
        Date to evaluate at; ``None`` ignores the dates and uses ``active`` only.
    """
    a = assignments
    ok = a["active"].astype(bool).to_numpy().copy()
    if as_of is not None:
        day = pd.Timestamp(as_of)
        end_of_day = day + pd.Timedelta(days=1)
        since = pd.to_datetime(a["since"])
        until = pd.to_datetime(a["until"])
        ok &= (since.isna() | (since < end_of_day)).to_numpy()
        ok &= (until.isna() | (until >= day)).to_numpy()
    return a[ok]


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
    as_of = resolve_as_of(data, settings)
    grids = data["grids"]
    buildings = data["buildings"]
    people = data["people"]
    act = active_assignments(data["assignments"], as_of)
    sentinel = act[act["role"] == "grid_sentinel"]
    member = act[act["role"] == "building_member"]

    g_codes = grids["code"].astype(str).to_numpy()
    g_index = pd.Index(g_codes)
    b_grid = buildings["grid_code"].astype(str)

    # -- households per grid, from its buildings (the grid's own column when it has none)
    hh_b = pd.to_numeric(buildings["households"], errors="coerce").fillna(0).to_numpy()
    pos = g_index.get_indexer(b_grid.to_numpy())
    known = pos >= 0
    g_hh = np.bincount(pos[known], weights=hh_b[known], minlength=len(g_codes))
    n_b = np.bincount(pos[known], minlength=len(g_codes))
    own = pd.to_numeric(grids["households"], errors="coerce").fillna(0).to_numpy()
    g_hh = np.where(n_b > 0, g_hh, own)

    # -- sentinels per grid and load per sentinel
    s_pos = g_index.get_indexer(sentinel["target_code"].astype(str).to_numpy())
    s_ok = s_pos >= 0
    s_person = sentinel["person_id"].astype(str).to_numpy()[s_ok]
    s_grid = s_pos[s_ok]
    n_sent = np.bincount(s_grid, minlength=len(g_codes))
    load = pd.DataFrame({"person_id": s_person, "grid": s_grid, "households": g_hh[s_grid]})
    per_person = load.groupby("person_id", sort=True).agg(
        households=("households", "sum"), grids=("grid", list)
    )
    over = per_person[per_person["households"] > settings.sentinel_max_households]
    over_grids = np.zeros(len(g_codes), bool)
    if len(over):
        over_grids[np.concatenate(over["grids"].to_numpy())] = True
    names = people.set_index(people["person_id"].astype(str))["name"].astype(str)
    names = names[~names.index.duplicated()]
    overloaded = pd.DataFrame(
        {
            "person_id": over.index.to_numpy(dtype=object),
            "name": names.reindex(over.index).to_numpy(dtype=object),
            "grids": [sorted(g_codes[g].tolist()) for g in over["grids"]],
            "households": over["households"].round().astype("int64").to_numpy(),
            "limit": settings.sentinel_max_households,
        }
    ).sort_values(["households", "person_id"], ascending=[False, True], ignore_index=True)
    sentinels_of = (
        pd.Series(s_person).groupby(s_grid).agg(lambda s: ";".join(sorted(s)))
        .reindex(np.arange(len(g_codes)), fill_value="")
    )
    status = np.where(n_sent == 0, "no_sentinel", np.where(over_grids, "overloaded", "ok"))
    grid_table = pd.DataFrame(
        {
            "code": g_codes,
            "community_code": grids["community_code"].astype(str).to_numpy(),
            "name": grids["name"].astype(str).to_numpy(),
            "households": g_hh.round().astype("int64"),
            "buildings": n_b,
            "sentinels": sentinels_of.to_numpy(dtype=object),
            "n_sentinels": n_sent,
            "status": status,
        }
    )
    gaps = np.flatnonzero(n_sent == 0)
    grids_without = sorted(g_codes[gaps].tolist())

    # -- building members
    b_codes = buildings["code"].astype(str).to_numpy()
    has_member = pd.Index(b_codes).isin(member["target_code"].astype(str).to_numpy())
    without_member = sorted(b_codes[~has_member].tolist())
    per_member = member.groupby(member["person_id"].astype(str)).size()
    om = per_member[per_member > settings.member_max_buildings]
    overloaded_members = pd.DataFrame(
        {
            "person_id": om.index.to_numpy(dtype=object),
            "name": names.reindex(om.index).to_numpy(dtype=object),
            "buildings": om.to_numpy(),
            "limit": settings.member_max_buildings,
        }
    )

    # -- spatial: buildings in their grid
    g_geom = grids.geometry.to_numpy()
    b_pts = shapely.centroid(buildings.geometry.to_numpy())
    located = _locate_points(b_pts, g_geom)
    stored = pos
    wrong = (located != stored) & ~shapely.is_missing(b_pts)
    outside = pd.DataFrame(
        {
            "code": b_codes[wrong],
            "grid_code": b_grid.to_numpy()[wrong],
            "located_grid": np.where(located[wrong] >= 0, g_codes[np.maximum(located[wrong], 0)],
                                     None),
        }
    )

    # -- unassigned party members and the nearest ones to each gap
    assigned = pd.Index(act["person_id"].astype(str).unique())
    pid = people["person_id"].astype(str).to_numpy()
    pool = people["is_party_member"].astype(bool).to_numpy() & ~pd.Index(pid).isin(assigned)
    pool &= ~(shapely.is_missing(people.geometry.to_numpy()))
    suggestions = _suggest(
        grids, gaps, people[pool], settings, names
    )

    # -- per-community summary
    summary = _summary(data, grid_table, buildings, has_member, people, pool, over, g_index)
    return CoverageResult(
        as_of=as_of,
        grids=grid_table,
        grids_without_sentinel=grids_without,
        overloaded_sentinels=overloaded,
        buildings_without_member=without_member,
        overloaded_members=overloaded_members,
        buildings_outside_grid=outside,
        suggestions=suggestions,
        unassigned_party_members=int(pool.sum()),
        summary=summary,
        settings=settings,
    )


def _locate_points(points: np.ndarray, polygons: np.ndarray) -> np.ndarray:
    """Index of the polygon containing each point, -1 for none (first match on overlaps).

    The tree is built on the points and queried with the polygons, so GEOS prepares each
    polygon once and tests its candidate points against it.
    """
    out = np.full(len(points), -1, dtype=np.int64)
    if len(points) == 0 or len(polygons) == 0:
        return out
    tree = shapely.STRtree(points)
    g_idx, p_idx = tree.query(polygons, predicate="contains")
    out[p_idx[::-1]] = g_idx[::-1]
    return out


def _metric_transformer(bounds: np.ndarray, settings: Settings) -> Transformer:
    target = settings.metric_crs or _crs.metric_crs(tuple(bounds))
    return Transformer.from_crs("EPSG:4326", target, always_xy=True)


def _to_metric(geoms: np.ndarray, tf: Transformer) -> np.ndarray:
    return shapely.transform(geoms, lambda xy: np.column_stack(tf.transform(xy[:, 0], xy[:, 1])))


def _suggest(
    grids: pd.DataFrame,
    gaps: np.ndarray,
    pool: pd.DataFrame,
    settings: Settings,
    names: pd.Series,
) -> pd.DataFrame:
    cols = ["grid_code", "rank", "person_id", "name", "distance_m"]
    k = settings.suggestions_per_gap
    if len(gaps) == 0 or len(pool) == 0 or k == 0:
        return pd.DataFrame(columns=cols)
    gap_geoms = grids.geometry.to_numpy()[gaps]
    tf = _metric_transformer(shapely.total_bounds(gap_geoms), settings)
    gm = _to_metric(gap_geoms, tf)
    pm = _to_metric(pool.geometry.to_numpy(), tf)
    tree = shapely.STRtree(pm)
    gi, pi = tree.query(gm, predicate="dwithin", distance=settings.suggestion_max_distance_m)
    if gi.size == 0:
        return pd.DataFrame(columns=cols)
    d = shapely.distance(gm[gi], pm[pi])
    # ties (several members living inside the grid) go to the one nearest its centre
    d2 = shapely.distance(shapely.centroid(gm[gi]), pm[pi])
    order = np.lexsort((d2, d, gi))
    gi, pi, d = gi[order], pi[order], d[order]
    rank = pd.Series(gi).groupby(gi).cumcount().to_numpy() + 1
    keep = rank <= k
    pids = pool["person_id"].astype(str).to_numpy()[pi[keep]]
    out = pd.DataFrame(
        {
            "grid_code": grids["code"].astype(str).to_numpy()[gaps][gi[keep]],
            "rank": rank[keep],
            "person_id": pids,
            "name": names.reindex(pids).to_numpy(dtype=object),
            "distance_m": np.round(d[keep], 1),
        }
    )
    return out.sort_values(["grid_code", "rank"], ignore_index=True)


def _summary(
    data: LayerSet,
    grid_table: pd.DataFrame,
    buildings: pd.DataFrame,
    has_member: np.ndarray,
    people: pd.DataFrame,
    pool: np.ndarray,
    over: pd.DataFrame,
    g_index: pd.Index,
) -> pd.DataFrame:
    gt = grid_table
    nos = gt["status"] == "no_sentinel"
    by = gt.assign(
        gap=nos, hh_gap=np.where(nos, gt["households"], 0)
    ).groupby("community_code")
    s = pd.DataFrame(
        {
            "grids": by.size(),
            "grids_without_sentinel": by["gap"].sum(),
            "households": by["households"].sum(),
            "households_without_sentinel": by["hh_gap"].sum(),
        }
    )
    comm_of_grid = gt["community_code"].to_numpy()
    bpos = g_index.get_indexer(buildings["grid_code"].astype(str).to_numpy())
    b_comm = np.where(bpos >= 0, comm_of_grid[np.maximum(bpos, 0)], None)
    bdf = pd.DataFrame({"c": b_comm, "missing": ~has_member}).dropna(subset=["c"])
    bg = bdf.groupby("c")
    s["buildings"] = bg.size().reindex(s.index, fill_value=0)
    s["buildings_without_member"] = bg["missing"].sum().reindex(s.index, fill_value=0)
    # overloaded sentinels, counted in every community they serve
    if len(over):
        ex = over["grids"].explode()
        oc = pd.DataFrame({"p": ex.index, "c": comm_of_grid[ex.to_numpy(dtype=int)]})
        s["overloaded_sentinels"] = oc.drop_duplicates().groupby("c").size().reindex(
            s.index, fill_value=0)
    else:
        s["overloaded_sentinels"] = 0
    # unassigned party members by the community of their home building
    home = people["home_building_code"].astype(str).to_numpy()[pool]
    b_codes = pd.Index(buildings["code"].astype(str).to_numpy())
    hb = b_codes.get_indexer(home)
    pc = np.where(hb >= 0, b_comm[np.maximum(hb, 0)] if len(b_comm) else None, None)
    s["unassigned_party_members"] = (
        pd.Series(pc).dropna().value_counts().reindex(s.index, fill_value=0)
    )
    comms = data["communities"]
    if "code" in comms and len(comms):
        cname = comms.set_index(comms["code"].astype(str))["name"].astype(str)
        cname = cname[~cname.index.duplicated()]
        s["community_name"] = cname.reindex(s.index).to_numpy(dtype=object)
    else:
        s["community_name"] = None
    s = s.reset_index(names="community_code")
    total = s.drop(columns=["community_code", "community_name"]).sum()
    total["overloaded_sentinels"] = len(over)
    total["unassigned_party_members"] = int(pool.sum())
    total_row = pd.DataFrame([{"community_code": "town", "community_name": "合计", **total}])
    s = pd.concat([s, total_row], ignore_index=True)
    s["grid_coverage"] = np.round(
        1 - s["grids_without_sentinel"] / s["grids"].where(s["grids"] > 0), 4)
    s["building_coverage"] = np.round(
        1 - s["buildings_without_member"] / s["buildings"].where(s["buildings"] > 0), 4)
    int_cols = [c for c in SUMMARY_COLUMNS if c not in
                ("community_code", "community_name", "grid_coverage", "building_coverage")]
    s[int_cols] = s[int_cols].astype("int64")
    return s[SUMMARY_COLUMNS]


def spatial_floor(data: LayerSet, settings: Settings = DEFAULT_SETTINGS) -> dict[str, float]:
    """Time only the bare ``STRtree`` work :func:`coverage` needs (the benchmark's floor).

    Builds the point tree of building centroids and queries it with the grid polygons
    (``contains``), and queries a tree of all party members' homes (metric) with all grids
    without a sentinel (``dwithin``). Centroids and metric coordinates are computed before the
    clock starts, so this is a lower bound for the spatial part of the analysis.

    Returns
    -------
    dict
        Seconds per query and their sum (``total``).
    """
    import time

    act = active_assignments(data["assignments"], resolve_as_of(data, settings))
    covered = act.loc[act["role"] == "grid_sentinel", "target_code"].astype(str)
    grids = data["grids"]
    gaps = ~grids["code"].astype(str).isin(covered).to_numpy()
    b_pts = shapely.centroid(data["buildings"].geometry.to_numpy())
    g_geom = grids.geometry.to_numpy()
    people = data["people"]
    pm_src = people.geometry.to_numpy()[people["is_party_member"].astype(bool).to_numpy()]
    tf = _metric_transformer(shapely.total_bounds(g_geom), settings)
    gm = _to_metric(g_geom[gaps], tf)
    pm = _to_metric(pm_src, tf)
    t0 = time.perf_counter()
    tree = shapely.STRtree(b_pts)
    tree.query(g_geom, predicate="contains")
    t1 = time.perf_counter()
    ptree = shapely.STRtree(pm)
    ptree.query(gm, predicate="dwithin", distance=settings.suggestion_max_distance_m)
    t2 = time.perf_counter()
    return {"buildings_in_grids": t1 - t0, "members_near_gaps": t2 - t1, "total": t2 - t0}
