"""责任人调整 — the map detail panel's assignment section: for a grid 指派哨兵 / 更换 / 解除, for a
building 指派楼栋党员 / 解除, a person picker (unassigned party members first, nearest first, with
their current load) and the 变更记录 of the grid or building.

Also what the people and coverage pages share with it: the register's history table and
notices that outlive the rerun after an edit. Every edit is made as the logged-in account
(``principal=``): the register checks its role and scope and records its name as ``by``.

Every edit runs in a button callback with what the page *showed* (the holders, the person's
fields) as its arguments, so an edit decided on a stale view is refused by the register
(:class:`~layers.register.EditConflict`) and nothing changes; the page then reads the store
again (its caches are keyed by the file's version) and says what is there now.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

import numpy as np
import pandas as pd
import shapely
import streamlit as st

from dashboard import auth
from dashboard import data as appdata
from dashboard.i18n import t
from dashboard.state import ScopeKey, StoreView, lang, viewer
from dashboard.text import md
from layers import register as reg
from layers.assignments import active_assignments, resolve_as_of
from layers.auth import PermissionDenied
from layers.crs import metric_crs
from layers.errors import LayersError
from layers.layerset import LayerSet
from layers.lookup import Detail, Responsible

T = TypeVar("T")

_NOTICE = "register_notice"
#: How many candidates the picker offers: nearest unassigned party members, nearest party
#: members already on duty, nearest other residents.
PICKER_SIZES = (30, 15, 15)
_M_PER_DEG = 111_320.0


# -- notices that outlive the rerun after an edit ---------------------------------------------

#: Seconds an edit's outcome stays on its page: shown by every run in that time, not once — a
#: run the browser never shows (cut short by the rerun a remounted map sends after an edit)
#: must not use it up.
NOTICE_S = 8.0


def notify(scope: str, kind: str, text: str | None = None) -> None:
    """Remember the outcome of an edit for the next runs of the page (``kind``: an ``st``
    alert name, or ``"conflict"`` whose text the page writes from what it reads now)."""
    st.session_state[_NOTICE] = (scope, kind, text, time.monotonic() + NOTICE_S)


def show_notice(scope: str, conflict_text: Callable[[str | None], str]) -> None:
    """The outcome of the last edit made in ``scope``, for :data:`NOTICE_S` seconds
    (``conflict_text`` writes a conflict's message from the store as read now, given the
    notice's text)."""
    notice = st.session_state.get(_NOTICE)
    if not notice or notice[0] != scope:
        return
    _, kind, text, until = notice
    if time.monotonic() > until:
        del st.session_state[_NOTICE]
        return
    if kind == "conflict":
        st.warning(conflict_text(text))
    else:
        getattr(st, kind)(text)


# -- the register's history ------------------------------------------------------------------

@st.cache_data(show_spinner=False, max_entries=64)
def _history(key: str, version: int, target: str | None, person: str | None,
             scope: ScopeKey) -> pd.DataFrame:
    """The register's history of a target or person as one scope may read it (cached per
    layer version and scope)."""
    del version  # the cache key: one history per layer version
    return reg.history(appdata.open_key(key), principal=viewer(scope), target=target,
                       person=person)


def _cell(value: object) -> str:
    """A history value as text; ``None`` (and missing values) as empty; the register's
    before/after mappings as ``field: value`` in the page's language."""
    if value is None or value is pd.NA or value is pd.NaT:
        return ""
    if isinstance(value, float) and np.isnan(value):
        return ""
    if isinstance(value, dict):
        parts = [f"{_label('hist_field_', k)}: {_cell(v)}" for k, v in value.items()]
        return "，".join(p for p in parts if not p.endswith(": "))
    if isinstance(value, bool | np.bool_):
        return t("ppl_yes" if value else "ppl_no", lang())
    if isinstance(value, list | tuple):
        return "、".join(_cell(v) for v in value)
    if value == reg.PERSONAL:
        return t("hist_personal", lang())
    return str(value)


def _label(prefix: str, code: object) -> str:
    """A code's catalogue label, or the code itself when the catalogue has none."""
    text = "" if code is None or (isinstance(code, float) and np.isnan(code)) else str(code)
    if not text:
        return ""
    label = t(f"{prefix}{text}", lang())
    return text if label == f"{prefix}{text}" else label


def attempt(scope: str, edit: Callable[[], T]) -> tuple[bool, T | None]:
    """Run one register edit: ``(True, its result)``, or — a conflict or a refusal, nothing
    changed — ``(False, None)`` with ``scope``'s notice set."""
    try:
        return True, edit()
    except reg.EditConflict:
        notify(scope, "conflict")
    except PermissionDenied:
        notify(scope, "error", t("auth_denied", lang()))
    except LayersError as exc:
        notify(scope, "error", refused(exc))
    return False, None


def refused(exc: Exception) -> str:
    """A refused edit's message (the register's own words, shown as text)."""
    return t("reg_refused", lang()).format(msg=md(exc))


def history_table(store: StoreView, *, target: str | None = None, person: str | None = None,
                  height: int | None = None) -> None:
    """变更记录 of a grid/building (``target``) or a person, newest first."""
    L = lang()
    st.markdown(f"**{t('hist_title', L)}**")
    h = _history(store.key, store.version, target, person, store.scope)
    if h.empty:
        st.caption(t("hist_empty", L))
        return
    h = h.iloc[::-1]  # the register lists oldest first
    names = _people_names(store)
    # the columns a narrow panel shows first come first
    table = pd.DataFrame({
        t("hist_when", L): [_cell(w)[:16].replace("T", " ") for w in h["when"]],
        t("hist_action", L): [_label("reg_action_", a) for a in h["action"]],
        t("hist_by", L): [_cell(b) for b in h["by"]],
        t("hist_person", L): [f"{names.get(p, '')}（{p}）" if p else ""
                              for p in map(_cell, h["person_id"])],
        t("hist_target", L): [_cell(c) for c in h["target_code"]],
        t("hist_role", L): [_label("", r) for r in h["role"]],
        t("hist_before", L): [_cell(v) for v in h["before"]],
        t("hist_after", L): [_cell(v) for v in h["after"]],
        t("hist_reason", L): [_cell(v) for v in h["reason"]],
        t("hist_source", L): [_label("reg_source_", s) for s in h["source"]],
    })
    # a grid's or building's history: the role is the target's; a person's: the person is
    drop = [t("hist_target", L), t("hist_role", L)] if target is not None else []
    drop += [t("hist_person", L)] if person is not None else []
    st.dataframe(table.drop(columns=drop), hide_index=True, width="stretch",  # text only
                 height=height or min(320, 38 + 35 * len(table)))


def _people_names(store: StoreView) -> dict[str, str]:
    p = store.data.people
    return dict(zip(p["person_id"], p["name"], strict=True))


# -- candidates ------------------------------------------------------------------------------

@st.cache_resource(show_spinner=False, max_entries=4)
def people_pool(key: str, version: int, _data: LayerSet) -> pd.DataFrame:
    """Everyone who could take a duty, once per store version: ``person_id``, ``name``,
    ``party``, ``load`` (assignments in force today), ``left``, ``lon``, ``lat``."""
    del version
    p = _data.people
    act = active_assignments(_data.assignments, resolve_as_of(_data))
    load = act["person_id"].value_counts()
    gone = reg.people_left(appdata.open_key(key))["person_id"]
    geom = p.geometry.to_numpy()
    return pd.DataFrame({
        "person_id": p["person_id"].to_numpy(dtype=object),
        "name": p["name"].to_numpy(dtype=object),
        "party": p["is_party_member"].fillna(False).to_numpy(dtype=bool),
        "load": p["person_id"].map(load).fillna(0).astype(int).to_numpy(),
        "left": p["person_id"].isin(gone).to_numpy(),
        "lon": shapely.get_x(geom), "lat": shapely.get_y(geom),
    })


def candidates(store: StoreView, geom: shapely.Geometry, *, exclude: Sequence[str] = (),
               query: str = "") -> pd.DataFrame:
    """Who to offer for a grid or building ``geom``: unassigned party members first, then
    party members on duty, then other residents, each nearest first by straight-line distance
    from home (metres, 0 inside); people who left and ``exclude`` are never offered. A
    ``query`` keeps only names or ids containing it."""
    pool = people_pool(store.key, store.version, store.data)
    keep = ~pool["left"].to_numpy() & ~pool["person_id"].isin(list(exclude)).to_numpy()
    q = query.strip()
    if q:
        keep &= (pool["name"].astype(str).str.contains(q, case=False, regex=False)
                 | pool["person_id"].astype(str).str.contains(q, case=False, regex=False)
                 ).to_numpy()
    pool = pool[keep]
    cols = ["person_id", "name", "party", "load", "distance_m"]
    if pool.empty or geom is None:
        return pd.DataFrame(columns=cols)
    c = shapely.centroid(geom)
    scale = np.cos(np.radians(c.y))
    rough = np.hypot((pool["lon"].to_numpy() - c.x) * scale, pool["lat"].to_numpy() - c.y)
    rough = np.nan_to_num(rough, nan=np.inf) * _M_PER_DEG
    group = np.where(pool["party"] & (pool["load"] == 0), 0,
                     np.where(pool["party"], 1, 2))
    picked = []
    for g, n in enumerate(PICKER_SIZES):
        idx = np.flatnonzero(group == g)
        picked.append(idx[np.argsort(rough[idx], kind="stable")[:n]])
    rows = pool.iloc[np.concatenate(picked)].copy()
    rows["group"] = group[np.concatenate(picked)]
    rows["distance_m"] = _metric_distance(geom, rows["lon"].to_numpy(), rows["lat"].to_numpy())
    rows = rows.sort_values(["group", "distance_m"], kind="stable")
    return rows[cols].reset_index(drop=True)


def _metric_distance(geom: shapely.Geometry, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Straight-line distance (m) from points to ``geom`` in the metric CRS of the area."""
    import geopandas as gpd

    crs = metric_crs(geom.bounds)
    target = gpd.GeoSeries([geom], crs=4326).to_crs(crs).iloc[0]
    pts = gpd.GeoSeries(gpd.points_from_xy(lon, lat), crs=4326).to_crs(crs).to_numpy()
    return np.round(shapely.distance(pts, target), 0)


def option_label(name: object, distance_m: float, load: int, party: bool = True) -> str:
    """``姓名 · 距离 m · 已负责 N`` (plain text: for select boxes, which render no Markdown)."""
    L = lang()
    text = t("asg_option", L).format(
        name=_cell(name), distance="—" if pd.isna(distance_m) else f"{distance_m:,.0f}",
        load=int(load))
    return text if party else f"{text} · {t('asg_not_party', L)}"


# -- the detail panel's section --------------------------------------------------------------

def assignment_section(store: StoreView, d: Detail) -> None:
    """责任人调整 and 变更记录 for the grid or building of the detail panel ``d`` (history
    only while the page shows a past day: the past is not edited)."""
    L = lang()
    if store.as_of or not store.principal.can("people_edit"):
        if store.principal.personal != "none":  # planners see no names, not even in history
            history_table(store, target=d.code)
        return
    role, holders = (("grid_sentinel", d.sentinels) if d.kind == "grid"
                     else ("building_member", d.members))
    scope = f"asg:{d.code}"
    st.markdown(f"**{t('asg_title', L)}**")
    show_notice(scope, lambda _: t("asg_conflict", L).format(
        role=t(role, L), now=_names(holders) or t("asg_nobody", L)))
    seen = tuple(p.person_id for p in holders)  # what this view shows: checked on click
    layer = store.data.grids if d.kind == "grid" else store.data.buildings
    geom = layer.geometry[(layer["code"] == d.code).to_numpy()]
    query = st.text_input(t("asg_find", L), key=f"asg_find_{d.code}", max_chars=40)
    cands = candidates(store, geom.iloc[0] if len(geom) else None, exclude=seen, query=query)
    labels = {r.person_id: option_label(r.name, r.distance_m, r.load, r.party)
              for r in cands.itertuples()}
    names = dict(zip(cands["person_id"], cands["name"], strict=True))
    # widgets keyed by the holders shown: after an edit the picker starts afresh (a kept
    # browser-side choice could otherwise name someone the page no longer offers)
    ver = hashlib.sha1("|".join(seen).encode()).hexdigest()[:8]
    pick_key = f"asg_pick_{d.code}_{ver}"
    if labels:
        st.selectbox(t("asg_pick", L), list(labels), format_func=labels.get, key=pick_key)
    else:
        st.caption(t("asg_no_candidates", L))
    common = dict(key=store.key, role=role, target=d.code, seen=seen,
                  pick_key=pick_key, scope=scope, names=names)
    b1, b2 = st.columns(2)
    b1.button(t("asg_assign_sentinel" if d.kind == "grid" else "asg_assign_member", L),
              key=f"asg_add_{d.code}", disabled=not labels, on_click=_assign,
              kwargs={**common, "replace": False}, type="primary" if not seen else "secondary")
    if d.kind == "grid" and seen:
        b2.button(t("asg_replace", L), key=f"asg_replace_{d.code}", disabled=not labels,
                  on_click=_assign, kwargs={**common, "replace": True})
    if seen:
        held = {p.person_id: p.name for p in holders}
        u1, u2 = st.columns([2, 1], vertical_alignment="bottom")
        un_key = f"asg_un_{d.code}_{ver}"
        u1.selectbox(t("asg_unassign_pick", L), list(held), format_func=held.get, key=un_key)
        u2.button(t("asg_unassign", L), key=f"asg_unassign_{d.code}", on_click=_unassign,
                  kwargs=dict(key=store.key, target=d.code, pick_key=un_key,
                              scope=scope, names=held))
    history_table(store, target=d.code)


def _names(people: Sequence[Responsible]) -> str:
    return "、".join(md(p.name) for p in people)


def _assign(*, key: str, role: str, target: str, seen: tuple[str, ...], pick_key: str,
            scope: str, names: dict[str, str], replace: bool) -> None:
    """指派 / 更换 pressed (before the page is drawn again): applied only if the holders are
    still those the panel showed."""
    pid = st.session_state.get(pick_key)
    if not pid:
        return
    ok, _ = attempt(scope, lambda: reg.assign(
        appdata.open_key(key), person_id=pid, role=role, target=target, replace=replace,
        expected_holders=list(seen), principal=auth.principal(), source="page:map"))
    if not ok:
        return
    done = "asg_done_replace" if replace else "asg_done_assign"
    notify(scope, "success", t(done, lang()).format(name=md(names.get(pid, pid))))


def _unassign(*, key: str, target: str, pick_key: str, scope: str,
              names: dict[str, str]) -> None:
    """解除 pressed: ends the chosen holder's assignment; if it had already ended (someone
    else removed them), nothing changes and the panel says who holds it now."""
    pid = st.session_state.get(pick_key)
    if not pid:
        return
    ok, n = attempt(scope, lambda: reg.unassign(appdata.open_key(key), person_id=pid,
                                                target=target, principal=auth.principal(),
                                                source="page:map"))
    if not ok:
        return
    if n == 0:
        notify(scope, "conflict")
        return
    notify(scope, "success", t("asg_done_unassign", lang()).format(
        name=md(names.get(pid, pid))))
