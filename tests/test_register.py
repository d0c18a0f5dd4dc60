"""The responsibility chain edited row by row (``layers.register``): coverage before and after
an edit against a brute-force recount of the raw GeoPackage rows, ``--as-of`` around a change,
the change log, refusals that leave the file byte-identical, edits that never rewrite the file,
parallel editors (none lost) and the optimistic check between two editors.

The clock is fixed by conftest at 2026-11-20T12:00, the demo's anchor day."""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pyogrio
import pytest
import shapely
from clikit import run_cli
from conftest import content_digest, raw_query

from layers import register as reg
from layers.auth import Principal
from layers.coverage import coverage
from layers.errors import LayerValidationError
from layers.settings import Settings
from layers.store import CHANGE_LOG, RowConflict, open_store
from layers.store.gpkg._sqlite import gpkg_bounds as _gpkg_bounds

pytestmark = pytest.mark.backends
#: The CLI's operator: whole area, full data (what tests that are not about
#: authorisation act as).
OP = Principal.operator()

ROOT = Path(__file__).resolve().parent.parent
TODAY = dt.date(2026, 11, 20)
PAGE = 4096


# -- helpers ------------------------------------------------------------------------------------
def digest(path) -> str:
    return content_digest(path)


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return run_cli(*args, env={**os.environ, **(env or {})})


def raw_gaps(path: Path, day: dt.date) -> tuple[set[str], set[str]]:
    """Grids without a sentinel and buildings without a member on ``day``, from the raw
    rows with sqlite3 and loops — no library code. Stored dates are shifted by today − the
    store's date anchor, as the contract says."""
    meta = dict(raw_query(path, "SELECT key, value FROM store_meta"))
    today = dt.date.fromisoformat(os.environ["WANGGE_NOW"][:10])
    shift = today - dt.date.fromisoformat(meta["date_anchor"]) if "date_anchor" in meta \
        else dt.timedelta(0)
    grids = {c for (c,) in raw_query(path, "SELECT code FROM grids")}
    buildings = {c for (c,) in raw_query(path, "SELECT code FROM buildings")}
    for _pid, role, target, active, since, until in raw_query(
            path, "SELECT person_id, role, target_code, active, since, until FROM assignments"):
        s = dt.date.fromisoformat(since[:10]) + shift if since else None
        u = dt.date.fromisoformat(until[:10]) + shift if until else None
        if active and (s is None or s <= day) and (u is None or u >= day):
            (grids if role == "grid_sentinel" else buildings).discard(target)
    return grids, buildings


def lib_gaps(path: Path, day: dt.date) -> tuple[set[str], set[str]]:
    res = coverage(open_store(path).read(), Settings(as_of=day.isoformat()))
    return set(res.grids_without_sentinel), set(res.buildings_without_member)


def cli_gaps(path: Path, day: dt.date) -> set[str]:
    r = cli("coverage", path, "--as-of", day.isoformat(), "--format", "json", "-q")
    assert r.returncode == 0, r.stderr
    return set(json.loads(r.stdout)["grids_without_sentinel"])


def free_party_members(path: Path, n: int) -> list[str]:
    """Party members with no assignment in force (the suggestion pool)."""
    data = open_store(path).read(check_geometry=False)
    busy = set(data.assignments[data.assignments.active.astype(bool)].person_id)
    pool = data.people[data.people.is_party_member & ~data.people.person_id.isin(busy)]
    return pool.person_id.iloc[:n].tolist()


def changed_pages(a: bytes, b: bytes) -> int:
    n = max(len(a), len(b)) // PAGE + 1
    return sum(a[i * PAGE:(i + 1) * PAGE] != b[i * PAGE:(i + 1) * PAGE] for i in range(n))


