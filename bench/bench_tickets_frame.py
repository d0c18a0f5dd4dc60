"""Benchmark (issue 15, the city's cold start): reading every ticket into a frame.

``TicketStore.frame()`` on SQLite reads from the driver's cursor; before, it went through
``pandas.read_sql`` over SQLAlchemy (a row object per ticket). Both are timed side by side in
the same run, alternating, on the same database, and must give equal frames.

Usage::

    python bench/bench_tickets_frame.py                      # bench/out/city.gpkg's tickets
    python bench/bench_tickets_frame.py --store geodata/demo_town.gpkg --runs 7
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import pandas as pd
from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from layers.auth import Principal  # noqa: E402
from layers.tickets import TicketStore  # noqa: E402
from layers.tickets.store import tickets_table  # noqa: E402


def via_sqlalchemy(ts: TicketStore) -> pd.DataFrame:
    """What ``frame()`` read before: ``pd.read_sql`` over SQLAlchemy rows."""
    with ts._reading() as conn:
        df = pd.read_sql(select(tickets_table).order_by(tickets_table.c.id), conn)
    for col in ("created_at", "deadline", "closed_at"):
        df[col] = pd.to_datetime(df[col])
    return df


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", default="bench/out/city.gpkg")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    ts = TicketStore.for_store(args.store)
    times: dict[str, list[float]] = {"frame() (driver cursor)": [], "read_sql (before)": []}
    op = Principal.operator("bench")
    now_frame = ts.frame(principal=op)
    for _ in range(args.runs):
        for name, fn in (("frame() (driver cursor)", lambda: ts.frame(principal=op)),
                         ("read_sql (before)", lambda: via_sqlalchemy(ts))):
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    before = via_sqlalchemy(ts)
    try:
        pd.testing.assert_frame_equal(now_frame[list(before.columns)], before, check_dtype=False)
        same = True
    except AssertionError:
        same = False
    print(f"{args.store}: {len(now_frame):,} tickets, median of {args.runs}")
    for name, ts_ in times.items():
        print(f"  {name:26s} {statistics.median(ts_):6.2f} s")
    print(f"  same frame: {same}")


if __name__ == "__main__":
    main()
