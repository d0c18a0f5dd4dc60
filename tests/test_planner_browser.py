"""The planner pages in Chromium (issue 16): 覆盖分析 filtered by community everywhere (figures,
tables, the downloaded files), 服务覆盖 with filled walking bands at the view it opens with and
its summary first. Screenshots at 1920×1080, 1440×900 and 390×844 (Chinese) and one in English:
``test-artifacts/coverage-<w>.png``, ``reach-<w>.png``."""

from __future__ import annotations

import io
import os
import time
import zipfile

import pandas as pd
import pytest
from browserkit import ARTIFACTS, shot, streamlit_server
from conftest import copy_store

from dashboard import reports
from layers.coverage import coverage

pytestmark = pytest.mark.skipif(
    os.environ.get("WANGGE_SKIP_BROWSER") == "1", reason="browser tests switched off")

SIZES = ((1920, 1080), (1440, 900), (390, 844))
MAP = "iframe[title='streamlit_folium.st_folium']"
#: the isochrone band colours (reach_page.BANDS), as Leaflet writes them into the SVG
BAND_COLOURS = {"#3f007d", "#6a51a3", "#9e9ac8"}


@pytest.fixture(scope="module")
def server(tmp_path_factory, demo_file):
    store = tmp_path_factory.mktemp("planner") / "town.gpkg"
    copy_store(demo_file, store)
    with streamlit_server(store, WANGGE_NOW="2026-11-20T12:00:00") as url:
        yield url


@pytest.fixture(scope="module")
def cov(demo):
    return coverage(demo)


@pytest.fixture(scope="module")
def community(cov) -> str:
    g = cov.grids.set_index("code")
    return str(g.loc[cov.grids_without_sentinel[0], "community_code"])


def _open(browser, url: str, width: int, height: int):
    page = browser.new_page(viewport={"width": width, "height": height}, accept_downloads=True)
    page.goto(url, wait_until="domcontentloaded")
    frame_el = page.locator(MAP)
    frame_el.wait_for(state="attached", timeout=90_000)
    deadline = time.time() + 60
    while time.time() < deadline:
        box = frame_el.bounding_box()
        if box and box["height"] > 100:
            break
        time.sleep(0.25)
    frame = frame_el.element_handle().content_frame()
    frame.wait_for_selector("path.leaflet-interactive", state="attached", timeout=60_000)
    page.locator("[data-testid=stDataFrame]").last.wait_for(timeout=60_000)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return page, frame


def _full(page, name: str) -> None:
    """Also the whole page (Streamlit scrolls inside its main block, so a full-page shot is
    only the window): the window made as tall as the content, then put back."""
    size = page.viewport_size
    tall = page.evaluate("() => Math.max(...Array.from(document.querySelectorAll("
                         "'[data-testid=stMain], [data-testid=stAppViewContainer]'))"
                         ".map(e => e.scrollHeight))")
    page.set_viewport_size({"width": size["width"], "height": min(int(tall) + 40, 7000)})
    shot(page, f"{name}-full")
    page.set_viewport_size(size)


def _no_horizontal_scroll(page) -> None:
    over = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert over <= 1, f"page scrolls sideways by {over}px"


def _downloaded_zip(page, label: str) -> dict[str, pd.DataFrame]:
    with page.expect_download(timeout=60_000) as info:
        page.get_by_role("button", name=label).click()
    raw = open(info.value.path(), "rb").read()  # noqa: SIM115 - playwright's temp file
    with zipfile.ZipFile(io.BytesIO(raw)) as zf:
        return {n: pd.read_csv(io.BytesIO(zf.read(n)), dtype=str, keep_default_na=False,
                               encoding="utf-8-sig") for n in zf.namelist()}


