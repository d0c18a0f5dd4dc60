"""Serve every JS/CSS asset of the folium maps from the app itself (no internet at run time).

folium classes name their JavaScript and CSS as class attributes ``default_js`` and
``default_css`` (lists of ``(name, url)``) pointing at public CDNs; folium writes them into the
page header and streamlit-folium loads them into its component iframe. On an offline machine a
single unreachable script makes the component throw before it sizes itself, and the map stays
0 px high without an error. :func:`use_local_assets` points those attributes at copies vendored
under ``dashboard/static/vendor/`` (made by ``scripts/vendor_assets.sh``), which Streamlit serves at
``/app/static/vendor/`` because ``.streamlit/config.toml`` sets ``enableStaticServing``.

This needs a Streamlit whose static serving sends ``.js``/``.css``/``.svg`` with their real
content types (checked with 1.67). Older releases sent every type outside a small allowlist as
``text/plain`` with ``X-Content-Type-Options: nosniff``, and the browser refuses to run such
scripts (streamlit/streamlit#14090 lifted that).
"""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import folium
from folium import plugins
from folium.elements import JSCSSMixin

STATIC_ROOT = Path(__file__).parent / "static"
STATIC_URL = "/app/static"

Assets = list[tuple[str, str]]


def _vendor(path: str) -> str:
    """URL of a vendored file, ``path`` relative to ``static/vendor/``."""
    return f"{STATIC_URL}/vendor/{path}"


# The names are folium's own, so anything that later calls ``add_js_link(name, …)`` replaces
# our entry instead of adding a second copy.
_MAP_JS: Assets = [
    ("leaflet", _vendor("leaflet/leaflet.js")),
    ("jquery", _vendor("jquery/jquery.min.js")),
]
_MAP_CSS: Assets = [("leaflet_css", _vendor("leaflet/leaflet.css"))]
_CLUSTER_JS: Assets = [
    ("markerclusterjs", _vendor("leaflet.markercluster/leaflet.markercluster.js"))
]
_CLUSTER_CSS: Assets = [
    ("markerclustercss", _vendor("leaflet.markercluster/MarkerCluster.css")),
    ("markerclusterdefaultcss", _vendor("leaflet.markercluster/MarkerCluster.Default.css")),
]
_GROUPED_JS: Assets = [
    (
        "leaflet.groupedlayercontrol.min.js",
        _vendor("leaflet-groupedlayercontrol/leaflet.groupedlayercontrol.min.js"),
    )
]
_GROUPED_CSS: Assets = [
    (
        "leaflet.groupedlayercontrol.min.css",
        _vendor("leaflet-groupedlayercontrol/leaflet.groupedlayercontrol.min.css"),
    )
]
_HEAT_JS: Assets = [("leaflet-heat.js", _vendor("leaflet.heat/leaflet_heat.min.js"))]
_FULLSCREEN_JS: Assets = [
    ("Control.Fullscreen.js", _vendor("leaflet.fullscreen/Control.FullScreen.js"))
]
_FULLSCREEN_CSS: Assets = [
    ("Control.FullScreen.css", _vendor("leaflet.fullscreen/Control.FullScreen.css"))
]

# Every class whose own ``__dict__`` carries defaults, with what it must load instead.
# FastMarkerCluster inherits MarkerCluster's lists in folium 0.20; it is listed anyway so a folium
# release that gives it its own lists cannot slip a CDN URL back in. JSCSSMixin, the parent of
# all of these, has empty defaults and is left alone.
_LOCAL_ASSETS: dict[type[JSCSSMixin], tuple[Assets, Assets]] = {
    folium.Map: (_MAP_JS, _MAP_CSS),
    plugins.MarkerCluster: (_CLUSTER_JS, _CLUSTER_CSS),
    plugins.FastMarkerCluster: (_CLUSTER_JS, _CLUSTER_CSS),
    plugins.GroupedLayerControl: (_GROUPED_JS, _GROUPED_CSS),
    plugins.HeatMap: (_HEAT_JS, []),
    plugins.Fullscreen: (_FULLSCREEN_JS, _FULLSCREEN_CSS),
}

LEAFLET_IMAGES_URL = _vendor("leaflet/images/")
"""Folder of Leaflet's default marker images (``marker-icon.png`` …), with the trailing slash."""

