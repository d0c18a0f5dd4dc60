"""People and assignments registers from the files a street office keeps (Excel or CSV with
Chinese headers), added to the store's register in one transaction.

A **people** file has one row per person (or per duty of a person): 姓名, 电话, 党员 (是/否, or
政治面貌: 中共党员/群众), the home as 楼栋编码 (a building code), 住址 (matched to a building's
name) or 经度/纬度, optionally 人员编号, and the person's duty as 角色 (网格哨兵, 楼栋长 …, any
label or synonym of :mod:`layers.labels`) with 负责网格/楼栋 (grid or building codes or names,
several separated by 、 , ;) and 起始日期. Rows with the same 人员编号 — or the same name, phone and
home — are one person. A person already in the register (same 人员编号, or same name and
phone) is not added again; their duties in the file are.

An **assignments** file has one row per duty: the person (人员编号, or 姓名 with 电话 when names
repeat), 角色, 负责网格/楼栋, 起始日期, optionally 结束日期.

Every row is checked first — the whole file, every kind of problem, numbered as the file's own
lines — and then everything is written in one transaction of the store's row operations
(:meth:`~layers.store.Store.edit_rows`) with change-log entries (``person_add``, ``assign``;
source ``import``): all or nothing. Duties a person already holds are skipped (a file imported
twice adds nothing the second time). Names, phones and addresses never appear in messages.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from . import clock
from .auth.principal import Principal
from .errors import LayerValidationError
from .labels import match_key, normalise, normalise_bool
from .layerset import LayerSet
from .register import PERSONAL, ROLE_LAYERS
from .schema import ROLES
from .settings import DEFAULT_SETTINGS, Settings
from .validate import Collector, Problem, Said, ValidationReport, validate

__all__ = ["check_register", "import_register"]

Select = Callable[..., pd.DataFrame]
#: Separators of several targets in one 负责网格/楼栋 cell.
_SPLIT = re.compile(r"[、,，;；\s]+")
_ID = re.compile(r"P(\d+)")


@dataclass
class _Register:
    """The store's register as the import sees it (read once, under the lock when
    writing)."""

    people: pd.DataFrame
    grids: pd.DataFrame
    buildings: pd.DataFrame
    left: set[str]
    select: Select

    @property
    def next_id(self) -> int:
        nums = self.people["person_id"].astype(str).str.extract(_ID.pattern)[0]
        nums = pd.to_numeric(nums, errors="coerce")
        return int(nums.max()) + 1 if nums.notna().any() else 1


@dataclass
class _Plan:
    """What an import would write, and what is wrong (rows numbered by position)."""

    people: gpd.GeoDataFrame
    assignments: pd.DataFrame
    entries: list[dict[str, object]]
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _register(select: Select, change_log: Callable[..., pd.DataFrame]) -> _Register:
    people = select("people", None, columns=["person_id", "name", "phone"])
    grids = select("grids", None, columns=["code", "name"])
    buildings = select("buildings", None, columns=["code", "name"])
    left = set(change_log({"action": "person_leave"})["person_id"].dropna().astype(str))
    return _Register(people, grids, buildings, left, select)


def import_register(store, path: str | os.PathLike[str], layer: str, *,  # noqa: PLR0913
                    principal: Principal, crs: str | None = None,
                    encoding: str | None = None, mapping: Mapping[str, str] | None = None,
                    settings: Settings = DEFAULT_SETTINGS, name: str | None = None):
    """Add the people (``layer="people"``) or assignments of a register file to ``store``.

    Parameters
    ----------
    principal
        Who imports (capability ``import``; the change log's ``by``).
    name
        The file's name as its user knows it, for the change log (default: ``path``'s).

    Returns
    -------
    layers.importer.ImportResult
        ``rows``: the layer's rows after the import; ``frame``: the rows added; ``notes``
        say how many people and assignments were added and skipped.

    Raises
    ------
    ImportFileError
        The file cannot be read.
    LayerValidationError
        Any row is wrong (the report numbers the file's lines); nothing was written.
    PermissionDenied
        The principal may not import.
    """
    principal.require("import")
    return _register_rows(store, path, layer, crs=crs, encoding=encoding, mapping=mapping,
                          settings=settings, by=principal.name, dry_run=False, name=name)


def check_register(store, path: str | os.PathLike[str], layer: str, *,
                   crs: str | None = None, encoding: str | None = None,
                   mapping: Mapping[str, str] | None = None,
                   settings: Settings = DEFAULT_SETTINGS):
    """The dry run of :func:`import_register` (the preview): nothing is written, the report
    says what would fail."""
    return _register_rows(store, path, layer, crs=crs, encoding=encoding, mapping=mapping,
                          settings=settings, by=None, dry_run=True, name=None)


def _register_rows(store, path: str | os.PathLike[str], layer: str, *,  # noqa: PLR0913
                   crs: str | None, encoding: str | None, mapping: Mapping[str, str] | None,
                   settings: Settings, by: str | None, dry_run: bool, name: str | None):
    """:func:`import_register` (``by``: who) or its dry run."""
    from .importer import ImportResult, _read_rows

    rows = _read_rows(path, layer, crs=crs, encoding=encoding, mapping=mapping, grids=None,
                      settings=settings)
    where = [f"{name or Path(path).name} {rows.unit} {n}" for n in rows.lines]
    if dry_run:
        plan = _plan(_register(store.select_rows, store.change_log), rows.frame, layer, by,
                     where)
    else:
        with store.edit_rows() as tx:
            plan = _plan(_register(tx.select, tx.change_log), rows.frame, layer, by, where)
            report = ValidationReport(rows.problems + rows.renumber(plan.problems),
                                      source=rows.source)
            if not report.ok:
                raise LayerValidationError(report, rows.source)
            tx.insert("people", plan.people)
            tx.insert("assignments", plan.assignments)
            tx.log(plan.entries)
    report = ValidationReport(rows.problems + rows.renumber(plan.problems), source=rows.source)
    added = plan.people if layer == "people" else plan.assignments
    total = len(store.select_rows(layer, None, columns=[])) + (len(added) if dry_run else 0)
    return ImportResult(layer, total, added, report, rows.notes + plan.notes, added)


def _plan(reg: _Register, frame: pd.DataFrame, layer: str, by: str | None,
          where: list[str]) -> _Plan:
    """The rows to write and the problems, for a file's rows (``where[i]``: how the change
    log names row ``i``: file and line)."""
    out = Collector(ValidationReport())
    if layer == "people":
        people, person_of = _people(frame, reg, out)
    else:
        people, person_of = _empty_people(), _people_of(frame, reg, out)
    assignments = _duties(frame, layer, person_of, reg, out)
    plan = _Plan(people, assignments, [], out.report.problems)
    _check_rows(plan, out)
    plan.entries = _entries(plan, by, where)
    plan.notes.append(Said("register_plan", "{people} person(s) and {n} assignment(s) to add; "
                           "people already in the register and duties already held are "
                           "skipped", people=len(people), n=len(assignments)))
    return plan


# -- people -------------------------------------------------------------------------------------
def _text(frame: pd.DataFrame, column: str) -> pd.Series:
    """A column as stripped text, ``None`` where empty (all ``None`` when absent)."""
    if column not in frame:
        return pd.Series(None, index=frame.index, dtype=object)
    values = [None if pd.isna(v) else (str(v).strip() or None)
              for v in frame[column].to_numpy(dtype=object)]
    # numbers read from Excel as text: 13800001111.0 → 13800001111
    values = [v[:-2] if v is not None and re.fullmatch(r"\d+\.0", v) else v for v in values]
    return pd.Series(values, index=frame.index, dtype=object)


def _require_column(frame: pd.DataFrame, column: str, header: str, out: Collector) -> bool:
    if column in frame:
        return True
    out.add(Problem("people", None, None, column, Said(
        "register_column", "column {header} ({column}) is missing", header=header,
        column=column)))
    return False


def _people(frame: pd.DataFrame, reg: _Register, out: Collector
            ) -> tuple[gpd.GeoDataFrame, np.ndarray]:
    """The new people of a people file and, for every row, the person it is about."""
    name, phone = _text(frame, "name"), _text(frame, "phone")
    if _require_column(frame, "name", "姓名", out):
        out.rows("people", name.isna().to_numpy(), None, "name",
                 Said("value_missing", "value is missing"))
    party = _party(frame, out)
    home = _homes(frame, reg, out)
    pid = _text(frame, "person_id")
    existing = _existing(pid, name, phone, reg)
    key = np.where(pid.notna(), "id:" + pid.fillna(""), "new:" + name.fillna("") + "|"
                   + phone.fillna("") + "|" + home.fillna("").astype(str))
    key = np.where(pd.notna(existing), "old:" + pd.Series(existing).fillna("").to_numpy(), key)
    first = pd.Series(np.arange(len(frame))).groupby(key).transform("min").to_numpy()
    is_new = pd.isna(existing) & (first == np.arange(len(frame)))
    _same_person(first, party, home, out)
    start = reg.next_id
    new_ids = pid.to_numpy(dtype=object).copy()
    todo = is_new & pid.isna().to_numpy()
    new_ids[todo] = [f"P{n:08d}" for n in range(start, start + int(todo.sum()))]
    person_of = np.where(pd.notna(existing), existing, new_ids[first])
    people = gpd.GeoDataFrame({
        "person_id": new_ids[is_new], "name": name.to_numpy()[is_new],
        "phone": phone.to_numpy()[is_new], "is_party_member": party.to_numpy()[is_new],
        "home_building_code": home.to_numpy()[is_new]},
        geometry=_home_points(frame, home, reg)[is_new], crs="EPSG:4326")
    people.attrs["rows"] = np.flatnonzero(is_new)
    return people, person_of


def _empty_people() -> gpd.GeoDataFrame:
    from .layerset import empty_layer

    people = empty_layer("people")
    people.attrs["rows"] = np.array([], dtype=int)
    return people  # type: ignore[return-value]  # a GeoDataFrame: people have geometry


def _party(frame: pd.DataFrame, out: Collector) -> pd.Series:
    """党员 as booleans (是/否, 中共党员/群众 …); missing or unknown words are errors."""
    if not _require_column(frame, "is_party_member", "党员 / 政治面貌", out):
        return pd.Series(False, index=frame.index)
    raw = _text(frame, "is_party_member")
    yes, no = normalise_bool(raw)
    missing = raw.isna().to_numpy()
    out.rows("people", missing, None, "is_party_member",
             Said("party_missing", "value is missing (是/否)"))
    out.rows("people", ~missing & ~(yes | no), None, "is_party_member",
             Said("party_bad", "not 是/否 (or 中共党员/群众)"))
    return pd.Series(yes, index=frame.index)


def _homes(frame: pd.DataFrame, reg: _Register, out: Collector) -> pd.Series:
    """Each row's home building: its 楼栋编码, else the building whose name is the 住址."""
    code = _text(frame, "home_building_code")
    known = code.isin(reg.buildings["code"].astype(str)).to_numpy()
    unknown = code.notna().to_numpy() & ~known
    msg = np.array([Said("not_a_code", "{value!r} is not a building code in the store",
                         value=c, layer="buildings") for c in code], dtype=object)
    out.rows("people", unknown, None, "home_building_code", msg)
    address = _text(frame, "address")
    names = reg.buildings.assign(_k=reg.buildings["name"].map(match_key))
    count = names.groupby("_k")["code"].agg(["first", "size"])
    key = address.map(lambda v: None if v is None else match_key(v))
    hit = key.map(count["first"]).where(key.map(count["size"]) == 1)
    look = code.isna().to_numpy() & address.notna().to_numpy()
    out.rows("people", look & key.map(count["size"]).fillna(0).eq(0).to_numpy(), None,
             "address", Said("address_none", "住址 matches no building name in the store "
                             "(give 楼栋编码)"))
    out.rows("people", look & key.map(count["size"]).fillna(0).gt(1).to_numpy(), None,
             "address", Said("address_many", "住址 matches several buildings' names (give "
                             "楼栋编码)"))
    home = code.where(code.notna(), hit.where(look, None))
    has_point = _points(frame)
    out.rows("people", home.isna().to_numpy() & ~has_point & ~unknown & ~look, None,
             "home_building_code", Said("no_home", "no home: give 楼栋编码, 住址 (a "
                                        "building's name) or 经度/纬度 (everyone is on the "
                                        "map)"))
    return home.astype(object).where(home.notna(), None)


