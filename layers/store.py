"""Storage of layer sets behind a small interface.

Callers use :func:`open_store` and the :class:`Store` protocol only; the embedded backend is
:class:`GeoPackageStore` (one ``.gpkg`` file that QGIS opens). A PostGIS backend slots in by
implementing the same protocol and teaching :func:`open_store` its URL scheme.

Every write validates first and is atomic: the new content goes to a temporary file in the same
folder which then replaces the old one in one ``os.replace``; bad data raises
:class:`~layers.errors.LayerValidationError` and leaves the file on disk untouched.

Writers take an advisory lock on a sibling ``.lock`` file, one at a time. Read-modify-write
changes (an append to a layer) go through :meth:`GeoPackageStore.transform`, which reads the
current content *under* that lock, so two concurrent appends both land. A store file whose write
permission bits are cleared is refused (even for root), a write keeps the file's mode, and
staging files left behind by a killed writer are removed by the next one.

Row-level edits (one person, one assignment) never rewrite the file: :meth:`Store.edit_rows`
opens one transaction in which the caller reads, inserts and updates single rows and appends to
the append-only ``change_log`` table; the GeoPackage backend runs it as one SQLite transaction
(``BEGIN IMMEDIATE``) on the same file, under the same advisory lock as whole-store writes.

Besides its layers a store keeps service tables (:data:`SERVICE_TABLES`): the change log and
the accounts and audit log of :mod:`layers.auth.accounts`. A whole-store write carries them
over from the file it replaces (a demo or an import over a store never drops its accounts);
:meth:`GeoPackageStore.service_transaction` is the locked SQLite transaction that writes them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import logging
import os
import re
import secrets
import shutil
import sqlite3
import stat
import struct
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple, Protocol, runtime_checkable

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyogrio
import shapely

from . import clock
from .errors import LayersError, LayerValidationError, StoreError
from .layerset import DATE_ANCHOR, LayerSet
from .schema import LAYER_NAMES, LAYERS, REQUIRED_LAYERS, spec
from .settings import DEFAULT_SETTINGS, Settings
from .validate import Problem, ValidationReport, check_integrity, validate

log = logging.getLogger(__name__)

META_TABLE = "store_meta"
SCHEMA_VERSION = "1"

Bounds = tuple[float, float, float, float]

#: A change computed from the store's current content: the layers to replace.
Change = Callable[[LayerSet], Mapping[str, pd.DataFrame]]

#: Suffixes SQLite adds beside a GeoPackage being written.
_SIDECARS = ("", "-journal", "-wal", "-shm")

#: The append-only attribute table of row edits (who changed what, when, before → after).
CHANGE_LOG = "change_log"
#: Its columns besides ``fid`` (``when`` is the product clock's local time).
CHANGE_LOG_COLUMNS = ("when", "by", "action", "layer", "person_id", "target_code", "role",
                      "before", "after", "reason", "source")
#: Row id column of :meth:`RowEdit.select` results (the backend's primary key).
ROW_ID = "fid"
#: Accounts and the append-only audit log (:mod:`layers.auth.accounts`): plain SQLite tables,
#: not registered in ``gpkg_contents`` (GIS clients do not list them).
ACCOUNTS_TABLE = "auth_accounts"
AUDIT_TABLE = "audit_log"
#: Tables that are not layers but belong to the store: :meth:`GeoPackageStore.write` keeps
#: them (with their indexes, triggers and GeoPackage registration) when it replaces the file.
SERVICE_TABLES = (CHANGE_LOG, ACCOUNTS_TABLE, AUDIT_TABLE)
#: Row tracking: which rows of a layer changed, kept by SQLite triggers on the layer (so any
#: client's row edits are seen) — ``seq``, ``layer``, ``fid`` — and, per layer, the epoch of its
#: triggers (new whenever they are installed: a layer rewritten whole loses its triggers).
ROW_CHANGES = "row_changes"
ROW_TRACKING = "row_tracking"
#: The first bytes of every SQLite database file.


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
    """A store file no longer holds what the store writes (edited outside the app?): a
    column is missing, a value is not of its column's kind, a required value or a geometry is
    missing, a key is repeated. ``report`` lists what the read's integrity check found; the
    full check (``python -m layers validate``) finds the rest.

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
            self, f"{source}: {rows} problem(s) reading the store (was the file edited outside "
            f"the app?); for the full check run `python -m layers validate {source}`.\n"
            + report.format(limit=50))


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
    """Where a layer's row tracking stands (:meth:`GeoPackageStore.row_marker`): the epoch of
    its triggers, the last change's sequence number, its row count and largest ``fid``."""

    epoch: str
    seq: int
    rows: int
    max_fid: int


@runtime_checkable
class Store(Protocol):
    """What every backend offers. Callers depend on this, never on a backend class."""

    location: str

    def exists(self) -> bool:
        """True when the store holds data."""

    def layer_names(self) -> list[str]:
        """Contract layers present in the store."""

    def meta(self) -> dict[str, str]:
        """Store-level metadata (``fictional``, ``source``, ``attribution`` …)."""

    def read(
        self,
        layers: Iterable[str] | None = None,
        *,
        bbox: Bounds | None = None,
        columns: Mapping[str, Sequence[str]] | None = None,
        full_check: bool = False,
        check_geometry: bool = True,
        relative_dates: bool = True,
    ) -> LayerSet:
        """Read layers (all by default; only some ``columns`` of some) with a cheap integrity
        check, since what the store wrote was validated when written; ``full_check``
        validates them fully; ``relative_dates=False`` keeps a demo's dates as stored.
        Raises on errors."""

    def write(self, data: LayerSet, *, settings: Settings = DEFAULT_SETTINGS) -> ValidationReport:
        """Validate ``data`` and replace the store's whole content with it, atomically."""

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

    # -- row-level edits (issue 13): single rows, never a rewrite of the store ----------------
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

    def layer_versions(self) -> dict[str, str]:
        """A token per layer (and ``meta``, ``change_log``) that changes whenever that table
        changes (a cache key for what is computed from one layer)."""

    def version(self) -> str:
        """Changes with every change of the layers or metadata (a cache key for views), not
        with accounts or audit entries."""


def _datetimes(text: pd.Series) -> pd.Series:
    """A date-time column GDAL gave as ISO 8601 text, as ``datetime64[ms]``: parsed by Arrow
    (a city's two million assignments: 0.02 s, against 0.25 s for pandas' parser); text
    Arrow does not take (a time-zone offset) is parsed by pandas as pyogrio would, and a column
    holding text that is no date stays text: the integrity check reports it, row by row."""
    try:
        parsed = pa.array(text, type=pa.large_string()).cast(pa.timestamp("ms"))
        return pd.Series(parsed.to_numpy(zero_copy_only=False), index=text.index,
                         name=text.name)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        pass
    try:
        return pd.to_datetime(text, format="ISO8601")
    except (ValueError, TypeError):
        return text


def open_store(location: str | os.PathLike[str]) -> Store:
    """Open the store at ``location``.

    Parameters
    ----------
    location
        A path to a ``.gpkg`` file (created on first write). ``postgresql://`` URLs are reserved
        for the PostGIS backend.

    Raises
    ------
    StoreError
        For a location no backend understands.
    """
    loc = os.fspath(location)
    if loc.startswith(("postgresql://", "postgres://", "PG:")):
        raise StoreError(
            f"{loc.split('@')[-1]}: the PostGIS backend is not available yet; use a .gpkg file"
        )
    if Path(loc).suffix.lower() != ".gpkg":
        raise StoreError(f"{loc}: not a GeoPackage path (expected a file name ending in .gpkg)")
    return GeoPackageStore(loc)