# -- coverage against brute force, before and after ----------------------------------------------
def test_assign_and_unassign_match_brute_force(store_copy):
    store = open_store(store_copy)
    before = raw_gaps(store_copy, TODAY)
    assert lib_gaps(store_copy, TODAY) == before
    grid = sorted(before[0])[0]
    sug = reg.suggestions(store.read())
    person = sug[(sug.grid_code == grid) & (sug["rank"] == 1)].person_id.iloc[0]
    building = sorted(before[1])[0]
    member = free_party_members(store_copy, 1)[0]

    reg.assign(store, person_id=person, role="grid_sentinel", target=grid,
               principal=Principal.operator("王芳"))
    reg.assign(store, person_id=member, role="building_member", target=building, principal=OP)
    after = raw_gaps(store_copy, TODAY)
    assert after == (before[0] - {grid}, before[1] - {building})
    assert lib_gaps(store_copy, TODAY) == after

    end = TODAY + dt.timedelta(days=3)
    assert reg.unassign(store, person_id=person, target=grid, until=end, reason="调岗",
                        principal=OP) == 1
    for day, has in ((TODAY, True), (end, True), (end + dt.timedelta(days=1), False),
                     (TODAY - dt.timedelta(days=1), False)):
        raw = raw_gaps(store_copy, day)
        assert (grid not in raw[0]) == has, day
        assert lib_gaps(store_copy, day) == raw, day
    h = reg.history(store, target=grid, principal=OP)
    assert h.action.tolist() == ["assign", "assignment_end"]
    assert h.by.tolist() == ["王芳", OP.name]  # the operator without a name: "cli"
    assert h.after.iloc[1] == {"until": end.isoformat()} and h.reason.iloc[1] == "调岗"


def test_cli_flow_as_of_and_history(store_copy):
    grids, _ = raw_gaps(store_copy, TODAY)
    grid = sorted(grids)[0]
    home = open_store(store_copy).select_rows("buildings", {"grid_code": grid},
                                              columns=["code"]).code.iloc[0]
    r = cli("people", "add", store_copy, "--name", "测试党员", "--phone", "13800001111",
            "--party-member", "--building", home, "--by", "王芳")
    assert r.returncode == 0, r.stderr
    pid = r.stdout.strip().splitlines()[-1]
    assert pid.startswith("P") and open_store(store_copy).select_rows(
        "people", {"person_id": pid}).home_building_code.iloc[0] == home

    since = TODAY + dt.timedelta(days=2)
    r = cli("assign", store_copy, "--person", pid, "--role", "grid_sentinel", "--target", grid,
            "--since", since.isoformat(), "--by", "王芳")
    assert r.returncode == 0, r.stderr

    until = since + dt.timedelta(days=5)
    r = cli("unassign", store_copy, "--person", pid, "--target", grid, "--until",
            until.isoformat(), "--reason", "调岗", "--by", "李明")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "1"
    days = (since - dt.timedelta(days=1), since, until, until + dt.timedelta(days=1))
    gaps = {day: cli_gaps(store_copy, day) for day in days}  # one CLI run a day
    for day in days:
        assert gaps[day] == raw_gaps(store_copy, day)[0]
    # not yet, then from its first day, in force through its last day, not after it
    assert [grid in gaps[day] for day in days] == [True, False, False, True]

    r = cli("history", store_copy, "--target", grid, "--format", "json")
    assert r.returncode == 0, r.stderr
    entries = json.loads(r.stdout)
    assert [e["action"] for e in entries] == ["assign", "assignment_end"]
    for e in entries:
        assert {"when", "by", "action", "person_id", "target_code"} <= set(e)
        assert e["person_id"] == pid and e["target_code"] == grid
        assert e["when"].startswith("2026-11-20T12:00")
    assert [e["by"] for e in entries] == ["王芳", "李明"]
    r = cli("history", store_copy, "--person", pid, "--format", "json")
    actions = [e["action"] for e in json.loads(r.stdout)]
    assert actions == ["person_add", "assign", "assignment_end"]
    assert "13800001111" not in r.stdout and "测试党员" not in r.stdout  # personal data

    r = cli("people", "leave", store_copy, pid, "--date", TODAY.isoformat(), "--reason", "搬家")
    assert r.returncode == 0, r.stderr
    left = reg.people_left(open_store(store_copy))
    assert left.person_id.tolist() == [pid] and left.reason.tolist() == ["搬家"]
    assert left.left_on.iloc[0] == pd.Timestamp(TODAY)


