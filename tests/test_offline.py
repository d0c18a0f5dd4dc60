"""The folium maps load every JS/CSS asset from the app's own static files (offline machines).

Fast, no browser: render a map that uses every folium class the dashboard uses and inspect the
page. The browser check that these assets really draw the map was done by hand in Chromium.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import folium
import pytest
from folium import plugins
from folium.template import Template

from dashboard import offline
from dashboard.offline import STATIC_ROOT, STATIC_URL

VENDOR = STATIC_ROOT / "vendor"

# the folium classes the dashboard's maps use
USED_CLASSES: tuple[type, ...] = (
    folium.Map,
    folium.TileLayer,
    folium.FeatureGroup,
    folium.GeoJson,
    folium.GeoJsonTooltip,
    folium.GeoJsonPopup,
    folium.Tooltip,
    folium.Popup,
    folium.CircleMarker,
    folium.Marker,
    folium.DivIcon,
    folium.LayerControl,
    folium.Element,
    folium.MacroElement,
    plugins.FastMarkerCluster,
    plugins.MarkerCluster,
    plugins.GroupedLayerControl,
    plugins.HeatMap,
    plugins.Fullscreen,
)
# ... and all their parents (JSCSSMixin, Layer, …): where a default could hide
ALL_CLASSES: tuple[type, ...] = tuple(
    dict.fromkeys(base for cls in USED_CLASSES for base in cls.__mro__ if base is not object)
)
ASSET_ATTRS = ("default_js", "default_css")

# package directory -> its licence file, as shipped by the package
LICENCES = {
    "leaflet": "LICENSE",
    "jquery": "LICENSE.txt",
    "leaflet.markercluster": "MIT-LICENCE.txt",
    "leaflet-groupedlayercontrol": "LICENSE.txt",
    "leaflet.heat": "LICENSE",
    "leaflet.fullscreen": "LICENSE",
}

LOCAL_URL = re.compile(re.escape(STATIC_URL) + r"/[^\"'\s)<>`]+")
DROPPED = ("bootstrap", "awesome", "fontawesome", "glyphicons", "jquery.com", "cdn")


@pytest.fixture
def local_assets() -> Iterator[None]:
    """Apply :func:`offline.use_local_assets` and put folium's own class attributes back after."""
    saved = {
        cls: {a: cls.__dict__[a] for a in ASSET_ATTRS if a in cls.__dict__} for cls in ALL_CLASSES
    }
    offline.use_local_assets()
    yield
    for cls, attrs in saved.items():
        for attr in ASSET_ATTRS:
            if attr in attrs:
                setattr(cls, attr, attrs[attr])
            elif attr in cls.__dict__:
                delattr(cls, attr)


def _square(lon: float, lat: float, d: float = 0.01) -> list[list[float]]:
    return [
        [lon - d, lat - d],
        [lon + d, lat - d],
        [lon + d, lat + d],
        [lon - d, lat + d],
        [lon - d, lat - d],
    ]


def _features(geometries: list[dict], name: str) -> dict:
    return {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": {"name": f"{name}{i}"}, "geometry": g}
            for i, g in enumerate(geometries)
        ],
    }


