"""网格化治理地图 — Streamlit entry point: ``streamlit run dashboard/app.py``.

Pages are grouped by job with ``st.navigation``; each page only wires widgets to
:mod:`layers` (analysis) and :mod:`dashboard.mapview` (the map). Later pages (工单 tickets,
大屏 wall screen at ``/wall``, 服务覆盖 reach, 数据管理 import) join the groups below.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere

from dashboard import auth, chrome  # noqa: E402
from dashboard.i18n import t  # noqa: E402
from dashboard.state import (  # noqa: E402
    dataset_picker,
    language_switch,
    store_key,
    user_errors,
    warm_layers,
)
from dashboard.views import (  # noqa: E402
    audit_page,
    coverage_page,
    data_page,
    map_page,
    people_page,
    reach_page,
    tickets_page,
    wall_page,
)

FAVICON = str(Path(__file__).resolve().parent / "static" / "favicon.png")  # local: offline
st.set_page_config(page_title="网格化治理地图", page_icon=FAVICON, layout="wide")
lang = language_switch()
chrome.style(lang)


def map_alias() -> None:
    """``/map`` — the first page under its own name too (the default page lives at ``/``)."""
    map_page.render()


def page(render: Callable[[], None], title: str, url_path: str, icon: str,
         **kw: object) -> st.Page:
    return st.Page(render, title=t(title, lang), url_path=url_path, icon=icon,
                   **kw)  # type: ignore[arg-type]


#: (group, capability, page): the pages a principal may open (roles as data:
#: :data:`layers.auth.CAPABILITIES`); the others are not registered at all.
PAGES = [
    ("nav_map", "map", page(map_page.render, "page_map", "home", ":material/map:")),
    ("nav_map", "map", page(map_alias, "page_map", "map", ":material/map:",
                            visibility="hidden")),
    ("nav_map", "analysis", page(coverage_page.render, "page_coverage", "coverage",
                                 ":material/fact_check:")),
    ("nav_map", "analysis", page(reach_page.render, "page_reach", "reach",
                                 ":material/directions_walk:")),
    ("nav_work", "tickets", page(tickets_page.render, "page_tickets", "tickets",
                                 ":material/assignment:")),
    ("nav_work", "people", page(people_page.render, "page_people", "people",
                                ":material/badge:")),
    ("nav_data", "import", page(data_page.render, "page_data", "data",
                                ":material/upload_file:")),
    ("nav_data", "audit", page(audit_page.render, "page_audit", "audit",
                               ":material/policy:")),
    ("nav_wall", "wall", page(wall_page.render, "page_wall", "wall", ":material/tv:")),
]
key = store_key()  # the store's identity (never a password): every cache is keyed by it
# the login form stops here (at the address asked for); nothing of the store is read before
who = auth.gate(key, lang, [p.url_path for _, _, p in PAGES])
auth.sidebar_account(key, who, lang)
dataset_picker(key)
pages: dict[str, list[st.Page]] = {}
for group, capability, p in PAGES:
    if who.can(capability):
        pages.setdefault(t(group, lang), []).append(p)
if not who.can("map"):  # the kiosk: its one page keeps its own address (/wall?token=…)
    pages[t("nav_wall", lang)].insert(0, page(wall_page.render, "page_wall", "start",
                                              ":material/tv:", default=True,
                                              visibility="hidden"))
navigation = st.navigation(pages)
if navigation.url_path not in ("wall", "start"):  # the wall screen has its own title
    chrome.header(key, lang)
with user_errors():  # plain message for users, details in the server log
    navigation.run()
warm_layers()  # the page is out: read the layers it did not need, in the background
