"""Benchmark (issue 15): ``python -m layers coverage STORE`` end to end beside a naive geopandas
script giving the same answer, run side by side in the same run.

Usage::

    python bench/bench_cli_coverage.py                       # bench/out/city.gpkg, 1 run each
    python bench/bench_cli_coverage.py --runs 3              # median of 3 (interleaved)
    python bench/bench_cli_coverage.py --store geodata/demo_town.gpkg
    python bench/bench_cli_coverage.py --read                # + Store.read() of every layer

``--read`` also times, in fresh processes, reading every layer of the store with
``Store.read()`` (the integrity check) and ``Store.read(full_check=True)`` (what every read
did before issue 15): the read's own seconds, and the process's peak RSS.

Both are whole commands started as subprocesses (interpreter start, imports, reading the
GeoPackage, the analysis, printing): wall time, and peak RSS of the child from ``os.wait4``.
Runs alternate (CLI, naive, CLI, naive …) so that a busy shared machine slows both alike.

The naive script (:func:`naive`, this file run with a hidden ``--naive``) is what an analyst
would write with geopandas' defaults: ``gpd.read_file`` of grids, buildings, people and
assignments, the assignments in force, ``merge``/``groupby`` counts of sentinels per grid and
members per building, households per sentinel, unassigned party members, and building
centroids ``sjoin``-ed into grids for the buildings outside their grid. It prints the
headline numbers as JSON; the CLI's are read from its table output. The two must agree.

A second naive variant reads with ``use_arrow=True`` (one keyword, geopandas' documented fast
path; ``--no-arrow`` skips it). Target: the CLI no slower than the naive script (issue 15:
42 s vs 18.8 s when filed).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

#: The headline numbers both sides must agree on.
HEADLINES = ("grids", "grids_without_sentinel", "households", "buildings",
             "buildings_without_member", "overloaded_sentinels", "unassigned_party_members",
             "buildings_outside_grid")


# -- the naive geopandas script -----------------------------------------------------------------
def naive(path: str, day: str, max_households: int, arrow: bool) -> dict[str, int]:
    """The coverage headline numbers with plain geopandas: whole layers, merges, groupby,
    ``sjoin``; ``arrow`` reads with ``use_arrow=True`` (geopandas' documented fast path)."""
    import geopandas as gpd
    import pandas as pd

    grids = gpd.read_file(path, layer="grids", use_arrow=arrow)
    buildings = gpd.read_file(path, layer="buildings", use_arrow=arrow)
    people = gpd.read_file(path, layer="people", use_arrow=arrow)
    a = pd.DataFrame(gpd.read_file(path, layer="assignments", use_arrow=arrow))

    d = pd.Timestamp(day)
    since, until = pd.to_datetime(a["since"]), pd.to_datetime(a["until"])
    act = a[a["active"].astype(bool) & (since.isna() | (since < d + pd.Timedelta(days=1)))
            & (until.isna() | (until >= d))]
    # households per grid: its buildings' (a grid without buildings keeps its own)
    hh_b = buildings.groupby("grid_code", as_index=False)["households"].sum()
    g = grids[["code", "households"]].merge(hh_b, left_on="code", right_on="grid_code",
                                            how="left", suffixes=("", "_b"))
    g["hh"] = g["households_b"].fillna(g["households"])
    # sentinels per grid, households per sentinel
    sent = act[act["role"] == "grid_sentinel"].merge(g[["code", "hh"]], left_on="target_code",
                                                     right_on="code")
    n_sent = sent.groupby("code").size().rename("n_sent").reset_index()
    g = g.merge(n_sent, on="code", how="left")
    load = sent.groupby("person_id")["hh"].sum()
    # members per building; party members holding nothing
    per_b = act[act["role"] == "building_member"].groupby("target_code").size().rename("n")
    b = buildings[["code"]].merge(per_b.reset_index(), left_on="code", right_on="target_code",
                                  how="left")
    held = act[["person_id"]].drop_duplicates().assign(held=True)
    p = people.merge(held, on="person_id", how="left")
    pool = p["is_party_member"].astype(bool) & p["held"].isna() & p.geometry.notna()
    # buildings whose centroid is not in their own grid
    pts = gpd.GeoDataFrame({"grid_code": buildings["grid_code"]},
                           geometry=buildings.geometry.centroid, crs=buildings.crs)
    joined = gpd.sjoin(pts, grids[["code", "geometry"]], how="left", predicate="within")
    own = (joined["code"] == joined["grid_code"]).groupby(level=0).any()
    return {
        "grids": len(grids),
        "grids_without_sentinel": int(g["n_sent"].isna().sum()),
        "households": int(round(g["hh"].sum())),
        "buildings": len(buildings),
        "buildings_without_member": int(b["n"].isna().sum()),
        "overloaded_sentinels": int((load > max_households).sum()),
        "unassigned_party_members": int(pool.sum()),
        "buildings_outside_grid": int((~own).sum()),
    }


# -- a whole-store read, as the dashboard does at start ----------------------------------------------
def read_store(path: str, full: bool) -> dict[str, float]:
    """Seconds to read every layer with the integrity check (or the full validation)."""
    from layers.store import open_store

    t0 = time.perf_counter()
    data = open_store(path).read(full_check=full)
    return {"read_s": time.perf_counter() - t0, "rows": sum(len(data[n]) for n in data)}


# -- the CLI's numbers, from its table output ---------------------------------------------------
def cli_headlines(out: str) -> dict[str, int]:
    """Headline numbers from ``python -m layers coverage``'s table output."""
    def count(title: str) -> int:
        m = re.search(rf"== [^=]*{re.escape(title)} \((\d+)\) ==", out)
        return int(m.group(1)) if m else 0

    total = next(line for line in out.splitlines() if line.strip().startswith("town "))
    t = total.split()  # town 合计 total grids gws gcov hh hhws buildings bwm bcov over unassigned
    return {
        "grids": int(t[3]),
        "grids_without_sentinel": count("grids without sentinel"),
        "households": int(t[6]),
        "buildings": int(t[8]),
        "buildings_without_member": count("buildings without member"),
        "overloaded_sentinels": count("overloaded sentinels"),
        "unassigned_party_members": int(t[12]),
        "buildings_outside_grid": count("buildings outside their grid"),
    }


# -- measuring ------------------------------------------------------------------------------------
def run(args: list[str], cwd: Path = ROOT) -> tuple[float, float, float, str]:
    """Wall seconds, CPU seconds (user + system, all threads), peak RSS (GB) and stdout of
    one command run to its end in ``cwd``."""
    with tempfile.TemporaryFile("w+", encoding="utf-8") as out:
        t0 = time.perf_counter()
        p = subprocess.Popen(args, cwd=cwd, stdout=out, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        if p.returncode:
            raise SystemExit(f"{' '.join(args)} exited with {p.returncode}")
        out.seek(0)
        return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024**2, out.read()


def stored_day(store: Path) -> str:
    """The day whose stored dates the CLI evaluates today: a demo store's dates follow the
    clock (shifted from its ``date_anchor`` to today), so that is its anchor day."""
    from layers import clock

    with sqlite3.connect(f"{store.resolve().as_uri()}?mode=ro", uri=True) as con:
        row = con.execute("SELECT value FROM store_meta WHERE key = 'date_anchor'").fetchone()
    return row[0] if row else clock.today().isoformat()


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", default=str(ROOT / "bench" / "out" / "city.gpkg"))
    ap.add_argument("--runs", type=int, default=1, help="runs of each (median reported)")
    ap.add_argument("--no-arrow", dest="arrow", action="store_false",
                    help="skip the naive script's use_arrow=True variant")
    ap.add_argument("--before", metavar="DIR",
                    help="also run the CLI of an older checkout (a folder holding its layers/ "
                         "package, e.g. from `git archive REV layers | tar -x -C DIR`)")
    ap.add_argument("--read", action="store_true",
                    help="also time Store.read() of every layer, integrity check vs full check")
    ap.add_argument("--naive", nargs=4, metavar=("STORE", "DAY", "MAX_HH", "ARROW"),
                    help=argparse.SUPPRESS)
    ap.add_argument("--read-child", nargs=2, metavar=("STORE", "FULL"), help=argparse.SUPPRESS)
    return ap


def commands(args: argparse.Namespace, store: Path) -> dict[str, list[str]]:
    """The commands to time, by name, in the order they run."""
    from layers.settings import DEFAULT_SETTINGS

    plain = [sys.executable, __file__, "--naive", str(store), stored_day(store),
             str(DEFAULT_SETTINGS.sentinel_max_households)]
    cli = [sys.executable, "-m", "layers", "coverage", str(store)]
    out = {"cli": cli, **({"cli_before": cli} if args.before else {}), "naive": [*plain, "0"]}
    if args.arrow:
        out["naive_arrow"] = [*plain, "1"]
    if args.read:
        for k, full in (("read", "0"), ("read_full", "1")):
            out[k] = [sys.executable, __file__, "--read-child", str(store), full]
    return out


def main() -> None:
    args = parser().parse_args()
    if args.naive:
        path, day, max_hh, arrow = args.naive
        print(json.dumps(naive(path, day, int(max_hh), arrow == "1")))
        return
    if args.read_child:
        print(json.dumps(read_store(args.read_child[0], args.read_child[1] == "1")))
        return
    store = Path(args.store).resolve()
    todo = commands(args, store)
    figures: dict[str, list[tuple[float, float, float]]] = {k: [] for k in todo}
    answers: dict[str, dict[str, int]] = {}
    for _ in range(args.runs):  # interleaved: a busy machine slows every command alike
        for name, cmd in todo.items():
            wall, cpu, rss, out = run(cmd, Path(args.before) if name == "cli_before" else ROOT)
            if name.startswith("read"):
                wall = json.loads(out)["read_s"]  # the read itself, not the process start
            else:
                answers[name] = cli_headlines(out) if name.startswith("cli") else \
                    json.loads(out)
            figures[name].append((wall, cpu, rss))
            print(f"{name:12} {wall:6.1f} s {cpu:6.1f} s CPU {rss:5.2f} GB", file=sys.stderr,
                  flush=True)
    report(store, figures, answers)


LABELS = {"cli": "python -m layers coverage", "naive": "naive geopandas script",
          "naive_arrow": "naive, use_arrow=True", "cli_before": "CLI before (--before)",
          "read": "Store.read(), every layer",
          "read_full": "Store.read(full_check=True)"}


def report(store: Path, figures: dict[str, list[tuple[float, float, float]]],
           answers: dict[str, dict[str, int]]) -> None:
    """Print each command's median wall and CPU time and peak RSS, and whether the answers
    agree (the command fails when they do not)."""
    med = {k: statistics.median(f[0] for f in v) for k, v in figures.items()}
    cpu = {k: statistics.median(f[1] for f in v) for k, v in figures.items()}
    peak = {k: max(f[2] for f in v) for k, v in figures.items()}
    print(f"store {store}  ({os.cpu_count()} cores, {len(figures['cli'])} run(s) each, "
          f"load average {os.getloadavg()[0]:.1f})")
    print(f"{'command':28} {'wall s (median)':>16} {'runs':>22} {'CPU s':>7} "
          f"{'peak RSS GB':>12} {'CLI / this':>10}")
    for k in figures:
        runs = ", ".join(f"{f[0]:.1f}" for f in figures[k])
        ratio = "" if k.startswith("read") else f"{med['cli'] / med[k]:>9.2f}×"
        print(f"{LABELS[k]:28} {med[k]:>16.1f} {runs:>22} {cpu[k]:>7.1f} {peak[k]:>12.2f} "
              f"{ratio:>10}")
    diff = {k: {h: (answers["cli"][h], v[h]) for h in HEADLINES if answers["cli"][h] != v[h]}
            for k, v in answers.items()}
    diff = {k: v for k, v in diff.items() if v}
    print("answers agree: " + ", ".join(f"{h} {answers['cli'][h]:,}" for h in HEADLINES)
          if not diff else f"ANSWERS DIFFER (cli, other): {diff}")
    if diff:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