def build_map(fast_callback: str | None = offline.FAST_MARKER_CALLBACK) -> folium.Map:
    """A small map using every class in :data:`USED_CLASSES` the way the dashboard does."""
    lat, lon = 29.56, 106.55
    coords = [[lat + 0.001 * i, lon + 0.002 * (i % 7)] for i in range(30)]
    m = folium.Map(location=[lat, lon], zoom_start=13, tiles=None)
    folium.TileLayer(tiles="/tiles/{z}/{x}/{y}.png", attr="local", name="底图").add_to(m)

    grids = folium.FeatureGroup(name="网格").add_to(m)
    polygons = [
        {"type": "Polygon", "coordinates": [_square(lon + 0.03 * i, lat)]} for i in range(3)
    ]
    folium.GeoJson(
        _features(polygons, "网格"),
        tooltip=folium.GeoJsonTooltip(fields=["name"], aliases=["网格"]),
        popup=folium.GeoJsonPopup(fields=["name"]),
    ).add_to(grids)

    points = folium.FeatureGroup(name="点位").add_to(m)
    pts = [{"type": "Point", "coordinates": [lon + 0.01 * i, lat - 0.02]} for i in range(3)]
    folium.GeoJson(_features(pts, "养老"), marker=folium.CircleMarker(radius=5)).add_to(points)
    folium.GeoJson(
        _features(pts, "停车"), marker=folium.Marker(icon=folium.DivIcon(html="<b>停</b>"))
    ).add_to(points)
    folium.CircleMarker(
        [lat + 0.02, lon],
        radius=6,
        tooltip=folium.Tooltip("哨兵"),
        popup=folium.Popup("<b>哨兵</b>"),
    ).add_to(points)
    folium.Marker([lat + 0.03, lon], icon=folium.DivIcon(html="<i>党</i>")).add_to(points)

    plugins.FastMarkerCluster(coords, callback=fast_callback, name="工单").add_to(m)
    buildings = plugins.MarkerCluster(name="楼栋").add_to(m)
    for i, (y, x) in enumerate(coords[:20]):
        folium.Marker([y, x], icon=folium.DivIcon(html=f"<div>B{i}</div>")).add_to(buildings)
    heat = folium.FeatureGroup(name="热力").add_to(m)
    plugins.HeatMap(coords).add_to(heat)

    plugins.GroupedLayerControl({"分析": [points, heat]}, exclusive_groups=False).add_to(m)
    folium.LayerControl().add_to(m)
    plugins.Fullscreen().add_to(m)

    legend = folium.MacroElement()
    legend._template = Template(
        "{% macro html(this, kwargs) %}<div id='legend'>图例</div>{% endmacro %}"
        "{% macro script(this, kwargs) %}window.legendReady = true;{% endmacro %}"
    )
    m.get_root().add_child(legend)
    m.get_root().html.add_child(folium.Element("<div class='note'>示例数据，非真实</div>"))
    return m


def render(m: folium.Map) -> str:
    return m.get_root().render()


def _local_urls(html: str) -> list[str]:
    """The ``/app/static/…`` URLs anywhere in a page, relative to ``/app/static/``."""
    return [url.removeprefix(f"{STATIC_URL}/") for url in LOCAL_URL.findall(html)]


def _local_files(html: str) -> set[Path]:
    """The files (not folders: no trailing slash) the page's local URLs name."""
    return {STATIC_ROOT / url for url in _local_urls(html) if not url.endswith("/")}


def test_rendered_map_loads_nothing_from_other_hosts(local_assets):
    html = render(build_map())
    assert offline.external_urls(html) == []
    # the same, without the helper: every script and stylesheet is a vendored one
    srcs = re.findall(r"<script\b[^>]*\bsrc=\"([^\"]*)\"", html)
    hrefs = re.findall(r"<link\b[^>]*\bhref=\"([^\"]*)\"", html)
    assert srcs
    assert hrefs
    for url in srcs + hrefs:
        assert url.startswith(f"{STATIC_URL}/vendor/"), url


def test_every_local_url_is_a_vendored_file(local_assets):
    html = render(build_map())
    urls = set(_local_urls(html))
    # the page names the main libraries and every plugin's files ...
    for expected in (
        "leaflet/leaflet.js",
        "leaflet/leaflet.css",
        "jquery/jquery.min.js",
        "leaflet.markercluster/leaflet.markercluster.js",
        "leaflet.markercluster/MarkerCluster.Default.css",
        "leaflet-groupedlayercontrol/leaflet.groupedlayercontrol.min.js",
        "leaflet.heat/leaflet_heat.min.js",
        "leaflet.fullscreen/Control.FullScreen.js",
    ):
        assert f"vendor/{expected}" in urls
    # ... and each of them is there
    for url in urls:
        path = STATIC_ROOT / url
        assert path.is_dir() if url.endswith("/") else path.is_file(), url
    # the FastMarkerCluster callback's icon folder holds Leaflet's marker images
    assert "vendor/leaflet/images/" in urls
    assert (VENDOR / "leaflet" / "images" / "marker-icon.png").is_file()


def test_dropped_assets_are_not_loaded(local_assets):
    html = render(build_map())
    tags = " ".join(re.findall(r"<(?:script|link)\b[^>]*>", html)).lower()
    for word in DROPPED:
        assert word not in tags
    # nothing calls the dropped awesome-markers plugin (it would stop the map script)
    assert "AwesomeMarkers" not in html


def test_folium_default_fast_cluster_callback_needs_awesome_markers(local_assets):
    # why FAST_MARKER_CALLBACK exists: the guard above fails on folium's default callback
    assert "L.AwesomeMarkers" in render(build_map(fast_callback=None))