class GeoPackageStore:
    """A layer set in one GeoPackage file.

    Parameters
    ----------
    path
        The ``.gpkg`` file. It need not exist before the first :meth:`write`.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.location = str(self.path)

    def __repr__(self) -> str:
        return f"GeoPackageStore({self.location!r})"

    # -- reading ---------------------------------------------------------------------------
    def exists(self) -> bool:
        return self.path.is_file() and self.path.stat().st_size > 0

    def _require(self) -> None:
        if not self.path.exists():
            raise StoreError(f"{self.path}: no such file")
        if not self.exists():
            raise StoreError(f"{self.path}: the file is empty")

    def _raw_layers(self) -> list[str]:
        self._require()
        try:
            return [str(r[0]) for r in pyogrio.list_layers(self.path)]
        except Exception as exc:  # pyogrio raises DataSourceError & co for non-GeoPackages
            raise StoreError(f"{self.path}: cannot be opened as a GeoPackage ({exc})") from exc

    def layer_names(self) -> list[str]:
        present = set(self._raw_layers())
        return [n for n in LAYER_NAMES if n in present]

    def meta(self) -> dict[str, str]:
        if META_TABLE not in self._raw_layers():
            return {}
        df = pyogrio.read_dataframe(self.path, layer=META_TABLE, read_geometry=False)
        return dict(zip(df["key"].astype(str), df["value"].astype(str), strict=True))

    def read_layer(
        self, name: str, *, bbox: Bounds | None = None, columns: Sequence[str] | None = None,
        fids: Sequence[int] | None = None,
    ) -> pd.DataFrame:
        """Read one layer as stored (no check; :meth:`read` checks).

        Parameters
        ----------
        name
            The layer.
        bbox
            Only features intersecting (minx, miny, maxx, maxy) in EPSG:4326.
        columns
            Only these columns (``"geometry"`` among them for the geometry); default all.
            Columns the file lacks are left out.
        fids
            Only these rows, indexed by their ``fid`` (the rows a :meth:`rows_changed` names).

        Returns
        -------
        pandas.DataFrame
            A GeoDataFrame when the geometry is read. Text columns are Arrow strings in one
            chunk each (Arrow's take and hash kernels run several times faster on one chunk
            than on GDAL's batches of 65,536 rows).
        """
        s = spec(name)
        if name not in self._raw_layers():
            raise StoreError(f"{self.path}: layer {name!r} is missing")
        geometry = s.geometry is not None and (columns is None or "geometry" in columns)
        attrs = None if columns is None else [c for c in columns if c != "geometry"]
        if attrs == [] and not geometry:
            raise StoreError(f"{self.path}: no column of layer {name!r} asked for")
        kw: dict[str, object] = {"bbox": bbox} if bbox is not None and geometry else {}
        info = pyogrio.read_info(self.path, layer=name)
        if info["features"] > 0:
            kw["batch_size"] = int(info["features"])  # one Arrow batch: one chunk per column
        if fids is not None:
            kw["where"] = f"{ROW_ID} IN ({', '.join(str(int(f)) for f in fids) or 'NULL'})"
            kw["fid_as_index"] = True
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            df = pyogrio.read_dataframe(self.path, layer=name, use_arrow=True,
                                        read_geometry=geometry, columns=attrs,
                                        datetime_as_string=True, **kw)
        for field, dtype in zip(info["fields"], info["dtypes"], strict=True):
            if str(dtype).startswith("datetime64") and field in df.columns:
                df[field] = _datetimes(df[field])
        if geometry and not isinstance(df, gpd.GeoDataFrame):
            df = gpd.GeoDataFrame(df, geometry=gpd.GeoSeries([], crs="EPSG:4326"))
        return df

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
        """Read layers, trusting what the store wrote.

        Everything the store writes was fully validated when written, so by default a read
        only checks the file's integrity (:func:`~layers.validate.check_integrity`: columns
        present, values of their kinds and with the contract's dtypes, required values and
        geometries present, geometry types, unique keys). ``full_check`` runs the whole
        validation instead (geometry validity, tiling, references …), as
        ``python -m layers validate`` does. Either way a valid store reads as the same frames.

        Parameters
        ----------
        layers
            Layer names; default all contract layers present (the required ones must be).
        bbox
            Only features intersecting (minx, miny, maxx, maxy) in EPSG:4326. Cross-layer
            checks are skipped for such partial reads.
        columns
            Layer name → the only columns to read of it (``"geometry"`` among them for its
            geometry); other layers are read whole. The check covers the columns read (a
            required one the file lacks is an error). Not with ``full_check``.
        full_check
            Validate fully (:func:`~layers.validate.validate`), with the repairs it makes.
        check_geometry
            With ``full_check``: the geometric checks too (validity, tiling); False for the
            column-level and cross-layer checks only. Ignored without ``full_check``.
        settings
            Tolerances of the full check.
        relative_dates
            Shift the dates of a store kept relative to a day (the demo) to today
            (:meth:`LayerSet.dates_relative_to`); False for the dates as stored.

        Raises
        ------
        StoreError
            Missing file or layer.
        StoreIntegrityError
            The file does not hold what the store writes (e.g. edited outside the app).
        LayerValidationError
            With ``full_check``: the stored data breaks the contract.
        """
        columns = dict(columns or {})
        if full_check and columns:
            raise StoreError("a full check needs whole layers: read them without columns=")
        data = LayerSet({n: self.read_layer(n, bbox=bbox, columns=columns.get(n))
                         for n in self._names(layers)}, self.meta())
        if full_check:
            checked, report = validate(data, settings, source=self.location,
                                       check_geometry=check_geometry, cross_layer=bbox is None)
            if not report.ok:
                raise LayerValidationError(report, self.location)
        else:
            checked, report = check_integrity(data, source=self.location, columns=columns)
            if not report.ok:
                raise StoreIntegrityError(report, self.location)
        return checked.dates_relative_to(clock.today()) if relative_dates else checked

    def _names(self, layers: Iterable[str] | None) -> list[str]:
        """The layers a read returns: ``layers``, or every contract layer present (and then
        the required ones must be)."""
        if layers is not None:
            return [spec(n).name for n in layers]
        present = self.layer_names()
        missing = [n for n in REQUIRED_LAYERS if n not in present]
        if missing:
            raise StoreError(f"{self.path}: required layer(s) missing: {', '.join(missing)}")
        return present

    # -- writing ---------------------------------------------------------------------------
    def write(self, data: LayerSet, *, settings: Settings = DEFAULT_SETTINGS) -> ValidationReport:
        """Validate ``data`` and make it the store's whole content.

        The layers and metadata are replaced; the service tables (:data:`SERVICE_TABLES`:
        change log, accounts, audit log) of the file replaced are kept.

        Returns
        -------
        ValidationReport
            Repairs, warnings and notes (there are no errors when this returns).

        Raises
        ------
        LayerValidationError
            With the full report; the file on disk is unchanged.
        StoreError
            The store file or its folder is read-only, or the file replaced is an SQLite
            database whose service tables cannot be read; the file on disk is unchanged.
        """
        self._require_writable()
        missing = [n for n in REQUIRED_LAYERS if n not in data]
        full = data.replace(**{n: data[n] for n in missing}) if missing else data
        checked, report = validate(full, settings, source=self.location)
        if not report.ok:
            raise LayerValidationError(report, self.location)
        with self._locked(), self._staging(copy_existing=False) as tmp:
            for name in checked:
                _write_layer(tmp, name, checked[name])
            _write_meta(tmp, checked.meta)
            if self.exists():
                _carry_service_tables(self.path, tmp)
        return report

    def update(
        self, layers: Mapping[str, pd.DataFrame], *, settings: Settings = DEFAULT_SETTINGS,
        meta: Mapping[str, str] | None = None,
    ) -> ValidationReport:
        """Replace the given layers, validated together with the stored ones; ``meta`` entries
        (e.g. an imported file's licence and attribution) are merged into the store's.

        The frames are computed by the caller, before the lock: to change a layer *from* its
        current content (an append), use :meth:`transform`.

        Raises
        ------
        LayerValidationError
            With the full report; the file on disk is unchanged.
        StoreError
            The store file or its folder is read-only.
        """
        for n in layers:
            spec(n)
        return self.transform(lambda _current: layers, settings=settings, meta=meta)

    def transform(
        self, change: Change, *, settings: Settings = DEFAULT_SETTINGS,
        meta: Mapping[str, str] | None = None, validate_all: bool = False,
    ) -> ValidationReport:
        """Replace the layers ``change(current)`` returns, all under the write lock.

        ``current`` is the store's content read (integrity-checked) after the lock is
        taken, so no other writer can change it before this write lands: an append computed
        from it never loses rows another process added meanwhile.

        Parameters
        ----------
        change
            Gets the current :class:`LayerSet` and returns ``{layer name: new frame}``. It may
            raise (e.g. :class:`LayerValidationError`) to abort; nothing is written then.
        settings
            Validation tolerances.
        meta
            Entries merged into the store's metadata.
        validate_all
            Validate every layer with its geometry checks (grid tiling, containment …) against
            the changed ones; by default the changed layers get the full check and the others
            only the column and reference checks.

        Returns
        -------
        ValidationReport
            Repairs, warnings and notes (there are no errors when this returns).

        Raises
        ------
        LayerValidationError
            With the full report; the file on disk is unchanged.
        StoreError
            The store file or its folder is read-only, or the store cannot be read.
        """
        with self._locked():
            current = self.read()
            layers = dict(change(current))
            for n in layers:
                spec(n)
            merged = current.replace(**layers)
            if validate_all:
                checked, report = validate(merged, settings, source=self.location)
                # the unchanged layers' repairs and warnings are not news of this change
                report.problems = [p for p in report.problems
                                   if p.layer in layers or p.severity == "error"]
            else:
                checked, report = _validate_changed(merged, tuple(layers), settings,
                                                    self.location)
            if not report.ok:
                raise LayerValidationError(report, self.location)
            with self._staging(copy_existing=True) as tmp:
                for name in layers:
                    _write_layer(tmp, name, checked[name])
                if meta:
                    _write_meta(tmp, {**current.meta, **{k: str(v) for k, v in meta.items()}})
        return report

    def _require_writable(self) -> None:
        """Refuse a store file whose write bits are cleared (even for root, who could write it
        anyway) or that this user may not write, and a folder this user cannot write in."""
        if self.path.exists():
            mode = stat.S_IMODE(self.path.stat().st_mode)
            if not mode & 0o222 or not os.access(self.path, os.W_OK):
                raise StoreError(f"{self.path}: the store file is read-only (mode {mode:04o}); "
                                 "nothing was written")
        folder = self.path.parent
        if folder.exists() and not os.access(folder, os.W_OK | os.X_OK):
            raise StoreError(f"{folder}: the store's folder is read-only; nothing was written")

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """One writer at a time (advisory lock on a sibling ``.lock`` file). Holding it, no
        other writer of this store can be using a staging file: leftovers of killed writers
        are removed."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._require_writable()
        lock = self.path.with_name(self.path.name + ".lock")
        with open(lock, "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                self._require_writable()  # the mode may have changed while we waited
                self._remove_stale_staging()
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _staging_pattern(self) -> re.Pattern[str]:
        """Names of this store's staging files (8 random characters, as ``mkstemp`` made them
        too) and their SQLite sidecars; another store's never match (``.a.b.…`` ≠ ``.a.…``)."""
        return re.compile(rf"\.{re.escape(self.path.stem)}\.[a-z0-9_]{{8}}\.tmp\.gpkg"
                          r"(-journal|-wal|-shm)?")

    def _remove_stale_staging(self) -> None:
        """Delete staging files a killed writer left behind (call with the lock held)."""
        pattern = self._staging_pattern()
        for entry in os.scandir(self.path.parent):
            if pattern.fullmatch(entry.name) and entry.is_file(follow_symlinks=False):
                log.info("removing a stale staging file %s", entry.path)
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)

    @contextlib.contextmanager
    def _staging(self, *, copy_existing: bool) -> Iterator[Path]:
        """A temporary GeoPackage beside the target that replaces it on success only, with
        the target's mode (and owner, where allowed); a new store gets 0666 less the umask."""
        tmp, fresh_mode = _create_staging(self.path)
        try:
            if copy_existing and self.exists():
                shutil.copyfile(self.path, tmp)
            else:
                tmp.unlink()
            yield tmp
            _copy_mode(self.path, tmp, fresh_mode)
            os.replace(tmp, self.path)
        finally:
            for suffix in _SIDECARS:
                with contextlib.suppress(FileNotFoundError):
                    Path(str(tmp) + suffix).unlink()

    # -- row-level edits ----------------------------------------------------------------------
    @contextlib.contextmanager
    def edit_rows(self) -> Iterator[RowEdit]:
        """One SQLite transaction (``BEGIN IMMEDIATE``) on the store file, under the store's
        write lock: the block's row operations and log entries are committed together when it
        ends, or not at all when it raises. The file is changed in place (a few pages), never
        rewritten; it keeps its inode and mode.

        Raises
        ------
        StoreError
            Missing, empty or read-only store file.
        """
        with self.service_transaction() as con:
            edit = _GpkgRowEdit(con, self.location)
            yield edit
            edit.finish()

    @contextlib.contextmanager
    def service_transaction(self) -> Iterator[sqlite3.Connection]:
        """A plain sqlite3 connection to the store file in one ``BEGIN IMMEDIATE``
        transaction, under the store's write lock: what the service tables (accounts, audit
        log) are written through. Committed when the block ends, rolled back when it raises;
        the file is changed in place, never rewritten.

        Yields
        ------
        sqlite3.Connection
            In autocommit mode with the transaction open; do not commit it yourself.

        Raises
        ------
        StoreError
            Missing, empty, read-only or non-GeoPackage store file.
        """
        self._require()
        with self._locked():
            con = _connect(self.path)
            try:
                con.execute("BEGIN IMMEDIATE")
                yield con
                con.execute("COMMIT")
            except BaseException:
                if con.in_transaction:
                    con.execute("ROLLBACK")
                raise
            finally:
                con.close()

    def select_rows(
        self, layer: str, where: Mapping[str, object] | None = None, *,
        columns: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """Rows of ``layer`` matching ``where`` (see :class:`RowEdit`), read without the lock
        (SQLite gives a consistent snapshot)."""
        with self._reading() as edit:
            return edit.select(layer, where, columns=columns)

    def insert_rows(
        self, layer: str, frame: pd.DataFrame, log_entries: Iterable[Mapping[str, object]] = ()
    ) -> int:
        """Insert ``frame``'s rows into ``layer`` and append ``log_entries``, in one transaction.

        Raises
        ------
        LayerValidationError
            A row breaks the contract (type, choice, missing value, duplicate key, unknown
            reference); nothing is written.
        """
        with self.edit_rows() as edit:
            n = edit.insert(layer, frame)
            edit.log(log_entries)
        return n

    def update_rows(
        self, layer: str, where: Mapping[str, object], values: Mapping[str, object], *,
        expected: Mapping[str, object] | None = None,
        log_entries: Iterable[Mapping[str, object]] = (),
    ) -> int:
        """Set ``values`` on the rows of ``layer`` matching ``where`` and append
        ``log_entries``, in one transaction.

        Returns
        -------
        int
            Rows changed (0 when none match; then nothing is logged).

        Raises
        ------
        RowConflict
            A matching row does not hold ``expected`` (optimistic check); nothing is written.
        LayerValidationError
            The changed rows would break the contract; nothing is written.
        """
        with self.edit_rows() as edit:
            n = edit.update(layer, where, values, expected=expected)
            if n:
                edit.log(log_entries)
        return n

    def change_log(self, filters: Mapping[str, object] | None = None) -> pd.DataFrame:
        """Entries of the change log matching ``filters`` (column → value), oldest first;
        an empty frame with ``fid`` + :data:`CHANGE_LOG_COLUMNS` when there is no log yet."""
        with self._reading() as edit:
            return edit.change_log(filters)

    def layer_versions(self) -> dict[str, str]:
        """A token per table of the store that changes whenever that table changes: a cache
        key for what is computed from some layers only.

        Keys are the layer names, ``meta`` (the metadata table) and ``change_log``. A token is
        the table's ``gpkg_contents.last_change`` and row count: GDAL sets ``last_change`` on
        every write of a layer (a whole-store write rewrites every layer; :meth:`update`
        rewrites the layers it is given and copies the others byte for byte, keeping their
        tokens), row edits (:meth:`edit_rows`) set it for exactly the tables they changed,
        always later than before; GeoPackage triggers keep the row count, so even a row
        inserted or deleted by a plain SQLite client changes it. Accounts and the audit log
        are not tables of the GeoPackage: they have no token.

        Raises
        ------
        StoreError
            Missing or empty store file.
        """
        with self._reading() as tx:
            con = tx.con
            count = ("(SELECT feature_count FROM gpkg_ogr_contents o WHERE lower(o.table_name) "
                     "= lower(c.table_name))") if _has_table(con, "gpkg_ogr_contents") else "NULL"
            seq = (f"(SELECT max(seq) FROM {_q(ROW_CHANGES)} r WHERE r.layer = c.table_name)"
                   if _has_table(con, ROW_CHANGES) else "NULL")
            rows = con.execute(f"SELECT table_name, coalesce(last_change, ''), {count}, {seq} "
                               "FROM gpkg_contents c ORDER BY table_name").fetchall()
        return {("meta" if name == META_TABLE else str(name)):
                f"{stamp}#{n}" + (f"#{s}" if s is not None else "")
                for name, stamp, n, s in rows}

    def row_marker(self, name: str) -> RowMarker | None:
        """Where the row tracking of layer ``name`` stands (None: its rows are not tracked —
        no row edit since it was written whole). Row edits (:meth:`edit_rows`) install the
        tracking: SQLite triggers that record the ``fid`` of every row any client inserts,
        updates or deletes."""
        with self._reading() as tx:
            return _row_marker(tx.con, name)

    def rows_changed(self, name: str, since: RowMarker
                     ) -> tuple[RowMarker, np.ndarray] | None:
        """The marker of layer ``name`` now and the ``fid`` of every row changed after
        ``since`` (inserted, updated or deleted), read in one transaction; None when that
        cannot be told (tracking absent or remade since: the layer was rewritten whole)."""
        with self._reading() as tx:
            tx.con.execute("BEGIN")
            try:
                now = _row_marker(tx.con, name)
                if now is None or now.epoch != since.epoch or now.seq < since.seq:
                    return None
                fids = [r[0] for r in tx.con.execute(
                    f"SELECT DISTINCT fid FROM {_q(ROW_CHANGES)} WHERE layer = ? AND seq > ?",
                    (name, since.seq))]
            finally:
                tx.con.execute("COMMIT")
        return now, np.asarray(fids, dtype=np.int64)

    def read_changed(self, name: str, frame: pd.DataFrame, marker: RowMarker
                     ) -> tuple[pd.DataFrame, RowMarker] | None:
        """Layer ``name`` now, from ``frame`` — the layer as :meth:`read` returned it (dates as
        stored) when its tracking stood at ``marker`` — and only the rows changed since
        (:meth:`rows_changed`), integrity-checked as a read is; with its marker now. None
        when a whole read is needed: untracked or rewritten layer, rows deleted in the middle
        (positions no longer follow ``fid``), more than a twentieth of the rows changed, or a
        change while this read."""
        got = self.rows_changed(name, marker) if marker.rows == marker.max_fid else None
        if got is None:
            return None
        now, fids = got
        if now.rows != now.max_fid or len(fids) > max(1000, now.rows // 20):
            return None
        rows = self.read_layer(name, fids=sorted(int(f) for f in fids if f <= now.max_fid))
        if self.row_marker(name) != now:
            return None
        patched = _patched(frame, marker.rows, now.rows, rows)
        if patched is None:
            return None
        checked, report = check_integrity(LayerSet({name: patched}), source=self.location)
        return (checked[name], now) if report.ok else None

    def version(self) -> str:
        """What a cached view of the layers depends on: it changes with every layer write,
        row edit and metadata change (see :meth:`layer_versions`; a whole-store write also
        replaces the file, a new inode) — not with accounts or audit entries, which live
        beside the layers (a login must not make every page re-read a city).

        Raises
        ------
        StoreError
            Missing or empty store file.
        """
        self._require()
        inode = self.path.stat().st_ino
        tokens = ";".join(f"{k}={v}" for k, v in sorted(self.layer_versions().items()))
        return f"{inode}|{tokens}"

    @contextlib.contextmanager
    def _reading(self) -> Iterator[_GpkgRowEdit]:
        """A read-only connection (no lock, no transaction left open)."""
        self._require()
        con = _connect(self.path, readonly=True)
        try:
            yield _GpkgRowEdit(con, self.location)
        finally:
            con.close()


def _validate_changed(merged: LayerSet, changed: tuple[str, ...], settings: Settings,
                      source: str) -> tuple[LayerSet, ValidationReport]:
    """Full checks of the changed layers, plus the other layers' references *into* them (e.g.
    buildings → replaced grids) without their geometry checks."""
    checked, report = validate(merged, settings, source=source, layers=changed)
    _, rest = validate(merged, settings, source=source,
                       layers=tuple(n for n in merged if n not in changed),
                       check_geometry=False)
    report.problems.extend(p for p in rest.problems if p.severity == "error")
    return checked, report


def _create_staging(target: Path) -> tuple[Path, int]:
    """Create ``.{stem}.XXXXXXXX.tmp.gpkg`` beside ``target`` exclusively; return it and the
    mode a new file gets here (0666 less the umask)."""
    for _ in range(100):
        tmp = target.with_name(f".{target.stem}.{secrets.token_hex(4)}.tmp.gpkg")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        try:
            return tmp, stat.S_IMODE(os.fstat(fd).st_mode)
        finally:
            os.close(fd)
    raise StoreError(f"{target.parent}: cannot create a staging file")  # pragma: no cover


def _copy_mode(target: Path, tmp: Path, fresh_mode: int) -> None:
    """Give ``tmp`` the mode (and owner) of ``target``, or ``fresh_mode`` for a new store."""
    try:
        st = target.stat()
    except FileNotFoundError:
        os.chmod(tmp, fresh_mode)
        return
    own = tmp.stat()
    if (own.st_uid, own.st_gid) != (st.st_uid, st.st_gid):
        with contextlib.suppress(PermissionError):
            os.chown(tmp, st.st_uid, st.st_gid)
    os.chmod(tmp, stat.S_IMODE(st.st_mode))


def _write_layer(path: Path, name: str, df: pd.DataFrame) -> None:
    s = LAYERS[name]
    if s.geometry is None:
        pyogrio.write_dataframe(pd.DataFrame(df), path, layer=name, driver="GPKG")
        return
    geometry_type = s.geometry[0] if len(s.geometry) == 1 else "Unknown"
    if len(s.geometry) == 2 and set(s.geometry) == {"Polygon", "MultiPolygon"}:
        geometry_type = "MultiPolygon" if (df.geom_type == "MultiPolygon").any() else "Polygon"
    pyogrio.write_dataframe(
        df,
        path,
        layer=name,
        driver="GPKG",
        geometry_type=geometry_type,
        promote_to_multi=False,
        spatial_index=True,
    )


def _is_sqlite(path: Path) -> bool:
    """Whether ``path`` is an SQLite database, asked of SQLite itself: never ``open()`` a
    database file — closing any descriptor of it drops this process's POSIX locks, those of
    live SQLite connections included."""
    if not path.exists() or path.stat().st_size == 0:
        return False
    try:
        with contextlib.closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro",
                                                uri=True)) as con:
            con.execute("PRAGMA schema_version").fetchone()
    except sqlite3.DatabaseError as exc:
        if getattr(exc, "sqlite_errorname", "") == "SQLITE_NOTADB":
            return False
        raise StoreError(f"{path}: damaged SQLite file ({exc})") from exc
    return True


def _carry_service_tables(source: Path, target: Path) -> None:
    """Copy :data:`SERVICE_TABLES` of the store ``source`` into the freshly written ``target``:
    schema, rows, indexes, triggers and their ``gpkg_contents`` / ``gpkg_ogr_contents`` rows,
    in one transaction. A ``source`` that is not an SQLite database has none.

    Raises
    ------
    StoreError
        ``source`` is an SQLite database whose service tables cannot be read.
    """
    if not _is_sqlite(source):
        return
    con = sqlite3.connect(target.resolve().as_uri(), uri=True, isolation_level=None)
    try:
        con.execute("ATTACH DATABASE ? AS old", (source.resolve().as_uri() + "?mode=ro",))
        objects = con.execute(
            "SELECT type, name, sql FROM old.sqlite_master WHERE tbl_name IN "
            f"({', '.join('?' * len(SERVICE_TABLES))}) AND sql IS NOT NULL ORDER BY rowid",
            SERVICE_TABLES).fetchall()
        con.execute("BEGIN IMMEDIATE")
        for kind, name, sql in objects:
            if kind == "table":
                con.execute(sql)
                _copy_rows(con, name)
        for kind, _, sql in objects:  # indexes and triggers once the rows are in
            if kind != "table":
                con.execute(sql)
        con.execute("COMMIT")
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{source}: its change log and accounts cannot be read ({exc}); "
                         "nothing was written") from exc
    finally:
        con.close()


