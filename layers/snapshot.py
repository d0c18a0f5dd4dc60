"""A derived read cache beside a store: its layers (and results computed from them) as Arrow
IPC files, keyed by the version tokens of what they were computed from.

Reading a layer from the GeoPackage costs GDAL's decoding and the integrity check (a city's
two million buildings: ~3–4 s); the same checked frame written once as an uncompressed Arrow
IPC file reads back memory-mapped, its attributes without a copy and its geometry decoded from
WKB (~1.3 s), so a server start does not pay the GeoPackage again for layers that did not
change. The snapshot is *derived and disposable*: the store stays the one source of truth,
each file names the token it was made from (:meth:`layers.store.Store.layer_versions`)
and is used only while the layer still has that token; a missing, stale, unreadable or
foreign file is simply read again from the store. Deleting the folder is always safe.

Layout: the store's :meth:`~layers.store.Store.cache_dir` (a GeoPackage's is
``<store stem>.snapshot/`` beside ``<store stem>.gpkg``; a PostGIS store's a folder of the
server's cache named after the store's identity); a layer is
``<layer>.<digest of its token>.arrow`` (geometry as WKB, GeoArrow metadata by geopandas'
``to_arrow``); a set of tables (an analysis' result) is ``<name>.<digest of its key>/`` with
one ``<table>.arrow`` per table. Files are written to a temporary name and renamed into place
(readers never see half a file) and never modified afterwards; older versions are removed by
the next writer. A folder that cannot be written (a read-only data folder) only means no
snapshot: reads fall back to the store.

The snapshot holds the same personal data as the store (names, phone numbers): it gets the
store's :meth:`~layers.store.Store.cache_mode` (a GeoPackage's own permission bits) and must be
kept, backed up and deleted with it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import secrets
import shutil
import threading
import time
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import shapely

from .schema import spec
from .store import Store

log = logging.getLogger(__name__)

#: The CRS and geometry column of every stored layer.
STORE_CRS = "EPSG:4326"
GEOMETRY = "geometry"
#: Changes when the file layout or encoding changes: older files are then not used.
FORMAT = 1
_META_KEY = b"wangge_snapshot"

#: One background writer per process: a snapshot is written after the frame was handed out.
_WRITER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="snapshot")
_PENDING: set[Future] = set()
_PENDING_LOCK = threading.Lock()


def snapshot_dir(store: Store) -> Path | None:
    """The snapshot folder of ``store`` (``city.gpkg`` → ``city.snapshot``), or None."""
    return store.cache_dir()


def _digest(key: str) -> str:
    return hashlib.blake2b(f"{FORMAT}|{key}".encode(), digest_size=10).hexdigest()


def layer_file(store: Store, name: str, token: str) -> Path | None:
    """Where layer ``name`` at version ``token`` is kept (None: the store has no cache)."""
    folder = store.cache_dir()
    return None if folder is None else folder / f"{name}.{_digest(token)}.arrow"


def read_layer(store: Store, name: str, token: str) -> pd.DataFrame:
    """Layer ``name`` as ``store.read([name], relative_dates=False)`` returns it (integrity
    checked, dates as stored), from the snapshot when it holds version ``token`` of it, else
    from the store (and the snapshot written in the background for the next time).

    Parameters
    ----------
    store
        The store (no snapshot when it has no :meth:`~layers.store.Store.cache_dir`).
    name
        A contract layer present in the store.
    token
        The layer's current version (``store.layer_versions()[name]``).
    """
    path = layer_file(store, name, token)
    if path is None:
        return store.read([name], relative_dates=False)[name]
    frame = _load_layer(path, name, token)
    if frame is None:
        frame = store.read([name], relative_dates=False)[name]
        if store.layer_versions().get(name) == token:  # not changed meanwhile: that version
            _submit(_save_layer, store.cache_mode(), path, frame, name, token)
    return frame


def save_layer(store: Store, name: str, token: str, frame: pd.DataFrame) -> None:
    """Keep ``frame`` — layer ``name`` at version ``token``, as :func:`read_layer` returns
    it, made another way (caught up row by row) — in the snapshot, in the background."""
    path = layer_file(store, name, token)
    if path is not None:
        _submit(_save_layer, store.cache_mode(), path, frame, name, token)


def _load_layer(path: Path, name: str, token: str) -> pd.DataFrame | None:
    """The frame kept in ``path``, or None when it is missing, unreadable or not that
    version of that layer."""
    table = _read_table(path, {"layer": name, "token": token})
    if table is None:
        return None
    try:
        if spec(name).geometry is not None:
            return _geo_frame(table)
        return table.to_pandas()
    except (pa.ArrowException, ValueError, TypeError, KeyError, shapely.errors.ShapelyError
            ) as exc:
        log.warning("snapshot %s not used: %s", path, exc)
        return None


#: Geometries decoded per call: each call holds the GIL, and a server thread decoding two
#: million buildings in one call would stall the web server's event loop for over a second.
_DECODE_CHUNK = 50_000


def _geo_frame(table: pa.Table) -> gpd.GeoDataFrame:
    """The GeoDataFrame of a layer's table: attributes as pandas reads them (Arrow strings
    without a copy), the WKB geometry decoded a chunk at a time, in the store's CRS."""
    names = table.column_names
    wkb = table.column(GEOMETRY)
    geoms = np.concatenate(
        [shapely.from_wkb(wkb.slice(i, _DECODE_CHUNK).to_numpy(zero_copy_only=False))
         for i in range(0, len(wkb), _DECODE_CHUNK)] or [np.array([], dtype=object)])
    frame = table.drop_columns([GEOMETRY]).to_pandas()
    frame.insert(names.index(GEOMETRY), GEOMETRY, gpd.GeoSeries(geoms, index=frame.index,
                                                                crs=STORE_CRS))
    return gpd.GeoDataFrame(frame, geometry=GEOMETRY, crs=STORE_CRS)


