"""The household-target partition: grids tile their community and hold about the target."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely

from layers.partition import partition_grids

TARGET = 300


def _tiles(community: shapely.Geometry, grids: np.ndarray, tol: float = 1e-6) -> None:
    union = shapely.union_all(grids)
    assert shapely.symmetric_difference(union, community).area <= tol * community.area
    areas = shapely.area(grids).sum()
    assert areas == pytest.approx(community.area, rel=1e-9)  # no overlaps


def _brute_grid_of(points: np.ndarray, grids: gpd.GeoDataFrame) -> list[str | None]:
    out = []
    for p in points:
        hits = [c for c, g in zip(grids.code, grids.geometry, strict=True) if g.contains(p)]
        out.append(hits[0] if len(hits) == 1 else None)
    return out


def test_demo_grids_tile_communities_and_hold_the_target(demo):
    g = demo.grids.to_crs(4544)
    c = demo.communities.to_crs(4544).set_index("code")
    for code, group in g.groupby("community_code"):
        _tiles(c.geometry[code], group.geometry.to_numpy())
    hh = demo.grids.households.to_numpy()
    assert abs(hh.mean() - TARGET) < 0.1 * TARGET
    assert np.median(np.abs(hh - TARGET)) < 0.25 * TARGET
    assert hh.min() > 0
    # every building lies in the grid it was given
    b = demo.buildings
    found = _brute_grid_of(shapely.centroid(b.geometry.to_numpy())[::7], demo.grids)
    assert found == b.grid_code.to_numpy()[::7].tolist()


def _random_buildings(rng, poly, n, hh_choices=(6, 36, 60, 120)):
    minx, miny, maxx, maxy = poly.bounds
    xs, ys = rng.uniform(minx, maxx, 4 * n), rng.uniform(miny, maxy, 4 * n)
    inside = shapely.contains_xy(poly, xs, ys)
    xs, ys = xs[inside][:n], ys[inside][:n]
    return gpd.GeoDataFrame(
        {"households": rng.choice(hh_choices, len(xs))},
        geometry=shapely.buffer(shapely.points(xs, ys), 5, quad_segs=1), crs=4544)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_non_convex_community_gives_single_polygons_that_tile(seed):
    rng = np.random.default_rng(seed)
    # an L-shaped community with a notch: cuts through it can leave pieces behind
    L = shapely.Polygon([(0, 0), (3000, 0), (3000, 800), (900, 800), (900, 3000), (0, 3000)])
    comm = gpd.GeoDataFrame({"code": ["500106110001"], "name": ["测试社区"]}, geometry=[L],
                            crs=4544)
    b = _random_buildings(rng, L, 700)
    grids, of = partition_grids(comm, b, TARGET)
    assert (grids.geom_type == "Polygon").all()
    _tiles(L, grids.geometry.to_numpy())
    k = round(b.households.sum() / TARGET)
    assert abs(len(grids) - k) <= 2
    # the grid code of each building is the grid containing it (brute force)
    assert _brute_grid_of(b.geometry.centroid.to_numpy(), grids) == of.tolist()
    # households add up and codes follow the hierarchy
    assert grids.households.sum() == b.households.sum()
    assert grids.code.str.startswith("500106110001").all()
    assert grids.code.str.len().eq(15).all() and grids.code.is_unique
    assert grids.name.iloc[0].startswith("测试社区第")


def test_multipolygon_community_and_spatial_lookup():
    rng = np.random.default_rng(5)
    a = shapely.box(0, 0, 1000, 1000)
    island = shapely.box(3000, 0, 3400, 400)
    comm = gpd.GeoDataFrame({"code": ["C1", "C2"]},
                            geometry=[shapely.MultiPolygon([a, island]),
                                      shapely.box(0, 1000, 1000, 2000)], crs=4544)
    b = _random_buildings(rng, shapely.union(shapely.MultiPolygon([a, island]),
                                             shapely.box(0, 1000, 1000, 2000)), 400)
    grids, of = partition_grids(comm, b, 2000)  # no community_code: spatial join
    assert (grids.geom_type == "Polygon").all()
    for code in ("C1", "C2"):
        _tiles(comm.set_index("code").geometry[code],
               grids[grids.community_code == code].geometry.to_numpy())
    assert _brute_grid_of(b.geometry.centroid.to_numpy(), grids) == of.tolist()


def test_rows_of_buildings_are_never_split():
    # three rows of buildings in a tall community: the cuts run between the rows, never
    # through one, even with floating-point noise in the rows' coordinates
    xs = np.tile(np.arange(10) * 20.0, 3)
    ys = np.repeat([0.0, 250.0, 500.0], 10) + 1e-9 * np.arange(30)
    b = gpd.GeoDataFrame({"households": np.full(30, 30)},
                         geometry=shapely.points(xs, ys), crs=4544)
    comm = gpd.GeoDataFrame({"code": ["C"]}, geometry=[shapely.box(-50, -50, 250, 600)],
                            crs=4544)
    grids, of = partition_grids(comm, b, 300)
    row = np.repeat([0, 1, 2], 10)
    for r in range(3):
        # each row of 10 buildings (300 households) is one grid
        assert of[row == r].nunique() == 1


def test_errors():
    comm = gpd.GeoDataFrame({"code": ["C"]}, geometry=[shapely.box(0, 0, 10, 10)], crs=4544)
    b = gpd.GeoDataFrame({"x": [1]}, geometry=[shapely.Point(1, 1)], crs=4544)
    with pytest.raises(ValueError, match="households"):
        partition_grids(comm, b)
    with pytest.raises(ValueError, match="positive"):
        partition_grids(comm, b.assign(households=3), 0)


def test_community_without_buildings_gets_one_grid():
    comm = gpd.GeoDataFrame({"code": ["C1", "C2"]},
                            geometry=[shapely.box(0, 0, 100, 100), shapely.box(100, 0, 200, 100)],
                            crs=4544)
    b = gpd.GeoDataFrame({"households": [10]}, geometry=[shapely.Point(50, 50)], crs=4544)
    grids, of = partition_grids(comm, b, 300)
    assert grids.code.tolist() == ["C1001", "C2001"]
    assert grids.households.tolist() == [10, 0]
