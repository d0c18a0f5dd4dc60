"""Loading the store for the app: each layer read once per layer version, shared by every
session (an edit re-reads only the layers it changed); which store (``?data=``,
``$WANGGE_STORE``, the demo) and the store keys every cache of the app is keyed by."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import json
import logging
import os
import re
import shutil
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import pandas as pd

from layers import clock, snapshot
from layers.assignments import resolve_as_of
from layers.auth.accounts import Accounts
from layers.coverage import CoverageMemo, CoverageResult
from layers.coverage import coverage as layers_coverage
from layers.demo import generate_demo
from layers.layerset import DATE_ANCHOR, LayerSet, is_fictional
from layers.settings import DEFAULT_SETTINGS, Settings
from layers.store import RowMarker, Store, is_url, open_store
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


def configured_location(query_value: str | None = None) -> str:
    """Where the store to show is, as the server was told (a URL may hold a password: pass it
    to :func:`store_key` only, never to a page or a log).

    ``?data=NAME`` picks ``NAME.gpkg`` from :func:`data_dir` — only a plain file name, never a
    path or a URL, so a link cannot open arbitrary files or servers; otherwise
    ``$WANGGE_STORE`` (a ``.gpkg`` path or a ``postgresql://`` URL, set by whoever runs the
    server), else the demo town.

    Raises
    ------
    UnknownDataSet
        ``query_value`` is given but is not the name of a store in the data folder (a path,
        a URL, an over-long or control-character value, a missing file): never silently
        another store.
    """
    if query_value:
        return str(data_store(query_value))
    return os.environ.get("WANGGE_STORE") or str(DEMO_STORE)


def data_store(name: str) -> Path:
    """The store ``NAME.gpkg`` of the data folder that ``?data=NAME`` names.

    Raises
    ------
    UnknownDataSet
        Not a plain store name, or no such store in the data folder.
    """
    name = name.removesuffix(".gpkg")
    if not _STORE_NAME.fullmatch(name) or name.startswith("."):
        raise UnknownDataSet("not a store name")
    candidate = (data_dir() / f"{name}.gpkg").resolve()
    if candidate.parent != data_dir() or not candidate.is_file():
        raise UnknownDataSet("no such store in the data folder")
    return candidate


# -- store keys --------------------------------------------------------------------------------
# Every cache of the app (Streamlit's and the module dicts below) is keyed by a *store key*:
# the store's identity (a resolved path, or a URL without password: safe in a log). The
# location the server was configured with (which may hold a password) is kept here, in this
# process only, so that whatever gets a key can open the store again (open_key).

#: store key → the configured location (only ever given to open_store)
_LOCATIONS: dict[str, str] = {}
#: store key → the store's location as shown (a path, or a URL without password)
_SHOWN: dict[str, str] = {}
#: configured location → its store key (opening a store once per location to learn it)
_KEYS: dict[str, str] = {}


def store_key(location: str | os.PathLike[str]) -> str:
    """The store key of the store at ``location`` (its :attr:`~layers.store.Store.identity`),
    remembered so that :func:`open_key` opens that store from the key."""
    loc = os.fspath(location)
    key = _KEYS.get(loc)
    if key is None or key not in _LOCATIONS:
        store = open_store(loc)
        key = store.identity
        with _GUARD:
            _LOCATIONS[key], _SHOWN[key], _KEYS[loc] = loc, store.location, key
    return key


def location_of(key: str) -> str:
    """The location to open the store of ``key`` with (may hold a password: for
    :func:`~layers.store.open_store` and the layers' constructors only). A key not made by
    :func:`store_key` is taken as a location itself (a path)."""
    return _LOCATIONS.get(key, key)


def open_key(key: str) -> Store:
    """The store of ``key``, opened."""
    return open_store(location_of(key))


def shown(key: str) -> str:
    """The store of ``key`` as pages and logs may name it (its
    :attr:`~layers.store.Store.location`: a path, or a URL without password)."""
    return _SHOWN.get(key) or open_key(key).location


def shown_name(key: str) -> str:
    """The store as a page may name it to a visitor: a file's name (no server path), or the
    URL without password."""
    where = shown(key)
    return where if is_url(where) else Path(where).name


def accounts(key: str) -> Accounts:
    """The accounts, sessions and audit log of the store of ``key``."""
    return Accounts(location_of(key))


def tickets(key: str) -> TicketStore:
    """The ticket store of the store of ``key`` (opening it writes nothing)."""
    return TicketStore.for_store(open_key(key))


def data_folder_name(key: str) -> str | None:
    """The name ``?data=NAME`` gives the store of ``key`` when it is a file of the data folder
    (None: any other store, a database server's included)."""
    return _folder_name(location_of(key))


def _folder_name(location: str) -> str | None:
    if is_url(location):
        return None
    path = Path(location).resolve()
    return path.stem if path.suffix == ".gpkg" and path.parent == data_dir() else None


def data_folder_names() -> list[str]:
    """The names of the stores of the data folder (what ``?data=`` may pick), sorted."""
    return sorted(p.stem for p in data_dir().glob("*.gpkg") if not p.name.startswith("."))


def default_data_name() -> str | None:
    """The name of the data folder's store shown without ``?data=`` (None: the store shown
    then is no file of the data folder)."""
    return _folder_name(configured_location(None))


def is_shipped_demo(location: str | os.PathLike[str]) -> bool:
    """A labelled-fictional store file shipped in ``geodata/`` (the demo town, the Longgang
    demo): the only stores the app itself sets up (their ticket databases are not in git).
    Never a database server."""
    if is_url(location):
        return False
    path = Path(location)
    if path.resolve().parent != DEMO_STORE.parent.resolve() or not path.exists():
        return path == DEMO_STORE
    return is_fictional(open_store(path).meta())


def ensure_demo(location: str | os.PathLike[str] = DEMO_STORE) -> bool:
    """Set up a shipped demo (:func:`is_shipped_demo`): generate the demo town's store if the
    file is missing and fill its ticket database from the demo's history if that is missing
    (what ``python -m layers demo`` does). Never for any other store: a real store's pages
    never write. True when anything was made."""
    if not is_shipped_demo(location):
        return False
    path = Path(location)
    made = False
    if not path.exists() and path == DEMO_STORE:
        open_store(path).write(generate_demo())
        made = True
    if not open_store(path).ticket_tables().exists():
        TicketStore.for_store(path, seed=True).close()
        made = True
    return made


def install_store(preview: str | os.PathLike[str], name: str) -> Path | None:
    """Copy the previewed store file ``preview`` (and its ticket database) into the data
    folder as ``NAME.gpkg`` (``?data=NAME``), each file written under a temporary name first,
    then renamed, so a half-copied store never shows; None when a store of that name exists."""
    target = data_dir() / f"{name.removesuffix('.gpkg')}.gpkg"
    if target.exists() or db_path_for(target).exists():
        return None
    for src, dst in ((db_path_for(preview), db_path_for(target)), (Path(preview), target)):
        if src.exists():
            tmp = dst.with_name(f".{dst.name}.installing")
            shutil.copyfile(src, tmp)
            tmp.replace(dst)
    return target


def version_key(key: str) -> int:
    """The store's layer version (:meth:`~layers.store.Store.version`) as the integer the page
    caches are keyed by."""
    digest = hashlib.blake2b(open_key(key).version().encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def load(key: str, version: int) -> LayerSet:
    """The layers of the store of ``key`` (``version`` — its :func:`version_key` — is only
    part of the cache key of the caller), each read when first asked for (a deferred layer of
    the :class:`~layers.layerset.LayerSet`) from :func:`_layer`: again only when its own
    version changed (:meth:`~layers.store.Store.layer_versions`), from the store's snapshot
    (:mod:`layers.snapshot`) when that holds this version."""
    del version
    store = open_key(key)
    tokens = store.layer_versions()
    meta = store.meta()
    today = clock.today().isoformat()  # demo dates are shown relative to today
    anchor = meta.get(DATE_ANCHOR)  # the stored day a demo's dates are relative to
    readers = {n: functools.partial(_layer, key, n, tokens.get(n, ""), today, anchor)
               for n in store.layer_names()}
    # each layer is read with its dates shifted to today; the metadata says so too
    return LayerSet({}, LayerSet({}, meta).dates_relative_to(clock.today()).meta,
                    deferred=readers, versions={n: tokens.get(n, "") for n in readers})


#: The layers the coverage analysis reads: its cache key.
COVERAGE_LAYERS = ("communities", "grids", "buildings", "people", "assignments")


def coverage(key: str, data: LayerSet, settings: Settings = DEFAULT_SETTINGS
             ) -> CoverageResult:
    """The coverage of ``data`` (layers of the store of ``key``, as :func:`load` read them):
    from the store's snapshot when it was computed from the same versions of the same layers
    for the same day and settings, else computed (:func:`layers.coverage.coverage`) and kept
    there for the next server start (today's only: a past day asked for is computed). A set
    whose layers carry no versions (a scoped view) is always computed."""
    cov_key = None if settings.as_of else _coverage_key(data, settings)
    if cov_key is None:
        return layers_coverage(data, settings)
    store = open_key(key)
    tables = snapshot.read_tables(store, "coverage", cov_key)
    if tables is not None:
        try:
            return CoverageResult.from_tables(tables, settings)
        except (KeyError, ValueError, TypeError) as exc:
            log.warning("kept coverage of %s not used: %s", store.location, exc)
    _read_ahead(data, COVERAGE_LAYERS)
    result = layers_coverage(data, settings, _memo(key))
    snapshot.write_tables(store, "coverage", cov_key, result.to_tables())
    return result


#: store key → the :class:`~layers.coverage.CoverageMemo` of the store's last whole coverage:
#: after an edit the next one redoes only what the edit touched (a city: ~2 s → ~0.3 s).
_MEMOS: dict[str, CoverageMemo] = {}


def _memo(key: str) -> CoverageMemo:
    with _GUARD:
        return _MEMOS.setdefault(key, CoverageMemo())


def _prime(key: str, data: LayerSet) -> None:
    """Fill the coverage memo of the store of ``key`` from ``data`` when no coverage of it
    has been computed in this process (today's came from the snapshot): so the first edit
    after a start is quick too. Nothing is written."""
    memo = _memo(key)
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
         key: str | None = None) -> None:
    """Read every layer of ``data`` not read yet, build the spatial index of the layers
    ``indexes`` names and, given the store's ``key``, fill its coverage memo
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
            if key is not None:
                _prime(key, data)
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


#: (store key, layer) → the current version of each layer only
_LAYERS: dict[tuple[str, str], _Cached] = {}
_LOCKS: dict[tuple[str, str], threading.Lock] = {}
_GUARD = threading.Lock()


def _cached(key: str, name: str, token: str, today: str) -> pd.DataFrame | None:
    hit = _LAYERS.get((key, name))
    return hit.frame if hit is not None and (hit.token, hit.today) == (token, today) else None


def _layer(key: str, name: str, token: str, today: str, anchor: str | None = None
           ) -> pd.DataFrame:
    """Layer ``name`` at version ``token``: from the snapshot, or read from the store
    (integrity-checked, not re-validated: the store validated it when it wrote it) — after a
    row edit only the changed rows (:meth:`~layers.store.Store.read_changed`) — by
    one session while the others wait for it; dates shifted to ``today`` when the store keeps
    them relative to ``anchor`` (a demo)."""
    with _GUARD:
        lock = _LOCKS.setdefault((key, name), threading.Lock())
    with lock:
        frame = _cached(key, name, token, today)
        if frame is None:
            stored, marker = _stored(open_key(key), name, token, _LAYERS.get((key, name)))
            meta = {DATE_ANCHOR: anchor} if anchor else {}
            frame = LayerSet({name: stored}, meta).dates_relative_to(
                dt.date.fromisoformat(today))[name]
            _LAYERS[(key, name)] = _Cached(token, today, frame, stored, marker)
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
