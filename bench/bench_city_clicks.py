"""What a click costs the server at city scale (issue 15), the new reads beside the old ones.

Usage::

    python bench/bench_city_clicks.py [STORE]     # default bench/out/city.gpkg (read only)

Times, median of 5 after one warm-up, with every layer already in memory (a warm server):

- the detail panel of a grid and of a building: ``lookup.grid_detail`` / ``building_detail``
  with the tickets of the selection's grid (``TicketStore.frame(grid_code=…)``), against the
  old read of every ticket (``TicketStore.frame()``) that each click paid before;
- the ticket store's version (every page run reads it, twice on the map page): the newest
  history entry against the old ``count(*), max(at)`` over the whole history;
- a search that finds people (their first duty is looked up).

Benchmarks are not tests: nothing here asserts.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dashboard import data as appdata  # noqa: E402
from layers import lookup  # noqa: E402
from layers.auth import Principal  # noqa: E402
from layers.tickets import TicketStore  # noqa: E402


def timed(fn: Callable[[], object], runs: int = 5) -> float:
    fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(store: str) -> None:
    data = appdata.load(store, 0)
    for name in data:
        data[name]
    ts = TicketStore.for_store(store)
    op = Principal.operator("bench")
    grid = str(data.grids["code"].iloc[len(data.grids) // 2])
    building = str(data.buildings["code"].iloc[len(data.buildings) // 2])
    b_grid = str(data.buildings["grid_code"].iloc[len(data.buildings) // 2])
    print(f"store {store}: {len(data.grids):,} grids, {len(data.buildings):,} buildings, "
          f"{len(data.assignments):,} assignments, {ts.version()[0]:,} ticket history entries")

    def old_version() -> object:
        from sqlalchemy import func, select

        from layers.tickets.store import events_table
        with ts.engine.connect() as conn:
            return conn.execute(select(func.count(), func.max(events_table.c.at))).one()

    rows = [
        ("grid click: its grid's tickets", lambda: ts.frame(principal=op, grid_code=grid),
         "every ticket", lambda: ts.frame(principal=op)),
        ("grid click: the detail", lambda: lookup.grid_detail(
            data, grid, tickets=ts.frame(principal=op, grid_code=grid)), None, None),
        ("building click: the detail", lambda: lookup.building_detail(
            data, building, tickets=ts.frame(principal=op, grid_code=b_grid)), None, None),
        ("ticket store version", ts.version, "count(*), max(at)", old_version),
        ("search finding people (P00001)", lambda: lookup.search(data, "P00001"), None, None),
    ]
    print("\n| step | now | before (same run) |\n|---|---|---|")
    for label, new, old_label, old in rows:
        before = f"{timed(old):.3f} s ({old_label})" if old else "—"
        print(f"| {label} | {timed(new):.3f} s | {before} |")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else str(ROOT / "bench" / "out" / "city.gpkg"))