def test_accept_suggestions(store_copy):
    store = open_store(store_copy)
    data = store.read()
    gaps_before = raw_gaps(store_copy, TODAY)[0]
    sug = reg.suggestions(data)
    comm = data.grids.set_index("code").community_code
    community = comm[sorted(gaps_before)[0]]
    here = {g for g in gaps_before if comm[g] == community and g in set(sug.grid_code)}
    r = cli("assign", store_copy, "--accept-suggestions", "--community", community, "--by", "x")
    assert r.returncode == 0, r.stderr
    assert int(r.stdout.strip().splitlines()[-1]) == len(here) > 0
    assert raw_gaps(store_copy, TODAY)[0] == gaps_before - here
    n = reg.accept_suggestions(store, principal=OP)  # the rest of the town
    after = raw_gaps(store_copy, TODAY)[0]
    assert len(gaps_before) - len(here) - n == len(after)
    a = store.select_rows("assignments", {"role": "grid_sentinel", "since": pd.Timestamp(TODAY)})
    assert len(a) == len(here) + n
    assert not a.person_id.duplicated().any()  # one grid per person
    pairs = set(zip(sug.grid_code, sug.person_id, strict=True))
    assert set(zip(a.target_code, a.person_id, strict=True)) <= pairs  # only suggested people
    best = sug[sug["rank"] == 1].set_index("grid_code").person_id
    firsts = [g for g, p in zip(a.target_code, a.person_id, strict=True) if best[g] == p]
    assert len(firsts) >= len(a) - sug[sug["rank"] == 1].person_id.duplicated().sum()
    log = store.change_log({"action": "assign"})
    assert len(log) == len(here) + n and set(log.source) == {"cli"}
    assert log.reason.str.startswith("suggestion rank").all()


def test_suggestions_are_the_coverage_ranking(demo):
    res = coverage(demo)
    s = reg.suggestions(demo)
    assert list(s.columns) == reg.SUGGESTION_COLUMNS
    cov = res.suggestions.sort_values(["grid_code", "rank"], ignore_index=True)
    assert s.person_id.tolist() == cov.person_id.tolist()
    assert s.distance_m.tolist() == cov.distance_m.tolist()
    hh = dict(zip(res.grids.code, res.grids.households, strict=True))
    assert s.load.tolist() == [hh[g] for g in s.grid_code]
    top = s[s.grid_code == "500106110002016"].sort_values("rank")
    assert top["rank"].iloc[0] == 1 and top.person_id.iloc[0] == cov[
        cov.grid_code == "500106110002016"].person_id.iloc[0]
    # someone who left is never suggested
    gone = top.person_id.iloc[0]
    again = reg.suggestions(demo, exclude=[gone])
    assert gone not in set(again.person_id)


# -- refusals -------------------------------------------------------------------------------------
REFUSALS = [
    ("unknown person", ["assign", "{s}", "--person", "P99999998", "--role", "grid_sentinel",
                        "--target", "{grid}"], "unknown person"),
    ("unknown target", ["assign", "{s}", "--person", "{p}", "--role", "grid_sentinel",
                        "--target", "999"], "unknown target"),
    ("grid as building", ["assign", "{s}", "--person", "{p}", "--role", "building_member",
                          "--target", "{grid}"], "does not fit"),
    ("building as grid", ["assign", "{s}", "--person", "{p}", "--role", "grid_sentinel",
                          "--target", "{building}"], "does not fit"),
    ("person left", ["assign", "{s}", "--person", "{gone}", "--role", "grid_sentinel",
                     "--target", "{grid}"], "has left"),
    ("unassign unknown person", ["unassign", "{s}", "--person", "P99999998", "--target",
                                 "{grid}"], "unknown person"),
    ("unassign unknown target", ["unassign", "{s}", "--person", "{p}", "--target", "999"],
     "unknown target"),
    ("leave twice", ["people", "leave", "{s}", "{gone}"], "already left"),
    ("leave unknown", ["people", "leave", "{s}", "P99999998"], "unknown person"),
    ("home unknown", ["people", "add", "{s}", "--name", "某人", "--building", "999"],
     "unknown building"),
    ("bad phone", ["people", "add", "{s}", "--name", "某人", "--phone", "abc",
                   "--building", "{building}"], "phone"),
    ("bad date", ["assign", "{s}", "--person", "{p}", "--role", "grid_sentinel",
                  "--target", "{grid}", "--since", "yesterday"], "not a date"),
]


