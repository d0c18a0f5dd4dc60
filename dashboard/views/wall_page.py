"""大屏 — the leaders' wall screen at ``/wall``: one 1920×1080 screen, dark, no chrome,
refreshing itself, read from 5 m (no text under :data:`MIN_FONT_PX`).

URL parameters: ``c`` a community code (each community's screen has its own link; an unknown
code says so and shows the whole area), ``refresh`` seconds between refreshes (default 30),
``rotate=1`` to cycle through the whole area and each community (title, map and figures),
``at`` an ISO time to freeze the clock (for rehearsals and tests).

The whole screen is one ``st.fragment(run_every=…)``. The map is rendered once
(:mod:`dashboard.mapframe`, dark style) and stays mounted: a refresh resends the same strings,
and only a change of what is shown (rotation) moves the map, through its dynamic layer (the
shown community's outline and a fit to its bounds), so a refresh never rebuilds the map or
loses its view.
"""

from __future__ import annotations

import datetime as dt
import json
import time

import altair as alt
import folium
import numpy as np
import pandas as pd
import shapely
import streamlit as st

from dashboard import chrome, mapframe, mapview
from dashboard.i18n import t
from dashboard.state import StoreView, lang, map_data, query_int, reach_analysis, user_errors
from dashboard.text import html, percent
from layers import clock
from layers.wall import WallSnapshot, rotation_scope, wall_snapshot

DEFAULT_REFRESH_S = 30
#: ``?refresh=`` is clamped to this range (a huge value overflows the browser's timer and
#: makes it rerun without pause; a tiny one floods the server)
REFRESH_RANGE_S = (5, 3600)
#: Nothing a leader must read from 5 m on a 1080p screen is smaller than this (key figures
#: are much bigger).
MIN_FONT_PX = 20
#: Heights (px) laid out for a 1920×1080 screen: the map beside the figures, the charts.
MAP_HEIGHT = 830
CHART_HEIGHT = 250
RANKING_HEIGHT = 470
#: Most alert lines shown (they fill the block beside the ranking).
MAX_ALERTS = 8
#: A ``?c=`` value is echoed (escaped) up to this length in the "unknown community" notice.
MAX_ECHO = 32

INK, MUTED, ACCENT = "#e6edf3", "#a9bdd2", "#ffcc66"
#: Received and closed tickets (Okabe–Ito sky blue and orange).
SERIES_COLOURS = ["#56B4E9", "#E69F00"]
PANEL, GRID_LINE = "#13223d", "#22324f"

_KIOSK_CSS = f"""
<style>
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"],
header[data-testid="stHeader"], [data-testid="stToolbar"], [data-testid="stDecoration"],
[data-testid="stStatusWidget"], footer {{display: none !important;}}
.stApp {{background: #0b1426;}}
.stApp, .stApp p, .stApp span, .stApp label, .stApp li, .stApp h1 {{color: {INK};}}
.block-container {{padding: 0.5rem 1.2rem 0 1.2rem !important; max-width: 100% !important;}}
[data-testid="stMetric"] {{background: {PANEL}; border-radius: 8px; padding: 4px 14px 6px;}}
[data-testid="stMetricValue"] {{font-size: clamp(26px, 2.7vw, 52px) !important; line-height: 1.15 !important;
  color: #ffffff !important;}}
[data-testid="stMetricLabel"] p, [data-testid="stMetricLabel"] div {{font-size: 22px !important;
  color: {MUTED} !important; white-space: normal !important; overflow: visible !important;
  line-height: 1.25 !important;}}
.st-key-wall-tiles-2 [data-testid="stMetricLabel"] {{min-height: 56px;}}
h1.wall-title {{font-size: 40px !important; line-height: 1.2 !important; margin: 0 !important;
  padding: 0 !important; font-weight: 700; white-space: nowrap; overflow: hidden;
  text-overflow: ellipsis;}}
.stApp .wall-sub {{font-size: 22px !important; margin: 0; line-height: 1.4;}}
.wall-sub .wall-label {{color: {ACCENT} !important;}}
.wall-sub .wall-note {{color: #ff9e80 !important; font-weight: 600;}}
.stApp .wall-h {{font-size: 24px !important; font-weight: 700; margin: 0 0 4px 0;}}
.wall-alerts {{background: {PANEL}; border-radius: 8px; padding: 8px 14px; overflow: hidden;
  height: {RANKING_HEIGHT}px; box-sizing: border-box;}}
.stApp .wall-alert {{font-size: 22px !important; line-height: 1.45; margin: 0;}}
.stApp .wall-legend {{font-size: {MIN_FONT_PX}px !important; line-height: 1.5; display: flex; flex-wrap: wrap;
  column-gap: 18px; row-gap: 2px; align-items: center; margin: 0;}}
.wall-legend .lh {{color: {MUTED}; font-weight: 700;}}
.wall-legend .sw {{display: inline-block; width: 18px; height: 18px; margin-right: 6px;
  vertical-align: -2px; box-sizing: border-box;}}
.wall-legend .badge {{display: inline-block; width: 26px; height: 26px; line-height: 24px;
  border-radius: 50%; color: #fff; font-size: {MIN_FONT_PX}px; font-weight: 700;
  text-align: center; margin-right: 6px; border: 1.5px solid #fff;}}
div[data-testid="stVerticalBlock"] {{gap: 0.5rem;}}
@media (max-width: 900px) {{h1.wall-title {{white-space: normal; font-size: 28px !important;}}}}
</style>
"""