def _read_table(path: Path, expect: Mapping[str, str]) -> pa.Table | None:
    """The Arrow table in ``path`` (memory-mapped) when its stamp says ``expect``."""
    try:
        table = pa.ipc.open_file(pa.memory_map(str(path))).read_all()
    except FileNotFoundError:
        return None
    except (OSError, pa.ArrowException) as exc:
        log.warning("snapshot %s not used: %s", path, exc)
        return None
    stamp = (table.schema.metadata or {}).get(_META_KEY)
    try:
        found = json.loads(stamp) if stamp else {}
    except ValueError:
        found = {}
    if found != {"format": FORMAT, **expect}:
        log.info("snapshot %s is of another version: not used", path)
        return None
    return table.replace_schema_metadata(
        {k: v for k, v in table.schema.metadata.items() if k != _META_KEY})


def _to_table(frame: pd.DataFrame, stamp: Mapping[str, str]) -> pa.Table:
    if isinstance(frame, gpd.GeoDataFrame):
        table = pa.table(frame.to_arrow(geometry_encoding="WKB"))
    else:
        table = pa.Table.from_pandas(frame)
    meta = dict(table.schema.metadata or {})
    meta[_META_KEY] = json.dumps({"format": FORMAT, **stamp}).encode()
    return table.replace_schema_metadata(meta)


def _save_layer(mode: int, path: Path, frame: pd.DataFrame, name: str,
                token: str) -> None:
    table = _to_table(frame, {"layer": name, "token": token})
    if _write_table(mode, path, table):
        _remove_others(path.parent, f"{name}.", path.name)


