"""The map component, rendered once per map and reused on every rerun.

``st_folium`` renders the whole folium map to JavaScript on every call (twice, in fact) and
hashes the result: ~0.2 s of Python on each click at town scale, more for a city. Here the
rendered strings (:class:`Frame`) are made once per map — the app caches them with the map's
display data — and each rerun only sends them with the *dynamic* parts: the selection, the
features in view, the centre and zoom. The component instance (its key) depends only on the
rendered map, so it stays mounted and the browser redraws just the dynamic layers.

This reuses streamlit-folium's own frontend and helpers (pinned in requirements.txt: the
helpers are not public API); :func:`show` takes the same arguments as ``st_folium``'s and
returns the same dictionary.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import branca
import folium
import streamlit as st
import streamlit_folium as sf


@dataclass(frozen=True)
class Frame:
    """A folium map rendered for the component."""

    script: str
    header: str
    html: str
    map_id: str
    css_links: tuple[str, ...]
    js_links: tuple[str, ...]
    bounds: tuple[tuple[float | None, float | None], tuple[float | None, float | None]]
    zoom: int | None

    @property
    def nbytes(self) -> int:
        """What one rerun sends for the map (besides the dynamic layers)."""
        return len(self.script) + len(self.header) + len(self.html)


def render(m: folium.Map) -> Frame:
    """Render ``m`` once (what ``st_folium`` does on every call)."""
    m.get_root().render()
    html = sf._get_html(m)
    header = sf._get_header(m)
    script = sf._get_map_string(m)
    css, js = _links(m)
    try:
        b = m.get_bounds()
        bounds = ((b[0][0], b[0][1]), (b[1][0], b[1][1]))
    except AttributeError:
        bounds = ((None, None), (None, None))
    zoom = m.options.get("zoom")
    return Frame(script, header, html, sf.get_full_id(m), tuple(css), tuple(js), bounds,
                 int(zoom) if isinstance(zoom, (int, float)) else None)


def _links(m: folium.Map) -> tuple[list[str], list[str]]:
    """The CSS and JS files the map's elements need (local: :mod:`dashboard.offline`)."""
    css: list[str] = []
    js: list[str] = []

    def walk(el):
        if isinstance(el, folium.elements.JSCSSMixin):
            yield el
        for child in getattr(el, "_children", {}).values():
            yield from walk(child)

    for el in walk(m):
        if isinstance(el, branca.colormap.ColorMap):  # pragma: no cover - not used here
            continue
        css.extend(href for _, href in getattr(el, "default_css", []))
        js.extend(src for _, src in getattr(el, "default_js", []))
    return list(dict.fromkeys(css)), list(dict.fromkeys(js))


def dynamic_script(groups: Sequence[folium.FeatureGroup]) -> str | None:
    """The JavaScript that (re)builds the dynamic layers on the mounted map."""
    if not groups:
        return None
    holder = folium.Map(tiles=None)  # any map: its name is replaced by the frame's map_div
    return "".join(sf._get_feature_group_string(fg, map=holder, idx=i)
                   for i, fg in enumerate(groups))


def show(  # noqa: PLR0913 - the component's own arguments
    frame: Frame,
    *,
    key: str,
    height: int,
    returned_objects: Iterable[str],
    feature_groups: Sequence[folium.FeatureGroup] = (),
    center: tuple[float, float] | None = None,
    zoom: int | None = None,
    on_change: Callable[[], None] | None = None,
) -> dict:
    """Draw ``frame`` (mounted once per ``key`` and map) with its dynamic layers; the
    component's value (``last_active_drawing``, ``bounds``, ``zoom``, …) is returned and,
    before ``on_change`` runs, stored in ``st.session_state[key]``."""
    returned = list(returned_objects)
    hash_key = sf.generate_js_hash(frame.script, key, False)

    def changed() -> None:
        st.session_state[key] = st.session_state.get(hash_key, {})
        if on_change is not None:
            on_change()

    (sw_lat, sw_lng), (ne_lat, ne_lng) = frame.bounds
    defaults = {"last_active_drawing": None, "last_clicked": None,
                "bounds": {"_southWest": {"lat": sw_lat, "lng": sw_lng},
                           "_northEast": {"lat": ne_lat, "lng": ne_lng}},
                "zoom": frame.zoom, "center": {}}
    return sf._component_func(
        script=frame.script, header=frame.header, html=frame.html, id=frame.map_id,
        key=hash_key, height=height, width=None, returned_objects=returned,
        default={k: v for k, v in defaults.items() if k in returned},
        zoom=zoom, center=center, feature_group=dynamic_script(feature_groups),
        return_on_hover=False, layer_control=None, pixelated=False,
        css_links=list(frame.css_links), js_links=list(frame.js_links),
        on_change=changed, wrap_longitude=False)
