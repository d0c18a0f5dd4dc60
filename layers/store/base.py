"""The store contract: what every backend offers and every caller may rely on.

A *store* holds one territory: its layers (the contract of :mod:`layers.schema`), their
metadata, the append-only change log of row edits, and service tables beside them — accounts,
sessions and the audit log (:mod:`layers.auth.accounts`), tickets with their history and
photos (:mod:`layers.tickets`). Callers depend on :class:`Store` only, never on a backend
class; :func:`layers.store.open_store` picks the backend from the location:

- a path ending in ``.gpkg``: :class:`~layers.store.gpkg.GeoPackageStore`, the embedded
  default (one file QGIS opens, tickets in a SQLite file beside it);
- ``postgresql://user@host[:port]/db[?schema=name]``: :class:`~layers.store.postgis.PostGISStore`
  (every table of the store in one schema of a PostgreSQL + PostGIS database).

Every backend passes the same contract suite (``tests/store_contract``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from ..errors import LayersError, LayerValidationError, StoreError
from ..layerset import LayerSet
from ..settings import DEFAULT_SETTINGS, Settings

if TYPE_CHECKING:  # pragma: no cover
    from sqlalchemy.engine import Connection

    from ..validate import ValidationReport

#: The metadata table (key/value pairs) and the version of the layout a backend writes.
META_TABLE = "store_meta"
SCHEMA_VERSION = "1"

Bounds = tuple[float, float, float, float]

#: A change computed from the store's current content: the layers to replace.
Change = Callable[[LayerSet], Mapping[str, pd.DataFrame]]

#: The append-only attribute table of row edits (who changed what, when, before → after).
CHANGE_LOG = "change_log"
#: Its columns besides ``fid`` (``when`` is the product clock's local time).
CHANGE_LOG_COLUMNS = ("when", "by", "action", "layer", "person_id", "target_code", "role",
                      "before", "after", "reason", "source")
#: Row id column of :meth:`RowEdit.select` results (the backend's primary key).
ROW_ID = "fid"
#: Accounts, sessions and the append-only audit log (:mod:`layers.auth.accounts`).
ACCOUNTS_TABLE = "auth_accounts"
AUDIT_TABLE = "audit_log"
SESSIONS_TABLE = "auth_sessions"
#: Tables that are not layers but belong to the store: a whole-store write keeps them.
SERVICE_TABLES = (CHANGE_LOG, ACCOUNTS_TABLE, AUDIT_TABLE, SESSIONS_TABLE)
#: Row tracking: which rows of a layer changed (``seq``, ``layer``, ``fid``), kept by triggers
#: on the layer (so any client's row edits are seen) and, per layer, the epoch of its triggers.
ROW_CHANGES = "row_changes"
ROW_TRACKING = "row_tracking"


class RowConflict(StoreError):
    """A row no longer holds the values the caller expected (someone changed it first).

    Parameters
    ----------
    layer
        The layer of the row.
    field
        The first column that differs.
    where
        The condition that selected the row (for the message; never personal values).
    """

    def __init__(self, layer: str, field: str, where: Mapping[str, object]) -> None:
        self.layer = layer
        self.field = field
        self.where = dict(where)
        cond = ", ".join(f"{k}={v!r}" for k, v in self.where.items())
        super().__init__(f"{layer} ({cond}): {field} was changed by someone else; "
                         "nothing was written")


class StoreIntegrityError(LayerValidationError):
    """A store no longer holds what the store writes (edited outside the app?): a column is
    missing, a value is not of its column's kind, a required value or a geometry is missing, a
    key is repeated. ``report`` lists what the read's integrity check found; the full check
    (``python -m layers validate``) finds the rest.

    Parameters
    ----------
    report
        The integrity check's report.
    source
        The store.
    """

    def __init__(self, report: ValidationReport, source: str) -> None:
        self.report = report
        self.source = source
        rows = sum(p.count for p in report.errors)
        LayersError.__init__(
            self, f"{source}: {rows} problem(s) reading the store (was it edited outside "
            f"the app?); for the full check run `python -m layers validate {source}`.\n"
            + report.format(limit=50))


class ServiceDamaged(StoreError):
    """A database of the store's service tables (tickets, accounts) exists but cannot be used:
    empty, not a database, failing its integrity check, or a read failed. It is left as found.

    Parameters
    ----------
    name
        The database's name (a file name, never a full path: messages reach users).
    problem
        What is wrong, in a few words.
    """

    def __init__(self, name: str, problem: str) -> None:
        self.name = name
        self.problem = problem
        super().__init__(f"{name}: {problem}")


class StoreUnavailable(StoreError):
    """The store's server cannot be reached or refused the connection (the message names the
    store without its password)."""


class RowEdit(Protocol):
    """The row operations of one transaction (what a backend implements for
    :meth:`Store.edit_rows`).

    Conditions (``where``) map a column to a value (``=``), ``None`` (``IS NULL``) or a list,
    tuple or set of values (``IN``); ``fid`` is the row id. Dates are given and returned as the
    store shows them (a demo store's dates relative to its anchor day, see
    :meth:`~layers.layerset.LayerSet.dates_relative_to`).
    """

    def meta(self) -> dict[str, str]:
        """The store's metadata, as of this transaction."""

    def select(
        self, layer: str, where: Mapping[str, object] | None = None, *,
        columns: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """Matching rows with their ``fid``; the contract's columns (and ``geometry``, as a
        GeoDataFrame in EPSG:4326) unless ``columns`` names some."""

    def max_value(self, layer: str, column: str, prefix: str | None = None) -> object:
        """The largest value of ``column`` (among values starting with ``prefix``), or None."""

    def insert(self, layer: str, frame: pd.DataFrame) -> int:
        """Insert rows (validated against the contract and the rows they refer to)."""

    def update(
        self, layer: str, where: Mapping[str, object], values: Mapping[str, object], *,
        expected: Mapping[str, object] | None = None,
    ) -> int:
        """Set ``values`` on the matching rows; :class:`RowConflict` when one of them does not
        hold ``expected``; returns how many rows changed."""

    def log(self, entries: Iterable[Mapping[str, object]]) -> int:
        """Append entries (keys from ``CHANGE_LOG_COLUMNS``; ``when`` defaults to now)."""

    def change_log(self, filters: Mapping[str, object] | None = None) -> pd.DataFrame:
        """Log entries matching ``filters``, oldest first (this transaction's included)."""


class RowMarker(NamedTuple):
    """Where a layer's row tracking stands (:meth:`Store.row_marker`): the epoch of its
    triggers, the last change's sequence number, its row count and largest ``fid``."""

    epoch: str
    seq: int
    rows: int
    max_fid: int


class ServiceTables(Protocol):
    """Plain tables a store keeps beside its layers, reached through SQLAlchemy Core: the
    accounts, sessions and audit log (:meth:`Store.services`) and the tickets with their
    history and photos (:meth:`Store.ticket_tables`). The SQL written against them is the
    common dialect of SQLite and PostgreSQL; tables are named without a schema (a backend
    places them)."""

    #: What messages call it (never a password, never a server path for tickets).
    name: str
    #: ``sqlite`` or ``postgresql``: the few statements that differ (triggers) branch on it.
    dialect: str

    def exists(self) -> bool:
        """Whether the database holds anything yet (reading never creates it)."""

    def reading(self) -> contextlib.AbstractContextManager[Connection]:
        """A connection for reading (nothing is created; tables may be missing)."""

    def writing(self) -> contextlib.AbstractContextManager[Connection]:
        """One write transaction, one writer at a time per database (committed when the
        block ends, rolled back when it raises)."""

    def table_names(self, conn: Connection) -> set[str]:
        """The tables present (in the store's schema)."""


@runtime_checkable
class Store(Protocol):
    """What every backend offers. Callers depend on this, never on a backend class."""

    #: Where the store is, as shown to people and in logs: a path, or a URL without password.
    location: str
    #: The store's identity: the key of every cache of what is derived from it (a resolved
    #: path; a URL with host, port, database and schema, without password).
    identity: str

    def exists(self) -> bool:
        """True when the store holds data."""

    def layer_names(self) -> list[str]:
        """Contract layers present in the store."""

    def meta(self) -> dict[str, str]:
        """Store-level metadata (``fictional``, ``source``, ``attribution`` …)."""

    def read_layer(
        self, name: str, *, bbox: Bounds | None = None, columns: Sequence[str] | None = None,
        fids: Sequence[int] | None = None,
    ) -> pd.DataFrame:
        """One layer as stored, unchecked (:meth:`read` checks): only features intersecting
        ``bbox`` (EPSG:4326), only ``columns`` (``"geometry"`` among them for the geometry),
        only the rows ``fids`` names (then indexed by ``fid``). Text columns are Arrow strings
        in one chunk; dates ``datetime64[ms]``; a GeoDataFrame in EPSG:4326 when the
        geometry is read."""

    def read(
        self,
        layers: Iterable[str] | None = None,
        *,
        bbox: Bounds | None = None,
        columns: Mapping[str, Sequence[str]] | None = None,
        full_check: bool = False,
        check_geometry: bool = True,
        settings: Settings = DEFAULT_SETTINGS,
        relative_dates: bool = True,
    ) -> LayerSet:
        """Read layers (all by default; only some ``columns`` of some) with a cheap integrity
        check, since what the store wrote was validated when written; ``full_check``
        validates them fully; ``relative_dates=False`` keeps a demo's dates as stored.
        Raises on errors."""

    def write(self, data: LayerSet, *, settings: Settings = DEFAULT_SETTINGS) -> ValidationReport:
        """Validate ``data`` and replace the store's whole content with it, atomically (the
        service tables are kept)."""

    def update(
        self, layers: Mapping[str, pd.DataFrame], *, settings: Settings = DEFAULT_SETTINGS,
        meta: Mapping[str, str] | None = None,
    ) -> ValidationReport:
        """Replace some layers (and add ``meta`` entries), validated together with the rest,
        atomically."""

    def transform(
        self, change: Change, *, settings: Settings = DEFAULT_SETTINGS,
        meta: Mapping[str, str] | None = None, validate_all: bool = False,
    ) -> ValidationReport:
        """Replace the layers ``change(current)`` returns, ``current`` being the content read
        under the write lock (read-modify-write without lost updates), atomically."""

    # -- row-level edits: single rows, never a rewrite of the store -------------------------
    def edit_rows(self) -> contextlib.AbstractContextManager[RowEdit]:
        """One transaction of row operations (:class:`RowEdit`), committed when the block ends
        without an exception and rolled back otherwise; one editor at a time, never
        interleaved with whole-store writes."""

    def select_rows(
        self, layer: str, where: Mapping[str, object] | None = None, *,
        columns: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """Rows of ``layer`` matching ``where`` (see :meth:`RowEdit.select`), outside any
        transaction."""

    def insert_rows(
        self, layer: str, frame: pd.DataFrame, log_entries: Iterable[Mapping[str, object]] = ()
    ) -> int:
        """Insert ``frame``'s rows and append ``log_entries`` in one transaction."""

    def update_rows(
        self, layer: str, where: Mapping[str, object], values: Mapping[str, object], *,
        expected: Mapping[str, object] | None = None,
        log_entries: Iterable[Mapping[str, object]] = (),
    ) -> int:
        """Set ``values`` on the rows matching ``where`` (when each still holds ``expected``,
        else :class:`RowConflict`) and append ``log_entries``, in one transaction; returns the
        number of rows changed."""

    def change_log(self, filters: Mapping[str, object] | None = None) -> pd.DataFrame:
        """Entries of the append-only change log matching ``filters``, oldest first."""

    # -- versions and what changed since ----------------------------------------------------
    def layer_versions(self) -> dict[str, str]:
        """A token per layer (and ``meta``, ``change_log``) that changes whenever that table
        changes, whoever changed it (a cache key for what is computed from one layer)."""

    def version(self) -> str:
        """Changes with every change of the layers or metadata (a cache key for views), not
        with accounts, sessions, audit entries or tickets."""

    def changed_at(self) -> dt.datetime | None:
        """When a layer last changed (UTC, naive; None: unknown) — for people (“data as of”),
        never a cache key (use :meth:`layer_versions`)."""

    def row_marker(self, name: str) -> RowMarker | None:
        """Where the row tracking of layer ``name`` stands (None: not tracked)."""

    def rows_changed(self, name: str, since: RowMarker
                     ) -> tuple[RowMarker, np.ndarray] | None:
        """The marker now and the ``fid`` of every row changed after ``since`` (None when that
        cannot be told: tracking absent or remade since)."""

    def read_changed(self, name: str, frame: pd.DataFrame, marker: RowMarker
                     ) -> tuple[pd.DataFrame, RowMarker] | None:
        """Layer ``name`` now, from ``frame`` (read when its tracking stood at ``marker``) and
        only the rows changed since; None when a whole read is needed."""

    # -- what is kept beside the layers -----------------------------------------------------
    def services(self) -> ServiceTables:
        """The accounts, sessions and audit log of this store."""

    def ticket_tables(self) -> ServiceTables:
        """The tickets, their history and photos of this store."""

    def cache_dir(self) -> Path | None:
        """A local folder for derived, disposable caches of this store (the snapshot), or
        None when there is none to use."""

    def cache_mode(self) -> int:
        """The permission bits of files in :meth:`cache_dir` (they hold the store's data)."""
