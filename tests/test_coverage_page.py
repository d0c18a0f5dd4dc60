"""覆盖分析 (issue 16): the community filter applies to everything on the page, the problem
list downloads as one file per table, suggested people come with their distance and load."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from dashboard import reports
from dashboard.views.coverage_page import coverage_chart, figures
from layers.assignments import active_assignments
from layers.coverage import coverage

ROOT = str(Path(__file__).resolve().parent.parent)


@pytest.fixture(scope="module")
def cov(demo):
    return coverage(demo)


@pytest.fixture(scope="module")
def gap_community(cov) -> str:
    """A community with a grid without sentinel (so every table has rows to filter)."""
    g = cov.grids.set_index("code")
    return str(g.loc[cov.grids_without_sentinel[0], "community_code"])


def _page(monkeypatch, demo_file, **params: str) -> AppTest:
    monkeypatch.setenv("WANGGE_STORE", str(demo_file))
    at = AppTest.from_string(
        f"import sys; sys.path.insert(0, {ROOT!r})\n"
        "from dashboard.views import coverage_page\ncoverage_page.render()\n",
        default_timeout=120)
    for k, v in params.items():
        at.query_params[k] = v
    return at.run()


def _brute_force(demo, cov, community: str, lang: str = "zh") -> dict[str, pd.DataFrame]:
    """The town-wide tables, cut by hand to the rows of the community's grids."""
    grids = set(cov.grids.loc[cov.grids["community_code"] == community, "code"])
    col = "网格" if lang == "zh" else "Grid"
    return {title: df[df[col].isin(grids)].reset_index(drop=True)
            for title, df in reports.problem_tables(demo, cov, lang).items()}


def test_community_filter_applies_to_figures_and_tables(monkeypatch, demo_file, demo, cov,
                                                        gap_community):
    at = _page(monkeypatch, demo_file, c=gap_community)
    assert not at.exception
    row = cov.summary.set_index("community_code").loc[gap_community]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["无哨兵网格"] == f"{int(row.grids_without_sentinel):,}"
    assert metrics["网格哨兵覆盖率"] == f"{row.grid_coverage:.1%}"
    assert metrics["楼栋党员覆盖率"] == f"{row.building_coverage:.1%}"
    assert metrics["未分配党员"] == f"{int(row.unassigned_party_members):,}"
    town = cov.summary.set_index("community_code").loc["town"]
    assert int(town.grids_without_sentinel) != int(row.grids_without_sentinel) or \
        town.building_coverage != row.building_coverage  # the filter changed something
    expected = _brute_force(demo, cov, gap_community)
    shown = [df.value for df in at.dataframe if "网格" in df.value.columns]
    assert len(shown) == 3
    for got, want in zip(shown, expected.values(), strict=True):
        pd.testing.assert_frame_equal(got.reset_index(drop=True), want, check_dtype=False)
    assert all(len(w) for w in expected.values())  # each table was cut, none emptied
    whole = reports.problem_tables(demo, cov, "zh")
    assert sum(len(d) for d in whole.values()) > sum(len(d) for d in expected.values())
    headers = [s.value for s in at.subheader]
    for title, df in expected.items():
        assert f"{title}（{len(df):,}）" in headers


def test_figures_of_one_community_count_its_overloaded_sentinels(cov):
    over = cov.overloaded_sentinels
    assert len(over)
    comm = cov.grids.set_index("code")["community_code"]
    for c in cov.summary["community_code"]:
        if c == "town":
            continue
        want = sum(any(comm[g] == c for g in gs) for gs in over["grids"])
        assert figures(cov, c)["overloaded_people"] == want
    assert figures(cov, None)["overloaded_people"] == len(over)


def test_chart_shows_only_the_chosen_community(cov, gap_community):
    data = coverage_chart(cov.summary, "zh", gap_community).data
    name = cov.summary.set_index("community_code").loc[gap_community, "community_name"]
    assert set(data["community"]) == {name}
    assert len(set(coverage_chart(cov.summary, "zh").data["community"])) > 1


