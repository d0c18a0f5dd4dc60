"""Command line: ``python -m layers …``.

Commands
--------
demo       generate the fictional demo town (or the city-scale benchmark set) into a GeoPackage
validate   check a store against the layer contract and print the report
coverage   grids without a sentinel, overloaded sentinels, buildings without a member …
people     the people register: add, edit, leave, left
assign     give a person a role on a grid or building (or accept the suggestions)
unassign   end a person's assignment on a target
history    the change log of a target or a person
users      accounts of the dashboard: add, list, disable, enable, passwd
audit      the audit log (logins, reveals, exports, account changes, changes, ticket moves)
new        create a store from an OSM extract (and a communities file)
partition  cut grids for communities that have none

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
from typing import Any

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

    out = args.out
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
    print(f"wrote {store.location} ({data.meta['label']} / {data.meta['label_en']}) in "
          f"{time.perf_counter() - t0:.1f} s: {counts}; {seeded:,} ticket(s) in "
          f"{_db_name(out)}", file=sys.stderr)
    if report.problems:
        print(report.format(limit=20), file=sys.stderr)
    print(store.location)
    return EXIT_OK


def _db_name(store: str | Path) -> str:
    from .store import open_store

    return open_store(store).ticket_tables().name


def _seed_tickets(store: str | Path, *, fresh: bool) -> int:
    """Fill the store's tickets from its ``tickets`` layer (the demo's history); ``fresh``
    first removes a GeoPackage's ticket database left by an earlier store at that path."""
    from .auth.principal import Principal
    from .store import is_url
    from .tickets import TicketStore, db_path_for

    if fresh and not is_url(store):
        db = db_path_for(store)
        for f in (db, *(db.with_name(db.name + x) for x in ("-wal", "-shm"))):
            f.unlink(missing_ok=True)
    ts = TicketStore.for_store(store, seed=True)
    n = len(ts.frame(principal=Principal.system("count"))) if ts.created else 0
    ts.close()
    return n


def cmd_tickets_seed(args: argparse.Namespace) -> int:
    path = args.path
    _ticket_store(args.path)  # refuses a missing store
    n = _seed_tickets(path, fresh=False)
    print(f"{n:,} ticket(s) imported from the store's tickets layer" if n else
          f"{_db_name(path)} exists already: nothing imported", file=sys.stderr)
    print(n)
    return EXIT_OK


def cmd_validate(args: argparse.Namespace) -> int:
    """The contract's checks plus what a store in the middle of set-up still lacks
    (:func:`~layers.validate.readiness`): a store that validates is one every command takes."""
    from .layerset import LayerSet
    from .store import open_store
    from .validate import ValidationReport, readiness, validate

    store = open_store(args.path)
    frames = {n: store.read_layer(n)
              for n in store.layer_names()}
    data = LayerSet(frames, store.meta())
    _, found = validate(data, _settings(args), source=store.location)
    missing = readiness(data, str(args.path))
    report = ValidationReport(missing + found.problems, source=store.location)
    if args.format == "json":
        print(report.to_frame().to_json(orient="records", force_ascii=False))
    else:
        if missing:
            print("still missing (set-up not finished):")
            print("\n".join(f"  - [{p.severity}] {p.layer}: {p.message}" for p in missing))
        print(found.format() or "no problems")
        c = report.counts()
        print(f"{c['error']} error(s), {c['repaired']} repair(s), {c['warning']} warning(s)")
    return EXIT_OK if report.ok else EXIT_DATA


def cmd_coverage(args: argparse.Namespace) -> int:
    """The coverage analysis of a store. It reads only the columns the analysis uses with the
    store's cheap integrity check (what the store wrote was validated when written);
    ``--full-check`` validates the layers fully first, as ``validate`` does."""
    from .coverage import COLUMNS_NEEDED, LAYERS_NEEDED, coverage
    from .store import open_store

    steps = _Steps(2, args.quiet)
    store = open_store(args.path)
    if args.full_check:
        steps("reading and validating")
        data = store.read(LAYERS_NEEDED, full_check=True)
    else:
        steps("reading")
        data = store.read(list(COLUMNS_NEEDED), columns=COLUMNS_NEEDED)
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


