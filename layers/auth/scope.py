"""A principal's view of the data: rows in its communities or grids, personal data masked by
role, and the checks writers make before touching a place or a person.

Scope is cut here, in the library, before anything is drawn: a sentinel's page is built from
:func:`scoped` data, so rows of other grids never reach the browser.

=========  =======================================  ============================================
role       rows                                     personal data (fields flagged ``personal``)
=========  =======================================  ============================================
admin      whole area                               full (phones masked until revealed)
community  its communities                          full (phones masked until revealed)
sentinel   its grids (and their communities)        masked: 张*, 138****5678
planner    whole area                               none: names blank (shown as the role), no
                                                    phones, no ticket text or handlers
leader     whole area                               masked; no ticket text or handlers
kiosk      whole area (the wall's aggregates)       none
=========  =======================================  ============================================

Nothing here names a layer or a column: each layer's rule comes from the layer contract
(:mod:`layers.schema`).

- **Rows** (:class:`~layers.schema.Scope`): a layer that refers to a layer cut to the scope
  (grids, buildings, communities, people …) is cut by those references without a declaration;
  the few others declare their rule — grids (the principal's own), communities (those holding
  them), assignments (by the target their role names), people (residents of a building in
  scope, or holders of a duty in force today in scope), care points, parking and roads (public:
  those near the scope's communities), towns (public, whole). A layer with no rule is refused
  to scoped principals (:class:`UndeclaredScope`) until one is declared: a new layer is never
  shown whole by default.
- **Personal data**: every field flagged ``personal`` in any layer is masked by the reader's
  :data:`~layers.auth.principal.PERSONAL` level, in the field's ``mask`` style; fields flagged
  ``free_text`` (tickets' text) are hidden from roles that do not read ticket text.
- **In force** means :func:`layers.assignments.active_mask` on today (:func:`layers.clock.today`):
  an ended duty no longer puts its holder in scope, neither here nor in :func:`require_person`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import get_args

import numpy as np
import pandas as pd

from .. import _keys, clock
from ..assignments import active_mask
from ..errors import SchemaError
from ..layerset import LayerSet
from ..schema import LAYERS, Field, LayerSpec, Reference, Scope, ScopeRule
from .principal import GRID_SCOPED, PermissionDenied, Principal

#: A row selector: ``select(layer, where, columns=...)`` (``Store.select_rows`` or a
#: transaction's ``RowEdit.select``).
Select = Callable[..., pd.DataFrame]

#: What a hidden text reads as.
HIDDEN = ""

#: How far around its communities a scoped user sees public facilities (degrees; ≈ 2 km,
#: beyond the longest life-circle distance).
FACILITY_MARGIN_DEG = 0.02

#: Layers cut to the area around the scope (rule ``near``).
FACILITY_LAYERS = tuple(n for n, s in LAYERS.items() if s.scope and s.scope.rule == "near")

#: Rules that do not cut a layer to the scope: a reference to such a layer cuts nothing.
_UNCUT = frozenset({"near", "public"})
#: The rule of a layer cut by its references (what a layer without a declaration gets).
_BY_REFERENCES = Scope("references")


class UndeclaredScope(PermissionDenied):
    """A layer has no scope rule: none declared in :mod:`layers.schema` and no reference to a
    layer cut to the scope. Scoped principals may not read it until one is declared."""


def mask_name(name: object) -> str:
    """``张三丰`` → ``张**``; ``Li Lei`` → ``L*****``; empty stays empty."""
    if name is None or (isinstance(name, float) and np.isnan(name)) or name is pd.NA:
        return ""
    s = str(name).strip()
    return s[:1] + "*" * (len(s) - 1) if s else ""


# -- the rules, from the schema ----------------------------------------------------------------
def scope_rule(name: str) -> Scope:
    """The rule that cuts layer ``name`` to a scoped principal's area: the one its contract
    declares, else ``references`` when it refers to a layer cut to the scope.

    Raises
    ------
    UndeclaredScope
        For a layer with neither (or one the contract does not know).
    """
    s = LAYERS.get(name)
    if s is not None and s.scope is not None:
        return s.scope
    if s is not None and cutting_references(s):
        return _BY_REFERENCES
    raise UndeclaredScope(f"layer {name!r} has no scope rule (declare LayerSpec.scope in "
                          "layers/schema.py, or refer to a layer cut to the scope): scoped "
                          "roles may not read it")


def cutting_references(s: LayerSpec) -> tuple[Reference, ...]:
    """The references of ``s`` to layers cut to the scope (what rule ``references`` cuts by)."""
    return tuple(r for r in s.references if _is_cut(r.layer, (s.name,)))


def _is_cut(name: str, seen: tuple[str, ...]) -> bool:
    """Whether layer ``name`` is cut to the scope (a key, and a cutting rule of its own or by
    its references; ``seen`` breaks reference cycles)."""
    s = LAYERS.get(name)
    if s is None or s.key is None or name in seen:
        return False
    if s.scope is not None:
        return s.scope.rule not in _UNCUT
    return any(_is_cut(r.layer, (*seen, name)) for r in s.references)


def _layer_with(rule: str) -> str:
    """The one layer of the contract whose declared rule is ``rule``."""
    names = [n for n, s in LAYERS.items() if s.scope is not None and s.scope.rule == rule]
    if len(names) != 1:
        raise SchemaError(f"the contract needs exactly one layer with scope rule {rule!r}, "
                          f"not {names}")
    return names[0]


def _in(df: pd.DataFrame, column: str | None, keys: Iterable[object]) -> np.ndarray:
    """Which rows of ``df`` hold one of ``keys`` in ``column`` (missing values never do)."""
    if column is None or column not in df:
        return np.zeros(len(df), dtype=bool)
    keys = keys if isinstance(keys, pd.Series | np.ndarray) else list(keys)
    if not len(df) or not len(keys):  # type: ignore[arg-type]  # a list, Series or array
        return np.zeros(len(df), dtype=bool)
    return _keys.isin(df[column], keys)


class _Cut:
    """The rows of each layer in a principal's scope, each worked out once, when a rule asks."""

    def __init__(self, data: LayerSet, p: Principal) -> None:
        self.data = data
        self.p = p
        self._rows: dict[str, pd.DataFrame] = {}

    def rows(self, name: str) -> pd.DataFrame:
        if name not in self._rows:
            rule = scope_rule(name)
            self._rows[name] = _RULES[rule.rule](self, name, rule)
        return self._rows[name]

    def keys(self, name: str) -> pd.Series:
        key = LAYERS[name].key
        rows = self.rows(name)
        return rows[key] if key in rows else pd.Series([], dtype=object)