def _points(frame: pd.DataFrame) -> np.ndarray:
    if not isinstance(frame, gpd.GeoDataFrame):
        return np.zeros(len(frame), bool)
    g = frame.geometry.to_numpy()
    return ~(shapely.is_missing(g) | shapely.is_empty(g))


def _home_points(frame: pd.DataFrame, home: pd.Series, reg: _Register) -> np.ndarray:
    """Home points: inside the home building, else the row's own point."""
    pts = frame.geometry.to_numpy() if isinstance(frame, gpd.GeoDataFrame) else \
        np.full(len(frame), None, dtype=object)
    codes = home.dropna().unique().tolist()
    if codes:
        b = reg.select("buildings", {"code": codes}, columns=["code", "geometry"])
        inner = pd.Series(shapely.point_on_surface(b.geometry.to_numpy()),
                          index=b["code"].to_numpy())
        at = home.notna().to_numpy()
        pts = pts.copy()
        pts[at] = inner.reindex(home[at].to_numpy()).to_numpy()
    return pts


def _existing(pid: pd.Series, name: pd.Series, phone: pd.Series, reg: _Register
              ) -> np.ndarray:
    """The register's person each row is (by 人员编号, or by name and phone), else None."""
    out = np.full(len(pid), None, dtype=object)
    ids = set(reg.people["person_id"].astype(str))
    by_id = pid.isin(ids).to_numpy()
    out[by_id] = pid.to_numpy()[by_id]
    look = ~by_id & pid.isna().to_numpy() & name.notna().to_numpy() & phone.notna().to_numpy()
    if not look.any():
        return out
    p = reg.people.dropna(subset=["phone"])
    p = p[p["name"].isin(set(name[look]))]  # only the file's names: a city has a million
    p = p[~p.duplicated(["name", "phone"], keep=False)]  # a pair held twice names nobody
    pairs = pd.Series(p["person_id"].to_numpy(), index=pd.MultiIndex.from_arrays(
        [p["name"].astype(str), p["phone"].astype(str)]))
    idx = pd.MultiIndex.from_arrays([name[look].astype(str), phone[look].astype(str)])
    out[look] = pairs.reindex(idx).to_numpy()
    return out


