"""Benchmark: the two store backends side by side (issue 23) — the embedded GeoPackage and
PostGIS (a throwaway cluster started here, ``layers.store.postgis.cluster``).

Usage::

    python bench/bench_store.py                  # the demo town
    python bench/bench_store.py --scale city     # bench/out/city.gpkg (made by bench_coverage)
    python bench/bench_store.py --repeat 30

Both stores hold the same data (the PostGIS one made with ``python -m layers copy``). For each
backend, in the same run, it prints (median / p95 of ``--repeat``):

- **the reads a click needs**: the store's version (every page run asks), the tickets'
  version, one grid's tickets, the buildings in a 100 m box around a point (intake), the
  assignments of one target — and their sum — target: PostGIS within 1.5× of GeoPackage;
- **one assignment edit** (``register.assign``), target ≤ 200 ms;
- **another process's edit seen**: a second process assigns a sentinel; the time from its
  commit until this process's cached assignments are caught up (version poll + the changed
  rows only, what the app's layer cache does on the next click), target ≤ 1 s;
- **a whole read** of every layer (what a start without a snapshot pays) and of the
  buildings alone;
- with ``--scale city``: the CLI coverage (``python -m layers coverage``, a fresh process) on
  each backend, target: PostGIS no slower than GeoPackage.

The clock is fixed (``WANGGE_NOW``) at the store's anchor day.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
OUT = ROOT / "bench" / "out"
os.environ.setdefault("WANGGE_NOW", "2026-11-20T12:00:00")

ASSIGN = textwrap.dedent("""
    import sys, time
    from layers import register as reg
    from layers.auth import Principal
    from layers.store import open_store
    store = open_store(sys.argv[1])
    reg.assign(store, person_id=sys.argv[2], role="grid_sentinel", target=sys.argv[3],
               principal=Principal.operator("bench"))
    print(time.time())
