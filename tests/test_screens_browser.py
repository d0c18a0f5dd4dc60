"""Issue 16, every map: what a street office sees on its screens, in headless Chromium.

The legend folds on a phone and names exactly the colours drawn (one meaning per colour), the
scale bar is metric only, the view (zoom, centre, overlays) lives in the address and comes back
on a reload, grids without a sentinel are on top at the town overview and open when clicked,
a row of the detail panel's tables moves the map to it; and a screenshot of every page at
1920×1080, 1440×900 and a 390 px phone goes to ``test-artifacts/screen-<page>-<width>.png``.
"""

from __future__ import annotations

import os
import re
from urllib.parse import parse_qs, urlparse

import pytest
from browserkit import ARTIFACTS, import_file_input, streamlit_server
from conftest import copy_store

from dashboard import mapview
from layers.coverage import coverage

pytestmark = pytest.mark.skipif(
    os.environ.get("WANGGE_SKIP_BROWSER") == "1", reason="browser tests switched off")

SIZES = ((1920, 1080), (1440, 900), (390, 844))
PAGES = ("", "coverage", "reach", "tickets", "people", "data", "audit", "wall")
MAP = "iframe[title='streamlit_folium.st_folium']"


@pytest.fixture(scope="module")
def server(tmp_path_factory, demo_file):
    store = tmp_path_factory.mktemp("screens") / "town.gpkg"
    copy_store(demo_file, store)
    with streamlit_server(store) as url:
        yield url


def _page(browser, url: str, width: int = 1440, height: int = 900):
    """Open ``url`` at a size; wait until the map drew its grids; return (page, map frame)."""
    page = browser.new_page(viewport={"width": width, "height": height})
    _watch_errors(page)
    page.goto(url, wait_until="domcontentloaded")
    frame_el = page.locator(MAP).first
    frame_el.wait_for(state="attached", timeout=60_000)
    frame = page.frame_locator(MAP).first
    frame.locator("path.leaflet-interactive").first.wait_for(state="attached", timeout=60_000)
    page.wait_for_timeout(1500)  # the component renders twice; the view script runs after
    return page, frame_el.element_handle().content_frame()


def _watch_errors(page) -> None:
    """Fail the test on any script error in the page or its frames (a broken map script
    leaves a map that looks drawn but never moves to a selection)."""
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    original = page.close

    def close(*a, **kw):
        original(*a, **kw)
        assert not errors, f"script errors in the page: {errors[:3]}"
    page.close = close


def _pick_first_row(page, table) -> None:
    """Click the selection cell of a dataframe's first row (the grid is a canvas)."""
    table.scroll_into_view_if_needed()
    box = table.bounding_box()
    page.mouse.click(box["x"] + 14, box["y"] + 35 + 17)


def _wait_zoom(page, zoom: int) -> None:
    """Until the page's map is at ``zoom``."""
    page.wait_for_function(
        "(z) => { const f = document.querySelector(\"iframe[title='streamlit_folium.st_folium']\");"
        " return f.contentWindow.map_div.getZoom() === z; }", arg=zoom, timeout=20_000)


def _map_state(inner) -> dict:
    return inner.evaluate("""() => ({zoom: map_div.getZoom(), lat: map_div.getCenter().lat,
        lng: map_div.getCenter().lng})""")


def _query(page) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlparse(page.url).query).items()}


#: Normalises a CSS colour to ``rgb(r, g, b)`` in the page.
_RGB = """(c) => { const e = document.createElement('span'); e.style.color = c;
    document.body.appendChild(e); const v = getComputedStyle(e).color; e.remove(); return v; }"""


