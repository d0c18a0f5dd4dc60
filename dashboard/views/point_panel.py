"""The detail panel of a point clicked on the map: an open ticket, a person on duty, or a
facility (elder/child care, parking). Grids and buildings have their own panel
(:func:`dashboard.views.map_page.detail_panel`); every drawn feature opens one (issue 16).

The selection is ``?sel=<kind>:<code>`` (``ticket:T…``, ``person:P…``, ``place:…``), so it can
be linked and reloaded like a grid's.
"""

from __future__ import annotations

import logging

import pandas as pd
import streamlit as st

from dashboard.i18n import t
from dashboard.state import StoreView, lang
from dashboard.text import md
from layers import clock
from layers.assignments import active_assignments
from layers.auth import PermissionDenied
from layers.lookup import mask_phone

log = logging.getLogger(__name__)

#: A clicked feature's ``k`` property → the kind named in ``?sel=kind:code``.
POINT_KINDS = {"k": "ticket", "p": "person", "f": "place"}


def point_panel(store: StoreView, kind: str, code: str) -> None:
    """The panel of one clicked point; the same words as the grid panel when it is unknown or
    outside the principal's scope."""
    L = lang()
    try:
        {"ticket": _ticket, "person": _person, "place": _place}[kind](store, code, L)
    except (KeyError, PermissionDenied):
        st.caption(t("no_results" if store.principal.whole_area else "auth_out_of_scope", L))


def _lines(rows: list[tuple[str, str]]) -> None:
    """Label · value lines (values already Markdown-escaped)."""
    st.markdown("  \n".join(f"{t(k, lang())}：{v}" for k, v in rows if v))


def _place_names(store: StoreView, grid: object, building: object) -> tuple[str, str]:
    """The grid's and building's names (codes when unnamed), escaped."""
    def name(layer: str, value: object) -> str:
        if not isinstance(value, str) or not value:
            return ""
        df = store.data[layer]
        hit = df.loc[(df["code"] == value).to_numpy(), "name"]
        return f"{md(hit.iloc[0])}（{md(value)}）" if len(hit) else md(value)
    return name("grids", grid), name("buildings", building)


def _ticket(store: StoreView, tid: str, L: str) -> None:
    rec = store.ticket(tid)  # scope and role checked there; text hidden by role
    status = t(f"status_t_{rec['status']}", L)
    st.markdown(f"**{md(rec['id'])}** · {md(t('cat_' + str(rec['category']), L))} · {md(status)}")
    if rec.get("overdue"):
        st.error(t("overdue", L))
    grid, building = _place_names(store, rec.get("grid_code"), rec.get("building_code"))
    _lines([("tk_created_at", md(str(rec.get("created_at") or "").replace("T", " "))),
            ("tk_deadline", md(str(rec.get("deadline") or "").replace("T", " "))),
            ("grid", grid), ("building", building), ("tk_text", md(rec.get("text")))])
    st.caption(t("point_ticket_hint", L))


def _person(store: StoreView, pid: str, L: str) -> None:
    people = store.data.people
    row = people[(people["person_id"] == pid).to_numpy()]
    if row.empty:
        raise KeyError(pid)
    p = row.iloc[0]
    st.markdown(f"**{md(p['name'])}** · {md(pid)}")
    _lines([("point_phone", md(mask_phone(p.get("phone"))))])
    asg = store.data.assignments
    act = active_assignments(asg[(asg["person_id"] == pid).to_numpy()],
                             store.as_of or clock.today())
    for role, target in zip(act["role"], act["target_code"], strict=True):
        layer = "grids" if role == "grid_sentinel" else "buildings"
        grid, building = _place_names(store, target if layer == "grids" else None,
                                      target if layer == "buildings" else None)
        st.markdown(f"- {t(role, L)}：{grid or building}")
    if act.empty:
        st.caption(t("point_no_duty", L))


def _place(store: StoreView, code: str, L: str) -> None:
    for layer in ("care_points", "parking"):
        df = store.data[layer]  # an empty frame when the store has no such layer
        hit = df[(df["code"] == code).to_numpy()]
        if len(hit):
            f = hit.iloc[0]
            st.markdown(f"**{md(f['name'])}** · {md(t('kind_' + str(f['kind']), L))}")
            cap = pd.to_numeric(pd.Series([f.get("capacity")]), errors="coerce").iloc[0]
            _lines([("capacity", "" if pd.isna(cap) else f"{int(cap):,}"),
                    ("code", md(code))])
            return
    raise KeyError(code)
