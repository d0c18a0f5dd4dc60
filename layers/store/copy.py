"""A whole store copied between any two backends (``python -m layers copy SRC DST``),
lossless: every layer with every row, column, date (as stored) and geometry, the metadata,
the change log, accounts, sessions and the audit log, tickets with their history and photos.

The layers go through the destination's own whole-store write (validated, atomic); the service
tables are copied with their keys (PostgreSQL's COPY into PostGIS, multi-row INSERTs through
SQLAlchemy elsewhere), into tables the owning modules define (:mod:`layers.tickets.store`, :mod:`layers.auth.accounts`), in one transaction each.
A destination that already holds a store is refused unless ``replace`` is given.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from sqlalchemy import MetaData, Table, func, select, text
from sqlalchemy.engine import Connection

from ..errors import StoreError
from ..layerset import LayerSet
from .base import ServiceTables, Store

log = logging.getLogger(__name__)

#: Rows inserted per statement.
_CHUNK = 5_000


class CopyError(StoreError):
    """A copy that cannot be made as asked (same store, destination not empty …)."""


@dataclass
class CopyReport:
    """What a copy carried: rows per layer and per service table."""

    source: str
    target: str
    layers: dict[str, int] = field(default_factory=dict)
    tables: dict[str, int] = field(default_factory=dict)

    def format(self) -> str:
        """Lines for the CLI."""
        out = [f"copied {self.source} → {self.target}"]
        out += [f"  layer {n}: {k:,} rows" for n, k in self.layers.items()]
        out += [f"  table {n}: {k:,} rows" for n, k in self.tables.items()]
        if self.layers.get("tickets") and "tickets" not in self.tables:
            out.append("  (the source has no ticket database yet: its tickets layer was copied "
                       "as a layer; `python -m layers tickets seed TARGET` files them)")
        return "\n".join(out)


def copy_store(source: Store, target: Store, *, replace: bool = False) -> CopyReport:
    """Copy everything of ``source`` into ``target``.

    Parameters
    ----------
    source, target
        Two stores (any backends; not the same one).
    replace
        Allow a target that holds a store already (its layers are replaced; its change log,
        accounts and tickets must be empty, or the copy is refused: nothing is merged).

    Raises
    ------
    CopyError
        Same store, or a target holding data where nothing may be merged.
    """
    if source.identity == target.identity:
        raise CopyError(f"{source.location}: source and target are the same store")
    if not source.exists():
        raise CopyError(f"{source.location}: no such store")
    if target.exists() and not replace:
        raise CopyError(f"{target.location} holds a store already: pass --replace to "
                        "replace its layers (its accounts, tickets and change log must be empty)")
    _refuse_merge(source, target)
    report = CopyReport(source.location, target.location)
    data = _with_catalogue(source, target, source.read(relative_dates=False))
    target.write(data)
    report.layers = {n: len(data[n]) for n in data}
    report.tables["change_log"] = _copy_change_log(source, target)
    for tables, meta, prepare in _service_sets(source, target):
        for name, n in _copy_tables(tables[0], tables[1], meta, prepare).items():
            report.tables[name] = n
    return report


def _with_catalogue(source: Store, target: Store, data: LayerSet) -> LayerSet:
    """``data`` with the source's own ticket categories in its metadata when the target keeps
    no file beside it for them (a GeoPackage's ``town.categories.json`` → a PostGIS store's
    ``ticket_catalogue`` entry; a file target reads the entry as well)."""
    from ..tickets.catalogue import CATALOGUE_META_KEY, catalogue_path_for

    own = catalogue_path_for(source)
    if own is None or not own.exists() or CATALOGUE_META_KEY in data.meta:
        return data
    mine = catalogue_path_for(target)
    if mine is not None:
        if not mine.exists():
            mine.write_bytes(own.read_bytes())
        return data
    return LayerSet({n: data[n] for n in data}, {**data.meta,
                                                 CATALOGUE_META_KEY: own.read_text("utf-8")})


def _refuse_merge(source: Store, target: Store) -> None:
    """Refuse a target whose service tables or change log hold anything."""
    if target.exists() and len(target.change_log()):
        raise CopyError(f"{target.location}: its change log is not empty; nothing was copied")
    for (_, tables), meta, _prepare in _service_sets(source, target):
        if not tables.exists():
            continue
        with tables.reading() as conn:
            for name in sorted(tables.table_names(conn) & set(meta.tables)):
                if conn.execute(select(meta.tables[name]).limit(1)).first():
                    raise CopyError(f"{target.location}: table {name} is not empty; nothing "
                                    "was copied")


def _copy_change_log(source: Store, target: Store) -> int:
    entries = source.change_log()
    if entries.empty:
        return 0
    rows = entries.drop(columns=["fid"]).to_dict(orient="records")
    with target.edit_rows() as edit:
        return edit.log(rows)


def _service_sets(source: Store, target: Store
                  ) -> Iterable[tuple[tuple[ServiceTables, ServiceTables], MetaData,
                                      Callable[[Connection], None]]]:
    """(source tables, target tables), the owning module's table definitions and what makes
    them in a target — tickets, then accounts."""
    from ..tickets import store as tickets

    yield ((source.ticket_tables(), target.ticket_tables()), tickets.metadata,
           tickets.create_tables)
    try:
        from ..auth import accounts
    except ImportError:  # pragma: no cover
        return
    meta = getattr(accounts, "metadata", None)
    prepare = getattr(accounts, "create_tables", None)
    if meta is not None and prepare is not None:
        yield ((source.services(), target.services()), meta, prepare)


def _copy_tables(src: ServiceTables, dst: ServiceTables, meta: MetaData,
                 prepare: Callable[[Connection], None]) -> dict[str, int]:
    """Every table of ``meta`` present in ``src``, rows and keys as they are, into ``dst``
    (tables made by ``prepare``), in one transaction; identity sequences moved past the
    copied keys."""
    if not src.exists():
        return {}
    with src.reading() as conn:
        present = src.table_names(conn)
        rows = {t.name: [dict(r) for r in conn.execute(select(t)).mappings()]
                for t in meta.sorted_tables if t.name in present}
    if not rows:  # the source has none of these tables: the target gets none either
        return {}
    counts: dict[str, int] = {}
    with dst.writing() as out:
        prepare(out)
        for t in meta.sorted_tables:
            if t.name not in rows:
                continue
            _insert(out, t, rows[t.name])
            counts[t.name] = len(rows[t.name])
            if out.dialect.name == "postgresql":
                _advance_sequences(out, t)
    return counts


def _insert(out: Connection, table: Table, rows: list[dict]) -> None:
    """``rows`` into ``table``: PostgreSQL's ``COPY … FROM STDIN`` on that backend (a city's
    1.4 million ticket events in seconds, not the ten minutes of one INSERT a row), else
    multi-row INSERTs. COPY gets each value as SQLAlchemy would bind it (the column type's
    bind processor), in the same transaction."""
    if out.dialect.name != "postgresql":
        for i in range(0, len(rows), _CHUNK):
            out.execute(table.insert(), rows[i:i + _CHUNK])
        return
    from psycopg import sql

    cols = [c.name for c in table.columns]
    procs = [c.type.bind_processor(out.dialect) for c in table.columns]
    stmt = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table.name), sql.SQL(", ").join(map(sql.Identifier, cols)))
    raw = out.connection.driver_connection
    with raw.cursor() as cur, cur.copy(stmt) as copy:  # type: ignore[union-attr]
        for row in rows:
            copy.write_row([v if f is None or v is None else f(v)
                            for f, v in zip(procs, (row.get(c) for c in cols), strict=True)])


def _advance_sequences(conn: Connection, table: Table) -> None:
    """Serial keys of ``table`` continue after the copied rows."""
    for col in table.primary_key.columns:
        if col.autoincrement is True or (col.autoincrement == "auto" and len(
                table.primary_key.columns) == 1 and col.type.python_type is int):
            seq = conn.execute(text("SELECT pg_get_serial_sequence(:t, :c)"),
                               {"t": table.name, "c": col.name}).scalar()
            if seq:
                top = conn.execute(select(func.max(col))).scalar() or 0
                conn.execute(text("SELECT setval(:s, :v, :called)"),
                             {"s": seq, "v": max(int(top), 1), "called": bool(top)})