def _by_references(cut: _Cut, name: str, rule: Scope) -> pd.DataFrame:
    """Rows whose every reference to a layer cut to the scope names a row in scope."""
    del rule
    df = cut.data[name]
    keep = np.ones(len(df), dtype=bool)
    for r in cutting_references(LAYERS[name]):
        keep &= _in(df, r.column, cut.keys(r.layer))
    return df[keep]


def _own_grids(cut: _Cut, name: str, rule: Scope) -> pd.DataFrame:
    """A sentinel's grids, or those of a community worker's communities."""
    df = cut.data[name]
    if cut.p.role in GRID_SCOPED:
        return df[_in(df, LAYERS[name].key, cut.p.grids)]
    return df[_in(df, rule.column, cut.p.communities)]


def _of_grids(cut: _Cut, name: str, rule: Scope) -> pd.DataFrame:
    """The communities holding the grids in scope, and a community worker's own."""
    del rule
    grids = _layer_with("own_grids")
    held = cut.rows(grids)[LAYERS[grids].scope.column]  # type: ignore[union-attr]  # declared
    df = cut.data[name]
    key = LAYERS[name].key
    return df[_in(df, key, held) | _in(df, key, cut.p.communities)]


def _targets(cut: _Cut, name: str, rule: Scope) -> pd.DataFrame:
    """Rows whose target (``rule.column``) is in scope in the layer their role names."""
    df = cut.data[name]
    keep = np.zeros(len(df), dtype=bool)
    if rule.role is None or rule.role not in df:
        return df[keep]
    for role, layer in rule.targets:
        keep |= (df[rule.role] == role).to_numpy(dtype=bool, na_value=False) & _in(
            df, rule.column, cut.keys(layer))
    return df[keep]


