"""The responsibility chain, edited row by row: the people register, assignments with their
history, and the change log.

Every edit is one transaction of the store's row operations (:meth:`Store.edit_rows`): the
rows it touches are checked under the store's write lock (the person exists and has not left,
the target exists and fits the role, what the user saw is still there), then written together
with their change-log entries — or nothing is written. The store file is never rewritten.

Rules
-----
- An assignment is in force on a day when it is ``active`` and ``since ≤ day ≤ until``
  (:mod:`layers.assignments`). Ending one sets ``until`` and keeps the row (history); an
  assignment ended before it started is withdrawn (``active`` false, never in force).
- A new assignment has ``since`` (default today by :func:`layers.clock.today`), no ``until``
  and ``active`` true. Replacing the holders of a role (更换) ends theirs the day before.
- A person who has left (:func:`leave`) keeps their row in ``people`` (no schema change): the
  change log's ``person_leave`` entry records it, and they are never assigned or suggested
  again.
- Names and phone numbers are personal: the change log records *that* they changed, never
  their values.
- Who is suggested for a grid without a sentinel has one rule, :func:`suggestions`: the
  coverage analysis' nearest unassigned party members by straight-line distance.
- Every writer (and :func:`history`) takes a required ``principal``: capability
  ``people_edit`` and every object it touches in its scope — the place, a new home, each duty
  ended, and for :func:`assign` the person too (living there or holding a duty in force
  there, :func:`~layers.auth.scope.require_person`). ``by`` in the change log is the
  principal's name; the CLI acts as :meth:`~layers.auth.Principal.operator`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence

import geopandas as gpd
import pandas as pd
import shapely

from . import clock
from .auth.principal import PermissionDenied, Principal
from .auth.scope import require_person, require_place, rows_in_scope
from .coverage import LAYERS_NEEDED, CoverageResult, coverage
from .errors import LayersError
from .layerset import LayerSet
from .schema import ROLE_TARGETS, ROLES
from .settings import DEFAULT_SETTINGS, Settings
from .store import ROW_ID, RowConflict, RowEdit, Store

__all__ = [
    "ACTIONS",
    "ROLE_LAYERS",
    "EditConflict",
    "RegisterError",
    "accept_suggestions",
    "add_person",
    "assign",
    "edit_person",
    "history",
    "leave",
    "people_left",
    "suggestions",
    "unassign",
]

#: The layer a role's target lives in (the layer contract's, :data:`layers.schema.ROLE_TARGETS`).
ROLE_LAYERS = ROLE_TARGETS
#: Change-log actions written here.
ACTIONS = ("person_add", "person_edit", "person_leave", "assign", "assignment_end")
#: What the change log records instead of a personal value.
PERSONAL = "(personal data, not logged)"
#: Columns of :func:`history`.
HISTORY_COLUMNS = ["when", "by", "action", "person_id", "target_code", "role", "before",
                   "after", "reason", "source", "layer", "seq"]
#: Columns of :func:`suggestions`.
SUGGESTION_COLUMNS = ["grid_code", "person_id", "name", "distance_m", "load", "rank"]

_PERSON_FIELDS = ("name", "phone", "is_party_member", "home_building_code")
_PERSONAL_FIELDS = ("name", "phone")
_PHONE = re.compile(r"\+?[\d\- ]{5,20}")
_ID = re.compile(r"P(\d+)")
_NAME_MAX = 64


class RegisterError(LayersError):
    """A register edit was refused: unknown person or target, a role that does not fit the
    target, a person who has left, or bad input. Nothing was written."""


class EditConflict(RegisterError):
    """Someone else changed the same row first (what the user saw is no longer there).
    Nothing was written: reload and decide again."""


# -- input -------------------------------------------------------------------------------------
def _day(value: str | dt.date | None, what: str) -> dt.date:
    """A day from ``YYYY-MM-DD``, a date or a datetime; today (the one clock) for None."""
    if value is None:
        return clock.today()
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.datetime.fromisoformat(str(value).strip()).date()
    except ValueError:
        raise RegisterError(f"{what} {value!r} is not a date (YYYY-MM-DD)") from None


def _stamp(day: dt.date) -> pd.Timestamp:
    """A day as the contract's datetime (midnight)."""
    return pd.Timestamp(day)


