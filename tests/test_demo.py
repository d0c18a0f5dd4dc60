"""The fictional demo town: deterministic, realistic in shape, labelled fictional."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely

from layers.demo import generate_demo
from layers.schema import CARE_KINDS, TICKET_STATUSES
from layers.validate import validate


def test_same_seed_same_data_other_seed_other_data(demo):
    again = generate_demo(seed=7)
    for name in demo:
        pd.testing.assert_frame_equal(pd.DataFrame(demo[name]), pd.DataFrame(again[name]),
                                      obj=name)
    other = generate_demo(seed=8)
    assert not demo.buildings.code.equals(other.buildings.code) or not np.array_equal(
        demo.buildings.households, other.buildings.households)


def test_town_shape_matches_zengjia(demo):
    c = demo.communities
    assert (c.kind == "社区").sum() == 6 and (c.kind == "村").sum() == 6
    assert 90_000 <= demo.towns.population.sum() <= 102_000
    # the town sits near 106.28E 29.60N
    cx, cy = shapely.centroid(shapely.union_all(c.geometry.to_numpy())).coords[0]
    assert abs(cx - 106.28) < 0.03 and abs(cy - 29.60) < 0.03
    urban = demo.buildings[demo.buildings.grid_code.str[9:12].astype(int) < 200]
    village = demo.buildings[demo.buildings.grid_code.str[9:12].astype(int) >= 200]
    assert urban.floors.between(6, 33).all() and village.floors.le(3).all()
    assert urban.households.mean() > 20 * village.households.mean()
    # codes: 12-digit communities prefixed by the town, grids +3, buildings +4
    assert c.code.str.len().eq(12).all() and c.code.str.startswith(demo.towns.code[0]).all()
    assert demo.grids.code.str.len().eq(15).all()
    assert demo.buildings.code.str.len().eq(19).all()
    assert demo.buildings.name.str.contains("栋|号").all()


def test_grids_follow_the_household_target(demo):
    hh = demo.grids.households
    assert len(demo.grids) == pytest.approx(demo.buildings.households.sum() / 300, rel=0.08)
    assert abs(hh.mean() - 300) < 30
    got = demo.buildings.groupby("grid_code").households.sum()
    assert got.reindex(demo.grids.code).fillna(0).astype(int).tolist() == hh.tolist()


def test_people_care_parking_tickets_are_plausible(demo):
    p = demo.people
    assert 0.8 < p.is_party_member.mean() <= 1.0
    assert p.phone.str.fullmatch(r"1[3-9]\d{9}").all() and p.phone.is_unique
    assert set(demo.care_points.kind) == set(CARE_KINDS)
    assert set(demo.parking.kind) == {"lot", "street", "shared_staggered",
                                      "converted_wasteland"}
    t = demo.tickets
    assert 2_000 <= len(t) <= 6_000
    span = t.created_at.max() - t.created_at.min()
    assert span.days >= 360
    assert set(t.status) <= set(TICKET_STATUSES)
    assert 0.85 < t.status.isin(["closed", "closed_unresolved"]).mean() < 0.99
    assert t.category.nunique() == 12
    assert (t.closed_at.isna() == ~t.status.isin(["closed", "closed_unresolved"])).all()
    # every ticket lies in (or within metres of) its grid
    g = demo.grids.set_index("code").geometry
    d = shapely.distance(t.geometry.to_numpy(), g.reindex(t.grid_code).to_numpy())
    assert (d == 0).all()  # inside its grid, as intake would place it


def test_labelled_fictional(demo):
    assert demo.fictional
    assert demo.meta["label"] == "示例数据，非真实"


def test_small_city_is_valid():
    city = generate_demo("city", seed=1, n_towns=4)
    assert len(city.towns) == 4 and len(city.communities) == 48
    assert city.towns.code.is_unique
    _, report = validate(city)
    assert report.ok, report.format(limit=10)


def test_unknown_scale():
    with pytest.raises(ValueError, match="scale"):
        generate_demo("galaxy")


def test_shipped_demo_matches_the_generator(demo):
    """geodata/demo_town.gpkg is what `python -m layers demo` makes (regenerate it when the
    generator changes)."""
    from pathlib import Path

    from layers.store import open_store

    shipped = open_store(Path(__file__).resolve().parent.parent / "geodata" / "demo_town.gpkg")
    back = shipped.read(["grids", "buildings", "tickets"])
    assert back.buildings.code.tolist() == demo.buildings.code.tolist()
    assert back.buildings.households.tolist() == demo.buildings.households.tolist()
    assert back.grids.code.tolist() == demo.grids.code.tolist()
    assert back.tickets.id.tolist() == demo.tickets.id.tolist()
    assert shipped.meta()["fictional"] == "true"
    assert shipped.meta() | {"schema_version": "1"} == demo.meta | {"schema_version": "1"}
