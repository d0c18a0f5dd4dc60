"""Benchmark: map build time and payload, beside ``GeoDataFrame.explore()`` on the same layers.

Usage::

    python bench/bench_map.py                # town, then the city overview (bench/out/city.gpkg)
    python bench/bench_map.py --scale town

For each scale, in one process:

- **cold**: ``mapview.prepare`` (display data, cached per store version in the app) +
  ``build_map`` + what ``st_folium`` does to serialise the map (``_get_map_string``);
- **rerun**: what a Streamlit rerun costs with the display data cached (build + serialise);
- **page rerun**: a whole map-page rerun on the server (AppTest, caches warm);
- **payload**: the bytes ``st_folium`` sends to the browser (script + header);
- **explore()**: ``GeoDataFrame.explore()`` chained over the same layers, built and rendered to
  HTML (its payload is that HTML).

Targets (issue 3): town rerun ≤ 1.5 s and payload ≤ 3 MB; city overview ≤ 3 s and ≤ 5 MB;
at least 5× smaller and faster than ``explore()`` on the city set.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _serialise(m) -> int:
    """Bytes st_folium sends: the Leaflet script plus the header it keeps."""
    from streamlit_folium import _get_header, _get_map_string

    return len(_get_map_string(m).encode()) + len(_get_header(m).encode())


def measure(scale: str, path: Path, repeat: int) -> dict:
    from dashboard import mapview
    from layers.coverage import LAYERS_NEEDED, coverage
    from layers.store import open_store

    names = (*LAYERS_NEEDED, "care_points", "parking", "tickets", "roads")
    data = open_store(path).read(names, check_geometry=False)
    cov = coverage(data)
    tiles = mapview.tile_sources()["none"]
    colds, reruns = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        md = mapview.prepare(data, cov)
        t1 = time.perf_counter()
        payload = _serialise(mapview.build_map(md, tiles))
        t2 = time.perf_counter()
        colds.append(t2 - t0)
        reruns.append(t2 - t1)
    # explore() on the same layers the map shows
    shown = ["towns", "communities"] if md.aggregated else [
        "towns", "communities", "grids", "buildings", "roads", "care_points", "parking"]
    open_tickets = data["tickets"][~data["tickets"]["status"].isin(
        ["closed", "closed_unresolved"])]
    explore_s, explore_bytes = [], 0
    for _ in range(max(1, repeat if scale == "town" else 1)):
        t0 = time.perf_counter()
        m = None
        for name in shown:
            gdf = data[name]
            m = gdf.explore(m=m, name=name, tiles=None) if m is not None else gdf.explore(
                name=name, tiles=None)
        m = open_tickets.explore(m=m, name="tickets", tiles=None)
        html = m.get_root().render()
        explore_s.append(time.perf_counter() - t0)
        explore_bytes = len(html.encode())
    cold = statistics.median(colds)
    rerun = statistics.median(reruns)
    return {
        "scale": scale, "grids": len(data.grids), "buildings": len(data.buildings),
        "aggregated": md.aggregated, "features": md.counts,
        "cold_s": round(cold, 3), "rerun_s": round(rerun, 3),
        "payload_mb": round(payload / 1e6, 2),
        "explore_s": round(statistics.median(explore_s), 2),
        "explore_mb": round(explore_bytes / 1e6, 2),
        "faster_x": round(statistics.median(explore_s) / cold, 1),
        "smaller_x": round(explore_bytes / payload, 1),
        "explore_layers": [*shown, "tickets (open)"],
    }


def page_rerun(store: Path, repeat: int) -> float:
    """Median server time of a whole map-page rerun (caches warm), through AppTest."""
    import os

    from streamlit.testing.v1 import AppTest

    os.environ["WANGGE_STORE"] = str(store)
    at = AppTest.from_file(str(ROOT / "dashboard" / "app.py"), default_timeout=600)
    at.query_params["sel"] = ""
    at.run()  # cold: loads, coverage, display data
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        at.run()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", choices=["town", "city", "both"], default="both")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    rows = []
    if args.scale in ("town", "both"):
        town = ROOT / "geodata" / "demo_town.gpkg"
        rows.append(measure("town", town, args.repeat))
        rows[-1]["page_rerun_s"] = round(page_rerun(town, args.repeat), 3)
    if args.scale in ("city", "both"):
        city = ROOT / "bench" / "out" / "city.gpkg"
        if not city.exists():
            sys.exit("bench/out/city.gpkg is missing: run python bench/bench_coverage.py first")
        rows.append(measure("city", city, args.repeat))
        rows[-1]["page_rerun_s"] = round(page_rerun(city, args.repeat), 3)
    print(f"{'scale':6} {'cold s':>7} {'rerun s':>8} {'page rerun s':>12} {'payload MB':>10} "
          f"{'explore s':>10} {'explore MB':>10} {'faster':>7} {'smaller':>8}")
    for r in rows:
        print(f"{r['scale']:6} {r['cold_s']:>7} {r['rerun_s']:>8} {r['page_rerun_s']:>12} "
              f"{r['payload_mb']:>10} {r['explore_s']:>10} {r['explore_mb']:>10} "
              f"{r['faster_x']:>6}× {r['smaller_x']:>7}×")
    print(json.dumps(rows, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