#: ``gpkg_contents`` columns (GeoPackage 1.3 § 1.1.3), copied by name.
_CONTENTS_COLUMNS = ("table_name, data_type, identifier, description, last_change, min_x, "
                     "min_y, max_x, max_y, srs_id")


def _copy_rows(con: sqlite3.Connection, name: str) -> None:
    """The rows of table ``name`` from the attached ``old`` database, and its GeoPackage
    registration where it had one (the change log's; the auth tables have none)."""
    con.execute(f"INSERT INTO main.{_q(name)} SELECT * FROM old.{_q(name)}")

    def both_have(table: str) -> bool:
        return all(con.execute(f"SELECT 1 FROM {db}.sqlite_master WHERE name = ?",
                               (table,)).fetchone() for db in ("main", "old"))

    if both_have("gpkg_contents"):
        con.execute(f"INSERT INTO main.gpkg_contents ({_CONTENTS_COLUMNS}) SELECT "
                    f"{_CONTENTS_COLUMNS} FROM old.gpkg_contents WHERE table_name = ?", (name,))
    if both_have("gpkg_ogr_contents"):
        con.execute("INSERT INTO main.gpkg_ogr_contents (table_name, feature_count) SELECT "
                    "table_name, feature_count FROM old.gpkg_ogr_contents WHERE table_name = ?",
                    (name,))


