"""Loading the store for the app: one cached read per file version (path + mtime)."""

from __future__ import annotations

import os
from pathlib import Path

from layers.demo import generate_demo
from layers.layerset import LayerSet
from layers.store import open_store

ROOT = Path(__file__).resolve().parent.parent
DEMO_STORE = ROOT / "geodata" / "demo_town.gpkg"


def store_path(query_value: str | None = None) -> Path:
    """The store to show: ``?data=`` (a path), else ``$WANGGE_STORE``, else the demo town."""
    chosen = query_value or os.environ.get("WANGGE_STORE")
    return Path(chosen) if chosen else DEMO_STORE


def ensure_demo(path: Path = DEMO_STORE) -> bool:
    """Generate the demo town if its file is missing; True when it had to be generated."""
    if path.exists():
        return False
    open_store(path).write(generate_demo())
    return True


def load(path: str, mtime_ns: int) -> LayerSet:
    """Read and validate the store (``mtime_ns`` is only part of the cache key)."""
    del mtime_ns
    return open_store(path).read()
