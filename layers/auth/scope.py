"""A principal's view of the data: rows in its communities or grids, personal data masked by
role, and the checks writers make before touching a place.

Scope is cut here, in the library, before anything is drawn: a sentinel's page is built from
:func:`scoped` data, so rows of other grids never reach the browser.

=========  =======================================  ============================================
role       rows                                     personal data (people's names and phones)
=========  =======================================  ============================================
admin      whole area                               full (phones masked until revealed)
community  its communities                          full (phones masked until revealed)
sentinel   its grids (and their communities)        masked: 张*, 138****5678
planner    whole area                               none: names blank (shown as the role), no
                                                    phones, no ticket text or handlers
leader     whole area                               masked; no ticket text or handlers
kiosk      whole area (the wall's aggregates)       none
=========  =======================================  ============================================

Facility layers (care points, parking, roads) are public: whole-area roles get them whole, the
others those within :data:`FACILITY_MARGIN_DEG` of their communities; towns are kept.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import numpy as np
import pandas as pd

from ..layerset import LayerSet
from .principal import GRID_SCOPED, PermissionDenied, Principal

#: A row selector: ``select(layer, where, columns=...)`` (``Store.select_rows`` or a
#: transaction's ``RowEdit.select``).
Select = Callable[..., pd.DataFrame]

#: Public layers a scoped user sees around its communities (not cut to them: the nearest care
#: point of a grid may lie in the next community).
FACILITY_LAYERS = ("care_points", "parking", "roads")

#: What a hidden ticket text reads as.
HIDDEN = ""


def mask_name(name: object) -> str:
    """``张三丰`` → ``张**``; ``Li Lei`` → ``L*****``; empty stays empty."""
    if name is None or (isinstance(name, float) and np.isnan(name)) or name is pd.NA:
        return ""
    s = str(name).strip()
    return s[:1] + "*" * (len(s) - 1) if s else ""


# -- reading -------------------------------------------------------------------------------
def grid_codes(data: LayerSet, p: Principal) -> np.ndarray | None:
    """The grid codes in ``p``'s scope (``None``: the whole area)."""
    if p.whole_area:
        return None
    grids = data.grids
    if p.role in GRID_SCOPED:
        keep = grids["code"].isin(p.grids)
    else:
        keep = grids["community_code"].isin(p.communities)
    return grids["code"].to_numpy()[keep.to_numpy()]


def scoped(data: LayerSet, p: Principal) -> LayerSet:
    """``data`` as ``p`` may see it: rows of its communities/grids, personal data masked.

    Parameters
    ----------
    data
        The whole store (validated).
    p
        Who asks.

    Returns
    -------
    LayerSet
        A new layer set (``data`` itself for a whole-area role with full personal data);
        ``data`` is never changed.
    """
    out = _rows_in_scope(data, p)
    return _masked(out, p.personal, ticket_text=p.reads_ticket_text)


def _rows_in_scope(data: LayerSet, p: Principal) -> LayerSet:
    gcodes = grid_codes(data, p)
    if gcodes is None:
        return data
    grids = data.grids[data.grids["code"].isin(gcodes)]
    comms = data.communities[data.communities["code"].isin(grids["community_code"])
                             | data.communities["code"].isin(p.communities)]
    buildings = data.buildings[data.buildings["grid_code"].isin(gcodes)]
    targets = np.concatenate([gcodes, buildings["code"].to_numpy()])
    assignments = data.assignments[data.assignments["target_code"].isin(targets)]
    people = data.people[data.people["person_id"].isin(assignments["person_id"])
                         | data.people["home_building_code"].isin(buildings["code"])]
    layers: dict[str, pd.DataFrame] = {"communities": comms, "grids": grids,
                                       "buildings": buildings, "assignments": assignments,
                                       "people": people}
    if "tickets" in data:
        tk = data.tickets
        layers["tickets"] = tk[tk["grid_code"].isin(gcodes)]
    layers.update(_facilities_near(data, comms))
    return data.replace(**{k: v.copy() for k, v in layers.items()})


#: How far around its communities a scoped user sees public facilities (degrees; ≈ 2 km,
#: beyond the longest life-circle distance).
FACILITY_MARGIN_DEG = 0.02


