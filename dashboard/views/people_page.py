"""人员管理 — find people (name, person id or the phone's last digits) and filter them (community,
duty, party member, assigned, left); add a person; edit one (the only place that shows a full
phone number); mark one as left (离岗/迁出, with a date, a reason and a confirm step).

Edits go through :mod:`layers.register` with the operator's name (操作人) as ``by`` and
``source="page:people"``; an edit carries the values the page showed (``expected``), so one
decided on a stale view is refused and the page says what the person looks like now.
"""

from __future__ import annotations

import functools
import hashlib

import pandas as pd
import streamlit as st

from dashboard import auth
from dashboard import data as appdata
from dashboard.i18n import t
from dashboard.state import StoreView, fictional_banner, lang
from dashboard.text import md
from dashboard.views.assign_panel import (
    attempt,
    history_table,
    notify,
    refused,
    show_notice,
)
from layers import clock
from layers import register as reg
from layers.assignments import active_assignments, resolve_as_of
from layers.errors import LayersError
from layers.layerset import LayerSet
from layers.lookup import mask_phone

SOURCE = "page:people"
MAX_ROWS = 1000
FIELDS = ("name", "phone", "is_party_member", "home_building_code")
_SEL = "people_sel"
#: The person whose full phone number this session revealed (one at a time, audited).
_REVEALED = "people_revealed"
_ASK = "people_leave_ask"


# -- the people as the page lists them ---------------------------------------------------------

@st.cache_resource(show_spinner=False, max_entries=4)
def people_frame(key: str, version: int, scope: tuple, _data: LayerSet) -> pd.DataFrame:
    """One row per person, once per store version and scope (``_data`` is the store as that
    scope sees it): the layer's fields, ``phone_masked``,
    ``home_name``, ``community`` (of the home), ``roles`` (duties in force, as a tuple),
    ``load``, ``left_on``, ``reason``."""
    del version, scope
    p = _data.people
    b, g = _data.buildings, _data.grids
    grid_of = dict(zip(b["code"], b["grid_code"], strict=True))
    comm_of_grid = dict(zip(g["code"], g["community_code"], strict=True))
    act = active_assignments(_data.assignments, resolve_as_of(_data))
    roles = act.groupby("person_id")["role"].agg(lambda r: tuple(sorted(set(r))))
    load = act["person_id"].value_counts()
    gone = reg.people_left(appdata.open_key(key)).drop_duplicates("person_id", keep="last")
    gone = gone.set_index("person_id")
    home = p["home_building_code"]
    out = pd.DataFrame({
        "person_id": p["person_id"].to_numpy(dtype=object),
        "name": p["name"].to_numpy(dtype=object),
        "phone": p["phone"].to_numpy(dtype=object),
        "phone_masked": p["phone"].map(_masked_phone).to_numpy(dtype=object),
        "is_party_member": p["is_party_member"].fillna(False).to_numpy(dtype=bool),
        "home_building_code": home.to_numpy(dtype=object),
        "home_name": home.map(dict(zip(b["code"], b["name"], strict=True))).to_numpy(
            dtype=object),
        "community": home.map(grid_of).map(comm_of_grid).to_numpy(dtype=object),
        "roles": p["person_id"].map(roles).to_numpy(dtype=object),
        "load": p["person_id"].map(load).fillna(0).astype(int).to_numpy(),
        "left_on": gone["left_on"].reindex(p["person_id"].to_numpy()).to_numpy(dtype=object),
        "reason": gone["reason"].reindex(p["person_id"].to_numpy()).to_numpy(dtype=object),
    })
    # every community a person belongs to: home, and the grids/buildings of their duties
    targets = act["target_code"].map(lambda c: comm_of_grid.get(c) or comm_of_grid.get(
        grid_of.get(c)))
    member = pd.concat([pd.DataFrame({"person_id": out["person_id"],
                                      "community": out["community"]}),
                        pd.DataFrame({"person_id": act["person_id"].to_numpy(),
                                      "community": targets.to_numpy()})])
    out.attrs["communities"] = member.dropna().drop_duplicates()
    return out


def _community_names(store: StoreView) -> dict[str, str]:
    c = store.data.communities
    return dict(zip(c["code"], c["name"], strict=True))


