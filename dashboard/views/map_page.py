"""地图总览 — every layer on the map; click a grid or building for who is responsible."""

from __future__ import annotations

import functools

import folium
import pandas as pd
import shapely
import streamlit as st

from dashboard import mapframe, mapview
from dashboard.i18n import t
from dashboard.state import (
    StoreView,
    as_of_picker,
    fictional_banner,
    go_to_row,
    lang,
    set_param,
    user_errors,
)
from dashboard.text import md
from dashboard.views.point_panel import POINT_KINDS, point_panel
from layers import lookup
from layers.settings import DEFAULT_SETTINGS, Settings


def _tiles() -> dict[str, mapview.TileSource]:
    try:
        cfg = dict(st.secrets.get("tiles", {}))
    except Exception:  # no secrets file: the defaults (and no Tianditu token)
        cfg = {}
    return mapview.tile_sources(cfg)


def controls(store: StoreView, key: str) -> tuple[str | None, mapview.TileSource]:
    """Community filter and base map (both kept in the URL)."""
    L = lang()
    comms = store.data.communities
    options = ["", *comms["code"].tolist()]
    names = dict(zip(comms["code"], comms["name"], strict=True))
    current = st.query_params.get("c", "")
    community = st.sidebar.selectbox(
        t("community_filter", L), options, index=options.index(current) if current in options
        else 0, format_func=lambda c: t("all_communities", L) if not c else f"{names[c]}（{c}）",
        key=f"{key}_community")
    set_param("c", community)
    tiles = _tiles()
    keys = list(tiles)
    base = st.query_params.get("base", "none")
    chosen = st.sidebar.selectbox(
        t("base_map", L), keys, index=keys.index(base) if base in keys else 0,
        format_func=lambda k: t(f"base_{k}", L) + ("" if k == "none" or tiles[k].url
                                                   else t("base_unavailable", L)),
        key=f"{key}_base")
    if chosen != "none" and not tiles[chosen].url:
        chosen = "none"
    set_param("base", None if chosen == "none" else chosen)
    if chosen != "none":
        st.sidebar.caption(t("base_online_note", L))
    if tiles[chosen].crs == "gcj02":
        st.sidebar.caption(t("base_gcj_note", L))
    return (community or None), tiles[chosen]


def show_map(store: StoreView, community: str | None, tiles: mapview.TileSource, key: str,
             height: int = 660) -> None:
    """Draw the map. It stays mounted across reruns: the selection and, on an aggregated
    (city) map, the grids and buildings in view are dynamic layers, so a click or a pan sends
    and redraws only those. A click on a grid or building selects it (``?sel=``), on a
    community opens it (``?c=``, a whole-page rerun: the sidebar filter follows)."""
    L = lang()
    map_data = store.map_data(community, tiles.crs)
    if map_data.aggregated:
        st.info(t("aggregated_note", L))
    comp = f"{key}_{community}_{tiles.key}"
    selected = st.query_params.get("sel")
    sel_geojson = mapview.selection_geojson(store.data, selected, tiles.crs)
    center, zoom = _goto(comp, selected, sel_geojson, height, store.data.towns)
    dynamic = [fg for fg in (
        _viewport(store, map_data, comp, tiles.crs, L),
        _selection(comp, selected, sel_geojson, L)) if fg is not None]
    returned = ["last_active_drawing", "last_object_clicked"] + (
        ["bounds", "zoom"] if map_data.aggregated else [])
    mapframe.show(store.map_frame(community, tiles), key=comp, height=height,
                  returned_objects=returned, feature_groups=dynamic, center=center, zoom=zoom,
                  on_change=functools.partial(_on_map, comp))
    if st.session_state.pop(f"{comp}_open_community", False):
        st.rerun()  # the sidebar's community filter must follow: the whole page


