"""Command line: ``python -m layers …``.

Commands
--------
demo       generate the fictional demo town (or the city-scale benchmark set) into a GeoPackage
validate   check a store against the layer contract and print the report
coverage   grids without a sentinel, overloaded sentinels, buildings without a member …

Errors go to stderr with a non-zero exit status (2 for bad input data or arguments);
progress goes to stderr, results to stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from tqdm import tqdm

from .errors import LayersError, LayerValidationError
from .settings import Settings

EXIT_OK = 0
EXIT_DATA = 2


class _Steps:
    """Progress over named steps on stderr: a tqdm bar on a terminal, plain lines otherwise."""

    def __init__(self, total: int, quiet: bool) -> None:
        self.quiet = quiet
        self.tty = sys.stderr.isatty()
        self.bar = tqdm(total=total, file=sys.stderr, disable=quiet or not self.tty,
                        unit="step", bar_format="{desc:<28} {n_fmt}/{total_fmt} [{elapsed}]")
        self.started = False
        self.t0 = time.perf_counter()

    def __call__(self, message: str) -> None:
        if self.started:
            self.bar.update(1)
        self.started = True
        self.bar.set_description_str(message)
        if not self.quiet and not self.tty:
            print(f"[{time.perf_counter() - self.t0:6.1f} s] {message}", file=sys.stderr)

    def close(self) -> None:
        if self.started:
            self.bar.update(1)
        self.bar.close()


def _settings(args: argparse.Namespace) -> Settings:
    s = Settings()
    changes = {}
    for name in ("households_per_grid", "sentinel_max_households", "as_of"):
        v = getattr(args, name, None)
        if v is not None:
            changes[name] = v
    return replace(s, **changes) if changes else s


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import generate_demo
    from .store import open_store

    out = Path(args.out)
    store = open_store(out)
    steps = _Steps(9, args.quiet)
    t0 = time.perf_counter()
    kw = {"n_towns": args.towns} if args.towns else {}
    data = generate_demo(args.scale, args.seed, settings=_settings(args), progress=steps,
                         **({"as_of": args.as_of} if args.as_of else {}), **kw)
    steps("writing GeoPackage")
    report = store.write(data)
    seeded = _seed_tickets(out, fresh=True)
    steps.close()
    counts = ", ".join(f"{n} {len(data[n]):,}" for n in data)
    print(f"wrote {out} ({data.meta['label']} / {data.meta['label_en']}) in "
          f"{time.perf_counter() - t0:.1f} s: {counts}; {seeded:,} ticket(s) in "
          f"{_db_name(out)}", file=sys.stderr)
    if report.problems:
        print(report.format(limit=20), file=sys.stderr)
    print(out)
    return EXIT_OK


def _db_name(store: Path) -> str:
    from .tickets import db_path_for

    return db_path_for(store).name


def _seed_tickets(store: Path, *, fresh: bool) -> int:
    """Fill the ticket database beside ``store`` from its ``tickets`` layer (the demo's
    history); ``fresh`` first removes a database left by an earlier store at that path."""
    from .tickets import TicketStore, db_path_for

    db = db_path_for(store)
    if fresh:
        for f in (db, *(db.with_name(db.name + x) for x in ("-wal", "-shm"))):
            f.unlink(missing_ok=True)
    ts = TicketStore.for_store(store, seed=True)
    n = len(ts.frame()) if ts.created else 0
    ts.engine.dispose()
    return n


def cmd_tickets_seed(args: argparse.Namespace) -> int:
    path = Path(args.path)
    _ticket_store(args.path)  # refuses a missing store
    n = _seed_tickets(path, fresh=False)
    print(f"{n:,} ticket(s) imported from the store's tickets layer" if n else
          f"{_db_name(path)} exists already: nothing imported", file=sys.stderr)
    print(n)
    return EXIT_OK


def cmd_validate(args: argparse.Namespace) -> int:
    from .store import open_store
    from .validate import validate

    store = open_store(args.path)
    frames = {n: store.read_layer(n) for n in store.layer_names()}
    from .layerset import LayerSet

    _, report = validate(LayerSet(frames, store.meta()), _settings(args), source=store.location)
    if args.format == "json":
        print(report.to_frame().to_json(orient="records", force_ascii=False))
    else:
        c = report.counts()
        print(report.format() or "no problems")
        print(f"{c['error']} error(s), {c['repaired']} repair(s), {c['warning']} warning(s)")
    return EXIT_OK if report.ok else EXIT_DATA


def cmd_coverage(args: argparse.Namespace) -> int:
    from .coverage import LAYERS_NEEDED, coverage
    from .store import open_store

    steps = _Steps(2, args.quiet)
    steps("reading and validating")
    store = open_store(args.path)
    data = store.read(LAYERS_NEEDED, check_geometry=not args.fast)
    steps("analysing coverage")
    result = coverage(data, _settings(args))
    steps.close()
    if args.format == "json":
        doc = result.to_dict()
        if data.fictional:
            doc["label"] = data.meta.get("label")
        json.dump(doc, sys.stdout, ensure_ascii=False, indent=1)
        sys.stdout.write("\n")
        return EXIT_OK
    import pandas as pd

    with pd.option_context("display.width", 200, "display.max_columns", 20,
                           "display.max_colwidth", 60):
        if data.fictional:
            print(f"【{data.meta.get('label')}】")
        print(f"覆盖分析 coverage as of {result.as_of}")
        print("\n== 各社区汇总 summary ==")
        summary = result.summary.copy()
        summary.loc[summary["community_code"] == "town", "community_name"] = "合计 total"
        print(summary.to_string(index=False))
        print(f"\n== 无哨兵网格 grids without sentinel ({len(result.grids_without_sentinel)}) ==")
        print(" ".join(result.grids_without_sentinel) or "—")
        print(f"\n== 超负荷哨兵 overloaded sentinels ({len(result.overloaded_sentinels)}) ==")
        print(result.overloaded_sentinels.to_string(index=False)
              if len(result.overloaded_sentinels) else "—")
        n = len(result.buildings_without_member)
        print(f"\n== 无楼栋党员楼栋 buildings without member ({n}) ==")
        shown = result.buildings_without_member[:40]
        print(" ".join(shown) + (f" … (+{n - len(shown)})" if n > len(shown) else "") or "—")
        print(f"\n== 建议补位党员 suggested party members ({len(result.suggestions)}) ==")
        print(result.suggestions.to_string(index=False) if len(result.suggestions) else "—")
        if len(result.buildings_outside_grid):
            print(f"\n== 楼栋不在所属网格内 buildings outside their grid "
                  f"({len(result.buildings_outside_grid)}) ==")
            print(result.buildings_outside_grid.head(40).to_string(index=False))
    return EXIT_OK


def _ticket_store(path: str):
    from .tickets import TicketStore

    if not Path(path).exists():
        from .errors import StoreError

        raise StoreError(f"{path}: no such file")
    return TicketStore.for_store(path)


def cmd_tickets_list(args: argparse.Namespace) -> int:
    ts = _ticket_store(args.path)
    df = ts.frame(status=args.status, grid_code=args.grid)
    if args.limit:
        df = df.tail(args.limit)
    if args.format == "json":
        json.dump(ts.records(df), sys.stdout, ensure_ascii=False, default=str)
        sys.stdout.write("\n")
    else:
        import pandas as pd

        cols = ["id", "category", "status", "grid_code", "created_at", "deadline", "overdue"]
        with pd.option_context("display.width", 200, "display.max_rows", 200):
            print(df[cols].to_string(index=False) if len(df) else "—")
        print(f"{len(df)} ticket(s)")
    return EXIT_OK


def cmd_tickets_add(args: argparse.Namespace) -> int:
    ts = _ticket_store(args.path)
    tid = ts.add(args.category, args.lon, args.lat, args.text, reporter=args.reporter,
                 building_code=args.building, by=args.by)
    t = ts.get(tid)
    print(f"received in grid {t['grid_code']} ({t['community_code']}), deadline "
          f"{t['deadline']}", file=sys.stderr)
    print(tid)
    return EXIT_OK


def cmd_tickets_move(args: argparse.Namespace) -> int:
    ts = _ticket_store(args.path)
    t = ts.move(args.id, args.to, by=args.by, note=args.note,
                expected_version=args.expect_version, handler=args.handler)
    print(f"{t['id']}: {t['status']} (version {t['version']})")
    return EXIT_OK


def cmd_tickets_show(args: argparse.Namespace) -> int:
    from .tickets import to_json

    t = _ticket_store(args.path).get(args.id)
    if args.format == "json":
        print(to_json(t))
    else:
        for k in ("id", "category", "status", "grid_code", "community_code", "building_code",
                  "reporter", "created_at", "deadline", "closed_at", "overdue", "version",
                  "text"):
            print(f"{k:15} {t.get(k)}")
        print("history:")
        for h in t["history"]:
            print(f"  {h['seq']:>2} {h['at']}  {h['status']:18} {h.get('by') or ''} "
                  f"{h.get('note') or ''}")
    return EXIT_OK


def cmd_tickets_export(args: argparse.Namespace) -> int:
    from .tickets import reports as tr

    ts = _ticket_store(args.path)
    if args.format == "open311":
        n = tr.write_open311(ts, args.out)
    else:
        from .store import open_store

        comms = open_store(args.path).read(["communities"], check_geometry=False).communities
        Path(args.out).write_bytes(tr.joint_meeting_excel(
            ts, dict(zip(comms["code"], comms["name"], strict=True))))
        n = None
    print(f"wrote {args.out}" + (f" ({n} requests)" if n is not None else ""), file=sys.stderr)
    print(args.out)
    return EXIT_OK


def cmd_tickets_import(args: argparse.Namespace) -> int:
    from .tickets import reports as tr

    ts = _ticket_store(args.path)
    if args.format == "open311":
        ids = tr.from_open311(ts, json.loads(Path(args.file).read_text(encoding="utf-8")),
                              crs=args.crs)
    else:
        ids = tr.import_hotline_csv(ts, args.file, crs=args.crs)
    print(f"received {len(ids)} ticket(s)", file=sys.stderr)
    for i in ids:
        print(i)
    return EXIT_OK


def cmd_reach(args: argparse.Namespace) -> int:
    from . import network
    from .reach import reach
    from .store import open_store

    steps = _Steps(3, args.quiet)
    steps("reading and validating")
    store = open_store(args.path)
    names = ["towns", "communities", "grids", "buildings", "care_points", "parking"]
    if "roads" in store.layer_names():
        names.append("roads")
    data = store.read(names, check_geometry=False)
    steps("walking network")
    net = None
    if not args.straight:
        net = network.cached(args.path, data.get("roads"),
                             osm=args.osm)
    steps("distances")
    result = reach(data, net, _settings(args))
    steps.close()
    if args.format == "json":
        doc = result.to_dict()
        doc["network"] = None if net is None else {
            "source": net.source, "nodes": net.n_nodes, "edges": net.n_edges, "crs": net.crs}
        json.dump(doc, sys.stdout, ensure_ascii=False)
        sys.stdout.write("\n")
        return EXIT_OK
    import pandas as pd

    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(f"method: {result.method}" + (f" ({net.source}, {net.n_nodes:,} nodes)"
                                            if net else ""))
        print(result.summary[result.summary["level"] != "grid"].to_string(index=False))
        far = result.buildings.sort_values("elder_care_m", ascending=False).head(15)
        print("\nfarthest from elder care:")
        print(far[["code", "households", "elder_care_m", "child_care_m", "parking_m"]]
              .round(0).to_string(index=False))
    return EXIT_OK


def cmd_import(args: argparse.Namespace) -> int:
    from .importer import import_file
    from .store import open_store

    mapping: dict[str, str] = {}
    if args.mapping:
        mapping.update(json.loads(Path(args.mapping).read_text(encoding="utf-8")))
    for pair in args.map or []:
        if "=" not in pair:
            raise ValueError(f"--map {pair!r}: expected SOURCE=TARGET")
        a, b = pair.split("=", 1)
        mapping[a.strip()] = b.strip()
    steps = _Steps(2, args.quiet)
    steps(f"reading {Path(args.file).name}")
    result = import_file(open_store(args.path), args.file, args.layer,
                         mode="append" if args.append else "replace", crs=args.crs,
                         encoding=args.encoding, mapping=mapping,
                         force_outside_region=args.force_outside_region)
    steps.close()
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    if result.report.problems:
        print(result.report.format(limit=30), file=sys.stderr)
    print(f"{result.layer}: {result.rows} row(s) now in the store")
    return EXIT_OK


def cmd_partition(args: argparse.Namespace) -> int:
    from .importer import partition_new_communities, read_source
    from .store import open_store

    buildings = None
    if args.buildings:
        buildings, problems, notes = read_source(args.buildings, "buildings", crs=args.crs)
        for note in notes:
            print(f"note: {note}", file=sys.stderr)
        if problems:
            from .validate import ValidationReport

            raise LayerValidationError(ValidationReport(problems), args.buildings)
    n_grids, n_b = partition_new_communities(open_store(args.path), buildings,
                                             settings=_settings(args))
    print(f"added {n_grids} grid(s) and {n_b} building(s)")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m layers", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("demo", help="generate the fictional demo data into a GeoPackage")
    d.add_argument("--out", required=True, help="the .gpkg file to write (replaced atomically)")
    d.add_argument("--scale", choices=["town", "city"], default="town")
    d.add_argument("--seed", type=int, default=7)
    d.add_argument("--towns", type=int, default=None, help="number of towns for --scale city")
    d.add_argument("--as-of", dest="as_of", default=None,
                   help="the data's 'today', YYYY-MM-DD (default: a fixed date, reproducible)")
    d.add_argument("--households-per-grid", dest="households_per_grid", type=int)
    d.set_defaults(func=cmd_demo)

    v = sub.add_parser("validate", help="check a store against the layer contract")
    v.add_argument("path")
    v.add_argument("--format", choices=["table", "json"], default="table")
    v.set_defaults(func=cmd_validate)

    c = sub.add_parser("coverage", help="sentinel and building-member coverage analysis")
    c.add_argument("path")
    c.add_argument("--format", choices=["table", "json"], default="table")
    c.add_argument("--as-of", dest="as_of", default=None, help="evaluate on this date")
    c.add_argument("--sentinel-max-households", dest="sentinel_max_households", type=int)
    c.add_argument("--fast", action="store_true",
                   help="skip the geometric part of validation on load (large stores)")
    c.set_defaults(func=cmd_coverage)

    tk = sub.add_parser("tickets", help="residents' requests: list, add, move, show")
    tsub = tk.add_subparsers(dest="tickets_command", required=True)
    tl = tsub.add_parser("list", help="list tickets")
    tl.add_argument("path", help="the layer store (.gpkg); tickets live beside it")
    tl.add_argument("--format", choices=["table", "json"], default="table")
    tl.add_argument("--status", default=None)
    tl.add_argument("--grid", default=None)
    tl.add_argument("--limit", type=int, default=None)
    tl.set_defaults(func=cmd_tickets_list)
    ta = tsub.add_parser("add", help="receive a ticket; prints its id on the last line")
    ta.add_argument("path")
    ta.add_argument("--category", required=True)
    ta.add_argument("--lon", type=float, required=True)
    ta.add_argument("--lat", type=float, required=True)
    ta.add_argument("--text", required=True)
    ta.add_argument("--reporter", default="resident")
    ta.add_argument("--building", default=None)
    ta.add_argument("--by", default=None)
    ta.set_defaults(func=cmd_tickets_add)
    tm = tsub.add_parser("move", help="move a ticket to another status")
    tm.add_argument("path")
    tm.add_argument("id")
    tm.add_argument("--to", required=True)
    tm.add_argument("--note", default=None)
    tm.add_argument("--by", default=None)
    tm.add_argument("--handler", default=None)
    tm.add_argument("--expect-version", dest="expect_version", type=int, default=None)
    tm.set_defaults(func=cmd_tickets_move)
    tsh = tsub.add_parser("show", help="one ticket with its history")
    tsh.add_argument("path")
    tsh.add_argument("id")
    tsh.add_argument("--format", choices=["table", "json"], default="table")
    tsh.set_defaults(func=cmd_tickets_show)

    tse = tsub.add_parser("seed", help="create the ticket database from the store's tickets "
                                      "layer (import material, e.g. the demo's history); "
                                      "nothing happens when it exists")
    tse.add_argument("path")
    tse.set_defaults(func=cmd_tickets_seed)
    te = tsub.add_parser("export", help="Open311 GeoReport v2 JSON, or the joint-meeting "
                                        "Excel (escalated and overdue tickets by community)")
    te.add_argument("path")
    te.add_argument("--format", choices=["open311", "excel"], required=True)
    te.add_argument("--out", required=True)
    te.set_defaults(func=cmd_tickets_export)
    ti = tsub.add_parser("import", help="receive tickets from Open311 JSON or a hotline CSV")
    ti.add_argument("path")
    ti.add_argument("file")
    ti.add_argument("--format", choices=["open311", "csv"], required=True)
    ti.add_argument("--crs", default="wgs84", help="wgs84, gcj02 or bd09 (web-map exports)")
    ti.set_defaults(func=cmd_tickets_import)

    r = sub.add_parser("reach", help="walking distance to elder care, child care and parking")
    r.add_argument("path")
    r.add_argument("--osm", default=None,
                   help="a local OpenStreetMap file (.osm, .osm.bz2, .osm.gz) for the network; "
                        "default: the store's roads layer")
    r.add_argument("--straight", action="store_true", help="straight-line distances only")
    r.add_argument("--format", choices=["table", "json"], default="table")
    r.set_defaults(func=cmd_reach)

    im = sub.add_parser("import", help="bring a file into a layer of the store")
    im.add_argument("path", help="the store (.gpkg)")
    im.add_argument("file", help="CSV, Excel, shapefile (.shp or .zip), GeoJSON or GeoPackage")
    im.add_argument("--layer", required=True)
    im.add_argument("--crs", default=None,
                    help="EPSG:nnnn (e.g. EPSG:4544), gcj02 or bd09; default: the file's")
    im.add_argument("--encoding", default=None, help="text encoding (default: detected)")
    im.add_argument("--map", action="append", metavar="SRC=DST", help="rename a column")
    im.add_argument("--mapping", default=None, help="a JSON file of column renames")
    mode = im.add_mutually_exclusive_group()
    mode.add_argument("--replace", action="store_true", help="replace the layer (default)")
    mode.add_argument("--append", action="store_true", help="add to the layer")
    im.add_argument("--force-outside-region", action="store_true",
                    help="import features outside the store's area too (normally refused: "
                         "they usually mean a wrong --crs / .prj)")
    im.set_defaults(func=cmd_import)

    pa = sub.add_parser("partition", help="cut grids for communities that have none")
    pa.add_argument("path")
    pa.add_argument("--buildings", default=None,
                    help="a buildings file to place in them (grid and building codes made)")
    pa.add_argument("--crs", default=None)
    pa.add_argument("--households-per-grid", dest="households_per_grid", type=int)
    pa.set_defaults(func=cmd_partition)

    for sp in (d, v, c, tl, ta, tm, tsh, te, ti, r, im, pa):
        sp.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "quiet"):
        args.quiet = False
    try:
        return args.func(args)
    except LayerValidationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_DATA
    except (LayersError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_DATA
    except KeyboardInterrupt:  # pragma: no cover
        print("interrupted", file=sys.stderr)
        return 130