@pytest.fixture
def refusal_store(store_copy):
    store = open_store(store_copy)
    p, gone = free_party_members(store_copy, 2)
    reg.leave(store, gone, reason="moved", principal=OP)
    grid = sorted(raw_gaps(store_copy, TODAY)[0])[0]
    building = store.select_rows("buildings", {"grid_code": grid}, columns=["code"]).code.iloc[0]
    return store_copy, {"s": str(store_copy), "p": p, "gone": gone, "grid": grid,
                        "building": building}


@pytest.mark.postgis_first_case
@pytest.mark.parametrize(("case", "argv", "message"), REFUSALS, ids=[r[0] for r in REFUSALS])
def test_cli_refusals_change_nothing(refusal_store, case, argv, message):
    path, names = refusal_store
    before = digest(path)
    r = cli(*[a.format(**names) for a in argv])
    assert r.returncode == 2, (case, r.stdout, r.stderr)
    assert message in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
    assert digest(path) == before


def test_library_refusals_change_nothing(refusal_store):
    path, n = refusal_store
    store = open_store(path)
    before = digest(path)
    cases = [
        lambda: reg.assign(store, person_id=n["p"], role="sentinel", target=n["grid"],
                           principal=OP),
        lambda: reg.assign(store, person_id=n["gone"], role="grid_sentinel", target=n["grid"],
                           principal=OP),
        lambda: reg.add_person(store, name=" ", principal=OP),
        lambda: reg.add_person(store, name="某人", principal=OP),  # no home on the map
        lambda: reg.edit_person(store, n["p"], shoe_size=42, principal=OP),
        lambda: reg.edit_person(store, "P99999998", name="x", principal=OP),
        lambda: reg.unassign(store, person_id=n["p"], target=n["grid"],
                             principal=OP),  # holds nothing there
    ]
    for case in cases:
        with pytest.raises(reg.RegisterError):
            case()
        assert digest(path) == before
    # the store's own row checks stop what the register would not catch
    with pytest.raises(LayerValidationError):
        store.insert_rows("assignments", pd.DataFrame({
            "person_id": [n["p"]], "role": ["grid_sentinel"], "target_code": [n["building"]],
            "active": [True], "since": [pd.Timestamp(TODAY)], "until": [pd.NaT]}))
    with pytest.raises(LayerValidationError):
        store.update_rows("people", {"person_id": n["p"]}, {"person_id": n["gone"]})
    with pytest.raises(RowConflict):
        store.update_rows("people", {"person_id": n["p"]}, {"phone": "13800000000"},
                          expected={"is_party_member": False})
    assert digest(path) == before
    # and the store still reads and validates
    open_store(path).read()


# -- in place, readable by GDAL, append-only log ----------------------------------------------------
@pytest.mark.gpkg_only
def test_row_edit_changes_pages_in_place(store_copy):
    store = open_store(store_copy)
    reg.assign(store, person_id=free_party_members(store_copy, 1)[0], role="grid_sentinel",
               target=sorted(raw_gaps(store_copy,
                                      TODAY)[0])[0], principal=OP)  # creates the log, indexes
    ino, mode = os.stat(store_copy).st_ino, os.stat(store_copy).st_mode
    old = store_copy.read_bytes()
    p2 = free_party_members(store_copy, 1)[0]
    grid2 = sorted(raw_gaps(store_copy, TODAY)[0])[0]
    reg.assign(store, person_id=p2, role="grid_sentinel", target=grid2, principal=OP)
    new = store_copy.read_bytes()
    st = os.stat(store_copy)
    assert (st.st_ino, st.st_mode) == (ino, mode)  # not replaced by another file
    n_pages = len(old) // PAGE
    assert changed_pages(old, new) <= 12 < n_pages // 50, (changed_pages(old, new), n_pages)
    assert not list(store_copy.parent.glob(".*.tmp.gpkg*"))
    assert not Path(str(store_copy) + "-journal").exists()


