"""Benchmark: the coverage analysis at town and city scale, beside its spatial floor.

Usage::

    python bench/bench_coverage.py                 # town, then city (generates bench/out/city.gpkg once)
    python bench/bench_coverage.py --scale town
    python bench/bench_coverage.py --towns 100     # a smaller city for a quick look

For each scale it prints, from one process: the time to read and fully validate the layers
coverage needs, the coverage analysis (median of --repeat runs), two floors measured in the
same process (``bench/floor.py``) with the analysis' ratio to each, the
process's peak resident memory, and the analysis after one edit with the memo of the
previous run (``CoverageMemo``, what the app keeps) beside the same from scratch:

floor(join)  the bare STRtree spatial join of building centroids into grids plus the STRtree
             search for party members near uncovered grids (the issue's floor);
floor(run)   the bare spatial predicates the analysis actually runs: each centroid against its
             own grid (prepared ``contains``) plus the same member search.
The city analysis runs in a fresh child process so its peak memory is its own, not the
generator's. Targets (issue 2): city ≤ 15 s and ≤ 2× the floor, peak ≤ 4 GB; town < 1 s.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

OUT = ROOT / "bench" / "out"


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def measure(path: Path, repeat: int) -> dict:
    """Load the store, run coverage and the floor ``repeat`` times each; return figures."""
    from floor import spatial_floor

    from layers.coverage import LAYERS_NEEDED, coverage
    from layers.store import open_store

    t0 = time.perf_counter()
    data = open_store(path).read(LAYERS_NEEDED, full_check=True)  # geometry included
    load_s = time.perf_counter() - t0
    runs, floors = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        res = coverage(data)
        runs.append(time.perf_counter() - t0)
        floors.append(spatial_floor(data))
    cov = statistics.median(runs)
    edits = edit_runs(data, repeat)
    join = statistics.median(f["join_total"] for f in floors)
    run = statistics.median(f["run_total"] for f in floors)
    return {
        "store": str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path),
        "grids": len(data.grids),
        "buildings": len(data.buildings),
        "people": len(data.people),
        "load_s": round(load_s, 2),
        "coverage_s": round(cov, 3),
        "coverage_runs_s": [round(r, 3) for r in runs],
        "floor_join_s": round(join, 3),
        "floor_run_s": round(run, 3),
        "ratio_join": round(cov / join, 2),
        "ratio_run": round(cov / run, 2),
        "floor_steps_s": {k: round(statistics.median(f[k] for f in floors), 3)
                          for k in ("join", "own_grid", "members_near_gaps")},
        "edit_memo_s": round(statistics.median(edits["memo"]), 3),
        "edit_fresh_s": round(statistics.median(edits["fresh"]), 3),
        "edit_runs_s": {k: [round(v, 3) for v in vs] for k, vs in edits.items()},
        "peak_rss_gb": round(peak_rss_gb(), 2),
        "grids_without_sentinel": len(res.grids_without_sentinel),
        "buildings_without_member": len(res.buildings_without_member),
        "cores": os.cpu_count(),
    }


def edit_runs(data, repeat: int) -> dict[str, list[float]]:
    """Coverage after one edit, with the memo of the previous run (what the app keeps) and
    from scratch, side by side: each edit makes a suggested party member the sentinel of the
    grid they were suggested for (a gap closes, a member leaves the pool)."""
    import pandas as pd

    from layers.coverage import CoverageMemo, coverage

    memo = CoverageMemo()
    last = coverage(data, memo=memo)
    out: dict[str, list[float]] = {"memo": [], "fresh": []}
    for _ in range(repeat):
        pick = last.suggestions.iloc[0]
        a = data.assignments
        row = pd.DataFrame({"person_id": [pick.person_id], "role": ["grid_sentinel"],
                            "target_code": [pick.grid_code], "active": [True],
                            "since": [pd.Timestamp("2026-01-01")], "until": [pd.NaT]})
        data = data.replace(assignments=pd.concat(
            [a, row.astype({"since": a["since"].dtype, "until": a["until"].dtype})],
            ignore_index=True))
        t0 = time.perf_counter()
        last = coverage(data, memo=memo)
        out["memo"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        fresh = coverage(data)
        out["fresh"].append(time.perf_counter() - t0)
        assert fresh.to_dict() == last.to_dict()
    return out


def ensure_city(towns: int | None) -> Path:
    name = f"city-{towns}.gpkg" if towns else "city.gpkg"
    path = OUT / name
    if not path.exists():
        OUT.mkdir(parents=True, exist_ok=True)
        args = [sys.executable, "-m", "layers", "demo", "--scale", "city", "--out", str(path)]
        if towns:
            args += ["--towns", str(towns)]
        t0 = time.perf_counter()
        subprocess.run(args, check=True, cwd=ROOT)
        print(f"generated {name} in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", choices=["town", "city", "both"], default="both")
    ap.add_argument("--towns", type=int, default=None)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:  # measuring process for one store
        print(json.dumps(measure(Path(args.child), args.repeat)))
        return
    rows = []
    if args.scale in ("town", "both"):
        rows.append(("town", measure(ROOT / "geodata" / "demo_town.gpkg", args.repeat)))
    if args.scale in ("city", "both"):
        path = ensure_city(args.towns)
        out = subprocess.run([sys.executable, __file__, "--child", str(path), "--repeat",
                              str(args.repeat)], check=True, capture_output=True, text=True)
        rows.append(("city", json.loads(out.stdout.strip().splitlines()[-1])))
    print(f"{'scale':6} {'grids':>7} {'buildings':>10} {'people':>8} {'load s':>7} "
          f"{'coverage s':>10} {'floor(join) s':>13} {'×':>5} {'floor(run) s':>12} {'×':>5} "
          f"{'peak GB':>8}")
    for scale, r in rows:
        print(f"{scale:6} {r['grids']:>7,} {r['buildings']:>10,} {r['people']:>8,} "
              f"{r['load_s']:>7} {r['coverage_s']:>10} {r['floor_join_s']:>13} "
              f"{r['ratio_join']:>5} {r['floor_run_s']:>12} {r['ratio_run']:>5} "
              f"{r['peak_rss_gb']:>8}")
    print(f"\n{'scale':6} {'after one edit: with the memo s':>32} {'from scratch s':>15}")
    for scale, r in rows:
        print(f"{scale:6} {r['edit_memo_s']:>32} {r['edit_fresh_s']:>15}")
    print(json.dumps(dict(rows), indent=1))


if __name__ == "__main__":
    main()