def _iso_day(v: object) -> str | None:
    return None if v is None or pd.isna(v) else pd.Timestamp(v).date().isoformat()  # type: ignore[arg-type]


def _text(value: object, what: str, *, required: bool) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise RegisterError(f"{what} is missing")
        return None
    if not isinstance(value, str):
        raise RegisterError(f"{what} must be text")
    return value.strip()


def _clean_person(changes: Mapping[str, object]) -> dict[str, object]:
    """Person fields checked and normalised (name, phone, is_party_member,
    home_building_code)."""
    unknown = set(changes) - set(_PERSON_FIELDS)
    if unknown:
        raise RegisterError(f"cannot change {', '.join(sorted(unknown))}; a person has "
                            f"{', '.join(_PERSON_FIELDS)}")
    out: dict[str, object] = {}
    if "name" in changes:
        name = _text(changes["name"], "the name", required=True)
        if len(name or "") > _NAME_MAX:
            raise RegisterError(f"the name is longer than {_NAME_MAX} characters")
        out["name"] = name
    if "phone" in changes:
        phone = _text(changes["phone"], "the phone number", required=False)
        if phone is not None and not _PHONE.fullmatch(phone):
            raise RegisterError("the phone number is not a phone number (digits, +, -, "
                                "spaces; 5–20 characters)")
        out["phone"] = phone
    if "is_party_member" in changes:
        v = changes["is_party_member"]
        if not isinstance(v, bool):
            raise RegisterError("is_party_member must be true or false")
        out["is_party_member"] = v
    if "home_building_code" in changes:
        out["home_building_code"] = _text(changes["home_building_code"], "the home building",
                                          required=False)
    return out


def _logged(values: Mapping[str, object]) -> dict[str, object]:
    """Values as the change log keeps them: personal ones masked, dates as days."""
    out: dict[str, object] = {}
    for k, v in values.items():
        if k in _PERSONAL_FIELDS:
            out[k] = None if v is None else PERSONAL
        elif isinstance(v, pd.Timestamp | dt.date):
            out[k] = _iso_day(v)
        else:
            out[k] = v
    return out


# -- lookups inside a transaction ----------------------------------------------------------------
def _person(tx: RowEdit, person_id: str, columns: Sequence[str] = ("person_id",)
            ) -> pd.Series:
    pid = _text(person_id, "the person id", required=True)
    rows = tx.select("people", {"person_id": pid}, columns=list(columns))
    if rows.empty:
        raise RegisterError(f"unknown person {pid!r}: no such person_id in people")
    return rows.iloc[0]


def _left_on(tx: RowEdit, person_id: str) -> str | None:
    """The day a person left (from the change log), or None."""
    log = tx.change_log({"person_id": person_id, "action": "person_leave"})
    if log.empty:
        return None
    after = log["after"].iloc[-1] or {}
    return str(after.get("left_on") or log["when"].iloc[-1].date().isoformat())


def _require_present(tx: RowEdit, person_id: str) -> None:
    left = _left_on(tx, person_id)
    if left:
        raise RegisterError(f"person {person_id!r} has left (on {left}); they cannot be "
                            "assigned")


def _target_layer(tx: RowEdit, target: str) -> str | None:
    """``grids`` or ``buildings`` — the layer holding code ``target`` — or None."""
    for layer in ("grids", "buildings"):
        if not tx.select(layer, {"code": target}, columns=["code"]).empty:
            return layer
    return None


