"""网格化治理地图 — Streamlit entry point: ``streamlit run dashboard/app.py``.

This first version is a single overview page of the demo town; the map, coverage, ticket,
wall-screen and import pages come with later issues. Logic lives in :mod:`layers`; this file
only wires widgets to it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere

from dashboard import charts  # noqa: E402
from dashboard import data as appdata  # noqa: E402
from dashboard.i18n import LANGUAGES, t  # noqa: E402
from layers.coverage import coverage  # noqa: E402

st.set_page_config(page_title="网格化治理地图", page_icon="🗺️", layout="wide")


@st.cache_data(show_spinner=False, max_entries=4)
def _load(path: str, mtime_ns: int):
    return appdata.load(path, mtime_ns)


@st.cache_data(show_spinner=False, max_entries=4)
def _coverage(path: str, mtime_ns: int):
    return coverage(_load(path, mtime_ns))


@st.cache_data(show_spinner=False, max_entries=4)
def _map_spec(path: str, mtime_ns: int, lang: str):
    data = _load(path, mtime_ns)
    return charts.town_map(data, _coverage(path, mtime_ns).grids, lang)


lang = st.sidebar.radio(
    "语言 / Language", list(LANGUAGES), format_func=LANGUAGES.get, horizontal=True,
    key="lang",
)
path = appdata.store_path(st.query_params.get("data"))
if path == appdata.DEMO_STORE and not path.exists():
    with st.spinner(t("generating", lang)):
        appdata.ensure_demo(path)
mtime = path.stat().st_mtime_ns
data = _load(str(path), mtime)
result = _coverage(str(path), mtime)

st.title(t("app_title", lang))
if data.fictional:
    st.warning(f"**{t('fictional', lang)}** · {data.meta.get('label_en', '')}", icon="⚠️")
town = data.towns
st.caption(f"{t('data_source', lang)}: {path.name} · {', '.join(town.name.astype(str))} · "
           f"{t('as_of', lang)} {result.as_of}")

total = result.summary.set_index("community_code").loc["town"]
cols = st.columns(6)
cols[0].metric(t("communities", lang), f"{len(data.communities)}")
cols[1].metric(t("grids", lang), f"{len(data.grids)}")
cols[2].metric(t("buildings", lang), f"{len(data.buildings):,}")
cols[3].metric(t("population", lang), f"{int(data.communities.population.sum()):,}")
cols[4].metric(t("grid_coverage", lang), f"{total.grid_coverage:.1%}",
               delta=f"-{int(total.grids_without_sentinel)} {t('grids_without_sentinel', lang)}",
               delta_color="normal")
cols[5].metric(t("building_coverage", lang), f"{total.building_coverage:.1%}")

st.altair_chart(_map_spec(str(path), mtime, lang), width="stretch")
st.caption(t("map_caption", lang))

st.subheader(t("summary", lang))
table = result.summary.copy()
table.loc[table.community_code == "town", "community_name"] = t("total", lang)
percent = {t(f"col_{c}", lang): st.column_config.NumberColumn(format="percent")
           for c in ("grid_coverage", "building_coverage")}
table = table.rename(columns={c: t(f"col_{c}", lang) for c in table.columns})
st.dataframe(table, hide_index=True, width="stretch", column_config=percent)
st.info(t("placeholder_note", lang))
