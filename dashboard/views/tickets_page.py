"""工单 — receive a resident's request (哨兵一键下单), follow it through the lifecycle, read the
KPIs, export for the joint meeting."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib

import branca
import folium
import jinja2
import pandas as pd
import streamlit as st

from dashboard import mapframe, mapview
from dashboard.i18n import t
from dashboard.state import (
    StoreView,
    download,
    fictional_banner,
    lang,
    ticket_export_files,
    user_errors,
)
from dashboard.text import md, percent
from layers import clock
from layers.auth import PermissionDenied, Principal
from layers.schema import TICKET_STATUSES
from layers.tickets import (
    FIELD_LIMITS,
    INTAKE_BUILDING_MAX_M,
    PHOTO_MAX_BYTES,
    REPORTERS,
    SATISFACTION,
    ConflictError,
    IllegalMove,
    PhotoError,
    Placement,
    TicketError,
    TicketStore,
    workflow,
)
from layers.tickets import reports as tr

#: Above this many buildings in scope, the building picker asks for the community first (a
#: list of a city's two million buildings would be megabytes on every rerun).
INTAKE_MAX_BUILDINGS = 5000


def _intake_buildings(store: StoreView) -> pd.DataFrame:
    """The buildings the intake picker offers: all in scope, or those of one community."""
    b = store.data.buildings
    if len(b) <= INTAKE_MAX_BUILDINGS:
        return b
    L = lang()
    comms = store.data.communities
    cnames = dict(zip(comms["code"], comms["name"], strict=True))
    comm = st.selectbox(t("community_filter", L), ["", *cnames],
                        format_func=lambda c: t("intake_pick_community", L) if not c
                        else f"{cnames[c]}（{c}）", key="intake_community")
    if not comm:
        return b.iloc[:0]
    grids = store.data.grids
    return b[b["grid_code"].isin(grids["code"][(grids["community_code"] == comm).to_numpy()])
             .to_numpy()]


#: The intake widgets cleared after a ticket is filed (the form clears its own fields).
_INTAKE_KEYS = ("intake_building",)


def _intake(store: StoreView) -> None:
    """哨兵一键下单: tap the place (a pin, and where the ticket will be filed: grid, community,
    nearest building — before submitting), fill the short form, file; the result shows at
    the top of the form and as a toast, and the form is cleared for the next ticket."""
    L = lang()
    _intake_style()
    if st.session_state.pop("intake_reset", False):
        for k in _INTAKE_KEYS:
            st.session_state.pop(k, None)
    left, right = st.columns([1.4, 1])
    with right:
        _intake_result(store)
        b = _intake_buildings(store)
        building = _building_picker(b)
        lon, lat = _intake_point(b, building)
    with left:
        st.caption(t("intake_hint", L))
        with st.container(key="intake_mapbox"):
            mapframe.show(store.map_frame(None, mapview.tile_sources()["none"]),
                          key=_map_key(), height=INTAKE_MAP_HEIGHT,
                          returned_objects=["last_clicked"],
                          feature_groups=_pin(lon, lat), on_change=_clicked)
        place = _placement(store, lon, lat)
        _show_placement(store, place)
    with right:
        _intake_form(store, place, building)


#: The intake map's height (px): under half a 844 px phone screen, so a thumb scrolling the
#: page always finds page below the map.
INTAKE_MAP_HEIGHT = 420


def _map_key() -> str:
    """The intake map's component key: a new one after each ticket (no pin left over)."""
    return f"intake_map_{st.session_state.get('intake_n', 0)}"


def _clicked() -> None:
    """A tap on the intake map picks the place: it replaces a building chosen before."""
    st.session_state["intake_building"] = ""


def _building_picker(b: pd.DataFrame) -> str:
    L = lang()
    names = dict(zip(b["code"], b["name"], strict=True))
    if st.session_state.get("intake_building") not in ("", None, *names):
        st.session_state["intake_building"] = ""  # a building of another community
    return st.selectbox(t("intake_building", L), ["", *b["code"].tolist()],
                        format_func=lambda c: t("intake_by_click", L) if not c
                        else f"{names[c]}（{c}）", key="intake_building") or ""


