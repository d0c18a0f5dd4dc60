""":class:`LayerSet`: the layers of one territory held in memory."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import geopandas as gpd
import pandas as pd

from .errors import SchemaError
from .schema import LAYER_NAMES, LAYERS, spec

#: Metadata key of a store whose dates are relative to a day (see
#: :meth:`LayerSet.dates_relative_to`).
DATE_ANCHOR = "date_anchor"


def empty_layer(name: str) -> pd.DataFrame:
    """An empty frame with the contract's columns for layer ``name``."""
    s = spec(name)
    data = {f.name: pd.Series([], dtype=_EMPTY_DTYPES[f.kind]) for f in s.fields}
    if s.geometry is None:
        return pd.DataFrame(data)
    return gpd.GeoDataFrame(data, geometry=gpd.GeoSeries([], crs="EPSG:4326"), crs="EPSG:4326")


_EMPTY_DTYPES = {
    "str": "str",
    "int": "Int64",
    "float": "float64",
    "bool": "bool",
    "datetime": "datetime64[ms]",
}


def is_fictional(meta: Mapping[str, str]) -> bool:
    """The one rule for "this data is fictional" (labelled 示例数据，非真实): the metadata
    entry ``fictional`` says ``true``."""
    return str(meta.get("fictional", "false")).lower() == "true"


class LayerSet(Mapping[str, pd.DataFrame]):
    """The layers of one territory: a read-only mapping ``name → (Geo)DataFrame`` plus metadata.

    Layers are reachable as ``ls["grids"]`` or ``ls.grids``. Missing contract layers read as
    empty frames with the contract's columns. ``meta`` carries store-level facts such as
    ``fictional`` (demo data), ``source`` and ``attribution``.

    A layer may be *deferred*: given as a function that reads it, called the first time the
    layer is asked for (once, whatever the threads), so a page that needs the communities of
    a city does not wait for its two million buildings.

    Parameters
    ----------
    layers
        Frames keyed by layer name (contract names only).
    meta
        String key/value metadata.
    deferred
        Layer name → a function returning its frame, for layers not in ``layers``.
    versions
        Layer name → the store's version token of that layer as read
        (:meth:`layers.store.GeoPackageStore.layer_versions`), when the set was read from a
        store: a cache key for what is computed from it. A replaced layer loses its token.
    """

    def __init__(
        self, layers: Mapping[str, pd.DataFrame] | None = None,
        meta: Mapping[str, str] | None = None, *,
        deferred: Mapping[str, Callable[[], pd.DataFrame]] | None = None,
        versions: Mapping[str, str] | None = None,
    ) -> None:
        layers = dict(layers or {})
        later = {n: f for n, f in (deferred or {}).items() if n not in layers}
        unknown = (set(layers) | set(later)) - set(LAYER_NAMES)
        if unknown:
            raise SchemaError(f"unknown layer(s) {sorted(unknown)}; known: {', '.join(LAYER_NAMES)}")
        self._layers: dict[str, pd.DataFrame] = layers
        self._deferred: dict[str, Callable[[], pd.DataFrame]] = later
        self._lock = threading.Lock()
        self.meta: dict[str, str] = {str(k): str(v) for k, v in (meta or {}).items()}
        self.versions: dict[str, str] = {n: str(v) for n, v in (versions or {}).items()
                                         if n in self}

    def __getitem__(self, name: str) -> pd.DataFrame:
        if name in self._layers:
            return self._layers[name]
        if name in self._deferred:
            return self._materialise(name)
        if name in LAYERS:
            return empty_layer(name)
        raise KeyError(name)

    def _materialise(self, name: str) -> pd.DataFrame:
        """Read a deferred layer (one thread reads it; the others wait and share it)."""
        with self._lock:
            if name not in self._layers:
                self._layers[name] = self._deferred[name]()
            return self._layers[name]

    @property
    def loaded(self) -> tuple[str, ...]:
        """The layers held in memory now (deferred ones not asked for yet are not)."""
        return tuple(n for n in LAYER_NAMES if n in self._layers)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name not in LAYERS:
            raise AttributeError(name)
        return self[name]

    def __contains__(self, name: object) -> bool:
        """True when the layer is present (not merely part of the contract)."""
        return name in self._layers or name in self._deferred

    def __iter__(self) -> Iterator[str]:
        return iter(n for n in LAYER_NAMES if n in self)

    def __len__(self) -> int:
        return len(set(self._layers) | set(self._deferred))

    def __repr__(self) -> str:
        parts = ", ".join(f"{n}={len(self._layers[n])}" if n in self._layers else f"{n}=…"
                          for n in self)
        return f"LayerSet({parts})"

    def replace(self, **layers: pd.DataFrame) -> LayerSet:
        """A new LayerSet with some layers replaced (frames are not copied; deferred layers
        stay deferred, read once for both sets when they share a reader)."""
        new = dict(self._layers)
        new.update(layers)
        return LayerSet(new, self.meta, deferred=self._deferred,
                        versions={n: v for n, v in self.versions.items() if n not in layers})

    @property
    def fictional(self) -> bool:
        """True for demo data (shown with the label 示例数据，非真实)."""
        return is_fictional(self.meta)

    def dates_relative_to(self, today: dt.date) -> LayerSet:
        """The layers as of ``today`` when their dates are relative to an anchor.

        A store whose metadata has ``date_anchor`` (the fictional demo) keeps its dates relative
        to that day: every date and time column is shifted by ``today - date_anchor``, so the
        demo looks like a live town on any day, and the result's anchor is ``today`` (writing
        it back keeps it consistent). Without an anchor the layers are returned unchanged.
        """
        anchor = self.meta.get(DATE_ANCHOR)
        if not anchor:
            return self
        shift = pd.Timedelta(days=(today - dt.date.fromisoformat(anchor)).days)
        if not shift:
            return self
        layers = {name: _shifted(df, shift) for name, df in self._layers.items()}
        later = {name: (lambda read=read: _shifted(read(), shift))
                 for name, read in self._deferred.items() if name not in layers}
        return LayerSet(layers, {**self.meta, DATE_ANCHOR: today.isoformat()}, deferred=later,
                        versions=self.versions)


def _shifted(df: pd.DataFrame, shift: pd.Timedelta) -> pd.DataFrame:
    """``df`` with every date and time column moved by ``shift`` (a new frame when any moves;
    the other columns are shared, copy-on-write: a city's assignments are not copied)."""
    cols = [c for c in df.columns if pd.api.types.is_datetime64_any_dtype(df[c])]
    if cols:
        df = df.copy(deep=False)
        for c in cols:
            df[c] = df[c] + shift
    return df
