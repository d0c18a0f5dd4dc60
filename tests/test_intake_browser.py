"""哨兵一键下单 on a phone, in a real browser: a tap leaves a pin and shows where the ticket
will be filed (grid, community, nearest building — the store's own rule) before submitting;
the form fits a 390 px screen with big touch targets; a photo goes with the ticket and shows
in its detail; the result shows at the top of the form and the form is cleared.

One Streamlit server for the module, on a private copy of the demo (the open fictional demo:
no login). Screenshots: ``test-artifacts/tickets-intake-<width>[-en].png``.
"""

from __future__ import annotations

import os
import struct
import zlib

import pytest
from browserkit import ARTIFACTS, streamlit_server

from dashboard.i18n import t
from layers.auth import Principal
from layers.tickets import TicketStore

#: The CLI's operator: whole area, full data (what tests that are not about
#: authorisation act as).
OP = Principal.operator()

pytestmark = pytest.mark.skipif(
    os.environ.get("WANGGE_SKIP_BROWSER") == "1", reason="browser tests switched off")

RERUN_MS = 2500

#: Centre the map on a place at a zoom and return that place's pixel in the map (the map is
#: a Leaflet map in the component's iframe; nothing Leaflet is returned).
ZOOM_TO = """([lat, lon, z]) => {
  const m = Object.values(window).find(v => v instanceof L.Map);
  m.setView([lat, lon], z, {animate: false});
  const p = m.latLngToContainerPoint([lat, lon]);
  return [p.x, p.y];
}"""


#: What the map's drag handler and its container's touch rule are (one finger: map or page?).
DRAG = """() => { const m = Object.values(window).find(v => v instanceof L.Map);
  return [m.dragging.enabled(), getComputedStyle(m.getContainer()).touchAction]; }"""

PHONE_UA = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1")


def png() -> bytes:
    """A real 4×4 PNG."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    raw = b"".join(b"\x00" + b"\x0b\x5c\xad" * 4 for _ in range(4))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 4, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


@pytest.fixture(scope="module")
def town(tmp_path_factory, demo_file):
    from conftest import copy_store

    return copy_store(demo_file, tmp_path_factory.mktemp("intake") / demo_file.name)


@pytest.fixture(scope="module")
def server(town):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with streamlit_server(town) as url:
        yield url


def _open(browser, server: str, width: int, height: int, L: str = "zh"):
    page = browser.new_page(viewport={"width": width, "height": height})
    page.goto(f"{server}/tickets" + ("?lang=en" if L == "en" else ""),
              wait_until="domcontentloaded")
    return page


def _map(page):
    """The intake map's iframe element and its frame, once Leaflet has drawn."""
    page.wait_for_function("() => document.querySelectorAll("
                           "'.st-key-intake_mapbox iframe').length === 1", timeout=90_000)
    el = page.locator(".st-key-intake_mapbox iframe")  # one: a new map after each ticket
    frame = el.element_handle().content_frame()
    frame.locator("path.leaflet-interactive").first.wait_for(state="attached", timeout=60_000)
    return el, frame


def _tap(page, building, *, touch: bool = False) -> tuple[float, float]:
    """Zoom the intake map to ``building`` and tap inside it; return the tapped point."""
    el, frame = _map(page)
    page.wait_for_timeout(RERUN_MS)  # the page's first reruns settle
    el.scroll_into_view_if_needed()
    p = building.geometry.representative_point()
    x, y = frame.evaluate(ZOOM_TO, [p.y, p.x, 18])
    page.wait_for_timeout(800)
    box = el.bounding_box()
    (page.touchscreen.tap if touch else page.mouse.click)(box["x"] + x, box["y"] + y)
    page.locator(".st-key-intake_place", has_text=building.code).wait_for(timeout=30_000)
    return p.x, p.y


def _pins_after_rerun(page, want: int) -> int:
    """Pins on the intake map once the rerun has replaced it: polled each second for up to
    15 s until ``want`` is read twice running (a loaded machine replaces the map later; a
    map replaced while being read is read again); otherwise the last count read."""
    from playwright.sync_api import Error

    count, same = -1, 0
    for _ in range(15):
        page.wait_for_timeout(1000)
        try:
            _, frame = _map(page)
            count = frame.locator(".intake-pin").count()
        except Error:  # the old map's frame went away while it was read
            same = 0
            continue
        same = same + 1 if count == want else 0
        if same == 2:
            break
    if count < 0:
        raise AssertionError("the intake map did not settle")
    return count


def _full_shot(page, name: str) -> None:
    """The whole page at this width (Streamlit scrolls inside its main block, so the viewport
    is grown to the content for the picture)."""
    vp = page.viewport_size
    height = page.evaluate("() => document.querySelector('[data-testid=stMain]').scrollHeight")
    page.set_viewport_size({"width": vp["width"], "height": max(vp["height"], height)})
    page.wait_for_timeout(1200)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))
    page.set_viewport_size(vp)