@pytest.mark.gpkg_only
def test_gdal_and_qgis_readers_see_the_rows(store_copy):
    store = open_store(store_copy)
    building = store.select_rows("buildings", columns=["code", "geometry"]).iloc[7]
    pid = reg.add_person(store, name="新居民", party_member=True, building=building.code, principal=OP)
    reg.edit_person(store, pid, expected={"name": "新居民"}, phone="13700001234", principal=OP)
    grid = sorted(raw_gaps(store_copy, TODAY)[0])[0]
    reg.assign(store, person_id=pid, role="grid_sentinel", target=grid, principal=OP)

    people = pyogrio.read_dataframe(store_copy, layer="people")
    me = people[people.person_id == pid]
    assert len(me) == 1 and me.phone.iloc[0] == "13700001234"
    assert shapely.contains(building.geometry, me.geometry.iloc[0])
    a = pyogrio.read_dataframe(store_copy, layer="assignments", read_geometry=False)
    mine = a[a.person_id == pid]
    assert mine.target_code.tolist() == [grid] and mine.since.iloc[0] == pd.Timestamp(TODAY)
    assert pyogrio.read_info(store_copy, layer="people")["features"] == len(people)
    log = pyogrio.read_dataframe(store_copy, layer=CHANGE_LOG, read_geometry=False)
    assert log.action.tolist() == ["person_add", "person_edit", "assign"]
    assert dict(pyogrio.list_layers(store_copy))[CHANGE_LOG] is None  # an attribute table
    # the spatial index follows the new point; the file is sound
    con = sqlite3.connect(store_copy)
    fid = con.execute("SELECT fid FROM people WHERE person_id = ?", (pid,)).fetchone()[0]
    box = con.execute("SELECT minx, maxx, miny, maxy FROM rtree_people_geom WHERE id = ?",
                      (fid,)).fetchone()
    x, y = me.geometry.iloc[0].x, me.geometry.iloc[0].y
    assert box[0] <= x <= box[1] and box[2] <= y <= box[3]
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    kind = con.execute("SELECT data_type FROM gpkg_contents WHERE table_name = ?",
                       (CHANGE_LOG,)).fetchone()[0]
    assert kind == "attributes"
    # stored exactly as pyogrio stores dates
    since = con.execute("SELECT since FROM assignments WHERE person_id = ?", (pid,)).fetchone()
    assert since[0] == "2026-11-20T00:00:00"
    # append-only
    for sql in ("UPDATE change_log SET by = 'x'", "DELETE FROM change_log"):
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            con.execute(sql)
    con.close()
    data = open_store(store_copy).read()  # validates, geometry included
    assert pid in set(data.people.person_id)


def test_whole_store_writes_keep_the_log(store_copy):
    store = open_store(store_copy)
    p = free_party_members(store_copy, 1)[0]
    reg.leave(store, p, reason="退休", principal=OP)
    store.update({"care_points": store.read(["care_points"]).care_points})
    assert reg.people_left(store).person_id.tolist() == [p]


def test_long_lookups_and_moving_home(store_copy):
    store = open_store(store_copy)
    codes = store.select_rows("buildings", columns=["code"]).code.tolist()
    many = codes + [f"x{i}" for i in range(25_000)]  # more than one IN (…) takes
    assert store.select_rows("buildings", {"code": many}, columns=["code"]).code.tolist() == codes
    pid = free_party_members(store_copy, 1)[0]
    new_home = store.select_rows("buildings", {"code": codes[-1]}).geometry.iloc[0]
    reg.edit_person(store, pid, home_building_code=codes[-1], name="改名",
                    principal=Principal.operator("王芳"))
    me = store.select_rows("people", {"person_id": pid}).iloc[0]
    assert me["home_building_code"] == codes[-1] and me["name"] == "改名"
    assert shapely.contains(new_home, me.geometry)
    entry = reg.history(store, person=pid, principal=OP).iloc[-1]
    assert entry.action == "person_edit" and entry.after["name"] == reg.PERSONAL
    assert entry.after["home_building_code"] == codes[-1]
    reg.edit_person(store, pid, name="改名", principal=OP)  # no change: nothing written
    assert len(reg.history(store, person=pid, principal=OP)) == 1


