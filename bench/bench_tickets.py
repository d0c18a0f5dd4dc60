"""Benchmark: ticket intake throughput and KPIs over a million tickets.

Usage::

    python bench/bench_tickets.py

Intake: one writer adds tickets at random points of the demo town into a fresh SQLite store
(WAL), each placed in its grid by the STRtree lookup — once as single ``add()`` calls (one
transaction each: what a form submit costs) and once in batches of 500 (an import).
KPIs: ``ticket_kpis`` per community and per grid over 1,000,000 tickets (the demo year tiled
with shifted dates). Targets (issue 4): ≥ 500 tickets/s, KPIs ≤ 2 s.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    from layers.auth import Principal
    from layers.store import open_store
    from layers.tickets import DEFAULT_CATALOGUE, GridLocator, TicketStore
    from layers.tickets import reports as tr

    store = ROOT / "geodata" / "demo_town.gpkg"
    data = open_store(store).read(["communities", "grids", "buildings"], check_geometry=False)
    locator = GridLocator(data.grids)
    rng = np.random.default_rng(0)
    pts = shapely.centroid(data.buildings.geometry.to_numpy())
    cats = list(DEFAULT_CATALOGUE)

    def rows(n: int) -> list[dict]:
        i = rng.integers(0, len(pts), n)
        return [{"category": cats[k % len(cats)], "lon": shapely.get_x(pts[j]),
                 "lat": shapely.get_y(pts[j]), "text": f"测试工单 {k}"}
                for k, j in enumerate(i)]

    op = Principal.operator("bench")
    with tempfile.TemporaryDirectory() as tmp:
        ts = TicketStore(Path(tmp) / "bench.sqlite", locator)
        single = rows(1500)
        t0 = time.perf_counter()
        for r in single:
            ts.add(r["category"], r["lon"], r["lat"], r["text"], principal=op)
        one = len(single) / (time.perf_counter() - t0)
        batch = rows(20_000)
        t0 = time.perf_counter()
        for k in range(0, len(batch), 500):
            ts.add_many(batch[k:k + 500], principal=op)
        many = len(batch) / (time.perf_counter() - t0)
        demo = ts.frame(principal=op)
    print(f"intake: single add() {one:,.0f} tickets/s; batches of 500 {many:,.0f} tickets/s "
          f"(target ≥ 500/s)")

    # a million tickets: the demo year's tickets tiled with shifted dates
    base = TicketStore.for_store(_copy(store), seed=True).frame(principal=op)
    reps = int(np.ceil(1_000_000 / len(base)))
    big = pd.concat([base] * reps, ignore_index=True).iloc[:1_000_000]
    shift = pd.to_timedelta(np.repeat(np.arange(reps) % 3 * 365, len(base))[:1_000_000],
                            unit="D")
    for col in ("created_at", "deadline", "closed_at"):
        big[col] = big[col] - shift
    times = {}
    for by in ("community_code", "grid_code"):
        runs = []
        for _ in range(3):
            t0 = time.perf_counter()
            k = tr.ticket_kpis(big, "2025-01-01", "2026-01-01", by=by)
            runs.append(time.perf_counter() - t0)
        times[by] = statistics.median(runs)
    print(f"KPIs over {len(big):,} tickets: by community {times['community_code']:.2f} s, "
          f"by grid {times['grid_code']:.2f} s (target ≤ 2 s); {len(k)} rows")
    del demo


def _copy(store: Path) -> Path:
    import shutil

    tmp = Path(tempfile.mkdtemp()) / "town.gpkg"
    shutil.copyfile(store, tmp)
    return tmp


if __name__ == "__main__":
    main()
