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
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import secrets
import shutil
import stat
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Protocol, runtime_checkable

import geopandas as gpd
import pandas as pd
import pyogrio

from . import clock
from .errors import LayerValidationError, StoreError
from .layerset import LayerSet
from .schema import LAYER_NAMES, LAYERS, REQUIRED_LAYERS, spec
from .settings import DEFAULT_SETTINGS, Settings
from .validate import ValidationReport, validate

log = logging.getLogger(__name__)

META_TABLE = "store_meta"
SCHEMA_VERSION = "1"

Bounds = tuple[float, float, float, float]

#: A change computed from the store's current content: the layers to replace.
Change = Callable[[LayerSet], Mapping[str, pd.DataFrame]]

#: Suffixes SQLite adds beside a GeoPackage being written.
_SIDECARS = ("", "-journal", "-wal", "-shm")


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
        check_geometry: bool = True,
    ) -> LayerSet:
        """Read and validate layers (all by default); raises on contract errors."""

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

    def read_layer(self, name: str, *, bbox: Bounds | None = None) -> pd.DataFrame:
        """Read one layer as stored (not validated; :meth:`read` validates)."""
        s = spec(name)
        if name not in self._raw_layers():
            raise StoreError(f"{self.path}: layer {name!r} is missing")
        kw = {"bbox": bbox} if bbox is not None and s.geometry is not None else {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            df = pyogrio.read_dataframe(
                self.path,
                layer=name,
                use_arrow=True,
                read_geometry=s.geometry is not None,
                **kw,
            )
        if s.geometry is not None and not isinstance(df, gpd.GeoDataFrame):
            df = gpd.GeoDataFrame(df, geometry=gpd.GeoSeries([], crs="EPSG:4326"))
        return df

    def read(
        self,
        layers: Iterable[str] | None = None,
        *,
        bbox: Bounds | None = None,
        check_geometry: bool = True,
        settings: Settings = DEFAULT_SETTINGS,
    ) -> LayerSet:
        """Read layers and validate them.

        Parameters
        ----------
        layers
            Layer names; default all contract layers present (the required ones must be).
        bbox
            Only features intersecting (minx, miny, maxx, maxy) in EPSG:4326. Cross-layer
            checks are skipped for such partial reads.
        check_geometry
            Validate geometry (validity, tiling) too; False for a faster, column-level check.

        Raises
        ------
        StoreError
            Missing file or layer.
        LayerValidationError
            The stored data breaks the contract (e.g. the file was edited in QGIS).
        """
        present = self.layer_names()
        if layers is None:
            missing = [n for n in REQUIRED_LAYERS if n not in present]
            if missing:
                raise StoreError(f"{self.path}: required layer(s) missing: {', '.join(missing)}")
            names = present
        else:
            names = [spec(n).name for n in layers]
        frames = {n: self.read_layer(n, bbox=bbox) for n in names}
        data = LayerSet(frames, self.meta())
        checked, report = validate(
            data,
            settings,
            source=self.location,
            check_geometry=check_geometry,
            cross_layer=bbox is None,
        )
        if not report.ok:
            raise LayerValidationError(report, self.location)
        return checked.dates_relative_to(clock.today())

    # -- writing ---------------------------------------------------------------------------
    def write(self, data: LayerSet, *, settings: Settings = DEFAULT_SETTINGS) -> ValidationReport:
        """Validate ``data`` and make it the store's whole content.

        Returns
        -------
        ValidationReport
            Repairs, warnings and notes (there are no errors when this returns).

        Raises
        ------
        LayerValidationError
            With the full report; the file on disk is unchanged.
        StoreError
            The store file or its folder is read-only.
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

        ``current`` is the store's content read (column-level validated) after the lock is
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
            current = self.read(check_geometry=False)
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


def _write_meta(path: Path, meta: Mapping[str, str]) -> None:
    m = {**meta, "schema_version": SCHEMA_VERSION}
    df = pd.DataFrame({"key": list(m), "value": [str(v) for v in m.values()]})
    pyogrio.write_dataframe(df, path, layer=META_TABLE, driver="GPKG")
