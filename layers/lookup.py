"""Who is responsible for a grid or building, what is open there, what is near: the facts a
detail panel shows, and search over grids, buildings and people.

Pure functions over a :class:`~layers.layerset.LayerSet`. Phone numbers leave this module only
masked (``138****1234``).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from . import _keys
from . import crs as _crs
from .assignments import active_assignments, resolve_as_of
from .layerset import LayerSet
from .schema import CHILD_CARE_KINDS, ELDER_CARE_KINDS
from .settings import DEFAULT_SETTINGS, Settings
from .tickets import rules

_PHONE = re.compile(r"^(\+?\d{3})\d*(\d{4})$")


def _known(value: object, kind: type) -> object:
    """A nullable field's value as ``kind``, or None when it is unknown."""
    if value is None or value is pd.NA or (not isinstance(value, str) and pd.isna(value)):
        return None
    return kind(value)


def _building_facts(row: pd.Series) -> dict[str, object]:
    """Floors, year built, elevator and renovation of a building (None: unknown — optional
    fields of real files)."""
    return {"floors": _known(row.get("floors"), int),
            "year_built": _known(row.get("year_built"), int),
            "has_elevator": _known(row.get("has_elevator"), bool),
            "renovation": _known(row.get("renovation"), str)}


def mask_phone(phone: object) -> str:
    """``13812341234`` → ``138****1234``; anything shorter than 8 digits is fully masked."""
    if phone is None or (isinstance(phone, float) and np.isnan(phone)) or phone is pd.NA:
        return ""
    digits = re.sub(r"[\s-]", "", str(phone))
    if len(digits) < 8:
        return "*" * len(digits)
    m = _PHONE.match(digits)
    return f"{m.group(1)}****{m.group(2)}" if m else "*" * len(digits)


@dataclass
class Responsible:
    """A person responsible for a grid or building (phone masked)."""

    person_id: str
    name: str
    phone: str
    is_party_member: bool
    since: str | None


@dataclass
class Detail:
    """What a detail panel shows for one grid or building."""

    kind: str  # "grid" or "building"
    code: str
    name: str
    households: int
    community_code: str | None
    grid_code: str | None
    sentinels: list[Responsible] = field(default_factory=list)
    members: list[Responsible] = field(default_factory=list)
    buildings: int = 0
    buildings_without_member: int = 0
    open_tickets: pd.DataFrame = field(default_factory=pd.DataFrame)
    nearest_care: pd.DataFrame = field(default_factory=pd.DataFrame)
    facts: dict[str, Any] = field(default_factory=dict)


def _responsible(data: LayerSet, rows: pd.DataFrame) -> list[Responsible]:
    if rows.empty:
        return []
    people = data["people"]
    idx = _keys.index_in(rows["person_id"], people["person_id"])
    out = []
    for (_, a), i in zip(rows.iterrows(), idx, strict=True):  # a handful of rows
        p = people.iloc[i] if i >= 0 else None
        out.append(Responsible(
            person_id=str(a["person_id"]),
            name=str(p["name"]) if p is not None else "?",
            phone=mask_phone(p["phone"]) if p is not None else "",
            is_party_member=bool(p["is_party_member"]) if p is not None else False,
            since=None if pd.isna(a["since"]) else pd.Timestamp(a["since"]).date().isoformat(),
        ))
    return sorted(out, key=lambda r: r.person_id)


def open_tickets(tickets: pd.DataFrame | None, *, grid: str | None = None,
                 building: str | None = None) -> pd.DataFrame:
    """Open tickets of a grid or building, oldest first, with ``overdue``.

    ``tickets`` is the live ticket database's frame (:meth:`TicketStore.frame`, whose
    ``overdue`` follows the one clock) — the one source of tickets; a store's ``tickets``
    layer is import material and never read here."""
    cols = ["id", "category", "status", "created_at", "deadline", "overdue", "text"]
    if tickets is None or tickets.empty:
        return pd.DataFrame(columns=cols)
    mask = rules.open_mask(tickets["status"])
    if grid is not None:
        mask &= (tickets["grid_code"] == grid).to_numpy()
    if building is not None:
        mask &= (tickets["building_code"] == building).to_numpy()
    out = pd.DataFrame(tickets.loc[mask, cols]).sort_values("created_at")
    return out.reset_index(drop=True)