def _filtered(store: StoreView, people: pd.DataFrame) -> pd.DataFrame:
    """The search box and filters, and the people they keep."""
    L = lang()
    s1, s2 = st.columns([2, 1])
    q = s1.text_input(t("ppl_search", L), key="ppl_q", max_chars=40).strip()
    names = _community_names(store)
    comm = s2.selectbox(t("community_filter", L), ["", *names], key="ppl_comm",
                        format_func=lambda c: t("all_communities", L) if not c else names[c])
    f = st.columns(4)
    role = f[0].selectbox(t("ppl_role_filter", L), ["", "grid_sentinel", "building_member",
                                                   "none"], key="ppl_role",
                          format_func=lambda r: t({"": "ppl_role_any", "none": "ppl_role_none"}
                                                  .get(r, r), L))
    yes_no = ["", "yes", "no"]
    fmt = {"": t("ppl_all", L), "yes": t("ppl_yes", L), "no": t("ppl_no", L)}
    party = f[1].selectbox(t("ppl_party_filter", L), yes_no, key="ppl_party",
                           format_func=fmt.get)
    assigned = f[2].selectbox(t("ppl_assigned_filter", L), yes_no, key="ppl_assigned",
                              format_func=fmt.get)
    left = f[3].selectbox(t("ppl_left_filter", L), ["present", "gone", ""], key="ppl_left",
                          format_func=lambda v: t({"present": "ppl_present",
                                                   "gone": "ppl_gone"}.get(v, "ppl_all"), L))
    keep = pd.Series(True, index=people.index)
    if q:
        keep &= _matches(people, q)
    if comm:
        member = people.attrs["communities"]
        keep &= people["person_id"].isin(member.loc[member["community"] == comm, "person_id"])
    if role == "none":
        keep &= people["load"].eq(0)
    elif role:
        keep &= people["roles"].map(lambda r: isinstance(r, tuple) and role in r).astype(bool)
    if party:
        keep &= people["is_party_member"] == (party == "yes")
    if assigned:
        keep &= people["load"].gt(0) == (assigned == "yes")
    if left:
        keep &= people["left_on"].notna() == (left == "gone")
    return people[keep]


def _matches(people: pd.DataFrame, q: str) -> pd.Series:
    """Name or person id containing ``q``; or, for digits, a phone ending with them."""
    hit = (people["name"].astype(str).str.contains(q, case=False, regex=False)
           | people["person_id"].astype(str).str.contains(q, case=False, regex=False))
    digits = q.replace(" ", "").replace("-", "")
    if digits.isdigit() and len(digits) >= 3:
        hit |= people["phone"].fillna("").astype(str).str.replace(
            r"[\s-]", "", regex=True).str.endswith(digits)
    return hit


def _table(shown: pd.DataFrame, total: int, store: StoreView) -> None:
    """The list (masked phones). A tick selects a person through :func:`_picked`, which reads
    the rows as they were shown; the table's key changes with its rows."""
    L = lang()
    st.caption(t("ppl_count", L).format(n=f"{len(shown):,}", total=f"{total:,}"))
    if len(shown) > MAX_ROWS:
        st.caption(t("ppl_capped", L).format(n=MAX_ROWS))
    shown = shown.head(MAX_ROWS)
    ids = shown["person_id"].tolist()
    st.session_state["people_table_ids"] = ids
    key = "people_table_" + hashlib.sha1("\n".join(ids).encode()).hexdigest()[:16]
    names = _community_names(store)
    table = pd.DataFrame({
        t("person_id", L): shown["person_id"], t("ppl_name", L): shown["name"],
        t("ppl_phone", L): shown["phone_masked"],
        t("ppl_party", L): shown["is_party_member"].map({True: "✓", False: ""}),
        t("ppl_home", L): shown["home_name"].fillna(""),
        t("community_filter", L): shown["community"].map(names).fillna(""),
        t("ppl_roles", L): shown["roles"].map(lambda r: "、".join(t(x, L) for x in r)
                                             if isinstance(r, tuple) else ""),
        t("ppl_load", L): shown["load"],
        t("ppl_left_on", L): shown["left_on"].map(_day),
    })
    st.dataframe(table, hide_index=True, width="stretch", key=key,
                 height=min(360, 38 + 35 * max(len(table), 1)),
                 on_select=functools.partial(_picked, key), selection_mode="single-row")