def _write_meta(path: Path, meta: Mapping[str, str]) -> None:
    m = {**meta, "schema_version": SCHEMA_VERSION}
    df = pd.DataFrame({"key": list(m), "value": [str(v) for v in m.values()]})
    pyogrio.write_dataframe(df, path, layer=META_TABLE, driver="GPKG")


# -- row-level edits: plain sqlite3 on the GeoPackage ------------------------------------------
#
# GDAL's GeoPackage files carry R-tree triggers on every feature table that call ST_IsEmpty and
# ST_MinX … ST_MaxY; plain sqlite3 lacks them, so each connection registers the small Python
# versions below (they read the GeoPackage geometry header, see GeoPackage 1.3 § 2.1.3).

#: Doubles in the header's envelope, by its indicator (flags bits 1–3).
_ENVELOPE_DOUBLES = {0: 0, 1: 4, 2: 6, 3: 6, 4: 8}
_GPKG_EMPTY = 0b0001_0000
_GPKG_LITTLE = 0b0000_0001
_GPKG_ENVELOPE_XY = 0b0000_0010
_UNDEFINED_GEOGRAPHIC_SRS = 0
_INDEX_PREFIX = "wangge_idx"
#: The columns row edits look rows up by: keys and references (indexed on first use).
_LOOKUP_COLUMNS = frozenset(
    {(name, s.key) for name, s in LAYERS.items() if s.key}
    | {(name, r.column) for name, s in LAYERS.items() for r in s.references}
    | {("assignments", "target_code"), (CHANGE_LOG, "person_id"), (CHANGE_LOG, "target_code")})
