"""服务覆盖 — walking distance to elder care, child care and parking; life circles; parking
deficits; who could fill each grid without a sentinel."""

from __future__ import annotations

import functools
from typing import Literal

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import streamlit as st

from dashboard import mapframe, mapview, reports
from dashboard.i18n import t
from dashboard.state import (
    ScopeKey,
    StoreView,
    download,
    fictional_banner,
    go_to_row,
    lang,
    map_data,
    number_columns,
    reach_analysis,
    reach_workbook,
    scoped_data,
)
from dashboard.text import md, percent
from layers import reach as lreach
from layers.settings import DEFAULT_SETTINGS

#: Walking-distance classes, one colour each wherever they are drawn (the isochrone bands
#: and the buildings): a purple sequential scale (ColorBrewer Purples: colour-blind safe, and
#: no hue the base map uses for grids, tickets or people), darker = nearer; grey for beyond
#: the largest circle or unreachable (no service).
BANDS = ((300, "a", "#3f007d"), (500, "b", "#6a51a3"), (1000, "c", "#9e9ac8"),
         (np.inf, "d", "#969696"))
#: How opaque the isochrone bands are: the grids and roads beneath stay readable.
BAND_OPACITY = 0.5


def _band(d: np.ndarray) -> np.ndarray:
    out = np.full(len(d), "d", dtype=object)
    for limit, code, _ in reversed(BANDS):
        out[np.nan_to_num(d, nan=np.inf) <= limit] = code
    return out


def _colour(metres: float) -> str:
    """The colour of the distance class that ends at ``metres``."""
    return next(c for limit, _, c in BANDS if metres <= limit)


def _band_label(limit: float, L: str) -> str:
    finite = [lim for lim, _, _ in BANDS if np.isfinite(lim)]
    return (t("reach_band_le", L).format(d=int(limit)) if np.isfinite(limit)
            else t("reach_band_gt", L).format(d=int(max(finite))))


def network_source(source: str, L: str) -> str:
    """Where the walking network came from, as staff say it (Markdown-escaped): the area's
    roads layer, the cache, or an OSM file by its name."""
    if source in ("roads", "cache"):
        return t(f"reach_source_{source}", L)
    return md(source)


