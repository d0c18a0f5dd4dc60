"""Benchmark: login, and a sentinel's scoped map page, at city scale (issue 14).

Usage::

    python bench/bench_auth.py                       # bench/out/city.gpkg (copied to a temp dir)
    python bench/bench_auth.py --store bench/out/town.gpkg

In one process, on a private copy of the store (accounts are written into it):

- **login**: ``Accounts.authenticate`` (argon2id verify + the account row + the audit entry),
  median of 5; and a wrong password, for comparison (the same work: no timing oracle);
- **load**: reading the whole store once (shared by every session of a server: the app caches
  it per store version);
- **scoped view**, for a sentinel of two grids and, side by side, for the admin (whole area):
  ``scope.scoped`` + ``coverage`` + ``mapview.prepare`` + ``build_map`` + serialisation — what
  the app does on a user's first map page once the store is loaded — and the bytes sent.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _median(f, n: int = 5) -> tuple[float, object]:
    times, out = [], None
    for _ in range(n):
        t0 = time.perf_counter()
        out = f()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def _serialised(m) -> int:
    from streamlit_folium import _get_header, _get_map_string

    return len(_get_map_string(m).encode()) + len(_get_header(m).encode())


def _view(data, who) -> tuple[float, int, int]:
    from dashboard import mapview
    from layers.auth.scope import scoped
    from layers.coverage import coverage

    t0 = time.perf_counter()
    mine = scoped(data, who)
    cov = coverage(mine)
    md = mapview.prepare(mine, cov)
    size = _serialised(mapview.build_map(md, mapview.tile_sources()["none"]))
    return time.perf_counter() - t0, size, len(mine.grids)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--store", type=Path, default=ROOT / "bench" / "out" / "city.gpkg")
    args = ap.parse_args()
    from layers.auth import Accounts, LoginFailed, Principal
    from layers.store import open_store

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / args.store.name
        shutil.copyfile(args.store, path)
        grids = open_store(path).select_rows("grids", None, columns=["code"])["code"]
        pick = sorted(grids)[len(grids) // 2: len(grids) // 2 + 2]
        accts = Accounts(path)
        pw = "bench-password-1"
        accts.add("admin", "admin", password=pw, by="bench")
        accts.add("shao", "sentinel", password=pw, grids=pick, by="bench")
        t_login, _ = _median(lambda: accts.authenticate("shao", pw))

        def wrong() -> None:
            with contextlib.suppress(LoginFailed):
                accts.authenticate("admin", "not-the-password")
        t_wrong, _ = _median(wrong, 3)
        accts.set_password("admin", pw, by="bench")  # clear the failures
        t0 = time.perf_counter()
        data = open_store(path).read()
        t_load = time.perf_counter() - t0
        sentinel = Principal("shao", "sentinel", grids=frozenset(pick))
        t_s, b_s, g_s = _view(data, sentinel)
        t_a, b_a, g_a = _view(data, Principal("admin", "admin"))
    print(f"store: {args.store.name}, {len(grids):,} grids")
    print(f"login (argon2id verify + audit), median of 5: {t_login * 1000:.0f} ms; "
          f"wrong password: {t_wrong * 1000:.0f} ms")
    print(f"load the whole store once (shared by all sessions): {t_load:.1f} s")
    print(f"first map view, sentinel of 2 grids: {t_s:.2f} s, {b_s / 1e3:,.0f} kB sent, "
          f"{g_s} grids")
    print(f"first map view, admin (whole area):  {t_a:.2f} s, {b_a / 1e6:,.2f} MB sent, "
          f"{g_a:,} grids")


if __name__ == "__main__":
    main()