def _intake_point(b: pd.DataFrame, building: str) -> tuple[float | None, float | None]:
    """The place of the ticket: the chosen building's centroid (as search places it), else
    the last tap."""
    if building:
        p = b.set_index("code").geometry[building].centroid
        return float(p.x), float(p.y)
    clicked = (st.session_state.get(_map_key()) or {}).get("last_clicked")
    if clicked:
        return float(clicked["lng"]), float(clicked["lat"])
    return None, None


def _pin(lon: float | None, lat: float | None) -> list[folium.FeatureGroup]:
    """The pin at the place of the ticket (an inline SVG: nothing fetched), as the map's
    dynamic layer; without a place the layer is sent empty (it replaces an old pin)."""
    fg = folium.FeatureGroup(name="intake_pin")
    _ThumbScrolls().add_to(fg)
    if lon is None or lat is None:
        return [fg]
    folium.Marker([lat, lon], tooltip=t("tk_map_pin", lang()),
                  icon=folium.DivIcon(html=_PIN_SVG, icon_size=(30, 42),
                                      icon_anchor=(15, 42), class_name="intake-pin")
                  ).add_to(fg)
    return [fg]


class _ThumbScrolls(branca.element.MacroElement):
    """On a phone or tablet, one finger on the intake map scrolls the page (the map does not
    trap the thumb); two fingers move and zoom the map, a tap still places the pin. Sent
    with the dynamic layer, whose script runs on the mounted map (``map_div``)."""

    _template = jinja2.Template("""{% macro script(this, kwargs) %}
    if (L.Browser.mobile && map_div.dragging) { map_div.dragging.disable(); }
    {% endmacro %}""")


_PIN_SVG = ('<svg xmlns="http://www.w3.org/2000/svg" width="30" height="42" viewBox="0 0 30 42">'
            '<path d="M15 1C7.3 1 1 7.2 1 14.9 1 25.3 15 41 15 41s14-15.7 14-26.1C29 7.2 22.7 1 '
            '15 1z" fill="#0b5cad" stroke="#fff" stroke-width="2"/>'
            '<circle cx="15" cy="15" r="5.5" fill="#fff"/></svg>')


def _placement(store: StoreView, lon: float | None, lat: float | None) -> Placement | None:
    """Where the store will file a ticket at this place (its own rule, before submitting)."""
    if lon is None or lat is None or store.tickets.locator is None:
        return None
    return store.tickets.locator.place(lon, lat)


def _show_placement(store: StoreView, place: Placement | None) -> None:
    """The place, the grid, community and building the ticket will be filed under."""
    L = lang()
    with st.container(border=True, key="intake_place"):
        st.markdown(f"**{t('tk_place_title', L)}**")
        if place is None:
            st.caption(t("tk_place_pick", L))
            return
        if place.grid_code is None:
            st.warning(t("tk_place_outside", L))
            return
        if not store.principal.covers(place.community_code, place.grid_code):
            st.warning(t("tk_place_not_yours", L))
        grids = _name_of(store.data.grids, place.grid_code)
        comms = _community_names(store)
        st.markdown("\n".join(f"- {md(t('tk_label_value', L).format(label=t(k, L), value=v))}"
                              for k, v in (("grid", _named(grids, place.grid_code)),
                                           ("community_filter",
                                            _named(comms, place.community_code)),
                                           ("building", _building_words(place)))))
        st.caption(f"{t('location', L)}: {place.lon:.6f}, {place.lat:.6f}")


def _named(names: dict[str, str], code: str | None) -> str:
    """``name（code）`` when the name is known, else the code."""
    if code is None:
        return "—"
    return f"{names[code]}（{code}）" if code in names else code


