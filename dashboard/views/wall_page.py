"""大屏 — the leaders' wall screen at ``/wall``: one 1920×1080 screen, dark, no chrome,
refreshing itself.

URL parameters: ``c`` a community code (each community's screen has its own link),
``refresh`` seconds between refreshes (default 30), ``rotate=1`` to cycle the figures through
the communities, ``at`` an ISO time to freeze the clock (for rehearsals and tests).
The map sits outside the refreshing fragment, so it keeps its view and never flickers.
"""

from __future__ import annotations

import datetime as dt
import json
import time

import altair as alt
import streamlit as st
from streamlit_folium import st_folium

from dashboard import mapview
from dashboard.i18n import t
from dashboard.state import Store, lang, query_int, reach_analysis, user_errors
from dashboard.text import html, md
from layers import clock
from layers.wall import WallSnapshot, wall_snapshot

DEFAULT_REFRESH_S = 30
#: ``?refresh=`` is clamped to this range (a huge value overflows the browser's timer and
#: makes it rerun without pause; a tiny one floods the server)
REFRESH_RANGE_S = (5, 3600)

_KIOSK_CSS = """
<style>
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"],
header[data-testid="stHeader"], [data-testid="stToolbar"], [data-testid="stDecoration"],
[data-testid="stStatusWidget"], footer {display: none !important;}
.stApp {background: #0b1426;}
.stApp, .stApp p, .stApp span, .stApp label, .stApp li, .stApp h1, .stApp h2, .stApp h3
  {color: #e6edf3;}
.block-container {padding: 0.6rem 1.2rem 0 1.2rem !important; max-width: 100% !important;}
[data-testid="stMetric"] {background: #13223d; border-radius: 8px; padding: 6px 12px;}
[data-testid="stMetricValue"] {font-size: 2.5rem !important; color: #ffffff !important;}
[data-testid="stMetricLabel"] p {font-size: 1.05rem !important; color: #9fb3c8 !important;}
h1 {font-size: 2.1rem !important; margin: 0 !important; padding: 0 !important;}
.wall-label {color: #ffcc66 !important; font-size: 1.05rem;}
.wall-alert {font-size: 1.0rem; line-height: 1.55; margin: 0;}
div[data-testid="stVerticalBlock"] {gap: 0.45rem;}
</style>
"""