def _same_person(first: np.ndarray, party: pd.Series, home: pd.Series, out: Collector) -> None:
    """Rows about one person must agree on 党员 and home."""
    later = first != np.arange(len(first))
    for values, col in ((party, "is_party_member"), (home, "home_building_code")):
        v = values.astype(object).to_numpy()
        differs = later & (pd.Series(v).astype(str).to_numpy()
                           != pd.Series(v[first]).astype(str).to_numpy())
        out.rows("people", differs, None, col, Said(
            "same_person", "the same person as an earlier row, with a different value"))


# -- assignments --------------------------------------------------------------------------------
def _people_of(frame: pd.DataFrame, reg: _Register, out: Collector) -> np.ndarray:
    """For an assignments file: the register's person of each row (人员编号, or 姓名 + 电话)."""
    pid, name, phone = _text(frame, "person_id"), _text(frame, "name"), _text(frame, "phone")
    found = _existing(pid, name, phone, reg)
    mine = reg.people[reg.people["name"].isin(set(name.dropna()))]
    named = mine.groupby(mine["name"].astype(str))["person_id"].agg(list)
    look = pd.isna(found) & pid.isna().to_numpy() & name.notna().to_numpy()
    for i in np.flatnonzero(look):
        ids = named.get(name.iloc[i], [])
        if len(ids) == 1 and phone.iloc[i] is None:
            found[i] = ids[0]
    nobody = pd.isna(found) & (pid.notna() | name.notna()).to_numpy()
    several = nobody & name.map(lambda n: len(named.get(n, [])) > 1).to_numpy()
    out.rows("assignments", several, None, "person_id", Said(
        "several_people", "several people in the register have this name: give 人员编号 or "
        "电话"))
    out.rows("assignments", nobody & ~several, None, "person_id", Said(
        "no_such_person", "no such person in the register (import the people first: "
        "--layer people)"))
    out.rows("assignments", (pid.isna() & name.isna()).to_numpy(), None, "person_id",
             Said("no_person", "no person: give 人员编号 or 姓名"))
    return found


