"""The PostGIS backend: a store in one schema of a PostgreSQL + PostGIS database.

``open_store("postgresql://user@host:5432/district?schema=shuangfeng")`` — the schema (default
``wangge``) holds every table of the store (see :mod:`._ddl`): the layers as tables with a GiST
index, the metadata, the append-only change log, the change feed (``layer_versions``,
``row_changes``, kept by triggers whoever writes), accounts, sessions and the audit log, and
the tickets with their history and photos. Several app processes and machines share it.

- **Reads** of whole layers go straight into Arrow with the ADBC driver, every layer of one
  read from one exported snapshot (:mod:`._read`); a bbox read (which uses the GiST index) or
  a read of row ids streams ``COPY (SELECT …) TO STDOUT`` on a pooled connection. Then the
  same integrity check as every backend.
- **Whole-store writes** (``write``, ``update``, ``transform``) validate first, then replace the
  layers in *one transaction* (each layer dropped, made again and loaded with ``COPY``): a
  refused or failed write leaves nothing behind, and readers see the old content until it
  commits.
- **One writer of the layers at a time**: every layer writer (whole writes, row edits) holds
  the store's transaction-level advisory lock; accounts and tickets have their own.
- **Row edits** are the shared SQL of :class:`~layers.store._rows.SqlRowEdit` in one
  transaction.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from ...errors import StoreError
from ...layerset import LayerSet
from ...schema import LAYER_NAMES, LAYERS, spec
from ...settings import DEFAULT_SETTINGS, Settings
from ...validate import ValidationReport
from .._common import StoreBase, checked_change, checked_write
from .._values import q
from ..base import (
    CHANGE_LOG,
    META_TABLE,
    ROW_CHANGES,
    ROW_ID,
    SCHEMA_VERSION,
    Bounds,
    Change,
    RowEdit,
    RowMarker,
    StoreUnavailable,
)
from . import _ddl, _read
from ._copy import copy_in, copy_out
from ._rows import PgRowEdit
from ._tables import (
    COLUMNS_SQL,
    LAYERS_LOCK,
    SERVICES_LOCK,
    TABLES_SQL,
    TICKETS_LOCK,
    PgTables,
    lock_sql,
)
from ._url import engine, parse

log = logging.getLogger(__name__)


class PostGISStore(StoreBase):
    """A layer set in a schema of a PostGIS database.

    Parameters
    ----------
    location
        ``postgresql://user[:password]@host[:port]/database[?schema=name]``.
    """

    def __init__(self, location: str) -> None:
        self.address = parse(location)
        self.schema = self.address.schema
        self.location = self.address.shown
        self.identity = self.address.shown
        self._services: PgTables | None = None
        self._tickets: PgTables | None = None

    def __repr__(self) -> str:
        return f"PostGISStore({self.location!r})"

    # -- connections -------------------------------------------------------------------------
    @property
    def engine(self) -> Engine:
        return engine(self.address)

    @contextlib.contextmanager
    def _connected(self, *, write: bool = False, snapshot: bool = False
                   ) -> Iterator[Connection]:
        """A connection (in a transaction committed at the end when ``write``; one snapshot
        of the database for every statement when ``snapshot``); a server that cannot be
        reached is :class:`~layers.store.base.StoreUnavailable`."""
        try:
            cm = self.engine.begin() if write else self.engine.connect()
            with cm as conn:
                if snapshot:
                    conn.execution_options(isolation_level="REPEATABLE READ")
                yield conn
        except sa_exc.OperationalError as exc:
            if getattr(exc, "connection_invalidated", False) or "connect" in str(exc.orig):
                raise StoreUnavailable(f"{self.location}: cannot reach the database "
                                       f"({str(exc.orig).strip().splitlines()[0]})") from exc
            raise self._refused(exc) from exc
        except sa_exc.DBAPIError as exc:
            raise self._refused(exc) from exc

    def _refused(self, exc: sa_exc.DBAPIError) -> StoreError:
        """A database error as a plain :class:`StoreError` (its details go to the log)."""
        log.warning("%s: database error: %s", self.location, exc)
        first = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        return StoreError(f"{self.location}: the database refused the request ({first})")

    @staticmethod
    def _raw(conn: Connection) -> object:
        """The psycopg connection under ``conn`` (same transaction)."""
        return conn.connection.driver_connection

    # -- reading -----------------------------------------------------------------------------
    def exists(self) -> bool:
        with self._connected() as conn:
            return bool(conn.execute(text("SELECT to_regclass(:t) IS NOT NULL"),
                                     {"t": f"{q(self.schema)}.{q(META_TABLE)}"}).scalar())

    def _require(self) -> None:
        if not self.exists():
            raise StoreError(f"{self.location}: no such store (the schema holds no store yet)")

    def _tables(self, conn: Connection) -> set[str]:
        return set(conn.execute(text(TABLES_SQL), {"s": self.schema}).scalars())

    def layer_names(self) -> list[str]:
        self._require()
        with self._connected() as conn:
            present = {_ddl.layer_of(t) for t in self._tables(conn)}
        return [n for n in LAYER_NAMES if n in present]

    def meta(self) -> dict[str, str]:
        with self._connected() as conn:
            if META_TABLE not in self._tables(conn):
                return {}
            rows = conn.execute(text(f"SELECT key, value FROM {q(self.schema)}."
                                     f"{q(META_TABLE)}")).all()
        return {str(k): str(v) for k, v in rows}

    def _columns(self, conn: Connection, name: str) -> dict[str, str]:
        """Column → type of a table (``geometry`` for PostGIS geometries)."""
        rows = conn.execute(text(COLUMNS_SQL), {"t": f"{q(self.schema)}."
                                                     f"{q(_ddl.table_of(name))}"}).all()
        return {str(c): str(t) for c, t in rows}

    def read_layer(
        self, name: str, *, bbox: Bounds | None = None, columns: Sequence[str] | None = None,
        fids: Sequence[int] | None = None,
    ) -> pd.DataFrame:
        """Read one layer as stored (no check; :meth:`read` checks). See
        :meth:`~layers.store.base.Store.read_layer`."""
        with self._connected() as conn:
            return self._read_one(conn, name, bbox=bbox, columns=columns, fids=fids)

    def _read_layers(self, names: Sequence[str], bbox: Bounds | None,
                     columns: Mapping[str, Sequence[str]]) -> dict[str, pd.DataFrame]:
        """Every layer of a :meth:`read` from one snapshot of the database, large ones in
        parallel parts (:mod:`._read`)."""
        return _read.read_layers(self, names, bbox, columns)

    def _stored_columns(self, conn: Connection, name: str) -> dict[str, str]:
        """The columns of layer ``name`` (:class:`StoreError` when it is missing)."""
        stored = self._columns(conn, name)
        if not stored:
            self._require()
            raise StoreError(f"{self.location}: layer {name!r} is missing")
        return stored

    def _read_one(
        self, conn: Connection, name: str, *, bbox: Bounds | None = None,
        columns: Sequence[str] | None = None, fids: Sequence[int] | None = None,
    ) -> pd.DataFrame:
        """Layer ``name`` read with ``COPY`` in ``conn``'s transaction."""
        select, types, geometry = self._query(conn, name, bbox=bbox, columns=columns, fids=fids)
        with self._raw(conn).cursor() as cur:  # type: ignore[attr-defined]
            frame = copy_out(cur, select[0], select[1], types, geometry)
        if fids is not None:
            frame = frame.set_index(ROW_ID)
            frame.index.name = None
        return frame

    def _query(
        self, conn: Connection, name: str, *, bbox: Bounds | None = None,
        columns: Sequence[str] | None = None, fids: Sequence[int] | None = None,
        binary: bool = False,
    ) -> tuple[tuple[str, list[object]], dict[str, str], str | None]:
        """The query reading layer ``name`` (and its parameters), the types of its
        attribute columns and the name of its geometry column (None: not read)."""
        s = spec(name)
        stored = self._stored_columns(conn, name)
        geometry = (s.geometry is not None and _ddl.GEOMETRY in stored
                    and (columns is None or "geometry" in columns))
        attrs = [c for c in stored if c not in (ROW_ID, _ddl.GEOMETRY)
                 and (columns is None or c in columns)]
        if not attrs and not geometry:
            raise StoreError(f"{self.location}: no column of layer {name!r} asked for")
        select = self._select(name, attrs, geometry, bbox, fids, binary=binary)
        types = ({ROW_ID: "bigint"} if fids is not None else {}) | {c: stored[c] for c in attrs}
        return select, types, ("geometry" if geometry else None)

    def _select(self, name: str, attrs: list[str], geometry: bool, bbox: Bounds | None,
                fids: Sequence[int] | None, *, binary: bool = False,
                ) -> tuple[str, list[object]]:
        """The query of a read (``%s`` parameters) with the geometry last as hex WKB text
        for ``COPY … (FORMAT csv)``, as WKB when ``binary``."""
        cols = ([q(ROW_ID)] if fids is not None else []) + [q(c) for c in attrs]
        if geometry:
            wkb = f"ST_AsBinary({q(_ddl.GEOMETRY)})"
            cols.append(f"{wkb} AS {q('geometry')}" if binary else f"encode({wkb}, 'hex')")
        where: list[str] = []
        params: list[object] = []
        if bbox is not None and geometry:
            where.append(f"ST_Intersects({q(_ddl.GEOMETRY)}, "
                         "ST_MakeEnvelope(%s, %s, %s, %s, 4326))")
            params += [float(v) for v in bbox]
        if fids is not None:
            where.append(f"{q(ROW_ID)} = ANY(%s)")
            params.append([int(f) for f in fids])
        cond = f" WHERE {' AND '.join(where)}" if where else ""
        return (f"SELECT {', '.join(cols)} FROM {q(self.schema)}.{q(_ddl.table_of(name))}{cond} "
                f"ORDER BY {q(ROW_ID)}", params)

    # -- writing -----------------------------------------------------------------------------
    def write(self, data: LayerSet, *, settings: Settings = DEFAULT_SETTINGS) -> ValidationReport:
        """Validate ``data`` and make it the store's whole content, in one transaction (the
        change log, accounts, sessions, audit log and tickets are kept).

        Raises
        ------
        LayerValidationError
            With the full report; nothing was written.
        """
        checked, report = checked_write(data, settings, self.location)
        with self._writing() as conn:
            present = {_ddl.layer_of(t) for t in self._tables(conn)}
            for name in LAYER_NAMES:
                if name in present and name not in checked:
                    self._run(conn, _ddl.drop_layer_sql(self.schema, name))
            for name in checked:
                self._load(conn, name, checked[name])
            self._set_meta(conn, checked.meta, replace=True)
        return report

    def transform(
        self, change: Change, *, settings: Settings = DEFAULT_SETTINGS,
        meta: Mapping[str, str] | None = None, validate_all: bool = False,
    ) -> ValidationReport:
        """Replace the layers ``change(current)`` returns, ``current`` being the store's
        content read under the store's write lock, in one transaction (see
        :meth:`~layers.store.base.Store.transform`)."""
        self._require()
        with self._writing() as conn:
            current = self.read()
            layers, checked, report = checked_change(current, change, settings, self.location,
                                                     validate_all)
            for name in layers:
                self._load(conn, name, checked[name])
            if meta:
                self._set_meta(conn, {**current.meta, **{k: str(v) for k, v in meta.items()}},
                               replace=True)
        return report

    @contextlib.contextmanager
    def _writing(self) -> Iterator[Connection]:
        """A write transaction holding the layers' lock, with the schema's own tables."""
        with self._connected(write=True) as conn:
            conn.exec_driver_sql(lock_sql(self.schema, LAYERS_LOCK))
            self._ensure_schema(conn)
            yield conn

    def _ensure_schema(self, conn: Connection) -> None:
        if not conn.execute(text("SELECT to_regclass(:t) IS NOT NULL"),
                            {"t": f"{q(self.schema)}.{q(_ddl.VERSIONS)}"}).scalar():
            try:
                self._run(conn, _ddl.service_ddl(self.schema))
            except sa_exc.ProgrammingError as exc:
                if "geometry" in str(exc.orig) and "does not exist" in str(exc.orig):
                    raise StoreError(f"{self.location}: PostGIS is not installed in this "
                                     "database (CREATE EXTENSION postgis)") from exc
                raise

    @staticmethod
    def _run(conn: Connection, statements: Sequence[str]) -> None:
        for sql in statements:
            conn.exec_driver_sql(sql)

    def _load(self, conn: Connection, name: str, frame: pd.DataFrame) -> None:
        """Layer ``name`` made anew with ``frame``'s rows (in the caller's transaction)."""
        geometry = LAYERS[name].geometry is not None
        columns = _ddl.contract_columns(name, list(frame.columns),
                                        dict(frame.dtypes.items()))
        self._run(conn, _ddl.layer_table_sql(self.schema, name, columns, geometry))
        with self._raw(conn).cursor() as cur:  # type: ignore[attr-defined]
            cur.execute(f"SET LOCAL search_path = {q(self.schema)}, public")
            n = copy_in(cur, _ddl.table_of(name), frame, list(columns),
                        _ddl.GEOMETRY if geometry else None)
        self._run(conn, _ddl.layer_index_sql(self.schema, name, columns, geometry))
        self._run(conn, _ddl.tracked_triggers(self.schema, name))
        self._run(conn, _ddl.version_reset_sql(self.schema, name, n))

    def _set_meta(self, conn: Connection, meta: Mapping[str, str], *, replace: bool) -> None:
        table = f"{q(self.schema)}.{q(META_TABLE)}"
        if replace:
            conn.exec_driver_sql(f"DELETE FROM {table}")
        m = {**meta, "schema_version": SCHEMA_VERSION}
        conn.execute(text(f"INSERT INTO {table} (key, value) VALUES (:k, :v) ON CONFLICT (key) "
                          "DO UPDATE SET value = excluded.value"),
                     [{"k": str(k), "v": str(v)} for k, v in m.items()])

    # -- row-level edits ---------------------------------------------------------------------
    @contextlib.contextmanager
    def edit_rows(self) -> Iterator[RowEdit]:
        """One transaction of row operations holding the layers' lock (one editor at a time,
        never interleaved with whole-store writes); committed when the block ends, rolled
        back when it raises."""
        with self._connected(write=True) as conn:
            conn.exec_driver_sql(lock_sql(self.schema, LAYERS_LOCK))
            if META_TABLE not in self._tables(conn):
                raise StoreError(f"{self.location}: no such store (the schema holds no store "
                                 "yet)")
            yield (edit := PgRowEdit(self._raw(conn), self.schema, self.location,
                                     writable=True))
            edit.finish()

    @contextlib.contextmanager
    def _reading(self) -> Iterator[PgRowEdit]:
        with self._connected() as conn:
            if META_TABLE not in self._tables(conn):
                raise StoreError(f"{self.location}: no such store (the schema holds no store "
                                 "yet)")
            yield PgRowEdit(self._raw(conn), self.schema, self.location, writable=False)

    # -- versions ----------------------------------------------------------------------------
    def layer_versions(self) -> dict[str, str]:
        """A token per layer (and ``meta``, ``change_log``): the table's epoch, its change
        count and row count, kept by triggers for every client's changes."""
        with self._connected() as conn:
            if _ddl.VERSIONS not in self._tables(conn):
                self._require()
            rows = conn.execute(text(f"SELECT layer, epoch, version, rows FROM "
                                     f"{q(self.schema)}.{q(_ddl.VERSIONS)} ORDER BY layer")).all()
        return {str(layer): f"{epoch}.{version}#{n}" for layer, epoch, version, n in rows}

    def version(self) -> str:
        """Changes with every change of the layers or metadata (see :meth:`layer_versions`),
        not with accounts, sessions, audit entries or tickets."""
        tokens = ";".join(f"{k}={v}" for k, v in sorted(self.layer_versions().items()))
        return f"pg|{tokens}"

    def changed_at(self) -> dt.datetime | None:
        """When a layer last changed (kept by the same triggers as the versions)."""
        with self._connected() as conn:
            got = conn.execute(text(f"SELECT max(changed_at) FROM {q(self.schema)}."
                                    f"{q(_ddl.VERSIONS)} WHERE layer NOT IN (:m, :c)"),
                               {"m": _ddl.META_KEY, "c": CHANGE_LOG}).scalar()
        return got

    def row_marker(self, name: str) -> RowMarker | None:
        """Where the row tracking of layer ``name`` stands (None: no such layer)."""
        with self._connected() as conn:
            return self._marker(conn, name)

    def _marker(self, conn: Connection, name: str) -> RowMarker | None:
        s = q(self.schema)
        got = conn.execute(text(f"SELECT epoch, rows FROM {s}.{q(_ddl.VERSIONS)} WHERE layer = "
                                ":l"), {"l": name}).first()
        if got is None or _ddl.table_of(name) not in self._tables(conn):
            return None
        seq = conn.execute(text(f"SELECT coalesce(max(seq), 0) FROM {s}.{q(ROW_CHANGES)} WHERE "
                                "layer = :l"), {"l": name}).scalar()
        max_fid = conn.execute(text(f"SELECT coalesce(max({q(ROW_ID)}), 0) FROM "
                                    f"{s}.{q(_ddl.table_of(name))}")).scalar()
        return RowMarker(str(got[0]), int(seq or 0), int(got[1]), int(max_fid or 0))

    def rows_changed(self, name: str, since: RowMarker
                     ) -> tuple[RowMarker, np.ndarray] | None:
        """The marker of layer ``name`` now and the ``fid`` of every row changed after
        ``since``, read in one snapshot; None when the tracking was remade since (the layer
        was written whole)."""
        with self._connected(snapshot=True) as conn:
            now = self._marker(conn, name)
            if now is None or now.epoch != since.epoch or now.seq < since.seq:
                return None
            fids = conn.execute(text(f"SELECT DISTINCT fid FROM {q(self.schema)}."
                                     f"{q(ROW_CHANGES)} WHERE layer = :l AND seq > :s"),
                                {"l": name, "s": since.seq}).scalars().all()
        return now, np.asarray(fids, dtype=np.int64)

    # -- what is kept beside the layers -----------------------------------------------------
    def services(self) -> PgTables:
        """The accounts, sessions and audit log: tables of the store's schema."""
        if self._services is None:
            self._services = PgTables(self.engine, self.schema, self.location, SERVICES_LOCK)
        return self._services

    def ticket_tables(self) -> PgTables:
        """The tickets, their history and photos: tables of the store's schema."""
        if self._tickets is None:
            self._tickets = PgTables(self.engine, self.schema, self.location, TICKETS_LOCK,
                                     marker="ticket_events")
        return self._tickets

    def cache_dir(self) -> Path | None:
        """A folder of this server's cache for this store (``$WANGGE_CACHE_DIR``, else
        ``~/.cache/wangge``), named after the store's identity."""
        root = Path(os.environ.get("WANGGE_CACHE_DIR") or Path.home() / ".cache" / "wangge")
        digest = hashlib.blake2b(self.identity.encode(), digest_size=10).hexdigest()
        return root / f"postgis-{digest}"

    def cache_mode(self) -> int:
        """Only the server's user reads the cache (it holds the store's personal data)."""
        return 0o600


__all__ = ["CHANGE_LOG", "PostGISStore"]
