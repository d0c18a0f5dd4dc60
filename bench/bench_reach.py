"""Benchmark: service reach at city scale, beside straight-line ``sjoin_nearest``.

Usage::

    python bench/bench_reach.py            # needs bench/out/city.gpkg (bench_coverage.py makes it)

The city set has ~2.0M buildings and ~27k care points; its own roads make a network of a few
hundred thousand nodes, so to meet the issue's ~1M-node network this lays a 1000 × 1000 street
lattice (≈1M nodes, 2M edges) over the city's extent. Timed in one process: the reach analysis
(elder care, child care and parking, network distances incl. snapping) and, for the same
buildings, geopandas ``sjoin_nearest`` to the elder-care points (straight line). Peak RSS is
the whole process (loading included). Targets (issue 6): ≤ 30 s on 2 cores, ≤ 6 GB.
"""

from __future__ import annotations

import resource
import sys
import time
from pathlib import Path

import numpy as np
from scipy import sparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def lattice(x0: float, y0: float, x1: float, y1: float, n: int, crs: str):
    from layers.network import WalkNetwork

    xs, ys = np.linspace(x0, x1, n), np.linspace(y0, y1, n)
    X, Y = np.meshgrid(xs, ys)
    idx = np.arange(n * n).reshape(n, n)
    u = np.r_[idx[:, :-1].ravel(), idx[:-1, :].ravel()]
    v = np.r_[idx[:, 1:].ravel(), idx[1:, :].ravel()]
    w = np.r_[np.full(n * (n - 1), xs[1] - xs[0]), np.full(n * (n - 1), ys[1] - ys[0])]
    g = sparse.csr_matrix((np.r_[w, w], (np.r_[u, v], np.r_[v, u])), shape=(n * n, n * n))
    return WalkNetwork(X.ravel(), Y.ravel(), g, crs, f"lattice {n}x{n}")


def main() -> None:
    import geopandas as gpd

    from layers.reach import reach
    from layers.store import open_store

    path = ROOT / "bench" / "out" / "city.gpkg"
    if not path.exists():
        sys.exit("bench/out/city.gpkg is missing: run python bench/bench_coverage.py first")
    t0 = time.perf_counter()
    data = open_store(path).read(["communities", "grids", "buildings", "care_points", "parking"],
                                 check_geometry=False)
    print(f"loaded {len(data.buildings):,} buildings, {len(data.care_points):,} care points, "
          f"{len(data.parking):,} car parks in {time.perf_counter() - t0:.0f} s")
    crs = "EPSG:4544"
    b = gpd.GeoSeries(data.communities.geometry, crs=4326).to_crs(crs).total_bounds
    t0 = time.perf_counter()
    net = lattice(*b, 1000, crs)
    print(f"network: {net.n_nodes:,} nodes, {net.n_edges:,} edges "
          f"(built in {time.perf_counter() - t0:.1f} s)")
    t0 = time.perf_counter()
    result = reach(data, net)
    t_reach = time.perf_counter() - t0
    town = result.summary[result.summary.level == "town"].iloc[0]
    print(f"reach (network, 3 facility groups): {t_reach:.1f} s; "
          f"elder care within 500 m: {town['share_elder_care_500']:.1%}")
    t0 = time.perf_counter()
    bm = data.buildings[["code", "geometry"]].to_crs(crs)
    bm["geometry"] = bm.geometry.centroid
    elder = data.care_points[data.care_points.kind.str.startswith("elder")].to_crs(crs)
    joined = gpd.sjoin_nearest(bm, elder[["code", "geometry"]], distance_col="d")
    t_sjoin = time.perf_counter() - t0
    print(f"sjoin_nearest (straight, elder care only, same buildings): {t_sjoin:.1f} s "
          f"({len(joined):,} rows)")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    print(f"peak RSS {peak:.2f} GB (targets: reach ≤ 30 s, ≤ 6 GB)")


if __name__ == "__main__":
    main()