#: Inside the map's iframe: the wall's type size for what the map itself writes (cluster
#: counts, badges, scale bar, credits, zoom buttons); the legend is drawn beside the map.
_MAP_CSS = (
    ".wg-legend{display:none}"
    ".marker-cluster div{width:38px;height:38px;margin:1px;border-radius:19px}"
    f".marker-cluster span{{font-size:{MIN_FONT_PX}px;line-height:38px}}"
    f".wg-badge{{width:28px;height:28px;line-height:28px;font-size:{MIN_FONT_PX}px;"
    "margin:-3px 0 0 -3px}"
    f".leaflet-control-scale-line,.leaflet-control-attribution{{font-size:{MIN_FONT_PX}px;"
    "line-height:1.3}"
    ".leaflet-control-zoom a{font-size:28px !important;width:40px !important;"
    "height:40px !important;line-height:40px !important}"
    f".leaflet-tooltip{{font-size:{MIN_FONT_PX}px}}"
)

_CLOCK = """
<div id="c" style="font:600 min(34px, 8.5vw) sans-serif;color:#fff;text-align:right;
  white-space:nowrap"></div>
<script>
const fixed = {fixed};
const locale = {locale};
function tick() {{
  const d = fixed ? new Date(fixed) : new Date();
  document.getElementById('c').textContent = d.toLocaleString(locale, {{hour12: false}});
}}
tick(); if (!fixed) setInterval(tick, 1000);
</script>
"""


def _frozen() -> dt.datetime | None:
    """``?at=`` as a time, or None (also for anything that is not an ISO time)."""
    at = st.query_params.get("at")
    if at:
        try:
            return dt.datetime.fromisoformat(at).replace(tzinfo=None)
        except ValueError:
            return None
    return None


def _now() -> dt.datetime:
    """``?at=`` (a rehearsal), else the product's one clock."""
    return _frozen() or clock.now()


# ---------------------------------------------------------------------------------------------
# the map


@st.cache_resource(show_spinner=False, max_entries=8)
def _wall_frame(key: str, version: int, lang_: str,  # noqa: PLR0913 - the cache key
                tickets_version: tuple[int, str], as_of: str | None, scope: tuple
                ) -> mapframe.Frame:
    """The whole area's map in the dark style, rendered once per (store, language,
    tickets, as-of day, scope); a community is shown by moving this map, never rebuilding it."""
    md = map_data(key, version, None, "wgs84", lang_, tickets_version, as_of, scope)
    m = mapview.build_map(md, mapview.tile_sources()["none"], lang=lang_, dark=True)
    mapview.MapScript("var css = document.createElement('style');"
                      f"css.textContent = {json.dumps(_MAP_CSS)};"
                      "document.head.appendChild(css);").add_to(m)
    return mapframe.render(m)


