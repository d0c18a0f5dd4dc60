"""Service tables in a SQLite file, through SQLAlchemy: one ``BEGIN IMMEDIATE`` writer at a
time, read-only connections for reading (which never create the file), damage told apart from
a busy database. Used by the GeoPackage backend for its accounts, sessions and audit log (in
the ``.gpkg`` file itself) and its tickets (``town.gpkg`` → ``town.tickets.sqlite``)."""

from __future__ import annotations

import contextlib
import fcntl
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
from sqlalchemy import create_engine, event, inspect
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool

from .base import ServiceDamaged

#: SQLite files up to this size get ``PRAGMA quick_check`` when first opened (measured: 0.11 s
#: for a 220 MB file, warm cache). Larger files get the header check only; damage met by a
#: later query still raises :class:`~layers.store.base.ServiceDamaged`.
QUICK_CHECK_MAX_BYTES = 256 * 2**20

# SQLite primary result codes that mean the file itself is unusable (I/O error, corrupt,
# cannot open, not a database); busy or locked (another writer) is not damage.
_SQLITE_UNUSABLE = (10, 11, 14, 26)


class SqliteTables:
    """The :class:`~layers.store.base.ServiceTables` of one SQLite file.

    Parameters
    ----------
    path
        The database file (created by the first write).
    name
        What messages call it (a file name, never a server path).
    wal
        Put the file in WAL mode (a separate tickets database: readers never wait for a
        writer); False for the GeoPackage itself, which GDAL and QGIS open too.
    lock
        Held around every write transaction besides SQLite's own lock (the GeoPackage's
        advisory lock, shared with its whole-store writes); default none.
    connect
        Makes a connection (``readonly``); default plain sqlite3 in autocommit mode.
    timeout
        Seconds a writer waits for another writer.
    check
        Check the file (:meth:`check`) when first opened; False for a file whose ``connect``
        checks it already and whose owner opens it often (the GeoPackage: a quick check of a
        city's file on every opening would cost more than the query).
    """

    dialect = "sqlite"

    def __init__(self, path: Path, name: str, *, wal: bool = True,  # noqa: PLR0913
                 lock: Callable[[], contextlib.AbstractContextManager[object]] | None = None,
                 connect: Callable[[Path, bool], sqlite3.Connection] | None = None,
                 timeout: float = 30.0, check: bool = True) -> None:
        self.path = Path(path)
        self.name = name
        self._wal = wal
        self._lock = lock
        self._connect = connect or (lambda p, ro: _plain(p, ro, timeout))
        self._checked = not check
        self._engines: dict[bool, Engine] = {}

    def __repr__(self) -> str:
        return f"SqliteTables({self.name!r})"

    # -- the contract --------------------------------------------------------------------------
    def exists(self) -> bool:
        return self.path.is_file()

    def table_names(self, conn: Connection) -> set[str]:
        return set(inspect(conn).get_table_names())

    @contextlib.contextmanager
    def reading(self) -> Iterator[Connection]:
        """A read-only connection; :class:`ServiceDamaged` for a file that is empty, not
        SQLite or fails the quick check, and for any database error but "busy"."""
        if not self.exists():
            raise ServiceDamaged(self.name, "no such database")
        if not self._checked:
            with self._open_lock():
                self.check()
        # a WAL database is read through a writable connection: a read-only one cannot
        # open it while its -shm file is missing (reading still writes nothing)
        with self._guard(), self._engine(readonly=not self._wal).connect() as conn:
            yield conn

    @contextlib.contextmanager
    def writing(self) -> Iterator[Connection]:
        """One ``BEGIN IMMEDIATE`` transaction (under ``lock``); the first write creates the
        file, once however many processes do it at the same time."""
        outer = self._lock() if self._lock is not None else contextlib.nullcontext()
        with outer:
            if not self._checked:
                # ``lock`` serialises the writers already, and may be a flock of the very file
                # the open lock takes (a GeoPackage's ``.lock``): taking both would deadlock
                opening = self._open_lock() if self._lock is None else contextlib.nullcontext()
                with opening:
                    if self.exists():
                        self.check()
                    yield from self._transaction()
                    self._checked = True
                    return
            yield from self._transaction()

    # -- checks --------------------------------------------------------------------------------
    def check(self) -> None:
        """Refuse an existing file that is empty, not SQLite, or damaged."""
        size = self.path.stat().st_size
        if size == 0:
            raise ServiceDamaged(self.name, "the file is empty (0 bytes)")
        # Never open() the file ourselves: closing any descriptor of a file drops every POSIX
        # lock this process holds on it, including those of live SQLite connections (which
        # then lose their WAL to the next process). SQLite reads the header instead.
        try:
            with contextlib.closing(sqlite3.connect(
                    f"{self.path.resolve().as_uri()}?mode=ro", uri=True)) as con:
                con.execute("PRAGMA schema_version").fetchone()
                found = ([r[0] for r in con.execute("PRAGMA quick_check")]
                         if size <= QUICK_CHECK_MAX_BYTES else ["ok"])
        except sqlite3.DatabaseError as exc:
            if getattr(exc, "sqlite_errorname", "") == "SQLITE_NOTADB":
                raise ServiceDamaged(self.name, "not an SQLite database (no SQLite "
                                     "header)") from exc
            raise ServiceDamaged(self.name, f"damaged ({exc})") from exc
        if found != ["ok"]:
            raise ServiceDamaged(self.name, f"damaged (integrity check: {found[0]})")
        self._checked = True

    # -- helpers -------------------------------------------------------------------------------
    def _engine(self, *, readonly: bool) -> Engine:
        if readonly not in self._engines:
            engine = create_engine("sqlite://", poolclass=NullPool,
                                   creator=lambda: self._connect(self.path, readonly))
            if self._wal and not readonly:
                event.listen(engine, "connect", _wal_mode)
            self._engines[readonly] = engine
        return self._engines[readonly]

    def _transaction(self) -> Iterator[Connection]:
        with self._guard(), self._engine(readonly=False).connect() as conn:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.exec_driver_sql("COMMIT")
            except BaseException:
                conn.exec_driver_sql("ROLLBACK")
                raise

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        """Database errors that mean damage → :class:`ServiceDamaged` (busy passes)."""
        try:
            yield
        except (sa_exc.DBAPIError, pd.errors.DatabaseError) as exc:
            driver = _driver_error(exc)  # pandas wraps the errors of read_sql
            code = None if driver is None else _sqlite_code(driver)
            if driver is None or code is None or code not in _SQLITE_UNUSABLE:
                raise
            raise ServiceDamaged(self.name, f"damaged or unreadable ({driver.orig})") from exc

    @contextlib.contextmanager
    def _open_lock(self) -> Iterator[None]:
        """Opening the file is one process at a time (an advisory lock on a sibling ``.lock``
        file): no process sees another's half-created file."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(self.path.name + ".lock"), "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def dispose(self) -> None:
        """Close every pooled connection (none are pooled: nothing to do but forget)."""
        for engine in self._engines.values():
            engine.dispose()
        self._engines.clear()


def _plain(path: Path, readonly: bool, timeout: float) -> sqlite3.Connection:
    if readonly:
        return sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True, timeout=timeout,
                               isolation_level=None, check_same_thread=False)
    return sqlite3.connect(path, timeout=timeout, isolation_level=None,
                           check_same_thread=False)


def _wal_mode(dbapi_conn: sqlite3.Connection, _record: object) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _driver_error(exc: BaseException | None) -> sa_exc.DBAPIError | None:
    """The SQLAlchemy driver error behind ``exc``."""
    while exc is not None and not isinstance(exc, sa_exc.DBAPIError):
        exc = exc.__cause__
    return exc


def _sqlite_code(exc: sa_exc.DBAPIError) -> int | None:
    """The SQLite primary result code of a driver error (``None`` for other drivers)."""
    code = getattr(exc.orig, "sqlite_errorcode", None)
    return None if code is None else code & 0xFF
