"""The embedded backend: a layer set in one GeoPackage file that QGIS opens.

Every write validates first and is atomic: the new content goes to a temporary file in the same
folder which then replaces the old one in one ``os.replace``; bad data raises
:class:`~layers.errors.LayerValidationError` and leaves the file on disk untouched.

Writers take an advisory lock on a sibling ``.lock`` file, one at a time. Read-modify-write
changes (an append to a layer) go through :meth:`GeoPackageStore.transform`, which reads the
current content *under* that lock, so two concurrent appends both land. A store file whose write
permission bits are cleared is refused (even for root), a write keeps the file's mode, and
staging files left behind by a killed writer are removed by the next one.

Row-level edits (one person, one assignment) never rewrite the file: :meth:`~GeoPackageStore.edit_rows`
is one SQLite transaction (``BEGIN IMMEDIATE``) on the same file, under the same advisory lock
as whole-store writes.

Besides its layers the file keeps the service tables (:data:`~layers.store.base.SERVICE_TABLES`):
the change log, accounts, sessions and audit log. A whole-store write carries them over from
the file it replaces (a demo or an import over a store never drops its accounts). Tickets live
in a SQLite file beside it (``town.gpkg`` → ``town.tickets.sqlite``, WAL mode); the derived
read cache (:mod:`layers.snapshot`) in ``town.snapshot/``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import logging
import os
import re
import shutil
import stat
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio

from ...errors import StoreError
from ...layerset import LayerSet
from ...schema import LAYER_NAMES, spec
from ...settings import DEFAULT_SETTINGS, Settings
from ...validate import ValidationReport
from .._common import StoreBase, checked_change, checked_write
from .._sqlite_tables import SqliteTables
from .._values import datetimes
from .._values import q as _q
from ..base import META_TABLE, ROW_CHANGES, ROW_ID, Bounds, Change, RowEdit, RowMarker
from . import _files
from ._rows import GpkgRowEdit
from ._sqlite import connect, has_table, install_tracking
from ._sqlite import row_marker as row_marker_of

log = logging.getLogger(__name__)


class GeoPackageStore(StoreBase):
    """A layer set in one GeoPackage file.

    Parameters
    ----------
    path
        The ``.gpkg`` file. It need not exist before the first :meth:`write`.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.location = str(self.path)
        self.identity = str(self.path.resolve())
        self._services: SqliteTables | None = None
        self._tickets: SqliteTables | None = None

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
        if info["features"] > 0 and bbox is None and fids is None:
            # a whole layer in one Arrow batch: one chunk per column (a filtered read keeps
            # GDAL's default: a batch of two million would be allocated for a few rows)
            kw["batch_size"] = int(info["features"])
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
                df[field] = datetimes(df[field])
        if geometry and not isinstance(df, gpd.GeoDataFrame):
            df = gpd.GeoDataFrame(df, geometry=gpd.GeoSeries([], crs="EPSG:4326"))
        return df



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
        checked, report = checked_write(data, settings, self.location)
        with self._locked(), self._staging(copy_existing=False) as tmp:
            for name in checked:
                _files.write_layer(tmp, name, checked[name])
            _files.write_meta(tmp, checked.meta)
            _track(tmp, list(checked))
            if self.exists():
                _files.carry_service_tables(self.path, tmp)
        return report


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
            layers, checked, report = checked_change(current, change, settings, self.location,
                                                     validate_all)
            with self._staging(copy_existing=True) as tmp:
                for name in layers:
                    _files.write_layer(tmp, name, checked[name])
                _track(tmp, list(layers))
                if meta:
                    _files.write_meta(tmp, {**current.meta,
                                            **{k: str(v) for k, v in meta.items()}})
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
        tmp, fresh_mode = _files.create_staging(self.path)
        try:
            if copy_existing and self.exists():
                shutil.copyfile(self.path, tmp)
            else:
                tmp.unlink()
            yield tmp
            _files.copy_mode(self.path, tmp, fresh_mode)
            os.replace(tmp, self.path)
        finally:
            for suffix in _files.SIDECARS:
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
        self._require()
        with self._locked():
            con = connect(self.path)
            try:
                con.execute("BEGIN IMMEDIATE")
                edit = GpkgRowEdit(con, self.location)
                yield edit
                edit.finish()
                con.execute("COMMIT")
            except BaseException:
                if con.in_transaction:
                    con.execute("ROLLBACK")
                raise
            finally:
                con.close()

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
                     "= lower(c.table_name))") if has_table(con, "gpkg_ogr_contents") else "NULL"
            seq = (f"(SELECT max(seq) FROM {_q(ROW_CHANGES)} r WHERE r.layer = c.table_name)"
                   if has_table(con, ROW_CHANGES) else "NULL")
            rows = con.execute(f"SELECT table_name, coalesce(last_change, ''), {count}, {seq} "
                               "FROM gpkg_contents c ORDER BY table_name").fetchall()
        return {("meta" if name == META_TABLE else str(name)):
                f"{stamp}#{n}" + (f"#{s}" if s is not None else "")
                for name, stamp, n, s in rows}

    def changed_at(self) -> dt.datetime | None:
        """The latest ``gpkg_contents.last_change`` of a layer (GDAL and row edits set it)."""
        with self._reading() as tx:
            rows = tx.con.execute("SELECT table_name, last_change FROM gpkg_contents").fetchall()
        stamps = [str(s) for n, s in rows if n in LAYER_NAMES and s]
        if not stamps:
            return None
        return dt.datetime.fromisoformat(max(stamps).removesuffix("Z"))

    def row_marker(self, name: str) -> RowMarker | None:
        """Where the row tracking of layer ``name`` stands (None: its rows are not tracked —
        no row edit since it was written whole). Row edits (:meth:`edit_rows`) install the
        tracking: SQLite triggers that record the ``fid`` of every row any client inserts,
        updates or deletes."""
        with self._reading() as tx:
            return row_marker_of(tx.con, name)

    def rows_changed(self, name: str, since: RowMarker
                     ) -> tuple[RowMarker, np.ndarray] | None:
        """The marker of layer ``name`` now and the ``fid`` of every row changed after
        ``since`` (inserted, updated or deleted), read in one transaction; None when that
        cannot be told (tracking absent or remade since: the layer was rewritten whole)."""
        with self._reading() as tx:
            tx.con.execute("BEGIN")
            try:
                now = row_marker_of(tx.con, name)
                if now is None or now.epoch != since.epoch or now.seq < since.seq:
                    return None
                fids = [r[0] for r in tx.con.execute(
                    f"SELECT DISTINCT fid FROM {_q(ROW_CHANGES)} WHERE layer = ? AND seq > ?",
                    (name, since.seq))]
            finally:
                tx.con.execute("COMMIT")
        return now, np.asarray(fids, dtype=np.int64)


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

    # -- what is kept beside the layers -----------------------------------------------------
    def services(self) -> SqliteTables:
        """The accounts, sessions and audit log: plain tables of the GeoPackage file (not in
        ``gpkg_contents``: GIS clients do not list them), written in place under the store's
        write lock (``BEGIN IMMEDIATE``, never a rewrite of the file), read read-only. Writing
        needs the store file: it is never created by a service write (StoreError)."""
        if self._services is None:
            self._services = SqliteTables(
                self.path, self.path.name, wal=False, lock=self._service_lock, check=False,
                connect=lambda path, readonly: connect(path, readonly=readonly))
        return self._services

    @contextlib.contextmanager
    def _service_lock(self) -> Iterator[None]:
        """The store's write lock, for an existing store file only."""
        self._require()
        with self._locked():
            yield

    def ticket_tables(self) -> SqliteTables:
        """The tickets: a SQLite file beside the store in WAL mode (``town.gpkg`` →
        ``town.tickets.sqlite``; readers never wait for a writer)."""
        if self._tickets is None:
            db = tickets_file(self.path)
            self._tickets = SqliteTables(db, db.name)
        return self._tickets

    def cache_dir(self) -> Path | None:
        """``town.snapshot/`` beside ``town.gpkg``."""
        return self.path.with_name(self.path.stem + ".snapshot")

    def cache_mode(self) -> int:
        """The store file's read and write bits (the cache holds the same data)."""
        try:
            return stat.S_IMODE(self.path.stat().st_mode) & 0o666
        except FileNotFoundError:
            return 0o600

    @contextlib.contextmanager
    def _reading(self) -> Iterator[GpkgRowEdit]:
        """A read-only connection (no lock, no transaction left open)."""
        self._require()
        con = connect(self.path, readonly=True)
        try:
            yield GpkgRowEdit(con, self.location)
        finally:
            con.close()


def _track(path: Path, layers: list[str]) -> None:
    """Row tracking on the layers just written (GDAL drops a rewritten table's triggers):
    from the first moment on, every client's row changes are seen."""
    con = connect(path)
    try:
        con.execute("BEGIN IMMEDIATE")
        for name in layers:
            install_tracking(con, name)
        con.execute("COMMIT")
    finally:
        con.close()


def tickets_file(store: str | os.PathLike[str]) -> Path:
    """Where the tickets of a GeoPackage store live: ``town.gpkg`` → ``town.tickets.sqlite``."""
    p = Path(store)
    return p.with_name(p.stem + ".tickets.sqlite")