#: Fit the map to BOUNDS now, whenever the frame changes size, and again while it settles
#: (its final size is set after the dynamic layer runs) unless the viewer has touched it.
_FIT_JS = """var m = window.map, b = BOUNDS, c = m.getContainer(), touched = false;
m.options.zoomSnap = 0.25;
function fit() { m.invalidateSize(); m.fitBounds(b, {padding: [16, 16], animate: false}); }
['mousedown', 'wheel', 'touchstart', 'keydown'].forEach(function(e) {
    c.addEventListener(e, function() { touched = true; }, true); });
if (window.__wallFit) { m.off('resize', window.__wallFit); }
window.__wallFit = fit; m.on('resize', fit); fit();
[300, 1000, 2500].forEach(function(ms) { setTimeout(function() {
    if (!touched && window.__wallFit === fit) { fit(); } }, ms); });"""


def _focus_layer(store: StoreView, scope: str | None, L: str) -> folium.FeatureGroup:
    """The map's dynamic layer: the shown community's outline (none for the whole area) and
    a fit to its bounds. It changes only when what is shown changes, so a refresh leaves the
    map where the viewer moved it."""
    if scope is None:  # the town outline (or, in a store without one, its communities)
        geoms = store.data.towns.geometry.to_numpy()
        if not len(geoms):
            geoms = store.data.communities.geometry.to_numpy()
        fg = folium.FeatureGroup(name=t("wall_title", L), control=False)
    else:
        c = store.data.communities
        geoms = c.geometry.to_numpy()[(c["code"] == scope).to_numpy()]
        outline = mapview.feature_collection(
            shapely.transform(geoms, lambda xy: np.round(xy, 6)),
            pd.DataFrame({"s": ["sel"] * len(geoms)}))
        fg = mapview.selection_layer(outline, L) or folium.FeatureGroup(control=False)
    bounds = shapely.total_bounds(geoms)
    if np.isfinite(bounds).all():  # nothing to fit to: the map keeps the data's own view
        x0, y0, x1, y1 = (float(v) for v in bounds)
        mapview.MapScript(_FIT_JS.replace("BOUNDS", json.dumps([[y0, x0], [y1, x1]]))
                          ).add_to(fg)
    return fg


def _legend_strip(md: mapview.MapData, L: str) -> str:
    """The map's legend (:func:`mapview.legend_rows`, the colours it draws) as one wrapped
    line under the map, in the wall's type size."""
    parts = []
    for colour, label, shape in mapview.legend_rows(L, md.aggregated, md.by_town):
        text = html(label)
        if not colour:
            parts.append(f'<span class="lh">{text}</span>')
        elif shape.startswith("badge:"):
            glyph = html(shape.removeprefix("badge:"))
            parts.append(f'<span><span class="badge" style="background:{colour}">{glyph}'
                         f"</span>{text}</span>")
        else:
            parts.append(f'<span><span class="sw" style="{_swatch_css(colour, shape)}">'
                         f"</span>{text}</span>")
    return f'<div class="wall-legend">{"".join(parts)}</div>'


def _swatch_css(colour: str, shape: str) -> str:
    """The style of one legend mark (the map's shapes: area, point, ring, band, line)."""
    return {"square": f"background:{colour};border-radius:3px",
            "band": f"background:{colour};opacity:.55;border-radius:3px",
            "circle": f"background:{colour};border-radius:50%;border:1.5px solid #fff",
            "ring": f"background:#fff;border-radius:50%;border:3px solid {colour}",
            "line": f"height:0;border-top:4px solid {colour}"}.get(shape, f"background:{colour}")


def _map(store: StoreView, scope: str | None, L: str) -> None:
    """The dark map, following what is shown, with its legend beneath."""
    frame = _wall_frame(store.key, store.version, L, store.tickets.version(),
                        store.as_of, store.scope)
    mapframe.show(frame, key="wall_map", height=MAP_HEIGHT, returned_objects=[],
                  feature_groups=[_focus_layer(store, scope, L)])
    md = store.map_data(None, "wgs84")
    st.markdown(_legend_strip(md, L), unsafe_allow_html=True)


# ---------------------------------------------------------------------------------------------
# figures