def _targets(reg: _Register) -> tuple[dict[str, tuple[str, str]], dict[str, list[str]]]:
    """Codes → (layer, code), and names (keyed) → codes of grids and buildings."""
    codes: dict[str, tuple[str, str]] = {}
    names: dict[str, list[str]] = {}
    for layer in ("grids", "buildings"):
        df = reg.grids if layer == "grids" else reg.buildings
        for c, n in zip(df["code"].astype(str), df["name"], strict=True):
            codes[c] = (layer, c)
            names.setdefault(match_key(n), []).append(c)
    return codes, names


def _duties(frame: pd.DataFrame, layer: str, person_of: np.ndarray, reg: _Register,
            out: Collector) -> pd.DataFrame:
    """The new assignments of the rows' 角色 and 负责网格/楼栋 (``attrs["rows"]``: the row
    each comes from)."""
    role_raw, target_raw = _text(frame, "role"), _text(frame, "target_code")
    if layer == "assignments":
        out.rows(layer, target_raw.isna().to_numpy(), None, "target_code",
                 Said("target_missing", "value is missing (负责网格/楼栋)"))
    codes, names = _targets(reg)
    since = _dates(frame, "since", out, layer)
    until = _dates(frame, "until", out, layer)
    rows: list[dict[str, object]] = []
    lines: list[int] = []  # the row each duty comes from
    for i in np.flatnonzero(target_raw.notna().to_numpy() | role_raw.notna().to_numpy()
                            ).tolist():
        for tgt in _resolve(i, target_raw.iloc[i], codes, names, out, layer):
            role = _role(i, role_raw.iloc[i], tgt, out, layer)
            if role and person_of[i] is not None and not pd.isna(person_of[i]):
                rows.append({"person_id": person_of[i], "role": role, "target_code": tgt[1],
                             "active": True, "since": since[i], "until": until[i]})
                lines.append(int(i))
    a = pd.DataFrame(rows, columns=["person_id", "role", "target_code", "active", "since",
                                    "until"])
    a["since"] = pd.to_datetime(a["since"]).astype("datetime64[ms]")
    a["until"] = pd.to_datetime(a["until"]).astype("datetime64[ms]")
    return _new_duties(a, np.asarray(lines, dtype=int), len(frame), reg, out, layer)