def _operator(args: argparse.Namespace | None = None):
    """The principal the CLI acts as: the server's operator (whole area, full data), named by
    ``--by`` (default ``cli``) — what the change log and the ticket history record."""
    from .auth.principal import Principal

    return Principal.operator(getattr(args, "by", None))


def _ticket_store(path: str):
    from .tickets import TicketStore

    return TicketStore.for_store(_existing(path))


def cmd_tickets_list(args: argparse.Namespace) -> int:
    ts = _ticket_store(args.path)
    op = _operator()
    df = ts.frame(principal=op, status=args.status, grid_code=args.grid)
    if args.limit:
        df = df.tail(args.limit)
    if args.format == "json":
        json.dump(ts.records(df, principal=op), sys.stdout, ensure_ascii=False, default=str)
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
    op = _operator(args)
    tid = ts.add(args.category, args.lon, args.lat, args.text, reporter=args.reporter,
                 building_code=args.building, principal=op)
    t = ts.get(tid, principal=op)
    print(f"received in grid {t['grid_code']} ({t['community_code']}), deadline "
          f"{t['deadline']}", file=sys.stderr)
    print(tid)
    return EXIT_OK


def cmd_tickets_move(args: argparse.Namespace) -> int:
    ts = _ticket_store(args.path)
    t = ts.move(args.id, args.to, principal=_operator(args), note=args.note,
                expected_version=args.expect_version, handler=args.handler)
    print(f"{t['id']}: {t['status']} (version {t['version']})")
    return EXIT_OK


def cmd_tickets_show(args: argparse.Namespace) -> int:
    from .tickets import to_json

    t = _ticket_store(args.path).get(args.id, principal=_operator())
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
        n = tr.write_open311(ts, args.out, principal=_operator())
    else:
        from .store import open_store

        comms = open_store(args.path).read(["communities"], check_geometry=False).communities
        Path(args.out).write_bytes(tr.joint_meeting_excel(
            ts, dict(zip(comms["code"], comms["name"], strict=True)), principal=_operator()))
        n = None
    print(f"wrote {args.out}" + (f" ({n} requests)" if n is not None else ""), file=sys.stderr)
    print(args.out)
    return EXIT_OK


def cmd_tickets_import(args: argparse.Namespace) -> int:
    from .tickets import reports as tr

    ts = _ticket_store(args.path)
    if args.format == "open311":
        ids = tr.from_open311(ts, json.loads(Path(args.file).read_text(encoding="utf-8")),
                              crs=args.crs, principal=_operator(args))
    else:
        ids = tr.import_hotline_csv(ts, args.file, crs=args.crs, principal=_operator(args))
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
    """A file into a layer; ``people`` and ``assignments`` registers are added to (with
    change-log entries), never replaced."""
    from .importer import REGISTER_LAYERS, import_file
    from .store import open_store

    mapping: dict[str, str] = {}
    if args.mapping:
        mapping.update(json.loads(Path(args.mapping).read_text(encoding="utf-8")))
    for pair in args.map or []:
        if "=" not in pair:
            raise ValueError(f"--map {pair!r}: expected SOURCE=TARGET")
        a, b = pair.split("=", 1)
        mapping[a.strip()] = b.strip()
    register = args.layer in REGISTER_LAYERS
    if register and args.replace:
        raise ValueError(f"--replace: the {args.layer} register is added to, never replaced "
                         "(its change log refers to every row)")
    steps = _Steps(2, args.quiet)
    steps(f"reading {Path(args.file).name}")
    result = import_file(open_store(args.path), args.file, args.layer,
                         mode="append" if args.append else "replace", crs=args.crs,
                         encoding=args.encoding, mapping=mapping,
                         force_outside_region=args.force_outside_region,
                         principal=_operator(args))
    steps.close()
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    if result.report.problems:
        print(result.report.format(limit=30), file=sys.stderr)
    if register:
        print(f"{result.layer}: {len(result.frame)} row(s) added")
    print(f"{result.layer}: {result.rows} row(s) now in the store")
    return EXIT_OK


