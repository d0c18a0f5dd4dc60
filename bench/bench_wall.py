"""Benchmark: one refresh cycle of the wall screen (大屏) on the demo town.

Usage::

    python bench/bench_wall.py

A refresh re-reads the live tickets, computes the snapshot (``layers.wall.wall_snapshot``) and
builds the three charts as Vega-Lite specs — what the page's refreshing fragment does on the
server (the map is outside the fragment). Target (issue 5): ≤ 500 ms. Also times a whole
first render of the page through AppTest for reference.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    import altair as alt

    from layers.auth import Principal
    from layers.coverage import coverage
    from layers.store import open_store
    from layers.tickets import TicketStore
    from layers.wall import wall_snapshot

    store = Path(tempfile.mkdtemp()) / "town.gpkg"
    shutil.copyfile(ROOT / "geodata" / "demo_town.gpkg", store)
    data = open_store(store).read()
    cov = coverage(data)
    ts = TicketStore.for_store(store, seed=True)
    at = dt.datetime(2026, 11, 20, 15)
    runs = []
    for _ in range(10):
        t0 = time.perf_counter()
        snap = wall_snapshot(data, cov, ts.frame(principal=Principal("wall", "kiosk")), at)
        for df, field in ((snap.per_day.melt("date"), "value"),
                          (snap.by_category, "received_30d"),
                          (snap.ranking.fillna(0), "on_time_rate")):
            alt.Chart(df).mark_bar().encode(x=f"{field}:Q").to_dict()
        runs.append(time.perf_counter() - t0)
    print(f"wall refresh cycle: median {statistics.median(runs) * 1000:.0f} ms, "
          f"max {max(runs) * 1000:.0f} ms over {len(runs)} (target ≤ 500 ms)")
    from streamlit.testing.v1 import AppTest

    os.environ["WANGGE_STORE"] = str(store)
    page = AppTest.from_string(
        f"import sys; sys.path.insert(0, {str(ROOT)!r})\n"
        "from dashboard.views import wall_page\nwall_page.render()\n", default_timeout=300)
    page.query_params["at"] = at.isoformat()
    page.run()
    t0 = time.perf_counter()
    page.run()
    print(f"whole wall page rerun (AppTest, caches warm): {time.perf_counter() - t0:.2f} s")


if __name__ == "__main__":
    main()