def _building_words(place: Placement) -> str:
    L = lang()
    b = place.building
    if b is None:
        return t("tk_place_no_building", L).format(m=f"{INTAKE_BUILDING_MAX_M:.0f}")
    if b.distance_m == 0:
        return t("tk_place_building_in", L).format(name=b.name, code=b.code)
    return t("tk_place_building_at", L).format(name=b.name, code=b.code,
                                               m=f"{b.distance_m:.0f}")


def _intake_form(store: StoreView, place: Placement | None, building: str) -> None:
    L = lang()
    mb = PHOTO_MAX_BYTES // 2**20
    with st.container(key="intake_formbox"), st.form("intake_form", clear_on_submit=True):
        category = st.selectbox(t("tk_category", L), list(store.tickets.catalogue),
                                format_func=lambda c: _cat(store, c))
        reporter = st.selectbox(t("reporter", L), REPORTERS,
                                format_func=lambda r: t(f"reporter_{r}", L))
        text = st.text_area(t("tk_text", L), max_chars=FIELD_LIMITS["text"], height=100)
        photo = st.file_uploader(t("tk_photo", L), type=sorted(_PHOTO_SUFFIXES),
                                 max_upload_size=mb, key="intake_photo")
        st.caption(t("tk_photo_rule", L).format(mb=mb))
        sent = st.form_submit_button(t("submit_ticket", L), type="primary", width="stretch")
    if sent:
        _file(store, place, building, category, reporter, text, photo)


_PHOTO_SUFFIXES = {"jpg", "jpeg", "png", "webp"}