def _require_target(tx: RowEdit, role: str, target: str) -> None:
    if role not in ROLES:
        raise RegisterError(f"unknown role {role!r}; roles: {', '.join(ROLES)}")
    want = ROLE_LAYERS[role]
    if not tx.select(want, {"code": target}, columns=["code"]).empty:
        return
    found = _target_layer(tx, target)
    if found is None:
        raise RegisterError(f"unknown target {target!r}: not a grid or building code")
    kind = "grid" if found == "grids" else "building"
    need = "grid" if want == "grids" else "building"
    raise RegisterError(f"role {role} does not fit target {target!r}: it is a {kind}; "
                        f"{role} needs a {need} code")


def _open(rows: pd.DataFrame, day: dt.date) -> pd.DataFrame:
    """Assignments not ended before ``day``: in force on it, or starting later."""
    until = pd.to_datetime(rows["until"])
    keep = rows["active"].astype(bool) & (until.isna() | (until.dt.normalize() >= _stamp(day)))
    return rows[keep.to_numpy()]


def _endable(rows: pd.DataFrame, day: dt.date) -> pd.DataFrame:
    """Assignments that ending on ``day`` changes: active and not ending by ``day``."""
    until = pd.to_datetime(rows["until"])
    keep = rows["active"].astype(bool) & (until.isna() | (until.dt.normalize() > _stamp(day)))
    return rows[keep.to_numpy()]


def _holders(tx: RowEdit, role: str, target: str, day: dt.date) -> pd.DataFrame:
    return _open(tx.select("assignments", {"target_code": target, "role": role}), day)


def _end(tx: RowEdit, rows: pd.DataFrame, day: dt.date, *, reason: str | None,
         by: str, source: str) -> list[dict[str, object]]:
    """End ``rows`` (assignments) on ``day``: ``until = day``; a row starting after ``day`` is
    withdrawn instead (``active`` false: it never was in force). Returns the log entries."""
    since = pd.to_datetime(rows["since"]).dt.normalize()
    later = (since > _stamp(day)).fillna(False).to_numpy(dtype=bool)
    for mask, values in ((~later, {"until": _stamp(day)}), (later, {"active": False})):
        fids = rows.loc[mask, ROW_ID].tolist()
        if fids:
            tx.update("assignments", {ROW_ID: fids}, values, expected={"active": True})
    entries = []
    for (_, r), withdrawn in zip(rows.iterrows(), later, strict=True):
        entries.append({
            "action": "assignment_end", "layer": "assignments", "person_id": r["person_id"],
            "target_code": r["target_code"], "role": r["role"],
            "before": {"active": True, "since": _iso_day(r["since"]),
                       "until": _iso_day(r["until"])},
            "after": {"active": False} if withdrawn else {"until": day.isoformat()},
            "reason": reason, "by": by, "source": source})
    return entries


def _conflict(exc: RowConflict) -> EditConflict:
    return EditConflict(f"{exc}; reload and decide again")


# -- people --------------------------------------------------------------------------------------
def _home(tx: RowEdit, building: str | None,
          lonlat: tuple[float, float] | None) -> shapely.Point:
    """The home point: inside the home building, else the given longitude/latitude."""
    if building is not None:
        rows = tx.select("buildings", {"code": building}, columns=["code", "geometry"])
        if rows.empty:
            raise RegisterError(f"unknown building {building!r}: no such code in buildings")
        return shapely.point_on_surface(rows.geometry.iloc[0])
    if lonlat is None:
        raise RegisterError("a person needs a home on the map: give their home building "
                            "(--building CODE) or a longitude and latitude (--lon/--lat)")
    lon, lat = (float(v) for v in lonlat)
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise RegisterError(f"({lon}, {lat}) is not a longitude/latitude in WGS-84")
    return shapely.Point(float(lon), float(lat))


