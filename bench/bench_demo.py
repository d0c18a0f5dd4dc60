"""Benchmark: how long generating the demo data takes (issue 2: the town in under 20 s).

Usage::

    python bench/bench_demo.py              # town ×3, and a 100-town city slice
    python bench/bench_demo.py --towns 870  # the full city-scale set (minutes, ~6 GB)
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--towns", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    from layers.demo import generate_demo
    from layers.validate import validate

    times = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        town = generate_demo()
        times.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    _, report = validate(town)
    v = time.perf_counter() - t0
    print(f"town: generate {statistics.median(times):.2f} s (median of {args.repeat}), "
          f"validate {v:.2f} s, {len(town.buildings):,} buildings, "
          f"{int(town.towns.population.sum()):,} people, valid={report.ok}")
    t0 = time.perf_counter()
    city = generate_demo("city", n_towns=args.towns)
    g = time.perf_counter() - t0
    print(f"city slice ({args.towns} towns): generate {g:.1f} s, {len(city.grids):,} grids, "
          f"{len(city.buildings):,} buildings, {len(city.people):,} people; "
          f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2:.2f} GB")


if __name__ == "__main__":
    main()
