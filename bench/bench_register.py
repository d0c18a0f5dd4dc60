"""Benchmark: row-level register edits on the city-scale store (issue 13).

Usage::

    python bench/bench_register.py                 # city (reuses bench/out/city.gpkg)
    python bench/bench_register.py --scale town    # the demo town, quick
    python bench/bench_register.py --editors 20 --seconds 60

On a private copy of the store (``bench/out/<name>.register.gpkg``; the original stays as
``bench_coverage.py`` made it) it prints:

- the first edit on the copy, which also builds the lookup indexes (once per store);
- one assignment (``register.assign``), ``--repeat`` times: median / p95 / max — target
  ≤ 200 ms at city scale;
- the same through the CLI (``python -m layers assign …``: process start included);
- the coverage analysis after it (read + analysis), and that the grid is no longer a gap;
- ``--editors`` processes editing at once for ``--seconds`` s (each assigns building members
  to its own buildings as fast as it can): edits each process counted, rows and change-log
  entries found afterwards — none may be lost.

The clock is fixed (``WANGGE_NOW``) at the store's anchor day so runs are comparable.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
OUT = ROOT / "bench" / "out"

EDITOR = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    from layers import register as reg
    from layers.auth import Principal
    from layers.store import open_store
    path, jobs, barrier, seconds, tag = (sys.argv[1], json.loads(sys.argv[2]),
                                         Path(sys.argv[3]), float(sys.argv[4]), sys.argv[5])
    (barrier / f"ready-{tag}").touch()  # imported: ready
    go = barrier / "go"
    while not go.exists():
        time.sleep(0.005)
    start = float(go.read_text())
    store = open_store(path)
    done, lat = 0, []
    for pid, target in jobs:
        if time.time() >= start + seconds:
            break
        t0 = time.perf_counter()
        reg.assign(store, person_id=pid, role="building_member", target=target,
                   principal=Principal.operator(tag), source=tag)
        lat.append(time.perf_counter() - t0)
        done += 1
    print(json.dumps({"done": done, "latencies": lat, "end": time.time()}))
""")