def _authorized(principal: Principal, tx: RowEdit, *, place: object = None,
                person: str | None = None) -> str:
    """``by`` of a change — the principal's name — once it may make it: capability
    ``people_edit`` and the place (a grid or building code; ``None``: none) or the person in
    its scope (:func:`~layers.auth.scope.require_person`: home or a duty in force there)."""
    if person is not None:
        require_person(principal, tx.select, person, "people_edit")
    else:
        require_place(principal, tx.select, place if isinstance(place, str) else None,
                      "people_edit")
    return principal.name


def _new_person_id(tx: RowEdit) -> str:
    """The next ``P`` + 8-digit id (ids follow the demo's and the register's pattern)."""
    top = tx.max_value("people", "person_id", prefix="P")
    m = _ID.fullmatch(str(top)) if top is not None else None
    n = int(m.group(1)) + 1 if m else 1
    while True:
        pid = f"P{n:08d}"
        if tx.select("people", {"person_id": pid}, columns=["person_id"]).empty:
            return pid
        n += 1


def add_person(store: Store, *, name: str, principal: Principal,
               phone: str | None = None, party_member: bool = False,
               building: str | None = None, source: str = "cli",
               home: tuple[float, float] | None = None) -> str:
    """Register a person; their home point is inside ``building`` (or at ``home``).

    Parameters
    ----------
    store
        The store.
    name, phone, party_member, building
        The person's name, phone (optional), party membership and home building code.
    principal
        Who makes the change (the change log's ``by``): capability ``people_edit``, the home
        building in its scope (a scoped role cannot add someone without one).
    source
        Through what (``cli``, ``dashboard`` …), for the change log.
    home
        The home's WGS-84 ``(longitude, latitude)``, when there is no home building (the
        contract puts every person on the map).

    Returns
    -------
    str
        The new ``person_id`` (``P`` + 8 digits).

    Raises
    ------
    RegisterError
        Missing name, bad phone, unknown building, no location.
    PermissionDenied
        The principal may not.
    """
    values = _clean_person({"name": name, "phone": phone, "is_party_member": party_member,
                            "home_building_code": building})
    with store.edit_rows() as tx:
        by = _authorized(principal, tx, place=values["home_building_code"])
        point = _home(tx, values["home_building_code"], home)  # type: ignore[arg-type]
        pid = _new_person_id(tx)
        row = gpd.GeoDataFrame({"person_id": [pid], **{k: [v] for k, v in values.items()}},
                               geometry=[point], crs="EPSG:4326")
        tx.insert("people", row)
        tx.log([{"action": "person_add", "layer": "people", "person_id": pid,
                 "after": _logged(values), "by": by, "source": source}])
    return pid


def edit_person(store: Store, person_id: str, *, principal: Principal,
                expected: Mapping[str, object] | None = None, source: str = "cli",
                **changes: object) -> None:
    """Change a person's ``name``, ``phone``, ``is_party_member`` or ``home_building_code``
    (a new home building moves their home point into it).

    Parameters
    ----------
    principal
        Who makes the change (``by``): the person, and a new home building, in its scope.
    expected
        The values the user saw (any of the fields); :class:`EditConflict` when the stored ones
        differ now.

    Raises
    ------
    RegisterError
        Unknown person or building, bad values.
    EditConflict
        Someone changed the person since the user read them.
    PermissionDenied
        The principal may not.
    """
    values = _clean_person(changes)
    seen = _seen(expected or {})
    with store.edit_rows() as tx:
        current = _person(tx, person_id, ("person_id", *_PERSON_FIELDS))
        by = _authorized(principal, tx, person=str(current["person_id"]))
        if values.get("home_building_code"):
            _authorized(principal, tx, place=values["home_building_code"])
        for k, v in seen.items():
            if not _equal(current[k], v):
                shown = "" if k in _PERSONAL_FIELDS else f" (now {current[k]!r})"
                raise EditConflict(f"person {person_id!r}: {k} was changed by someone else"
                                   f"{shown}; nothing was written — reload and decide again")
        changed = {k: v for k, v in values.items() if not _equal(current[k], v)}
        if not changed:
            return
        update = dict(changed)
        if changed.get("home_building_code"):
            update["geometry"] = _home(tx, str(changed["home_building_code"]), None)
        try:
            tx.update("people", {"person_id": current["person_id"]}, update,
                      expected={k: current[k] for k in changed})
        except RowConflict as exc:  # pragma: no cover - same transaction
            raise _conflict(exc) from exc
        tx.log([{"action": "person_edit", "layer": "people", "person_id": current["person_id"],
                 "before": _logged({k: current[k] for k in changed}),
                 "after": _logged(changed), "by": by, "source": source}])