def _picked(key: str) -> None:
    rows = st.session_state[key].selection.rows
    ids = st.session_state.get("people_table_ids", [])
    if rows and rows[0] < len(ids):
        st.session_state[_SEL] = ids[rows[0]]


def _day(value: object) -> str:
    if value is None or pd.isna(value):
        return ""
    return str(pd.Timestamp(value).date())


# -- the home building picker ------------------------------------------------------------------

def building_picker(store: StoreView, key: str, current: str | None) -> None:
    """住址楼栋: a community, then one of its buildings (``st.session_state[key + "_b"]``;
    empty: none). Two small lists instead of every building of the town in one."""
    L = lang()
    data = store.data
    b, g = data.buildings, data.grids
    comm_of_grid = dict(zip(g["code"], g["community_code"], strict=True))
    grid_of = dict(zip(b["code"], b["grid_code"], strict=True))
    names = _community_names(store)
    here = comm_of_grid.get(grid_of.get(current)) if current else None
    options = ["", *names]
    c1, c2 = st.columns([1, 1.6])
    comm = c1.selectbox(f"{t('ppl_home', L)} · {t('community_filter', L)}", options,
                        index=options.index(here) if here in options else 0, key=f"{key}_c",
                        format_func=lambda c: t("ppl_home_none", L) if not c else names[c])
    if comm:
        inside = b["grid_code"].map(comm_of_grid).eq(comm).to_numpy()
        codes = b["code"].to_numpy()[inside].tolist()
        bnames = dict(zip(codes, b["name"].to_numpy()[inside], strict=True))
    else:
        codes, bnames = [], {}
    opts = ["", *codes]
    c2.selectbox(t("ppl_home", L), opts, index=opts.index(current) if current in opts else 0,
                 key=f"{key}_b", format_func=lambda c: t("ppl_home_none", L) if not c
                 else f"{bnames[c]}（{c}）")


# -- add ---------------------------------------------------------------------------------------

def _add_form(store: StoreView) -> None:
    """新增人员; its fields are keyed by a counter that moves on after each person added, so
    the next one starts from empty fields."""
    L = lang()
    n = st.session_state.get("ppl_new_n", 0)
    with st.expander(t("ppl_add", L), expanded=False):
        show_notice("ppl:add", lambda _: "")
        c1, c2, c3 = st.columns([1.2, 1.2, 0.6], vertical_alignment="bottom")
        c1.text_input(t("ppl_name", L), key=f"ppl_new_name_{n}", max_chars=40)
        c2.text_input(t("ppl_phone", L), key=f"ppl_new_phone_{n}", max_chars=20)
        c3.checkbox(t("ppl_party", L), key=f"ppl_new_party_{n}")
        building_picker(store, f"ppl_new_home_{n}", None)
        st.button(t("ppl_add_submit", L), key=f"ppl_add_go_{n}", type="primary", on_click=_add,
                  args=(store.key, n))


def _add(key: str, n: int) -> None:
    ss = st.session_state
    L = lang()
    name = (ss.get(f"ppl_new_name_{n}") or "").strip()
    if not name:
        notify("ppl:add", "error", t("ppl_name_required", L))
        return
    if not ss.get(f"ppl_new_home_{n}_b"):
        notify("ppl:add", "error", t("ppl_home_required", L))
        return
    try:
        pid = reg.add_person(appdata.open_key(key), name=name,
                             phone=(ss.get(f"ppl_new_phone_{n}") or "").strip() or None,
                             party_member=bool(ss.get(f"ppl_new_party_{n}")),
                             building=ss.get(f"ppl_new_home_{n}_b") or None,
                             principal=auth.principal(), source=SOURCE)
    except LayersError as exc:
        notify("ppl:add", "error", refused(exc))
        return
    ss["ppl_new_n"] = n + 1
    ss[_SEL] = pid
    notify("ppl:add", "success", t("ppl_added", L).format(name=md(name), id=md(pid)))


# -- the chosen person: edit, duties, leave ------------------------------------------------------

