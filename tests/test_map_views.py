"""The map at city scale (issue 15): a pyramid of views — towns, then the communities, grids,
buildings and open tickets *in view* — checked against brute-force selections on the demo;
the map component rendered once and kept mounted (dynamic layers only)."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
import shapely

from dashboard import mapframe, mapview
from dashboard.mapview import prepare, prepare_view
from layers import clock
from layers.coverage import coverage
from layers.tickets import rules


@pytest.fixture(scope="module")
def cov(demo):
    return coverage(demo)


def _props(text: str) -> list[dict]:
    return [f["properties"] for f in mapview.features(text)]


def _open_tickets(demo) -> pd.DataFrame:
    tk = demo.tickets
    tk = tk[rules.open_mask(tk["status"])]
    return tk.assign(overdue=rules.overdue_mask(tk["status"], tk["deadline"], clock.now()))


def test_a_city_overview_shows_towns_coloured_and_counts_tickets_per_town(demo, cov):
    md = prepare(demo, cov, max_grids=50, max_communities=5)
    assert md.aggregated and md.by_town
    assert "communities" not in md.layers and "grids" not in md.layers
    assert md.tickets == []  # the tickets come with the view; the overview counts them
    towns = _props(md.layers["towns"])
    s = cov.summary.set_index("community_code").drop("town")
    comm_town = demo.communities.set_index("code")["town_code"]
    for p in towns:
        mine = s[comm_town.reindex(s.index).to_numpy() == p["code"]]
        assert p["k"] == "t"
        assert p["g"] == int(mine["grids"].sum())
        assert p["w"] == int(mine["grids_without_sentinel"].sum())
        share = 1 - p["w"] / p["g"]
        assert p["s"] == ("a" if share >= 0.999 else "b" if share >= 0.9 else "c")
    live = _open_tickets(demo)
    counts = _props(md.layers["ticket_counts"])
    assert len(counts) == demo.towns.shape[0]
    assert f"{len(live)} · " in counts[0]["tt"]
    assert counts[0]["s"] == ("overdue" if live["overdue"].any() else "open")


def _bbox_of(demo, community_index: int) -> tuple[float, float, float, float]:
    b = demo.communities.geometry.iloc[community_index].bounds
    return (b[0], b[1], (b[0] + b[2]) / 2, (b[1] + b[3]) / 2)


@pytest.mark.parametrize("zoom", [9, 12, 14, 16])
def test_a_view_sends_exactly_what_is_in_it_at_its_zoom(demo, cov, zoom):
    bbox = _bbox_of(demo, 3)
    box = shapely.box(*bbox)
    md = prepare_view(demo, cov, bbox, zoom, communities=True)

    def brute(layer):
        return set(demo[layer].code[demo[layer].intersects(box)])

    sent = {name: {p.get("code") for p in _props(text)} for name, text in md.layers.items()}
    if zoom < mapview.COMMUNITY_VIEW_MIN_ZOOM:
        assert md.layers == {}
        return
    assert sent["communities"] == brute("communities")
    live = _open_tickets(demo)
    inside = shapely.contains_xy(box, shapely.get_x(live.geometry.values),
                                 shapely.get_y(live.geometry.values))
    assert md.counts["tickets"] == int(inside.sum())
    assert ("grids" in sent) == (zoom >= mapview.GRID_VIEW_MIN_ZOOM)
    assert ("buildings" in sent) == (zoom >= mapview.BUILDING_MIN_ZOOM)
    if "grids" in sent:
        assert sent["grids"] == brute("grids")
        status = dict(zip(cov.grids.code, cov.grids.status, strict=True))
        assert all(p["s"] == status[p["code"]] for p in _props(md.layers["grids"]))
    if "buildings" in sent:
        assert sent["buildings"] == brute("buildings")
        without = set(cov.buildings_without_member)
        assert all((p["s"] == "no") == (p["code"] in without)
                   for p in _props(md.layers["buildings"]))


def test_a_view_with_too_much_in_it_asks_to_zoom_in(demo, cov):
    bbox = tuple(demo.towns.total_bounds)
    md = prepare_view(demo, cov, bbox, 16, max_features=50)
    assert md.counts["buildings"] == -len(demo.buildings)  # all of them are in view
    assert "buildings" not in md.layers
    assert md.counts["grids"] == -len(demo.grids)


def test_membership_by_binary_search_matches_a_set(cov):
    codes = np.array([*cov.buildings_without_member[::7], "nope", "", "zzz"], dtype=object)
    got = mapview._sorted_contains(cov.buildings_without_member, codes)
    assert got.tolist() == [c in set(cov.buildings_without_member) for c in codes]
    assert mapview._sorted_contains([], codes).tolist() == [False] * len(codes)


def test_a_layer_shown_from_a_zoom_is_added_to_the_map_once(demo, cov):
    """folium's own ``addTo`` after the template's put the buildings back on the map at the
    town overview (4,114 paths where none were meant)."""
    md = prepare(demo, cov)
    m = mapview.build_map(md, mapview.tile_sources()["none"])
    script = mapframe.render(m).script
    for name in re.findall(r"var (vector_layer_\w+) = L\.geoJson", script):
        assert script.count(f"{name}.addTo(") <= 1, name


def test_the_rendered_map_does_not_change_with_the_selection(demo, cov):
    """The component stays mounted when only the selection changes: its key (a hash of the
    map's script) must not depend on it; the selection travels as a dynamic layer."""
    md = prepare(demo, cov)
    tiles = mapview.tile_sources()["none"]
    a = mapframe.render(mapview.build_map(md, tiles))
    b = mapframe.render(mapview.build_map(md, tiles))
    import streamlit_folium as sf

    assert sf.generate_js_hash(a.script, "k", False) == sf.generate_js_hash(b.script, "k", False)
    sel = mapview.selection_geojson(demo, demo.grids.code.iloc[2])
    js = mapframe.dynamic_script([mapview.selection_layer(sel)])
    assert js and "map_div.addLayer(feature_group_feature_group_0)" in js
    assert '"k":"s"' in js and '"k":"s"' not in a.script  # the outline: dynamic only
    assert mapframe.dynamic_script([]) is None


def test_view_of_a_selection_contains_it(demo):
    sel = mapview.selection_geojson(demo, demo.buildings.code.iloc[10])
    (lat, lon), zoom = mapview.view_of(sel, 800, 600)
    g = demo.buildings.geometry.iloc[10]
    assert abs(lat - g.centroid.y) < 1e-3 and abs(lon - g.centroid.x) < 1e-3
    assert mapview.BUILDING_MIN_ZOOM <= zoom <= 18  # close enough to show buildings
    town = mapview.feature_collection(demo.towns.geometry.to_numpy(),
                                      pd.DataFrame({"k": ["t"]}))
    assert mapview.view_of(town, 800, 600)[1] < zoom
    assert json.loads(town)  # valid JSON


def test_isin_matches_pandas(demo):
    people = demo.people
    ids = [*people["person_id"].iloc[::5].tolist(), "nobody"]
    got = mapview.isin(people["person_id"], ids)
    assert got.tolist() == people["person_id"].isin(ids).tolist()
    codes = demo.tickets["grid_code"].fillna("")
    assert mapview.isin(codes, demo.grids.code[:10]).tolist() == codes.isin(
        demo.grids.code[:10]).tolist()
    assert not mapview.isin(codes, []).any()
