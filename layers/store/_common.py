"""What every backend does the same way, on top of its primitives: a checked read, the
validation of a whole-store write or a transform, single-transaction row helpers, and a layer
caught up from its changed rows."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from .. import clock
from ..errors import LayerValidationError, StoreError
from ..layerset import LayerSet
from ..schema import LAYER_NAMES, REQUIRED_LAYERS, spec
from ..settings import DEFAULT_SETTINGS, Settings
from ..validate import ValidationReport, check_integrity, validate
from ._rows import SqlRowEdit
from ._values import same_values
from .base import Bounds, Change, RowEdit, RowMarker, StoreIntegrityError

log = logging.getLogger(__name__)


class StoreBase:
    """The shared half of a backend. A subclass provides ``location``, ``read_layer``,
    ``layer_names``, ``meta``, ``edit_rows``, ``_reading`` (a read-only :class:`SqlRowEdit`),
    ``row_marker`` and ``rows_changed``."""

    location: str

    # -- primitives (the backend's) --------------------------------------------------------
    def read_layer(self, name: str, *, bbox: Bounds | None = None,
                   columns: Sequence[str] | None = None,
                   fids: Sequence[int] | None = None) -> pd.DataFrame:
        raise NotImplementedError

    def layer_names(self) -> list[str]:
        raise NotImplementedError

    def meta(self) -> dict[str, str]:
        raise NotImplementedError

    def edit_rows(self) -> contextlib.AbstractContextManager[RowEdit]:
        raise NotImplementedError

    def _reading(self) -> contextlib.AbstractContextManager[SqlRowEdit]:
        raise NotImplementedError

    def row_marker(self, name: str) -> RowMarker | None:
        raise NotImplementedError

    def rows_changed(self, name: str, since: RowMarker
                     ) -> tuple[RowMarker, np.ndarray] | None:
        raise NotImplementedError

    def transform(self, change: Change, *, settings: Settings = DEFAULT_SETTINGS,
                  meta: Mapping[str, str] | None = None, validate_all: bool = False,
                  ) -> ValidationReport:
        raise NotImplementedError

    # -- reading ---------------------------------------------------------------------------
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
        only checks integrity (:func:`~layers.validate.check_integrity`: columns present,
        values of their kinds and with the contract's dtypes, required values and geometries
        present, geometry types, unique keys). ``full_check`` runs the whole validation
        instead (geometry validity, tiling, references …), as ``python -m layers validate``
        does. Either way a valid store reads as the same frames.

        Parameters
        ----------
        layers
            Layer names; default all contract layers present (the required ones must be).
        bbox
            Only features intersecting (minx, miny, maxx, maxy) in EPSG:4326. Cross-layer
            checks are skipped for such partial reads.
        columns
            Layer name → the only columns to read of it (``"geometry"`` among them for its
            geometry); other layers are read whole. Not with ``full_check``.
        full_check
            Validate fully (:func:`~layers.validate.validate`), with the repairs it makes.
        check_geometry
            With ``full_check``: the geometric checks too (validity, tiling).
        settings
            Tolerances of the full check.
        relative_dates
            Shift the dates of a store kept relative to a day (the demo) to today; False for
            the dates as stored.

        Raises
        ------
        StoreError
            Missing store or layer.
        StoreIntegrityError
            The store does not hold what the store writes (e.g. edited outside the app).
        LayerValidationError
            With ``full_check``: the stored data breaks the contract.
        """
        columns = dict(columns or {})
        if full_check and columns:
            raise StoreError("a full check needs whole layers: read them without columns=")
        data = LayerSet(self._read_layers(self._names(layers), bbox, columns), self.meta())
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

    def _read_layers(self, names: Sequence[str], bbox: Bounds | None,
                     columns: Mapping[str, Sequence[str]]) -> dict[str, pd.DataFrame]:
        """The stored frames of ``names`` (one :meth:`read_layer` each; a backend that can
        read them together, in one snapshot, does so)."""
        return {n: self.read_layer(n, bbox=bbox, columns=columns.get(n)) for n in names}

    def _names(self, layers: Iterable[str] | None) -> list[str]:
        """The layers a read returns: ``layers``, or every contract layer present (and then
        the required ones must be)."""
        if layers is not None:
            return [spec(n).name for n in layers]
        present = self.layer_names()
        missing = [n for n in REQUIRED_LAYERS if n not in present]
        if missing:
            raise StoreError(f"{self.location}: required layer(s) missing: {', '.join(missing)}")
        return [n for n in LAYER_NAMES if n in present]

    # -- writing ---------------------------------------------------------------------------
    def update(
        self, layers: Mapping[str, pd.DataFrame], *, settings: Settings = DEFAULT_SETTINGS,
        meta: Mapping[str, str] | None = None,
    ) -> ValidationReport:
        """Replace the given layers, validated together with the stored ones; ``meta`` entries
        (e.g. an imported file's licence and attribution) are merged into the store's.

        The frames are computed by the caller, before the lock: to change a layer *from* its
        current content (an append), use :meth:`transform`.
        """
        for n in layers:
            spec(n)
        return self.transform(lambda _current: layers, settings=settings, meta=meta)

    def select_rows(
        self, layer: str, where: Mapping[str, object] | None = None, *,
        columns: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """Rows of ``layer`` matching ``where`` (see :class:`~layers.store.base.RowEdit`),
        read without the write lock (a consistent snapshot)."""
        with self._reading() as edit:
            return edit.select(layer, where, columns=columns)

    def insert_rows(
        self, layer: str, frame: pd.DataFrame, log_entries: Iterable[Mapping[str, object]] = ()
    ) -> int:
        """Insert ``frame``'s rows into ``layer`` and append ``log_entries``, in one
        transaction (:class:`LayerValidationError` for a row breaking the contract: nothing
        written)."""
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
        ``log_entries``, in one transaction; the number of rows changed (0: none matched,
        nothing logged). :class:`~layers.store.base.RowConflict` when a matching row does not
        hold ``expected``."""
        with self.edit_rows() as edit:
            n = edit.update(layer, where, values, expected=expected)
            if n:
                edit.log(log_entries)
        return n

    def change_log(self, filters: Mapping[str, object] | None = None) -> pd.DataFrame:
        """Entries of the change log matching ``filters`` (column → value), oldest first;
        an empty frame with ``fid`` + the log's columns when there is no log yet."""
        with self._reading() as edit:
            return edit.change_log(filters)

    # -- catching up -----------------------------------------------------------------------
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


def validate_changed(merged: LayerSet, changed: tuple[str, ...], settings: Settings,
                     source: str) -> tuple[LayerSet, ValidationReport]:
    """Full checks of the changed layers, plus the other layers' references *into* them (e.g.
    buildings → replaced grids) without their geometry checks."""
    checked, report = validate(merged, settings, source=source, layers=changed)
    _, rest = validate(merged, settings, source=source,
                       layers=tuple(n for n in merged if n not in changed),
                       check_geometry=False)
    report.problems.extend(p for p in rest.problems if p.severity == "error")
    return checked, report


def checked_change(current: LayerSet, change: Change, settings: Settings, source: str,
                   validate_all: bool) -> tuple[dict[str, pd.DataFrame], LayerSet,
                                                ValidationReport]:
    """The layers ``change(current)`` replaces, the merged set validated (every layer with
    ``validate_all``, else the changed ones fully and the others' references), and the report
    (:class:`LayerValidationError` when it has errors)."""
    layers = dict(change(current))
    for n in layers:
        spec(n)
    merged = current.replace(**layers)
    if validate_all:
        checked, report = validate(merged, settings, source=source)
        # the unchanged layers' repairs and warnings are not news of this change
        report.problems = [p for p in report.problems
                           if p.layer in layers or p.severity == "error"]
    else:
        checked, report = validate_changed(merged, tuple(layers), settings, source)
    if not report.ok:
        raise LayerValidationError(report, source)
    return layers, checked, report


def checked_write(data: LayerSet, settings: Settings, source: str
                  ) -> tuple[LayerSet, ValidationReport]:
    """``data`` with every required layer (empty ones added) validated for a whole-store
    write (:class:`LayerValidationError` when it has errors)."""
    missing = [n for n in REQUIRED_LAYERS if n not in data]
    full = data.replace(**{n: data[n] for n in missing}) if missing else data
    checked, report = validate(full, settings, source=source)
    if not report.ok:
        raise LayerValidationError(report, source)
    return checked, report


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
            if len(pos) and not same_values(out[col].iloc[pos], new):
                out.iloc[pos, j] = new.to_numpy()  # (a column of Arrow strings: rebuilt)
        if len(tail):
            tail = tail.reset_index(drop=True)[list(out.columns)]
            tail = tail.astype({c: out[c].dtype for c in out.columns if c != "geometry"})
            out = pd.concat([out, tail], ignore_index=True)
    except (TypeError, ValueError, KeyError) as exc:
        log.info("rows of %s not put in place (%s): read whole", frame.__class__, exc)
        return None
    return out
