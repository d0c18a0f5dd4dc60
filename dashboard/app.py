"""网格化治理地图 — Streamlit entry point: ``streamlit run dashboard/app.py``.

Pages are grouped by job with ``st.navigation``; each page only wires widgets to
:mod:`layers` (analysis) and :mod:`dashboard.mapview` (the map). Later pages (工单 tickets,
大屏 wall screen at ``/wall``, 服务覆盖 reach, 数据管理 import) join the groups below.
"""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere

from dashboard.i18n import t  # noqa: E402
from dashboard.state import language_switch, user_errors  # noqa: E402
from dashboard.views import (  # noqa: E402
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


def map_alias() -> None:
    """``/map`` — the first page under its own name too (the default page lives at ``/``)."""
    map_page.render()


pages = {
    t("nav_map", lang): [
        st.Page(map_page.render, title=t("page_map", lang), url_path="home", default=True,
                icon=":material/map:"),
        st.Page(map_alias, title=t("page_map", lang), url_path="map", visibility="hidden",
                icon=":material/map:"),
        st.Page(coverage_page.render, title=t("page_coverage", lang), url_path="coverage",
                icon=":material/fact_check:"),
        st.Page(reach_page.render, title=t("page_reach", lang), url_path="reach",
                icon=":material/directions_walk:"),
    ],
    t("nav_work", lang): [
        st.Page(tickets_page.render, title=t("page_tickets", lang), url_path="tickets",
                icon=":material/assignment:"),
        st.Page(people_page.render, title=t("page_people", lang), url_path="people",
                icon=":material/badge:"),
    ],
    t("nav_data", lang): [
        st.Page(data_page.render, title=t("page_data", lang), url_path="data",
                icon=":material/upload_file:"),
    ],
    t("nav_wall", lang): [
        st.Page(wall_page.render, title=t("page_wall", lang), url_path="wall",
                icon=":material/tv:"),
    ],
}
page = st.navigation(pages)
with user_errors():  # plain message for users, details in the server log
    page.run()