#: Values bound in one ``IN (…)``; longer lists are looked up in chunks.
_MAX_IN = 10_000
_NOW_SQL = "strftime('%Y-%m-%dT%H:%M:%fZ','now')"
#: Now, or 2 ms after the row's ``last_change`` when that is not earlier (two edits within a
#: millisecond, a clock set back): every edit moves a table's version forward.
_LATER_SQL = ("strftime('%Y-%m-%dT%H:%M:%fZ', max(julianday('now'), "
              "coalesce(julianday(last_change), 0) + 0.002 / 86400))")


def _gpkg_header(blob: bytes) -> tuple[bool, tuple[float, ...] | None, int]:
    """(empty flag, envelope ``(minx, maxx, miny, maxy)`` or None, offset of the WKB)."""
    if len(blob) < 8 or blob[:2] != b"GP":
        raise ValueError("not a GeoPackage geometry blob")
    flags = blob[3]
    n = _ENVELOPE_DOUBLES.get((flags >> 1) & 0b111)
    if n is None:
        raise ValueError("bad envelope indicator in a GeoPackage geometry blob")
    order = "<" if flags & _GPKG_LITTLE else ">"
    env = struct.unpack_from(order + "4d", blob, 8) if n else None
    return bool(flags & _GPKG_EMPTY), env, 8 + 8 * n


def _gpkg_bounds(blob: bytes | None) -> tuple[float, float, float, float] | None:
    """(minx, miny, maxx, maxy) of a GeoPackage geometry; None for NULL or empty."""
    if blob is None:
        return None
    empty, env, offset = _gpkg_header(blob)
    if empty:
        return None
    if env is not None:
        return env[0], env[2], env[1], env[3]
    wkb = blob[offset:]
    if len(wkb) == 21:  # a 2-D point: byte order, type 1, x, y
        order = "<" if wkb[0] == 1 else ">"
        kind, x, y = struct.unpack_from(order + "Idd", wkb, 1)
        if kind == 1:
            return x, y, x, y
    b = shapely.bounds(shapely.from_wkb(wkb))
    return None if b[0] != b[0] else (b[0], b[1], b[2], b[3])  # NaN: empty


def _st_is_empty(blob: bytes | None) -> int | None:
    if blob is None:
        return None
    return int(_gpkg_header(blob)[0] or _gpkg_bounds(blob) is None)


def _st_coordinate(i: int) -> Callable[[bytes | None], float | None]:
    def f(blob: bytes | None) -> float | None:
        b = _gpkg_bounds(blob)
        return None if b is None else b[i]
    return f


_SQL_FUNCTIONS: dict[str, Callable] = {
    "ST_IsEmpty": _st_is_empty,
    "ST_MinX": _st_coordinate(0),
    "ST_MinY": _st_coordinate(1),
    "ST_MaxX": _st_coordinate(2),
    "ST_MaxY": _st_coordinate(3),
}


def _gpkg_blob(geom: object, srs_id: int) -> bytes | None:
    """A GeoPackage geometry blob as GDAL writes it: little endian, no envelope for points, the
    XY envelope otherwise."""
    if geom is None or shapely.is_missing(geom):
        return None
    flags = _GPKG_LITTLE
    envelope = b""
    if shapely.is_empty(geom):
        flags |= _GPKG_EMPTY
    elif shapely.get_type_id(geom) != 0:
        minx, miny, maxx, maxy = shapely.bounds(geom)
        flags |= _GPKG_ENVELOPE_XY
        envelope = struct.pack("<4d", minx, maxx, miny, maxy)
    header = b"GP" + bytes([0, flags]) + struct.pack("<i", srs_id)
    return header + envelope + shapely.to_wkb(geom, byte_order=1)


def _geometry_from_blobs(blobs: Sequence[bytes | None]) -> np.ndarray:
    wkb = [None if b is None else b[_gpkg_header(b)[2]:] for b in blobs]
    return shapely.from_wkb(np.array(wkb, dtype=object))


def _connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit) with the ST_ functions."""
    if readonly:
        con = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True, timeout=60,
                              isolation_level=None)
    else:
        con = sqlite3.connect(path, timeout=60, isolation_level=None)
    for name, fn in _SQL_FUNCTIONS.items():
        con.create_function(name, 1, fn, deterministic=True)
    try:
        con.execute("SELECT 1 FROM gpkg_contents LIMIT 1")
    except sqlite3.DatabaseError as exc:
        con.close()
        raise StoreError(f"{path}: cannot be opened as a GeoPackage ({exc})") from exc
    return con


def _patched(frame: pd.DataFrame, before: int, after: int, rows: pd.DataFrame
             ) -> pd.DataFrame | None:
    """``frame`` (``before`` rows, the row at position i having ``fid`` i + 1) with ``rows``
    (indexed by ``fid``) put in place: updated rows replaced, rows after ``before`` appended,
    rows after ``after`` dropped; None when the new rows are not exactly the appended ones
    or their values do not fit the frame's columns."""
    keep = min(before, after)
    fid = rows.index.to_numpy(dtype=np.int64)
    tail = rows[fid > keep].sort_index()
    if tail.index.tolist() != list(range(keep + 1, after + 1)):
        return None
    out = frame.iloc[:keep].copy(deep=False)  # copy-on-write: only the columns set are copied
    inside = rows[fid <= keep]
    try:
        pos = inside.index.to_numpy(dtype=np.int64) - 1
        for j, col in enumerate(out.columns):
            new = inside[col]
            if len(pos) and not _same_values(out[col].iloc[pos], new):
                out.iloc[pos, j] = new.to_numpy()  # (a column of Arrow strings: rebuilt)
        if len(tail):
            tail = tail.reset_index(drop=True)[list(out.columns)]
            tail = tail.astype({c: out[c].dtype for c in out.columns if c != "geometry"})
            out = pd.concat([out, tail], ignore_index=True)
    except (TypeError, ValueError, KeyError) as exc:
        log.info("rows of %s not put in place (%s): read whole", frame.__class__, exc)
        return None
    return out


def _same_values(old: pd.Series, new: pd.Series) -> bool:
    """The same values, position by position (missing equal to missing)."""
    try:
        return bool(np.array_equal(old.to_numpy(dtype=object), new.to_numpy(dtype=object)))
    except (TypeError, ValueError):
        return False


def _has_table(con: sqlite3.Connection, name: str) -> bool:
    return con.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                       (name,)).fetchone() is not None


def _triggers(con: sqlite3.Connection, table: str) -> set[str]:
    """The names of the triggers on ``table``."""
    return {r[0] for r in con.execute(
        "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?", (table,))}