def _dark(chart: alt.Chart, height: int) -> alt.Chart:
    """The wall's chart style: dark, SVG (so every label is text in the page), type no
    smaller than :data:`MIN_FONT_PX`."""
    return chart.properties(
        height=height, background="transparent",
        usermeta={"embedOptions": {"renderer": "svg", "actions": False}},
    ).configure_axis(
        labelColor=INK, titleColor=INK, gridColor=GRID_LINE, labelFontSize=MIN_FONT_PX,
        titleFontSize=MIN_FONT_PX, labelLimit=260,
    ).configure_legend(
        labelColor=INK, titleColor=INK, labelFontSize=MIN_FONT_PX, titleFontSize=MIN_FONT_PX,
        symbolSize=220,
    ).configure_view(stroke=None).configure_title(
        color=INK, fontSize=24, anchor="start", offset=6)


def _tiles(snap: WallSnapshot, L: str) -> None:
    row1 = st.columns(4)
    row1[0].metric(t("wall_open", L), f"{snap.open_tickets:,}")
    row1[1].metric(t("wall_new_today", L), f"{snap.new_today:,}")
    row1[2].metric(t("wall_closed_today", L), f"{snap.closed_today:,}")
    row1[3].metric(t("wall_overdue", L), f"{snap.overdue:,}")
    row2 = st.container(key="wall-tiles-2").columns(5)  # labels of two lines (as in English)
    row2[0].metric(t("wall_closure_month", L), percent(snap.closure_rate_month))
    row2[1].metric(t("wall_on_time_month", L), percent(snap.on_time_rate_month))
    row2[2].metric(t("grid_coverage", L), percent(snap.grid_coverage))
    row2[3].metric(t("building_coverage", L), percent(snap.building_coverage))
    if snap.elder_reach_500m is not None:
        row2[4].metric(t("wall_elder_500", L), percent(snap.elder_reach_500m))


def _charts(snap: WallSnapshot, L: str) -> None:
    c1, c2 = st.columns([1.25, 1])
    per_day = snap.per_day.melt("date", var_name="what", value_name="n")
    per_day["what"] = per_day["what"].map({"received": t("kpi_received", L),
                                           "closed": t("kpi_closed", L)})
    c1.altair_chart(_dark(alt.Chart(per_day, title=t("wall_per_day", L)).mark_line(
        point=True, strokeWidth=3).encode(
        x=alt.X("date:T", title=None, axis=alt.Axis(format="%m-%d", tickCount=6)),
        y=alt.Y("n:Q", title=None, axis=alt.Axis(tickCount=4, format="d", tickMinStep=1)),
        color=alt.Color("what:N", title=None, legend=alt.Legend(orient="top"), scale=alt.Scale(
            domain=[t("kpi_received", L), t("kpi_closed", L)], range=SERIES_COLOURS))),
        CHART_HEIGHT), width="stretch")
    cat = snap.by_category.head(6).assign(
        label=lambda d: d["category"].map(lambda c: t(f"cat_{c}", L)))
    c2.altair_chart(_dark(alt.Chart(cat, title=t("wall_by_category", L)).mark_bar(
        color="#4cc2ff").encode(
        x=alt.X("received_30d:Q", title=None,
                axis=alt.Axis(tickCount=4, format="d", tickMinStep=1)),
        y=alt.Y("label:N", title=None, sort="-x", axis=alt.Axis(labelOverlap=False))),
        CHART_HEIGHT), width="stretch")


def _alert_lines(snap: WallSnapshot, L: str) -> list[str]:
    """The alert lines (escaped HTML): grids that lost their sentinel, then the most
    overdue tickets, :data:`MAX_ALERTS` at most."""
    lines = [f"⚠ {html(r.name)} {t('wall_lost_sentinel', L)} · {html(r.until)}"
             for r in snap.lost_sentinel.head(3).itertuples()]
    for r in snap.overdue_list.head(MAX_ALERTS - len(lines)).itertuples():
        days = t("wall_days_over_n", L).format(n=f"{r.days_over:.0f}")
        lines.append(f"● {html(r.id)} · {html(t(f'cat_{r.category}', L))} · {days}")
    return lines


