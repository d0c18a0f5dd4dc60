"""覆盖分析 — flagged grids and buildings, who could fill the gaps, the list for the meeting."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from dashboard.i18n import t
from dashboard.state import (
    Store,
    fictional_banner,
    lang,
    problem_list_files,
    problem_tables,
)
from dashboard.views.map_page import controls, show_map


def coverage_chart(summary: pd.DataFrame, L: str) -> alt.Chart:
    """Grid and building coverage per community (the town total row left out)."""
    s = summary[summary["community_code"] != "town"]
    long = pd.concat([
        pd.DataFrame({"community": s["community_name"], "measure": t("grid_coverage", L),
                      "share": s["grid_coverage"]}),
        pd.DataFrame({"community": s["community_name"], "measure": t("building_coverage", L),
                      "share": s["building_coverage"]}),
    ])
    return alt.Chart(long).mark_bar().encode(
        x=alt.X("share:Q", title=None, axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1])),
        y=alt.Y("community:N", title=None, sort=None),
        yOffset="measure:N",
        color=alt.Color("measure:N", title=None, legend=alt.Legend(orient="top")),
        tooltip=["community:N", "measure:N", alt.Tooltip("share:Q", format=".1%")],
    ).properties(height=max(240, 34 * len(s)), title=t("chart_title", L))


def render() -> None:
    L = lang()
    store = Store()
    cov = store.cov
    st.title(t("page_coverage", L))
    fictional_banner(store)
    total = cov.summary.set_index("community_code").loc["town"]
    k = st.columns(5)
    k[0].metric(t("grid_coverage", L), f"{total.grid_coverage:.1%}")
    k[1].metric(t("grids_without_sentinel", L), f"{int(total.grids_without_sentinel)}")
    k[2].metric(t("overloaded_people", L), f"{len(cov.overloaded_sentinels)}")
    k[3].metric(t("building_coverage", L), f"{total.building_coverage:.1%}")
    k[4].metric(t("col_unassigned_party_members", L), f"{cov.unassigned_party_members:,}")

    tables = problem_tables(str(store.path), store.mtime, L)
    d1, d2, _ = st.columns([1, 1, 2])
    csv_bytes, xlsx_bytes = problem_list_files(str(store.path), store.mtime, L)
    d1.download_button(t("download_csv", L), csv_bytes, "问题清单.csv", "text/csv")
    d2.download_button(t("download_excel", L), xlsx_bytes, "问题清单.xlsx",
                       "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")

    community, tiles = controls(store, "cov")
    left, right = st.columns([1.6, 1])
    with left:
        st.caption(t("highlight_on_map", L))
        show_map(store, community, tiles, "cov", height=520)
    with right:
        st.altair_chart(coverage_chart(cov.summary, L), width="stretch")
    names = list(tables)
    for title in names:
        df = tables[title]
        st.subheader(f"{title}（{len(df)}）")
        st.dataframe(df, hide_index=True, width="stretch", height=min(420, 38 + 35 * len(df)))
