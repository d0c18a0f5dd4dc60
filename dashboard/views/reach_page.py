"""服务覆盖 — walking distance to elder care, child care and parking; life circles; parking
deficits; who could fill each grid without a sentinel."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import mapframe, mapview
from dashboard.i18n import t
from dashboard.state import (
    ScopeKey,
    Store,
    download,
    fictional_banner,
    lang,
    map_data,
    reach_analysis,
    reach_excel,
    scoped_data,
)
from dashboard.text import md
from layers import reach as lreach
from layers.settings import DEFAULT_SETTINGS

BANDS = ((300, "a", "#1a9850"), (500, "b", "#91cf60"), (1000, "c", "#fdae61"),
         (np.inf, "d", "#d73027"))


def _band(d: np.ndarray) -> np.ndarray:
    out = np.full(len(d), "d", dtype=object)
    for limit, code, _ in reversed(BANDS):
        out[np.nan_to_num(d, nan=np.inf) <= limit] = code
    return out


def _isochrone_point(store: Store, net, group: str, L: str) -> str | None:
    """The care point whose walking isochrone is drawn (none for parking or without a
    network)."""
    cp = store.data.care_points
    if net is None or group == "parking" or not len(cp):
        return None
    kinds = lreach.ELDER_CARE_KINDS if group == "elder_care" else lreach.CHILD_CARE_KINDS
    pick = cp[cp["kind"].isin(kinds)]
    return st.selectbox(t("reach_isochrone_of", L), pick["code"].tolist(),
                        # streamlit stubs: dict.get (overloaded) is no Callable
                        format_func=dict(  # type: ignore[arg-type]
                            zip(pick["code"], pick["name"], strict=True)).get,
                        key="iso_point")


@st.cache_resource(show_spinner=False, max_entries=16)
def _reach_frame(path: str, mtime: int, scope: ScopeKey,  # noqa: PLR0913
                 tickets_version: tuple[int, str], group: str, chosen: str | None,
                 L: str) -> mapframe.Frame:
    """The reach map of one (store version, scope, group, isochrone point, language), rendered
    once: buildings by walking distance, the isochrone, suggested sentinels."""
    net, result, _, suggestions = reach_analysis(path, mtime, scope)
    data = scoped_data(path, mtime, scope)
    md_ = map_data(path, mtime, None, "wgs84", L, tickets_version, None, scope)
    m = mapview.build_map(md_, mapview.tile_sources()["none"], lang=L)
    _add_distance_layer(m, data, result, group, L)
    if chosen is not None:
        p = data.care_points.set_index("code").geometry[chosen]
        iso = lreach.isochrones(net, p.x, p.y, result.thresholds)
        for row in iso.iloc[::-1].itertuples():
            mapview.VectorLayer(mapview.feature_collection(
                np.array([row.geometry]), pd.DataFrame({"tt": [
                    f"{row.distance_m} m · ≈{row.minutes:g} min"]})),
                f"{row.distance_m} m", base={"color": "#6a3d9a", "weight": 1.5,
                                             "fillOpacity": 0.08}).add_to(m)
    if len(suggestions):
        people = data.people.set_index("person_id")
        pts = people.geometry.reindex(suggestions["person_id"]).to_numpy()
        tips = (mapview.escape(suggestions["name"]).values + " → "
                + mapview.escape(suggestions["grid_code"]).values + "（"
                + suggestions["distance_m"].astype(str).values + " m）")
        mapview.VectorLayer(mapview.feature_collection(pts, pd.DataFrame({"tt": tips})),
                            t("suggestions", L), base={
                                "radius": 7, "color": "#fff", "weight": 2,
                                "fillColor": "#e7298a", "fillOpacity": 1}).add_to(m)
    return mapframe.render(m)


def _add_distance_layer(m, data, result, group: str, L: str) -> None:
    """Buildings coloured by walking distance to the group's nearest service."""
    b = data.buildings
    d = result.buildings[f"{group}_m"].to_numpy()
    tip = (mapview.escape(b["name"]).values + "<br>" + t("distance_m", L) + " "
           + pd.Series(np.round(d)).astype("Int64").astype(str).replace("<NA>", "—").values)
    layer = mapview.feature_collection(mapview._round(b.geometry.to_numpy(), 6),
                                       pd.DataFrame({"s": _band(d), "tt": tip}))
    mapview.VectorLayer(layer, t(f"reach_{group}", L), base={
        "weight": 0.6, "color": "#333", "fillOpacity": 0.9},
        styles={code: {"fillColor": colour} for _, code, colour in BANDS}).add_to(m)