def _dates(frame: pd.DataFrame, column: str, out: Collector, layer: str) -> np.ndarray:
    raw = _text(frame, column)
    parsed = pd.to_datetime(raw, errors="coerce", format="mixed").dt.normalize()
    bad = raw.notna().to_numpy() & parsed.isna().to_numpy()
    out.rows(layer, bad, None, column, Said("not_a_date", "not a date (YYYY-MM-DD)"))
    if column == "since":
        parsed = parsed.fillna(pd.Timestamp(clock.today()))
    return parsed.to_numpy()


def _resolve(i: int, cell: str | None, codes: dict[str, tuple[str, str]],
             names: dict[str, list[str]], out: Collector, layer: str) -> list[tuple[str, str]]:
    """The grids and buildings of one 负责网格/楼栋 cell (codes or names)."""
    if cell is None:
        _one(out, layer, i, "target_code", Said("role_without_target",
                                                "角色 without 负责网格/楼栋"))
        return []
    found = []
    for token in (t for t in _SPLIT.split(cell) if t):
        token = token[:-2] if re.fullmatch(r"\d+\.0", token) else token
        if token in codes:
            found.append(codes[token])
            continue
        hits = names.get(match_key(token), [])
        if len(hits) == 1:
            found.append(codes[hits[0]])
        else:
            _one(out, layer, i, "target_code", Said(
                "target_many", "{value!r} names several places: give the code", value=token)
                if hits else Said("target_none", "{value!r} is not a grid or building code or "
                                  "name in the store", value=token))
    return found