def nearest_care(data: LayerSet, point: shapely.Point, k: int = 3,
                 settings: Settings = DEFAULT_SETTINGS) -> pd.DataFrame:
    """The ``k`` nearest elder-care and ``k`` nearest child-care points (straight line, metres)."""
    cp = data["care_points"]
    cols = ["group", "code", "name", "kind", "distance_m"]
    if cp.empty or point is None or point.is_empty:
        return pd.DataFrame(columns=cols)
    target = settings.metric_crs or _crs.metric_crs(point.bounds)
    pts = cp.geometry.to_crs(target).to_numpy()
    here = gpd.GeoSeries([point], crs=4326).to_crs(target).iloc[0]
    d = shapely.distance(pts, here)
    frames = []
    for group, kinds in (("elder", ELDER_CARE_KINDS), ("child", CHILD_CARE_KINDS)):
        sel = np.flatnonzero(cp["kind"].isin(kinds).to_numpy())
        order = sel[np.argsort(d[sel], kind="stable")][:k]
        frames.append(pd.DataFrame({
            "group": group, "code": cp["code"].to_numpy()[order],
            "name": cp["name"].to_numpy()[order], "kind": cp["kind"].to_numpy()[order],
            "distance_m": np.round(d[order]).astype(int),
        }))
    return pd.concat(frames, ignore_index=True)[cols]


def _row(df: pd.DataFrame, code: str, what: str) -> pd.Series:
    hit = np.flatnonzero((df["code"] == code).to_numpy())
    if hit.size == 0:
        raise KeyError(f"no {what} with code {code!r}")
    return df.iloc[hit[0]]


def _active_of(assignments: pd.DataFrame, column: str, keys: Sequence[str] | np.ndarray,
               as_of: dt.date) -> pd.DataFrame:
    """The active assignments whose ``column`` is one of ``keys``, in the layer's order: the
    rule of :func:`active_assignments`, applied to those rows only (a city holds two million
    assignments; a detail needs a few)."""
    return active_assignments(assignments[_keys.isin(assignments[column], keys)], as_of)


def _holding(act: pd.DataFrame, role: str, target: str) -> pd.DataFrame:
    """Active assignments of ``role`` on ``target``."""
    return act[((act["role"] == role) & (act["target_code"] == target)).to_numpy()]


def grid_detail(data: LayerSet, code: str, settings: Settings = DEFAULT_SETTINGS,
                tickets: pd.DataFrame | None = None) -> Detail:
    """Everything about one grid (``tickets``: the live ticket frame, for its open tickets).

    Raises
    ------
    KeyError
        When no grid has this code.
    """
    row = _row(data["grids"], code, "grid")
    as_of = resolve_as_of(data, settings)
    b = data["buildings"]
    mine = b[(b["grid_code"] == code).to_numpy()]
    act = _active_of(data["assignments"], "target_code", [code, *mine["code"]], as_of)
    members = act[(act["role"] == "building_member").to_numpy()]
    covered = _keys.isin(mine["code"], members["target_code"])
    households = int(mine["households"].sum()) if len(mine) else int(row["households"])
    sentinels = _holding(act, "grid_sentinel", code)
    return Detail(
        kind="grid", code=code, name=str(row["name"]), households=households,
        community_code=str(row["community_code"]), grid_code=code,
        sentinels=_responsible(data, sentinels),
        buildings=len(mine), buildings_without_member=int((~covered).sum()),
        open_tickets=open_tickets(tickets, grid=code),
        nearest_care=nearest_care(data, shapely.point_on_surface(row.geometry),
                                  settings=settings),
    )


def building_detail(data: LayerSet, code: str, settings: Settings = DEFAULT_SETTINGS,
                    tickets: pd.DataFrame | None = None) -> Detail:
    """Everything about one building: its members, its grid's sentinels, open tickets (from
    the live ticket frame ``tickets``), care nearby.

    Raises
    ------
    KeyError
        When no building has this code.
    """
    row = _row(data["buildings"], code, "building")
    as_of = resolve_as_of(data, settings)
    grid = str(row["grid_code"])
    act = _active_of(data["assignments"], "target_code", [code, grid], as_of)
    members = _holding(act, "building_member", code)
    sentinels = _holding(act, "grid_sentinel", grid)
    g = data["grids"]
    comm = g.loc[(g["code"] == grid).to_numpy(), "community_code"]
    return Detail(
        kind="building", code=code, name=str(row["name"]), households=int(row["households"]),
        community_code=str(comm.iloc[0]) if len(comm) else None, grid_code=grid,
        sentinels=_responsible(data, sentinels), members=_responsible(data, members),
        open_tickets=open_tickets(tickets, grid=grid, building=code),
        nearest_care=nearest_care(data, shapely.centroid(row.geometry), settings=settings),
        facts=_building_facts(row),
    )


@dataclass(frozen=True)
class Hit:
    """A search result: what (grid/building/person), its code, a label and where it is."""

    kind: str
    code: str
    label: str
    lon: float
    lat: float
    target: str  # the grid or building code to select on the map