def test_geometry_header_functions(demo_file):
    con = sqlite3.connect(demo_file)
    for layer in ("buildings", "people", "grids"):
        rows = con.execute(f"SELECT geom FROM {layer} LIMIT 50").fetchall()
        for (blob,) in rows:
            geom = shapely.from_wkb(blob[8 + (32 if blob[3] & 0b1110 else 0):])
            assert _gpkg_bounds(blob) == pytest.approx(shapely.bounds(geom).tolist())


# -- editors at the same time ----------------------------------------------------------------------
WORKER = textwrap.dedent("""
    import json, sys, time
    from layers import register as reg
    from layers.auth import Principal
    from layers.store import open_store
    path, jobs, start = sys.argv[1], json.loads(sys.argv[2]), float(sys.argv[3])
    while time.time() < start:
        time.sleep(0.005)
    store = open_store(path)
    for pid, target in jobs:
        reg.assign(store, person_id=pid, role="building_member", target=target,
                   principal=Principal.operator(pid), source="test")
""")
WHOLE = textwrap.dedent("""
    import sys, time
    from layers.store import open_store
    path, start = sys.argv[1], float(sys.argv[2])
    while time.time() < start:
        time.sleep(0.005)
    store = open_store(path)
    for _ in range(2):
        store.transform(lambda cur: {"care_points": cur.care_points})
""")


def test_parallel_editors_lose_nothing(store_copy):
    procs_n, each = 6, 10
    people = free_party_members(store_copy, procs_n * each)
    buildings = sorted(raw_gaps(store_copy, TODAY)[1])[: procs_n * each]
    jobs = list(zip(people, buildings, strict=True))
    import time

    start = time.time() + 3.0  # every worker imports first, then all start at once
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, str(store_copy),
                               json.dumps(jobs[i * each:(i + 1) * each]), str(start)],
                              cwd=ROOT, stderr=subprocess.PIPE, text=True)
             for i in range(procs_n)]
    procs.append(subprocess.Popen([sys.executable, "-c", WHOLE, str(store_copy), str(start)],
                                  cwd=ROOT, stderr=subprocess.PIPE, text=True))
    for p in procs:
        assert p.wait(timeout=120) == 0, p.stderr.read()
    store = open_store(store_copy)
    got = store.select_rows("assignments", {"target_code": buildings})
    assert sorted(zip(got.person_id, got.target_code, strict=True)) == sorted(jobs)
    log = store.change_log({"source": "test"})
    assert len(log) == len(jobs)
    assert sorted(zip(log.person_id, log.target_code, strict=True)) == sorted(jobs)
    assert (log.by == log.person_id).all()
    assert raw_gaps(store_copy, TODAY)[1].isdisjoint(buildings)
    open_store(store_copy).read()


RACER = textwrap.dedent("""
    import sys, time
    from layers import register as reg
    from layers.auth import Principal
    from layers.store import open_store
    path, pid, grid, start = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    while time.time() < start:
        time.sleep(0.002)
    try:
        reg.assign(open_store(path), person_id=pid, role="grid_sentinel", target=grid,
                   expected_holders=[], principal=Principal.operator())
        print("ok")
    except reg.EditConflict as exc:
        print("conflict", exc)
""")