FAST_MARKER_CALLBACK = (
    "(function () {"
    f" var icon = new L.Icon.Default({{imagePath: '{LEAFLET_IMAGES_URL}'}});"
    " return function (row) { return L.marker(new L.LatLng(row[0], row[1]), {icon: icon}); };"
    " })()"
)
"""Pass as ``plugins.FastMarkerCluster(data, callback=FAST_MARKER_CALLBACK)``.

folium's default callback draws each point with ``L.AwesomeMarkers.icon()``, which
:func:`use_local_assets` drops: without a callback the map script throws at the cluster and
every layer after it is missing. This one draws Leaflet's blue pin from the vendored images.
The image folder is given explicitly because inside the streamlit-folium iframe the markers are
made before ``leaflet.css`` applies, and Leaflet's fallback guess then drops ``images/``
(it requests ``/app/static/vendor/leafletmarker-icon.png``, a 404).
"""

# Files the vendored CSS loads itself through relative ``url(…)``; they sit beside the CSS.
_CSS_DEPENDENCIES: tuple[str, ...] = (
    "leaflet/images/layers.png",
    "leaflet/images/layers-2x.png",
    "leaflet/images/marker-icon.png",
    "leaflet/images/marker-icon-2x.png",
    "leaflet/images/marker-shadow.png",
    "leaflet.fullscreen/icon-fullscreen.svg",
)


def use_local_assets() -> None:
    """Point folium's map and plugin classes at the vendored copies of their JS and CSS.

    Call it before building a map. Idempotent: every call assigns fresh copies of the same
    lists, so it also undoes any in-place ``add_js_link``/``add_css_link`` on the class lists.

    Which local file (under ``/app/static/vendor/``) replaces which upstream asset of each
    class is listed in ``dashboard/static/vendor/README.md``. jQuery is kept because
    ``folium.Popup`` builds its content with ``$(…)``; without it the map script stops at the
    first popup.

    Dropped from ``folium.Map`` without replacement, because no class the dashboard uses needs
    them (checked in Chromium: the map, popups, tooltips, clusters, heat map and layer
    controls all work without them):

    Bootstrap 5.2.2 (JS and CSS), Bootstrap 3 glyphicons, Font Awesome 6.2.0,
    Leaflet.awesome-markers 2.0.2 (JS and CSS) and folium's ``leaflet.awesome.rotate`` CSS.

    They serve ``folium.Icon`` (``L.AwesomeMarkers``), which must therefore not be used: mark
    points with ``folium.DivIcon`` or ``folium.CircleMarker``, and give
    ``plugins.FastMarkerCluster`` a ``callback`` (e.g. :data:`FAST_MARKER_CALLBACK`), because
    its default one calls ``L.AwesomeMarkers.icon()``. Custom HTML (legends, popups) cannot
    rely on Bootstrap classes or Font Awesome icons either, and without Bootstrap's base CSS the
    page body keeps the browser's default (serif) font: HTML placed outside the Leaflet
    container, which has its own font, should set ``font-family`` itself.
    """
    for cls, (js, css) in _LOCAL_ASSETS.items():
        cls.default_js = list(js)
        cls.default_css = list(css)


def _local_path(url: str) -> Path:
    """File under :data:`STATIC_ROOT` served at ``url`` (which starts with :data:`STATIC_URL`)."""
    if not url.startswith(f"{STATIC_URL}/"):
        raise ValueError(f"not a {STATIC_URL}/ URL: {url}")
    return STATIC_ROOT / url.removeprefix(f"{STATIC_URL}/")


def asset_paths() -> list[Path]:
    """List the local files the patched classes load, plus the images their CSS loads.

    Returns
    -------
    list[Path]
        Paths under :data:`STATIC_ROOT`, without duplicates, in a stable order. They are not
        checked for existence (that is the tests' job).
    """
    urls = [url for js, css in _LOCAL_ASSETS.values() for _, url in (*js, *css)]
    urls += [_vendor(path) for path in _CSS_DEPENDENCIES]
    return [_local_path(url) for url in dict.fromkeys(urls)]


class _AssetLinks(HTMLParser):
    """Collect ``<script src>`` and ``<link href>`` values of an HTML page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        wanted = {"script": "src", "link": "href"}.get(tag)
        self.urls += [value for key, value in attrs if key == wanted and value]


def external_urls(html: str) -> list[str]:
    """Find the assets of a rendered page that would be fetched from another host.

    Parameters
    ----------
    html : str
        A rendered page, e.g. ``m.get_root().render()`` of a folium map.

    Returns
    -------
    list[str]
        The ``http://``, ``https://`` and protocol-relative (``//host/…``) URLs found in
        ``<script src>`` and ``<link href>``, in page order, without duplicates. Text inside
        ``<script>`` blocks is not parsed as markup.
    """
    parser = _AssetLinks()
    parser.feed(html)
    parser.close()
    external = [
        u for u in parser.urls if u.strip().lower().startswith(("http://", "https://", "//"))
    ]
    return list(dict.fromkeys(external))
