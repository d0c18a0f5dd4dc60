"""Coverage analysis against an independent brute-force computation (plain Python loops)."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Transformer

from layers.assignments import active_assignments
from layers.coverage import coverage
from layers.settings import Settings


def _brute(data, settings: Settings, as_of: dt.date) -> dict:
    """Everything the analysis reports, the slow obvious way."""
    active = []
    for row in data.assignments.itertuples(index=False):
        since = None if pd.isna(row.since) else row.since.date()
        until = None if pd.isna(row.until) else row.until.date()
        if row.active and (since is None or since <= as_of) and (until is None or until >= as_of):
            active.append(row)
    hh_of = {}
    by_grid: dict[str, int] = {}
    for b in data.buildings.itertuples(index=False):
        by_grid[b.grid_code] = by_grid.get(b.grid_code, 0) + int(b.households)
    for g in data.grids.itertuples(index=False):
        hh_of[g.code] = by_grid.get(g.code, int(g.households))
    sentinels: dict[str, set] = {g: set() for g in data.grids.code}
    load: dict[str, list] = {}
    for a in active:
        if a.role == "grid_sentinel" and a.target_code in sentinels:
            sentinels[a.target_code].add(a.person_id)
            load.setdefault(a.person_id, []).append(a.target_code)
    without = sorted(g for g, s in sentinels.items() if not s)
    overloaded = {p: sum(hh_of[g] for g in gs) for p, gs in load.items()
                  if sum(hh_of[g] for g in gs) > settings.sentinel_max_households}
    members = {a.target_code for a in active if a.role == "building_member"}
    no_member = sorted(b for b in data.buildings.code if b not in members)
    assigned = {a.person_id for a in active}
    pool = [p for p in data.people.itertuples(index=False)
            if p.is_party_member and p.person_id not in assigned]
    tf = Transformer.from_crs(4326, 4544, always_xy=True)

    def metric(geom):  # one geometry at a time
        return shapely.transform(geom, lambda xy: np.column_stack(tf.transform(*xy.T)))

    suggestions = {}
    pool_m = [(p.person_id, metric(p.geometry)) for p in pool]
    for g in data.grids.itertuples(index=False):
        if g.code not in without:
            continue
        gm = metric(g.geometry)
        ranked = sorted(
            ((gm.distance(pt), gm.centroid.distance(pt), pid) for pid, pt in pool_m
             if gm.distance(pt) <= settings.suggestion_max_distance_m))
        suggestions[g.code] = [(pid, round(d, 1)) for d, _, pid in
                               ranked[: settings.suggestions_per_gap]]
    return {"without": without, "overloaded": overloaded, "no_member": no_member,
            "sentinels": {g: ";".join(sorted(p)) for g, p in sentinels.items()},
            "pool": len(pool), "suggestions": suggestions, "hh": hh_of}


def _shake(demo, seed: int):
    """The demo with assignments disturbed: ended, future, inactive, duplicated."""
    rng = np.random.default_rng(seed)
    a = demo.assignments.copy()
    n = len(a)
    idx = rng.choice(n, 60, replace=False)
    a.loc[idx[:15], "active"] = False
    a.loc[idx[15:30], "until"] = pd.Timestamp("2026-11-19")  # ended the day before as_of
    a.loc[idx[30:40], "until"] = pd.Timestamp("2026-11-20")  # ends on as_of: still in force
    a.loc[idx[40:50], "since"] = pd.Timestamp("2026-11-21")  # starts after as_of
    a.loc[idx[50:60], "since"] = pd.Timestamp("2026-11-20 09:30")  # starts during as_of
    sentinel_rows = a[a.role == "grid_sentinel"]
    extra = sentinel_rows.iloc[:3].copy()
    extra["target_code"] = sentinel_rows.target_code.iloc[5:8].to_numpy()  # second grids
    return demo.replace(assignments=pd.concat([a, extra], ignore_index=True))


@pytest.mark.parametrize(("seed", "k", "reach"), [(0, 4, 800.0), (1, 40, 300.0)])
def test_coverage_matches_brute_force(demo, seed, k, reach):
    # (k=40 within 300 m: some gaps have fewer candidates than k, so the radius search runs
    # all its rounds)
    data = _shake(demo, seed)
    settings = Settings(sentinel_max_households=420, suggestions_per_gap=k,
                        suggestion_max_distance_m=reach)
    res = coverage(data, settings)
    as_of = dt.date(2026, 11, 20)
    assert res.as_of == as_of  # from the demo store's metadata
    exp = _brute(data, settings, as_of)
    assert res.grids_without_sentinel == exp["without"]
    assert len(exp["without"]) >= 3
    got_over = dict(zip(res.overloaded_sentinels.person_id, res.overloaded_sentinels.households,
                        strict=True))
    assert got_over == exp["overloaded"] and got_over
    assert res.buildings_without_member == exp["no_member"]
    assert res.unassigned_party_members == exp["pool"]
    got = {g: list(zip(s.person_id, s.distance_m, strict=True))
           for g, s in res.suggestions.groupby("grid_code")}
    assert got == {g: s for g, s in exp["suggestions"].items() if s}
    assert dict(zip(res.grids.code, res.grids.households, strict=True)) == exp["hh"]
    assert dict(zip(res.grids.code, res.grids.sentinels, strict=True)) == exp["sentinels"]
    assert any(";" in v for v in exp["sentinels"].values())  # a grid with two sentinels


def test_summary_adds_up(demo):
    res = coverage(demo)
    s = res.summary.set_index("community_code")
    town = s.loc["town"]
    body = s.drop(index="town")
    assert len(body) == 12 and set(body.index) == set(demo.communities.code)
    for col in ("grids", "grids_without_sentinel", "households", "buildings",
                "buildings_without_member", "unassigned_party_members"):
        assert body[col].sum() == town[col], col
    assert town["grids_without_sentinel"] == len(res.grids_without_sentinel)
    assert town["buildings_without_member"] == len(res.buildings_without_member)
    assert town["grid_coverage"] == pytest.approx(1 - len(res.grids_without_sentinel) / len(
        demo.grids), abs=1e-4)
    assert body["community_name"].str.endswith(("社区", "村")).all()


def test_demo_has_real_gaps(demo):
    res = coverage(demo)
    assert 0 < len(res.grids_without_sentinel) < 0.1 * len(demo.grids)
    assert 0 < len(res.buildings_without_member) < 0.2 * len(demo.buildings)
    assert len(res.overloaded_sentinels) > 0
    assert res.unassigned_party_members > 100
    assert set(res.suggestions.grid_code) == set(res.grids_without_sentinel)
    assert res.buildings_outside_grid.empty
    status = res.grids.set_index("code").status
    assert (status[res.grids_without_sentinel] == "no_sentinel").all()


def test_misplaced_building_is_found(demo):
    b = demo.buildings.copy()
    g0, g1 = demo.grids.code.iloc[0], demo.grids.code.iloc[1]
    i = int(np.flatnonzero(b.grid_code == g0)[0])
    b.loc[i, "grid_code"] = g1
    res = coverage(demo.replace(buildings=b))
    row = res.buildings_outside_grid
    assert row.code.tolist() == [b.code.iloc[i]]
    assert row.grid_code.tolist() == [g1] and row.located_grid.tolist() == [g0]


def test_as_of_setting_and_active_rule(demo):
    a = pd.DataFrame({
        "person_id": ["a", "b", "c", "d"], "role": ["grid_sentinel"] * 4,
        "target_code": ["G"] * 4, "active": [True, True, False, True],
        "since": pd.to_datetime(["2020-01-01", "2026-01-01", None, None]),
        "until": pd.to_datetime([None, "2026-06-30", None, "2025-12-31"]),
    })
    assert active_assignments(a, "2026-03-01").person_id.tolist() == ["a", "b"]
    assert active_assignments(a, "2026-07-01").person_id.tolist() == ["a"]
    assert active_assignments(a, None).person_id.tolist() == ["a", "b", "d"]
    later = coverage(demo, replace(Settings(), as_of="2030-01-01"))
    assert later.as_of == dt.date(2030, 1, 1)


def test_json_output_is_plain_and_has_no_phones(demo):
    doc = coverage(demo).to_dict()
    text = json.dumps(doc, ensure_ascii=False)
    for key in ("grids_without_sentinel", "overloaded_sentinels", "buildings_without_member",
                "summary"):
        assert key in doc
    assert isinstance(doc["overloaded_sentinels"][0]["grids"], list)
    for phone in demo.people.phone.head(200):
        assert phone not in text


def test_locate_strategies_agree(demo):
    """The verify-then-look-up location equals a full join, also when codes are wrong."""
    from concurrent.futures import ThreadPoolExecutor

    from layers._coverage_space import locate_buildings as _locate_buildings
    from layers._coverage_space import locate_points as _locate_points

    b = demo.buildings.geometry.to_numpy()
    g = demo.grids.geometry.to_numpy()
    pts = shapely.centroid(b)
    stored = demo.grids.code.reset_index().set_index("code")["index"].reindex(
        demo.buildings.grid_code).to_numpy().copy()
    rng = np.random.default_rng(3)
    wrong = rng.choice(len(b), 50, replace=False)
    stored[wrong[:40]] = rng.integers(0, len(g), 40)
    stored[wrong[40:]] = -1
    with ThreadPoolExecutor(1) as ex:
        got, _ = _locate_buildings([ex.submit(lambda: pts)], g, stored)
    full = _locate_points(pts, g)
    brute = [next((j for j, gg in enumerate(g) if gg.contains(p)), -1) for p in pts[wrong]]
    np.testing.assert_array_equal(got, full)
    np.testing.assert_array_equal(got[wrong], brute)