def _seen(expected: Mapping[str, object]) -> dict[str, object]:
    """What the user saw, compared as the form shows it (text stripped, empty = missing)."""
    unknown = set(expected) - set(_PERSON_FIELDS)
    if unknown:
        raise RegisterError(f"unknown field(s) {', '.join(sorted(unknown))} in expected")
    out: dict[str, object] = {}
    for k, v in expected.items():
        if isinstance(v, str):
            v = v.strip() or None
        out[k] = v
    return out


def _equal(a: object, b: object) -> bool:
    if a is None or (not isinstance(a, str | bool) and pd.isna(a)):  # type: ignore[arg-type]
        return b is None
    if isinstance(b, bool):
        return bool(a) == b
    return a == b


def leave(store: Store, person_id: str, *, principal: Principal,
          date: str | dt.date | None = None, reason: str | None = None,
          source: str = "cli") -> int:
    """Record that a person left on ``date`` (default today) and end their assignments
    (``until = date``). Their row stays in ``people``.

    ``principal`` (``by``) must have the person, and every duty ended, in its scope.

    Returns
    -------
    int
        How many assignments were ended.

    Raises
    ------
    RegisterError
        Unknown person, or a person who has already left.
    PermissionDenied
        The principal may not.
    """
    day = _day(date, "the date")
    with store.edit_rows() as tx:
        pid = str(_person(tx, person_id)["person_id"])
        by = _authorized(principal, tx, person=pid)
        left = _left_on(tx, pid)
        if left:
            raise RegisterError(f"person {pid!r} has already left (on {left})")
        rows = _endable(tx.select("assignments", {"person_id": pid}), day)
        for target in rows["target_code"]:  # every duty ended must be in scope too
            _authorized(principal, tx, place=str(target))
        entries = _end(tx, rows, day, reason=reason or "left", by=by, source=source)
        entries.append({"action": "person_leave", "layer": "people", "person_id": pid,
                        "after": {"left_on": day.isoformat()}, "reason": reason, "by": by,
                        "source": source})
        tx.log(entries)
    return len(rows)


def people_left(store: Store) -> pd.DataFrame:
    """People who have left (from the change log): ``person_id``, ``left_on`` (date),
    ``reason``, plus ``when`` and ``by`` of the entry."""
    log = store.change_log({"action": "person_leave"})
    left_on = [pd.Timestamp((a or {}).get("left_on") or w).normalize()
               for a, w in zip(log["after"], log["when"], strict=True)]
    out = pd.DataFrame({"person_id": log["person_id"].astype(object),
                        "left_on": pd.Series(left_on, dtype="datetime64[ms]"),
                        "reason": log["reason"].astype(object),
                        "when": log["when"], "by": log["by"].astype(object)})
    return out.drop_duplicates("person_id", keep="last").reset_index(drop=True)