def _facilities_near(data: LayerSet, comms: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Care points, parking and roads within reach of the scope's communities (a sentinel's
    map never carries the whole city's facilities)."""
    if not len(comms):
        return {n: data[n].iloc[:0] for n in FACILITY_LAYERS if n in data}
    minx, miny, maxx, maxy = comms.total_bounds
    m = FACILITY_MARGIN_DEG
    out: dict[str, pd.DataFrame] = {}
    for name in FACILITY_LAYERS:
        if name in data and len(data[name]):
            out[name] = data[name].cx[minx - m: maxx + m, miny - m: maxy + m]
    return out


def _masked(data: LayerSet, level: str, *, ticket_text: bool) -> LayerSet:
    layers: dict[str, pd.DataFrame] = {}
    if not ticket_text and "tickets" in data and "text" in data.tickets:
        tk = data.tickets.copy()
        tk["text"] = HIDDEN
        layers["tickets"] = tk
    if level == "full":
        return data.replace(**layers) if layers else data
    from ..lookup import mask_phone  # lookup → tickets → this module: import when used

    people = data.people.copy()
    if level == "masked":
        people["name"] = people["name"].map(mask_name)
        people["phone"] = people["phone"].map(lambda v: mask_phone(v) or None)
    else:
        people["name"] = HIDDEN
        people["phone"] = None
    layers["people"] = people
    return data.replace(**layers)


def scoped_tickets(frame: pd.DataFrame, p: Principal) -> pd.DataFrame:
    """The tickets (a :meth:`~layers.tickets.TicketStore.frame`) ``p`` may see: those of its
    communities or grids; without ticket text for the roles that may not read it."""
    out = frame
    if not p.whole_area:
        keep = (frame["grid_code"].isin(p.grids) if p.role in GRID_SCOPED
                else frame["community_code"].isin(p.communities))
        out = frame[keep.to_numpy()]
    if not p.reads_ticket_text:
        out = out.copy()
        for col in ("text", "handler"):
            if col in out:
                out[col] = HIDDEN if col == "text" else None
    return out


def scoped_history(events: Iterable[Mapping[str, object]], p: Principal) -> list[dict]:
    """A ticket's history as ``p`` may read it (notes and names hidden from roles without
    ticket text)."""
    if p.reads_ticket_text:
        return [dict(e) for e in events]
    return [{**e, "by": None, "note": None} for e in events]


# -- writing -------------------------------------------------------------------------------
def place_of(select: Select, code: str) -> tuple[str | None, str | None]:
    """``(community code, grid code)`` of a grid or building code; ``(None, None)`` when it is
    neither."""
    g = select("grids", {"code": code}, columns=["code", "community_code"])
    if len(g):
        return str(g["community_code"].iloc[0]), code
    b = select("buildings", {"code": code}, columns=["code", "grid_code"])
    if not len(b):
        return None, None
    grid = str(b["grid_code"].iloc[0])
    g = select("grids", {"code": grid}, columns=["code", "community_code"])
    return (str(g["community_code"].iloc[0]) if len(g) else None), grid


def require_place(p: Principal, select: Select, code: str | None, capability: str) -> None:
    """Raise :class:`PermissionDenied` unless ``p`` has ``capability`` and the grid or
    building ``code`` is in its scope (``None``: a place-less change, whole-area roles only)."""
    p.require(capability)
    if p.whole_area:
        return
    if code is None:
        raise PermissionDenied(f"{p.name} ({p.role}) may only change places in their scope")
    community, grid = place_of(select, code)
    if not p.covers(community, grid):
        raise PermissionDenied(f"{code} is outside the scope of {p.name} ({p.role})")


def require_person(p: Principal, select: Select, person_id: str, capability: str) -> None:
    """Raise :class:`PermissionDenied` unless ``p`` has ``capability`` and the person lives in
    or is assigned to a place in its scope."""
    p.require(capability)
    if p.whole_area:
        return
    places: list[str] = []
    home = select("people", {"person_id": person_id}, columns=["person_id",
                                                              "home_building_code"])
    if len(home) and isinstance(home["home_building_code"].iloc[0], str):
        places.append(home["home_building_code"].iloc[0])
    held = select("assignments", {"person_id": person_id}, columns=["person_id",
                                                                   "target_code"])
    places += [str(c) for c in held["target_code"]]
    for code in places:
        community, grid = place_of(select, code)
        if p.covers(community, grid):
            return
    raise PermissionDenied(f"{person_id} is outside the scope of {p.name} ({p.role})")


def require_ticket(p: Principal, ticket: Mapping[str, object], source: str | None = None,
                   target: str | None = None) -> None:
    """Raise :class:`PermissionDenied` unless ``p`` may see ``ticket`` and, with a move
    ``source → target``, may make it."""
    if not p.can("tickets") and not p.can("tickets_file"):
        raise PermissionDenied(f"{p.name} ({p.role}) may not handle tickets")
    if not p.covers(ticket.get("community_code"), ticket.get("grid_code")):
        raise PermissionDenied(f"ticket {ticket.get('id')} is outside the scope of {p.name}")
    if source is not None and target is not None and not p.may_move(source, target):
        raise PermissionDenied(f"{p.name} ({p.role}) may not move a ticket {source} → {target}")
