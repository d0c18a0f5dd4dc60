"""Coverage with a memo of the last run (what the app keeps between edits) gives exactly the
answer of a run from scratch, after every kind of edit, one after another."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
import shapely

from layers._keys import LookupMemo, index_in, strings
from layers.coverage import CoverageMemo, CoverageResult, coverage
from layers.layerset import LayerSet
from layers.settings import Settings

SETTINGS = Settings(sentinel_max_households=420, member_max_buildings=3,
                    suggestions_per_gap=3, suggestion_max_distance_m=600.0)

Edit = Callable[[LayerSet, np.random.Generator, CoverageResult], LayerSet]


def _same(a: CoverageResult, b: CoverageResult) -> None:
    ta, tb = a.to_tables(), b.to_tables()
    assert set(ta) == set(tb)
    for name in ta:
        pd.testing.assert_frame_equal(ta[name], tb[name], check_dtype=False, obj=name)


def _row(rng, n: int) -> int:
    return int(rng.integers(n))


def _new_assignment(person: str, role: str, target: str) -> pd.DataFrame:
    return pd.DataFrame({"person_id": [person], "role": [role], "target_code": [target],
                         "active": [True], "since": [pd.Timestamp("2026-01-01")],
                         "until": [pd.NaT]})


def assign_a_suggested_member(data, rng, last):
    """A suggested pool member becomes a building member: leaves the pool, so every gap
    that listed them must be ranked again."""
    pick = last.suggestions.iloc[_row(rng, len(last.suggestions))]
    building = data.buildings.code.iloc[_row(rng, len(data.buildings))]
    a = pd.concat([data.assignments, _new_assignment(pick.person_id, "building_member",
                                                     building)], ignore_index=True)
    return data.replace(assignments=a)


def fill_a_gap(data, rng, last):
    """A sentinel for a grid without one (the gap closes, its suggestions go)."""
    gap = last.grids_without_sentinel[_row(rng, len(last.grids_without_sentinel))]
    person = data.people.person_id.iloc[_row(rng, len(data.people))]
    a = pd.concat([data.assignments, _new_assignment(person, "grid_sentinel", gap)],
                  ignore_index=True)
    return data.replace(assignments=a)


def end_a_sentinel(data, rng, last):
    """A sentinel's assignment ends: a new gap, and the person may join the pool."""
    a = data.assignments.copy()
    rows = np.flatnonzero((a.role == "grid_sentinel") & a.active.astype(bool))
    a.loc[a.index[rows[_row(rng, len(rows))]], "until"] = pd.Timestamp("2026-11-01")
    return data.replace(assignments=a)


def deactivate_some(data, rng, last):
    """Several assignments switched off at once (members and sentinels)."""
    a = data.assignments.copy()
    a.loc[a.index[rng.choice(len(a), 25, replace=False)], "active"] = False
    return data.replace(assignments=a)


def retarget_a_row(data, rng, last):
    """A row's target changed in place (what a plain SQL client may do)."""
    a = data.assignments.copy()
    grids = data.grids.code
    rows = np.flatnonzero(a.role == "grid_sentinel")
    a.loc[a.index[rows[_row(rng, len(rows))]], "target_code"] = grids.iloc[_row(rng, len(grids))]
    return data.replace(assignments=a)


def drop_rows(data, rng, last):
    """Rows deleted from the middle: every later row moves up one place or more."""
    a = data.assignments
    keep = np.ones(len(a), bool)
    keep[rng.choice(len(a), 5, replace=False)] = False
    return data.replace(assignments=a[keep].reset_index(drop=True))


def move_a_building(data, rng, last):
    """A building recoded to another grid (its outline now lies outside it)."""
    b = data.buildings.copy()
    b.loc[b.index[_row(rng, len(b))], "grid_code"] = data.grids.code.iloc[
        _row(rng, len(data.grids))]
    return data.replace(buildings=b)


def move_a_home(data, rng, last):
    """A party member moves house (the people layer is new)."""
    p = data.people.copy()
    members = np.flatnonzero(p.is_party_member.to_numpy(bool))
    i = members[_row(rng, len(members))]
    g = data.grids.geometry.iloc[_row(rng, len(data.grids))]
    p.loc[p.index[i], "geometry"] = shapely.centroid(g)
    return data.replace(people=p)


def new_party_member(data, rng, last):
    """Someone joins the party (a new member of the pool)."""
    p = data.people.copy()
    rows = np.flatnonzero(~p.is_party_member.to_numpy(bool) & ~p.geometry.is_empty.to_numpy())
    p.loc[p.index[rows[_row(rng, len(rows))]], "is_party_member"] = True
    return data.replace(people=p)


