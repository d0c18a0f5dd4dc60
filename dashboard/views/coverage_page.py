"""覆盖分析 — flagged grids and buildings, who could fill the gaps, the list for the meeting."""

from __future__ import annotations

import functools

import altair as alt
import pandas as pd
import streamlit as st

from dashboard import auth, mapview
from dashboard import data as appdata
from dashboard.i18n import t
from dashboard.reports import community_grids
from dashboard.state import (
    StoreView,
    as_of_picker,
    community_problem_files,
    community_problem_tables,
    download,
    fictional_banner,
    lang,
    number_columns,
    set_param,
    user_errors,
)
from dashboard.text import md, percent
from dashboard.views.assign_panel import (
    notify,
    option_label,
    people_pool,
    refused,
    show_notice,
)
from dashboard.views.map_page import controls, show_map
from layers import register as reg
from layers.assignments import active_assignments, resolve_as_of
from layers.coverage import CoverageResult
from layers.errors import LayersError
from layers.layerset import LayerSet

SOURCE = "page:coverage"
MAX_FILL_ROWS = 30  # grids listed with their suggestions per community
_ASK = "cov_fill_ask"


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def coverage_chart(summary: pd.DataFrame, L: str, community: str | None = None) -> alt.Chart:
    """Grid and building coverage per community (the town total row left out); only
    ``community``'s bars when one is chosen."""
    s = summary[summary["community_code"] != "town"]
    title = t("chart_title", L)
    if community is not None:
        s = s[(s["community_code"] == community).to_numpy()]
        title = t("cov_chart_one", L).format(name=", ".join(s["community_name"].astype(str)))
    long = pd.concat([
        pd.DataFrame({"community": s["community_name"], "measure": t("grid_coverage", L),
                      "share": s["grid_coverage"]}),
        pd.DataFrame({"community": s["community_name"], "measure": t("building_coverage", L),
                      "share": s["building_coverage"]}),
    ])
    x = alt.X("share:Q", title=None, axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1]))
    tooltip = ["community:N", "measure:N", alt.Tooltip("share:Q", format=".1%")]
    if community is not None:  # one community: its two shares, one bar each
        return alt.Chart(long).mark_bar().encode(
            x=x, y=alt.Y("measure:N", title=None, sort=None, axis=alt.Axis(labelLimit=240)),
            color=alt.Color("measure:N", title=None, legend=None), tooltip=tooltip,
        ).properties(height=alt.Step(44), title=title)
    return alt.Chart(long).mark_bar().encode(
        x=x, y=alt.Y("community:N", title=None, sort=None), yOffset="measure:N",
        color=alt.Color("measure:N", title=None, legend=alt.Legend(orient="top")),
        tooltip=tooltip,
    ).properties(height=max(240, 34 * len(s)), title=title)


@st.cache_resource(show_spinner=False, max_entries=4)
def fill_suggestions(key: str, version: int, _data: LayerSet, _cov) -> pd.DataFrame:
    """The register's suggested people (the one rule; people who left excluded) per grid
    without a sentinel, with the grid's community and name and the person's duties in force
    (``duties``), once per store version. The register's ``load`` is the grid's households:
    what the person would take on."""
    gone = reg.people_left(appdata.open_key(key))["person_id"]
    sug = reg.suggestions(_data, exclude=gone, result=_cov)
    g = _data.grids.set_index("code")
    duties = people_pool(key, version, _data).set_index("person_id")["load"]
    return sug.assign(community_code=sug["grid_code"].map(g["community_code"]),
                      grid_name=sug["grid_code"].map(g["name"]),
                      duties=sug["person_id"].map(duties).fillna(0).astype(int))


def fill_gaps(store: StoreView, community: str | None) -> None:
    """补位: each grid without a sentinel with its suggested people (distance, load) and a
    one-click accept; 一键补位 per community, which shows the list and asks to confirm."""
    L = lang()
    st.subheader(t("cov_fill", L))
    show_notice("cov:fill", lambda grid: t("asg_conflict", L).format(
        role=t("grid_sentinel", L), now=_holders(store, grid) or t("asg_nobody", L)))
    sug = fill_suggestions(store.key, store.version, store.data, store.cov)
    if sug.empty:
        st.caption(t("cov_fill_none", L))
        return
    counts = sug.drop_duplicates("grid_code")["community_code"].value_counts().sort_index()
    names = dict(zip(store.data.communities["code"], store.data.communities["name"],
                     strict=True))
    comms = counts.index.tolist()
    comm = st.selectbox(t("cov_fill_community", L), comms,
                        index=comms.index(community) if community in comms else 0,
                        format_func=lambda c: f"{names.get(c, c)} · "
                        + t("cov_fill_grids", L).format(n=int(counts[c])), key="cov_fill_comm")
    mine = sug[(sug["community_code"] == comm).to_numpy()].sort_values(["grid_code", "rank"])
    grids = mine["grid_code"].drop_duplicates().tolist()
    for grid in grids[:MAX_FILL_ROWS]:
        _grid_row(store, mine[(mine["grid_code"] == grid).to_numpy()])
    if len(grids) > MAX_FILL_ROWS:
        st.caption(t("cov_more", L).format(n=len(grids) - MAX_FILL_ROWS))
    _fill_all(store, comm, names.get(comm, comm), mine)