def _tracking_triggers(layer: str) -> dict[str, str]:
    """Operation → the name of the trigger that records it for ``layer``."""
    return {op: f"wg_rows_{layer}_{op.lower()}" for op in ("INSERT", "UPDATE", "DELETE")}


def _install_tracking(con: sqlite3.Connection, layer: str) -> None:
    """Triggers recording every inserted, updated or deleted row of ``layer`` (its ``fid``)
    in :data:`ROW_CHANGES`, whoever writes it; a new epoch in :data:`ROW_TRACKING` when they
    had to be (re)made. In the caller's write transaction."""
    con.execute(f"CREATE TABLE IF NOT EXISTS {_q(ROW_CHANGES)} (seq INTEGER PRIMARY KEY "
                "AUTOINCREMENT, layer TEXT NOT NULL, fid INTEGER NOT NULL)")
    con.execute(f"CREATE INDEX IF NOT EXISTS {_q(ROW_CHANGES + '_layer_seq')} ON "
                f"{_q(ROW_CHANGES)} (layer, seq)")
    con.execute(f"CREATE TABLE IF NOT EXISTS {_q(ROW_TRACKING)} (layer TEXT PRIMARY KEY, "
                "epoch TEXT NOT NULL)")
    names = _tracking_triggers(layer)
    if set(names.values()) <= _triggers(con, layer):
        return
    lit = "'" + layer.replace("'", "''") + "'"
    for op, name in names.items():
        rows = {"INSERT": f"({lit}, NEW.{ROW_ID})", "DELETE": f"({lit}, OLD.{ROW_ID})",
                "UPDATE": f"({lit}, OLD.{ROW_ID}), ({lit}, NEW.{ROW_ID})"}[op]
        con.execute(f"DROP TRIGGER IF EXISTS {_q(name)}")
        con.execute(f"CREATE TRIGGER {_q(name)} AFTER {op} ON {_q(layer)} BEGIN "
                    f"INSERT INTO {_q(ROW_CHANGES)} (layer, fid) VALUES {rows}; END")
    con.execute(f"INSERT OR REPLACE INTO {_q(ROW_TRACKING)} (layer, epoch) VALUES (?, ?)",
                (layer, secrets.token_hex(8)))


def _row_marker(con: sqlite3.Connection, layer: str) -> RowMarker | None:
    """``layer``'s :class:`RowMarker`, or None when its rows are not tracked (no tracking
    tables, a trigger missing: the layer was rewritten whole since)."""
    if not (_has_table(con, ROW_CHANGES) and _has_table(con, ROW_TRACKING)):
        return None
    epoch = con.execute(f"SELECT epoch FROM {_q(ROW_TRACKING)} WHERE layer = ?",
                        (layer,)).fetchone()
    if epoch is None or not set(_tracking_triggers(layer).values()) <= _triggers(con, layer):
        return None
    seq = con.execute(f"SELECT coalesce(max(seq), 0) FROM {_q(ROW_CHANGES)} WHERE layer = ?",
                      (layer,)).fetchone()[0]
    max_fid = con.execute(f"SELECT coalesce(max({_q(ROW_ID)}), 0) FROM {_q(layer)}").fetchone()[0]
    return RowMarker(str(epoch[0]), int(seq), _row_count(con, layer), int(max_fid))


def _row_count(con: sqlite3.Connection, layer: str) -> int:
    """Rows of ``layer``: GeoPackage's feature count, kept by GDAL's triggers for every
    client's inserts and deletes (a city's assignments: ``count(*)`` scans 1.9 M rows, 70 ms),
    else counted."""
    count = con.execute("SELECT feature_count FROM gpkg_ogr_contents WHERE lower(table_name) = "
                        "lower(?)", (layer,)).fetchone() \
        if _has_table(con, "gpkg_ogr_contents") else None
    if count is not None and count[0] is not None:
        return int(count[0])
    return int(con.execute(f"SELECT count(*) FROM {_q(layer)}").fetchone()[0])


def _q(name: str) -> str:
    """An SQL identifier, quoted."""
    return '"' + name.replace('"', '""') + '"'


def _iso(ts: pd.Timestamp) -> str:
    """A date-time as pyogrio/GDAL store it in a GeoPackage: ``2026-11-20T00:00:00``."""
    text = ts.strftime("%Y-%m-%dT%H:%M:%S")
    return text + (f".{ts.microsecond // 1000:03d}" if ts.microsecond >= 1000 else "")


def _missing(v: object) -> bool:
    if v is None or v is pd.NA or v is pd.NaT:
        return True
    return isinstance(v, float) and v != v


def _to_sql(value: object, kind: str, shift: pd.Timedelta) -> object:
    """A contract value as stored (dates shown → stored: less the demo's shift)."""
    if _missing(value):
        return None
    if kind == "bool":
        return int(bool(value))
    if kind == "int":
        return int(value)  # type: ignore[call-overload]
    if kind == "float":
        return float(value)  # type: ignore[arg-type]
    if kind == "datetime":
        return _iso(pd.Timestamp(value) - shift)  # type: ignore[arg-type]
    return str(value)


def _parse_dates(values: pd.Series) -> pd.Series:
    """ISO text (as GDAL writes it, a trailing ``Z`` dropped) → naive datetime64[ms]."""
    if len(values) > 1000:
        text = values.astype("object").where(values.notna(), None)
        text = text.map(lambda v: v[:-1] if isinstance(v, str) and v.endswith("Z") else v)
        return pd.to_datetime(text, format="ISO8601").astype("datetime64[ms]")
    parsed = [None if _missing(v) else dt.datetime.fromisoformat(str(v).removesuffix("Z"))
              for v in values]
    return pd.Series(parsed, index=values.index, dtype="datetime64[ms]")


def _from_sql(values: pd.Series, kind: str, shift: pd.Timedelta) -> pd.Series:
    """Stored values as the contract's types (dates stored → shown)."""
    if kind == "bool":
        if values.isna().any():
            return values.map(lambda v: None if _missing(v) else bool(v)).astype("boolean")
        return values.astype(bool)
    if kind == "int":
        return pd.to_numeric(values).astype("Int64")
    if kind == "float":
        return pd.to_numeric(values).astype("float64")
    if kind == "datetime":
        return _parse_dates(values) + shift
    return values  # text (object, None for NULL) as SQLite returned it


class _Table:
    """A table of the store: its columns and its geometry column (None for attributes)."""

    def __init__(self, name: str, columns: list[str], geometry: str | None, srs_id: int):
        self.name = name
        self.columns = columns
        self.geometry = geometry
        self.srs_id = srs_id