def test_problem_list_zip_holds_one_csv_per_table(demo, cov, gap_community):
    tables = reports.problem_tables(demo, cov, "zh", gap_community)
    with zipfile.ZipFile(io.BytesIO(reports.to_csv_zip(tables))) as zf:
        names = zf.namelist()
        assert names == [f"{title}.csv" for title in tables]
        for df, name in zip(tables.values(), names, strict=True):
            raw = zf.read(name)
            assert raw.startswith(b"\xef\xbb\xbf")  # BOM: Excel and WPS read the Chinese
            text = raw.decode("utf-8-sig")
            assert not text.startswith("#") and "\n#" not in text  # one table, no sections
            back = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
            assert list(back.columns) == list(df.columns)
            assert len(back) == len(df)
    assert "网格" in tables["问题网格"].columns  # Chinese headers in zh mode


def test_problem_list_zip_has_no_formula(demo):
    grids = demo.grids.copy()
    grid = coverage(demo).grids_without_sentinel[0]
    grids.loc[grids["code"] == grid, "name"] = "=1+2"
    data = demo.replace(grids=grids)
    tables = reports.problem_tables(data, coverage(data), "zh")
    with zipfile.ZipFile(io.BytesIO(reports.to_csv_zip(tables))) as zf:
        cells = [c for n in zf.namelist() for row in csv.reader(io.StringIO(
            zf.read(n).decode("utf-8-sig"))) for c in row]
    assert "'=1+2" in cells
    assert not [c for c in cells if c[:1] in ("=", "+", "@")]


def test_suggestions_say_distance_and_load(demo, cov):
    table = reports.problem_tables(demo, cov, "zh")["就近可补位的未分配党员"]
    assert len(table) == len(cov.suggestions)
    for col in ("距离（米）", "现负责网格数", "现负责楼栋数", "该网格户数", "姓名"):
        assert col in table.columns
    act = active_assignments(demo.assignments, cov.as_of)
    for r in table.itertuples(index=False):
        pid = r[table.columns.get_loc("人员编号")]
        mine = act[act["person_id"] == pid]
        assert r[table.columns.get_loc("现负责网格数")] == (mine.role == "grid_sentinel").sum()
        assert r[table.columns.get_loc("现负责楼栋数")] == (mine.role == "building_member").sum()
    s = cov.suggestions.set_index(["grid_code", "person_id"])["distance_m"]
    got = table.set_index(["网格", "人员编号"])["距离（米）"]
    assert (got.astype(float) - s.reindex(got.index).astype(float)).abs().max() <= 0.5
    hh = cov.grids.set_index("code")["households"]
    assert (table["该网格户数"].to_numpy() == hh.reindex(table["网格"]).to_numpy()).all()


def test_held_counts_grids_and_buildings(demo, cov):
    held = reports.duties_held(demo, cov)
    act = active_assignments(demo.assignments, cov.as_of)
    pid = act["person_id"].iloc[0]
    assert held.loc[pid, "grids"] == ((act.person_id == pid) & (act.role == "grid_sentinel")).sum()
    assert held.loc[pid, "buildings"] == ((act.person_id == pid)
                                          & (act.role == "building_member")).sum()


def test_page_in_english(monkeypatch, demo_file, gap_community):
    at = _page(monkeypatch, demo_file, c=gap_community, lang="en")
    assert not at.exception
    cols = [c for df in at.dataframe for c in df.value.columns]
    assert "Grid" in cols and "Distance (m)" in cols and "Grids held now" in cols
    assert not [c for c in cols if any("\u4e00" <= ch <= "\u9fff" for ch in str(c))]
    assert {m.label for m in at.metric} >= {"Grids without sentinel"}
    labels = [b.proto.label for b in at.get("download_button")]
    assert labels and not [x for x in labels if any("\u4e00" <= ch <= "\u9fff" for ch in x)]