def search(data: LayerSet, query: str, limit: int = 20) -> list[Hit]:
    """Find grids (by code or name), buildings (by code or name) and people (by name or id).

    People lead to the grid or building they are responsible for, else to their home building;
    their phone numbers are neither searched nor shown.
    """
    q = query.strip()
    if not q:
        return []
    hits: list[Hit] = []
    pat = re.escape(q)

    def match(s: pd.Series) -> np.ndarray:
        return s.astype("str").str.contains(pat, case=False, regex=True).fillna(False).to_numpy(
            dtype=bool)

    g = data["grids"]
    sel = np.flatnonzero(match(g["code"]) | match(g["name"]))[:limit]
    pts = shapely.point_on_surface(g.geometry.to_numpy()[sel])
    hits += [Hit("grid", c, f"{n}（{c}）", x, y, c) for c, n, x, y in zip(
        g["code"].to_numpy()[sel], g["name"].to_numpy()[sel], shapely.get_x(pts),
        shapely.get_y(pts), strict=True)]
    b = data["buildings"]
    sel = np.flatnonzero(match(b["code"]) | match(b["name"]))[:limit]
    pts = shapely.centroid(b.geometry.to_numpy()[sel])
    hits += [Hit("building", c, f"{n}（{c}）", x, y, c) for c, n, x, y in zip(
        b["code"].to_numpy()[sel], b["name"].to_numpy()[sel], shapely.get_x(pts),
        shapely.get_y(pts), strict=True)]
    p = data["people"]
    sel = np.flatnonzero(match(p["name"]) | match(p["person_id"]))[:limit]
    if sel.size:
        act = _active_of(data["assignments"], "person_id", p["person_id"].to_numpy()[sel],
                         resolve_as_of(data))
        first = act.drop_duplicates("person_id").set_index("person_id")["target_code"]
        for pid, name, home, geom in zip(p["person_id"].to_numpy()[sel],
                                         p["name"].to_numpy()[sel],
                                         p["home_building_code"].to_numpy()[sel],
                                         p.geometry.to_numpy()[sel], strict=True):
            target = first.get(pid) if pid in first.index else home
            hits.append(Hit("person", pid, f"{name}（{pid}）", geom.x, geom.y,
                            str(target) if target is not None else ""))
    return hits[:limit * 3]


@dataclass(frozen=True)
class NearBuilding:
    """The building nearest a point: code, name, grid and straight-line distance (metres)."""

    code: str
    name: str
    grid_code: str
    distance_m: float


def search_box(lon: float, lat: float, radius_m: float) -> tuple[float, float, float, float]:
    """A WGS-84 box ``(minx, miny, maxx, maxy)`` holding every point within ``radius_m`` of
    ``(lon, lat)`` (a bounding-box read before the exact distance)."""
    dlat = radius_m / 110_574.0
    dlon = radius_m / (111_320.0 * max(np.cos(np.radians(lat)), 0.01))
    return (lon - dlon, lat - dlat, lon + dlon, lat + dlat)


def nearest_building(buildings: pd.DataFrame, lon: float, lat: float, *, max_m: float,
                     grid: str | None = None) -> NearBuilding | None:
    """The building nearest ``(lon, lat)`` within ``max_m`` metres (0 inside it), among those
    of ``grid`` when given; ``None`` when there is none.

    ``buildings`` needs ``code``, ``name``, ``grid_code`` and WGS-84 geometries; distances are
    measured in the metric CRS of the place (:func:`layers.crs.metric_crs`)."""
    if buildings is None or buildings.empty:
        return None
    x0, y0, x1, y1 = search_box(lon, lat, max_m)
    geoms = buildings.geometry.to_numpy()
    keep = shapely.intersects(geoms, shapely.box(x0, y0, x1, y1))
    if grid is not None:
        keep &= (buildings["grid_code"].astype(str) == str(grid)).to_numpy()
    sel = np.flatnonzero(keep)
    if sel.size == 0:
        return None
    target = _crs.metric_crs((lon, lat, lon, lat))
    near = gpd.GeoSeries(geoms[sel], crs=4326).to_crs(target).to_numpy()
    here = gpd.GeoSeries([shapely.Point(lon, lat)], crs=4326).to_crs(target).iloc[0]
    d = shapely.distance(near, here)
    i = int(np.argmin(d))
    if d[i] > max_m:
        return None
    row = buildings.iloc[sel[i]]
    return NearBuilding(str(row["code"]), str(row["name"]), str(row["grid_code"]),
                        round(float(d[i]), 1))