def _on_map(comp: str) -> None:
    """The map reported a click or (aggregated maps) a new view: remember it, select what
    was clicked."""
    value = st.session_state.get(comp) or {}
    if value.get("bounds") and value.get("zoom") is not None:
        st.session_state[f"{comp}_view"] = (value["bounds"], int(value["zoom"]))
    props = (value.get("last_active_drawing") or {}).get("properties") or {}
    # the click's own point tells a new click on the same feature from a pan's report
    click = (props.get("code"), str(value.get("last_object_clicked")))
    if not props.get("code") or props.get("k") not in ("g", "b", "c", "t", *POINT_KINDS) or \
            click == st.session_state.get(f"{comp}_last_click"):
        return
    st.session_state[f"{comp}_last_click"] = click
    if props["k"] == "t":  # a town of the city overview: zoom to it (its communities come)
        st.session_state[f"{comp}_goto"] = ("town", props["code"])
    elif props["k"] in POINT_KINDS:  # a ticket, person or facility: its detail in the panel
        set_param("sel", f"{POINT_KINDS[props['k']]}:{props['code']}")
        st.session_state[f"{comp}_clicked"] = st.query_params.get("sel")
    elif props["k"] == "c":
        set_param("c", props["code"])
        set_param("sel", None)
        st.session_state[f"{comp}_open_community"] = True
    else:
        set_param("sel", props["code"])
        st.session_state[f"{comp}_clicked"] = props["code"]  # already in view: no jump


def _selection(comp: str, selected: str | None, sel_geojson: str | None, L: str
               ) -> folium.FeatureGroup | None:
    """The selection's dynamic layer — none for a grid or building clicked on the map (the
    browser outlined it already, and the map's arguments stay as they were: Streamlit then
    resends the map as a reference, not as megabytes); a layer that only clears the clicked
    outline once the selection is cleared."""
    clicked = st.session_state.get(f"{comp}_clicked")
    if selected and selected == clicked:
        return None
    if not selected:
        return mapview.unhighlight_layer() if clicked else None
    return mapview.selection_layer(sel_geojson, L)


def _goto(comp: str, selected: str | None, sel_geojson: str | None, height: int,
          towns: pd.DataFrame) -> tuple[tuple[float, float] | None, int | None]:
    """Where to move the map: to the latest of a selection made elsewhere (search, a table,
    a link — not one clicked on the map: it is in view already) or a town clicked on the
    city overview. Sent on every rerun; the map moves only when it changes."""
    seen = st.session_state.get(f"{comp}_sel_seen")
    st.session_state[f"{comp}_sel_seen"] = selected
    point = st.session_state.pop(_POINT, None)  # a table row picked in the panel
    if point is not None:
        st.session_state[f"{comp}_goto"] = ("pt", point)
    if selected and selected != seen and selected != st.session_state.get(f"{comp}_clicked"):
        st.session_state[f"{comp}_goto"] = ("sel", selected)
    kind, code = st.session_state.get(f"{comp}_goto") or (None, None)
    if kind == "town" and code:
        return _town_view(towns, code, height)
    if kind == "sel" and code == selected and sel_geojson:
        return mapview.view_of(sel_geojson, height_px=height)
    if kind == "pt" and code is not None:
        (lat, lon), z = code  # from go_to_row: ((lat, lon), zoom)
        return (float(lat), float(lon)), int(z)
    return None, None


#: Session key: a point (a ticket, a care point) picked in a table of the panel, for the map
_POINT = "map_point_goto"


def _row_table(frame: pd.DataFrame, points: pd.DataFrame, key: str, crs: str) -> None:
    """A table whose row, when clicked, moves the map to it (``points``: ``lon``/``lat`` per
    row; text only, never HTML)."""
    places = list(shapely.points(points["lon"].to_numpy(float), points["lat"].to_numpy(float)))
    st.dataframe(frame, hide_index=True, width="stretch", key=key, on_select=functools.partial(
        go_to_row, key, places, _POINT, crs), selection_mode="single-row")


def _town_view(towns: pd.DataFrame, code: str, height: int
               ) -> tuple[tuple[float, float] | None, int | None]:
    """Centre and zoom that show a town (clicked on the city overview)."""
    hit = towns[(towns["code"] == code).to_numpy()]
    if hit.empty:
        return None, None
    return mapview.view_of(mapview.feature_collection(hit.geometry.to_numpy(), pd.DataFrame(
        {"k": ["t"]})), height_px=height)