def _residents_or_holders(cut: _Cut, name: str, rule: Scope) -> pd.DataFrame:
    """Rows living in a building in scope (``rule.column``), or holding a duty in force today
    in scope."""
    df = cut.data[name]
    s = LAYERS[name]
    home = next((r.layer for r in s.references if r.column == rule.column), None)
    keep = _in(df, rule.column, cut.keys(home)) if home is not None else np.zeros(len(df), bool)
    return df[keep | _in(df, s.key, _holders(cut, name))]


def _holders(cut: _Cut, name: str) -> list[object]:
    """Keys of layer ``name`` that hold a duty in force today in scope: the references to it of
    every duty layer (rule ``targets``) present."""
    today = clock.today()
    out: list[object] = []
    for duty, s in LAYERS.items():
        if s.scope is None or s.scope.rule != "targets" or duty not in cut.data:
            continue
        rows = cut.rows(duty)
        for r in s.references:
            if r.layer == name and len(rows):
                out.extend(rows[r.column].to_numpy()[active_mask(rows, today)].tolist())
    return out


def _near(cut: _Cut, name: str, rule: Scope) -> pd.DataFrame:
    """Features within :data:`FACILITY_MARGIN_DEG` of the scope's communities (a sentinel's
    map never carries the whole city's facilities)."""
    del rule
    df = cut.data[name]
    comms = cut.rows(_layer_with("of_grids"))
    if not len(comms) or not len(df):
        return df.iloc[:0]
    minx, miny, maxx, maxy = comms.total_bounds
    m = FACILITY_MARGIN_DEG
    return df.cx[minx - m: maxx + m, miny - m: maxy + m]


def _public(cut: _Cut, name: str, rule: Scope) -> pd.DataFrame:
    del rule
    return cut.data[name]


_RULES: dict[str, Callable[[_Cut, str, Scope], pd.DataFrame]] = {
    "references": _by_references, "own_grids": _own_grids, "of_grids": _of_grids,
    "targets": _targets, "residents_or_holders": _residents_or_holders, "near": _near,
    "public": _public,
}
assert set(_RULES) == set(get_args(ScopeRule))