# -- assignments -----------------------------------------------------------------------------
# the dashboard's contract fixes these nine arguments
def assign(store: Store, *, person_id: str, role: str, target: str,  # noqa: PLR0913
           principal: Principal, since: str | dt.date | None = None, replace: bool = False,
           expected_holders: Sequence[str] | None = None, source: str = "cli") -> None:
    """Give a person a role on a target from ``since`` (default today).

    Parameters
    ----------
    role
        ``grid_sentinel`` (target: a grid code) or ``building_member`` (a building code).
    principal
        Who makes the change (``by``): the target *and the person* in its scope — the person
        lives there or already holds a duty in force there (a community worker cannot draft,
        and so gain the right to edit, someone from elsewhere).
    replace
        End the current holders of that role on that target the day before (更换).
    expected_holders
        The person ids the user saw holding the role there; :class:`EditConflict` when the
        holders differ now (someone else changed them first).

    Raises
    ------
    RegisterError
        Unknown person or target, a role that does not fit the target, a person who has left,
        a person who already holds the role there.
    EditConflict
        The holders are not the ones the user saw.
    PermissionDenied
        The principal may not (the target or the person outside its scope).
    """
    day = _day(since, "since")
    tgt = _text(target, "the target", required=True)
    assert tgt is not None
    with store.edit_rows() as tx:
        pid = str(_person(tx, person_id)["person_id"])
        _require_present(tx, pid)
        _require_target(tx, role, tgt)
        by = _authorized(principal, tx, place=tgt)
        _authorized(principal, tx, person=pid)
        holders = _holders(tx, role, tgt, day)
        now = sorted(set(holders["person_id"]))
        if expected_holders is not None and sorted(set(expected_holders)) != now:
            raise EditConflict(f"{role} of {tgt}: the holders changed since you looked (now: "
                               f"{', '.join(now) or 'nobody'}); nothing was written — reload "
                               "and decide again")
        if pid in now:
            raise RegisterError(f"person {pid!r} already holds {role} on {tgt}")
        entries = []
        if replace and len(holders):
            entries = _end(tx, holders, day - dt.timedelta(days=1),
                           reason=f"replaced by {pid}", by=by, source=source)
        tx.insert("assignments", _assignment(pid, role, tgt, day))
        entries.append(_assign_entry(pid, role, tgt, day, by, source, replaced=now if replace
                                     else None))
        tx.log(entries)


def _assignment(pid: str, role: str, target: str, day: dt.date) -> pd.DataFrame:
    return pd.DataFrame({"person_id": [pid], "role": [role], "target_code": [target],
                         "active": [True], "since": [_stamp(day)],
                         "until": pd.Series([pd.NaT], dtype="datetime64[ms]")})


def _assign_entry(pid: str, role: str, target: str, day: dt.date, by: str, source: str,
                  *, replaced: list[str] | None = None, reason: str | None = None
                  ) -> dict[str, object]:
    after: dict[str, object] = {"active": True, "since": day.isoformat(), "until": None}
    if replaced:
        after["replaces"] = replaced
    return {"action": "assign", "layer": "assignments", "person_id": pid,
            "target_code": target, "role": role, "after": after, "reason": reason, "by": by,
            "source": source}


def unassign(store: Store, *, person_id: str, target: str, principal: Principal,
             until: str | dt.date | None = None, reason: str | None = None,
             source: str = "cli") -> int:
    """End a person's assignments on a target on ``until`` (default today; in force through
    that day). ``principal`` (``by``) must have the target in its scope: the rows ended are
    the duties held there.

    Returns
    -------
    int
        How many assignments were ended (one per role held there).

    Raises
    ------
    RegisterError
        Unknown person or target; the person holds nothing there.
    EditConflict
        Their assignment there has already been ended (by someone else).
    """
    day = _day(until, "until")
    tgt = _text(target, "the target", required=True)
    with store.edit_rows() as tx:
        pid = str(_person(tx, person_id)["person_id"])
        if _target_layer(tx, tgt) is None:  # type: ignore[arg-type]
            raise RegisterError(f"unknown target {tgt!r}: not a grid or building code")
        by = _authorized(principal, tx, place=tgt)
        rows = tx.select("assignments", {"person_id": pid, "target_code": tgt})
        open_rows = _endable(rows, day)
        if open_rows.empty:
            if rows["active"].astype(bool).any():
                ended = max(_iso_day(u) or "" for u in rows["until"])
                raise EditConflict(f"person {pid!r} on {tgt}: the assignment has already "
                                   f"ended (until {ended}); nothing was written")
            raise RegisterError(f"person {pid!r} holds no assignment on {tgt}")
        tx.log(_end(tx, open_rows, day, reason=reason, by=by, source=source))
    return len(open_rows)