def test_legend_folds_on_a_phone_and_names_what_is_drawn(server, browser):
    page, inner = _page(browser, f"{server}/?z=15&ll=29.5976,106.2736", 1920, 1080)
    legend = inner.locator(".wg-legend details")
    assert legend.count() == 1 and legend.get_attribute("open") is not None  # open on a wall
    drawn = inner.evaluate(f"""() => {{ const rgb = {_RGB}; const out = new Set();
        for (const k in map_div._layers) {{ const o = map_div._layers[k].options || {{}};
            if (o.fillColor && o.fill !== false && o.fillOpacity > 0) out.add(rgb(o.fillColor));
        }}
        return [...out]; }}""")
    shown = inner.evaluate(f"""() => {{ const rgb = {_RGB};
        return [...document.querySelectorAll('.wg-legend .wg-sw, .wg-legend .wg-badge')].map(
            s => getComputedStyle(s).backgroundColor); }}""")
    assert len(drawn) >= 4, drawn
    missing = set(drawn) - set(shown)
    assert not missing, f"drawn but not in the legend: {missing} (legend: {shown})"
    same = {inner.evaluate(_RGB, c) for c in (mapview.SERVICE_COLOUR,  # told apart by glyph
                                              mapview.STATUS_COLOURS["no_sentinel"])}  # + badge
    repeated = {c for c in shown if shown.count(c) > 1}
    assert repeated <= same, repeated  # otherwise one meaning per colour
    page.close()
    phone, inner = _page(browser, f"{server}/", 390, 844)
    legend = inner.locator(".wg-legend details")
    assert legend.get_attribute("open") is None  # folded: the map stays visible
    box = inner.locator(".wg-legend").bounding_box()
    assert box["width"] * box["height"] < 0.05 * 390 * 600
    inner.locator(".wg-legend summary").click()
    assert legend.get_attribute("open") is not None  # one tap opens it
    phone.close()


def test_scale_bar_is_metric_only(server, browser):
    page, inner = _page(browser, f"{server}/")
    lines = inner.locator(".leaflet-control-scale-line").all_inner_texts()
    assert len(lines) == 1 and re.fullmatch(r"\d+ k?m", lines[0].strip()), lines
    page.close()


def test_view_and_overlays_live_in_the_address(server, browser, demo):
    lon, lat = demo.grids.geometry.iloc[5].representative_point().coords[0]
    page, inner = _page(browser, f"{server}/?z=15&ll={lat:.5f},{lon:.5f}&lyr=grids,members")
    state = _map_state(inner)
    assert state["zoom"] == 15 and abs(state["lat"] - lat) < 1e-3, state
    fills = inner.evaluate("""() => Object.values(map_div._layers).map(
        l => (l.options || {}).fillColor)""")
    assert mapview.PEOPLE_COLOURS["member"] in fills  # members: off by default, on by address
    assert inner.locator(".marker-cluster").count() == 0  # tickets: not in lyr, so off
    inner.evaluate("() => { map_div.setZoom(16); }")
    page.wait_for_function("() => location.search.includes('z=16')", timeout=10_000)
    q = _query(page)
    assert q["lyr"].split(",") == ["grids", "members"]
    assert inner.evaluate("""() => Object.values(map_div._layers).filter(
        l => l.feature && l.feature.properties.k === 'b').length""") == 0  # switched off
    page.reload(wait_until="domcontentloaded")
    page.frame_locator(MAP).first.locator("path.leaflet-interactive").first.wait_for(
        state="attached", timeout=60_000)
    page.wait_for_timeout(1500)
    inner = page.locator(MAP).first.element_handle().content_frame()
    assert _map_state(inner)["zoom"] == 16
    assert _query(page)["lyr"] == q["lyr"]
    page.close()