def _store(scale: str) -> Path:
    """The benchmark's private copy of the town or city store (the city generated once)."""
    if scale == "town":
        src = OUT / "town.gpkg"
        if not src.exists():
            _run([sys.executable, "-m", "layers", "demo", "--out", str(src), "-q"])
    else:
        src = OUT / "city.gpkg"
        if not src.exists():
            print("generating the city store (minutes) …", file=sys.stderr)
            _run([sys.executable, "-m", "layers", "demo", "--scale", "city", "--out", str(src)])
    dst = src.with_name(src.stem + ".register.gpkg")
    t0 = time.perf_counter()
    shutil.copyfile(src, dst)
    print(f"copied {src.name} → {dst.name} ({dst.stat().st_size / 1e9:.2f} GB) in "
          f"{time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return dst


def _run(cmd: list[str]) -> subprocess.CompletedProcess:
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if r.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{r.stderr}")
    return r


def _anchor(path: Path) -> str:
    from layers.store import GeoPackageStore

    return GeoPackageStore(path).meta().get("date_anchor") or time.strftime("%Y-%m-%d")


def _candidates(path: Path, n_single: int, n_jobs: int) -> tuple[list, list]:
    """(person, role, target) for the single edits — gap grids with their suggested party
    member, then buildings without a member —, and (person, building) pairs of other
    buildings without a member for the editors; straight from the coverage analysis."""
    from layers import register as reg
    from layers.coverage import LAYERS_NEEDED, coverage
    from layers.store import open_store

    data = open_store(path).read(LAYERS_NEEDED, check_geometry=False)
    res = coverage(data)
    picks = reg._pick(reg.suggestions(data, result=res))
    single = [(p, "grid_sentinel", g) for p, g in
              zip(picks.person_id, picks.grid_code, strict=True)][:n_single]
    used = {p for p, _, _ in single}
    people = [p for p in data.people.person_id if p not in used]
    buildings = res.buildings_without_member[:n_jobs + n_single]
    pairs = list(zip(people[:len(buildings)], buildings, strict=True))
    k = n_single - len(single)
    single += [(p, "building_member", b) for p, b in pairs[:k]]
    return single, pairs[k:]


def _ms(xs: list[float]) -> str:
    xs = sorted(xs)
    p95 = xs[min(len(xs) - 1, round(0.95 * (len(xs) - 1)))]
    return (f"median {statistics.median(xs) * 1e3:.0f} ms, p95 {p95 * 1e3:.0f} ms, "
            f"max {xs[-1] * 1e3:.0f} ms (n={len(xs)})")


def single_edits(path: Path, edits: list, repeat: int) -> dict:
    """``edits``: (person, role, target) — sentinels for gap grids first, then (a town has
    few gaps) building members for buildings without one."""
    from layers import register as reg
    from layers.auth import Principal
    from layers.store import open_store

    store = open_store(path)
    op = Principal.operator("bench")
    (p0, r0, t0_), rest = edits[0], edits[1:repeat + 2]
    t0 = time.perf_counter()
    reg.assign(store, person_id=p0, role=r0, target=t0_, principal=op)
    first = time.perf_counter() - t0
    lat = []
    for p, r, g in rest[:repeat]:
        t0 = time.perf_counter()
        reg.assign(store, person_id=p, role=r, target=g, principal=op)
        lat.append(time.perf_counter() - t0)
    p, r, g = rest[repeat]
    t0 = time.perf_counter()
    _run([sys.executable, "-m", "layers", "assign", str(path), "--person", p, "--role", r,
          "--target", g, "--by", "bench"])
    cli = time.perf_counter() - t0
    print(f"first edit (builds the lookup indexes once): {first:.2f} s")
    print(f"one assignment (library): {_ms(lat)}")
    print(f"one assignment (CLI, process start included): {cli:.2f} s")
    return {"first_s": round(first, 2), "assign_ms": [round(x * 1e3, 1) for x in lat],
            "assign_median_ms": round(statistics.median(lat) * 1e3, 1), "cli_s": round(cli, 2),
            "assigned": [t for _, r, t in edits[:repeat + 2] if r == "grid_sentinel"]}


def coverage_after(path: Path, assigned: list[str]) -> dict:
    from layers.coverage import LAYERS_NEEDED, coverage
    from layers.store import open_store

    t0 = time.perf_counter()
    data = open_store(path).read(LAYERS_NEEDED, check_geometry=False)
    t_read = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = coverage(data)
    t_cov = time.perf_counter() - t0
    still = set(assigned) & set(res.grids_without_sentinel)
    print(f"coverage after the edits: read {t_read:.1f} s (column checks) + analysis "
          f"{t_cov:.2f} s; {len(assigned)} grid(s) assigned, {len(still)} still without a "
          "sentinel")
    if still:
        raise SystemExit("an assigned grid is still a gap")
    return {"read_s": round(t_read, 2), "coverage_s": round(t_cov, 2)}


def concurrent(path: Path, jobs: list, editors: int, seconds: float) -> dict:
    import tempfile

    from layers.store import open_store

    per = len(jobs) // editors
    barrier = Path(tempfile.mkdtemp(prefix="bench-register-"))
    procs = []
    for i in range(editors):
        chunk = jobs[i * per:(i + 1) * per]
        procs.append(subprocess.Popen(
            [sys.executable, "-c", EDITOR, str(path), json.dumps(chunk), str(barrier),
             str(seconds), f"bench-editor-{i:02d}"],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    while len(list(barrier.glob("ready-*"))) < editors:  # all imported, then all at once
        if any(p.poll() is not None for p in procs):
            break
        time.sleep(0.05)
    start = time.time() + 0.2
    (barrier / "go.tmp").write_text(repr(start))
    (barrier / "go.tmp").rename(barrier / "go")
    results = []
    for p in procs:
        out, err = p.communicate(timeout=seconds + 600)
        if p.returncode:
            raise SystemExit(f"an editor failed:\n{err}")
        results.append(json.loads(out.strip().splitlines()[-1]))
    wall = max(r["end"] for r in results) - start  # until the last edit landed
    shutil.rmtree(barrier, ignore_errors=True)
    done = [r["done"] for r in results]
    lat = [x for r in results for x in r["latencies"]]
    store = open_store(path)
    log = store.change_log({"action": "assign", "role": "building_member"})
    log = log[log.source.str.startswith("bench-editor-")]
    rows = store.select_rows("assignments", {"target_code": [t for _, t in jobs]},
                             columns=["person_id", "target_code"])
    made = sum(done)
    print(f"{editors} editors × {seconds:.0f} s: {made} edits ({made / wall:.1f}/s over "
          f"{wall:.0f} s); per editor min {min(done)}, max {max(done)}; latency under "
          f"contention {_ms(lat)}")
    print(f"found afterwards: {len(rows)} assignment rows, {len(log)} change-log entries "
          f"→ lost: {made - len(rows)} rows, {made - len(log)} log entries")
    if len(rows) != made or len(log) != made:
        raise SystemExit("edits were lost")
    return {"editors": editors, "seconds": seconds, "edits": made, "per_editor": done,
            "rows_found": len(rows), "log_found": len(log),
            "edits_per_s": round(made / wall, 1),
            "latency_median_ms": round(statistics.median(lat) * 1e3, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", choices=["town", "city"], default="city")
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--editors", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--json", default=None, help="also write the figures to this file")
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    path = _store(args.scale)
    os.environ["WANGGE_NOW"] = _anchor(path) + "T12:00:00"
    from layers.store import open_store

    t0 = time.perf_counter()
    single, jobs = _candidates(path, args.repeat + 2, 40 * int(args.seconds) * args.editors)
    print(f"{args.scale}: picked {len(single)} single edits and {len(jobs):,} free buildings "
          f"in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    size0 = path.stat().st_size
    figures = {"scale": args.scale, "store_bytes": size0, "cores": os.cpu_count()}
    figures["single"] = single_edits(path, single, args.repeat)
    figures["coverage"] = coverage_after(path, figures["single"]["assigned"])
    figures["concurrent"] = concurrent(path, jobs, args.editors, args.seconds)
    t0 = time.perf_counter()
    open_store(path).read()  # the whole store still validates, geometry included
    print(f"the store still validates in full ({time.perf_counter() - t0:.1f} s); file "
          f"{size0 / 1e6:.0f} MB → {path.stat().st_size / 1e6:.0f} MB")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