def _holders(store: StoreView, grid: str | None) -> str:
    """The grid's sentinels as read now (names, Markdown-escaped)."""
    data = store.data
    act = active_assignments(data.assignments, resolve_as_of(data))
    ids = act.loc[((act["role"] == "grid_sentinel") & (act["target_code"] == grid)).to_numpy(),
                  "person_id"]
    p = data.people.set_index("person_id")["name"]
    return "、".join(md(p.get(i, i)) for i in sorted(ids))


def _grid_row(store: StoreView, rows: pd.DataFrame) -> None:
    L = lang()
    first = rows.iloc[0]
    grid = first["grid_code"]
    c1, c2, c3 = st.columns([1.1, 3.2, 0.7], vertical_alignment="center")
    c1.markdown(f"**{md(first['grid_name'])}**  \n{md(grid)} · "
                + t("cov_grid_households", L).format(n=f"{int(first['load']):,}"))
    labels = {r.person_id: md(option_label(r.name, r.distance_m, r.duties))  # radio: Markdown
              for r in rows.itertuples()}
    pick_key = f"cov_pick_{grid}"
    c2.radio(t("cov_candidate", L), list(labels), format_func=labels.get, key=pick_key,
             horizontal=True, label_visibility="collapsed")
    c3.button(t("cov_accept", L), key=f"cov_accept_{grid}", on_click=_accept,
              args=(store.key, grid, pick_key,
                    dict(zip(rows["person_id"], rows["name"], strict=True))))


def _accept(key: str, grid: str, pick_key: str, names: dict[str, str]) -> None:
    """采纳: the picked person becomes the grid's sentinel, if it still has none."""
    pid = st.session_state.get(pick_key)
    if not pid:
        return
    try:
        reg.assign(appdata.open_key(key), person_id=pid, role="grid_sentinel", target=grid,
                   expected_holders=[], principal=auth.principal(), source=SOURCE)
    except reg.EditConflict:
        notify("cov:fill", "conflict", grid)
        return
    except LayersError as exc:
        notify("cov:fill", "error", refused(exc))
        return
    notify("cov:fill", "success", t("cov_accepted", lang()).format(
        name=md(names.get(pid, pid)), grid=md(grid)))


def _fill_all(store: StoreView, comm: str, comm_name: str, mine: pd.DataFrame) -> None:
    """一键补位, in two steps: the button shows the list of who goes where, then confirm."""
    L = lang()
    if st.session_state.get(_ASK) != comm:
        st.button(t("cov_fill_all", L), key=f"cov_fill_{comm}", type="primary",
                  on_click=lambda: st.session_state.__setitem__(_ASK, comm))
        return
    first = mine[(mine["rank"] == 1).to_numpy()]
    st.warning(t("cov_fill_confirm", L).format(community=md(comm_name), n=len(first)))
    st.dataframe(pd.DataFrame({
        t("grid", L): first["grid_code"], t("name", L): first["grid_name"],
        t("sentinel", L): first["name"], t("distance_m", L): first["distance_m"],
        t("ppl_load", L): first["duties"], t("households", L): first["load"]}),
        hide_index=True, width="stretch")
    c1, c2, _ = st.columns([1, 1, 3])
    c1.button(t("confirm", L), key=f"cov_fill_yes_{comm}", type="primary", on_click=_fill,
              args=(store.key, comm))
    c2.button(t("cancel", L), key=f"cov_fill_no_{comm}",
              on_click=lambda: st.session_state.pop(_ASK, None))


def _fill(key: str, comm: str) -> None:
    st.session_state.pop(_ASK, None)
    try:
        n = reg.accept_suggestions(appdata.open_key(key), community=comm, principal=auth.principal(),
                                   source=SOURCE)
    except LayersError as exc:
        notify("cov:fill", "error", refused(exc))
        return
    notify("cov:fill", "success", t("cov_fill_done", lang()).format(n=n))


