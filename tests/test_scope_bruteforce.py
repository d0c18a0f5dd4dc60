"""Authorisation by brute force: every layer of the contract × every role, against a scope
computed here with plain loops and sets (no library code but the demo and shapely).

For each role (admin, community, sentinel, planner, leader, kiosk) — the scoped roles with
several realistic scopes picked from the demo: a community worker of one 社区, one of a 社区
and a 村, a sentinel's grids as a real sentinel holds them, grids in two communities, grids
holding a duty that has ended, and scopes naming nothing — this proves that

- :func:`layers.auth.scope.scoped` keeps exactly the rows the plain rules below keep, layer by
  layer (no out-of-scope row leaves it, no in-scope row is lost), and no code of a row out of
  scope appears in any cell;
- every field the contract flags ``personal`` is as the role may read it (whole, masked in
  the field's style, or blank), no stored phone number appears whole in any text cell and no
  name in a cell of a role that sees none; residents' free text is blank for the roles that do
  not read ticket text;
- the ticket database read with a principal — :func:`scoped_tickets`,
  :meth:`TicketStore.frame`, :meth:`~TicketStore.get`, :meth:`~TicketStore.records`,
  :meth:`~TicketStore.histories`, :meth:`~TicketStore.last_events`,
  :meth:`~TicketStore.photos` and the Open311 export — keeps the same tickets and hides the
  same text.

The ``store`` fixture is parametrised by backend (``BACKENDS`` of conftest): the embedded
GeoPackage and a PostGIS copy of the same demo run the same checks.

The clock is fixed by conftest at 2026-11-20T12:00, the demo's anchor day.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import geopandas as gpd
import pandas as pd
import pytest
import shapely

#: The store backends the checks run on.
from conftest import BACKENDS, pg_copy

from layers import clock
from layers.auth.principal import PermissionDenied, Principal
from layers.auth.scope import FACILITY_MARGIN_DEG, scoped, scoped_tickets
from layers.layerset import LayerSet
from layers.schema import LAYER_NAMES, LAYERS
from layers.store import open_store
from layers.tickets import TicketStore
from layers.tickets.reports import to_open311

ROLES = ("admin", "community", "sentinel", "planner", "leader", "kiosk")
WHOLE_AREA = {"admin", "planner", "leader", "kiosk"}
#: What each role reads of personal data, and who reads residents' text (written out here,
#: not taken from the library).
LEVEL = {"admin": "full", "community": "full", "sentinel": "masked", "planner": "none",
         "leader": "masked", "kiosk": "none"}
READS_TEXT = {"admin", "community", "sentinel"}
TICKET_ROLES = {"admin", "community", "sentinel", "leader"}  # may open a ticket
#: The only places a code of a row out of scope may appear: where someone in scope lives (a
#: holder of a duty here may live elsewhere), who held a duty here that has ended, and the
#: building a ticket in scope was filed under (the demo files 59 tickets under a building of
#: the next grid whose outline crosses into theirs).
ALLOWED_OUTSIDE = {("people", "home_building_code"), ("assignments", "person_id"),
                   ("tickets", "building_code")}
#: Public layers (kept whole, or near the scope): what they say of other places is public.
PUBLIC = {"towns", "care_points", "parking", "roads"}


# -- the store, per backend -------------------------------------------------------------------
@pytest.fixture(scope="module", params=BACKENDS)
def store(request, demo_file):
    """The demo store with its seeded ticket database, in one backend (read only here)."""
    if request.param == "gpkg":
        return open_store(demo_file)
    return open_store(pg_copy(request.getfixturevalue("pg_cluster"),
                              request.getfixturevalue("pg_template")))


@pytest.fixture(scope="module")
def data(store) -> LayerSet:
    return store.read()


@pytest.fixture(scope="module")
def tickets(store):
    ts = TicketStore.for_store(store)
    yield ts
    ts.close()


@pytest.fixture(scope="module")
def every_ticket(tickets) -> pd.DataFrame:
    return tickets.frame(principal=Principal.system("test"))


# -- realistic principals from the demo --------------------------------------------------------
def _in_force(active, since, until, today: dt.date) -> bool:
    return bool(active) and (pd.isna(since) or pd.Timestamp(since).date() <= today) and (
        pd.isna(until) or pd.Timestamp(until).date() >= today)


def _pairs(df: pd.DataFrame, *cols: str):
    return zip(*(df[c].tolist() for c in cols), strict=True)


@pytest.fixture(scope="module")
def principals(data) -> dict[str, list[Principal]]:
    today = clock.today()
    comm_of = dict(_pairs(data.grids, "code", "community_code"))
    grid_of = dict(_pairs(data.buildings, "code", "grid_code"))
    kinds = dict(_pairs(data.communities, "code", "kind"))
    n_grids: dict[str, int] = {}
    for c in comm_of.values():
        n_grids[c] = n_grids.get(c, 0) + 1
    biggest = max(n_grids, key=lambda c: (n_grids[c], c))
    shequ = min(c for c in n_grids if kinds[c] == "社区")
    village = min(c for c in n_grids if kinds[c] == "村")
    # a duty not in force (ended or withdrawn): its grid and community, so that the rule
    # "in force today" decides who is seen
    gone = [(pid, t) for pid, t, a, s, u in _pairs(data.assignments, "person_id",
                                                   "target_code", "active", "since", "until")
            if not _in_force(a, s, u, today)]
    assert gone, "the demo has ended duties"
    _, target = gone[0]
    old_grid = target if target in comm_of else grid_of[target]
    # a real sentinel: a person holding grid duties in force
    held: dict[str, set[str]] = {}
    for pid, role, t, a, s, u in _pairs(data.assignments, "person_id", "role", "target_code",
                                        "active", "since", "until"):
        if role == "grid_sentinel" and _in_force(a, s, u, today):
            held.setdefault(pid, set()).add(t)
    real = max(held, key=lambda p: (len(held[p]), p))
    other = min(g for g in comm_of if comm_of[g] != comm_of[old_grid])
    return {
        "admin": [Principal("管理员", "admin")],
        "community": [
            Principal("社区甲", "community", communities=frozenset({biggest})),
            Principal("社区乙", "community", communities=frozenset({shequ, village})),
            Principal("社区丙", "community", communities=frozenset({comm_of[old_grid]})),
            Principal("社区空", "community"),
        ],
        "sentinel": [
            Principal("哨兵甲", "sentinel", grids=frozenset(held[real])),
            Principal("哨兵乙", "sentinel", grids=frozenset({old_grid, other})),
            Principal("哨兵空", "sentinel", grids=frozenset({"no-such-grid"})),
        ],
        "planner": [Principal("规划", "planner")],
        "leader": [Principal("领导", "leader")],
        "kiosk": [Principal("大屏", "kiosk")],
    }


# -- the independent scope -----------------------------------------------------------------------
@dataclass
class Brute:
    """Index labels kept per layer, and the codes in scope."""

    rows: dict[str, set]
    grids: set[str]
    communities: set[str]


def brute(data: LayerSet, p: Principal) -> Brute:
    """The rows ``p`` should see, by the rules written out with loops."""
    if p.role in WHOLE_AREA:
        return Brute({n: set(data[n].index) for n in LAYER_NAMES}, set(data.grids["code"]),
                     set(data.communities["code"]))
    today = clock.today()
    grids: set[str] = set()
    comms: set[str] = set(p.communities) if p.role == "community" else set()
    for code, comm in _pairs(data.grids, "code", "community_code"):
        if (p.role == "sentinel" and code in p.grids) or (
                p.role == "community" and comm in p.communities):
            grids.add(code)
            comms.add(comm)
    buildings = {code for code, g in _pairs(data.buildings, "code", "grid_code") if g in grids}
    rows: dict[str, set] = {}
    rows["grids"] = {i for i, c in zip(data.grids.index, data.grids["code"], strict=True)
                     if c in grids}
    rows["communities"] = {i for i, c in zip(data.communities.index, data.communities["code"],
                                             strict=True) if c in comms}
    rows["buildings"] = {i for i, c in zip(data.buildings.index, data.buildings["code"],
                                           strict=True) if c in buildings}
    a = data.assignments
    rows["assignments"] = set()
    holders: set[str] = set()
    for i, (pid, role, target, act, since, until) in zip(a.index, _pairs(
            a, "person_id", "role", "target_code", "active", "since", "until"), strict=True):
        if (role == "grid_sentinel" and target in grids) or (
                role == "building_member" and target in buildings):
            rows["assignments"].add(i)
            if _in_force(act, since, until, today):
                holders.add(pid)
    rows["people"] = {i for i, (pid, home) in zip(data.people.index, _pairs(
        data.people, "person_id", "home_building_code"), strict=True)
        if home in buildings or pid in holders}
    rows["tickets"] = {i for i, g in zip(data.tickets.index, data.tickets["grid_code"],
                                         strict=True) if g in grids}
    rows["towns"] = set(data.towns.index)
    box = None
    if comms:
        x0, y0, x1, y1 = data.communities[data.communities["code"].isin(comms)].total_bounds
        m = FACILITY_MARGIN_DEG
        box = shapely.box(x0 - m, y0 - m, x1 + m, y1 + m)
    for name in ("care_points", "parking", "roads"):
        df = data[name]
        rows[name] = set() if box is None else {
            i for i, g in zip(df.index, df.geometry, strict=True) if shapely.intersects(g, box)}
    return Brute(rows, grids, comms)


# -- scoped(): rows ---------------------------------------------------------------------------
def test_every_layer_has_a_plain_rule_here():
    """A new layer in the contract must get its rule written out in :func:`brute` too."""
    ruled = {"towns", "communities", "grids", "buildings", "people", "assignments",
             "care_points", "parking", "tickets", "roads"}
    assert set(LAYER_NAMES) == ruled


@pytest.mark.parametrize("role", ROLES)
def test_scoped_rows_are_the_brute_force_rows(data, principals, role):
    sizes = {n: len(data[n]) for n in data}
    for p in principals[role]:
        want = brute(data, p)
        out = scoped(data, p)
        for name in LAYER_NAMES:
            got = set(out[name].index)
            assert got == want.rows[name], (p.name, name, len(got), len(want.rows[name]))
            assert len(out[name]) == len(got), (p.name, name)  # no row twice
    assert {n: len(data[n]) for n in data} == sizes  # the input is not changed


def test_the_scopes_are_realistic(data, principals):
    """Each scoped principal sees some of the area and not all of it (the empty ones none)."""
    for role in ("community", "sentinel"):
        for p in principals[role]:
            want = brute(data, p)
            n = len(want.rows["grids"])
            if p.name.endswith("空"):
                assert n == 0 and not any(want.rows[k] for k in ("people", "tickets"))
            else:
                assert 0 < n < len(data.grids), p.name
                assert want.rows["people"] and want.rows["buildings"], p.name
    # the in-force rule decides someone: a holder of an ended duty in scope, seen only if
    # they live there
    p = principals["community"][2]
    want = brute(data, p)
    a = data.assignments.loc[sorted(want.rows["assignments"])]
    today = clock.today()
    ended = {pid for pid, act, s, u in _pairs(a, "person_id", "active", "since", "until")
             if not _in_force(act, s, u, today)}
    assert ended


@pytest.mark.parametrize("role", ["community", "sentinel"])
def test_no_code_of_a_row_out_of_scope_anywhere(data, principals, role):
    keys = {n: s.key for n, s in LAYERS.items() if s.key}
    for p in principals[role]:
        want = brute(data, p)
        outside = set()
        for name, key in keys.items():
            df = data[name]
            kept = want.rows[name]
            outside |= {v for i, v in zip(df.index, df[key], strict=True) if i not in kept}
        out = scoped(data, p)
        for name in set(LAYER_NAMES) - PUBLIC:
            df = out[name]
            geom = df.geometry.name if isinstance(df, gpd.GeoDataFrame) else None
            for col in df.columns:
                if col == geom or (name, col) in ALLOWED_OUTSIDE:
                    continue
                leaks = [v for v in df[col] if isinstance(v, str) and v in outside]
                assert leaks == [], (p.name, name, col, leaks[:3])


# -- scoped(): personal data and free text ----------------------------------------------------
def _blank(v: object) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and v != v) or v == ""


def _masked_name(v: str) -> str:
    s = v.strip()
    return s[:1] + "*" * (len(s) - 1)


def _masked_phone(v: str) -> str | None:
    digits = "".join(c for c in v if c not in " -")
    if len(digits) < 8:
        return "*" * len(digits) or None
    return digits[:3] + "****" + digits[-4:]


def test_the_contract_flags_names_and_phones_personal():
    people = {f.name: f for f in LAYERS["people"].fields}
    assert people["name"].personal and people["name"].mask == "name"
    assert people["phone"].personal and people["phone"].mask == "phone"
    assert {f.name for f in LAYERS["tickets"].fields if f.free_text} == {"text"}


def _check_field(orig: pd.Series, got: pd.Series, f, role: str, where: tuple) -> None:
    level = LEVEL[role]
    hidden_text = f.free_text and role not in READS_TEXT
    for label, v in got.items():
        o = orig[label]
        if hidden_text or (f.personal and level == "none"):
            assert _blank(v), (*where, label)
        elif f.personal and level == "masked":
            if _blank(o):
                assert _blank(v), (*where, label)
            elif f.mask == "name":
                assert v == _masked_name(o) and v != o, (*where, label)
            elif f.mask == "phone":
                assert v == _masked_phone(o) and v != o, (*where, label)
            else:
                assert _blank(v), (*where, label)
        else:
            assert (v == o) or (_blank(v) and _blank(o)), (*where, label)


@pytest.mark.parametrize("role", ROLES)
def test_every_personal_field_is_as_the_role_may_read_it(data, principals, role):
    for p in principals[role]:
        out = scoped(data, p)
        for name in LAYER_NAMES:
            for f in LAYERS[name].fields:
                if (f.personal or f.free_text) and f.name in out[name]:
                    _check_field(data[name][f.name], out[name][f.name], f, role,
                                 (p.name, name, f.name))


def _text_cells(ls: LayerSet):
    for name in LAYER_NAMES:
        df = ls[name]
        geom = df.geometry.name if isinstance(df, gpd.GeoDataFrame) else None
        for col in df.columns:
            if col != geom:
                yield from (v for v in df[col] if isinstance(v, str))


@pytest.mark.parametrize("role", ["sentinel", "planner", "leader", "kiosk"])
def test_no_phone_whole_and_no_name_for_roles_without_them(data, principals, role):
    phones = {re.sub(r"[\s\-]", "", p) for p in data.people["phone"].dropna()}
    names = set(data.people["name"].dropna())
    lengths = {len(x) for x in phones}
    for p in principals[role]:
        out = scoped(data, p)
        for v in _text_cells(out):
            for run in re.findall(r"\d+", re.sub(r"[\s\-]", "", v)):
                for n in lengths:
                    assert not any(run[i:i + n] in phones for i in range(len(run) - n + 1)), (
                        p.name, v)
            if LEVEL[role] == "none":
                assert v not in names, (p.name, v)


# -- tickets ----------------------------------------------------------------------------------
def ticket_ids(every: pd.DataFrame, p: Principal) -> set[str]:
    """The tickets ``p`` should see, by loops over the ticket rows."""
    out = set()
    for tid, g, c in _pairs(every, "id", "grid_code", "community_code"):
        if p.role in WHOLE_AREA or (p.role == "sentinel" and g in p.grids) or (
                p.role == "community" and c in p.communities):
            out.add(tid)
    return out


def _check_ticket_frame(df: pd.DataFrame, every: pd.DataFrame, p: Principal) -> None:
    want = ticket_ids(every, p)
    assert set(df["id"]) == want and len(df) == len(want), p.name
    full = every.set_index("id")
    for tid, text, handler in _pairs(df, "id", "text", "handler"):
        if p.role in READS_TEXT:
            assert text == full.loc[tid, "text"], (p.name, tid)
        else:
            assert text == "" and _blank(handler), (p.name, tid)


@pytest.mark.parametrize("role", ROLES)
def test_ticket_frames_keep_the_scope_and_hide_text(data, tickets, every_ticket, principals,
                                                    role):
    for p in principals[role]:
        _check_ticket_frame(scoped_tickets(every_ticket, p), every_ticket, p)
        _check_ticket_frame(tickets.frame(principal=p), every_ticket, p)
        mine = tickets.frame(principal=p, status="dispatched")
        assert set(mine["id"]) == {t for t in ticket_ids(every_ticket, p)
                                   if every_ticket.set_index("id").loc[t, "status"]
                                   == "dispatched"}
        # the tickets' grids are grids of the layer scope
        if p.role not in WHOLE_AREA:
            grids = set(every_ticket[every_ticket["id"].isin(ticket_ids(every_ticket, p))]
                        ["grid_code"])
            assert grids <= brute(data, p).grids, p.name


@pytest.mark.parametrize("role", ROLES)
def test_histories_and_last_events_keep_the_scope(tickets, every_ticket, principals, role):
    for p in principals[role]:
        want = ticket_ids(every_ticket, p)
        hist = tickets.histories(principal=p)
        assert set(hist) <= want and (set(hist) == want or not want), p.name
        for events in hist.values():
            for e in events:
                if p.role not in READS_TEXT:
                    assert e["by"] is None and e["note"] is None, p.name
        last = tickets.last_events(principal=p)
        assert set(last["ticket_id"]) == set(hist), p.name
        if p.role not in READS_TEXT:
            assert last["note"].isna().all(), p.name
        export = to_open311(tickets, principal=p)
        assert {r["service_request_id"] for r in export} == want, p.name
        if p.role not in READS_TEXT:
            assert all(r["description"] == "" for r in export), p.name


def _sample(every: pd.DataFrame, ids: set[str]) -> list[str]:
    """One ticket id of ``ids`` per status."""
    picked = []
    for status in sorted(set(every["status"])):
        rows = every[(every["status"] == status) & every["id"].isin(ids)]["id"].tolist()
        picked += rows[:1]
    return picked


@pytest.mark.parametrize("role", ROLES)
def test_one_ticket_is_given_only_in_scope(tickets, every_ticket, principals, role):
    every = set(every_ticket["id"])
    for p in principals[role]:
        mine = ticket_ids(every_ticket, p)
        for tid in _sample(every_ticket, mine):
            if role not in TICKET_ROLES:
                with pytest.raises(PermissionDenied):
                    tickets.get(tid, principal=p)
                continue
            rec = tickets.get(tid, principal=p)
            assert rec["id"] == tid
            if role not in READS_TEXT:
                assert rec["text"] == "" and rec["handler"] is None
                assert all(e["by"] is None and e["note"] is None for e in rec["history"])
            if role in READS_TEXT:
                assert tickets.photos(tid, principal=p) == []
            else:
                with pytest.raises(PermissionDenied):
                    tickets.photos(tid, principal=p)
        for tid in _sample(every_ticket, every - mine):
            with pytest.raises(PermissionDenied):
                tickets.get(tid, principal=p)
            with pytest.raises(PermissionDenied):
                tickets.photos(tid, principal=p)
        if role in TICKET_ROLES:
            recs = tickets.records(tickets.frame(principal=p).head(20), principal=p)
            assert {r["id"] for r in recs} <= mine