# -- suggestions ---------------------------------------------------------------------------------
def suggestions(data: LayerSet | Store, *, settings: Settings = DEFAULT_SETTINGS,
                exclude: Iterable[str] = (), result: CoverageResult | None = None
                ) -> pd.DataFrame:
    """Who is suggested for each grid without a sentinel — the one rule for the coverage
    page, the reach page and :func:`accept_suggestions`.

    The coverage analysis' ranking: for each grid with no sentinel in force, the
    ``Settings.suggestions_per_gap`` nearest party members with no assignment in force, by
    straight-line distance from home to the grid (0 inside it; ties by distance to its centre),
    within ``suggestion_max_distance_m``.

    Parameters
    ----------
    data
        The layers (``grids``, ``buildings``, ``people``, ``assignments``), or a store: then
        people who have left are excluded too.
    settings
        Thresholds and ``as_of``.
    exclude
        Person ids never to suggest (e.g. ``people_left(store)["person_id"]``).
    result
        The coverage of ``data`` when already computed (used when nothing is excluded).

    Returns
    -------
    pandas.DataFrame
        ``grid_code``, ``person_id``, ``name``, ``distance_m``, ``load`` (the households of the
        grid: what the person would take on) and ``rank`` (1 = nearest), sorted by grid and
        rank.
    """
    excluded = set(exclude)
    if not isinstance(data, LayerSet):
        excluded |= set(people_left(data)["person_id"])
        data = data.read(LAYERS_NEEDED, check_geometry=False)
    if excluded:
        people = data["people"]
        data = data.replace(people=people[~people["person_id"].isin(excluded)]
                            .reset_index(drop=True))
        result = None
    res = result if result is not None else coverage(data, settings)
    s = res.suggestions
    load = dict(zip(res.grids["code"], res.grids["households"], strict=True))
    out = pd.DataFrame({
        "grid_code": s["grid_code"].astype(object),
        "person_id": s["person_id"].astype(object),
        "name": s["name"].astype(object),
        "distance_m": s["distance_m"].astype("float64"),
        "load": s["grid_code"].map(load).astype("int64"),
        "rank": s["rank"].astype("int64"),
    })
    return out[SUGGESTION_COLUMNS].sort_values(["grid_code", "rank"], ignore_index=True)


def _pick(s: pd.DataFrame) -> pd.DataFrame:
    """One suggestion per grid, one grid per person: each grid's best-ranked suggestion whose
    person is not already taken by a grid whose pick ranks better (rank, then distance)."""
    order = s.sort_values(["rank", "distance_m", "grid_code"], kind="stable")
    grids: set[str] = set()
    people: set[str] = set()
    keep = []
    for i, g, p in zip(order.index, order["grid_code"], order["person_id"], strict=True):
        if g in grids or p in people:
            continue
        grids.add(g)
        people.add(p)
        keep.append(i)
    return s.loc[keep].sort_values("grid_code", ignore_index=True)