@st.fragment
def _coverage_map(community: str | None, tiles: mapview.TileSource) -> None:
    """The map alone: a click highlights a grid without redrawing the tables and chart."""
    with user_errors():  # an error inside a fragment is shown inside it, in plain words
        show_map(StoreView(), community, tiles, "cov", height=520)


def figures(cov: CoverageResult, community: str | None) -> dict[str, object]:
    """The page's five figures for the whole area or one community: the coverage summary's
    row, and the overloaded sentinels holding a grid of the community."""
    row = cov.summary.set_index("community_code").loc[community or "town"]
    over = cov.overloaded_sentinels
    if community is not None:
        grids = community_grids(cov, community)
        over = over[over["grids"].map(lambda gs: bool(grids.intersection(gs))).to_numpy(bool)]
    return {"grid_coverage": float(row["grid_coverage"]),
            "grids_without_sentinel": int(row["grids_without_sentinel"]),
            "overloaded_people": len(over),
            "building_coverage": float(row["building_coverage"]),
            "unassigned_party_members": int(row["unassigned_party_members"])}


def _show_figures(cov: CoverageResult, community: str | None, L: str) -> None:
    f = figures(cov, community)
    k = st.columns(5)
    k[0].metric(t("grid_coverage", L), percent(f['grid_coverage']))
    k[1].metric(t("grids_without_sentinel", L), f"{f['grids_without_sentinel']:,}")
    k[2].metric(t("overloaded_people", L), f"{f['overloaded_people']:,}")
    k[3].metric(t("building_coverage", L), percent(f['building_coverage']))
    k[4].metric(t("col_unassigned_party_members", L), f"{f['unassigned_party_members']:,}")


def _downloads(store: StoreView, community: str | None, n_tables: int, L: str) -> None:
    """The problem list as an Excel workbook (one sheet per table) and as a ZIP of one CSV per
    table, both holding only the chosen community's rows."""
    zipped, xlsx = community_problem_files(store.key, store.version, L, store.as_of,
                                           store.scope, community)
    d1, d2, _ = st.columns([1, 1.4, 1.6])
    name = t("cov_file", L)
    download(store, t("download_excel", L), xlsx, f"{name}.xlsx", XLSX, where=d1,
             key="cov_dl_xlsx")
    download(store, t("cov_download_zip", L), zipped, f"{name}.zip", "application/zip",
             where=d2, key="cov_dl_zip")
    st.caption(t("cov_download_zip_help", L).format(n=n_tables))


def _scope_caption(store: StoreView, community: str | None, L: str) -> None:
    names = dict(zip(store.data.communities["code"], store.data.communities["name"],
                     strict=True))
    st.caption(t("cov_scope_one", L).format(name=md(names.get(community, community)))
               if community else t("cov_scope_all", L))


def _problem_table(df: pd.DataFrame, key: str, L: str) -> None:
    """A problem table; a row picked selects its building (or grid) on the map above."""
    codes = df[t("building", L)] if t("building", L) in df.columns else df[t("grid", L)]
    st.dataframe(df, hide_index=True, width="stretch", height=min(420, 38 + 35 * len(df)),
                 column_config=number_columns(df), key=key, selection_mode="single-row",
                 on_select=functools.partial(_select_row, key, codes.astype(str).tolist()))


def _select_row(key: str, codes: list[str]) -> None:
    """Callback: the picked row's code becomes the selection (``?sel=``): the map moves to it
    and outlines it, as a search pick does."""
    rows = st.session_state[key].selection.rows
    if rows and 0 <= rows[0] < len(codes):
        set_param("sel", codes[rows[0]])


def render() -> None:
    L = lang()
    store = StoreView()
    cov = store.cov
    st.title(t("page_coverage", L))
    fictional_banner(store)
    as_of_picker(store)
    community, tiles = controls(store, "cov")
    _scope_caption(store, community, L)
    _show_figures(cov, community, L)
    tables = community_problem_tables(store.key, store.version, L, store.as_of,
                                      store.scope, community)
    _downloads(store, community, len(tables), L)
    left, right = st.columns([1.6, 1])
    with left:
        st.caption(t("highlight_on_map", L))
        _coverage_map(community, tiles)
    with right:
        st.altair_chart(coverage_chart(cov.summary, L, community), width="stretch")
    if not store.as_of and store.principal.can("people_edit"):  # a past day is not edited
        fill_gaps(store, community)
    for i, (title, df) in enumerate(tables.items()):
        st.subheader(t("cov_title_count", L).format(title=md(title), n=f"{len(df):,}"))
        if i == len(tables) - 1:  # the suggested people: why them
            st.caption(t("cov_suggest_why", L))
        _problem_table(df, f"cov_table_{i}", L)
