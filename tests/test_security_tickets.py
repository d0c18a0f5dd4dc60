"""Security regressions: formula injection in every spreadsheet export, damaged ticket
databases, concurrent first use of a ticket store, and input limits at intake.

Names added by the fixes are imported inside the tests, so that each test fails on its own
(not the whole file at collection) when its fix is missing.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import shapely
from clikit import run_cli
from openpyxl import load_workbook

from layers.auth import Principal
from layers.tickets import TicketError, TicketStore, db_path_for

#: The CLI's operator: whole area, full data (what tests that are not about
#: authorisation act as).
OP = Principal.operator()

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
    from layers.tickets import reports as tr

    ts = TicketStore.for_store(store_copy)
    lon, lat = _point_in(demo, 1)
    old = dt.datetime(2020, 1, 1, 9)
    tid = ts.add("dispute", lon, lat, FORMULA, created_at=old, principal=OP)  # overdue: on the list
    for target in ("registered", "dispatched"):
        ts.move(tid, target, handler="department" if target == "dispatched" else None, principal=OP)
    names = dict(zip(demo.communities.code, demo.communities.name, strict=True))
    community = ts.get(tid, principal=OP)["community_code"]
    names[community] = "@SUM(1,2)"
    cells = _assert_no_formula(tr.joint_meeting_excel(ts, names, principal=OP), FORMULA,
                               "@SUM(1,2)")
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
    monkeypatch.setattr(state, "reach_analysis", lambda key, version, scope=None: fake)
    state.reach_excel.clear()
    try:
        xlsx = state.reach_excel("poisoned-store", 1)
    finally:
        state.reach_excel.clear()
    cells = _assert_no_formula(xlsx, FORMULA, "+cmd|' /C calc'!A0", "@x", "-1+1")
    assert -3 in [c.value for c in cells]


# -- 2. a damaged tickets database -------------------------------------------------------------


def _damaged(store: Path, match: str) -> None:
    from layers.tickets import TicketStoreDamaged

    with pytest.raises(TicketStoreDamaged, match=match) as info:
        TicketStore.for_store(store)
    msg = str(info.value)
    assert db_path_for(store).name in msg and str(store.parent) not in msg


def test_empty_tickets_db_is_refused_not_populated(store_copy):
    db = db_path_for(store_copy)
    db.write_bytes(b"")
    _damaged(store_copy, "empty")
    assert db.stat().st_size == 0  # left as found, for the operator to look at


def test_text_file_as_tickets_db_is_refused(store_copy):
    db_path_for(store_copy).write_text("id,text\nT1,hello\n" * 50, encoding="utf-8")
    _damaged(store_copy, "not an SQLite database")


def test_truncated_tickets_db_is_refused(store_copy):
    ts = TicketStore.for_store(store_copy)
    assert len(ts.frame(principal=OP)) > 0
    ts.close()
    db = db_path_for(store_copy)
    assert not Path(str(db) + "-wal").exists() or Path(str(db) + "-wal").stat().st_size == 0
    data = db.read_bytes()
    db.write_bytes(data[: len(data) // 2])
    _damaged(store_copy, "damaged")


def test_cli_reports_a_damaged_db_in_one_plain_line(store_copy):
    db_path_for(store_copy).write_bytes(b"")
    r = run_cli("tickets", "list", store_copy)
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert r.stderr.strip() == (f"error: tickets database {db_path_for(store_copy).name}: the "
                                "file is empty (0 bytes). Nothing was changed; restore the file "
                                "from a backup, or move it away to start an empty one")


def test_reads_of_a_store_damaged_while_open_raise_the_same_error(store_copy):
    from layers.tickets import TicketStoreDamaged

    ts = TicketStore.for_store(store_copy)
    tid = ts.frame(principal=OP)["id"].iloc[-1]
    ts.close()
    db = db_path_for(store_copy)
    data = db.read_bytes()
    db.write_bytes(data[:4096] + b"\x00garbage" * ((len(data) - 4096) // 8))
    for read in (lambda: ts.frame(principal=OP), ts.version, lambda: ts.get(tid, principal=OP),
                 lambda: ts.last_events(principal=OP), lambda: ts.histories(principal=OP)):
        with pytest.raises(TicketStoreDamaged, match=db.name):
            read()


def test_valid_tickets_db_still_opens(store_copy, demo):
    ts = TicketStore.for_store(store_copy)
    ts.close()
    again = TicketStore.for_store(store_copy)
    assert len(again.frame(principal=OP)) == len(demo.tickets)
    lon, lat = _point_in(demo, 0)
    tid = again.add("other", lon, lat, "still works", principal=OP)
    assert again.get(tid, principal=OP)["status"] == "received"


# -- 3. concurrent first use -------------------------------------------------------------------

# Each process loads its imports and the grids (the locator), then waits at a barrier (a file
# per ready process) so that all eight reach the ticket store together.
RACE = """
import os, sys, time
import layers.tickets as lt
from layers.cli import main
barrier, n = sys.argv[1], 8
locator = lt.GridLocator.from_store(sys.argv[4])
lt.GridLocator.from_store = classmethod(lambda cls, store: locator)
open(os.path.join(barrier, str(os.getpid())), "w").close()
while len(os.listdir(barrier)) < n:
    time.sleep(0.002)
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.parametrize("trial", range(3))
def test_eight_processes_first_use_at_once(tmp_path, demo_file, demo, trial):
    store = tmp_path / "town.gpkg"
    store.write_bytes(demo_file.read_bytes())
    assert not db_path_for(store).exists()
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    lon, lat = _point_in(demo, 6)
    procs = [subprocess.Popen(
        [sys.executable, "-c", RACE, str(barrier), "tickets", "add", str(store), "--category",
         "other", "--lon", str(lon), "--lat", str(lat), "--text", f"first use {trial}-{k}"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for k in range(8)]
    outs = [p.communicate(timeout=120) for p in procs]
    failed = [err.strip().splitlines()[-1:] for p, (_, err) in zip(procs, outs, strict=True)
              if p.returncode]
    assert failed == []
    ids = [out.strip().splitlines()[-1] for out, _ in outs]
    df = TicketStore.for_store(store).frame(principal=OP)
    assert len(set(ids)) == 8 and set(ids) <= set(df["id"])
    assert len(df) == 8  # filing tickets never imports the store's tickets layer
    hist = TicketStore.for_store(store).histories(principal=OP)
    events = sum(len(h) for h in hist.values())
    assert events == 8  # one intake event each, the schema made once


# -- 4. input limits at intake -----------------------------------------------------------------


@pytest.fixture
def ts(store_copy) -> TicketStore:
    return TicketStore.for_store(store_copy)


def test_long_fields_are_refused_naming_field_and_limit(ts, demo):
    from layers.tickets import FIELD_LIMITS

    assert FIELD_LIMITS == {"text": 2000, "by": 64, "note": 1000, "handler": 128}
    lon, lat = _point_in(demo, 0)
    before = len(ts.frame(principal=OP))
    with pytest.raises(TicketError, match=r"'by'.*100000.*at most 64"):
        ts.add("other", lon, lat, "x", principal=Principal.operator("b" * 100_000))
    with pytest.raises(TicketError, match=r"'text'.*at most 2000"):
        ts.add("other", lon, lat, "t" * 2001, principal=OP)
    assert len(ts.frame(principal=OP)) == before
    tid = ts.add("other", lon, lat, "t" * 2000,
                 principal=Principal.operator("b" * 64))  # at the limit: accepted
    with pytest.raises(TicketError, match=r"'note'.*at most 1000"):
        ts.move(tid, "registered", note="n" * 1001, principal=OP)
    with pytest.raises(TicketError, match=r"'handler'.*at most 128"):
        ts.move(tid, "registered", handler="h" * 129, principal=OP)
    with pytest.raises(TicketError, match=r"'by'.*at most 64"):
        ts.move(tid, "registered", principal=Principal.operator("b" * 65))
    t = ts.get(tid, principal=OP)
    assert t["version"] == 1 and len(t["history"]) == 1  # nothing moved
    assert ts.move(tid, "registered", note="n" * 1000,
                   principal=Principal.operator("b" * 64))["version"] == 2


def test_long_fields_are_refused_from_imports(ts, demo, tmp_path):
    from layers.tickets import reports as tr

    lon, lat = _point_in(demo, 0)
    with pytest.raises(TicketError, match=r"'text'.*at most 2000"):
        tr.from_open311(ts, [{"service_code": "other", "lat": lat, "long": lon,
                              "description": "d" * 5000}], principal=OP)


def test_unknown_building_code_is_refused(ts, demo):
    lon, lat = _point_in(demo, 0)
    with pytest.raises(TicketError, match=r"building_code 'NO-SUCH-BUILDING'"):
        ts.add("other", lon, lat, "x", building_code="NO-SUCH-BUILDING", principal=OP)
    code = demo.buildings["code"].iloc[0]
    assert ts.get(ts.add("other", lon, lat, "x", building_code=code, principal=OP),
                  principal=OP)["building_code"] == code
