"""The detail panel's facts and the search's person targets against a brute force over every
assignment row (issue 15: they now read only the rows of the targets or persons asked for)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from layers import lookup
from layers.assignments import resolve_as_of


def _brute_active(data, day: dt.date) -> list[dict]:
    """Every assignment in force on ``day``, by reading the rows one at a time."""
    out = []
    for row in data.assignments.to_dict(orient="records"):
        since, until = row["since"], row["until"]
        if not row["active"]:
            continue
        if not pd.isna(since) and pd.Timestamp(since).date() > day:
            continue
        if not pd.isna(until) and pd.Timestamp(until).date() < day:
            continue
        out.append(row)
    return out


@pytest.fixture(scope="module")
def active(demo):
    return _brute_active(demo, resolve_as_of(demo))


def test_grid_details_name_the_people_the_rows_say(demo, active):
    for code in demo.grids["code"].iloc[::9]:
        d = lookup.grid_detail(demo, code)
        sentinels = sorted(a["person_id"] for a in active
                           if a["role"] == "grid_sentinel" and a["target_code"] == code)
        assert [r.person_id for r in d.sentinels] == sentinels
        mine = set(demo.buildings.loc[demo.buildings["grid_code"] == code, "code"])
        held = {a["target_code"] for a in active if a["role"] == "building_member"}
        assert d.buildings == len(mine)
        assert d.buildings_without_member == len(mine - held)


def test_building_details_name_the_people_the_rows_say(demo, active):
    for code, grid in demo.buildings[["code", "grid_code"]].iloc[::97].itertuples(index=False):
        d = lookup.building_detail(demo, code)
        assert d.grid_code == grid
        assert [r.person_id for r in d.members] == sorted(
            a["person_id"] for a in active
            if a["role"] == "building_member" and a["target_code"] == code)
        assert [r.person_id for r in d.sentinels] == sorted(
            a["person_id"] for a in active
            if a["role"] == "grid_sentinel" and a["target_code"] == grid)


def test_a_person_found_by_search_points_at_their_first_duty_else_home(demo, active):
    first: dict[str, str] = {}
    for a in active:  # in the layer's order
        first.setdefault(a["person_id"], a["target_code"])
    people = demo.people.set_index("person_id")
    checked = 0
    for pid in demo.people["person_id"].iloc[::150]:
        hits = [h for h in lookup.search(demo, pid) if h.kind == "person" and h.code == pid]
        assert len(hits) == 1
        home = people.loc[pid, "home_building_code"]
        expected = first.get(pid, home if not pd.isna(home) else "")
        assert hits[0].target == expected
        checked += pid in first
    assert checked > 0  # some of them hold a duty