def test_coverage_filter_reaches_figures_tables_and_downloads(server, browser, demo, cov,
                                                              community):
    page, _ = _open(browser, f"{server}/coverage?c={community}", 1440, 900)
    row = cov.summary.set_index("community_code").loc[community]
    values = page.locator("[data-testid=stMetricValue]").all_inner_texts()
    assert values[0] == f"{row.grid_coverage:.1%}"
    assert values[1] == f"{int(row.grids_without_sentinel):,}"
    assert values[3] == f"{row.building_coverage:.1%}"
    grids = set(cov.grids.loc[cov.grids["community_code"] == community, "code"])
    expected = {title: df[df["网格"].isin(grids)] for title, df in
                reports.problem_tables(demo, cov, "zh").items()}
    heads = page.locator("h3").all_inner_texts()
    for title, df in expected.items():
        assert f"{title}（{len(df):,}）" in heads
    files = _downloaded_zip(page, "下载问题清单（CSV，每表一个文件）")
    assert list(files) == [f"{title}.csv" for title in expected]
    for (title, want), got in zip(expected.items(), files.values(), strict=True):
        assert set(got["网格"]) <= grids, title  # only the community's rows
        assert len(got) == len(want), title
        assert set(got["网格"]) == set(want["网格"]), title
    shot(page, "coverage-1440")
    _full(page, "coverage-1440")
    page.close()


@pytest.mark.parametrize(("width", "height"), [s for s in SIZES if s[0] != 1440])
def test_coverage_screens(server, browser, width, height):
    page, _ = _open(browser, f"{server}/coverage", width, height)
    if width < 500:
        _no_horizontal_scroll(page)
    shot(page, f"coverage-{width}")
    _full(page, f"coverage-{width}")
    page.close()


def test_coverage_in_english(server, browser, community):
    page, _ = _open(browser, f"{server}/coverage?lang=en&c={community}", 1440, 900)
    text = page.locator("[data-testid=stMain]").inner_text()
    for word in ("Grids without sentinel", "Flagged grids", "Showing:"):
        assert word in text
    labels = page.locator("[data-testid=stDownloadButton] button").all_inner_texts()
    assert labels and not [x for x in labels if any("\u4e00" <= c <= "\u9fff" for c in x)]
    shot(page, "coverage-en-1440")
    _full(page, "coverage-en-1440")
    page.close()


def _bands(frame) -> list[dict]:
    """The isochrone band paths: fill colour, fill opacity and whether they lie in view."""
    return frame.evaluate("""(colours) => {
        const box = document.querySelector('.leaflet-container').getBoundingClientRect();
        return Array.from(document.querySelectorAll('path.leaflet-interactive'))
          .filter(p => colours.includes(p.getAttribute('fill')) &&
                       p.getAttribute('stroke') === p.getAttribute('fill'))
          .map(p => { const r = p.getBoundingClientRect();
            return {fill: p.getAttribute('fill'),
                    opacity: parseFloat(p.getAttribute('fill-opacity') || '1'),
                    inView: r.width > 20 && r.height > 20 && r.right > box.left &&
                            r.left < box.right && r.bottom > box.top && r.top < box.bottom};
          });
    }""", sorted(BAND_COLOURS))


@pytest.mark.parametrize(("width", "height"), SIZES)
def test_reach_bands_summary_first(server, browser, width, height):
    page, frame = _open(browser, f"{server}/reach", width, height)
    frame.wait_for_timeout(500)
    bands = _bands(frame)
    assert {b["fill"] for b in bands} == BAND_COLOURS  # three filled bands
    assert all(0 < b["opacity"] < 1 for b in bands)  # filled, semi-transparent
    assert all(b["inView"] for b in bands)  # at the view the page opens with
    legend = frame.locator(".wg-legend").all_inner_texts()
    assert any("≤300 m" in x and "≤1000 m" in x for x in legend) or \
        frame.locator(".wg-legend summary", has_text="步行距离").count() == 1
    # the summary sentence comes before the tables
    main = page.locator("[data-testid=stMain]").inner_text()
    assert "步行 500 m 内没有养老服务" in main
    assert main.index("步行 500 m 内没有养老服务") < main.index("各社区生活圈覆盖")
    for raw in ("grid_code", "distance_m", "snap_m", "min）", "（roads"):
        assert raw not in main
    if width < 500:
        _no_horizontal_scroll(page)
    shot(page, f"reach-{width}")
    _full(page, f"reach-{width}")
    page.close()


def test_reach_in_english(server, browser):
    page, frame = _open(browser, f"{server}/reach?lang=en", 1440, 900)
    main = page.locator("[data-testid=stMain]").inner_text()
    assert "have no elder care within a 500 m walk" in main
    for zh in ("养老服务", "各社区", "步行", "米）", "户数"):
        assert zh not in main
    assert frame.locator(".wg-legend summary", has_text="Walking distance").count() == 1
    shot(page, "reach-en-1440")
    _full(page, "reach-en-1440")
    page.close()