# -- reading -------------------------------------------------------------------------------
def grid_codes(data: LayerSet, p: Principal) -> np.ndarray | None:
    """The grid codes in ``p``'s scope (``None``: the whole area)."""
    if p.whole_area:
        return None
    grids = _layer_with("own_grids")
    return _Cut(data, p).keys(grids).to_numpy()


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

    Raises
    ------
    UndeclaredScope
        For a scoped principal, when ``data`` holds a layer without a scope rule.
    """
    return _masked(rows_in_scope(data, p), p)


def rows_in_scope(data: LayerSet, p: Principal) -> LayerSet:
    """The rows of ``data`` in ``p``'s scope, each layer by its rule (:func:`scope_rule`);
    values as they are (:func:`scoped` also masks them). Every layer is checked for a rule
    before any is read."""
    if p.whole_area:
        return data
    names = list(data)
    for name in names:
        scope_rule(name)
    cut = _Cut(data, p)
    return data.replace(**{n: cut.rows(n).copy() for n in names})


def _masked(data: LayerSet, p: Principal) -> LayerSet:
    """Every personal field masked by ``p``'s level, free text hidden from roles that do not
    read it (from the fields' flags in the contract)."""
    layers: dict[str, pd.DataFrame] = {}
    for name in data:
        s = LAYERS.get(name)
        hide = [f for f in (s.fields if s else ()) if _hidden(f, p)]
        df = data[name] if hide else None
        if df is None or not any(f.name in df for f in hide):
            continue
        out = df.copy()
        for f in hide:
            if f.name in out:
                out[f.name] = _masked_values(out[f.name], f, p)
        layers[name] = out
    return data.replace(**layers) if layers else data


def _hidden(f: Field, p: Principal) -> bool:
    """Whether ``p`` may not read field ``f`` as it is."""
    return (f.personal and p.personal != "full") or (f.free_text and not p.reads_ticket_text)


def _masked_values(values: pd.Series, f: Field, p: Principal) -> pd.Series | object:
    """A column as ``p`` reads it: masked in the field's style at level ``masked``, else
    blank (empty text for a required text field, missing otherwise)."""
    if f.personal and p.personal == "masked" and not (f.free_text and not p.reads_ticket_text):
        style = _mask_styles().get(f.mask)
        if style is not None:
            return values.map(style)
    return HIDDEN if f.kind == "str" and not f.nullable else None


def _mask_styles() -> dict[str, Callable[[object], object]]:
    from ..lookup import mask_phone  # lookup → tickets → this module: import when used

    return {"name": mask_name, "phone": lambda v: mask_phone(v) or None}


def scoped_tickets(frame: pd.DataFrame, p: Principal) -> pd.DataFrame:
    """The tickets (a :meth:`~layers.tickets.TicketStore.frame`) ``p`` may see: those of its
    communities or grids; without ticket text for the roles that may not read it."""
    out = frame
    if not p.whole_area:
        keep = (frame["grid_code"].isin(p.grids) if p.role in GRID_SCOPED
                else frame["community_code"].isin(p.communities))
        out = frame[keep.to_numpy(dtype=bool, na_value=False)]
    if not p.reads_ticket_text:
        out = out.copy()
        for col in ("text", "handler"):
            if col in out:
                out[col] = HIDDEN if col == "text" else None
    return out


def scoped_ticket(ticket: Mapping[str, object], p: Principal) -> dict:
    """One ticket's JSON form (:func:`layers.tickets.store.record`) as ``p`` may read it:
    :class:`PermissionDenied` outside its scope; text, handler and the history's names and
    notes hidden from roles without ticket text."""
    require_ticket(p, ticket)
    if p.reads_ticket_text:
        return dict(ticket)
    history = ticket.get("history") or []
    return {**ticket, "text": HIDDEN, "handler": None,
            "history": scoped_history(history, p)}  # type: ignore[arg-type]  # list of dicts


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


def require_place(p: Principal, select: Select, code: str | None,
                  capability: str | None) -> None:
    """Raise :class:`PermissionDenied` unless ``p`` has ``capability`` (``None``: a read that
    needs none) and the grid or building ``code`` is in its scope (``None``: a place-less
    change, whole-area roles only)."""
    if capability is not None:
        p.require(capability)
    if p.whole_area:
        return
    if code is None:
        raise PermissionDenied(f"{p.name} ({p.role}) may only change places in their scope")
    community, grid = place_of(select, code)
    if not p.covers(community, grid):
        raise PermissionDenied(f"{code} is outside the scope of {p.name} ({p.role})")


def require_person(p: Principal, select: Select, person_id: str,
                   capability: str | None) -> None:
    """Raise :class:`PermissionDenied` unless ``p`` has ``capability`` (``None``: none needed)
    and the person lives in, or holds a duty in force today on, a place in its scope (a duty
    that has ended puts no one in scope)."""
    if capability is not None:
        p.require(capability)
    if p.whole_area:
        return
    for code in _places_of(select, person_id):
        community, grid = place_of(select, code)
        if p.covers(community, grid):
            return
    raise PermissionDenied(f"{person_id} is outside the scope of {p.name} ({p.role})")


def _places_of(select: Select, person_id: str) -> list[str]:
    """The places that put a person in a scope: their home building and the targets of their
    duties in force today."""
    places: list[str] = []
    home = select("people", {"person_id": person_id}, columns=["person_id",
                                                              "home_building_code"])
    if len(home) and isinstance(home["home_building_code"].iloc[0], str):
        places.append(home["home_building_code"].iloc[0])
    held = select("assignments", {"person_id": person_id},
                  columns=["person_id", "target_code", "active", "since", "until"])
    if len(held):
        places += [str(c) for c in held["target_code"][active_mask(held, clock.today())]]
    return places


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
