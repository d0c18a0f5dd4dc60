"""The 大屏 in Chromium at 1920×1080 (issue 16): readable from 5 m (every visible text,
the charts' axes and the map's own text included, at least 20 px), the screen used to its
bottom without scrolling, a dark map, a rotating wall whose title and map follow the
community shown, an unknown ``?c=`` said in plain words, English throughout in English; and
it does not break at 1440×900 or 390×844. Screenshots: ``test-artifacts/wall-<w>*.png``."""

from __future__ import annotations

import os
import re
import time

import pytest
import shapely
from browserkit import ARTIFACTS, shot, streamlit_server
from conftest import copy_store

from dashboard.i18n import t
from dashboard.mapview import DARK_MAP, SELECTION_STYLE
from dashboard.views.wall_page import MIN_FONT_PX

pytestmark = pytest.mark.skipif(
    os.environ.get("WANGGE_SKIP_BROWSER") == "1", reason="browser tests switched off")

AT = "2026-11-20T15:00:00"
MAP = "iframe[title='streamlit_folium.st_folium']"

#: Every visible text node of a document: [tag, font px, text, bottom]; skipped: empty text,
#: boxes of no size, hidden, transparent, or wholly outside the window (a skip link).
_TEXTS = """() => {
  const out = [], W = innerWidth, H = innerHeight;
  const tw = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  let n;
  while ((n = tw.nextNode())) {
    const s = n.textContent.trim(); if (!s) continue;
    const el = n.parentElement, cs = getComputedStyle(el);
    if (el.closest('style,script,noscript,title')) continue;
    const r = el.getBoundingClientRect();
    if (r.width <= 1 || r.height <= 1 || r.bottom <= 0 || r.right <= 0 || r.top >= H
        || r.left >= W || cs.visibility === 'hidden' || cs.display === 'none'
        || parseFloat(cs.opacity) === 0) continue;
    out.push([el.tagName, parseFloat(cs.fontSize), s.slice(0, 60)]);
  }
  return out;
}"""


@pytest.fixture(scope="module")
def server(tmp_path_factory, demo_file):
    store = tmp_path_factory.mktemp("wall") / "town.gpkg"
    copy_store(demo_file, store)
    with streamlit_server(store) as url:
        yield url


def _open(browser, url: str, width: int = 1920, height: int = 1080):
    """Open the wall; wait for the tiles, the map's paths and the charts' SVG text."""
    page = browser.new_page(viewport={"width": width, "height": height})
    foreign: list[str] = []
    page.on("request", lambda r: foreign.append(r.url) if r.url.startswith(("http", "ws"))
            and "127.0.0.1" not in r.url and "localhost" not in r.url else None)
    page.goto(url, wait_until="domcontentloaded")
    page.locator("[data-testid=stMetricValue]").first.wait_for(timeout=90_000)
    frame = page.frame_locator(MAP)
    frame.locator("path.leaflet-interactive").first.wait_for(state="attached", timeout=60_000)
    page.locator(".vega-embed svg text").first.wait_for(state="attached", timeout=60_000)
    page.wait_for_timeout(1500)  # the map's fit and the charts' last layout
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return page, foreign


def _map_frame(page):
    return next(f for f in page.frames if "st_folium" in f.url)


def _texts(page) -> list[tuple[str, str, float, str]]:
    """Every visible text of the page and of its frames (the map, the clock)."""
    out = []
    for f in page.frames:
        where = "map" if "st_folium" in f.url else ("page" if f == page.main_frame else f.url)
        out += [(where, tag, px, s) for tag, px, s in f.evaluate(_TEXTS)]
    return out


def _has_cjk(text: str) -> bool:
    return bool(re.search(r"[\u3000-\u9fff\uff00-\uffef]", text))


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_wall_is_readable_from_five_metres_and_fills_the_screen(server, browser, demo, lang):
    page, foreign = _open(browser, f"{server}/wall?at={AT}&lang={lang}")
    texts = _texts(page)
    assert sum(1 for w, *_ in texts if w == "map") >= 3  # cluster counts, scale, credits
    assert sum(1 for _, tag, *_ in texts if tag == "text") >= 10  # chart axes and legend (SVG)
    small = [x for x in texts if x[2] < MIN_FONT_PX]
    assert not small, f"{len(small)} of {len(texts)} texts under {MIN_FONT_PX} px: {small[:30]}"
    # the screen used to its bottom, nothing to scroll
    doc = page.evaluate("() => Math.max(document.documentElement.scrollHeight, "
                        "document.querySelector('[data-testid=stMain]').scrollHeight)")
    assert doc <= 1080, f"page is {doc} px high"
    bottom = page.evaluate("() => Math.max(...[...document.querySelectorAll("
                           "'[data-testid=stElementContainer]')].map("
                           "e => e.getBoundingClientRect().bottom))")
    assert bottom >= 0.95 * 1080, f"the last block ends at {bottom} px"
    # a dark map: its background and its roads in the dark style
    frame = _map_frame(page)
    bg = frame.evaluate("() => getComputedStyle(map_div.getContainer()).backgroundColor")
    assert bg == _rgb(DARK_MAP["background"]), bg
    road = frame.evaluate("s => [...document.querySelectorAll('path')].some("
                          "x => getComputedStyle(x).stroke === s)", _rgb(DARK_MAP["roads"]))
    assert road, "no road drawn in the dark style"
    if lang == "en":  # English around the data (place names, the map's 老/幼 glyph badges)
        data = set(demo.towns.name) | set(demo.communities.name) | set(demo.grids.name)
        chinese = [x for x in texts if _has_cjk(x[3]) and x[3] not in data
                   and x[3] not in ("老", "幼") and not any(d in x[3] for d in data)]
        assert not chinese, chinese[:20]
    shot(page, "wall-1920" if lang == "zh" else "wall-1920-en")
    assert foreign == [], foreign[:5]
    page.close()