def cmd_partition(args: argparse.Namespace) -> int:
    """Grids for the communities without any, from the store's buildings (or ``--buildings``);
    buildings outside every community are counted and listed."""
    from .importer import read_source
    from .osm import OSM_ATTRIBUTION, is_osm
    from .partition import partition_store
    from .store import open_store

    buildings = None
    if args.buildings:
        buildings, problems, notes = read_source(args.buildings, "buildings", crs=args.crs)
        for note in notes:
            print(f"note: {note}", file=sys.stderr)
        errors = [p for p in problems if p.severity == "error"]
        if errors:
            from .validate import ValidationReport

            raise LayerValidationError(ValidationReport(errors), args.buildings)
    store = open_store(args.path)
    report = partition_store(store, buildings, settings=_settings(args))
    if args.buildings and is_osm(args.buildings):  # the ODbL credit travels with the data
        store.transform(lambda _current: {}, meta={
            "attribution_buildings": OSM_ATTRIBUTION, "source_buildings": Path(args.buildings).name})
    print("\n".join(report.lines()))
    return EXIT_OK


def cmd_new(args: argparse.Namespace) -> int:
    """A new store from an OSM extract (and a communities file); prints what it made and
    what it left out."""
    from .newstore import new_store

    steps = _Steps(6 if args.fictional_people else 5, args.quiet)
    report = new_store(args.path, args.osm, communities=args.communities, crs=args.crs,
                       town_name=args.town_name, town_code=args.town_code,
                       fictional_people=args.fictional_people, seed=args.seed,
                       settings=_settings(args), progress=steps)
    steps.close()
    if report.report.problems:
        print(report.report.format(limit=20), file=sys.stderr)
    print("\n".join(report.lines()))
    return EXIT_OK


def _print_frame(df, fmt: str, columns: list[str] | None = None) -> None:
    """A table (or JSON records) on stdout: dates as ISO text, dicts as JSON."""
    import pandas as pd

    if fmt == "json":
        recs = df.astype(object).where(df.notna(), None).to_dict(orient="records")
        json.dump(recs, sys.stdout, ensure_ascii=False, default=_json_value)
        sys.stdout.write("\n")
        return
    shown = df[columns] if columns else df
    with pd.option_context("display.width", 220, "display.max_columns", 20,
                           "display.max_colwidth", 80, "display.max_rows", 500):
        print(shown.to_string(index=False) if len(shown) else "—")


def _json_value(v: object) -> object:
    import datetime as dt

    if isinstance(v, dt.datetime | dt.date):
        return v.isoformat()
    return str(v)


def cmd_people_add(args: argparse.Namespace) -> int:
    from .register import add_person
    from .store import open_store

    if (args.lon is None) != (args.lat is None):
        raise ValueError("--lon and --lat go together")
    home = (args.lon, args.lat) if args.lon is not None else None
    pid = add_person(open_store(_existing(args.path)), name=args.name, phone=args.phone,
                     party_member=args.party_member, building=args.building,
                     principal=_operator(args), home=home)
    print(f"added {pid}", file=sys.stderr)
    print(pid)
    return EXIT_OK


def cmd_people_edit(args: argparse.Namespace) -> int:
    from .register import edit_person
    from .store import open_store

    changes: dict[str, Any] = {}  # argparse values
    for name, key in (("name", "name"), ("phone", "phone"), ("building", "home_building_code"),
                      ("party_member", "is_party_member")):
        if getattr(args, name) is not None:
            changes[key] = getattr(args, name)
    if not changes:
        raise ValueError("nothing to change: give --name, --phone, --building or "
                         "--party-member/--not-party-member")
    edit_person(open_store(_existing(args.path)), args.person_id, principal=_operator(args),
                **changes)
    print(f"{args.person_id}: changed {', '.join(changes)}")
    return EXIT_OK


def cmd_people_leave(args: argparse.Namespace) -> int:
    from .register import leave
    from .store import open_store

    n = leave(open_store(_existing(args.path)), args.person_id, date=args.date,
              reason=args.reason, principal=_operator(args))
    print(f"{args.person_id} left; {n} assignment(s) ended", file=sys.stderr)
    print(n)
    return EXIT_OK