def test_grids_without_sentinel_are_on_top_and_open_at_the_overview(server, browser, demo):
    gaps = set(coverage(demo).grids.query("status == 'no_sentinel'")["code"])
    assert gaps, "the demo town has grids without a sentinel"
    page, inner = _page(browser, f"{server}/")
    order = inner.evaluate("""() => { const out = [];
        for (const k in map_div._layers) { const l = map_div._layers[k];
            if (l.feature && l.feature.properties.k === 'g' && l._path) {
                const all = [...l._path.parentNode.children];
                out.push([all.indexOf(l._path), l.feature.properties.s, l.feature.properties.code,
                          l._path.getAttribute('stroke'), l._path.getAttribute('stroke-width')]);
            } }
        return out; }""")
    drawn_gaps = [o for o in order if o[1] == "no_sentinel"]
    assert {o[2] for o in drawn_gaps} == gaps
    assert min(o[0] for o in drawn_gaps) > max(o[0] for o in order if o[1] != "no_sentinel")
    assert all(o[3] == mapview.STATUS_COLOURS["no_sentinel"] and float(o[4]) >= 3
               for o in drawn_gaps)
    # each has a badge above every other marker (ticket clusters, care points): it is seen
    # and a click on it opens the grid, however small the grid is at the overview
    frame_box = page.locator(MAP).first.bounding_box()
    badges = inner.evaluate("""() => { const out = {};
        for (const k in map_div._layers) { const l = map_div._layers[k];
            if (l.feature && l.feature.properties.k === 'g' && l._icon) {
                const r = l._icon.getBoundingClientRect(), x = r.left + r.width / 2,
                      y = r.top + r.height / 2, top = document.elementFromPoint(x, y);
                // on top, or under the badge of a neighbouring grid without a sentinel
                out[l.feature.properties.code] = [x, y, l._icon.contains(top),
                                                  !!top.closest('.wg-gap, .wg-gap *')]; } }
        return out; }""")
    assert set(badges) == gaps and all(b[3] for b in badges.values()), badges
    code = next(c for c, b in sorted(badges.items()) if b[2])
    hit = badges[code]
    page.mouse.click(frame_box["x"] + hit[0], frame_box["y"] + hit[1])
    page.wait_for_url(lambda url: f"sel={code}" in url, timeout=15_000)
    name = demo.grids.set_index("code").name[code]
    page.get_by_text(name, exact=True).first.wait_for(timeout=15_000)
    page.close()


def test_a_row_of_the_panel_moves_the_map_to_it(server, browser, demo):
    grid = demo.grids.code.iloc[4]
    page, inner = _page(browser, f"{server}/?sel={grid}")
    before = _map_state(inner)
    page.get_by_text("最近的一老一小服务点", exact=False).first.wait_for(timeout=30_000)
    page.wait_for_timeout(800)  # the panel's tables render one after another
    table = page.locator("[data-testid=stDataFrame]").filter(has_text="距离")  # nearest care
    table.wait_for(timeout=15_000)
    _pick_first_row(page, table)
    care = [[p.y, p.x] for p in demo.care_points.geometry]
    # centred on a care point at zoom 17 (within ~20 m), once the fly and the resize of the
    # map by the panel's new height have settled: polled, not sampled at the first frame
    page.wait_for_function(
        "([care, lat]) => { const f = document.querySelector(\"iframe[title='streamlit_folium.st_folium']\");"
        " const m = f.contentWindow.map_div, c = m.getCenter();"
        " if (m.getZoom() !== 17 || Math.abs(c.lat - lat) <= 1e-6) return false;"
        " return Math.min(...care.map(p => (p[0] - c.lat) ** 2 + (p[1] - c.lng) ** 2)) < 4e-8; }",
        arg=[care, before["lat"]], timeout=15_000)
    after = _map_state(inner)
    nearest = min((lat - after["lat"]) ** 2 + (lng - after["lng"]) ** 2 for lat, lng in care)
    assert after["zoom"] == 17 and nearest < 4e-8
    page.close()


def _settled(page) -> None:
    """Until the script run ended and a map on the page (if any) drew its features."""
    page.wait_for_timeout(600)
    page.wait_for_function("() => !document.querySelector('[data-testid=stStatusWidget]')",
                           timeout=60_000)
    if page.locator(MAP).count():
        page.frame_locator(MAP).first.locator(".leaflet-interactive").first.wait_for(
            state="attached", timeout=60_000)
    page.wait_for_timeout(700)


