"""Walking networks and service reach, against brute force (networkx, per building)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely
from clikit import run_cli

from layers import network
from layers.reach import network_distance, reach
from layers.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
OSM = ROOT.parent / "shared" / "osm" / "shenzhen_longgang_map.osm.bz2"


def _nx(net: network.WalkNetwork) -> nx.Graph:
    g = nx.Graph()
    coo = net.graph.tocoo()
    for u, v, w in zip(coo.row, coo.col, coo.data, strict=True):
        g.add_edge(int(u), int(v), weight=float(w))
    return g


def test_roads_network_is_noded_and_healed():
    # a cross, and a road stopping 5 m short of the horizontal street (a digitising gap)
    roads = gpd.GeoDataFrame({"kind": ["primary", "primary", "village"]}, geometry=[
        shapely.LineString([(0, 500), (1000, 500)]),
        shapely.LineString([(500, 0), (500, 1000)]),
        shapely.LineString([(800, 505), (800, 900)])], crs=4544)
    net = network.from_roads(roads, "EPSG:4544")
    assert len(np.unique(net.components())) == 1
    i, _ = net.snap(np.array([0.0, 800.0]), np.array([500.0, 900.0]))
    d = nx.shortest_path_length(_nx(net), int(i[0]), int(i[1]), weight="weight")
    assert d == pytest.approx(800 + 5 + 395, abs=0.5)


def test_network_distance_matches_brute_force(demo):
    net = network.from_roads(demo.roads)
    rng = np.random.default_rng(4)
    src = np.c_[rng.uniform(net.x.min(), net.x.max(), 6), rng.uniform(net.y.min(),
                                                                     net.y.max(), 6)]
    px = rng.uniform(net.x.min(), net.x.max(), 40)
    py = rng.uniform(net.y.min(), net.y.max(), 40)
    got, snap = network_distance(net, src, px, py)
    g = _nx(net)
    s_node, s_snap = net.snap(src[:, 0], src[:, 1])
    for k in range(40):  # one search per point: the slow, obvious way
        b_node, b_snap = net.snap(px[k:k + 1], py[k:k + 1])
        lengths = nx.single_source_dijkstra_path_length(g, int(b_node[0]), weight="weight")
        best = min(lengths.get(int(n), np.inf) + sd for n, sd in zip(s_node, s_snap,
                                                                     strict=True))
        assert got[k] == pytest.approx(best + b_snap[0], rel=1e-9)
        assert snap[k] == pytest.approx(b_snap[0])


def test_straight_reach_matches_brute_force_and_shares_add_up(demo):
    r = reach(demo, None, Settings(life_circle_m=(300, 800)))
    b = r.buildings
    assert (b["method"] == "straight").all()
    bm = demo.buildings.to_crs(4544).geometry.centroid.to_numpy()
    elder = demo.care_points[demo.care_points.kind.str.startswith("elder")].to_crs(4544)
    for i in range(0, len(bm), 97):
        exp = min(bm[i].distance(p) for p in elder.geometry)
        assert b["elder_care_m"].iloc[i] == pytest.approx(exp, rel=1e-6)
    town = r.summary[r.summary.level == "town"].iloc[0]
    hh = b["households"].to_numpy()
    exp = hh[(b["child_care_m"] <= 800).to_numpy()].sum() / hh.sum()
    assert town["share_child_care_800"] == pytest.approx(exp, abs=1e-4)
    comm = r.summary[r.summary.level == "community"]
    assert comm["households"].sum() == town["households"]


def test_network_reach_is_longer_than_straight(demo):
    net = network.from_roads(demo.roads)
    a = reach(demo, net).buildings
    s = reach(demo, None).buildings
    assert (a["method"] == "network").all() and (a["snap_m"] > 0).all()
    ok = a["elder_care_m"].notna()
    assert (a.loc[ok, "elder_care_m"] >= s.loc[ok, "elder_care_m"] - 1e-6).all()
    ratio = (a["elder_care_m"] / s["elder_care_m"]).median()
    assert 1.0 < ratio < 3.0


@pytest.mark.skipif(not OSM.exists(), reason="shared/osm extract not beside the repository")
def test_osm_extract_loads_offline():
    net = network.from_osm(OSM)
    assert net.source.startswith("osm:") and net.crs == "EPSG:4547"  # CGCS2000 CM 114E
    assert net.n_nodes > 500 and net.n_edges > 800
    comp = net.components()
    assert np.bincount(comp).max() > 0.5 * net.n_nodes
    # edge lengths are metres along the street, never shorter than the straight line (up to
    # osmnx measuring on a sphere while the projection is ellipsoidal: < 0.5 %)
    coo = net.graph.tocoo()
    straight = np.hypot(net.x[coo.row] - net.x[coo.col], net.y[coo.row] - net.y[coo.col])
    assert (coo.data >= straight * 0.995).all()
    assert np.median(coo.data / np.maximum(straight, 1e-9)) >= 1.0
    with pytest.raises(network.NetworkError, match="no such file"):
        network.from_osm(OSM.with_name("missing.osm"))


def test_reach_cli(tmp_path, demo_file):
    store = tmp_path / "town.gpkg"
    shutil.copyfile(demo_file, store)
    r = run_cli("reach", store, "--format", "json", "-q", timeout=300)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["method"] == "network" and doc["network"]["source"] == "roads"
    b = pd.DataFrame(doc["buildings"])
    assert {"code", "elder_care_m", "child_care_m", "parking_m", "method"} <= set(b.columns)
    assert set(b["method"]) == {"network"}
    town = [s for s in doc["summary"] if s["level"] == "town"][0]
    assert 0 <= town["share_elder_care_500"] <= town["share_elder_care_1000"] <= 1
    # the network is kept in the store's cache folder, named after the roads' version
    caches = list((tmp_path / "town.snapshot").glob("walk.*.gpkg"))
    assert len(caches) == 1
    cached = network.WalkNetwork.load(caches[0])
    assert cached.source == "roads" and cached.n_nodes == doc["network"]["nodes"]
    r2 = run_cli("reach", store, "--straight", "--format", "json", "-q", timeout=300)
    assert json.loads(r2.stdout)["method"] == "straight"


def test_parking_balance_matches_brute_force(demo):
    from layers.reach import parking_balance

    s = Settings(parking_spaces_per_household=0.7, shared_parking_share=0.4)
    got = parking_balance(demo, s).set_index("grid_code")
    pk = demo.parking
    for g in demo.grids.itertuples():
        supply = 0.0
        for p in pk.itertuples():
            if g.geometry.contains(p.geometry.representative_point()):
                supply += p.capacity * (0.4 if p.kind == "shared_staggered" else 1.0)
        hh = demo.buildings.households[demo.buildings.grid_code == g.code].sum()
        assert got.loc[g.code, "supply"] == pytest.approx(supply, abs=0.05)
        assert got.loc[g.code, "demand"] == pytest.approx(hh * 0.7, abs=0.05)
    assert (got["balance"] < 0).any()


def test_sentinel_suggestions_are_globally_best(demo):
    import itertools

    from layers.coverage import coverage
    from layers.reach import suggest_sentinels

    gaps = coverage(demo).grids_without_sentinel
    act_ids = set(demo.assignments.person_id[demo.assignments.active])
    pool = demo.people[demo.people.is_party_member & ~demo.people.person_id.isin(act_ids)]
    keep = pool.person_id.iloc[:6].tolist()  # a small pool: brute force is possible
    people = demo.people.copy()
    people["is_party_member"] = people.person_id.isin(keep)
    data = demo.replace(people=people)
    s = Settings(assignment_max_walk_m=1e9)
    got = suggest_sentinels(data, gaps, None, s)
    assert len(got) == len(gaps) and got.person_id.is_unique
    gm = data.grids.set_index("code").loc[gaps].to_crs(4544).geometry.representative_point()
    pm = data.people.set_index("person_id").loc[keep].to_crs(4544).geometry
    cost = {(g, p): gm[g].distance(pm[p]) for g in gaps for p in keep}
    best = min(sum(cost[g, p] for g, p in zip(gaps, perm, strict=True))
               for perm in itertools.permutations(keep, len(gaps)))
    assert got.distance_m.sum() == pytest.approx(best, abs=0.5)
    # with a walking network: still one member per grid, never beyond the limit
    net = network.from_roads(demo.roads)
    limited = suggest_sentinels(data, gaps, net, Settings(assignment_max_walk_m=400))
    assert (limited.distance_m <= 400).all() and limited.method.eq("network").all()


def test_isochrones_are_nested_and_contain_their_centre(demo):
    from layers.reach import isochrones

    net = network.from_roads(demo.roads)
    cp = demo.care_points.geometry.iloc[0]
    iso = isochrones(net, cp.x, cp.y, (300, 600, 1200))
    assert iso.distance_m.tolist() == [300, 600, 1200]
    a = iso.to_crs(4544).area.to_numpy()
    assert a[0] < a[1] < a[2]
    g = iso.to_crs(4544).geometry.to_numpy()
    assert g[1].buffer(1).contains(g[0]) and g[2].buffer(1).contains(g[1])
    # the care point's nearest street node is inside the smallest area
    node, _ = net.snap(*[np.array([v]) for v in gpd.GeoSeries([cp], crs=4326).to_crs(
        net.crs).iloc[0].xy])
    assert g[0].contains(shapely.Point(net.x[node[0]], net.y[node[0]]))


def test_online_loader_fails_clearly_without_internet(monkeypatch):
    import osmnx as ox

    def no_connection(*a, **k):
        raise ConnectionError("no route to host")

    monkeypatch.setattr(ox, "graph_from_place", no_connection)
    with pytest.raises(network.NetworkError, match="--osm FILE"):
        network.from_place("曾家镇, 重庆")


def test_network_cache_round_trip(tmp_path, demo):
    net = network.from_roads(demo.roads)
    path = tmp_path / "w.gpkg"
    net.save(path)
    back = network.WalkNetwork.load(path)
    assert back.n_nodes == net.n_nodes and back.n_edges == net.n_edges
    assert abs(back.graph - net.graph).max() == 0
    assert back.crs == net.crs and back.source == "roads"
    assert not list(tmp_path.glob("*.tmp*"))