def _file(store: StoreView, place: Placement | None, building: str,  # noqa: PLR0913
          category: str, reporter: str, text: str, photo: object) -> None:
    """File the ticket; on success remember the result for the top of the form and start
    a fresh form (a new map without the pin, no building chosen)."""
    L = lang()
    problem = _intake_problem(place, text)
    if problem or place is None:
        st.error(t(problem or "location_missing", L))
        return
    try:
        data = photo.getvalue() if photo is not None else None  # type: ignore[attr-defined]
        tid = store.tickets.add(category, place.lon, place.lat, text, reporter=reporter,
                                building_code=building or None, photo=data,
                                principal=store.principal)
    except PhotoError as exc:
        st.error(t(f"tk_photo_{exc.reason}", L).format(mb=PHOTO_MAX_BYTES // 2**20))
        return
    except PermissionDenied:
        st.error(t("auth_denied", L))
        return
    except TicketError as exc:
        st.error(md(exc))
        return
    ss = st.session_state
    ss["intake_done"] = tid
    ss["ticket_sel"] = tid
    ss["intake_n"] = ss.get("intake_n", 0) + 1
    ss["intake_reset"] = True
    st.rerun()


def _intake_problem(place: Placement | None, text: str) -> str | None:
    """What keeps the form from being filed, as an interface key (the store would refuse it
    too, in its own English words)."""
    if place is None:
        return "location_missing"
    if place.grid_code is None:
        return "tk_place_outside"
    if not (text or "").strip():
        return "tk_text_missing"
    return None


def _intake_result(store: StoreView) -> None:
    """The ticket just filed: a confirmation at the top of the form (its id, grid, building,
    deadline) and a toast where the eye is; shown once."""
    tid = st.session_state.pop("intake_done", None)
    if not tid:
        return
    L = lang()
    try:
        got = store.ticket(tid)
    except (TicketError, PermissionDenied):
        return
    st.toast(t("tk_done", L).format(id=tid), icon=":material/check_circle:", duration="long")
    with st.container(key="intake_done"):
        st.success(f"**{md(t('tk_done', L).format(id=tid))}**  \n"
                   + md(t("tk_done_where", L).format(
                       grid=_named(_name_of(store.data.grids, got["grid_code"]),
                                   got["grid_code"]),
                       building=_named(_name_of(store.data.buildings, got["building_code"]),
                                       got["building_code"])
                       if got["building_code"] else t("tk_building_none", L),
                       deadline=_when(got["deadline"])))
                   + f"  \n{md(t('tk_next', L))}")


def _name_of(layer: pd.DataFrame, code: str | None) -> dict[str, str]:
    """``{code: name}`` of one row of a layer the user sees (empty when it is not there):
    one vectorised look-up, not a dictionary of a city's buildings."""
    if not code:
        return {}
    hit = layer["name"][(layer["code"] == code).to_numpy()]
    return {code: str(hit.iloc[0])} if len(hit) else {}


def _when(iso: str | None) -> str:
    """An ISO time as the page shows times: ``2026-11-20 12:00`` (unknown: ``—``)."""
    return "—" if not iso else str(iso)[:16].replace("T", " ")


def _intake_style() -> None:
    """Big touch targets and no sideways scrolling on a phone; Streamlit's own uploader
    words replaced by ours (in the user's language)."""
    L = lang()
    st.html(_INTAKE_CSS.replace("__PICK__", _css_text(t("tk_photo_pick", L))))


def _css_text(s: str) -> str:
    """Text for a CSS ``content`` string (quotes, backslashes and angle brackets escaped)."""
    return "".join(c if c.isalnum() or c in " ,.()（），、" else f"\\{ord(c):06x}" for c in s)


_INTAKE_CSS = """<style>
.st-key-intake_formbox button, .st-key-intake_formbox [data-testid="stSelectbox"] [role="group"],
.st-key-intake_building [role="group"] { min-height: 48px; }
.st-key-intake_formbox [data-testid="stFormSubmitButton"] button { font-size: 1.15rem; }
.st-key-intake_formbox textarea { font-size: 1rem; }
.st-key-intake_formbox [data-testid="stFileUploaderDropzoneInstructions"] { display: none; }
.st-key-intake_formbox [data-testid="stFileUploaderDropzone"] button p { font-size: 0; }
.st-key-intake_formbox [data-testid="stFileUploaderDropzone"] button p::after
  { content: "__PICK__"; font-size: 1rem; }
</style>"""


def _list_and_detail(store: StoreView) -> None:
    shown = _filtered(store)
    _table(store, shown)
    tid = st.session_state.get("ticket_sel")
    if tid:
        _detail(store, tid)


def _filtered(store: StoreView) -> pd.DataFrame:
    """The filters, and the tickets they keep (newest first)."""
    L = lang()
    df = store.ticket_frame()
    f1, f2, f3, f4 = st.columns([1.2, 1.2, 1, 0.8])
    status = f1.multiselect(t("tk_status", L), TICKET_STATUSES,
                            default=[s for s in TICKET_STATUSES if not workflow.is_closed(s)],
                            format_func=lambda s: t(f"status_t_{s}", L),
                            placeholder=t("all_communities", L))
    category = f2.multiselect(t("tk_category", L), list(store.tickets.catalogue),
                              format_func=lambda c: _cat(store, c),
                              placeholder=t("all_communities", L))
    cnames = _community_names(store)
    community = f3.selectbox(t("community_filter", L), ["", *cnames],
                             format_func=lambda c: t("all_communities", L) if not c
                             else cnames[c])
    overdue_only = f4.checkbox(t("overdue_only", L))
    grid = st.text_input(t("grid_filter", L), key="ticket_grid")
    sel = df["status"].isin(status) if status else pd.Series(True, index=df.index)
    if category:
        sel &= df["category"].isin(category)
    if community:
        sel &= df["community_code"] == community
    if grid:
        sel &= df["grid_code"].fillna("").str.startswith(grid.strip())
    if overdue_only:
        sel &= df["overdue"]
    st.caption(f"{int(sel.sum())} / {len(df)}")
    return df[sel].sort_values("created_at", ascending=False)


def _table(store: StoreView, shown: pd.DataFrame) -> None:
    """The list. A click selects a ticket through :func:`_picked`, which reads the rows as
    they were shown; the table's key changes with the rows it lists, so a tick never stays on
    a row that now holds another ticket (e.g. after the selected one was closed)."""
    L = lang()
    shown = shown.head(500)
    ids = shown["id"].tolist()
    st.session_state["ticket_table_ids"] = ids  # what the rows mean, for the next click
    key = "ticket_table_" + hashlib.sha1("\n".join(ids).encode()).hexdigest()[:16]
    cnames = _community_names(store)
    table = pd.DataFrame({
        t("tk_id", L): shown["id"], t("tk_category", L): shown["category"].map(
            lambda c: _cat(store, c)),
        t("tk_status", L): shown["status"].map(lambda s: t(f"status_t_{s}", L)),
        t("community_filter", L): shown["community_code"].map(cnames),
        t("grid", L): shown["grid_code"], t("tk_created_at", L): shown["created_at"],
        t("tk_deadline", L): shown["deadline"], t("tk_overdue", L): shown["overdue"],
        t("tk_text", L): shown["text"],  # st.dataframe shows text, never HTML
    })
    st.dataframe(table, hide_index=True, width="stretch", height=320,
                 on_select=functools.partial(_picked, key), selection_mode="single-row",
                 key=key)


def _picked(key: str) -> None:
    """The user ticked a row: select the ticket shown in it (a cleared tick keeps the
    current ticket)."""
    rows = st.session_state[key].selection.rows
    ids = st.session_state.get("ticket_table_ids", [])
    if rows and rows[0] < len(ids):
        st.session_state["ticket_sel"] = ids[rows[0]]


def _detail(store: StoreView, tid: str) -> None:
    L = lang()
    try:
        tk = store.ticket(tid)
    except (TicketError, PermissionDenied):
        return
    _show_notice(tid)
    status = t("status_t_" + tk["status"], L)
    st.subheader(f"{md(tid)} · {md(_cat(store, tk['category']))} · {status}")
    if tk["overdue"]:
        st.error(t("overdue", L))
    c1, c2 = st.columns([1.3, 1])
    with c1:
        _history(store, tk)
        _photos(store, tid)
    with c2:
        _move_form(store, tk)


def _history(store: StoreView, tk: dict) -> None:
    L = lang()
    st.text(tk["text"])  # plain text: user input is never rendered as HTML/Markdown
    handlers = _handlers(store, tk)
    grid, building = tk["grid_code"], tk.get("building_code")
    facts = [f"{t('grid', L)} {md(_named(_name_of(store.data.grids, grid), grid))}",
             f"{t('building', L)} "
             f"{md(_named(_name_of(store.data.buildings, building), building))}",
             f"{t('tk_created_at', L)} {_when(tk['created_at'])}",
             f"{t('tk_deadline', L)} {_when(tk['deadline'])}",
             f"{t('handler', L)} {md(handlers.get(tk.get('handler') or '', tk.get('handler')))}",
             f"{t('kpi_satisfaction_rate', L)} "
             + (t(f"sat_{tk['satisfaction']}", L) if tk.get("satisfaction") else "—"),
             f"v{tk['version']}"]
    st.caption(" · ".join(facts))
    st.dataframe(_history_table(tk["history"]), hide_index=True, width="stretch")


def _history_table(history: list[dict]) -> pd.DataFrame:
    """A ticket's history in the user's language; what nobody entered shows as ``—``."""
    L = lang()
    return pd.DataFrame({
        "#": [h["seq"] for h in history],
        t("tk_status", L): [t(f"status_t_{h['status']}", L) for h in history],
        t("when", L): [_when(h["at"]) for h in history],
        t("by", L): [h.get("by") or "—" for h in history],
        t("note", L): [h.get("note") or "—" for h in history],
    })


def _photos(store: StoreView, tid: str) -> None:
    """The ticket's photos, fetched with this user's rights (none shown without them)."""
    L = lang()
    try:
        photos = store.tickets.photos(tid, principal=store.principal)
    except (TicketError, PermissionDenied):
        return
    if not photos:
        return
    with st.container(key="ticket_photos"):
        st.markdown(f"**{t('tk_photos', L)}**")
        for ph in photos:
            st.image(ph.data, caption=t("tk_photo_n", L).format(n=ph.seq), width=360)


def _move_form(store: StoreView, tk: dict) -> None:
    """The moves allowed from the ticket's status, as drawn for this version: the form's key
    carries the version (each step starts with empty fields) and every button carries the
    version the user saw, checked by :func:`_move` when it is pressed."""
    L = lang()
    moves = [m for m in workflow.allowed_moves(tk["status"])
             if store.principal.may_move(m.source, m.target)]
    if not moves:
        st.caption(t("ticket_final" if not workflow.allowed_moves(tk["status"])
                     else "ticket_not_yours", L))
        return
    handlers = _handlers(store, tk)
    k = f"{tk['id']}_{tk['version']}"
    with st.form(f"move_{k}", clear_on_submit=True):
        st.text_input(t("note", L), max_chars=FIELD_LIMITS["note"], key=f"tk_note_{k}")
        st.selectbox(t("handler", L), list(handlers), format_func=handlers.get,
                     index=list(handlers).index(tk["handler"])
                     if tk.get("handler") in handlers else 0, key=f"tk_handler_{k}")
        st.selectbox(t("satisfaction", L), ["", *SATISFACTION],
                     format_func=lambda v: t(f"sat_{v}", L) if v else "—", key=f"tk_sat_{k}")
        for m in moves:
            st.form_submit_button(t(f"move_{m.source}_{m.target}", L),
                                  key=f"tk_go_{k}_{m.target}", on_click=_move,
                                  args=(store.tickets, tk["id"], m.target, tk["version"], k,
                                        store.principal))


def _move(tickets: TicketStore, tid: str, target: str, seen: int, k: str,  # noqa: PLR0913
          principal: Principal) -> None:
    """A move button was pressed (run before the page is drawn again): apply it to the
    version the user saw; if someone moved the ticket since, nothing is applied and the user
    is told its current status."""
    ss = st.session_state
    try:
        tickets.move(tid, target, principal=principal,
                     note=ss.get(f"tk_note_{k}") or None,
                     handler=ss.get(f"tk_handler_{k}") or None,
                     satisfaction=(ss.get(f"tk_sat_{k}") or None)
                     if workflow.is_closed(target) else None,
                     expected_version=seen)
    except ConflictError:
        now = t("status_t_" + tickets.get(tid, principal=principal)["status"], lang())
        ss["ticket_notice"] = (tid, "warning", _conflict_text(now))
    except PermissionDenied:
        ss["ticket_notice"] = (tid, "error", t("auth_denied", lang()))
    except (TicketError, IllegalMove) as exc:
        ss["ticket_notice"] = (tid, "error", md(exc))


def _conflict_text(status_label: str) -> str:
    return t("conflict", lang()).format(status=status_label)


def _show_notice(tid: str) -> None:
    """The outcome of the last move pressed on ``tid``, once."""
    notice = st.session_state.pop("ticket_notice", None)
    if notice and notice[0] == tid:
        getattr(st, notice[1])(notice[2])


def _community_names(store: StoreView) -> dict[str, str]:
    comms = store.data.communities
    return dict(zip(comms["code"], comms["name"], strict=True))


def _handlers(store: StoreView, tk: dict) -> dict[str, str]:
    """Who a ticket can be dispatched to: its grid's sentinels, the community, the street's
    joint meeting (大党委联席会议) or a department."""
    L = lang()
    out = {"": "—"}
    if tk.get("grid_code"):
        from layers import lookup

        try:
            for p in lookup.grid_detail(store.data, tk["grid_code"]).sentinels:
                out[f"sentinel:{p.person_id}"] = f"{t('grid_sentinel', L)} {p.name}"
        except KeyError:
            pass
    out["community"] = t("handler_community", L)
    out["joint_meeting"] = t("handler_joint_meeting", L)
    for dept in ("住建", "城管", "民政", "供电", "人社"):
        out[f"department:{dept}"] = f"{t('handler_department', L)} · {dept}"
    return out


def _kpis(store: StoreView) -> None:
    L = lang()
    today = clock.today()  # the one clock: tickets filed today are in the period
    c1, c2, c3 = st.columns(3)
    start = c1.date_input(t("period_start", L), today.replace(day=1), key="kpi_start")
    end = c2.date_input(t("period_end", L), today + dt.timedelta(days=1), key="kpi_end")
    level = c3.radio(t("kpi_by", L), ["community_code", "grid_code"], horizontal=True,
                     format_func=lambda v: t(f"kpi_by_{v}", L), key="kpi_level")
    df = store.ticket_frame()
    k = tr.ticket_kpis(df, start, end, by=level)
    total = k.set_index(level).loc["total"]
    m = st.columns(6)
    m[0].metric(t("kpi_received", L), int(total["received"]))
    m[1].metric(t("kpi_closed", L), int(total["closed"]))
    m[2].metric(t("kpi_closure_rate", L), percent(total["closure_rate"]))
    m[3].metric(t("kpi_on_time_rate", L), percent(total["on_time_rate"]))
    m[4].metric(t("kpi_overdue", L), int(total["overdue"]))
    m[5].metric(t("kpi_avg_days", L), "—" if pd.isna(total["avg_handling_days"])
                else f"{total['avg_handling_days']:.1f}")
    names = dict(zip(store.data.communities["code"], store.data.communities["name"],
                     strict=True))
    if level == "grid_code":
        names = dict(zip(store.data.grids["code"], store.data.grids["name"], strict=True))
    k.insert(0, t(f"kpi_by_{level}", L), k[level].map(lambda c: names.get(c, t("total", L))))
    k = _kpi_words(k.drop(columns=level)).rename(columns={
        c: t(f"kpi_{c}", L) for c in tr.KPI_COLUMNS})
    st.dataframe(k, hide_index=True, width="stretch")
    st.caption(t("kpi_definitions", L))
    d1, d2 = st.columns(2)
    excel, open311 = ticket_export_files(store.key, store.version, store.tickets.version(),
                                         store.scope)
    download(store, t("download_joint_meeting", L), excel, "联席会议工单清单.xlsx",
             "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", where=d1)
    download(store, t("download_open311", L), open311, "open311.json", "application/json",
             where=d2)


def _cat(store: StoreView, code: str) -> str:
    """A category's label: the interface catalogue, else the store's own catalogue name."""
    label = t(f"cat_{code}", lang())
    if label == f"cat_{code}":
        return store.tickets.catalogue.get(code, (code, 0))[0]
    return label


#: The KPI columns that are shares (shown as percentages, like the tiles).
_KPI_SHARES = ("closure_rate", "on_time_rate", "satisfaction_rate")


def _kpi_words(k: pd.DataFrame) -> pd.DataFrame:
    """The KPI table as shown: shares in percent as on the tiles, days with one decimal,
    unknown as ``—``."""
    out = k.copy()
    for c in _KPI_SHARES:
        out[c] = out[c].map(percent)
    out["avg_handling_days"] = out["avg_handling_days"].map(
        lambda v: "—" if pd.isna(v) else f"{v:.1f}")
    return out


def render() -> None:
    L = lang()
    store = StoreView()
    st.title(t("page_tickets", L))
    fictional_banner(store)
    files = store.principal.can("tickets_file")  # the leader reads, files nothing
    # lazy tabs: only the open one runs (switching reruns the page, so every tab is current)
    tabs = st.tabs([t(k, L) for k in (("tab_intake",) if files else ()) + ("tab_list",
                                                                           "tab_kpi")],
                   key="tickets_tab", on_change="rerun")
    tab_list, tab_kpi = tabs[-2:]
    if files and tabs[0].open:
        with tabs[0]:
            _intake(store)
    if tab_list.open:
        with tab_list:
            _list_and_detail_part()
    if tab_kpi.open:
        with tab_kpi:
            _kpis(store)


@st.fragment
def _list_and_detail_part() -> None:
    """The list and the selected ticket: a pick or a move reruns only this part."""
    with user_errors():  # an error inside a fragment is shown inside it, in plain words
        _list_and_detail(StoreView())  # the current version: a move changes it
