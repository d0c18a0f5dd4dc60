"""Roles and scope in the library (issues 14 and 23): :mod:`layers.auth.principal` and
:mod:`layers.auth.scope`, and the required ``principal=`` of the register's writers and the
ticket store.

Every scoped read is compared with a brute-force scope computed here with plain loops over the
store's rows (and shapely for the geometry): the exact grids, buildings, assignments, people and
tickets a community worker and a sentinel should see, and no out-of-scope code anywhere
(``tests/test_scope_bruteforce.py`` walks every layer and every role the same way). Every
refused write is checked to leave the store file byte-identical and the change log / ticket
history unchanged; every accepted one records the principal's name as ``by`` (no writer takes
a ``by`` of its own). Scope rules come from the layer contract: a layer declared in a test is
cut by its references, or refused to scoped roles without a rule. Scope is what is in force
today: an ended duty puts no one in scope, and ``assign`` checks the person too.

The clock is fixed by conftest at 2026-11-20T12:00, the demo's anchor day.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from conftest import content_digest

from layers import register as reg
from layers.auth.principal import (
    ACCOUNT_ROLES,
    CAPABILITIES,
    HANDLER_MOVES,
    PERSONAL,
    PermissionDenied,
    Principal,
)
from layers.auth.scope import (
    FACILITY_LAYERS,
    FACILITY_MARGIN_DEG,
    mask_name,
    place_of,
    require_person,
    require_place,
    require_ticket,
    scoped,
    scoped_history,
    scoped_tickets,
)
from layers.layerset import LayerSet
from layers.store import open_store
from layers.tickets import TicketStore
from layers.tickets.workflow import MOVES

pytestmark = pytest.mark.backends
#: The CLI's operator: whole area, full data (what tests that are not about
#: authorisation act as).
OP = Principal.operator()

#: Layers cut to a principal's scope (the others are public and kept whole).
SCOPED_LAYERS = ("communities", "grids", "buildings", "assignments", "people", "tickets")
PUBLIC_LAYERS = ("towns", "care_points", "parking", "roads")
WHOLE_AREA = ("admin", "planner", "leader", "kiosk")
#: Someone else's name a caller might try to pass as ``by``.
FORGED = "冒名者"
#: The demo's anchor day (conftest fixes the clock there).
TODAY = pd.Timestamp("2026-11-20").date()


# -- picking the principals from the demo's own rows --------------------------------------------
@dataclass(frozen=True)
class Picks:
    communities: tuple[str, ...]   # a community worker's two communities (a 社区 and a 村)
    grids: tuple[str, ...]         # a sentinel's two grids, in different communities


@pytest.fixture(scope="module")
def data(demo_file) -> LayerSet:
    return open_store(demo_file).read()


@pytest.fixture(scope="module")
def frame(demo_file) -> pd.DataFrame:
    ts = TicketStore.for_store(demo_file)
    try:
        return ts.frame(principal=OP)
    finally:
        ts.close()


@pytest.fixture(scope="module")
def picks(data, frame) -> Picks:
    n_grids: dict[str, int] = {}
    for c in data.grids["community_code"]:
        n_grids[c] = n_grids.get(c, 0) + 1
    kinds = dict(zip(data.communities["code"], data.communities["kind"], strict=True))
    shequ = min((c for c in n_grids if kinds[c] == "社区"), key=lambda c: (n_grids[c], c))
    village = min(c for c in n_grids if kinds[c] == "村")
    # the sentinel's first grid: the one with most dispatched tickets (something to handle)
    dispatched: dict[str, int] = {}
    for g, s in zip(frame["grid_code"], frame["status"], strict=True):
        if s == "dispatched":
            dispatched[g] = dispatched.get(g, 0) + 1
    first = min(dispatched, key=lambda g: (-dispatched[g], g))
    comm_of = dict(zip(data.grids["code"], data.grids["community_code"], strict=True))
    second = min(g for g in comm_of if comm_of[g] != comm_of[first] and g in set(frame.grid_code))
    assert dispatched[first] >= 2
    return Picks(communities=(shequ, village), grids=(first, second))


@pytest.fixture(scope="module")
def who(picks) -> dict[str, Principal]:
    return {
        "admin": Principal("街道管理员甲", "admin"),
        "community": Principal("社区王芳", "community", communities=frozenset(picks.communities)),
        "sentinel": Principal("哨兵李明", "sentinel", grids=frozenset(picks.grids)),
        "planner": Principal("规划赵", "planner"),
        "leader": Principal("领导钱", "leader"),
        "kiosk": Principal("大屏1", "kiosk"),
    }


# -- brute force --------------------------------------------------------------------------------
@dataclass
class Expected:
    communities: set[str]
    grids: set[str]
    buildings: set[str]
    assignments: list        # index labels of the in-scope assignment rows
    people: set[str]
    tickets: set[str]
    holders: set[str]        # people holding a duty in force today in scope


def _in_force(active, since, until) -> bool:
    """The demo's anchor day (the fixed clock) within an active duty's dates."""
    day = pd.Timestamp(TODAY)
    return bool(active) and (pd.isna(since) or since <= day + pd.Timedelta(days=1)) and (
        pd.isna(until) or until >= day)


def brute_scope(data: LayerSet, *, communities=(), grids=()) -> Expected:
    """The scope of a community worker (``communities``) or a sentinel (``grids``), by loops:
    assignments by the layer their role names, people living there or holding a duty in
    force today there."""
    g_in: set[str] = set()
    c_in: set[str] = set()
    for code, comm in zip(data.grids["code"], data.grids["community_code"], strict=True):
        if (grids and code in grids) or (communities and comm in communities):
            g_in.add(code)
            c_in.add(comm)
    for code in data.communities["code"]:
        if code in communities:
            c_in.add(code)
    b_in = {code for code, g in zip(data.buildings["code"], data.buildings["grid_code"],
                                    strict=True) if g in g_in}
    a_in, assigned = [], set()
    a = data.assignments
    for label, pid, role, target, active, since, until in zip(
            a.index, a["person_id"], a["role"], a["target_code"], a["active"], a["since"],
            a["until"], strict=True):
        if (role == "grid_sentinel" and target in g_in) or (
                role == "building_member" and target in b_in):
            a_in.append(label)
            if _in_force(active, since, until):
                assigned.add(pid)
    p_in = {pid for pid, home in zip(data.people["person_id"],
                                     data.people["home_building_code"], strict=True)
            if pid in assigned or home in b_in}
    t_in = {tid for tid, g in zip(data.tickets["id"], data.tickets["grid_code"], strict=True)
            if g in g_in}
    return Expected(c_in, g_in, b_in, sorted(a_in), p_in, t_in, assigned)


def string_cells(ls: LayerSet, layers, *, skip=()):
    """``(layer, column, value)`` of every string cell (geometry excluded)."""
    for name in layers:
        df = ls[name]
        geom = df.geometry.name if isinstance(df, gpd.GeoDataFrame) else None
        for col in df.columns:
            if col == geom or (name, col) in skip:
                continue
            for v in df[col]:
                if isinstance(v, str):
                    yield name, col, v


def full_phones(ls: LayerSet, phones: set[str]) -> set[str]:
    """The stored phone numbers that appear whole (as digits, anywhere) in any string cell."""
    lengths = {len(p) for p in phones}
    found = set()
    for _name, _col, v in string_cells(ls, list(ls)):
        for run in re.findall(r"\d+", re.sub(r"[\s\-]", "", v)):
            for n in lengths:
                for i in range(len(run) - n + 1):
                    if run[i:i + n] in phones:
                        found.add(run[i:i + n])
    return found


def digest(path) -> str:
    return content_digest(path)


def log_len(path: Path) -> int:
    return len(open_store(path).change_log())


# -- scoped(): rows -----------------------------------------------------------------------------
@pytest.mark.parametrize("role", ["community", "sentinel"])
def test_scoped_rows_are_exactly_the_brute_force_scope(data, who, picks, role):
    p = who[role]
    exp = (brute_scope(data, communities=picks.communities) if role == "community"
           else brute_scope(data, grids=picks.grids))
    sizes = {n: len(data[n]) for n in data}
    out = scoped(data, p)

    assert exp.grids and exp.buildings and exp.people and exp.tickets and exp.assignments
    assert len(exp.grids) < len(data.grids)
    assert list(out.grids["code"]) and set(out.grids["code"]) == exp.grids
    assert len(out.grids) == len(exp.grids)
    assert set(out.communities["code"]) == exp.communities
    assert len(out.communities) == len(exp.communities)
    assert set(out.buildings["code"]) == exp.buildings
    assert len(out.buildings) == len(exp.buildings)
    assert sorted(out.assignments.index) == exp.assignments
    assert set(out.people["person_id"]) == exp.people
    assert len(out.people) == len(exp.people)
    assert set(out.tickets["id"]) == exp.tickets
    assert len(out.tickets) == len(exp.tickets)
    if role == "sentinel":
        # its two grids are in two communities, both of which it sees (and no other)
        assert len(exp.communities) == 2
    else:
        assert exp.communities == set(picks.communities)
    # towns are kept whole; facilities: exactly those within the margin of its communities
    # (brute force: each feature's own bounds against the widened box); the input unchanged
    assert len(out.towns) == len(data.towns)
    comms = data.communities[data.communities["code"].isin(exp.communities)]
    x0, y0, x1, y1 = comms.total_bounds
    m = FACILITY_MARGIN_DEG
    for name in FACILITY_LAYERS:
        if name not in data:
            continue
        want = {i for i, g in zip(data[name].index, data[name].geometry, strict=True)
                if shapely.intersects(g, shapely.box(x0 - m, y0 - m, x1 + m, y1 + m))}
        assert set(out[name].index) == want, name
        assert 0 < len(want) < len(data[name]) or name == "roads", name
    assert {n: len(data[n]) for n in data} == sizes


@pytest.mark.parametrize("role", ["community", "sentinel"])
def test_scoped_geometry_agrees_with_shapely(data, who, role):
    """Buildings and tickets seen lie inside the grids seen; those not seen lie outside them."""
    out = scoped(data, who[role])
    area = shapely.union_all(out.grids.geometry.to_numpy())
    inner = shapely.buffer(area, -1e-7)
    seen_b = out.buildings.geometry.representative_point().to_numpy()
    assert shapely.covers(area, seen_b).all()
    hidden = data.buildings[~data.buildings["code"].isin(set(out.buildings["code"]))]
    assert len(hidden)
    assert not shapely.within(hidden.geometry.representative_point().to_numpy(), inner).any()
    assert shapely.covers(area, out.tickets.geometry.to_numpy()).all()
    hidden_t = data.tickets[~data.tickets["id"].isin(set(out.tickets["id"]))]
    assert not shapely.within(hidden_t.geometry.to_numpy(), inner).any()


@pytest.mark.parametrize("role", ["community", "sentinel"])
def test_no_out_of_scope_code_anywhere(data, who, picks, role):
    exp = (brute_scope(data, communities=picks.communities) if role == "community"
           else brute_scope(data, grids=picks.grids))
    outside = ((set(data.grids["code"]) - exp.grids)
               | (set(data.buildings["code"]) - exp.buildings)
               | (set(data.communities["code"]) - exp.communities)
               | (set(data.people["person_id"]) - exp.people)
               | (set(data.tickets["id"]) - exp.tickets))
    out = scoped(data, who[role])
    # a person assigned here may live elsewhere: their own home building code is one
    # exception, checked separately below; who held a duty here that has ended the other
    leaks = [(n, c, v) for n, c, v in string_cells(
        out, SCOPED_LAYERS, skip={("people", "home_building_code"),
                                  ("assignments", "person_id")}) if v in outside]
    assert leaks == []
    for pid, home in zip(out.people["person_id"], out.people["home_building_code"],
                         strict=True):
        assert home in exp.buildings or pid in exp.holders, (pid, home)


@pytest.mark.parametrize("role", WHOLE_AREA)
def test_whole_area_roles_get_every_row(data, who, role):
    out = scoped(data, who[role])
    for name in data:
        assert len(out[name]) == len(data[name]), name
    for name, key in (("communities", "code"), ("grids", "code"), ("buildings", "code"),
                      ("people", "person_id"), ("tickets", "id")):
        assert set(out[name][key]) == set(data[name][key]), name


def test_scope_with_unknown_codes_is_empty(data):
    nobody = scoped(data, Principal("x", "sentinel", grids=frozenset({"no-such-grid"})))
    for name in SCOPED_LAYERS:
        assert len(nobody[name]) == 0, name
    none = scoped(data, Principal("y", "community"))
    assert len(none.grids) == len(none.people) == len(none.tickets) == 0


# -- scoped(): personal data --------------------------------------------------------------------
@pytest.mark.parametrize("role", ["sentinel", "leader"])
def test_masked_roles_see_masked_names_and_phones(data, who, role):
    out = scoped(data, who[role])
    name = dict(zip(data.people["person_id"], data.people["name"], strict=True))
    phone = dict(zip(data.people["person_id"], data.people["phone"], strict=True))
    assert len(out.people)
    for pid, n, ph in zip(out.people["person_id"], out.people["name"], out.people["phone"],
                          strict=True):
        orig = name[pid]
        assert n == orig[0] + "*" * (len(orig) - 1), pid
        assert n != orig
        full = phone[pid]
        assert ph == full[:3] + "****" + full[-4:], pid
    assert full_phones(out, set(data.people["phone"].dropna())) == set()


def test_leader_sees_no_ticket_text(data, who):
    out = scoped(data, who["leader"])
    assert len(out.tickets) == len(data.tickets)
    assert (out.tickets["text"] == "").all()


def test_sentinel_reads_its_tickets_text_in_scoped_layers(data, who):
    out = scoped(data, who["sentinel"])
    text = dict(zip(data.tickets["id"], data.tickets["text"], strict=True))
    assert len(out.tickets)
    assert [text[i] for i in out.tickets["id"]] == list(out.tickets["text"])


@pytest.mark.parametrize("role", ["planner", "kiosk"])
def test_roles_without_personal_data(data, who, role):
    out = scoped(data, who[role])
    assert len(out.people) == len(data.people)
    assert (out.people["name"] == "").all()
    assert out.people["phone"].isna().all()
    assert (out.tickets["text"] == "").all()
    assert full_phones(out, set(data.people["phone"].dropna())) == set()
    names = set(data.people["name"])
    assert not any(v in names for _n, _c, v in string_cells(out, SCOPED_LAYERS))


@pytest.mark.parametrize("role", ["admin", "community"])
def test_full_roles_see_names_phones_and_text(data, who, role):
    out = scoped(data, who[role])
    people = data.people.set_index("person_id")
    assert len(out.people)
    assert list(out.people["name"]) == list(people.loc[out.people["person_id"], "name"])
    assert list(out.people["phone"]) == list(people.loc[out.people["person_id"], "phone"])
    text = dict(zip(data.tickets["id"], data.tickets["text"], strict=True))
    assert [text[i] for i in out.tickets["id"]] == list(out.tickets["text"])


def test_mask_name():
    assert mask_name("张三丰") == "张**"
    assert mask_name("邓娜") == "邓*"
    assert mask_name("Li Lei") == "L*****"
    assert mask_name("") == mask_name(None) == mask_name(float("nan")) == ""


# -- scoped_tickets / scoped_history ------------------------------------------------------------
@pytest.mark.parametrize("role", ["community", "sentinel"])
def test_scoped_tickets_only_in_scope(data, frame, who, picks, role):
    comm_of = dict(zip(data.grids["code"], data.grids["community_code"], strict=True))
    expected = set()
    for rec in frame.to_dict(orient="records"):
        g = rec["grid_code"]
        if (role == "sentinel" and g in picks.grids) or (
                role == "community" and comm_of.get(g) in picks.communities):
            expected.add(rec["id"])
    out = scoped_tickets(frame, who[role])
    assert expected and len(expected) < len(frame)
    assert set(out["id"]) == expected and len(out) == len(expected)
    text = dict(zip(frame["id"], frame["text"], strict=True))
    assert all(text[i] == t != "" for i, t in zip(out["id"], out["text"], strict=True))


def test_scoped_tickets_hide_text_and_handler(store_copy, who):
    ts = TicketStore.for_store(store_copy)
    try:
        tid = ts.frame(status="dispatched", principal=OP)["id"].iloc[0]
        ts.move(tid, "in_progress", handler="张师傅", principal=Principal.operator("x"))
        frame = ts.frame(principal=OP)
    finally:
        ts.close()
    assert frame.set_index("id").loc[tid, "handler"] == "张师傅"
    for role in ("planner", "leader", "kiosk"):
        out = scoped_tickets(frame, who[role])
        assert len(out) == len(frame), role
        assert (out["text"] == "").all(), role
        assert out["handler"].isna().all(), role
    full = scoped_tickets(frame, who["admin"])
    assert full.set_index("id").loc[tid, "handler"] == "张师傅"
    assert list(full["text"]) == list(frame["text"])
    assert frame.set_index("id").loc[tid, "handler"] == "张师傅"  # the input is not changed


def test_scoped_history(who):
    events = [{"seq": 1, "status": "received", "at": "2026-11-20T10:00:00", "by": "王芳",
               "note": "住户张三 13812345678"},
              {"seq": 2, "status": "registered", "at": "2026-11-20T11:00:00", "by": "李明",
               "note": None}]
    for role in ("planner", "leader", "kiosk"):
        out = scoped_history(events, who[role])
        assert [(e["seq"], e["status"], e["at"]) for e in out] == [
            (1, "received", "2026-11-20T10:00:00"), (2, "registered", "2026-11-20T11:00:00")]
        assert all(e["by"] is None and e["note"] is None for e in out), role
    for role in ("admin", "community", "sentinel"):
        assert scoped_history(events, who[role]) == events
    assert events[0]["by"] == "王芳"


# -- place_of / require_* -----------------------------------------------------------------------
def test_place_of_and_require_place(demo_file, data, who, picks):
    store = open_store(demo_file)
    sel = store.select_rows
    b = data.buildings.iloc[123]
    comm = data.grids.set_index("code").loc[b["grid_code"], "community_code"]
    assert place_of(sel, b["code"]) == (comm, b["grid_code"])
    assert place_of(sel, b["grid_code"]) == (comm, b["grid_code"])
    assert place_of(sel, "nope") == (None, None)

    s = who["sentinel"]
    mine = picks.grids[0]
    other = min(g for g in data.grids["code"] if g not in picks.grids)
    require_place(s, sel, mine, "tickets_file")
    for code, cap in ((other, "tickets_file"), (None, "tickets_file"), ("nope", "tickets_file"),
                      (mine, "people_edit")):
        with pytest.raises(PermissionDenied):
            require_place(s, sel, code, cap)
    require_place(who["admin"], sel, None, "people_edit")
    with pytest.raises(PermissionDenied):
        require_place(who["leader"], sel, mine, "people_edit")

    c = who["community"]
    exp = brute_scope(data, communities=picks.communities)
    assigned_in = exp.holders
    lives_in = {pid for pid, home in zip(data.people["person_id"],
                                         data.people["home_building_code"], strict=True)
                if home in exp.buildings}
    # lives outside but serves inside: in scope; neither: not; unknown: not
    serves_in = min(assigned_in - lives_in) if assigned_in - lives_in else min(lives_in)
    require_person(c, sel, serves_in, "people_edit")
    require_person(c, sel, min(lives_in), "people_edit")
    outsider = min(set(data.people["person_id"]) - lives_in - assigned_in)
    for pid in (outsider, "P99999999"):
        with pytest.raises(PermissionDenied):
            require_person(c, sel, pid, "people_edit")
    with pytest.raises(PermissionDenied):
        require_person(who["sentinel"], sel, min(lives_in), "people_edit")


def test_require_ticket(who, picks):
    inside = {"id": "T1", "grid_code": picks.grids[0], "community_code": "whatever"}
    outside = {"id": "T2", "grid_code": "elsewhere", "community_code": picks.communities[0]}
    require_ticket(who["sentinel"], inside, "dispatched", "in_progress")
    for t, src, dst in ((outside, None, None), (inside, "registered", "dispatched"),
                        (inside, "verified", "closed")):
        with pytest.raises(PermissionDenied):
            require_ticket(who["sentinel"], t, src, dst)
    require_ticket(who["community"], outside, "verified", "closed")
    with pytest.raises(PermissionDenied):
        require_ticket(who["community"], inside)
    for role in ("planner", "kiosk"):
        with pytest.raises(PermissionDenied):
            require_ticket(who[role], inside)
    require_ticket(who["leader"], inside)  # the leader reads tickets (KPIs) …
    for src, dst in (("registered", "dispatched"), ("dispatched", "in_progress")):
        with pytest.raises(PermissionDenied):  # … and moves none
            require_ticket(who["leader"], inside, src, dst)


# -- register writes ----------------------------------------------------------------------------
def _free_member(data: LayerSet) -> str:
    """A party member with no assignment in force."""
    busy = {pid for pid, active, until in zip(
        data.assignments["person_id"], data.assignments["active"], data.assignments["until"],
        strict=True) if active and pd.isna(until)}
    return min(pid for pid, pm in zip(data.people["person_id"],
                                      data.people["is_party_member"], strict=True)
               if pm and pid not in busy)


def _refused(path: Path, call) -> None:
    """``call()`` raises PermissionDenied and the store file does not change."""
    before, n = digest(path), log_len(path)
    with pytest.raises(PermissionDenied):
        call()
    assert digest(path) == before
    assert log_len(path) == n


def test_community_assigns_only_inside_its_communities(store_copy, data, who, picks):
    store = open_store(store_copy)
    c = who["community"]
    exp = brute_scope(data, communities=picks.communities)
    g_in = min(exp.grids)
    g_out = min(set(data.grids["code"]) - exp.grids)
    b_out = min(set(data.buildings["code"]) - exp.buildings)
    b_in = min(exp.buildings)
    pid = _free_member(data)

    _refused(store_copy, lambda: reg.assign(store, person_id=pid, role="grid_sentinel",
                                            target=g_out, principal=c))
    _refused(store_copy, lambda: reg.assign(store, person_id=pid, role="building_member",
                                            target=b_out, principal=c))
    n = log_len(store_copy)
    reg.assign(store, person_id=pid, role="grid_sentinel", target=g_in, principal=c)
    reg.assign(store, person_id=pid, role="building_member", target=b_in, principal=c)
    log = store.change_log()
    new = log.iloc[n:]
    assert list(new["action"]) == ["assign", "assign"]
    assert list(new["target_code"]) == [g_in, b_in]
    assert set(new["by"]) == {c.name}
    assert FORGED not in set(log["by"])
    held = store.select_rows("assignments", {"person_id": pid})
    assert {g_in, b_in} <= set(held["target_code"])

    # ending: inside yes (by the principal), outside no
    assert reg.unassign(store, person_id=pid, target=g_in, principal=c) == 1
    assert store.change_log().iloc[-1]["by"] == c.name
    holder_out = data.assignments[data.assignments["target_code"] == g_out]["person_id"].iloc[0]
    _refused(store_copy, lambda: reg.unassign(store, person_id=holder_out, target=g_out,
                                              principal=c))


def test_community_adds_and_edits_people_only_inside(store_copy, data, who, picks):
    store = open_store(store_copy)
    c = who["community"]
    exp = brute_scope(data, communities=picks.communities)
    b_in = min(exp.buildings)
    b_out = min(set(data.buildings["code"]) - exp.buildings)

    _refused(store_copy, lambda: reg.add_person(store, name="外来人", building=b_out,
                                                principal=c))
    _refused(store_copy, lambda: reg.add_person(store, name="无楼栋", home=(106.28, 29.6),
                                                principal=c))
    pid = reg.add_person(store, name="新党员", phone="13900001111", party_member=True,
                         building=b_in, principal=c)
    row = store.select_rows("people", {"person_id": pid})
    assert row["home_building_code"].iloc[0] == b_in and row["name"].iloc[0] == "新党员"
    entry = store.change_log({"person_id": pid}).iloc[-1]
    assert entry["action"] == "person_add" and entry["by"] == c.name

    reg.edit_person(store, pid, phone="13900002222", principal=c)
    assert store.select_rows("people", {"person_id": pid})["phone"].iloc[0] == "13900002222"
    entry = store.change_log({"person_id": pid}).iloc[-1]
    assert entry["action"] == "person_edit" and entry["by"] == c.name
    # moving an in-scope person to a building outside is refused
    _refused(store_copy, lambda: reg.edit_person(store, pid, home_building_code=b_out,
                                                 principal=c))

    # someone living and assigned wholly outside: not editable, cannot be made to leave
    assigned_in = exp.holders
    outsider = min(pid for pid, home in zip(data.people["person_id"],
                                            data.people["home_building_code"], strict=True)
                   if home not in exp.buildings and pid not in assigned_in)
    _refused(store_copy, lambda: reg.edit_person(store, outsider, phone="13900003333",
                                                 principal=c))
    _refused(store_copy, lambda: reg.leave(store, outsider, principal=c))
    # someone living inside may leave, by the principal
    insider = min(pid for pid, home in zip(data.people["person_id"],
                                           data.people["home_building_code"], strict=True)
                  if home in exp.buildings)
    reg.leave(store, insider, reason="搬家", principal=c)
    assert store.change_log({"person_id": insider, "action": "person_leave"})["by"].tolist() \
        == [c.name]
    assert FORGED not in set(store.change_log()["by"])


def test_sentinel_and_whole_area_readers_cannot_edit_people(store_copy, data, who, picks):
    store = open_store(store_copy)
    exp = brute_scope(data, grids=picks.grids)
    resident = min(pid for pid, home in zip(data.people["person_id"],
                                            data.people["home_building_code"], strict=True)
                   if home in exp.buildings)
    b_in = min(exp.buildings)
    for role in ("sentinel", "planner", "leader", "kiosk"):
        p = who[role]
        _refused(store_copy, lambda p=p: reg.edit_person(store, resident, phone="13900004444",
                                                         principal=p))
        _refused(store_copy, lambda p=p: reg.add_person(store, name="某人", building=b_in,
                                                        principal=p))
        _refused(store_copy, lambda p=p: reg.assign(store, person_id=_free_member(data),
                                                    role="grid_sentinel",
                                                    target=picks.grids[0], principal=p))
        _refused(store_copy, lambda p=p: reg.leave(store, resident, principal=p))
        _refused(store_copy, lambda p=p: reg.accept_suggestions(
            store, community=data.grids.set_index("code").loc[picks.grids[0],
                                                              "community_code"],
            principal=p))


def test_accept_suggestions_is_scoped(store_copy, data, who, picks):
    store = open_store(store_copy)
    c = who["community"]
    outside = min(set(data.communities["code"]) - set(picks.communities))
    _refused(store_copy, lambda: reg.accept_suggestions(store, principal=c))
    _refused(store_copy, lambda: reg.accept_suggestions(store, community=outside, principal=c))
    n = log_len(store_copy)
    done = sum(reg.accept_suggestions(store, community=comm, principal=c)
               for comm in picks.communities)
    new = store.change_log().iloc[n:]
    assert len(new[new["action"] == "assign"]) == done
    assert set(new["by"]) <= {c.name}
    exp = brute_scope(data, communities=picks.communities)
    assert set(new["target_code"]) <= exp.grids


def test_admin_principal_is_recorded_as_by(store_copy, data, who):
    store = open_store(store_copy)
    pid = reg.add_person(store, name="管理员录入", building=data.buildings["code"].iloc[0],
                         principal=who["admin"])
    assert store.change_log({"person_id": pid})["by"].tolist() == [who["admin"].name]
    # without a principal (the CLI) the caller's by stays
    pid2 = reg.add_person(store, name="命令行录入", building=data.buildings["code"].iloc[0],
                          principal=Principal.operator("operator"))
    assert store.change_log({"person_id": pid2})["by"].tolist() == ["operator"]


# -- ticket writes ------------------------------------------------------------------------------
@pytest.fixture
def tickets(store_copy):
    ts = TicketStore.for_store(store_copy)
    yield ts
    ts.close()


def _point(data: LayerSet, grid: str) -> tuple[float, float]:
    geom = data.grids.set_index("code").loc[grid, "geometry"]
    pt = shapely.point_on_surface(geom)
    assert shapely.contains(geom, pt)
    return pt.x, pt.y


def _state(ts: TicketStore) -> tuple:
    f = ts.frame(principal=OP)
    return len(f), ts.version(), tuple(f["status"])


def test_sentinel_files_tickets_only_in_its_grids(tickets, data, who, picks):
    s = who["sentinel"]
    lon, lat = _point(data, picks.grids[1])
    cat = next(iter(tickets.catalogue))
    tid = tickets.add(cat, lon, lat, "井盖松动", principal=s)
    t = tickets.get(tid, principal=OP)
    assert t["grid_code"] == picks.grids[1] and t["status"] == "received"
    assert [e["by"] for e in t["history"]] == [s.name]

    other = min(g for g in data.grids["code"] if g not in picks.grids)
    olon, olat = _point(data, other)
    before = _state(tickets)
    with pytest.raises(PermissionDenied):
        tickets.add(cat, olon, olat, "别处的事", principal=s)
    with pytest.raises(PermissionDenied):  # all or nothing
        tickets.add_many([{"category": cat, "lon": lon, "lat": lat, "text": "这里"},
                          {"category": cat, "lon": olon, "lat": olat, "text": "别处"}],
                         principal=s)
    for role in ("planner", "leader", "kiosk"):
        with pytest.raises(PermissionDenied):
            tickets.add(cat, lon, lat, "看看", principal=who[role])
    assert _state(tickets) == before

    # a community worker files inside its communities only
    c = who["community"]
    in_grid = min(brute_scope(data, communities=picks.communities).grids)
    clon, clat = _point(data, in_grid)
    cid = tickets.add(cat, clon, clat, "社区代报", principal=c)
    assert tickets.get(cid, principal=OP)["history"][0]["by"] == c.name
    out_grid = min(set(data.grids["code"])
                   - brute_scope(data, communities=picks.communities).grids)
    with pytest.raises(PermissionDenied):
        tickets.add(cat, *_point(data, out_grid), "别处", principal=c)


def test_sentinel_handles_but_does_not_register_dispatch_or_close(tickets, data, who, picks):
    s, admin = who["sentinel"], who["admin"]
    cat = next(iter(tickets.catalogue))
    tid = tickets.add(cat, *_point(data, picks.grids[0]), "路灯不亮", principal=s)

    def refused(to: str) -> None:
        t = tickets.get(tid, principal=OP)
        with pytest.raises(PermissionDenied):
            tickets.move(tid, to, principal=s)
        after = tickets.get(tid, principal=OP)
        assert (after["status"], after["version"], len(after["history"])) == (
            t["status"], t["version"], len(t["history"]))

    refused("registered")
    refused("closed_unresolved")
    tickets.move(tid, "registered", principal=admin)
    refused("dispatched")
    tickets.move(tid, "dispatched", principal=admin)
    assert tickets.move(tid, "in_progress", principal=s)["status"] == "in_progress"
    refused("closed_unresolved")
    assert tickets.move(tid, "handled", principal=s)["status"] == "handled"
    refused("verified")
    tickets.move(tid, "verified", principal=admin)
    refused("closed")
    tickets.move(tid, "closed", principal=admin)
    hist = tickets.get(tid, principal=OP)["history"]
    assert [e["status"] for e in hist] == ["received", "registered", "dispatched",
                                           "in_progress", "handled", "verified", "closed"]
    assert [e["by"] for e in hist] == [s.name, admin.name, admin.name, s.name, s.name,
                                       admin.name, admin.name]


def test_moves_of_existing_tickets_are_scoped(tickets, who, picks):
    s = who["sentinel"]
    f = tickets.frame(principal=OP)
    mine = f[(f["grid_code"] == picks.grids[0]) & (f["status"] == "dispatched")]["id"].tolist()
    theirs = f[~f["grid_code"].isin(picks.grids) & (f["status"] == "dispatched")]["id"].tolist()
    assert mine and theirs
    t = tickets.move(mine[0], "in_progress", principal=s)
    assert t["status"] == "in_progress" and t["history"][-1]["by"] == s.name

    before = _state(tickets)
    with pytest.raises(PermissionDenied):  # a handler's move, but not in its grids
        tickets.move(theirs[0], "in_progress", principal=s)
    c = who["community"]
    out_c = f[~f["community_code"].isin(picks.communities)
              & (f["status"] == "dispatched")]["id"].iloc[0]
    with pytest.raises(PermissionDenied):
        tickets.move(out_c, "in_progress", principal=c)
    for role in ("planner", "leader", "kiosk"):
        with pytest.raises(PermissionDenied):
            tickets.move(mine[1], "in_progress", principal=who[role])
    assert _state(tickets) == before


# -- Principal ----------------------------------------------------------------------------------
def test_unknown_role_is_refused():
    for role in ("root", "", "Admin", "superuser"):
        with pytest.raises(PermissionDenied):
            Principal("x", role)
    assert set(ACCOUNT_ROLES) == set(CAPABILITIES) == set(PERSONAL)


def test_may_move_table():
    handler = {("dispatched", "in_progress"), ("in_progress", "handled"),
               ("dispatched", "returned"), ("returned", "in_progress")}
    assert set(HANDLER_MOVES) == handler
    legal = {(m.source, m.target) for m in MOVES}
    assert handler <= legal
    for role in ACCOUNT_ROLES:
        p = Principal("x", role)
        for src, dst in legal:
            want = role in ("admin", "community") or (role == "sentinel"
                                                      and (src, dst) in handler)
            assert p.may_move(src, dst) == want, (role, src, dst)


def test_capabilities_and_personal_levels():
    assert Principal("a", "planner").can("analysis")
    assert not Principal("a", "planner").can("people")
    with pytest.raises(PermissionDenied):
        Principal("a", "sentinel").require("people_edit")
    Principal("a", "community").require("people_edit")
    assert not Principal("k", "kiosk").can("map") and Principal("k", "kiosk").can("wall")
    assert {r: Principal("x", r).personal for r in ACCOUNT_ROLES} == {
        "admin": "full", "community": "full", "sentinel": "masked", "planner": "none",
        "leader": "masked", "kiosk": "none"}
    assert Principal.operator("ops").role == "admin" and Principal.operator("ops").name == "ops"


def test_covers_and_scope_key():
    s1 = Principal("a", "sentinel", grids=frozenset({"G1", "G2"}))
    s2 = Principal("b", "sentinel", grids=frozenset({"G2", "G1"}))
    s3 = Principal("a", "sentinel", grids=frozenset({"G1", "G3"}))
    c1 = Principal("a", "community", communities=frozenset({"C1"}))
    c2 = Principal("a", "community", communities=frozenset({"C2"}))
    assert s1.scope_key == s2.scope_key          # same scope, other name: same view
    assert s1.scope_key != s3.scope_key
    assert c1.scope_key != c2.scope_key
    assert Principal("a", "planner").scope_key != Principal("a", "leader").scope_key
    assert Principal("a", "admin").scope_key != Principal("a", "community").scope_key
    keys = {Principal("x", r).scope_key for r in ACCOUNT_ROLES}
    assert len(keys) == len(ACCOUNT_ROLES)

    assert s1.covers("any", "G1") and not s1.covers("any", "G3") and not s1.covers("C1")
    assert c1.covers("C1") and c1.covers("C1", "G9") and not c1.covers("C2", "G1")
    assert not c1.covers(None)
    for r in WHOLE_AREA:
        assert Principal("x", r).whole_area and Principal("x", r).covers(None, None)
    assert not s1.whole_area and not c1.whole_area


def test_leave_does_not_end_duties_outside_scope(store_copy, data):
    """A community worker cannot mark as left someone who also holds a duty in another
    community: ``leave`` would end that duty too (found by review: it used to)."""
    store = open_store(store_copy)
    comm_of = dict(zip(data.grids["code"], data.grids["community_code"], strict=True))
    comm_of.update((b, comm_of[g]) for b, g in zip(data.buildings["code"],
                                                   data.buildings["grid_code"], strict=True))
    act = data.assignments[data.assignments["active"].astype(bool)]
    home_comm = data.people.set_index("person_id")["home_building_code"].map(comm_of)
    pick = next((pid, home_comm[pid], comm_of[tgt])
                for pid, tgt in zip(act["person_id"], act["target_code"], strict=True)
                if isinstance(home_comm.get(pid), str) and home_comm[pid] != comm_of[tgt])
    pid, home, elsewhere = pick
    c = Principal("w", "community", communities=frozenset({home}))
    _refused(store_copy, lambda: reg.leave(store, pid, principal=c))
    both = Principal("w2", "community", communities=frozenset({home, elsewhere}))
    assert reg.leave(store, pid, principal=both) >= 1


def test_ticket_store_without_grids_refuses_a_scoped_principal(tmp_path, who):
    from layers.tickets import TicketStore

    ts = TicketStore(tmp_path / "t.sqlite")
    with pytest.raises(PermissionDenied):
        ts.add("noise", 106.5, 29.5, "吵", principal=who["sentinel"])


# -- scope rules from the layer contract (issue 23) -------------------------------------------
def _declare(monkeypatch, *specs) -> None:
    """Add layers to the contract for one test (the schema and the layer set's names)."""
    import layers.layerset
    import layers.schema

    for s in specs:
        monkeypatch.setitem(layers.schema.LAYERS, s.name, s)
    monkeypatch.setattr(layers.layerset, "LAYER_NAMES",
                        (*layers.layerset.LAYER_NAMES, *(s.name for s in specs)))


def _inspections(data: LayerSet) -> gpd.GeoDataFrame:
    """One fictional inspection per building, with an inspector's phone and a note."""
    b = data.buildings
    return gpd.GeoDataFrame({
        "id": [f"I{i:05d}" for i in range(len(b))],
        "building_code": b["code"].to_numpy(),
        "inspector_phone": [f"1390000{i:04d}" for i in range(len(b))],
        "note": [f"住户{i}反映漏水" for i in range(len(b))],
    }, geometry=b.geometry.representative_point().to_numpy(), crs="EPSG:4326")


def test_a_new_layer_is_cut_by_its_references_without_naming_it(monkeypatch, data, who, picks):
    """A layer the scope module has never heard of, referring to buildings, is cut to the
    buildings in scope; a layer referring to it is cut through it; their personal fields are
    masked by their flags (a phone as a phone, a field without a style not at all)."""
    from layers.schema import Field, LayerSpec, Reference

    _declare(monkeypatch,
             LayerSpec("inspections", "id", (
                 Field("id", "str"), Field("building_code", "str"),
                 Field("inspector_phone", "str", personal=True, mask="phone"),
                 Field("note", "str", personal=True)),
                 ("Point",), (Reference("building_code", "buildings"),), required=False),
             LayerSpec("inspection_photos", None, (Field("inspection_id", "str"),
                                                   Field("caption", "str")),
                       None, (Reference("inspection_id", "inspections"),), required=False))
    insp = _inspections(data)
    photos = pd.DataFrame({"inspection_id": insp["id"], "caption": "照片"})
    ls = data.replace(inspections=insp, inspection_photos=photos)
    for role in ("sentinel", "community"):
        exp = (brute_scope(data, grids=picks.grids) if role == "sentinel"
               else brute_scope(data, communities=picks.communities))
        out = scoped(ls, who[role])
        want = {i for i, b in zip(insp["id"], insp["building_code"], strict=True)
                if b in exp.buildings}
        assert want and len(want) < len(insp)
        assert set(out["inspections"]["id"]) == want
        assert set(out["inspection_photos"]["inspection_id"]) == want
        phones = dict(zip(insp["id"], insp["inspector_phone"], strict=True))
        for i, ph, note in zip(out["inspections"]["id"], out["inspections"]["inspector_phone"],
                               out["inspections"]["note"], strict=True):
            if role == "sentinel":  # masked: the phone's style; no style: nothing
                assert ph == phones[i][:3] + "****" + phones[i][-4:] and note == ""
            else:
                assert ph == phones[i] and note.endswith("反映漏水")
    # whole-area roles keep every row; the planner reads no personal field of it
    planner = scoped(ls, who["planner"])
    assert len(planner["inspections"]) == len(insp)
    # a required text field reads as empty text, an optional one as missing
    assert (planner["inspections"]["note"] == "").all()
    assert (planner["inspections"]["inspector_phone"] == "").all()


def test_a_layer_without_a_rule_is_refused_to_scoped_roles(monkeypatch, data, who):
    """No declared rule and no reference to a layer cut to the scope: a scoped principal is
    refused the whole read (never shown the layer whole); whole-area roles read it, masked."""
    from layers.auth.scope import UndeclaredScope, scope_rule
    from layers.schema import Field, LayerSpec, Reference

    _declare(monkeypatch, LayerSpec("hotline_notes", "id", (
        Field("id", "str"), Field("caller", "str", personal=True, mask="name"),
        Field("care_point", "str")), None,
        (Reference("care_point", "care_points"),), required=False))  # public: cuts nothing
    notes = pd.DataFrame({"id": ["H1", "H2"], "caller": ["张三丰", "李四"],
                          "care_point": data.care_points["code"].iloc[:2].to_numpy()})
    ls = data.replace(hotline_notes=notes)
    with pytest.raises(UndeclaredScope, match="hotline_notes"):
        scope_rule("hotline_notes")
    for role in ("sentinel", "community"):
        with pytest.raises(UndeclaredScope):
            scoped(ls, who[role])
        assert isinstance(UndeclaredScope("x"), PermissionDenied)
    assert list(scoped(ls, who["admin"])["hotline_notes"]["caller"]) == ["张三丰", "李四"]
    assert list(scoped(ls, who["leader"])["hotline_notes"]["caller"]) == ["张**", "李*"]
    # without it, the same roles read the store as before
    assert len(scoped(data, who["sentinel"]).grids) == 2


def test_every_layer_of_the_contract_has_a_rule():
    from layers.auth.scope import scope_rule
    from layers.schema import LAYERS

    rules = {name: scope_rule(name).rule for name in LAYERS}
    assert rules == {"towns": "public", "communities": "of_grids", "grids": "own_grids",
                     "buildings": "references", "people": "residents_or_holders",
                     "assignments": "targets", "care_points": "near", "parking": "near",
                     "tickets": "references", "roads": "near"}


# -- scope is what is in force today (issue 23: a security probe's hole) ---------------------
def _ended_only(data: LayerSet) -> tuple[str, str]:
    """``(person, community)``: someone whose only tie to ``community`` is a duty that is no
    longer in force (they live elsewhere and hold nothing in force there)."""
    comm_of = dict(zip(data.grids["code"], data.grids["community_code"], strict=True))
    comm_of.update((b, comm_of[g]) for b, g in zip(data.buildings["code"],
                                                   data.buildings["grid_code"], strict=True))
    home = dict(zip(data.people["person_id"], data.people["home_building_code"], strict=True))
    a = data.assignments
    rows = list(zip(a["person_id"], a["target_code"], a["active"], a["since"], a["until"],
                    strict=True))
    for pid, target, active, since, until in rows:
        if _in_force(active, since, until):
            continue
        comm = comm_of[target]
        held_there = any(p == pid and comm_of[t] == comm and _in_force(ac, s, u)
                         for p, t, ac, s, u in rows)
        if comm_of.get(home.get(pid)) != comm and not held_there:
            return pid, comm
    raise AssertionError("the demo has no ended duty of someone living elsewhere")


def test_an_ended_duty_puts_no_one_in_scope(store_copy, data):
    """Once their duty ended, a person who lives elsewhere is no longer seen by, nor
    editable by, the community where they served (it used to keep them forever)."""
    pid, comm = _ended_only(data)
    c = Principal("社区", "community", communities=frozenset({comm}))
    assert pid not in set(scoped(data, c).people["person_id"])
    store = open_store(store_copy)
    with pytest.raises(PermissionDenied):
        require_person(c, store.select_rows, pid, "people_edit")
    _refused(store_copy, lambda: reg.edit_person(store, pid, phone="13900005555", principal=c))
    _refused(store_copy, lambda: reg.leave(store, pid, principal=c))
    with pytest.raises(PermissionDenied):
        reg.history(store, person=pid, principal=c)
    # the duty itself stays in the place's history, seen where it was held
    assert pid in set(scoped(data, c).assignments["person_id"])


def test_assign_checks_the_person_too(store_copy, data, who, picks):
    """A community worker cannot draft someone from elsewhere onto a grid of its own (and so
    gain the right to edit them): the person must live there or already hold a duty there."""
    store = open_store(store_copy)
    c = who["community"]
    exp = brute_scope(data, communities=picks.communities)
    g_in = min(exp.grids)
    busy = {pid for pid, act, s, u in zip(data.assignments["person_id"],
                                          data.assignments["active"],
                                          data.assignments["since"], data.assignments["until"],
                                          strict=True) if _in_force(act, s, u)}
    outsider = min(pid for pid, home, pm in zip(
        data.people["person_id"], data.people["home_building_code"],
        data.people["is_party_member"], strict=True)
        if pm and home not in exp.buildings and pid not in exp.holders and pid not in busy)
    _refused(store_copy, lambda: reg.assign(store, person_id=outsider, role="grid_sentinel",
                                            target=g_in, principal=c))
    _refused(store_copy, lambda: reg.edit_person(store, outsider, phone="13900006666",
                                                 principal=c))
    # the operator may; then the person holds a duty in force here and is in scope
    reg.assign(store, person_id=outsider, role="grid_sentinel", target=g_in,
               principal=Principal.operator("ops"))
    reg.edit_person(store, outsider, phone="13900006666", principal=c)
    insider = min(pid for pid, home in zip(data.people["person_id"],
                                           data.people["home_building_code"], strict=True)
                  if home in exp.buildings and pid not in busy)
    reg.assign(store, person_id=insider, role="building_member", target=min(exp.buildings),
               principal=c)


def test_accept_suggestions_picks_only_people_in_scope(store_copy, data):
    """The suggestions a community worker accepts are made among the people of its scope:
    a party member registered (by the operator) without a home building, their home point
    inside one of its grids without a sentinel, is nearest — and not drafted."""
    from layers.coverage import coverage

    store = open_store(store_copy)
    gaps = coverage(data).grids_without_sentinel
    grid = min(gaps)
    comm = data.grids.set_index("code").loc[grid, "community_code"]
    pt = shapely.point_on_surface(data.grids.set_index("code").loc[grid, "geometry"])
    stranger = reg.add_person(store, name="外来党员", party_member=True, home=(pt.x, pt.y),
                              principal=Principal.operator("ops"))
    whole = reg.suggestions(store)
    assert stranger in set(whole[(whole["grid_code"] == grid) & (whole["rank"] == 1)]
                           ["person_id"])
    c = Principal("社区", "community", communities=frozenset({comm}))
    n = log_len(store_copy)
    reg.accept_suggestions(store, community=comm, principal=c)
    new = store.change_log().iloc[n:]
    assert stranger not in set(new["person_id"])
    assert set(new["by"]) <= {c.name}
    for pid in new["person_id"]:
        require_person(c, store.select_rows, pid, "people_edit")


def test_writers_take_no_by_of_their_own(store_copy, tickets, data, who, picks):
    """``by`` is the principal's name: there is no argument to pass another one."""
    store = open_store(store_copy)
    s = who["sentinel"]
    with pytest.raises(TypeError):
        reg.add_person(store, name="某人", building=data.buildings["code"].iloc[0],
                       by=FORGED, principal=who["admin"])  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        reg.assign(store, person_id=_free_member(data), role="grid_sentinel",
                    # type: ignore[call-arg]
                   target=picks.grids[0], principal=who["admin"], by=FORGED)
    cat = next(iter(tickets.catalogue))
    with pytest.raises(TypeError):
        tickets.add(cat, *_point(data, picks.grids[0]), "x", principal=s,  # type: ignore[call-arg]
                    by=FORGED)
    # and no principal is no write
    with pytest.raises(TypeError):
        reg.leave(store, data.people["person_id"].iloc[0])  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        tickets.frame()  # type: ignore[call-arg]


def test_history_is_read_in_scope(store_copy, data, who, picks):
    store = open_store(store_copy)
    s = who["sentinel"]
    mine = picks.grids[0]
    other = min(g for g in data.grids["code"] if g not in picks.grids)
    assert len(reg.history(store, target=mine, principal=s)) >= 0
    for kw in ({"target": other}, {}):
        with pytest.raises(PermissionDenied):
            reg.history(store, principal=s, **kw)
    assert len(reg.history(store, principal=who["leader"])) == len(store.change_log())
