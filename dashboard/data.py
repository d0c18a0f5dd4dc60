"""Loading the store for the app: each layer read once per layer version, shared by every
session (an edit re-reads only the layers it changed)."""

from __future__ import annotations

import hashlib
import os
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd

from layers import clock
from layers.demo import generate_demo
from layers.layerset import LayerSet, is_fictional
from layers.store import open_store
from layers.tickets import TicketStore, db_path_for

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
        TicketStore.for_store(path, seed=True).engine.dispose()
        made = True
    return made


def version_key(path: Path) -> int:
    """The store's layer version (:meth:`~layers.store.GeoPackageStore.version`) as the
    integer the page caches are keyed by."""
    digest = hashlib.blake2b(open_store(path).version().encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def load(path: str, mtime_ns: int) -> LayerSet:
    """The store's layers (``mtime_ns`` — its :func:`version_key` — is only part of the
    cache key of the caller): each layer comes from :func:`_layer`, read again only when
    its own version changed (:meth:`~layers.store.GeoPackageStore.layer_versions`)."""
    del mtime_ns
    store = open_store(path)
    tokens = store.layer_versions()
    names = store.layer_names()
    meta = store.meta()
    today = clock.today().isoformat()  # demo dates are shown relative to today
    stale = [n for n in names if _cached(path, n, tokens.get(n, ""), today) is None]
    if len(stale) > 1:  # GDAL reads release the GIL: big layers in parallel
        with ThreadPoolExecutor(max_workers=min(2, os.cpu_count() or 1)) as pool:
            list(pool.map(lambda n: _layer(path, n, tokens.get(n, ""), today), stale))
    frames = {n: _layer(path, n, tokens.get(n, ""), today) for n in names}
    # each layer was read with its dates shifted to today; the metadata says so too
    return LayerSet(frames, LayerSet({}, meta).dates_relative_to(clock.today()).meta)


#: (path, layer) → (layer version, day, frame): the current version of each layer only
_LAYERS: dict[tuple[str, str], tuple[str, str, pd.DataFrame]] = {}
_LOCKS: dict[tuple[str, str], threading.Lock] = {}
_GUARD = threading.Lock()


def _cached(path: str, name: str, token: str, today: str) -> pd.DataFrame | None:
    hit = _LAYERS.get((path, name))
    return hit[2] if hit is not None and hit[:2] == (token, today) else None


def _layer(path: str, name: str, token: str, today: str) -> pd.DataFrame:
    """Layer ``name`` at version ``token``: read (integrity-checked, not re-validated: the
    store validated it when it wrote it) by one session while the others wait for it."""
    with _GUARD:
        lock = _LOCKS.setdefault((path, name), threading.Lock())
    with lock:
        frame = _cached(path, name, token, today)
        if frame is None:
            frame = open_store(path).read([name])[name]
            _LAYERS[(path, name)] = (token, today, frame)
        return frame