def _screens(browser, server: str, width: int, height: int, lang: str) -> list[str]:
    """Every page at one size: a screenshot each; returns the problems seen."""
    problems = []
    page = browser.new_page(viewport={"width": width, "height": height})
    page.on("pageerror", lambda e: problems.append(f"script error: {e}"))
    for name in PAGES:
        suffix = "?lang=en" if lang == "en" else ""
        page.goto(f"{server}/{name}{suffix}", wait_until="domcontentloaded")
        page.locator("[data-testid=stMain]").first.wait_for(timeout=60_000)
        if name != "wall":
            page.locator("[data-testid=wg-header]").first.wait_for(timeout=60_000)
        _settled(page)
        if page.locator("[data-testid=stException]").count():
            problems.append(f"{name}: an error box")
        wide = page.evaluate("() => document.scrollingElement.scrollWidth")
        if width < 500 and name != "wall" and wide > width + 1:
            problems.append(f"{name}: {wide} px wide on a {width} px phone")
        tag = f"screen-{name or 'map'}-{width}" + ("-en" if lang == "en" else "")
        page.screenshot(path=str(ARTIFACTS / f"{tag}.png"), full_page=False)
    page.close()
    return problems


@pytest.mark.parametrize(("width", "height"), SIZES)
def test_every_page_at_three_sizes(server, browser, width, height):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    problems = _screens(browser, server, width, height, "zh")
    if width == 1440:
        problems += _screens(browser, server, width, height, "en")
    assert not problems, problems


def test_a_row_of_a_coverage_table_moves_the_map_to_it(server, browser, demo):
    """覆盖分析: a row picked in the problem grids' table selects that grid (``?sel=``) and
    the map moves to it."""
    from dashboard import reports

    first = reports.problem_tables(demo, coverage(demo), "zh")["问题网格"]["网格"].iloc[0]
    page, inner = _page(browser, f"{server}/coverage")
    before = _map_state(inner)
    table = page.locator("[data-testid=stDataFrame]").first  # 问题网格 (demo: no 补位 table)
    _pick_first_row(page, table)  # the first row's selection cell
    page.wait_for_url(lambda url: f"sel={first}" in url, timeout=20_000)
    page.wait_for_function(
        "(z) => { const f = document.querySelector(\"iframe[title='streamlit_folium.st_folium']\");"
        " return f.contentWindow.map_div.getZoom() > z; }", arg=before["zoom"], timeout=20_000)
    page.close()


def test_a_row_of_a_reach_table_moves_the_map_to_it(server, browser):
    """服务覆盖: a building beyond walking reach, picked in its table, is where the map goes."""
    page, inner = _page(browser, f"{server}/reach")
    table = page.locator("[data-testid=stDataFrame]").last  # the buildings beyond reach
    _pick_first_row(page, table)
    _wait_zoom(page, 17)
    page.close()


def _click_feature(page, inner, kind: str) -> str:
    """Click the first drawn feature of kind ``kind`` (``k`` property) where it is on top;
    return its code."""
    hit = inner.evaluate("""(kind) => {
        for (const k in map_div._layers) { const l = map_div._layers[k];
            if (!l.feature || l.feature.properties.k !== kind || !l._map) continue;
            // SVG paths and icons are elements; points on a canvas are drawn into the canvas
            const el = l._icon || l._path || (l._renderer && l._renderer._container);
            if (!el) continue;
            let x, y;
            if (l._icon || l._path) { const r = el.getBoundingClientRect();
                x = r.left + r.width / 2; y = r.top + r.height / 2; }
            else { const p = map_div.latLngToContainerPoint(l.getLatLng()),
                       r = map_div.getContainer().getBoundingClientRect();
                x = r.left + p.x; y = r.top + p.y; }
            if (x < 0 || y < 0 || x > innerWidth || y > innerHeight) continue;
            const top = document.elementFromPoint(x, y);
            if (top && (top === el || el.contains(top))) return [x, y, l.feature.properties.code];
        }
        return null; }""", kind)
    assert hit, f"no {kind} feature clickable in view"
    box = page.locator(MAP).first.bounding_box()
    page.mouse.click(box["x"] + hit[0], box["y"] + hit[1])
    return hit[2]


