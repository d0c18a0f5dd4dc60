"""Loading the store for the app: each layer read once per layer version, shared by every
session (an edit re-reads only the layers it changed)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import json
import logging
import os
import re
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import pandas as pd

from layers import clock, snapshot
from layers.assignments import resolve_as_of
from layers.coverage import CoverageMemo, CoverageResult
from layers.coverage import coverage as layers_coverage
from layers.demo import generate_demo
from layers.layerset import DATE_ANCHOR, LayerSet, is_fictional
from layers.settings import DEFAULT_SETTINGS, Settings
from layers.store import RowMarker, Store, open_store
from layers.tickets import TicketStore, db_path_for

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
DEMO_STORE = ROOT / "geodata" / "demo_town.gpkg"


def data_dir() -> Path:
    """The folder ``?data=NAME`` may pick stores from (``$WANGGE_DATA_DIR``, else geodata/)."""
    return Path(os.environ.get("WANGGE_DATA_DIR") or DEMO_STORE.parent).resolve()


class UnknownDataSet(ValueError):
    """``?data=`` names no store of the data folder (or is not a plain store name at all)."""


#: What a store name in ``?data=`` may look like: letters (Chinese too), digits, ``_ - .``.
_STORE_NAME = re.compile(r"[\w.-]{1,64}")


def store_path(query_value: str | None = None) -> Path:
    """The store to show.

    ``?data=NAME`` picks ``NAME.gpkg`` from :func:`data_dir` — only a plain file name, so a
    link cannot open arbitrary files on the server; otherwise ``$WANGGE_STORE`` (a path set by
    whoever runs the server), else the demo town.

    Raises
    ------
    UnknownDataSet
        ``query_value`` is given but is not the name of a store in the data folder (a path,
        an over-long or control-character value, a missing file): never silently another
        store.
    """
    if query_value:
        name = query_value.removesuffix(".gpkg")
        if not _STORE_NAME.fullmatch(name) or name.startswith("."):
            raise UnknownDataSet("not a store name")
        candidate = (data_dir() / f"{name}.gpkg").resolve()
        if candidate.parent != data_dir() or not candidate.is_file():
            raise UnknownDataSet("no such store in the data folder")
        return candidate
    chosen = os.environ.get("WANGGE_STORE")
    return Path(chosen) if chosen else DEMO_STORE


def is_shipped_demo(path: Path) -> bool:
    """A labelled-fictional store shipped in ``geodata/`` (the demo town, the Longgang demo):
    the only stores the app itself sets up (their ticket databases are not in git)."""
    if path.resolve().parent != DEMO_STORE.parent.resolve() or not path.exists():
        return path == DEMO_STORE
    return is_fictional(open_store(path).meta())


def ensure_demo(path: Path = DEMO_STORE) -> bool:
    """Set up the shipped demo town: generate its store if the file is missing and fill its
    ticket database from the demo's history if that is missing (what ``python -m layers demo``
    does). Only ever for the demo: a real store's pages never write. True when anything was
    made."""
    made = False
    if not path.exists() and path == DEMO_STORE:
        open_store(path).write(generate_demo())
        made = True
    if not db_path_for(path).exists():
        TicketStore.for_store(path, seed=True).close()
        made = True
    return made


def version_key(path: Path) -> int:
    """The store's layer version (:meth:`~layers.store.GeoPackageStore.version`) as the
    integer the page caches are keyed by."""
    digest = hashlib.blake2b(open_store(path).version().encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def load(path: str, mtime_ns: int) -> LayerSet:
    """The store's layers (``mtime_ns`` — its :func:`version_key` — is only part of the
    cache key of the caller), each read when first asked for (a deferred layer of the
    :class:`~layers.layerset.LayerSet`) from :func:`_layer`: again only when its own version
    changed (:meth:`~layers.store.GeoPackageStore.layer_versions`), from the store's
    snapshot (:mod:`layers.snapshot`) when that holds this version."""
    del mtime_ns
    store = open_store(path)
    tokens = store.layer_versions()
    meta = store.meta()
    today = clock.today().isoformat()  # demo dates are shown relative to today
    anchor = meta.get(DATE_ANCHOR)  # the stored day a demo's dates are relative to
    readers = {n: functools.partial(_layer, path, n, tokens.get(n, ""), today, anchor)
               for n in store.layer_names()}
    # each layer is read with its dates shifted to today; the metadata says so too
    return LayerSet({}, LayerSet({}, meta).dates_relative_to(clock.today()).meta,
                    deferred=readers, versions={n: tokens.get(n, "") for n in readers})


#: The layers the coverage analysis reads: its cache key.
COVERAGE_LAYERS = ("communities", "grids", "buildings", "people", "assignments")


def coverage(path: str, data: LayerSet, settings: Settings = DEFAULT_SETTINGS
             ) -> CoverageResult:
    """The coverage of ``data`` (layers of the store at ``path``, as :func:`load` read them):
    from the store's snapshot when it was computed from the same versions of the same layers
    for the same day and settings, else computed (:func:`layers.coverage.coverage`) and kept
    there for the next server start (today's only: a past day asked for is computed). A set
    whose layers carry no versions (a scoped view) is always computed."""
    key = None if settings.as_of else _coverage_key(data, settings)
    if key is None:
        return layers_coverage(data, settings)
    store = open_store(path)
    tables = snapshot.read_tables(store, "coverage", key)
    if tables is not None:
        try:
            return CoverageResult.from_tables(tables, settings)
        except (KeyError, ValueError, TypeError) as exc:
            log.warning("kept coverage of %s not used: %s", path, exc)
    _read_ahead(data, COVERAGE_LAYERS)
    result = layers_coverage(data, settings, _memo(path))
    snapshot.write_tables(store, "coverage", key, result.to_tables())
    return result


#: path → the :class:`~layers.coverage.CoverageMemo` of the store's last whole coverage: after
#: an edit the next one redoes only what the edit touched (a city: ~2 s → ~0.3 s).
_MEMOS: dict[str, CoverageMemo] = {}


def _memo(path: str) -> CoverageMemo:
    with _GUARD:
        return _MEMOS.setdefault(path, CoverageMemo())


def _prime(path: str, data: LayerSet) -> None:
    """Fill the coverage memo of ``path`` from ``data`` when no coverage of it has been
    computed in this process (today's came from the snapshot): so the first edit after a
    start is quick too. Nothing is written."""
    memo = _memo(path)
    if memo.primed or _coverage_key(data, DEFAULT_SETTINGS) is None:
        return
    layers_coverage(data, DEFAULT_SETTINGS, memo)


def _read_ahead(data: LayerSet, names: Iterable[str]) -> None:
    """Read the deferred layers ``names`` two at a time (GDAL and Arrow reads release the
    GIL): a start without a snapshot reads the coverage's layers in parallel."""
    todo = [n for n in names if n in data and n not in data.loaded]
    if len(todo) > 1:
        with ThreadPoolExecutor(max_workers=min(2, os.cpu_count() or 1)) as pool:
            list(pool.map(data.__getitem__, todo))


def _coverage_key(data: LayerSet, settings: Settings) -> str | None:
    """What a coverage result depends on: its layers' versions, the day, the settings."""
    if any(n in data and n not in data.versions for n in COVERAGE_LAYERS):
        return None
    return json.dumps({"layers": {n: data.versions.get(n, "") for n in COVERAGE_LAYERS},
                       "as_of": resolve_as_of(data, settings).isoformat(),
                       "settings": dataclasses.asdict(settings)}, sort_keys=True, default=str)


#: Seconds :func:`warm` waits before it reads: a browser opening the app for the first time
#: then loads the map's scripts from this server (~1 MB) while it is otherwise idle — the
#: reads hold the interpreter lock for tens of milliseconds at a time and the spatial index
#: of two million buildings for half a second, which would make every file it asks for wait.
WARM_DELAY_S = 5.0


def warm(data: LayerSet, indexes: Iterable[str] = (), delay_s: float = WARM_DELAY_S,
         path: str | None = None) -> None:
    """Read every layer of ``data`` not read yet, build the spatial index of the layers
    ``indexes`` names and, given the store's ``path``, fill its coverage memo
    (:func:`_prime`), in a background thread started ``delay_s`` seconds from now (once per
    layer set): what a page needs later is ready by then, without making the first page or
    its map's scripts wait for it."""
    with _GUARD:
        if getattr(data, "_warming", False):
            return
        data._warming = True  # type: ignore[attr-defined]  # a mark on this object only

    def run() -> None:
        try:
            for name in data:
                frame = data[name]
                if name in indexes:
                    _ = frame.sindex  # kept with the frame, shared by every session
            if path is not None:
                _prime(path, data)
        except Exception:  # a page reading the layer itself will report the problem
            log.exception("warming the layers failed")

    timer = threading.Timer(delay_s, run)
    timer.name, timer.daemon = "warm-layers", True
    timer.start()


class _Cached(NamedTuple):
    """A layer as the app holds it: its version and the day its dates were shifted to, the
    frame shown, the frame as stored, and where its row tracking stood when read (None: no
    row-by-row catch-up possible from it)."""

    token: str
    today: str
    frame: pd.DataFrame
    stored: pd.DataFrame
    marker: RowMarker | None


#: (path, layer) → the current version of each layer only
_LAYERS: dict[tuple[str, str], _Cached] = {}
_LOCKS: dict[tuple[str, str], threading.Lock] = {}
_GUARD = threading.Lock()


def _cached(path: str, name: str, token: str, today: str) -> pd.DataFrame | None:
    hit = _LAYERS.get((path, name))
    return hit.frame if hit is not None and (hit.token, hit.today) == (token, today) else None


def _layer(path: str, name: str, token: str, today: str, anchor: str | None = None
           ) -> pd.DataFrame:
    """Layer ``name`` at version ``token``: from the snapshot, or read from the store
    (integrity-checked, not re-validated: the store validated it when it wrote it) — after a
    row edit only the changed rows (:meth:`~layers.store.GeoPackageStore.read_changed`) — by
    one session while the others wait for it; dates shifted to ``today`` when the store keeps
    them relative to ``anchor`` (a demo)."""
    with _GUARD:
        lock = _LOCKS.setdefault((path, name), threading.Lock())
    with lock:
        frame = _cached(path, name, token, today)
        if frame is None:
            stored, marker = _stored(open_store(path), name, token, _LAYERS.get((path, name)))
            meta = {DATE_ANCHOR: anchor} if anchor else {}
            frame = LayerSet({name: stored}, meta).dates_relative_to(
                dt.date.fromisoformat(today))[name]
            _LAYERS[(path, name)] = _Cached(token, today, frame, stored, marker)
        return frame


def _stored(store: Store, name: str, token: str, last: _Cached | None
            ) -> tuple[pd.DataFrame, RowMarker | None]:
    """Layer ``name`` at ``token`` as stored, and its row marker: caught up from the last
    version read when only some rows changed, else read whole (snapshot or store)."""
    if last is not None and last.marker is not None and last.token != token:
        caught_up = store.read_changed(name, last.stored, last.marker)
        if caught_up is not None and store.layer_versions().get(name) == token:
            snapshot.save_layer(store, name, token, caught_up[0])
            return caught_up
    before = store.row_marker(name)
    stored = snapshot.read_layer(store, name, token)
    if before is None:
        return stored, None
    # the marker belongs to this frame when nothing moved while it was read (the token holds
    # the tracking's last change too: the snapshot's frame of this token is that state)
    same = store.row_marker(name) == before and store.layer_versions().get(name) == token
    return stored, before if same and len(stored) == before.rows else None