def test_two_editors_on_the_same_assignment(store_copy):
    import time

    store = open_store(store_copy)
    a, b, c, d = free_party_members(store_copy, 4)
    grid, grid2 = sorted(raw_gaps(store_copy, TODAY)[0])[:2]
    # both saw the grid without a sentinel; the first wins, the second is told
    reg.assign(store, person_id=a, role="grid_sentinel", target=grid, expected_holders=[],
               principal=OP)
    with pytest.raises(reg.EditConflict, match=a):
        reg.assign(store, person_id=b, role="grid_sentinel", target=grid, expected_holders=[],
                   principal=OP)
    # both saw `a` and replace them (更换): one replacement, then a conflict
    reg.assign(store, person_id=b, role="grid_sentinel", target=grid, replace=True,
               expected_holders=[a], principal=OP)
    with pytest.raises(reg.EditConflict):
        reg.assign(store, person_id=c, role="grid_sentinel", target=grid, replace=True,
                   expected_holders=[a], principal=OP)
    # both end the same assignment: the second finds it ended
    reg.unassign(store, person_id=b, target=grid, until=TODAY + dt.timedelta(days=1), principal=OP)
    reg.unassign(store, person_id=b, target=grid, principal=OP)  # earlier still: a change, allowed
    with pytest.raises(reg.EditConflict, match="already"):
        reg.unassign(store, person_id=b, target=grid, principal=OP)
    # two editors of one person
    seen = store.select_rows("people", {"person_id": c}).phone.iloc[0]
    reg.edit_person(store, c, expected={"phone": seen}, phone="13600000001", principal=OP)
    with pytest.raises(reg.EditConflict):
        reg.edit_person(store, c, expected={"phone": "13600000009"}, phone="13600000002",
                        principal=OP)
    assert store.select_rows("people", {"person_id": c}).phone.iloc[0] == "13600000001"
    h = reg.history(store, target=grid, principal=OP)
    assert h.action.tolist() == ["assign", "assignment_end", "assign", "assignment_end",
                                 "assignment_end"]
    # replaced the day before b started: a's last day is yesterday (a started today:
    # withdrawn, never in force)
    assert h.after.iloc[1] == {"active": False}

    # the same race between two processes: exactly one wins
    start = time.time() + 2.5
    procs = [subprocess.Popen([sys.executable, "-c", RACER, str(store_copy), pid, grid2,
                               str(start)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
             for pid in (c, d)]
    outs = sorted(p.communicate(timeout=60)[0].split()[0] for p in procs)
    assert outs == ["conflict", "ok"]


def test_replace_ends_the_holder_the_day_before(store_copy):
    store = open_store(store_copy)
    data = store.read(check_geometry=False)
    a = data.assignments
    held = a[(a.role == "grid_sentinel") & a.active & a.until.isna()].iloc[0]
    newcomer = free_party_members(store_copy, 1)[0]
    day = TODAY + dt.timedelta(days=10)
    reg.assign(store, person_id=newcomer, role="grid_sentinel", target=held.target_code,
               since=day, replace=True, expected_holders=[held.person_id], principal=Principal.operator("主任"))
    rows = store.select_rows("assignments", {"target_code": held.target_code})
    old = rows[rows.person_id == held.person_id].iloc[0]
    assert old.until == pd.Timestamp(day - dt.timedelta(days=1)) and old.active
    for d, who in ((day - dt.timedelta(days=1), held.person_id), (day, newcomer)):
        res = lib_gaps(store_copy, d)
        assert held.target_code not in res[0]
        act = coverage(open_store(store_copy).read(), Settings(as_of=d.isoformat())).grids
        assert act.set_index("code").sentinels[held.target_code] == who
    h = reg.history(store, person=held.person_id, principal=OP)
    assert h.reason.iloc[-1] == f"replaced by {newcomer}"


def test_dates_follow_a_moving_demo_clock(store_copy, monkeypatch):
    """A demo store keeps dates relative to its anchor: an edit made on a later day is
    stored relative to the anchor too, and shows on the day it was made."""
    later = TODAY + dt.timedelta(days=11)
    monkeypatch.setenv("WANGGE_NOW", f"{later.isoformat()}T09:00:00")
    store = open_store(store_copy)
    grid = sorted(raw_gaps(store_copy, later)[0])[0]
    p = free_party_members(store_copy, 1)[0]
    reg.assign(store, person_id=p, role="grid_sentinel", target=grid, principal=OP)
    stored = raw_query(store_copy, "SELECT since FROM assignments WHERE person_id = ? AND "
                       "target_code = ?", (p, grid))[0][0]
    assert stored == f"{TODAY.isoformat()}T00:00:00"  # anchor-relative, like the demo's dates
    shown = open_store(store_copy).read().assignments
    assert shown[(shown.person_id == p)].since.iloc[0] == pd.Timestamp(later)
    assert grid not in raw_gaps(store_copy, later)[0]
    assert grid in raw_gaps(store_copy, later - dt.timedelta(days=1))[0]
    env = {"WANGGE_NOW": f"{later.isoformat()}T09:00:00"}
    r = cli("coverage", store_copy, "--as-of", later.isoformat(), "--format", "json", "-q",
            env=env)
    assert grid not in json.loads(r.stdout)["grids_without_sentinel"]
    assert reg.history(store, target=grid,
                       principal=OP).when.iloc[0] == pd.Timestamp(f"{later}T09:00:00")