def accept_suggestions(store: Store, *, principal: Principal, community: str | None = None,
                       source: str = "cli", settings: Settings = DEFAULT_SETTINGS) -> int:
    """Assign, from today, for each grid without a sentinel (in ``community``), its best
    suggestion (:func:`suggestions`), one grid per person: where the same person is first for
    two grids, the nearer grid gets them and the other its next suggestion.

    The picks are re-checked under the write lock and written in one transaction; a grid that
    got a sentinel, or a person who got an assignment or left, since the analysis is skipped.
    A scoped ``principal`` (``by``) names one of its communities, and the suggestions are made
    among the people of its scope (what its coverage page shows); each pick's grid and person
    are checked again under the lock.

    Returns
    -------
    int
        How many assignments were made.

    Raises
    ------
    RegisterError
        Unknown community.
    PermissionDenied
        The principal may not (or not for that community).
    """
    principal.require("people_edit")
    if not principal.whole_area and (community is None or not principal.covers(community)):
        raise PermissionDenied(f"{principal.name} ({principal.role}) may accept suggestions"
                               " only for a community in their scope")
    by = principal.name
    data = rows_in_scope(store.read(LAYERS_NEEDED, check_geometry=False), principal)
    grids = data["grids"]
    if community is not None:
        if not (data["communities"]["code"] == community).any():
            raise RegisterError(f"unknown community {community!r}")
        grids = grids[grids["community_code"] == community]
    s = suggestions(data, settings=settings, exclude=people_left(store)["person_id"])
    picks = _pick(s[s["grid_code"].isin(grids["code"])])
    if picks.empty:
        return 0
    day = clock.today()
    with store.edit_rows() as tx:
        picks = _still_free(tx, picks, day)
        for g, p in zip(picks["grid_code"], picks["person_id"], strict=True):
            _authorized(principal, tx, place=str(g))
            _authorized(principal, tx, person=str(p))
        rows = [_assignment(p, "grid_sentinel", g, day)
                for g, p in zip(picks["grid_code"], picks["person_id"], strict=True)]
        if rows:
            tx.insert("assignments", pd.concat(rows, ignore_index=True))
            tx.log(_assign_entry(r.person_id, "grid_sentinel", r.grid_code, day, by, source,
                                 reason=f"suggestion rank {r.rank}, {r.distance_m:g} m")
                   for r in picks.itertuples(index=False))
    return len(picks)


def _still_free(tx: RowEdit, picks: pd.DataFrame, day: dt.date) -> pd.DataFrame:
    """The picks whose grid still has no sentinel (in force or scheduled) and whose person
    still holds nothing and has not left, as of now under the lock."""
    taken_grids = _open(tx.select("assignments", {"target_code": picks["grid_code"].tolist(),
                                                  "role": "grid_sentinel"}), day)
    busy = _open(tx.select("assignments", {"person_id": picks["person_id"].tolist()}), day)
    left = tx.change_log({"action": "person_leave"})
    ok = (~picks["grid_code"].isin(taken_grids["target_code"])
          & ~picks["person_id"].isin(busy["person_id"])
          & ~picks["person_id"].isin(left["person_id"]))
    return picks[ok.to_numpy()].reset_index(drop=True)


# -- history -----------------------------------------------------------------------------------
def history(store: Store, *, principal: Principal, target: str | None = None,
            person: str | None = None) -> pd.DataFrame:
    """Change-log entries about a target and/or a person (all entries without either),
    oldest first.

    A scoped ``principal`` reads the history of a target and a person in its scope only
    (:class:`~layers.auth.PermissionDenied` else, and for the whole log).

    Returns
    -------
    pandas.DataFrame
        ``when``, ``by``, ``action``, ``person_id``, ``target_code``, ``role``, ``before``,
        ``after`` (dicts; personal values masked), ``reason``, ``source``, ``layer``, ``seq``
        (the entry's number in the log).
    """
    if not principal.whole_area and target is None and person is None:
        raise PermissionDenied(f"{principal.name} ({principal.role}) may read the history of "
                               "a place or a person in their scope, not the whole log")
    if target is not None:
        require_place(principal, store.select_rows, target, None)
    if person is not None:
        require_person(principal, store.select_rows, person, None)
    log = store.change_log({"target_code": target, "person_id": person})
    return log.rename(columns={ROW_ID: "seq"})[HISTORY_COLUMNS].reset_index(drop=True)
