"""The app's look: one stylesheet and a header naming the area and the data's date.

A government workplace, not a demo: a slim header (the app, the area's name, when the data last
changed, the fictional-data tag), tight spacing, and Streamlit's own widget texts (the file
uploader's button and size note) in the page's language. Nothing here needs the internet: the
fonts are the system's (Noto CJK on the office PCs the README names).
"""

from __future__ import annotations

import datetime as dt
import html
import logging

import streamlit as st

from dashboard import data as appdata
from dashboard.i18n import t
from layers.store import StoreError

log = logging.getLogger(__name__)

#: The accent of the header's rule and of links/buttons (the theme's primaryColor).
ACCENT = "#c8102e"


def _css(lang: str, max_upload_mb: int) -> str:
    """The stylesheet: spacing, the header, and Streamlit's uploader texts in ``lang``."""
    upload = t("upload_button", lang).replace('"', "")
    limit = t("upload_limit", lang).format(mb=max_upload_mb).replace('"', "")
    return f"""
<style>
/* room for the work: Streamlit's 6rem top padding and oversized titles read as a demo */
.stMainBlockContainer, .block-container {{ padding-top: 3.2rem; }}
[data-testid="stHeader"] {{ background: transparent; height: 2.4rem; }}
.stMain h1 {{ font-size: 1.7rem; font-weight: 700; padding: .2rem 0 .4rem; }}
.stMain h2 {{ font-size: 1.3rem; }} .stMain h3 {{ font-size: 1.1rem; }}
.wg-header {{ display: flex; align-items: center; gap: .8rem; flex-wrap: wrap;
  border-bottom: 3px solid {ACCENT}; padding: 0 0 .45rem; margin: 0 0 .3rem; }}
.wg-header .wg-mark {{ background: {ACCENT}; color: #fff; font-weight: 700; border-radius: 4px;
  width: 1.9rem; height: 1.9rem; line-height: 1.9rem; text-align: center; font-size: 1.05rem; }}
.wg-header .wg-app {{ font-weight: 700; font-size: 1.1rem; color: #1f2328; }}
.wg-header .wg-area {{ font-size: 1.05rem; color: #1f2328; }}
.wg-header .wg-meta {{ margin-left: auto; color: #57606a; font-size: .9rem; }}
.wg-header .wg-tag {{ background: #fff4d6; color: #7a5200; border-radius: 3px;
  padding: 0 .4rem; margin-left: .4rem; font-size: .85rem; }}
/* Streamlit's own uploader texts, in the page's language */
[data-testid="stFileUploaderDropzone"] button [data-testid="stMarkdownContainer"] p {{
  font-size: 0; }}
[data-testid="stFileUploaderDropzone"] button [data-testid="stMarkdownContainer"] p::after {{
  content: "{upload}"; font-size: .95rem; }}
[data-testid="stFileUploaderDropzoneInstructions"] span {{ font-size: 0; }}
[data-testid="stFileUploaderDropzoneInstructions"] span::after {{
  content: "{limit}"; font-size: .85rem; }}
@media (max-width: 640px) {{
  .stMainBlockContainer, .block-container {{ padding-left: .8rem; padding-right: .8rem; }}
  .wg-header .wg-meta {{ margin-left: 0; width: 100%; }}
}}
</style>"""


def style(lang: str) -> None:
    """Put the stylesheet on the page (every page, before its content)."""
    mb = int(st.get_option("server.maxUploadSize") or 200)
    st.html(_css(lang, mb))


@st.cache_data(show_spinner=False, max_entries=16)
def _area(key: str, version: str) -> tuple[list[str], str | None, bool]:
    """(town names, the day the layers last changed, fictional?) of a store version."""
    del version  # the cache key
    store = appdata.open_key(key)
    towns = store.read(["towns"], columns={"towns": ["name"]})["towns"]
    changed = store.changed_at()
    day = changed.date().isoformat() if changed is not None else None
    return [str(n) for n in towns["name"].tolist()], day, \
        str(store.meta().get("fictional", "")).lower() == "true"


def area_title(towns: list[str], lang: str) -> str:
    """The area the store holds: its town, or the first town and how many more."""
    if not towns:
        return ""
    if len(towns) == 1:
        return towns[0]
    return t("header_towns", lang).format(first=towns[0], n=len(towns))


def header(key: str, lang: str) -> None:
    """The slim header above every page: the app, the area's name (text from the store,
    escaped), the data's last change and the fictional-data tag (``key``: the store key)."""
    try:
        towns, day, fictional = _area(key, appdata.open_key(key).version())
    except (StoreError, OSError, KeyError, ValueError):
        log.exception("header: cannot read the store %s", appdata.shown(key))
        towns, day, fictional = [], None, False
    meta = []
    if day:
        meta.append(t("header_as_of", lang).format(day=dt.date.fromisoformat(day).isoformat()))
    tag = f'<span class="wg-tag">{html.escape(t("fictional", lang))}</span>' if fictional else ""
    st.html(
        '<div class="wg-header" data-testid="wg-header">'
        f'<span class="wg-mark">网</span><span class="wg-app">{html.escape(t("app_title", lang))}'
        f'</span><span class="wg-area">{html.escape(area_title(towns, lang))}</span>'
        f'<span class="wg-meta">{html.escape(" · ".join(meta))}{tag}</span></div>')
