"""Storage of layer sets behind a small interface.

Callers use :func:`open_store` and the :class:`Store` protocol only; the embedded backend is
:class:`GeoPackageStore` (one ``.gpkg`` file that QGIS opens). A PostGIS backend slots in by
implementing the same protocol and teaching :func:`open_store` its URL scheme.

Every write validates first and is atomic: the new content goes to a temporary file in the same
folder which then replaces the old one in one ``os.replace``; bad data raises
:class:`~layers.errors.LayerValidationError` and leaves the file on disk untouched.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Protocol, runtime_checkable

import geopandas as gpd
import pandas as pd
import pyogrio

from .errors import LayerValidationError, StoreError
from .layerset import LayerSet
from .schema import LAYER_NAMES, LAYERS, REQUIRED_LAYERS, spec
from .settings import DEFAULT_SETTINGS, Settings
from .validate import ValidationReport, validate

log = logging.getLogger(__name__)

META_TABLE = "store_meta"
SCHEMA_VERSION = "1"

Bounds = tuple[float, float, float, float]


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
        return checked

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
        """
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

        Raises
        ------
        LayerValidationError
            With the full report; the file on disk is unchanged.
        """
        for n in layers:
            spec(n)
        with self._locked():
            current = self.read(check_geometry=False)
            merged = current.replace(**dict(layers))
            checked, report = validate(
                merged, settings, source=self.location, layers=tuple(layers)
            )
            # references *into* the replaced layers (e.g. buildings → replaced grids)
            _, rest = validate(
                merged,
                settings,
                source=self.location,
                layers=tuple(n for n in merged if n not in layers),
                check_geometry=False,
            )
            report.problems.extend(p for p in rest.problems if p.severity == "error")
            if not report.ok:
                raise LayerValidationError(report, self.location)
            with self._staging(copy_existing=True) as tmp:
                for name in layers:
                    _write_layer(tmp, name, checked[name])
                if meta:
                    _write_meta(tmp, {**current.meta, **{k: str(v) for k, v in meta.items()}})
        return report

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """One writer at a time (advisory lock on a sibling ``.lock`` file)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock = self.path.with_name(self.path.name + ".lock")
        with open(lock, "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    @contextlib.contextmanager
    def _staging(self, *, copy_existing: bool) -> Iterator[Path]:
        """A temporary GeoPackage beside the target that replaces it on success only."""
        fd, name = tempfile.mkstemp(
            prefix=f".{self.path.stem}.", suffix=".tmp.gpkg", dir=self.path.parent
        )
        os.close(fd)
        tmp = Path(name)
        try:
            if copy_existing and self.exists():
                shutil.copyfile(self.path, tmp)
            else:
                tmp.unlink()
            yield tmp
            os.replace(tmp, self.path)
        finally:
            for leftover in (tmp, Path(str(tmp) + "-journal"), Path(str(tmp) + "-wal")):
                with contextlib.suppress(FileNotFoundError):
                    leftover.unlink()


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