def _shown(row: pd.Series) -> dict:
    """The person's fields as the edit form shows them (plain Python values)."""
    phone = row["phone"]
    home = row["home_building_code"]
    return {"name": str(row["name"]),
            "phone": None if phone is None or pd.isna(phone) else str(phone),
            "is_party_member": bool(row["is_party_member"]),
            "home_building_code": None if home is None or pd.isna(home) else str(home)}


def _now_text(row: pd.Series) -> str:
    """The person as stored now, for the conflict message (phone masked)."""
    L = lang()
    home = row["home_name"] if isinstance(row["home_name"], str) else t("ppl_home_none", L)
    return " · ".join([
        f"{t('ppl_name', L)} {md(row['name'])}",
        f"{t('ppl_phone', L)} {md(row['phone_masked']) or '—'}",
        f"{t('ppl_party', L)} {t('ppl_yes' if row['is_party_member'] else 'ppl_no', L)}",
        f"{t('ppl_home', L)} {md(home)}"])


def _person(store: StoreView, row: pd.Series) -> None:
    L = lang()
    pid = row["person_id"]
    st.subheader(f"{md(row['name'])}（{md(pid)}）")
    show_notice(f"ppl:{pid}", lambda _: t("ppl_conflict", L).format(now=_now_text(row)))
    if not store.principal.can("people_edit"):  # a sentinel reads the register, masked
        st.caption(_now_text(row))
        _duties(store, pid)
        return
    left, right = st.columns([1.2, 1])
    with left:
        _edit_form(store, row)
    with right:
        _duties(store, pid)
        _leave_form(store, row)
    history_table(store, person=pid)


def _edit_form(store: StoreView, row: pd.Series) -> None:
    """Edit: fields keyed by the values shown, so they start from the person as stored and
    the save carries what the user saw."""
    L = lang()
    shown = _shown(row)
    k = row["person_id"] + "_" + hashlib.sha1(repr(sorted(shown.items())).encode()).hexdigest()[
        :10]
    st.markdown(f"**{t('ppl_edit', L)}**")
    st.text_input(t("ppl_name", L), value=shown["name"], key=f"ppl_name_{k}", max_chars=40)
    if st.session_state.get(_REVEALED) == row["person_id"]:
        st.text_input(t("ppl_phone", L), value=shown["phone"] or "", key=f"ppl_phone_{k}",
                      max_chars=20)  # the one place a full phone number is shown
    else:
        c1, c2 = st.columns([1.4, 1], vertical_alignment="bottom")
        c1.text_input(t("ppl_phone", L), value=row["phone_masked"] or "", disabled=True,
                      key=f"ppl_phone_masked_{k}")
        c2.button(t("reveal_phone", L), key=f"ppl_reveal_{k}", help=t("reveal_phone_help", L),
                  disabled=not shown["phone"] or not store.principal.can("reveal_phone"),
                  on_click=_reveal, args=(store.key, row["person_id"]))
    st.checkbox(t("ppl_party", L), value=shown["is_party_member"], key=f"ppl_party_{k}")
    building_picker(store, f"ppl_home_{k}", shown["home_building_code"])
    st.button(t("ppl_save", L), key=f"ppl_save_{k}", type="primary", on_click=_save,
              args=(store.key, row["person_id"], shown, k))


def _reveal(key: str, pid: str) -> None:
    """显示完整电话: for this person, in this session; recorded in the audit log."""
    auth.principal().require("reveal_phone")
    auth.audit(key, "reveal_phone", pid)
    st.session_state[_REVEALED] = pid


def _masked_phone(phone: object) -> str:
    """A phone as the list shows it (already masked for roles that see masked data)."""
    return phone if isinstance(phone, str) and "*" in phone else mask_phone(phone)