def _role(i: int, raw: str | None, target: tuple[str, str], out: Collector, layer: str
          ) -> str | None:
    """The role of a duty: the 角色 read as a code, else the one the target's layer takes."""
    fits = {v: k for k, v in ROLE_LAYERS.items()}[target[0]]
    if raw is None:
        return fits
    role = normalise(ROLES, raw)
    if role is None:
        _one(out, layer, i, "role", Said("not_a_role", "{value!r} is not a role (网格哨兵 or "
                                         "楼栋党员, or {roles})", value=raw,
                                         roles=", ".join(ROLES)))
        return None
    if role != fits:
        kind = "grid" if target[0] == "grids" else "building"
        _one(out, layer, i, "role", Said("role_misfit", "role {role} does not fit {value}: it "
                                         "is a {kind}", role=role, value=target[1],
                                         kind=kind))
        return None
    return role


def _one(out: Collector, layer: str, i: int, column: str, message: str) -> None:
    out.add(Problem(layer, i + 1, None, column, message))


def _new_duties(a: pd.DataFrame, pos: np.ndarray, n: int, reg: _Register, out: Collector,
                layer: str) -> pd.DataFrame:
    """Duties not already held (in the store or earlier in the file); people who left are
    refused. ``pos``: the row of each duty, ``n`` rows in the file."""
    gone = a["person_id"].isin(reg.left).to_numpy()
    mask = np.zeros(n, bool)
    mask[pos[gone]] = True
    out.rows(layer, mask, None, "person_id", Said("person_left", "this person has left: they "
                                                  "cannot be assigned"))
    held = reg.select("assignments", {"person_id": a["person_id"].unique().tolist()},
                      columns=["person_id", "role", "target_code", "active", "until"])
    held = held[held["active"].astype(bool) & held["until"].isna()]
    key = a["person_id"] + "|" + a["role"] + "|" + a["target_code"]
    old = set(held["person_id"] + "|" + held["role"] + "|" + held["target_code"])
    keep = ~key.isin(old).to_numpy() & ~key.duplicated().to_numpy() & ~gone
    new = a[keep].reset_index(drop=True)
    new.attrs["rows"] = pos[keep]
    return new


# -- checks and change log ------------------------------------------------------------------------
def _check_rows(plan: _Plan, out: Collector) -> None:
    """The new rows against the contract (phone format, types), numbered by file row."""
    for layer, frame in (("people", plan.people), ("assignments", plan.assignments)):
        if frame.empty:
            continue
        at = frame.attrs["rows"]
        _, report = validate(LayerSet({layer: frame}), layers=(layer,), cross_layer=False)
        flagged = {(q.row, q.field) for q in out.report.problems}
        flagged_rows = {q.row for q in out.report.problems}
        for p in report.errors:
            row = None if p.row is None else int(at[p.row - 1]) + 1
            said = (row, p.field) in flagged or (p.field == "geometry" and row in flagged_rows)
            if not said:  # no code: a new person's id is not theirs until written
                out.add(Problem(layer, row, None, p.field, p.message))


def _entries(plan: _Plan, by: str | None, where: list[str]) -> list[dict[str, object]]:
    """Change-log entries of the import (personal values masked, as the register logs)."""
    entries: list[dict[str, object]] = []
    common = {"by": by, "source": "import"}
    for r, i in zip(plan.people.itertuples(index=False), plan.people.attrs["rows"],
                    strict=True):
        after = {"name": PERSONAL, "phone": None if r.phone is None else PERSONAL,
                 "is_party_member": bool(r.is_party_member),
                 "home_building_code": r.home_building_code}
        entries.append({"action": "person_add", "layer": "people", "person_id": r.person_id,
                        "after": after, "reason": f"imported from {where[i]}", **common})
    for r, i in zip(plan.assignments.itertuples(index=False),
                    plan.assignments.attrs["rows"], strict=True):
        after = {"active": True, "since": _day(r.since), "until": _day(r.until)}
        entries.append({"action": "assign", "layer": "assignments", "person_id": r.person_id,
                        "target_code": r.target_code, "role": r.role, "after": after,
                        "reason": f"imported from {where[i]}", **common})
    return entries


def _day(v: object) -> str | None:
    return None if v is None or pd.isna(v) else pd.Timestamp(v).date().isoformat()  # type: ignore[arg-type]