def test_a_click_on_a_point_opens_its_detail(server, browser, demo):
    """Every drawn feature opens its detail: a care point, a ticket, a sentinel."""
    cp = demo.care_points.iloc[0]
    page, inner = _page(browser, f"{server}/?z=18&ll={cp.geometry.y:.6f},{cp.geometry.x:.6f}")
    code = _click_feature(page, inner, "f")
    page.wait_for_url(lambda url: f"sel=place%3A{code}" in url or f"sel=place:{code}" in url,
                      timeout=15_000)
    name = demo.care_points.set_index("code").name[code]
    page.get_by_text(name).first.wait_for(timeout=15_000)
    inner.evaluate("() => { map_div.setZoom(15); }")
    page.wait_for_timeout(1500)
    pid = _click_feature(page, inner, "p")
    page.wait_for_url(lambda url: f"person%3A{pid}" in url or f"person:{pid}" in url,
                      timeout=15_000)
    page.get_by_text(demo.people.set_index("person_id").name[pid]).first.wait_for(
        timeout=15_000)
    page.close()
    from layers.tickets import rules

    tk = demo.tickets[rules.open_mask(demo.tickets["status"])].iloc[0]  # the server's seed
    page, inner = _page(browser, f"{server}/?z=19&ll={tk.geometry.y:.6f},{tk.geometry.x:.6f}"
                                 "&lyr=grids,tickets")
    tid = None
    for _ in range(20):  # open a cluster until a single ticket is on top somewhere in view
        try:
            tid = _click_feature(page, inner, "k")
            break
        except AssertionError:
            inner.evaluate("""() => { const c = document.querySelector('.marker-cluster');
                if (c) c.dispatchEvent(new MouseEvent('click', {bubbles: true})); }""")
            page.wait_for_timeout(800)
    assert tid
    page.wait_for_url(lambda url: "ticket" in url, timeout=15_000)
    page.get_by_text(tid, exact=False).first.wait_for(timeout=15_000)
    page.close()


def test_a_row_of_the_data_preview_moves_its_map(server, browser, demo, tmp_path):
    """数据管理: a row of the checked file, picked in its table, is where the preview map goes
    (nothing is written: the check only)."""
    import pandas as pd
    import shapely

    pts = shapely.point_on_surface(demo.grids.geometry.to_numpy()[:3])
    csv = tmp_path / "托育点.csv"
    pd.DataFrame({"编码": ["R1", "R2", "R3"], "名称": ["甲", "乙", "丙"], "类型": ["nursery"] * 3,
                  "容量": [30, 40, 50], "经度": shapely.get_x(pts),
                  "纬度": shapely.get_y(pts)}).to_csv(csv, index=False)
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    _watch_errors(page)
    page.goto(f"{server}/data?layer=care_points", wait_until="domcontentloaded")
    import_file_input(page).set_input_files(str(csv))
    page.get_by_text("确认导入").wait_for(timeout=60_000)
    page.wait_for_timeout(1500)
    table = page.locator("[data-testid=stDataFrame]").last  # the file's rows
    _pick_first_row(page, table)
    _wait_zoom(page, 17)
    inner = page.locator(MAP).first.element_handle().content_frame()
    state = _map_state(inner)
    assert abs(state["lat"] - pts[0].y) < 1e-5 and abs(state["lng"] - pts[0].x) < 1e-5
    page.close()