@pytest.mark.parametrize(("width", "height"), [(1440, 900), (1920, 1080)])
def test_a_tap_shows_a_pin_and_the_placement_before_submitting(server, browser, demo, town,
                                                               width, height):
    b = demo.buildings.iloc[40]
    page = _open(browser, server, width, height)
    el, frame = _map(page)
    assert frame.locator(".intake-pin").count() == 0
    assert t("tk_place_pick") in page.locator(".st-key-intake_place").inner_text()
    lon, lat = _tap(page, b)
    assert frame.locator(".intake-pin").count() == 1
    place = TicketStore.for_store(town).locator.place(lon, lat)  # the store's own rule
    grid = demo.grids.set_index("code").loc[place.grid_code]
    community = demo.communities.set_index("code").loc[place.community_code]
    shown = page.locator(".st-key-intake_place").inner_text()
    assert place.building.code == b.code
    for words in (grid["name"], place.grid_code, community["name"], b["name"], b.code):
        assert words in shown, (words, shown)
    assert t("submit_ticket") in page.locator(".st-key-intake_formbox").inner_text()
    assert frame.evaluate(DRAG)[0] is True  # a mouse drags the map
    assert not TicketStore.for_store(town).frame(grid_code=place.grid_code, principal=OP).text.eq(
        "x").any()  # nothing filed yet
    _full_shot(page, f"tickets-intake-{width}")
    page.close()


@pytest.mark.parametrize("L", ["zh", "en"])
def test_the_intake_fits_a_phone_and_files_a_ticket_with_a_photo(server, browser, demo,
                                                                 town, L):
    b = demo.buildings.iloc[60 if L == "zh" else 61]
    page = _open(browser, server, 390, 844, L)
    _tap(page, b)
    _, frame = _map(page)
    assert frame.locator(".intake-pin").count() == 1
    # a phone: no sideways scrolling, a big submit button inside the screen, a map that
    # leaves room to scroll the page with the thumb
    assert page.evaluate("() => document.scrollingElement.scrollWidth") <= 390
    submit = page.locator('.st-key-intake_formbox [data-testid="stFormSubmitButton"] button')
    box = submit.bounding_box()
    assert box["height"] >= 44 and box["width"] >= 300 and box["x"] + box["width"] <= 390
    for sel in ('.st-key-intake_formbox [data-testid=stSelectbox] [role=group]',
                ".st-key-intake_building [role=group]"):
        assert page.locator(sel).first.bounding_box()["height"] >= 44
    assert page.locator(".st-key-intake_mapbox iframe").bounding_box()["height"] <= 844 / 2
    # Streamlit's own English uploader words are replaced by ours
    uploader = page.locator(".st-key-intake_formbox [data-testid=stFileUploader]")
    after = uploader.locator("button p").first.evaluate(
        "e => getComputedStyle(e, '::after').content")
    assert t("tk_photo_pick", L) in after.encode().decode("unicode_escape") or \
        t("tk_photo_pick", L) in after
    assert "5 MB" in page.locator(".st-key-intake_formbox").inner_text()
    _full_shot(page, "tickets-intake-390" + ("-en" if L == "en" else ""))
    # file it, with a photo
    text = f"楼道灯不亮 {L}"
    uploader.locator("input[type=file]").set_input_files(
        files=[{"name": "stairwell.jpg", "mimeType": "image/jpeg", "buffer": png()}])
    page.wait_for_timeout(1000)
    page.locator(".st-key-intake_formbox textarea").fill(text)
    submit.click()
    done = page.locator(".st-key-intake_done")
    done.wait_for(timeout=30_000)
    page.locator("[data-testid=stToast]").first.wait_for(timeout=10_000)
    toasts = page.locator("[data-testid=stToast]").all_inner_texts()  # shown for a few s only
    ts = TicketStore.for_store(town)
    new = ts.frame(principal=OP).query("text == @text").iloc[0]
    assert new["building_code"] == b.code
    assert t("tk_done", L).format(id=new["id"]) in done.inner_text()
    assert sum(new["id"] in toast for toast in toasts) == 1
    (photo,) = ts.photos(new["id"], principal=OP)
    assert photo.mime == "image/png" and photo.data == png()  # its content, not its name
    # the form is cleared for the next ticket: no pin (a new map), no text, nothing placed
    assert _pins_after_rerun(page, 0) == 0
    assert page.locator(".st-key-intake_formbox textarea").input_value() == ""
    assert t("tk_place_pick", L) in page.locator(".st-key-intake_place").inner_text()
    suffix = "-en" if L == "en" else ""
    page.screenshot(path=str(ARTIFACTS / f"tickets-intake-done-390{suffix}.png"))
    # the new ticket's detail (list tab) shows the photo
    page.get_by_role("tab", name=t("tab_list", L), exact=True).click()
    img = page.locator(".st-key-ticket_photos img")
    img.first.wait_for(timeout=30_000)
    assert img.first.evaluate("e => e.naturalWidth") == 4
    img.first.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / f"tickets-detail-photo-390{suffix}.png"))
    page.close()


def test_on_a_phone_one_finger_scrolls_the_page_and_a_tap_places_the_pin(server, browser,
                                                                         demo):
    """The map does not trap the thumb: on a touch phone one finger scrolls the page (the
    map's drag is off and its container lets the browser pan), two fingers move the map, and
    a tap still places the pin."""
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, user_agent=PHONE_UA,
                              is_mobile=True, has_touch=True)
    page = ctx.new_page()
    page.goto(f"{server}/tickets", wait_until="domcontentloaded")
    _, frame = _map(page)
    page.wait_for_timeout(RERUN_MS)
    dragging, touch_action = frame.evaluate(DRAG)
    assert dragging is False and touch_action == "pan-x pan-y"
    b = demo.buildings.iloc[40]
    _tap(page, b, touch=True)
    assert _pins_after_rerun(page, 1) == 1
    ctx.close()