""")


def timed(fn: Callable[[], object], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def stats(xs: list[float]) -> tuple[float, float]:
    xs = sorted(xs)
    return statistics.median(xs), xs[min(len(xs) - 1, int(round(0.95 * (len(xs) - 1))))]


def ms(x: float) -> str:
    return f"{x * 1000:,.1f} ms" if x < 10 else f"{x:,.2f} s"


def prepare(scale: str, work: Path) -> Path:
    """A private GeoPackage copy of the store (with its tickets)."""
    from layers.tickets import TicketStore, db_path_for

    src = ROOT / "geodata" / "demo_town.gpkg" if scale == "town" else OUT / "city.gpkg"
    if not src.exists():
        sys.exit(f"{src} is missing: run bench/bench_coverage.py --scale city first")
    dst = work / f"{scale}.gpkg"
    shutil.copyfile(src, dst)
    if db_path_for(src).exists():
        shutil.copyfile(db_path_for(src), db_path_for(dst))
    else:
        TicketStore.for_store(dst, seed=True).close()
    return dst


def picks(location: str) -> dict[str, object]:
    """A grid with tickets, a gap grid, free party members, a point in a building."""
    from layers.coverage import coverage
    from layers.store import open_store

    data = open_store(location).read(["communities", "grids", "buildings", "people",
                                      "assignments"])
    cov = coverage(data)
    busy = set(data.assignments[data.assignments.active.astype(bool)].person_id)
    pool = data.people[data.people.is_party_member & ~data.people.person_id.isin(busy)]
    b = data.buildings.iloc[len(data.buildings) // 2]
    p = b.geometry.representative_point()
    return {"grid": str(b["grid_code"]), "gaps": sorted(cov.grids_without_sentinel)[:200],
            "free": pool.person_id.tolist()[:200], "point": (p.x, p.y)}


def click_reads(location: str, pk: dict, repeat: int) -> dict[str, list[float]]:
    from layers.auth import Principal
    from layers.lookup import search_box
    from layers.store import open_store
    from layers.tickets import TicketStore

    store = open_store(location)
    who = Principal.operator("bench")
    ts = TicketStore.for_store(store)
    x, y = pk["point"]  # type: ignore[misc]
    box = search_box(x, y, 100.0)
    steps: dict[str, Callable[[], object]] = {
        "store version": store.version,
        "tickets version": ts.version,
        "one grid's tickets": lambda: ts.frame(grid_code=pk["grid"], principal=who),
        "buildings in 100 m (bbox)": lambda: store.read_layer(
            "buildings", bbox=box, columns=["code", "name", "grid_code", "geometry"]),
        "a target's assignments": lambda: store.select_rows(
            "assignments", {"target_code": pk["grid"]}),
    }
    for fn in steps.values():
        fn()  # warm: connections, caches
    out = {name: timed(fn, repeat) for name, fn in steps.items()}
    out["sum"] = [sum(v) for v in zip(*out.values(), strict=True)]
    return out


def assign_edits(location: str, pk: dict, repeat: int) -> list[float]:
    from layers import register as reg
    from layers.auth import Principal
    from layers.store import open_store

    store = open_store(location)
    who = Principal.operator("bench")
    pairs = list(zip(pk["free"], pk["gaps"], strict=False))[:repeat]  # type: ignore[call-overload]
    out = []
    for pid, grid in pairs:
        t0 = time.perf_counter()
        reg.assign(store, person_id=pid, role="grid_sentinel", target=grid, principal=who)
        out.append(time.perf_counter() - t0)
    return out


def seen_elsewhere(location: str, pk: dict, runs: int) -> list[float]:
    """Another process assigns; the time from its commit until this process's copy of the
    assignments is caught up from the changed rows."""
    from layers.store import open_store

    store = open_store(location)
    frame = store.read(["assignments"], relative_dates=False).assignments
    marker = store.row_marker("assignments")
    token = store.layer_versions()["assignments"]
    out = []
    pairs = list(zip(pk["free"][-runs:], pk["gaps"][-runs:], strict=False))  # type: ignore[index]
    for pid, grid in pairs:
        r = subprocess.run([sys.executable, "-c", ASSIGN, location, pid, grid], cwd=ROOT,
                           capture_output=True, text=True, check=True)
        committed = float(r.stdout.strip().splitlines()[-1])
        while store.layer_versions()["assignments"] == token:
            time.sleep(0.01)
        got = store.read_changed("assignments", frame, marker) if marker else None
        if got is None:
            frame = store.read(["assignments"], relative_dates=False).assignments
            marker = store.row_marker("assignments")
        else:
            frame, marker = got
        out.append(time.time() - committed)
        token = store.layer_versions()["assignments"]
    return out


def whole_reads(location: str, repeat: int) -> dict[str, list[float]]:
    from layers.store import open_store

    store = open_store(location)
    return {"every layer": timed(lambda: store.read(relative_dates=False), repeat),
            "buildings": timed(lambda: store.read(["buildings"], relative_dates=False),
                               repeat)}


def cli_coverage(location: str, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "layers", "coverage", location, "--format",
                        "json", "-q"], cwd=ROOT, capture_output=True, check=True)
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", choices=("town", "city"), default="town")
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()
    from layers.store import open_store
    from layers.store.copy import copy_store
    from layers.store.postgis.cluster import Cluster

    work = Path(tempfile.mkdtemp(prefix="bench-store-", dir=OUT if OUT.exists() else None))
    rows: dict[str, dict[str, object]] = {}
    with Cluster.start() as pg:
        gpkg = str(prepare(args.scale, work))
        url = pg.database("bench")
        t0 = time.perf_counter()
        copy_store(open_store(gpkg), open_store(url))
        print(f"copied {args.scale} to PostGIS in {time.perf_counter() - t0:.1f} s",
              file=sys.stderr)
        for name, loc in (("GeoPackage", gpkg), ("PostGIS", url)):
            pk = picks(loc)
            fig: dict[str, object] = {}
            fig["click"] = click_reads(loc, pk, args.repeat)
            fig["assign"] = assign_edits(loc, pk, args.repeat)
            fig["seen"] = seen_elsewhere(loc, pk, max(3, args.repeat // 4))
            fig["whole"] = whole_reads(loc, 1 if args.scale == "city" else 3)
            if args.scale == "city":
                fig["cli_coverage"] = cli_coverage(loc, 3)
            rows[name] = fig
    report(rows, args)
    shutil.rmtree(work, ignore_errors=True)


def report(rows: dict[str, dict[str, object]], args: argparse.Namespace) -> None:
    g, p = rows["GeoPackage"], rows["PostGIS"]
    print(f"\n{args.scale}: median (p95) of {args.repeat}\n")
    print("| figure | GeoPackage | PostGIS | PostGIS ÷ GeoPackage | target |")
    print("|---|---|---|---|---|")

    def line(label: str, a: list[float], b: list[float], target: str = "") -> None:
        (ma, pa), (mb, pb) = stats(a), stats(b)
        print(f"| {label} | {ms(ma)} ({ms(pa)}) | {ms(mb)} ({ms(pb)}) | {mb / ma:.2f} | "
              f"{target} |")

    for k in g["click"]:  # type: ignore[union-attr]
        line(f"click: {k}", g["click"][k], p["click"][k],  # type: ignore[index]
             "≤ 1.5×" if k == "sum" else "")
    line("one assignment edit", g["assign"], p["assign"], "≤ 200 ms")  # type: ignore[arg-type]
    line("another process's edit seen", g["seen"], p["seen"], "≤ 1 s")  # type: ignore[arg-type]
    for k in g["whole"]:  # type: ignore[union-attr]
        line(f"whole read: {k}", g["whole"][k], p["whole"][k])  # type: ignore[index]
    if "cli_coverage" in g:
        line("CLI coverage (fresh process)", g["cli_coverage"], p["cli_coverage"],  # type: ignore[arg-type]
             "PostGIS ≤ GeoPackage")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