def _rgb(colour: str) -> str:
    r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgb({r}, {g}, {b})"


def test_rotating_wall_title_and_map_follow_the_community(server, browser, demo):
    """With ``?rotate=1`` the title names the community shown and the map moves to it
    (outlined), not only the figures."""
    page, foreign = _open(browser, f"{server}/wall?at={AT}&rotate=1&refresh=5")
    names = dict(zip(demo.communities.name, demo.communities.code, strict=True))
    title = page.locator("h1.wall-title")

    def head() -> str:
        return title.inner_text().split(" · ")[0]

    deadline = time.time() + 90
    seen = None
    while time.time() < deadline and seen is None:  # a community, and the map after its move
        shown = head()
        if shown not in names:
            page.wait_for_timeout(300)
            continue
        page.wait_for_timeout(1500)
        view = _map_frame(page).evaluate(
            "() => { const b = map_div.getBounds(); return [b.getWest(), b.getSouth(), "
            "b.getEast(), b.getNorth()]; }")
        outline = _map_frame(page).evaluate(
            "c => [...document.querySelectorAll('path')].filter("
            "p => p.getAttribute('stroke') === c).length", SELECTION_STYLE["color"])
        if head() == shown:  # still the same community: what was measured belongs to it
            seen = (shown, view, outline)
    assert seen, "the title never named a community"
    shown, view, outline = seen
    geom = demo.communities.geometry[(demo.communities.code == names[shown]).to_numpy()].iloc[0]
    x0, y0, x1, y1 = shapely.bounds(geom)
    tol = 1e-4
    assert view[0] <= x0 + tol and view[1] <= y0 + tol and view[2] >= x1 - tol \
        and view[3] >= y1 - tol, (view, (x0, y0, x1, y1))
    town_w = float(demo.towns.total_bounds[2] - demo.towns.total_bounds[0])
    assert view[2] - view[0] < town_w  # zoomed in on it, not the whole town
    assert outline >= 1, "the community shown is not outlined"
    shot(page, "wall-1920-rotate")
    assert foreign == [], foreign[:5]
    page.close()


def test_unknown_community_says_so_and_shows_the_whole_area(server, browser, demo):
    page, _ = _open(browser, f"{server}/wall?at={AT}&c=404404")
    notice = t("wall_unknown_community").format(code="404404")
    page.get_by_text(notice).wait_for(timeout=30_000)
    town = demo.towns.name.iloc[0]
    assert page.locator("h1.wall-title").inner_text().startswith(town)
    page.close()


@pytest.mark.parametrize("size", [(1440, 900), (390, 844)])
def test_wall_does_not_break_on_smaller_screens(server, browser, demo, size):
    width, height = size
    page, foreign = _open(browser, f"{server}/wall?at={AT}", width, height)
    wide = page.evaluate("() => Math.max(document.documentElement.scrollWidth, "
                         "document.querySelector('[data-testid=stMain]').scrollWidth)")
    assert wide <= width, f"{wide} px wide in a {width} px window"
    cut = page.evaluate("() => [...document.querySelectorAll('[data-testid=stMetricValue] div')]"
                        ".filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.innerText)")
    assert not cut, f"figures cut off: {cut}"
    # the map fits the town to the frame it has at this size (not to the one it started with)
    view = _map_frame(page).evaluate(
        "() => { const b = map_div.getBounds(); return [b.getWest(), b.getSouth(), "
        "b.getEast(), b.getNorth()]; }")
    x0, y0, x1, y1 = demo.towns.total_bounds
    assert view[0] <= x0 and view[1] <= y0 and view[2] >= x1 and view[3] >= y1, view
    assert (view[2] - view[0]) < 1.5 * (x1 - x0) or (view[3] - view[1]) < 1.5 * (y1 - y0), \
        "the town is drawn small in its frame"
    shot(page, f"wall-{width}")
    assert foreign == [], foreign[:5]
    page.close()