def test_no_used_class_keeps_a_remote_default(local_assets):
    for cls in ALL_CLASSES:
        for attr in ASSET_ATTRS:
            for _name, url in getattr(cls, attr, []):
                assert url.startswith(f"{STATIC_URL}/vendor/"), (cls.__name__, attr, url)


def test_a_plugin_left_on_its_cdn_is_caught(local_assets, monkeypatch):
    cdn = (
        "https://cdn.jsdelivr.net/gh/python-visualization/folium@main"
        "/folium/templates/leaflet_heat.min.js"
    )
    monkeypatch.setattr(plugins.HeatMap, "default_js", [("leaflet-heat.js", cdn)])
    assert offline.external_urls(render(build_map())) == [cdn]


def test_use_local_assets_is_idempotent(local_assets):
    first = {cls: [list(getattr(cls, a, [])) for a in ASSET_ATTRS] for cls in ALL_CLASSES}
    html_first = render(build_map())
    offline.use_local_assets()
    offline.use_local_assets()
    assert {cls: [list(getattr(cls, a, [])) for a in ASSET_ATTRS] for cls in ALL_CLASSES} == first
    html_again = render(build_map())
    assert _local_urls(html_again) == _local_urls(html_first)
    assert offline.external_urls(html_again) == []


def test_use_local_assets_undoes_in_place_edits(local_assets):
    # folium's add_js_link edits the class-level list in place; a new call starts clean again
    folium.Map().add_js_link("leaflet", "https://unpkg.com/leaflet/dist/leaflet.js")
    assert offline.external_urls(render(build_map()))
    offline.use_local_assets()
    assert offline.external_urls(render(build_map())) == []


def test_asset_paths_exist_and_cover_the_page(local_assets):
    paths = offline.asset_paths()
    assert len(paths) == len(set(paths))
    for path in paths:
        assert path.is_file(), path
        assert VENDOR in path.parents
    assert _local_files(render(build_map())) <= set(paths)


def test_css_references_are_vendored():
    paths = set(offline.asset_paths())
    for css in VENDOR.rglob("*.css"):
        for ref in re.findall(r"url\(\s*['\"]?([^'\")]+)", css.read_text(encoding="utf-8")):
            if ref.startswith(("#", "data:")):
                continue
            assert not ref.startswith(("http:", "https:", "//")), (css, ref)
            target = (css.parent / ref).resolve()
            assert target.is_file(), (css, ref)
            assert target in paths, (css, ref)


def test_every_vendored_file_is_used_or_a_licence():
    used = set(offline.asset_paths())
    for path in VENDOR.rglob("*"):
        if path.is_file() and path.name != "README.md" and "LICEN" not in path.name.upper():
            assert path in used, f"{path} is vendored but never loaded"


@pytest.mark.parametrize(("package", "licence"), sorted(LICENCES.items()))
def test_each_package_keeps_its_licence(package: str, licence: str):
    path = VENDOR / package / licence
    assert path.is_file()
    assert re.search(r"copyright|permission", path.read_text(encoding="utf-8"), re.IGNORECASE)
    assert package in (VENDOR / "README.md").read_text(encoding="utf-8")


def test_vendor_has_exactly_the_listed_packages():
    assert {p.name for p in VENDOR.iterdir() if p.is_dir()} == set(LICENCES)


def test_external_urls_finds_script_and_link_urls_only():
    html = """<html><head>
    <script src="https://cdn.example.org/a.js"></script>
    <script src="/app/static/vendor/leaflet/leaflet.js"></script>
    <link rel="stylesheet" href="//cdn.example.org/b.css"/>
    <link rel="stylesheet" href="http://example.org/c.css">
    <link rel="stylesheet" href="https://cdn.example.org/b.css">
    <link rel="stylesheet" href="vendor/local.css">
    <script src="HTTPS://cdn.example.org/A.js"></script>
    </head><body>
    <a href="https://example.org/page">link</a><img src="https://example.org/i.png">
    <script>var s = '<script src="https://example.org/in-js.js"></' + 'script>';</script>
    <link rel="stylesheet" href="//cdn.example.org/b.css"/>
    </body></html>"""
    assert offline.external_urls(html) == [
        "https://cdn.example.org/a.js",
        "//cdn.example.org/b.css",
        "http://example.org/c.css",
        "https://cdn.example.org/b.css",
        "HTTPS://cdn.example.org/A.js",
    ]