def _save(key: str, pid: str, shown: dict, k: str) -> None:
    ss = st.session_state
    L = lang()
    revealed = ss.get(_REVEALED) == pid  # a phone not revealed is not changed
    new = {"name": (ss.get(f"ppl_name_{k}") or "").strip(),
           "phone": ((ss.get(f"ppl_phone_{k}") or "").strip() or None) if revealed
           else shown["phone"],
           "is_party_member": bool(ss.get(f"ppl_party_{k}")),
           "home_building_code": ss.get(f"ppl_home_{k}_b") or None}
    if not new["name"]:
        notify(f"ppl:{pid}", "error", t("ppl_name_required", L))
        return
    changes = {f: v for f, v in new.items() if v != shown[f]}
    if not changes:
        notify(f"ppl:{pid}", "info", t("ppl_unchanged", L))
        return
    ok, _ = attempt(f"ppl:{pid}", lambda: reg.edit_person(
        appdata.open_key(key), pid, expected=shown, principal=auth.principal(), source=SOURCE, **changes))
    if not ok:
        return
    notify(f"ppl:{pid}", "success", t("ppl_saved", L))


def _duties(store: StoreView, pid: str) -> None:
    L = lang()
    st.markdown(f"**{t('ppl_duties', L)}**")
    data = store.data
    act = active_assignments(data.assignments, resolve_as_of(data))
    mine = act[(act["person_id"] == pid).to_numpy()]
    if mine.empty:
        st.caption(t("ppl_no_duties", L))
        return
    names = dict(zip(data.grids["code"], data.grids["name"], strict=True))
    names.update(zip(data.buildings["code"], data.buildings["name"], strict=True))
    st.dataframe(pd.DataFrame({
        t("ppl_roles", L): mine["role"].map(lambda r: t(r, L)),
        t("code", L): mine["target_code"], t("name", L): mine["target_code"].map(names),
        t("since", L): mine["since"].map(_day)}), hide_index=True, width="stretch")


def _leave_form(store: StoreView, row: pd.Series) -> None:
    """离岗/迁出: a date and a reason, then a confirm step naming the duties that end."""
    L = lang()
    pid = row["person_id"]
    st.markdown(f"**{t('ppl_leave', L)}**")
    if row["left_on"] is not None and not pd.isna(row["left_on"]):
        reason = row["reason"] if isinstance(row["reason"], str) else ""
        st.caption(t("ppl_already_left", L).format(date=_day(row["left_on"]))
                   + (f" · {md(reason)}" if reason else ""))
        return
    date_key, reason_key = f"ppl_leave_date_{pid}", f"ppl_leave_reason_{pid}"
    st.date_input(t("ppl_leave_date", L), value=clock.today(), key=date_key)
    st.text_input(t("ppl_leave_reason", L), key=reason_key, max_chars=100)
    if st.session_state.get(_ASK) != pid:
        st.button(t("ppl_leave_button", L), key=f"ppl_leave_{pid}",
                  on_click=lambda: st.session_state.__setitem__(_ASK, pid))
        return
    st.warning(t("ppl_leave_confirm", L).format(
        name=md(row["name"]), date=st.session_state.get(date_key), n=int(row["load"])))
    c1, c2 = st.columns(2)
    c1.button(t("confirm", L), key=f"ppl_leave_yes_{pid}", type="primary", on_click=_leave,
              args=(store.key, pid, date_key, reason_key))
    c2.button(t("cancel", L), key=f"ppl_leave_no_{pid}",
              on_click=lambda: st.session_state.pop(_ASK, None))


def _leave(key: str, pid: str, date_key: str, reason_key: str) -> None:
    ss = st.session_state
    ss.pop(_ASK, None)
    ok, n = attempt(f"ppl:{pid}", lambda: reg.leave(
        appdata.open_key(key), pid, date=ss.get(date_key),
        reason=(ss.get(reason_key) or "").strip() or None, principal=auth.principal(), source=SOURCE))
    if not ok:
        return
    notify(f"ppl:{pid}", "success", t("ppl_left_done", lang()).format(n=n))


def render() -> None:
    L = lang()
    store = StoreView()
    st.title(t("page_people", L))
    fictional_banner(store)
    people = people_frame(store.key, store.version, store.scope, store.data)
    if store.principal.can("people_edit"):
        _add_form(store)
    shown = _filtered(store, people)
    _table(shown, len(people), store)
    pid = st.session_state.get(_SEL)
    hit = people[people["person_id"] == pid] if pid else people.iloc[:0]
    if hit.empty:
        st.caption(t("ppl_pick_hint" if store.principal.can("people_edit")
                     else "ppl_pick_hint_read", L))
        return
    _person(store, hit.iloc[0])