_CLOCK = """
<div id="c" style="font:600 34px sans-serif;color:#fff;text-align:right;
  letter-spacing:1px"></div>
<script>
const fixed = {fixed};
function tick() {{
  const d = fixed ? new Date(fixed) : new Date();
  document.getElementById('c').textContent = d.toLocaleString('zh-CN', {{hour12: false}});
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


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{v:.1%}"


def _dark(chart: alt.Chart, height: int) -> alt.Chart:
    return chart.properties(height=height, background="transparent").configure_axis(
        labelColor="#c9d6e3", titleColor="#c9d6e3", gridColor="#22324f", labelFontSize=13,
    ).configure_legend(labelColor="#c9d6e3", titleColor="#c9d6e3", labelFontSize=13
                       ).configure_view(stroke=None).configure_title(color="#e6edf3",
                                                                      fontSize=16)


def _tiles(snap: WallSnapshot, L: str) -> None:
    row1 = st.columns(4)
    row1[0].metric(t("wall_open", L), f"{snap.open_tickets:,}")
    row1[1].metric(t("wall_new_today", L), f"{snap.new_today:,}")
    row1[2].metric(t("wall_closed_today", L), f"{snap.closed_today:,}")
    row1[3].metric(t("wall_overdue", L), f"{snap.overdue:,}")
    row2 = st.columns(5)
    row2[0].metric(t("wall_closure_month", L), _pct(snap.closure_rate_month))
    row2[1].metric(t("wall_on_time_month", L), _pct(snap.on_time_rate_month))
    row2[2].metric(t("grid_coverage", L), _pct(snap.grid_coverage))
    row2[3].metric(t("building_coverage", L), _pct(snap.building_coverage))
    if snap.elder_reach_500m is not None:
        row2[4].metric(t("wall_elder_500", L), _pct(snap.elder_reach_500m))


def _charts(snap: WallSnapshot, names: dict[str, str], L: str) -> None:
    c1, c2 = st.columns([1.25, 1])
    per_day = snap.per_day.melt("date", var_name="what", value_name="n")
    per_day["what"] = per_day["what"].map({"received": t("kpi_received", L),
                                           "closed": t("kpi_closed", L)})
    c1.altair_chart(_dark(alt.Chart(per_day, title=t("wall_per_day", L)).mark_line(
        point=True).encode(x=alt.X("date:T", title=None, axis=alt.Axis(format="%m-%d")),
                           y=alt.Y("n:Q", title=None),
                           color=alt.Color("what:N", title=None,
                                           legend=alt.Legend(orient="top"))), 230),
        width="stretch")
    cat = snap.by_category.head(8).assign(
        label=lambda d: d["category"].map(lambda c: t(f"cat_{c}", L)))
    c2.altair_chart(_dark(alt.Chart(cat, title=t("wall_by_category", L)).mark_bar(
        color="#4cc2ff").encode(x=alt.X("received_30d:Q", title=None),
                                y=alt.Y("label:N", title=None, sort="-x",
                                        axis=alt.Axis(labelOverlap=False, labelFontSize=12))),
                          230),
        width="stretch")


def _ranking_and_alerts(snap: WallSnapshot, names: dict[str, str], L: str) -> None:
    c1, c2 = st.columns([1.25, 1])
    rk = snap.ranking.head(12).assign(
        name=lambda d: d["community_code"].map(lambda c: names.get(c, c)),
        rate=lambda d: d["on_time_rate"].fillna(0))
    c1.altair_chart(_dark(alt.Chart(rk, title=t("wall_ranking", L)).mark_bar(
        color="#36d399").encode(x=alt.X("rate:Q", title=None, axis=alt.Axis(format="%"),
                                        scale=alt.Scale(domain=[0, 1])),
                                y=alt.Y("name:N", title=None, sort="-x",
                                        axis=alt.Axis(labelOverlap=False, labelFontSize=12)),
                                tooltip=["name:N", alt.Tooltip("rate:Q", format=".1%")]),
                          300), width="stretch")
    with c2:
        st.markdown(f"**{t('wall_alerts', L)}**")
        lines = []
        for r in snap.lost_sentinel.head(4).itertuples():
            lines.append(f"⚠ {html(r.name)} {t('wall_lost_sentinel', L)}（{html(r.until)}）")
        for r in snap.overdue_list.head(9 - len(lines)).itertuples():
            lines.append(f"● {html(r.id)} · {html(t(f'cat_{r.category}', L))} · "
                         f"{t('wall_days_over', L)} {r.days_over:g}")
        st.markdown("".join(f'<p class="wall-alert">{line}</p>' for line in lines)
                    or t("wall_no_alerts", L), unsafe_allow_html=True)


def render() -> None:
    L = lang()
    st.markdown(_KIOSK_CSS, unsafe_allow_html=True)
    store = Store()
    names = dict(zip(store.data.communities["code"], store.data.communities["name"],
                     strict=True))
    community = st.query_params.get("c") or None
    if community not in names:
        community = None
    refresh = query_int("refresh", DEFAULT_REFRESH_S, *REFRESH_RANGE_S)
    rotate = st.query_params.get("rotate") == "1" and community is None
    town = "、".join(store.data.towns["name"].astype(str))
    head, clock = st.columns([3, 1])
    title = names[community] if community else town
    head.markdown(f"# {md(title)} · {t('wall_title', L)}")
    if store.data.fictional:
        head.markdown(f'<span class="wall-label">⚠ {t("fictional", L)} · '
                      f'{html(store.data.meta.get("label_en", ""))}</span>',
                      unsafe_allow_html=True)
    frozen = _frozen()
    with clock:  # only a parsed, re-serialised time reaches the script: never the raw URL
        st.iframe(_CLOCK.format(fixed=json.dumps(frozen.isoformat()) if frozen else "null"),
                  height=52)
    left, right = st.columns([0.9, 1.1])
    with left:  # outside the fragment: keeps its view while the figures refresh
        map_data = store.map_data(community, "wgs84")
        m = mapview.build_map(map_data, mapview.tile_sources()["none"], lang=L)
        st_folium(m, key=f"wall_map_{community}", height=880, use_container_width=True,
                  returned_objects=[])

    @st.fragment(run_every=refresh)
    def live() -> None:
        with user_errors():  # a fragment rerun fails inside the fragment, not the page
            _live(store, community, names, town, refresh, rotate, L)

    with right:
        live()


def _live(store: Store, community: str | None, names: dict[str, str], town: str,
          refresh: int, rotate: bool, L: str) -> None:
    """The refreshing half of the wall: tiles, charts, ranking and alerts."""
    scope = community
    if rotate:
        order = [None, *names]
        scope = order[int(time.time() // refresh) % len(order)]
        shown = town if scope is None else names.get(scope, town)
        st.caption(f"{t('wall_showing', L)} {md(shown)}")
    now = _now()
    snap = wall_snapshot(store.data, store.cov, store.ticket_frame(now=now), now, scope)
    summary = reach_analysis(str(store.path), store.mtime, store.scope)[1].summary
    level = summary[summary["code"] == (scope or "town")]
    if len(level):
        snap.elder_reach_500m = float(level["share_elder_care_500"].iloc[0])
    _tiles(snap, L)
    _charts(snap, names, L)
    _ranking_and_alerts(snap, names, L)