def cmd_people_left(args: argparse.Namespace) -> int:
    from .register import people_left
    from .store import open_store

    _print_frame(people_left(open_store(_existing(args.path))), args.format)
    return EXIT_OK


def cmd_assign(args: argparse.Namespace) -> int:
    from .register import accept_suggestions, assign
    from .store import open_store

    store = open_store(_existing(args.path))
    if args.accept_suggestions:
        if args.person or args.role or args.target:
            raise ValueError("--accept-suggestions takes no --person, --role or --target")
        n = accept_suggestions(store, community=args.community, principal=_operator(args))
        print(f"{n} sentinel assignment(s) made from the suggestions", file=sys.stderr)
        print(n)
        return EXIT_OK
    missing = [f"--{k}" for k in ("person", "role", "target") if not getattr(args, k)]
    if missing:
        raise ValueError(f"assign needs {', '.join(missing)} (or --accept-suggestions)")
    expected = None
    if args.expect_holders is not None:
        expected = [p for p in args.expect_holders.split(",") if p.strip()]
    assign(store, person_id=args.person, role=args.role, target=args.target, since=args.since,
           replace=args.replace, expected_holders=expected, principal=_operator(args))
    print(f"{args.person}: {args.role} of {args.target}")
    return EXIT_OK


def cmd_unassign(args: argparse.Namespace) -> int:
    from .register import unassign
    from .store import open_store

    n = unassign(open_store(_existing(args.path)), person_id=args.person, target=args.target,
                 until=args.until, reason=args.reason, principal=_operator(args))
    print(f"{args.person}: {n} assignment(s) on {args.target} ended", file=sys.stderr)
    print(n)
    return EXIT_OK


def cmd_history(args: argparse.Namespace) -> int:
    from .register import history
    from .store import open_store

    if not (args.target or args.person):
        raise ValueError("history needs --target CODE or --person ID")
    h = history(open_store(_existing(args.path)), principal=_operator(), target=args.target,
                person=args.person)
    _print_frame(h, args.format, ["when", "by", "action", "person_id", "target_code", "role",
                                  "before", "after", "reason", "source"])
    return EXIT_OK


def _existing(path: str) -> str:
    """Row edits change an existing store; a missing one is an error, never a new store."""
    from .errors import StoreError
    from .store import is_url, open_store

    if is_url(path):
        if not open_store(path).exists():
            raise StoreError(f"{open_store(path).location}: no such store")
    elif not Path(path).is_file():
        raise StoreError(f"{path}: no such file")
    return path


def _password(path: str | None) -> str | None:
    """The first line of a password file (``-``: standard input), without its newline."""
    if path is None:
        return None
    text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    lines = text.splitlines()
    if not lines or not lines[0]:
        raise ValueError(f"{path}: the password file's first line is empty")
    return lines[0]


def _codes_arg(text: str | None) -> list[str]:
    return [c.strip() for c in (text or "").split(",") if c.strip()]


def _accounts(path: str):
    """The accounts of the store at ``path`` (a ``.gpkg`` file or a ``postgresql://`` URL); a
    missing store is refused by every method (``StoreError``, e.g. "no such file")."""
    from .auth.accounts import Accounts

    return Accounts(path)


def cmd_users_add(args: argparse.Namespace) -> int:
    token = _accounts(args.path).add(
        args.name, args.role, password=_password(args.password_file),
        communities=_codes_arg(args.communities), grids=_codes_arg(args.grids), by=args.by)
    print(f"added account {args.name} ({args.role})", file=sys.stderr)
    if token is None:
        print(args.name)
        return EXIT_OK
    print("the kiosk's token follows; it is shown only this once (only its hash is kept)",
          file=sys.stderr)
    print(token)
    return EXIT_OK


def cmd_users_list(args: argparse.Namespace) -> int:
    df = _accounts(args.path).list()
    if args.format == "table":
        for c in ("communities", "grids"):
            df[c] = df[c].map(",".join)
    _print_frame(df, args.format)
    return EXIT_OK


