"""The wall screen's figures against brute force, and the page's tiles against the library."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from dashboard.i18n import t
from layers.auth import Principal
from layers.coverage import coverage
from layers.tickets import TicketStore
from layers.wall import grids_that_lost_their_sentinel, wall_snapshot

#: The CLI's operator: whole area, full data (what tests that are not about
#: authorisation act as).
OP = Principal.operator()

ROOT = Path(__file__).resolve().parent.parent
AT = dt.datetime(2026, 11, 20, 15, 0)


def test_snapshot_matches_brute_force(app_store, demo):
    df = TicketStore.for_store(app_store).frame(principal=OP)
    cov = coverage(demo)
    snap = wall_snapshot(demo, cov, df, AT)
    today = pd.Timestamp("2026-11-20")
    n_open = n_new = n_closed = n_over = 0
    for r in df.itertuples():
        closed = r.status in ("closed", "closed_unresolved")
        n_open += not closed
        n_new += r.created_at >= today
        n_closed += closed and r.closed_at >= today
        n_over += (not closed) and r.deadline < pd.Timestamp(AT)
    assert (snap.open_tickets, snap.new_today, snap.closed_today, snap.overdue) == (
        n_open, n_new, n_closed, n_over)
    assert len(snap.per_day) == 30 and snap.per_day["date"].iloc[-1] == today
    assert snap.per_day["received"].iloc[-1] == n_new
    assert snap.grid_coverage == pytest.approx(
        1 - len(cov.grids_without_sentinel) / len(demo.grids), abs=1e-4)
    assert len(snap.overdue_list) == n_over
    # a community's screen counts only its tickets
    code = demo.communities.code.iloc[0]
    part = wall_snapshot(demo, cov, df, AT, community=code)
    assert part.open_tickets == int(((df.community_code == code)
                                     & ~df.status.isin(["closed", "closed_unresolved"])).sum())


def test_grids_that_lost_their_sentinel(demo):
    lost = grids_that_lost_their_sentinel(demo, dt.date(2026, 11, 20))
    cov = coverage(demo)
    assert len(lost) > 0
    assert set(lost.grid_code) <= set(cov.grids_without_sentinel)
    a = demo.assignments
    for code in lost.grid_code:  # each had a sentinel whose assignment ended
        past = a[(a.target_code == code) & (a.role == "grid_sentinel")]
        assert (~past.active).any() and past.until.notna().any()


def test_wall_page_tiles_equal_the_library(app_store, demo):
    at = AppTest.from_string(
        f"import sys; sys.path.insert(0, {str(ROOT)!r})\n"
        "from dashboard.views import wall_page\nwall_page.render()\n", default_timeout=120)
    at.query_params["at"] = AT.isoformat()
    at.run()
    assert not at.exception
    snap = wall_snapshot(demo, coverage(demo),
                         TicketStore.for_store(app_store).frame(principal=OP), AT)
    tiles = {m.label: m.value for m in at.metric}
    assert tiles["未办结工单"] == f"{snap.open_tickets:,}"
    assert tiles["今日新增"] == f"{snap.new_today:,}"
    assert tiles["超期工单"] == f"{snap.overdue:,}"
    assert tiles["本月按期结案率"] == f"{snap.on_time_rate_month:.1%}"
    assert tiles["网格哨兵覆盖率"] == f"{snap.grid_coverage:.1%}"
    assert any("示例数据" in m.value for m in at.markdown)
    from layers import network
    from layers.reach import reach

    r = reach(demo, network.from_roads(demo.roads)).summary
    share = r[r.level == "town"].share_elder_care_500.iloc[0]
    assert tiles["500米养老覆盖"] == f"{share:.1%}"  # households within 500 m walk


def test_clock_parameter_cannot_inject_script(app_store):
    at = AppTest.from_string(
        f"import sys; sys.path.insert(0, {str(ROOT)!r})\n"
        "from dashboard.views import wall_page\nwall_page.render()\n", default_timeout=120)
    at.query_params["at"] = '");alert(1);//'
    at.run()
    assert not at.exception
    html = "".join(str(e.proto) for e in at.get("iframe"))
    assert "alert(1)" not in html and "const fixed = null" in html


def _wall_app() -> AppTest:
    return AppTest.from_string(
        f"import sys; sys.path.insert(0, {str(ROOT)!r})\n"
        "from dashboard.views import wall_page\nwall_page.render()\n", default_timeout=120)


def test_rotation_shows_the_area_then_each_community_in_turn():
    from layers.wall import rotation_scope

    codes = ["a", "b", "c"]
    seen = [rotation_scope(codes, 30, s) for s in range(0, 4 * 30, 30)]
    assert seen == [None, "a", "b", "c"]
    assert rotation_scope(codes, 30, 4 * 30 + 29.9) is None  # wraps round
    assert rotation_scope(codes, 30, 59.9) == "a"  # each stays a whole period


def test_dark_map_recolours_every_line_it_draws(demo):
    """The wall's dark map: dark background, and each line layer (roads, the town and
    community outlines) recoloured for the dark (fails when a line keeps a colour drawn for
    paper, e.g. after a palette change)."""
    from dashboard import mapview

    cov = coverage(demo)
    md = mapview.prepare(demo, cov)
    tiles = mapview.tile_sources()["none"]
    dark = mapview.build_map(md, tiles, dark=True)
    light = mapview.build_map(md, tiles)
    page = dark.get_root().render()
    assert mapview.DARK_MAP["background"] in page
    assert mapview.DARK_MAP["background"] not in light.get_root().render()
    lines = [c for c in dark._children.values() if isinstance(c, mapview.VectorLayer)
             and c.layer_name in (t("roads"), t("town_boundary"), t("communities"))]
    assert len(lines) == 3
    for layer in lines:
        colour = layer.base["color"]
        assert f'path[stroke=\\"{colour}\\"]' in page, (layer.layer_name, colour)


def test_unknown_community_is_said_and_the_whole_area_shown(app_store, demo):
    cov = coverage(demo)
    snap = wall_snapshot(demo, cov, TicketStore.for_store(app_store).frame(principal=OP), AT)
    for lang_ in ("zh", "en"):
        at = _wall_app()
        at.query_params["at"] = AT.isoformat()
        at.query_params["c"] = "999<b>x</b>"
        at.query_params["lang"] = lang_
        at.run()
        assert not at.exception
        text = " ".join(m.value for m in at.markdown)
        said = t("wall_unknown_community", lang_).format(code="999&lt;b&gt;x&lt;/b&gt;")
        assert said in text and "<b>x" not in text
        town = demo.towns.name.iloc[0]
        assert f"{town} · {t('wall_title', lang_)}" in text  # the whole area's title
        tiles = {m.label: m.value for m in at.metric}
        assert tiles[t("wall_open", lang_)] == f"{snap.open_tickets:,}"


def test_english_wall_says_everything_in_english(app_store, demo):
    at = _wall_app()
    at.query_params["at"] = AT.isoformat()
    at.query_params["lang"] = "en"
    at.run()
    assert not at.exception
    labels = [m.label for m in at.metric]
    assert labels and all(not _has_cjk(label) for label in labels), labels
    assert all(m.value.endswith("%") for m in at.metric[4:])  # shares written as percent
    alerts = next(m.value for m in at.markdown if '<div class="wall-alerts">' in m.value)
    names = set(demo.grids.name)
    for name in names:  # data stays as it is; everything around it is English
        alerts = alerts.replace(name, "")
    assert not _has_cjk(alerts), alerts
    assert "days overdue" in alerts
    html_ = "".join(str(e.proto) for e in at.get("iframe"))
    assert 'const locale = \\"en-GB\\"' in html_  # the clock in the page's language


def _has_cjk(text: str) -> bool:
    return any("\u3000" <= ch <= "\u9fff" or "\uff00" <= ch <= "\uffef" for ch in text)


def test_map_moves_to_what_is_shown(demo):
    """The wall map's dynamic layer: a fit to the town, or to the community shown with its
    outline; a store without a town outline fits its communities (never NaN bounds)."""
    import json
    import types

    import shapely

    from dashboard import mapframe
    from dashboard.mapview import SELECTION_STYLE
    from dashboard.views.wall_page import _focus_layer

    def bounds_in(script: str) -> list[float]:  # [south, west, north, east]
        return sum(json.loads(script.split("b = ", 1)[1].split(", c = ", 1)[0]), [])

    store = types.SimpleNamespace(data=demo)
    town = mapframe.dynamic_script([_focus_layer(store, None, "zh")])
    x0, y0, x1, y1 = demo.towns.total_bounds
    assert bounds_in(town) == pytest.approx([y0, x0, y1, x1])
    assert SELECTION_STYLE["color"] not in town  # the whole area: no outline
    code = demo.communities.code.iloc[3]
    one = mapframe.dynamic_script([_focus_layer(store, code, "zh")])
    geom = demo.communities.geometry[(demo.communities.code == code).to_numpy()].iloc[0]
    cx0, cy0, cx1, cy1 = shapely.bounds(geom)
    assert bounds_in(one) == pytest.approx([cy0, cx0, cy1, cx1])
    assert SELECTION_STYLE["color"] in one
    bare = types.SimpleNamespace(data=demo.replace(towns=demo.towns.iloc[:0]))
    fallback = mapframe.dynamic_script([_focus_layer(bare, None, "zh")])
    assert "NaN" not in fallback
    bx0, by0, bx1, by1 = shapely.total_bounds(demo.communities.geometry)
    assert bounds_in(fallback) == pytest.approx([by0, bx0, by1, bx1])