def _write_table(mode: int, path: Path, table: pa.Table) -> bool:
    """Write ``table`` to ``path`` atomically (a temporary name renamed into place) with the
    permission bits ``mode``; False when the folder cannot be written."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, table.schema) as w:
            w.write_table(table)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
        return True
    except OSError as exc:
        log.info("no snapshot written to %s: %s", path.parent, exc)
        tmp.unlink(missing_ok=True)
        return False


#: A temporary file older than this was left by a writer that was killed: removed.
_STALE_TMP_S = 3600


def _remove_others(folder: Path, prefix: str, keep: str) -> None:
    """Drop the older versions (files or folders named ``prefix…``) once ``keep`` is in place,
    and temporary files of ``prefix…`` that a killed writer left behind."""
    now = time.time()
    for tmp in folder.glob(f".{prefix}*.tmp"):
        with contextlib.suppress(OSError):
            if now - tmp.stat().st_mtime > _STALE_TMP_S:
                shutil.rmtree(tmp) if tmp.is_dir() else tmp.unlink()
    for old in folder.glob(f"{prefix}*"):
        if old.name != keep:
            with contextlib.suppress(OSError):  # another process removed it first
                if old.is_dir():
                    shutil.rmtree(old)
                else:
                    old.unlink()


# -- sets of tables (analysis results) ---------------------------------------------------------
def read_tables(store: Store, name: str, key: str) -> dict[str, pd.DataFrame] | None:
    """The tables kept as ``name`` for ``key`` by :func:`write_tables`, or None."""
    base = store.cache_dir()
    if base is None:
        return None
    folder = base / f"{name}.{_digest(key)}"
    if not folder.is_dir():
        return None
    out: dict[str, pd.DataFrame] = {}
    for path in sorted(folder.glob("*.arrow")):
        table = _read_table(path, {"set": name, "key": key})
        if table is None:
            return None
        try:
            out[path.stem] = table.to_pandas()
        except (pa.ArrowException, ValueError, TypeError) as exc:
            log.warning("snapshot %s not used: %s", path, exc)
            return None
    return out or None


def write_tables(store: Store, name: str, key: str,
                 tables: Mapping[str, pd.DataFrame]) -> None:
    """Keep ``tables`` (plain frames) as ``name`` for ``key``, replacing older versions; in
    the background (:func:`wait`), best effort."""
    base = store.cache_dir()
    if base is not None:
        _submit(_save_tables, store.cache_mode(), base, name, key, dict(tables))


def _save_tables(mode: int, base: Path, name: str, key: str,
                 tables: Mapping[str, pd.DataFrame]) -> None:
    final = base / f"{name}.{_digest(key)}"
    staging = final.with_name(f".{final.name}.{secrets.token_hex(4)}.tmp")
    stamp = {"set": name, "key": key}
    try:
        staging.mkdir(parents=True)
    except OSError as exc:
        log.info("no snapshot written to %s: %s", final.parent, exc)
        return
    ok = all(_write_table(mode, staging / f"{t}.arrow", _to_table(f, stamp))
             for t, f in tables.items())
    try:
        if ok:
            os.rename(staging, final)
            _remove_others(final.parent, f"{name}.", final.name)
            return
    except OSError:  # another process put the same set in place first
        pass
    shutil.rmtree(staging, ignore_errors=True)


# -- the background writer -----------------------------------------------------------------
#: Seconds a write waits after it is handed over: the read that made it belongs to a page
#: still being built, and writing a city's assignments (160 MB) beside it slowed that page by
#: a third. Writes handed over together wait once. Tests set it to 0.
WRITE_DELAY_S = 2.0


def _submit(fn, *args) -> None:  # type: ignore[no-untyped-def]
    start = time.monotonic() + WRITE_DELAY_S

    def run() -> None:
        time.sleep(max(0.0, start - time.monotonic()))
        try:
            fn(*args)
        except Exception:  # a cache must never break a read
            log.exception("writing a snapshot failed")

    fut = _WRITER.submit(run)
    with _PENDING_LOCK:
        _PENDING.add(fut)
    fut.add_done_callback(_done)


def _done(fut: Future) -> None:
    with _PENDING_LOCK:
        _PENDING.discard(fut)


def wait() -> None:
    """Block until the snapshots handed to the background writer are written (tests, CLI)."""
    while True:
        with _PENDING_LOCK:
            pending = list(_PENDING)
        if not pending:
            return
        for fut in pending:
            fut.result()