def summary_metres(thresholds: tuple[int, ...]) -> int:
    """The distance the page's summary speaks of: the middle life circle (500 m)."""
    ordered = sorted(thresholds)
    return int(ordered[len(ordered) // 2])


def _isochrone_point(store: StoreView, net, group: str, L: str) -> str | None:
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
def _reach_frame(key: str, version: int, scope: ScopeKey,  # noqa: PLR0913
                 tickets_version: tuple[int, str], group: str, chosen: str | None,
                 L: str) -> mapframe.Frame:
    """The reach map of one (store version, scope, group, isochrone point, language), rendered
    once: buildings by walking distance, the isochrone, suggested sentinels."""
    net, result, _, suggestions = reach_analysis(key, version, scope)
    data = scoped_data(key, version, scope)
    md_ = map_data(key, version, None, "wgs84", L, tickets_version, None, scope)
    m = mapview.build_map(md_, mapview.tile_sources()["none"], lang=L, url_view=True)
    ours = []
    if chosen is not None:
        p = data.care_points.set_index("code").geometry[chosen]
        ours.append(_add_isochrone_bands(
            m, lreach.isochrones(net, p.x, p.y, result.thresholds), L))
    ours.append(_add_distance_layer(m, data, result, group, L))
    if len(suggestions):
        ours.append(_add_suggestions(m, data, suggestions, L))
    _keep_on_top(m, ours)
    _add_reach_legend(m, group, chosen is not None, result.thresholds, L)
    return mapframe.render(m)


def _keep_on_top(m: folium.Map, layers: list[mapview.VectorLayer]) -> None:
    """Keep this page's layers above the base map's, in their order: the base map adds its
    buildings when zoomed in (after ours, so on top of them), so ours come forward again
    after every zoom and once the map has opened."""
    names = ", ".join(layer.get_name() for layer in layers)
    mapview.MapScript(
        f"function front() {{ [{names}].forEach(function(l) {{"
        " if (map.hasLayer(l) && l.bringToFront) { l.bringToFront(); } }); }"
        " map.on('zoomend', function() { setTimeout(front, 0); });"
        " map.whenReady(function() { setTimeout(front, 0); });").add_to(m)


def isochrone_rings(iso: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The isochrones as rings that do not overlap: ≤300 m, 300–500 m, 500–1000 m (each
    band's own area, so semi-transparent fills do not stack), nearest first."""
    iso = iso.sort_values("distance_m", ignore_index=True)
    geoms = iso.geometry.to_numpy()
    rings = [geoms[0], *(shapely.difference(geoms[i], geoms[i - 1])
                         for i in range(1, len(geoms)))]
    return gpd.GeoDataFrame({"distance_m": iso["distance_m"], "minutes": iso["minutes"]},
                            geometry=rings, crs=iso.crs)


def _add_isochrone_bands(m: folium.Map, iso: gpd.GeoDataFrame, L: str
                         ) -> mapview.VectorLayer:
    """Filled walking bands around the chosen point, and the map opened on them."""
    rings = isochrone_rings(iso)
    styles = {str(r.distance_m): {"fillColor": _colour(r.distance_m), "color": _colour(
        r.distance_m)} for r in rings.itertuples()}
    tips = [t("reach_iso_tip", L).format(d=r.distance_m, m=f"{r.minutes:.0f}")
            for r in rings.itertuples()]
    layer = mapview.VectorLayer(mapview.feature_collection(
        rings.geometry.to_numpy(), pd.DataFrame({"s": rings["distance_m"].astype(str),
                                                  "tt": tips})),
        t("reach_iso_legend", L), styles=styles,
        base={"weight": 2, "opacity": 0.9, "fillOpacity": BAND_OPACITY})
    layer.add_to(m)
    minx, miny, maxx, maxy = iso.total_bounds
    m.fit_bounds([[miny, minx], [maxy, maxx]])
    return layer


def _add_suggestions(m: folium.Map, data, suggestions: pd.DataFrame,  # noqa: ANN001
                     L: str) -> mapview.VectorLayer:
    """Suggested sentinels at their homes, the grid and distance in the tooltip."""
    people = data.people.set_index("person_id")
    pts = people.geometry.reindex(suggestions["person_id"]).to_numpy()
    tips = [t("reach_suggest_tip", L).format(name=n, grid=g, d=f"{d:,.0f}") for n, g, d in zip(
        mapview.escape(suggestions["name"]), mapview.escape(suggestions["grid_code"]),
        pd.to_numeric(suggestions["distance_m"]), strict=True)]
    layer = mapview.VectorLayer(mapview.feature_collection(pts, pd.DataFrame({"tt": tips})),
                                t("suggestions", L), base={
                                    "radius": 7, "color": "#fff", "weight": 2,
                                    "fillColor": "#e7298a", "fillOpacity": 1})
    layer.add_to(m)
    return layer


def _add_reach_legend(m: folium.Map, group: str, bands: bool, thresholds: tuple[int, ...],
                      L: str) -> None:
    """The legend of what this page adds: the isochrone bands and the buildings' classes."""
    rows: list[tuple[str, str, str]] = []
    if bands:
        rows.append(("", t("reach_iso_legend", L), ""))
        rows += [(_colour(d), t("reach_band_le", L).format(d=d), "band") for d in thresholds]
    rows.append(("", t("reach_bld_legend", L).format(service=t(f"reach_svc_{group}", L)), ""))
    rows += [(c, _band_label(limit, L), "square") for limit, _, c in BANDS]
    mapview.add_legend(m, t("reach_legend", L), rows, position="bottomright")


def _add_distance_layer(m: folium.Map, data, result, group: str,  # noqa: ANN001
                        L: str) -> mapview.VectorLayer:
    """Buildings coloured by walking distance to the group's nearest service."""
    b = data.buildings
    d = result.buildings[f"{group}_m"].to_numpy()
    tip = (mapview.escape(b["name"]).values + "<br>" + t("distance_m", L) + " "
           + pd.Series(np.round(d)).astype("Int64").astype(str).replace("<NA>", "—").values)
    layer = mapview.VectorLayer(mapview.feature_collection(
        mapview._round(b.geometry.to_numpy(), 6), pd.DataFrame({"s": _band(d), "tt": tip})),
        t(f"reach_{group}", L), base={"weight": 0.6, "color": "#333", "fillOpacity": 0.9},
        styles={code: {"fillColor": colour} for _, code, colour in BANDS})
    layer.add_to(m)
    return layer


def _summary(store: StoreView, result, group: str, L: str) -> None:  # noqa: ANN001
    """The planner's sentence first: how many households have no such service within the
    middle life circle, and in which communities most of them live."""
    d = summary_metres(result.thresholds)
    n, total, per = reports.households_beyond(result.buildings, group, d)
    service = t(f"reach_svc_{group}", L)
    if n == 0:
        st.success(t("reach_summary_none", L).format(d=d, service=service))
        return
    names = dict(zip(store.data.communities["code"], store.data.communities["name"],
                     strict=True))
    places = t("reach_list_sep", L).join(
        t("reach_summary_place", L).format(name=md(names.get(c, c)), n=f"{v:,}")
        for c, v in per.head(3).items())
    st.info(t("reach_summary", L).format(n=f"{n:,}", pct=percent(n / max(total, 1)), d=d,
                                         service=service)
            + " " + t("reach_summary_where", L).format(places=places))


def _tiles(result, group: str, L: str) -> None:  # noqa: ANN001
    town = result.summary[result.summary["level"] == "town"].iloc[0]
    cols = st.columns(len(result.thresholds))
    for c, d in zip(cols, result.thresholds, strict=True):
        minutes = d / DEFAULT_SETTINGS.walk_speed_m_per_min
        c.metric(t("reach_within_label", L).format(d=d, m=f"{minutes:.0f}"),
                 percent(town[f"share_{group}_{d}"]))


def _by_community(store: StoreView, result, group: str, L: str) -> None:  # noqa: ANN001
    """Life-circle shares per community, in percent like the figures above."""
    names = dict(zip(store.data.communities["code"], store.data.communities["name"],
                     strict=True))
    table = reports.reach_circles(result.summary, L, names=names, level="community",
                                  groups=(group,))
    shares = [c for c in table.columns if c not in (t("col_community_name", L),
                                                    t("households", L))]
    table[shares] = table[shares] * 100
    st.subheader(t("reach_by_community", L))
    st.dataframe(table, hide_index=True, width="stretch", column_config={
        **number_columns(table),
        **{c: st.column_config.NumberColumn(format="%.1f%%") for c in shares}})


def _table(df: pd.DataFrame, height: int | Literal["auto"] = "auto", *,
           places: np.ndarray | None = None, key: str | None = None) -> None:
    """A table of the page: numbers with thousands separators like the figures; with
    ``places`` (a point per row, WGS-84) a row picked moves the map to it."""
    if places is None or key is None:
        st.dataframe(df, hide_index=True, width="stretch", height=height,
                     column_config=number_columns(df))
        return
    st.dataframe(df, hide_index=True, width="stretch", height=height,
                 column_config=number_columns(df), key=key, selection_mode="single-row",
                 on_select=functools.partial(go_to_row, key, list(places), _GOTO))


#: Session key: where the reach map goes (a row picked in a table), ((lat, lon), zoom)
_GOTO = "reach_goto"


def _points(frame: pd.DataFrame, codes: pd.Series) -> np.ndarray:
    """A point inside each feature of ``frame`` (a layer, by code) named by ``codes``."""
    geoms = frame.set_index("code").geometry.reindex(codes.to_numpy()).to_numpy()
    return shapely.point_on_surface(geoms)


def _details(store: StoreView, result, parking: pd.DataFrame, suggestions: pd.DataFrame,  # noqa: ANN001
             group: str, L: str) -> None:
    """The tables behind the summary: parking deficits, suggested sentinels, the buildings
    beyond the largest circle."""
    data = store.data
    names = dict(zip(data.communities["code"], data.communities["name"], strict=True))
    st.subheader(t("reach_parking_deficits", L))
    deficit = parking[parking["balance"] < 0].head(15)
    _table(reports.reach_parking(deficit, L, names=names),
           places=_points(data.grids, deficit["grid_code"]), key="reach_rows_parking")
    st.subheader(t("suggestions", L))
    st.caption(t("reach_suggestions_rule", L))
    _table(reports.reach_suggestions(suggestions, L,
                                     held=reports.duties_held(data, store.cov)),
           places=_points(data.grids, suggestions["grid_code"]) if len(suggestions) else None,
           key="reach_rows_suggestions")
    b = result.buildings
    d = pd.to_numeric(b[f"{group}_m"])
    far = b[(d.isna() | (d > max(result.thresholds))).to_numpy()]
    st.subheader(t("cov_title_count", L).format(title=t("reach_beyond", L), n=f"{len(far):,}"))
    _table(reports.reach_buildings(
        far, L, names=names, groups=(group,),
        building_names=dict(zip(data.buildings["code"], data.buildings["name"], strict=True))),
        height=260, places=_points(data.buildings, far["code"]), key="reach_rows_far")


def render() -> None:
    L = lang()
    store = StoreView()
    st.title(t("page_reach", L))
    fictional_banner(store)
    net, result, parking, suggestions = reach_analysis(store.key, store.version, store.scope)
    st.caption(t("reach_method_network", L).format(nodes=f"{net.n_nodes:,}",
                                                   source=network_source(net.source, L))
               if net is not None else t("reach_method_straight", L))
    group = st.radio(t("reach_group", L), lreach.GROUPS, horizontal=True,
                     format_func=lambda g: t(f"reach_{g}", L), key="reach_group")
    _summary(store, result, group, L)
    _tiles(result, group, L)
    chosen = _isochrone_point(store, net, group, L)
    frame = _reach_frame(store.key, store.version, store.scope, store.tickets.version(),
                         group, chosen, L)
    center, zoom = st.session_state.get(_GOTO) or (None, None)  # a row picked below
    mapframe.show(frame, key=f"reach_map_{group}", height=560, returned_objects=[],
                  center=center, zoom=zoom)
    _by_community(store, result, group, L)
    _details(store, result, parking, suggestions, group, L)
    download(store, t("reach_download", L),
             reach_workbook(store.key, store.version, store.scope, L),
             f"{t('reach_file', L)}.xlsx",
             "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