def unknown_person(data, rng, last):
    """An assignment naming a person the people layer does not hold."""
    grid = data.grids.code.iloc[_row(rng, len(data.grids))]
    a = pd.concat([data.assignments, _new_assignment(f"X{_row(rng, 99)}", "grid_sentinel",
                                                     grid)], ignore_index=True)
    return data.replace(assignments=a)


EDITS: list[Edit] = [assign_a_suggested_member, fill_a_gap, end_a_sentinel, deactivate_some,
                     retarget_a_row, drop_rows, move_a_building, move_a_home,
                     new_party_member, unknown_person]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_memo_gives_the_answer_of_a_fresh_run_after_any_edits(demo, seed):
    rng = np.random.default_rng(seed)
    memo = CoverageMemo()
    data = demo
    last = coverage(data, SETTINGS, memo)
    _same(last, coverage(data, SETTINGS))
    for step in range(24):
        edit = EDITS[step % len(EDITS)] if step < len(EDITS) else EDITS[_row(rng, len(EDITS))]
        data = edit(data, rng, last)
        got = coverage(data, SETTINGS, memo)
        _same(got, coverage(data, SETTINGS))
        last = got
    assert last.grids_without_sentinel and len(last.suggestions)


def test_a_suggested_member_who_is_assigned_leaves_every_list(demo):
    memo = CoverageMemo()
    before = coverage(demo, SETTINGS, memo)
    data = assign_a_suggested_member(demo, np.random.default_rng(0), before)
    pick = data.assignments.person_id.iloc[-1]
    listed = set(before.suggestions.grid_code[before.suggestions.person_id == pick])
    after = coverage(data, SETTINGS, memo)
    assert listed and pick not in set(after.suggestions.person_id)
    assert set(after.suggestions.grid_code) >= listed  # ranked again, with someone else
    _same(after, coverage(data, SETTINGS))


def test_lookup_memo_matches_index_in_and_hashes_only_what_changed(monkeypatch):
    keys = strings(pd.Series([f"B{i}" for i in range(50)], dtype="str"))
    values = strings(pd.Series([f"B{i % 60}" for i in range(200)], dtype="str"))
    memo = LookupMemo()
    rows = np.arange(0, 200, 3)
    assert (memo.index_in(keys, {"t": (values, rows)})["t"] == index_in(values, keys)[rows]).all()
    changed = pd.Series([f"B{i % 60}" for i in range(200)] + ["B7", None], dtype="str")
    changed.iloc[6] = "B3"  # a row asked for last time
    new_values = strings(changed)
    asked: list[int] = []
    import layers._keys as keys_mod

    real = keys_mod.index_in
    monkeypatch.setattr(keys_mod, "index_in", lambda v, k: asked.append(len(v)) or real(v, k))
    every = memo.index_in(keys, {"t": (new_values, None)})["t"]
    assert (every == real(new_values, keys)).all()
    # rows asked before and unchanged are not looked up again: the changed one, the two new
    # ones, and the rows not asked for last time
    assert asked == [1 + 2 + (200 - len(rows))]


def test_located_buildings_are_kept_only_for_the_same_geometries_and_codes(demo):
    from concurrent.futures import ThreadPoolExecutor

    from layers._coverage_space import Located

    b, g = demo.buildings.geometry.values, demo.grids.geometry.values
    stored = index_in(strings(demo.buildings.grid_code), strings(demo.grids.code))
    moved = stored.copy()
    moved[:40] = (moved[:40] + 1) % len(g)  # recoded: on overlaps the stored grid wins
    located = Located()
    with ThreadPoolExecutor(2) as ex:
        first = located.submit(ex, b, g, stored).result()
        again = located.submit(ex, b, g, stored)
        assert again.done() and again.result() is first  # nothing recomputed
        got = located.submit(ex, b, g, moved).result()
        want = Located().submit(ex, b, g, moved).result()
    assert all((x == y).all() for x, y in zip(got, want, strict=True))


def test_few_values_among_many_keys_are_found_as_index_in_finds_them():
    """The path for a few values (hash them, scan the keys) answers exactly as Arrow's
    index_in: first occurrence, absent -1, a missing value finds the first missing key."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from layers._keys import _few_in_many

    rng = np.random.default_rng(3)
    for _ in range(300):
        keys = pa.array([f"K{rng.integers(50)}" if rng.random() > 0.05 else None
                         for _ in range(int(rng.integers(0, 300)))], pa.large_string())
        values = pa.array([f"K{rng.integers(60)}" if rng.random() > 0.2 else None
                           for _ in range(int(rng.integers(0, 5)))], pa.large_string())
        want = pc.fill_null(pc.index_in(values, value_set=keys), -1).to_numpy()
        assert _few_in_many(values, keys).tolist() == want.tolist()
