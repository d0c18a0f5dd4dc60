"""Security regressions: formula injection in every spreadsheet export.

Names added by the fixes are imported inside the tests, so that each test fails on its own
(not the whole file at collection) when its fix is missing.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import shapely
from openpyxl import load_workbook

from layers.tickets import TicketStore

ROOT = Path(__file__).resolve().parent.parent
FORMULA = '=HYPERLINK("http://x","y")'


def _point_in(demo, grid_index: int) -> tuple[float, float]:
    p = shapely.point_on_surface(demo.grids.geometry.iloc[grid_index])
    return p.x, p.y


def _cells(xlsx: bytes) -> list:
    """Every cell of every sheet of a workbook."""
    wb = load_workbook(io.BytesIO(xlsx))
    return [c for ws in wb.worksheets for row in ws.iter_rows() for c in row]


def _assert_no_formula(xlsx: bytes, *texts: str) -> list:
    cells = _cells(xlsx)
    formulas = [(c.coordinate, c.value) for c in cells if c.data_type == "f"]
    assert formulas == []
    values = [c.value for c in cells]
    for text in texts:
        assert "'" + text in values, text
    return cells


# -- 1. formula injection in exports -----------------------------------------------------------


def test_safe_cells_prefixes_dangerous_text_and_keeps_numbers():
    from layers.export import safe_cells

    df = pd.DataFrame({
        "text": ["=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1", "  =1+1", "\n@x", "ok",
                 "a=b", None],
        "n": [-1.5, 2.0, -3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, np.nan],
        "i": np.arange(11) - 5,
    })
    out = safe_cells(df)
    assert out["text"].tolist()[:9] == [
        "'=1+1", "'+1", "'-1", "'@SUM(A1)", "'\t=1", "'\r=1", "'  =1+1", "'\n@x", "ok"]
    assert out["text"].iloc[9] == "a=b" and pd.isna(out["text"].iloc[10])
    assert out["n"].dtype == float and out["n"].iloc[0] == -1.5
    assert out["i"].dtype == df["i"].dtype and out["i"].iloc[0] == -5
    assert df["text"].iloc[0] == "=1+1"  # the input is not changed


def test_write_excel_and_csv_store_text_as_text():
    from layers.export import write_csv, write_excel

    df = pd.DataFrame({"=evil": [FORMULA, "plain"], "n": [-2, 3]})
    cells = _assert_no_formula(write_excel({"sheet": df}), FORMULA, "=evil")
    nums = [c.value for c in cells if c.data_type == "n"]
    assert -2 in nums and 3 in nums
    rows = list(csv.reader(io.StringIO(write_csv(df).decode("utf-8-sig"))))
    assert rows[0][0] == "'=evil" and rows[1] == ["'" + FORMULA, "-2"]


def test_joint_meeting_excel_has_no_live_formula(store_copy, demo):
    from layers import ticket_reports as tr

    ts = TicketStore.for_store(store_copy)
    lon, lat = _point_in(demo, 1)
    old = dt.datetime(2020, 1, 1, 9)
    tid = ts.add("dispute", lon, lat, FORMULA, created_at=old)  # overdue: on the list
    for target in ("registered", "dispatched"):
        ts.move(tid, target, handler="department" if target == "dispatched" else None)
    names = dict(zip(demo.communities.code, demo.communities.name, strict=True))
    community = ts.get(tid)["community_code"]
    names[community] = "@SUM(1,2)"
    cells = _assert_no_formula(tr.joint_meeting_excel(ts, names), FORMULA, "@SUM(1,2)")
    overdue_days = [c.value for c in cells if isinstance(c.value, float)]
    assert overdue_days, "the overdue days stay numbers"


@pytest.fixture(scope="module")
def poisoned(demo):
    """The demo with a flagged grid and a flagged building named like formulas."""
    from layers.coverage import coverage

    cov = coverage(demo)
    flagged = cov.grids.loc[cov.grids["status"] != "ok", "code"].iloc[0]
    building = cov.buildings_without_member[0]
    grids = demo.grids.copy()
    grids.loc[grids["code"] == flagged, "name"] = "=1+2"
    buildings = demo.buildings.copy()
    buildings.loc[buildings["code"] == building, "name"] = "-2+3"
    data = demo.replace(grids=grids, buildings=buildings)
    return data, coverage(data)


def test_problem_list_excel_has_no_live_formula(poisoned):
    from dashboard import reports

    tables = reports.problem_tables(*poisoned, lang="zh")
    _assert_no_formula(reports.to_excel(tables), "=1+2", "-2+3")


def test_problem_list_csv_has_no_formula(poisoned):
    from dashboard import reports

    tables = reports.problem_tables(*poisoned, lang="zh")
    text = reports.to_csv(tables).decode("utf-8-sig")
    cells = [c for row in csv.reader(io.StringIO(text)) for c in row]
    assert "'=1+2" in cells and "'-2+3" in cells
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@")]


def test_reach_excel_has_no_live_formula(monkeypatch):
    from dashboard import state

    buildings = pd.DataFrame({"code": ["B1"], "name": [FORMULA], "elder_care_m": [-1.0]})
    summary = pd.DataFrame({"service": ["+cmd|' /C calc'!A0"], "share": [0.5]})
    parking = pd.DataFrame({"grid_code": ["@x"], "deficit": [-3]})
    suggestions = pd.DataFrame({"grid_code": ["G1"], "name": ["-1+1"]})
    fake = (None, SimpleNamespace(buildings=buildings, summary=summary), parking, suggestions)
    monkeypatch.setattr(state, "reach_analysis", lambda path, mtime_ns: fake)
    state.reach_excel.clear()
    try:
        xlsx = state.reach_excel("poisoned-store", 1)
    finally:
        state.reach_excel.clear()
    cells = _assert_no_formula(xlsx, FORMULA, "+cmd|' /C calc'!A0", "@x", "-1+1")
    assert -3 in [c.value for c in cells]