def render() -> None:
    L = lang()
    store = Store()
    st.title(t("page_reach", L))
    fictional_banner(store)
    net, result, parking, suggestions = reach_analysis(str(store.path), store.mtime, store.scope)
    st.caption(t("reach_method_network", L).format(nodes=net.n_nodes, source=md(net.source))
               if net is not None else t("reach_method_straight", L))
    group = st.radio(t("reach_group", L), lreach.GROUPS, horizontal=True,
                     format_func=lambda g: t(f"reach_{g}", L), key="reach_group")
    town = result.summary[result.summary["level"] == "town"].iloc[0]
    cols = st.columns(len(result.thresholds))
    for c, d in zip(cols, result.thresholds, strict=True):
        minutes = d / DEFAULT_SETTINGS.walk_speed_m_per_min
        c.metric(f"{t('reach_within', L)} {d} m（≈{minutes:.0f} min）",
                 f"{town[f'share_{group}_{d}']:.1%}")
    left, right = st.columns([1.6, 1])
    with left:
        chosen = _isochrone_point(store, net, group, L)
        frame = _reach_frame(str(store.path), store.mtime, store.scope, store.tickets.version(),
                             group, chosen, L)
        mapframe.show(frame, key=f"reach_map_{group}", height=600, returned_objects=[])
        st.caption(" · ".join(f"{'≤' + str(int(lim)) + ' m' if np.isfinite(lim) else '> 1000 m'}"
                              for lim, _, _ in BANDS))
    with right:
        comm = result.summary[result.summary["level"] == "community"].copy()
        names = dict(zip(store.data.communities["code"], store.data.communities["name"],
                         strict=True))
        table = pd.DataFrame({t("community_filter", L): comm["code"].map(names),
                              t("households", L): comm["households"]})
        for d in result.thresholds:
            table[f"≤{d} m"] = comm[f"share_{group}_{d}"].to_numpy()
        st.subheader(t("reach_by_community", L))
        st.dataframe(table, hide_index=True, width="stretch", column_config={
            f"≤{d} m": st.column_config.NumberColumn(format="percent")
            for d in result.thresholds})
        st.subheader(t("reach_parking_deficits", L))
        deficit = parking[parking["balance"] < 0].head(15)
        st.dataframe(deficit.rename(columns={"grid_code": t("grid", L),
                                             "households": t("households", L),
                                             "supply": t("reach_supply", L),
                                             "demand": t("reach_demand", L),
                                             "balance": t("reach_balance", L)}
                                    ).drop(columns="community_code"),
                     hide_index=True, width="stretch")
        st.subheader(t("suggestions", L))
        st.caption(t("reach_suggestions_rule", L))
        st.dataframe(suggestions, hide_index=True, width="stretch")
    far = result.buildings.merge(store.data.buildings[["code", "name"]], on="code")
    far = far[far[f"{group}_m"].isna() | (far[f"{group}_m"] > max(result.thresholds))]
    st.subheader(f"{t('reach_beyond', L)}（{len(far)}）")
    st.dataframe(far[["code", "name", "households", f"{group}_m", "snap_m"]].round(0),
                 hide_index=True, width="stretch", height=260)
    download(store, t("reach_download", L), reach_excel(str(store.path), store.mtime,
                                                        store.scope),
             "服务覆盖.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
