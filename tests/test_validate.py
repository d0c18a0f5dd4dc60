"""Validation: every kind of contract breach is reported with layer, row, code and field."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from layers.errors import LayerValidationError
from layers.layerset import LayerSet
from layers.validate import validate


def _problems(report, layer=None, field=None, severity="error"):
    return [p for p in report.problems
            if (layer is None or p.layer == layer) and (field is None or p.field == field)
            and (severity is None or p.severity == severity)]


def test_demo_is_valid(demo):
    _, report = validate(demo)
    assert report.ok, report.format(limit=20)
    assert not report.repairs


def test_missing_column_is_reported(demo):
    # floors are optional (unknown when absent); households size the grids, so they are not
    bad = demo.replace(buildings=demo.buildings.drop(columns=["households"]))
    _, report = validate(bad, layers=("buildings",))
    [p] = _problems(report, "buildings", "households")
    assert p.row is None and "missing" in p.message


def test_bad_values_name_row_code_and_field(demo):
    b = demo.buildings.copy()
    b["households"] = b["households"].astype(object)
    b.loc[3, "households"] = "many"
    b.loc[5, "households"] = -4
    b["renovation"] = b["renovation"].astype(object)
    b.loc[7, "renovation"] = "done-ish"
    _, report = validate(demo.replace(buildings=b), layers=("buildings",))
    errs = _problems(report, "buildings")
    by_row = {(p.row, p.field): p for p in errs}
    assert by_row[(4, "households")].code == b.loc[3, "code"]
    assert "'many'" in by_row[(4, "households")].message
    assert "at least 0" in by_row[(6, "households")].message
    assert "done-ish" in by_row[(8, "renovation")].message
    assert len(errs) == 3


def test_duplicate_codes(demo):
    g = demo.grids.copy()
    g.loc[1, "code"] = g.loc[0, "code"]
    _, report = validate(demo.replace(grids=g), layers=("grids",), check_geometry=False)
    dup = [p for p in _problems(report, "grids", "code") if "not unique" in p.message]
    assert {p.row for p in dup} == {1, 2}


def test_code_prefix_and_unknown_parent(demo):
    g = demo.grids.copy()
    g.loc[0, "code"] = "999" + g.loc[0, "code"][3:]
    g.loc[1, "community_code"] = "500106110999"
    _, report = validate(demo.replace(grids=g), layers=("grids",), check_geometry=False)
    msgs = {(p.row, p.field): p.message for p in _problems(report, "grids")}
    assert "does not start with" in msgs[(1, "code")]
    assert "not a code in communities" in msgs[(2, "community_code")]


def test_assignment_targets_must_exist(demo):
    a = demo.assignments.copy()
    a.loc[0, "target_code"] = "nope"
    first_member = int(np.flatnonzero(a["role"] == "building_member")[0])
    a.loc[first_member, "target_code"] = demo.grids.loc[0, "code"]  # a grid, not a building
    a.loc[2, "person_id"] = "P-ghost"
    _, report = validate(demo.replace(assignments=a), layers=("assignments",))
    errs = _problems(report, "assignments")
    rows = {(p.row, p.field) for p in errs}
    assert (1, "target_code") in rows
    assert (first_member + 1, "target_code") in rows
    assert (3, "person_id") in rows


def test_self_intersecting_polygon_is_refused_not_silently_split(demo):
    b = demo.buildings.copy()
    x0, y0, x1, y1 = b.geometry.iloc[0].bounds
    bowtie = shapely.Polygon([(x0, y0), (x1, y1), (x1, y0), (x0, y1), (x0, y0)])
    b.loc[0, "geometry"] = bowtie
    _, report = validate(demo.replace(buildings=b), layers=("buildings",))
    [p] = _problems(report, "buildings", "geometry")
    assert p.row == 1 and "Self-intersection" in p.message and "not repaired" in p.message


def test_safe_repair_is_applied_and_reported(demo):
    b = demo.buildings.copy()
    x0, y0, x1, y1 = b.geometry.iloc[0].bounds
    # a tiny self-touching spike: make_valid removes it and the area barely changes
    mx = (x0 + x1) / 2
    spiky = shapely.Polygon([(x0, y0), (mx, y0), (mx, y0 - 1e-7), (mx, y0), (x1, y0), (x1, y1),
                             (x0, y1), (x0, y0)])
    assert not spiky.is_valid
    b.loc[0, "geometry"] = spiky
    fixed, report = validate(demo.replace(buildings=b), layers=("buildings",))
    assert report.ok
    [p] = report.repairs
    assert p.row == 1 and "make_valid" in p.message
    assert fixed.buildings.geometry.iloc[0].is_valid


def test_projected_input_is_reprojected(demo):
    projected = demo.care_points.to_crs(4544)
    fixed, report = validate(demo.replace(care_points=projected), layers=("care_points",))
    assert report.ok
    assert fixed.care_points.crs.to_epsg() == 4326
    assert any("reprojected from EPSG:4544" in p.message for p in report.problems)
    np.testing.assert_allclose(
        shapely.get_coordinates(fixed.care_points.geometry.to_numpy()),
        shapely.get_coordinates(demo.care_points.geometry.to_numpy()), atol=1e-8)


def test_missing_crs_with_projected_numbers_is_an_error(demo):
    projected = demo.care_points.to_crs(4544).set_crs(None, allow_override=True)
    _, report = validate(demo.replace(care_points=projected), layers=("care_points",))
    assert any("no CRS" in p.message for p in _problems(report, "care_points"))


def test_nan_and_out_of_range_coordinates(demo):
    c = demo.care_points.copy()
    c.loc[0, "geometry"] = shapely.Point(np.nan, 29.6)
    c.loc[1, "geometry"] = shapely.Point(29.6, 106.3)  # swapped: outside latitude range
    c.loc[2, "geometry"] = shapely.Point(13.4, 52.5)  # Berlin: allowed but warned
    _, report = validate(demo.replace(care_points=c), layers=("care_points",))
    errs = {p.row: p.message for p in _problems(report, "care_points", "geometry")}
    assert "NaN" in errs[1]
    assert "latitude" in errs[2]
    warn = _problems(report, "care_points", "geometry", "warning")
    assert [p.row for p in warn] == [3] and "swapped" in warn[0].message


def test_grid_outside_its_community_and_overlaps(demo):
    g = demo.grids.copy()
    # push one grid 200 m east: it leaves its community and overlaps its neighbours
    moved = shapely.affinity.translate(g.geometry.iloc[0], xoff=0.002)
    g.loc[0, "geometry"] = moved
    _, report = validate(demo.replace(grids=g))
    msgs = [p for p in _problems(report, "grids", "geometry")]
    assert any(p.row == 1 and "sticks out" in p.message for p in msgs)
    assert any("overlaps grid" in p.message for p in msgs)
    # and its community now has a hole where the grid was
    gaps = _problems(report, "communities", "geometry")
    assert [p.code for p in gaps] == [g.loc[0, "community_code"]]
    assert "uncovered" in gaps[0].message


def test_dropping_a_grid_leaves_a_gap(demo):
    g = demo.grids.drop(index=5).reset_index(drop=True)
    b = demo.buildings[demo.buildings.grid_code != demo.grids.loc[5, "code"]]
    a = demo.assignments[~demo.assignments.target_code.isin(
        [demo.grids.loc[5, "code"], *demo.buildings.code[demo.buildings.grid_code
                                                           == demo.grids.loc[5, "code"]]])]
    people = demo.people[demo.people.home_building_code.isin(b.code)]
    a = a[a.person_id.isin(people.person_id)]
    t = demo.tickets[demo.tickets.grid_code.isin(g.code)]
    _, report = validate(demo.replace(grids=g, buildings=b, assignments=a, people=people,
                                      tickets=t))
    errs = report.errors
    assert len(errs) == 1 and errs[0].layer == "communities"
    area = demo.grids.to_crs(4544).geometry.iloc[5].area
    reported = float(errs[0].message.split(" m²")[0].split()[-1].replace(",", ""))
    assert reported == pytest.approx(area, rel=1e-3)


def test_ticket_dates(demo):
    t = demo.tickets.copy()
    closed = int(np.flatnonzero(t.status == "closed")[0])
    t.loc[closed, "closed_at"] = pd.NaT
    t.loc[closed + 1, "closed_at"] = t.loc[closed + 1, "created_at"] - pd.Timedelta(days=2)
    _, report = validate(demo.replace(tickets=t), layers=("tickets",))
    msgs = {p.row: p.message for p in _problems(report, "tickets", "closed_at")}
    assert "needs closed_at" in msgs[closed + 1]
    assert "before created_at" in msgs[closed + 2]


def test_phone_numbers_never_appear_in_messages(demo):
    p = demo.people.copy()
    p["phone"] = p["phone"].astype(object)
    p.loc[0, "phone"] = "call-me-13800001111"
    p["is_party_member"] = p["is_party_member"].astype(object)
    p.loc[1, "is_party_member"] = "perhaps"
    _, report = validate(demo.replace(people=p), layers=("people",))
    text = report.format()
    assert "13800001111" not in text
    assert "not a phone number" in text
    for phone in demo.people.phone.head(50):
        assert phone not in text


def test_report_lists_all_problems_and_caps_long_runs(demo):
    b = demo.buildings.copy()
    b["floors"] = 0
    _, report = validate(demo.replace(buildings=b), layers=("buildings",))
    errs = _problems(report, "buildings", "floors")
    listed = [p for p in errs if p.row is not None]
    assert len(listed) == 200
    summary = [p for p in errs if p.row is None]
    assert summary and f"{len(b) - 200} more rows" in summary[0].message
    # the error's heading counts rows, not the grouped entries of the listing
    err = LayerValidationError(report, "buildings.csv")
    head = str(err).splitlines()[0]
    assert head == f"{len(b)} problem(s) in buildings.csv; nothing was written."
    assert f"{len(b)} rows: " in str(err)  # listed once, as one kind of problem


def test_bool_and_datetime_coercion_from_text():
    a = pd.DataFrame({
        "person_id": ["P1", "P1"], "role": ["grid_sentinel", "building_member"],
        "target_code": ["G1", "B1"], "active": ["是", "false"],
        "since": ["2024-01-02", "2024/03/04 08:00"], "until": [None, "yesterday-ish"],
    })
    fixed, report = validate(LayerSet({"assignments": a}), layers=("assignments",))
    assert fixed.assignments["active"].tolist() == [True, False]
    assert fixed.assignments["since"].iloc[1] == pd.Timestamp("2024-03-04 08:00")
    # people, grids and buildings are not loaded: only the assignments' own fields are checked
    [p] = report.errors
    assert p.row == 2 and p.field == "until" and "yesterday-ish" in p.message


def test_geometry_type_rules(demo):
    g = demo.grids.copy()
    one = shapely.MultiPolygon([g.geometry.iloc[0]])
    two = shapely.MultiPolygon([g.geometry.iloc[1], shapely.affinity.translate(
        g.geometry.iloc[1], 1.0)])
    g.loc[0, "geometry"] = one
    g.loc[1, "geometry"] = two
    fixed, report = validate(demo.replace(grids=g), layers=("grids",), check_geometry=False)
    assert fixed.grids.geometry.iloc[0].geom_type == "Polygon"
    assert any(p.row == 1 and p.severity == "repaired" for p in report.problems)
    assert any(p.row == 2 and "MultiPolygon not allowed" in p.message for p in report.errors)


def test_empty_layers_are_fine():
    _, report = validate(LayerSet({"grids": gpd.GeoDataFrame(
        {"code": [], "community_code": [], "name": [], "households": []},
        geometry=gpd.GeoSeries([], crs=4326))}))
    assert report.ok