def _viewport(store: StoreView, map_data: mapview.MapData, comp: str, crs: str, L: str
              ) -> folium.FeatureGroup | None:
    """On an aggregated map: the grids and buildings in the last reported view."""
    view = st.session_state.get(f"{comp}_view")
    if not map_data.aggregated or not view:
        return None
    bounds, zoom = view
    if zoom < (mapview.COMMUNITY_VIEW_MIN_ZOOM if map_data.by_town
               else mapview.GRID_VIEW_MIN_ZOOM):
        return None  # nothing comes with the view at this zoom
    bbox = (bounds["_southWest"]["lng"], bounds["_southWest"]["lat"],
            bounds["_northEast"]["lng"], bounds["_northEast"]["lat"])
    if None in bbox:
        return None
    md_view = store.view_data(tuple(round(float(v), 4) for v in bbox), zoom, crs,
                              map_data.by_town)
    for name, n in md_view.counts.items():
        if n < 0:
            st.caption(t("view_too_many", L).format(layer=t(name, L), n=-n))
    return mapview.view_layer(md_view, L)


def _people_table(people: list[lookup.Responsible], L: str) -> pd.DataFrame:
    return pd.DataFrame([{
        t("name", L): p.name, t("person_id", L): p.person_id, "☎": p.phone,
        t("party_member", L): "✓" if p.is_party_member else "",
        t("since", L): p.since or ""} for p in people])


def _responsible(store: StoreView, people: list[lookup.Responsible], role: str, L: str) -> None:
    """The people responsible, or — for roles that see no personal data — their role and
    count only."""
    if store.principal.personal == "none":
        st.caption(t("people_count_by_role", L).format(role=t(role, L), n=len(people)))
    else:
        st.dataframe(_people_table(people, L), hide_index=True, width="stretch")


def detail_panel(store: StoreView, code: str | None, crs: str = "wgs84") -> None:
    """The selected grid or building: its people, open tickets and nearest care (a row
    picked in a table moves the map to it; ``crs`` is the map's) — or the ticket, person or
    facility point clicked (``kind:code``, :func:`point_panel`)."""
    L = lang()
    st.subheader(t("detail", L))
    if not code:
        st.caption(t("click_hint", L))
        return
    kind, _, point = code.partition(":")
    if point and kind in POINT_KINDS.values():
        point_panel(store, kind, point)
        return
    data = store.data
    try:
        d, tickets = _lookup(store, code)
    except KeyError:  # unknown, or outside this account's scope (the same words for both)
        st.caption(t("no_results" if store.principal.whole_area else "auth_out_of_scope", L))
        return
    st.markdown(f"**{md(d.name)}**  \n{md(d.code)}")
    c1, c2 = st.columns(2)
    c1.metric(t("households", L), f"{d.households:,}")
    if d.kind == "grid":
        c2.metric(t("buildings_in_grid", L), f"{d.buildings}（{d.buildings_without_member}）")
    else:
        facts = d.facts
        c2.metric(t("floors", L), facts["floors"] if facts.get("floors") is not None
                  else t("unknown", L))
        elevator = facts.get("has_elevator")
        renovation = facts.get("renovation")
        st.caption(" · ".join([
            f"{t('year_built', L)} {md(facts.get('year_built')) or t('unknown', L)}",
            f"{t('has_elevator', L)} "
            + t("unknown" if elevator is None else "yes" if elevator else "no", L),
            f"{t('renovation', L)} " + (t(f"renovation_{renovation}", L) if renovation
                                         else t("unknown", L))]))
    st.markdown(f"**{t('sentinels', L)}** · {t('grid', L)} {md(d.grid_code)}")
    if d.sentinels:
        _responsible(store, d.sentinels, "grid_sentinel", L)
    else:
        st.error(t("no_sentinel_warning", L))
    if d.kind == "building":
        st.markdown(f"**{t('members', L)}**")
        if d.members:
            _responsible(store, d.members, "building_member", L)
        else:
            st.error(t("no_member_warning", L))
    st.markdown(f"**{t('open_tickets', L)}**（{len(d.open_tickets)}）")
    if len(d.open_tickets):
        tk = d.open_tickets.copy()
        tk["category"] = tk["category"].map(lambda c: t(f"cat_{c}", L))
        tk["status"] = tk["status"].map(lambda s: t(f"status_t_{s}", L))
        tk = tk.rename(columns={c: t(f"tk_{c}", L) for c in tk.columns})
        where = tickets.set_index("id").reindex(d.open_tickets["id"])[["lon", "lat"]]
        _row_table(tk, where, f"panel_tickets_{code}", crs)
    else:
        st.caption(t("no_open_tickets", L))
    st.markdown(f"**{t('nearest_care', L)}**")
    nc = d.nearest_care.copy()
    nc["kind"] = nc["kind"].map(lambda k: t(f"kind_{k}", L))
    care = data.care_points.set_index("code").geometry.reindex(nc["code"])
    _row_table(nc.drop(columns=["group", "code"]).rename(columns={
        "name": t("name", L), "kind": t("kind", L), "distance_m": t("distance_m", L)}),
        pd.DataFrame({"lon": care.x.to_numpy(), "lat": care.y.to_numpy()}),
        f"panel_care_{code}", crs)
    if st.button(t("clear_selection", L)):
        set_param("sel", None)
        st.rerun(scope="fragment")
    from dashboard.views.assign_panel import assignment_section  # 责任人调整, 变更记录

    assignment_section(store, d)


