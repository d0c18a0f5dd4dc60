"""Service tables in the store's schema (accounts, sessions, audit; tickets): SQLAlchemy
connections whose ``search_path`` is the schema, one writer at a time per kind through a
transaction-level advisory lock (what SQLite's ``BEGIN IMMEDIATE`` gave the embedded store)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from .._values import q

#: Advisory lock classes (the second key; the first is the schema's hash): one writer of the
#: layers at a time, of the accounts, of the tickets.
LAYERS_LOCK, SERVICES_LOCK, TICKETS_LOCK = 1, 2, 3


def lock_sql(schema: str, kind: int) -> str:
    """Take the store's advisory lock of ``kind`` until the transaction ends (the first key:
    the schema's hash, so stores of one database do not wait for each other)."""
    return f"SELECT pg_advisory_xact_lock(hashtext('{schema}'), {kind})"  # a checked name


#: Column → type of one table (``geometry`` for PostGIS geometries, else the type's name as
#: ``information_schema`` gives it), in order.
COLUMNS_SQL = ("SELECT a.attname, CASE WHEN t.typname = 'geometry' THEN 'geometry' ELSE "
               "regexp_replace(format_type(a.atttypid, NULL), '\\(.*\\)', '') END FROM "
               "pg_attribute a JOIN pg_type t ON t.oid = a.atttypid WHERE a.attrelid = "
               "to_regclass(:t) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum")

#: The tables of a schema (catalog query: far quicker than ``information_schema``).
TABLES_SQL = ("SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
              "WHERE n.nspname = :s AND c.relkind IN ('r', 'p')")


class PgTables:
    """The :class:`~layers.store.base.ServiceTables` of one kind in a store's schema.

    Parameters
    ----------
    engine
        The store's engine (``search_path`` = the schema).
    schema
        The store's schema.
    name
        What messages call them (the store without password).
    kind
        Which advisory lock writers take (:data:`SERVICES_LOCK`, :data:`TICKETS_LOCK`).
    marker
        A table whose presence means the tables were made (:meth:`exists`); None: the schema.
    """

    dialect = "postgresql"

    def __init__(self, engine: Engine, schema: str, name: str, kind: int,  # noqa: PLR0913
                 marker: str | None = None) -> None:
        self.engine = engine
        self.schema = schema
        self.name = name
        self.kind = kind
        self.marker = marker

    def __repr__(self) -> str:
        return f"PgTables({self.name!r}, kind={self.kind})"

    def exists(self) -> bool:
        what = f"{q(self.schema)}.{q(self.marker)}" if self.marker else None
        with self.engine.connect() as conn:
            if what is None:
                return bool(conn.execute(text(
                    "SELECT 1 FROM pg_namespace WHERE nspname = :s"), {"s": self.schema}).first())
            return bool(conn.execute(text("SELECT to_regclass(:t) IS NOT NULL"),
                                     {"t": what}).scalar())

    def table_names(self, conn: Connection) -> set[str]:
        return set(conn.execute(text(TABLES_SQL), {"s": self.schema}).scalars())

    @contextlib.contextmanager
    def reading(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            yield conn

    @contextlib.contextmanager
    def writing(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            conn.exec_driver_sql(lock_sql(self.schema, self.kind))
            if not conn.execute(text("SELECT 1 FROM pg_namespace WHERE nspname = :s"),
                                {"s": self.schema}).first():
                conn.exec_driver_sql(lock_sql(self.schema, LAYERS_LOCK))  # made by one writer
                conn.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {q(self.schema)}")
            yield conn