def cmd_users_disable(args: argparse.Namespace) -> int:
    _accounts(args.path).disable(args.name, by=args.by)
    print(f"{args.name}: disabled")
    return EXIT_OK


def cmd_users_enable(args: argparse.Namespace) -> int:
    token = _accounts(args.path).enable(args.name, by=args.by)
    print(f"{args.name}: enabled")
    if token is not None:
        print("the kiosk's new token follows; it is shown only this once", file=sys.stderr)
        print(token)
    return EXIT_OK


def cmd_users_passwd(args: argparse.Namespace) -> int:
    password = _password(args.password_file)
    assert password is not None  # a required option
    _accounts(args.path).set_password(args.name, password, by=args.by)
    print(f"{args.name}: password set")
    return EXIT_OK


def cmd_audit(args: argparse.Namespace) -> int:
    import datetime as dt

    since = None
    if args.since is not None:
        try:
            since = dt.datetime.fromisoformat(args.since)
        except ValueError:
            raise ValueError(f"--since {args.since!r}: expected YYYY-MM-DD or an ISO "
                             "time") from None
    log = _accounts(args.path).audit_log(since=since, user=args.user, action=args.action)
    _print_frame(log, args.format)
    return EXIT_OK


def cmd_copy(args: argparse.Namespace) -> int:
    """Copy a whole store between backends (GeoPackage ↔ PostGIS), lossless."""
    from .store import open_store
    from .store.copy import copy_store

    t0 = time.perf_counter()
    report = copy_store(open_store(_existing(args.source)), open_store(args.target),
                        replace=args.replace)
    if not args.quiet:
        print(report.format() + f"\nin {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    print(report.target)
    return EXIT_OK


def _store_parsers(sub) -> None:
    """``copy``: a store from one backend to another."""
    cp = sub.add_parser("copy", help="copy a whole store to another place or backend "
                        "(GeoPackage file ↔ postgresql:// URL): layers, metadata, change log, "
                        "accounts, audit log, tickets with history and photos")
    cp.add_argument("source", help="the store to copy (a .gpkg path or a postgresql:// URL)")
    cp.add_argument("target", help="where to (a new .gpkg path, or postgresql://user@host/db"
                    "[?schema=name])")
    cp.add_argument("--replace", action="store_true", help="replace the layers of a target "
                    "that holds a store already (its accounts, tickets and change log must be "
                    "empty: nothing is merged)")
    cp.add_argument("-q", "--quiet", action="store_true")
    cp.set_defaults(func=cmd_copy)


def _auth_parsers(sub) -> None:
    """``users`` (accounts) and ``audit`` (the audit log): the server operator's tools."""
    from .auth.principal import ACCOUNT_ROLES

    us = sub.add_parser("users", help="dashboard accounts: add, list, disable, enable, passwd")
    usub = us.add_subparsers(dest="users_command", required=True)
    ua = usub.add_parser("add", help="add an account (a kiosk's token is printed on the last "
                                     "line)")
    ua.add_argument("path")
    ua.add_argument("--name", required=True)
    ua.add_argument("--role", required=True, choices=ACCOUNT_ROLES)
    ua.add_argument("--communities", default=None, help="C1,C2: a community account's scope")
    ua.add_argument("--grids", default=None, help="G1,G2: a sentinel account's scope")
    ua.add_argument("--password-file", dest="password_file", default=None,
                    help="the password is this file's first line (- for standard input); "
                         "every role but kiosk")
    ua.add_argument("--by", default="cli", help="who does it (the audit log's user)")
    ua.set_defaults(func=cmd_users_add)
    ul = usub.add_parser("list", help="the accounts (no hashes, no tokens)")
    ul.add_argument("path")
    ul.add_argument("--format", choices=["table", "json"], default="table")
    ul.set_defaults(func=cmd_users_list)
    for verb, func, helptext in (
            ("disable", cmd_users_disable, "disable an account (revokes a kiosk's token)"),
            ("enable", cmd_users_enable, "enable an account (a kiosk gets a new token, printed "
                                         "on the last line)"),
            ("passwd", cmd_users_passwd, "set an account's password")):
        sp = usub.add_parser(verb, help=helptext)
        sp.add_argument("path")
        sp.add_argument("--name", required=True)
        if verb == "passwd":
            sp.add_argument("--password-file", dest="password_file", required=True)
        sp.add_argument("--by", default="cli", help="who does it (the audit log's user)")
        sp.set_defaults(func=func)

    au = sub.add_parser("audit", help="the audit log with the change log and ticket moves, "
                                      "oldest first")
    au.add_argument("path")
    au.add_argument("--since", default=None, help="YYYY-MM-DD or an ISO time")
    au.add_argument("--user", default=None)
    au.add_argument("--action", default=None, help="e.g. login_failed, export, ticket_closed")
    au.add_argument("--format", choices=["table", "json"], default="table")
    au.set_defaults(func=cmd_audit)


def _register_parsers(sub) -> None:
    """``people``, ``assign``, ``unassign`` and ``history`` (the responsibility chain)."""
    pe = sub.add_parser("people", help="the people register: add, edit, leave, left")
    psub = pe.add_subparsers(dest="people_command", required=True)
    pa = psub.add_parser("add", help="register a person; prints the new id on the last line")
    pa.add_argument("path")
    pa.add_argument("--name", required=True)
    pa.add_argument("--phone", default=None)
    pa.add_argument("--party-member", dest="party_member", action="store_true")
    pa.add_argument("--building", default=None, help="home building code (the home point)")
    pa.add_argument("--lon", type=float, default=None, help="home longitude (no building)")
    pa.add_argument("--lat", type=float, default=None, help="home latitude (no building)")
    pa.add_argument("--by", default=None)
    pa.set_defaults(func=cmd_people_add)
    ped = psub.add_parser("edit", help="change a person's name, phone, party membership or home")
    ped.add_argument("path")
    ped.add_argument("person_id")
    ped.add_argument("--name", default=None)
    ped.add_argument("--phone", default=None)
    ped.add_argument("--building", default=None)
    party = ped.add_mutually_exclusive_group()
    party.add_argument("--party-member", dest="party_member", action="store_const", const=True)
    party.add_argument("--not-party-member", dest="party_member", action="store_const",
                       const=False)
    ped.add_argument("--by", default=None)
    ped.set_defaults(func=cmd_people_edit, party_member=None)
    pl = psub.add_parser("leave", help="a person leaves: their assignments end (count printed)")
    pl.add_argument("path")
    pl.add_argument("person_id")
    pl.add_argument("--date", default=None, help="YYYY-MM-DD (default today)")
    pl.add_argument("--reason", default=None)
    pl.add_argument("--by", default=None)
    pl.set_defaults(func=cmd_people_leave)
    plf = psub.add_parser("left", help="people who have left (from the change log)")
    plf.add_argument("path")
    plf.add_argument("--format", choices=["table", "json"], default="table")
    plf.set_defaults(func=cmd_people_left)

    a = sub.add_parser("assign", help="give a person a role on a grid or building, or accept "
                                      "the sentinel suggestions (count printed)")
    a.add_argument("path")
    a.add_argument("--person", default=None)
    a.add_argument("--role", choices=["grid_sentinel", "building_member"], default=None)
    a.add_argument("--target", default=None, help="grid code (sentinel) or building code")
    a.add_argument("--since", default=None, help="YYYY-MM-DD (default today)")
    a.add_argument("--replace", action="store_true",
                   help="end the current holders of the role on the target (更换)")
    a.add_argument("--expect-holders", dest="expect_holders", default=None,
                   help="comma-separated person ids you saw holding it (refused if changed)")
    a.add_argument("--accept-suggestions", dest="accept_suggestions", action="store_true",
                   help="assign each grid without a sentinel its best suggested party member")
    a.add_argument("--community", default=None, help="with --accept-suggestions: only here")
    a.add_argument("--by", default=None)
    a.set_defaults(func=cmd_assign)

    u = sub.add_parser("unassign", help="end a person's assignment on a target (count printed)")
    u.add_argument("path")
    u.add_argument("--person", required=True)
    u.add_argument("--target", required=True)
    u.add_argument("--until", default=None, help="last day in force, YYYY-MM-DD (default today)")
    u.add_argument("--reason", default=None)
    u.add_argument("--by", default=None)
    u.set_defaults(func=cmd_unassign)

    h = sub.add_parser("history", help="the change log of a target or a person, oldest first")
    h.add_argument("path")
    h.add_argument("--target", default=None, help="a grid or building code")
    h.add_argument("--person", default=None, help="a person id (both: entries about both)")
    h.add_argument("--format", choices=["table", "json"], default="table")
    h.set_defaults(func=cmd_history)


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
    c.add_argument("--full-check", dest="full_check", action="store_true",
                   help="validate the layers fully before the analysis (as `validate` does); "
                        "by default only the store's integrity is checked")
    c.add_argument("--fast", action="store_true", help=argparse.SUPPRESS)  # the default now
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
    ti.add_argument("--by", default=None, help="who files them (default: cli)")
    ti.set_defaults(func=cmd_tickets_import)

    r = sub.add_parser("reach", help="walking distance to elder care, child care and parking")
    r.add_argument("path")
    r.add_argument("--osm", default=None,
                   help="a local OpenStreetMap file (.osm, .osm.bz2, .osm.gz) for the network; "
                        "default: the store's roads layer")
    r.add_argument("--straight", action="store_true", help="straight-line distances only")
    r.add_argument("--format", choices=["table", "json"], default="table")
    r.set_defaults(func=cmd_reach)

    im = sub.add_parser("import", help="bring a file into a layer of the store (people and "
                                       "assignments: added to the register)")
    im.add_argument("path", help="the store (.gpkg)")
    im.add_argument("file", help="CSV, Excel, shapefile (.shp or .zip), GeoJSON, GeoPackage "
                                 "or OSM (.osm, .osm.bz2, .osm.gz)")
    im.add_argument("--layer", required=True,
                    help="towns, communities, grids, buildings, care_points, parking, roads, "
                         "people, assignments, tickets")
    im.add_argument("--by", default=None, help="who imports (the register's change log)")
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

    pa = sub.add_parser("partition", help="cut grids for communities that have none, from "
                                          "the store's buildings (or --buildings FILE)")
    pa.add_argument("path")
    pa.add_argument("--buildings", default=None,
                    help="a buildings file to place in them (grid and building codes made); "
                         "default: the buildings already in the store")
    pa.add_argument("--crs", default=None)
    pa.add_argument("--households-per-grid", dest="households_per_grid", type=int)
    pa.set_defaults(func=cmd_partition)

    nw = sub.add_parser("new", help="create a new store from an OSM extract (and a "
                                    "communities file); prints what it made and dropped")
    nw.add_argument("path", help="the .gpkg to create (refused when it exists)")
    nw.add_argument("--osm", required=True, help="a local OSM extract (.osm, .osm.bz2, .osm.gz)")
    nw.add_argument("--communities", default=None,
                    help="community boundaries (shapefile/zip, GeoJSON, GeoPackage); default: "
                         "the extract's admin boundaries, else one community over its area")
    nw.add_argument("--crs", default=None,
                    help="CRS of the communities file when it does not say: EPSG:nnnn, gcj02, "
                         "bd09")
    nw.add_argument("--town-name", dest="town_name", default=None)
    nw.add_argument("--town-code", dest="town_code", default=None,
                    help="digits; community codes are made under it (default: from the "
                         "communities file's codes, else 000000000)")
    nw.add_argument("--households-per-grid", dest="households_per_grid", type=int)
    nw.add_argument("--fictional-people", dest="fictional_people", action="store_true",
                    help="add a generated register of people, assignments and tickets, the "
                         "store labelled fictional (示例数据，非真实)")
    nw.add_argument("--seed", type=int, default=7, help="seed of the fictional register")
    nw.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    nw.set_defaults(func=cmd_new)

    _register_parsers(sub)
    _auth_parsers(sub)
    _store_parsers(sub)

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