class _GpkgRowEdit:
    """The :class:`RowEdit` of a GeoPackage: SQL on one sqlite3 connection in a transaction
    (or read-only)."""

    def __init__(self, con: sqlite3.Connection, location: str) -> None:
        self.con = con
        self.location = location
        self._tables: dict[str, _Table] = {}
        self._meta: dict[str, str] | None = None
        self._touched: set[str] = set()
        self._extent: dict[str, tuple[float, float, float, float]] = {}
        self._indexed: set[tuple[str, str]] = set()
        self._tracked: set[str] = set()
        self.writable = con.in_transaction

    def _track(self, layer: str) -> None:
        """Row tracking on ``layer`` (:func:`_install_tracking`) before its first row edit in
        this transaction (rolled back with it)."""
        if layer not in self._tracked and layer != CHANGE_LOG:
            _install_tracking(self.con, layer)
            self._tracked.add(layer)

    # -- schema --------------------------------------------------------------------------------
    def _table(self, layer: str, *, required: bool = True) -> _Table | None:
        if layer not in self._tables:
            if layer != CHANGE_LOG:
                spec(layer)
            cols = [r[1] for r in self.con.execute(f"PRAGMA table_info({_q(layer)})")]
            if not cols:
                if required:
                    raise StoreError(f"{self.location}: layer {layer!r} is missing")
                return None
            geom = self.con.execute(
                "SELECT column_name, srs_id FROM gpkg_geometry_columns WHERE table_name = ?",
                (layer,)).fetchone()
            self._tables[layer] = _Table(layer, cols, geom[0] if geom else None,
                                         int(geom[1]) if geom else 4326)
        return self._tables[layer]

    def _column(self, table: _Table, column: str) -> str:
        """The stored column for a requested one (``geometry`` → the geometry column)."""
        if column == "geometry" and table.geometry:
            return table.geometry
        if column not in table.columns:
            raise StoreError(f"{self.location}: layer {table.name!r} has no column {column!r}")
        return column

    def _index(self, table: _Table, column: str) -> None:
        """An index on a key column rows are looked up by (created once, in a write
        transaction: a refused edit rolls it back with everything else). Only selective
        columns get one: an index on ``role`` would lead SQLite's planner astray."""
        key = (table.name, column)
        if key in self._indexed or key not in _LOOKUP_COLUMNS or not self.writable:
            return
        self.con.execute(f"CREATE INDEX IF NOT EXISTS {_q(f'{_INDEX_PREFIX}_{table.name}_{column}')}"
                         f" ON {_q(table.name)} ({_q(column)})")
        self._indexed.add(key)

    def meta(self) -> dict[str, str]:
        if self._meta is None:
            rows = self.con.execute(f"SELECT key, value FROM {_q(META_TABLE)}").fetchall() \
                if _has_table(self.con, META_TABLE) else []
            self._meta = {str(k): str(v) for k, v in rows}
        return self._meta

    def _shift(self) -> pd.Timedelta:
        """Shown − stored for date columns (a demo store's dates follow the clock)."""
        anchor = self.meta().get(DATE_ANCHOR)
        if not anchor:
            return pd.Timedelta(0)
        return pd.Timedelta(days=(clock.today() - dt.date.fromisoformat(anchor)).days)

    # -- reading -------------------------------------------------------------------------------
    def _where(self, table: _Table, where: Mapping[str, object] | None,
               kinds: Mapping[str, str]) -> tuple[str, list[object]]:
        if not where:
            return "", []
        parts, params = [], []
        shift = self._shift()
        for col, value in where.items():
            stored = self._column(table, col) if col != ROW_ID else ROW_ID
            self._index(table, stored)
            kind = kinds.get(col, "str")
            if isinstance(value, list | tuple | set | frozenset | np.ndarray | pd.Series):
                vals = [_to_sql(v, kind, shift) for v in value]
                if not vals:
                    return " WHERE 0", []
                parts.append(f"{_q(stored)} IN ({', '.join('?' * len(vals))})")
                params.extend(vals)
            elif _missing(value):
                parts.append(f"{_q(stored)} IS NULL")
            else:
                parts.append(f"{_q(stored)} = ?")
                params.append(_to_sql(value, kind, shift) if col != ROW_ID
                              else int(value))  # type: ignore[call-overload]  # a row id
        return " WHERE " + " AND ".join(parts), params

    def select(
        self, layer: str, where: Mapping[str, object] | None = None, *,
        columns: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        big = next((k for k, v in (where or {}).items()
                    if isinstance(v, list | tuple | set | frozenset | np.ndarray | pd.Series)
                    and len(v) > _MAX_IN), None)
        if big is not None:  # SQLite binds at most 32,766 values per statement
            values = list(dict.fromkeys(where[big]))  # type: ignore[index, arg-type]
            parts = [self.select(layer, {**where, big: values[i:i + _MAX_IN]},  # type: ignore[dict-item]
                                 columns=columns) for i in range(0, len(values), _MAX_IN)]
            return pd.concat(parts, ignore_index=True).sort_values(ROW_ID, ignore_index=True)
        table = self._table(layer)
        assert table is not None
        s = spec(layer)
        kinds = {f.name: f.kind for f in s.fields}
        wanted = list(columns) if columns is not None else (
            [f.name for f in s.fields] + (["geometry"] if table.geometry else []))
        stored = [self._column(table, c) for c in wanted]
        cond, params = self._where(table, where, kinds)
        sql = (f"SELECT {', '.join(_q(c) for c in [ROW_ID, *stored])} FROM {_q(layer)}"
               f"{cond} ORDER BY {_q(ROW_ID)}")
        rows = self.con.execute(sql, params).fetchall()
        raw = pd.DataFrame(rows, columns=[ROW_ID, *wanted], dtype=object)
        out = pd.DataFrame({ROW_ID: raw[ROW_ID].astype("int64")})
        shift = self._shift()
        for c in wanted:
            if c == "geometry" and table.geometry:
                continue
            out[c] = _from_sql(raw[c], kinds.get(c, "str"), shift)
        if "geometry" in wanted and table.geometry:
            return gpd.GeoDataFrame(out, geometry=_geometry_from_blobs(raw["geometry"].tolist()),
                                    crs="EPSG:4326")
        return out

    def max_value(self, layer: str, column: str, prefix: str | None = None) -> object:
        table = self._table(layer)
        assert table is not None
        col = self._column(table, column)
        self._index(table, col)
        sql = f"SELECT max({_q(col)}) FROM {_q(layer)}"
        params: list[object] = []
        if prefix:
            sql += f" WHERE {_q(col)} >= ? AND {_q(col)} < ?"
            params = [prefix, prefix[:-1] + chr(ord(prefix[-1]) + 1)]
        return self.con.execute(sql, params).fetchone()[0]

    def change_log(self, filters: Mapping[str, object] | None = None) -> pd.DataFrame:
        cols = [ROW_ID, *CHANGE_LOG_COLUMNS]
        table = self._table(CHANGE_LOG, required=False)
        if table is None:
            out = pd.DataFrame({c: pd.Series([], dtype=object) for c in cols})
            out["when"] = out["when"].astype("datetime64[ms]")
            return out
        where = {k: v for k, v in (filters or {}).items() if not _missing(v)}
        unknown = set(where) - set(cols)
        if unknown:
            raise StoreError(f"the change log has no column(s) {sorted(unknown)}")
        cond, params = self._where(table, where, {})
        rows = self.con.execute(f"SELECT {', '.join(_q(c) for c in cols)} FROM "
                                f"{_q(CHANGE_LOG)}{cond} ORDER BY {_q(ROW_ID)}", params).fetchall()
        out = pd.DataFrame(rows, columns=cols, dtype=object)
        out[ROW_ID] = out[ROW_ID].astype("int64")
        out["when"] = _parse_dates(out["when"])
        for c in ("before", "after"):
            out[c] = out[c].map(lambda v: None if v is None else json.loads(v))
        return out

    # -- writing -------------------------------------------------------------------------------
    def _require_writable(self) -> None:
        if not self.writable:
            raise StoreError("row changes need a transaction: use Store.edit_rows()")

    def _check(self, layer: str, rows: pd.DataFrame, keep_fids: Sequence[int]) -> pd.DataFrame:
        """Validate the rows as they will be stored: the contract's column checks, the
        references they make (looked up by key) and unique keys across the table. Returns the
        normalised rows; raises :class:`LayerValidationError` (nothing written)."""
        s = spec(layer)
        frames: dict[str, pd.DataFrame] = {layer: rows.reset_index(drop=True)}
        refs = [(r.column, r.layer) for r in s.references]
        if layer == "assignments":
            refs += [("target_code", "grids"), ("target_code", "buildings")]
        for column, parent in refs:
            if column in rows and parent not in frames:
                key = spec(parent).key
                assert key is not None
                found = self.select(parent, {key: rows[column].dropna().unique().tolist()},
                                    columns=[key])
                frames[parent] = found.drop(columns=ROW_ID)
        checked, report = validate(LayerSet(frames), source=self.location, layers=(layer,))
        if s.key:
            keys = checked[layer][s.key].dropna().unique().tolist()
            taken = self.select(layer, {s.key: keys}, columns=[s.key])
            taken = taken[~taken[ROW_ID].isin(list(keep_fids))]
            report.problems.extend(
                Problem(layer, None, k, s.key, f"{s.key} {k!r} is already in the store")
                for k in taken[s.key])
        if not report.ok:
            raise LayerValidationError(report, self.location)
        return checked[layer]

    def _values(self, table: _Table, frame: pd.DataFrame, columns: Sequence[str]
                ) -> tuple[list[str], list[list[object]]]:
        """Stored column names and per-row stored values of ``columns``."""
        kinds = {f.name: f.kind for f in spec(table.name).fields}
        shift = self._shift()
        names: list[str] = []
        cols: list[list[object]] = []
        for c in columns:
            names.append(self._column(table, c))
            if c == "geometry" and table.geometry:
                geoms = frame.geometry.to_numpy()
                cols.append([_gpkg_blob(g, table.srs_id) for g in geoms])
                self._grow_extent(table.name, geoms)
            else:
                cols.append([_to_sql(v, kinds[c], shift) for v in frame[c].tolist()])
        return names, [list(r) for r in zip(*cols, strict=True)] if cols else []

    def _grow_extent(self, layer: str, geoms: np.ndarray) -> None:
        present = geoms[~(shapely.is_missing(geoms) | shapely.is_empty(geoms))]
        if len(present):
            b = shapely.total_bounds(present)
            old = self._extent.get(layer)
            self._extent[layer] = b if old is None else (
                min(old[0], b[0]), min(old[1], b[1]), max(old[2], b[2]), max(old[3], b[3]))

    def insert(self, layer: str, frame: pd.DataFrame) -> int:
        self._require_writable()
        table = self._table(layer)
        assert table is not None
        s = spec(layer)
        rows = pd.DataFrame({f.name: frame.get(f.name) for f in s.fields}, index=frame.index)
        if s.geometry is not None:
            geoms = frame.geometry if isinstance(frame, gpd.GeoDataFrame) else [None] * len(frame)
            rows = gpd.GeoDataFrame(rows, geometry=gpd.GeoSeries(list(geoms), index=frame.index,
                                                                 crs="EPSG:4326"))
        if rows.empty:
            return 0
        checked = self._check(layer, rows, ())
        self._track(layer)
        wanted = [f.name for f in s.fields] + (["geometry"] if s.geometry is not None else [])
        names, values = self._values(table, checked, wanted)
        self.con.executemany(f"INSERT INTO {_q(layer)} ({', '.join(_q(n) for n in names)}) "
                             f"VALUES ({', '.join('?' * len(names))})", values)
        self._touched.add(layer)
        return len(values)

    def update(
        self, layer: str, where: Mapping[str, object], values: Mapping[str, object], *,
        expected: Mapping[str, object] | None = None,
    ) -> int:
        self._require_writable()
        if not where:
            raise StoreError("an update needs a condition (where); nothing was written")
        table = self._table(layer)
        assert table is not None
        current = self.select(layer, where)
        if expected:
            self._expect(layer, where, current, expected)
        if current.empty or not values:
            return 0
        new = current.copy()
        for c, v in values.items():
            self._column(table, c)
            if c == "geometry":
                new = new.set_geometry(gpd.GeoSeries([v] * len(new), index=new.index,
                                                     crs="EPSG:4326"))
            else:
                new[c] = pd.Series([v] * len(new), index=new.index, dtype=object)
        checked = self._check(layer, new.drop(columns=ROW_ID), current[ROW_ID].tolist())
        self._track(layer)
        names, rows = self._values(table, checked, list(values))
        sets = ", ".join(f"{_q(n)} = ?" for n in names)
        self.con.executemany(f"UPDATE {_q(layer)} SET {sets} WHERE {_q(ROW_ID)} = ?",
                             [[*r, int(f)] for r, f in zip(rows, current[ROW_ID], strict=True)])
        self._touched.add(layer)
        return len(current)

    def _expect(self, layer: str, where: Mapping[str, object], current: pd.DataFrame,
                expected: Mapping[str, object]) -> None:
        """:class:`RowConflict` unless every row matched holds ``expected`` (and one does)."""
        personal = {f.name for f in spec(layer).fields if f.personal}
        shown = {k: v for k, v in where.items() if k not in personal}
        if current.empty:
            raise RowConflict(layer, next(iter(expected)), shown)
        for c, want in expected.items():
            if c not in current:
                raise StoreError(f"{self.location}: layer {layer!r} has no column {c!r}")
            if not all(_same(v, want) for v in current[c]):
                raise RowConflict(layer, c, shown)

    def _ensure_log(self) -> _Table:
        table = self._table(CHANGE_LOG, required=False)
        if table is not None:
            return table
        cols = ", ".join(f"{_q(c)} {'DATETIME NOT NULL' if c == 'when' else 'TEXT'}"
                         for c in CHANGE_LOG_COLUMNS)
        x = self.con.execute
        x(f"CREATE TABLE {_q(CHANGE_LOG)} ({_q(ROW_ID)} INTEGER PRIMARY KEY AUTOINCREMENT "
          f"NOT NULL, {cols})")
        x("INSERT INTO gpkg_contents (table_name, data_type, identifier, description, "
          f"last_change, srs_id) VALUES (?, 'attributes', ?, ?, {_NOW_SQL}, ?)",
          (CHANGE_LOG, CHANGE_LOG, "append-only log of row edits (people, assignments)",
           _UNDEFINED_GEOGRAPHIC_SRS))
        for verb in ("UPDATE", "DELETE"):
            x(f"CREATE TRIGGER {_q(f'{CHANGE_LOG}_no_{verb.lower()}')} BEFORE {verb} ON "
              f"{_q(CHANGE_LOG)} BEGIN SELECT RAISE(ABORT, "
              f"'{CHANGE_LOG} is append-only: entries are never changed or deleted'); END")
        if self.con.execute("SELECT 1 FROM sqlite_master WHERE name = 'gpkg_ogr_contents'"
                            ).fetchone():
            # what GDAL keeps for its own tables: a row count maintained by triggers
            x("INSERT INTO gpkg_ogr_contents (table_name, feature_count) VALUES (?, 0)",
              (CHANGE_LOG,))
            for verb, sign in (("insert", "+"), ("delete", "-")):
                x(f"CREATE TRIGGER {_q(f'trigger_{verb}_feature_count_{CHANGE_LOG}')} AFTER "
                  f"{verb.upper()} ON {_q(CHANGE_LOG)} BEGIN UPDATE gpkg_ogr_contents SET "
                  f"feature_count = feature_count {sign} 1 WHERE lower(table_name) = "
                  f"lower('{CHANGE_LOG}'); END")
        for c in ("person_id", "target_code"):
            x(f"CREATE INDEX {_q(f'{_INDEX_PREFIX}_{CHANGE_LOG}_{c}')} ON {_q(CHANGE_LOG)} "
              f"({_q(c)})")
        self._tables.pop(CHANGE_LOG, None)
        table = self._table(CHANGE_LOG)
        assert table is not None
        return table

    def log(self, entries: Iterable[Mapping[str, object]]) -> int:
        self._require_writable()
        entries = list(entries)
        if not entries:
            return 0
        self._ensure_log()
        now = _iso(pd.Timestamp(clock.now()))
        rows = []
        for e in entries:
            unknown = set(e) - set(CHANGE_LOG_COLUMNS)
            if unknown:
                raise StoreError(f"the change log has no column(s) {sorted(unknown)}")
            if _missing(e.get("action")):
                raise StoreError("a change-log entry needs an action")
            rows.append([_log_value(c, e.get(c), now) for c in CHANGE_LOG_COLUMNS])
        self.con.executemany(
            f"INSERT INTO {_q(CHANGE_LOG)} ({', '.join(_q(c) for c in CHANGE_LOG_COLUMNS)}) "
            f"VALUES ({', '.join('?' * len(CHANGE_LOG_COLUMNS))})", rows)
        self._touched.add(CHANGE_LOG)
        return len(rows)

    def finish(self) -> None:
        """Before the commit: the touched tables' ``last_change`` and extents in
        ``gpkg_contents`` (what QGIS and GDAL read to know a table changed)."""
        for layer in sorted(self._touched):
            self.con.execute(f"UPDATE gpkg_contents SET last_change = {_LATER_SQL} "
                             "WHERE table_name = ?", (layer,))
        for layer, (minx, miny, maxx, maxy) in self._extent.items():
            self.con.execute(
                "UPDATE gpkg_contents SET min_x = min(coalesce(min_x, ?), ?), "
                "min_y = min(coalesce(min_y, ?), ?), max_x = max(coalesce(max_x, ?), ?), "
                "max_y = max(coalesce(max_y, ?), ?) WHERE table_name = ?",
                (minx, minx, miny, miny, maxx, maxx, maxy, maxy, layer))


def _log_value(column: str, value: object, now: str) -> object:
    if column == "when":
        return now if _missing(value) else _iso(pd.Timestamp(value))  # type: ignore[arg-type]
    if _missing(value):
        return None
    if column in ("before", "after") and not isinstance(value, str):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=_json_default)
    return str(value)


def _json_default(v: object) -> object:
    if isinstance(v, pd.Timestamp | dt.datetime | dt.date):
        return v.isoformat()
    if isinstance(v, np.generic):
        return v.item()
    return str(v)


def _same(a: object, b: object) -> bool:
    """Equal as the user saw them: missing values alike, dates by time, numbers by value."""
    if _missing(a) or _missing(b):
        return _missing(a) and _missing(b)
    if isinstance(a, pd.Timestamp | dt.datetime | dt.date | np.datetime64) or isinstance(
            b, pd.Timestamp | dt.datetime | dt.date | np.datetime64):
        try:
            return pd.Timestamp(a) == pd.Timestamp(b)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return False
    if isinstance(a, bool | np.bool_) or isinstance(b, bool | np.bool_):
        return bool(a) == bool(b)
    return a == b or str(a) == str(b)