def _ranking_and_alerts(snap: WallSnapshot, names: dict[str, str], L: str) -> None:
    c1, c2 = st.columns([1, 1.1])
    rk = snap.ranking.head(12).assign(
        name=lambda d: d["community_code"].map(lambda c: names.get(c, c)),
        rate=lambda d: d["on_time_rate"].fillna(0))
    c1.altair_chart(_dark(alt.Chart(rk, title=t("wall_ranking", L)).mark_bar(
        color="#36d399").encode(
        x=alt.X("rate:Q", title=None, axis=alt.Axis(format="%", tickCount=3),
                scale=alt.Scale(domain=[0, 1])),
        y=alt.Y("name:N", title=None, sort="-x", axis=alt.Axis(labelOverlap=False)),
        tooltip=["name:N", alt.Tooltip("rate:Q", format=".1%")]),
        RANKING_HEIGHT), width="stretch")
    lines = _alert_lines(snap, L)
    body = "".join(f'<p class="wall-alert">{line}</p>' for line in lines) or \
        f'<p class="wall-alert">{t("wall_no_alerts", L)}</p>'
    c2.markdown(f'<div class="wall-alerts"><p class="wall-h">{t("wall_alerts", L)}</p>'
                f"{body}</div>", unsafe_allow_html=True)


# ---------------------------------------------------------------------------------------------
# the page


def _unknown_community(names: dict[str, str]) -> str | None:
    """``?c=`` when it names no community of this store (what to say so), else None."""
    raw = st.query_params.get("c")
    if not raw or raw in names:
        return None
    return raw if len(raw) <= MAX_ECHO else raw[:MAX_ECHO] + "…"


def _header(title: str, notes: list[str], fictional: bool, L: str) -> None:
    """Title (the area or community shown), the fictional-data label and notices, clock."""
    head, clock_col = st.columns([3.2, 1])
    head.markdown(f'<h1 class="wall-title">{html(title)} · {t("wall_title", L)}</h1>',
                  unsafe_allow_html=True)
    sub = [f'<span class="wall-label">⚠ {t("fictional", L)}</span>'] if fictional else []
    sub += notes
    if sub:
        head.markdown(f'<p class="wall-sub">{"　".join(sub)}</p>', unsafe_allow_html=True)
    frozen = _frozen()
    with clock_col:  # only a parsed, re-serialised time reaches the script: never the raw URL
        st.iframe(_CLOCK.format(fixed=json.dumps(frozen.isoformat()) if frozen else "null",
                                locale=json.dumps(t("wall_clock_locale", L))), height=56)


def render() -> None:
    L = lang()
    st.markdown(_KIOSK_CSS, unsafe_allow_html=True)
    store = StoreView()
    names = dict(zip(store.data.communities["code"], store.data.communities["name"],
                     strict=True))
    unknown = _unknown_community(names)
    community = st.query_params.get("c") if unknown is None else None
    community = community or None
    refresh = query_int("refresh", DEFAULT_REFRESH_S, *REFRESH_RANGE_S)
    rotate = st.query_params.get("rotate") == "1" and community is None
    town = chrome.area_title([str(n) for n in store.data.towns["name"]], L)

    @st.fragment(run_every=refresh)
    def live() -> None:
        with user_errors():  # a fragment rerun fails inside the fragment, not the page
            scope = rotation_scope(list(names), refresh, time.time()) if rotate \
                else community
            notes = []
            if unknown is not None:
                notes.append(f'<span class="wall-note">'
                             f'{html(t("wall_unknown_community", L).format(code=unknown))}'
                             "</span>")
            _header(names[scope] if scope else town, notes, store.data.fictional, L)
            _body(store, scope, names, L)

    live()


def _body(store: StoreView, scope: str | None, names: dict[str, str], L: str) -> None:
    """The map (left) and the figures (right) for ``scope`` (a community, or the area)."""
    left, right = st.columns([0.9, 1.1])
    with left:
        _map(store, scope, L)
    now = _now()
    snap = wall_snapshot(store.data, store.cov, store.ticket_frame(now=now), now, scope)
    summary = reach_analysis(store.key, store.version, store.scope)[1].summary
    level = summary[summary["code"] == (scope or "town")]
    if len(level):
        snap.elder_reach_500m = float(level["share_elder_care_500"].iloc[0])
    with right:
        _tiles(snap, L)
        _charts(snap, L)
        _ranking_and_alerts(snap, names, L)