def _lookup(store: StoreView, code: str) -> tuple[lookup.Detail, pd.DataFrame]:
    """The detail of a grid or building and the tickets of its grid — the one source of
    tickets, in scope, but only that grid's (a city holds 200,000). KeyError for a code that
    is unknown or outside the account's scope."""
    data = store.data
    settings = Settings(as_of=store.as_of) if store.as_of else DEFAULT_SETTINGS
    if (data.grids["code"] == code).any():
        tickets = store.ticket_frame(grid_code=code)
        return lookup.grid_detail(data, code, settings, tickets=tickets), tickets
    grid = data.buildings.loc[(data.buildings["code"] == code).to_numpy(), "grid_code"]
    if grid.empty:
        raise KeyError(code)
    tickets = store.ticket_frame(grid_code=str(grid.iloc[0]))
    return lookup.building_detail(data, code, settings, tickets=tickets), tickets


def search_box(store: StoreView) -> None:
    L = lang()
    q = st.sidebar.text_input(t("search", L), value=st.query_params.get("q", ""), key="search")
    set_param("q", q or None)
    if not q:
        return
    hits = lookup.search(store.data, q)
    if not hits:
        st.sidebar.caption(t("no_results", L))
        return
    labels = {f"{t(h.kind, L)} · {md(h.label)}": h for h in hits}  # radio renders Markdown
    pick = st.sidebar.radio(t("search_results", L), list(labels), index=None, key="search_pick")
    if pick is not None:
        hit = labels[pick]
        if hit.target and hit.target != st.query_params.get("sel"):
            set_param("sel", hit.target)
            g = store.data.grids
            grid = hit.target if (g["code"] == hit.target).any() else \
                store.data.buildings.set_index("code")["grid_code"].get(hit.target)
            comm = g.set_index("code")["community_code"].get(grid) if grid else None
            if comm:
                set_param("c", comm)
            st.rerun()


def render() -> None:
    L = lang()
    store = StoreView()
    st.title(t("page_map", L))
    fictional_banner(store)
    as_of_picker(store)
    search_box(store)
    community, tiles = controls(store, "map")
    _map_and_detail(community, tiles)


@st.fragment
def _map_and_detail(community: str | None, tiles: mapview.TileSource) -> None:
    """The map and the detail panel: a click on the map reruns only this part (the map
    stays mounted; the panel is redrawn)."""
    with user_errors():  # an error inside a fragment is shown inside it, in plain words
        store = StoreView()  # the current version: an edit in the panel changes it
        left, right = st.columns([2.6, 1.2])
        with left:
            show_map(store, community, tiles, "map")
        with right:
            detail_panel(store, st.query_params.get("sel"), tiles.crs)
