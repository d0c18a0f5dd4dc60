"""Shared fixtures: the demo town is generated once per test session.

The product's one clock (:mod:`layers.clock`) is fixed for the whole run — and for every
server and CLI process the tests start — at the demo's anchor day, so figures are
reproducible; tests of the clock itself set ``WANGGE_NOW`` to other days."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ["WANGGE_NOW"] = "2026-11-20T12:00:00"

import layers.snapshot
from layers.demo import generate_demo
from layers.layerset import LayerSet
from layers.store import open_store
from layers.tickets import TicketStore, db_path_for

layers.snapshot.WRITE_DELAY_S = 0.0  # snapshot files written at once: tests wait() for them


@pytest.fixture(scope="session")
def demo() -> LayerSet:
    """The default demo town (seed 7), validated as it comes out of the store."""
    return generate_demo()


@pytest.fixture(scope="session")
def demo_file(tmp_path_factory, demo) -> Path:
    """The demo store with its ticket database seeded from the demo's history (what
    ``python -m layers demo`` makes)."""
    path = tmp_path_factory.mktemp("store") / "demo.gpkg"
    open_store(path).write(demo)
    TicketStore.for_store(path, seed=True).close()  # checkpointed: one file
    return path


@pytest.fixture
def store_copy(tmp_path, demo_file) -> Path:
    """A private copy of the demo store that a test may write to."""
    path = tmp_path / "town.gpkg"
    copy_store(demo_file, path)
    return path


def copy_store(source: Path, target: Path) -> Path:
    """Copy a layer store and its ticket database (when it has one)."""
    shutil.copyfile(source, target)
    if db_path_for(source).exists():
        shutil.copyfile(db_path_for(source), db_path_for(target))
    return target


@pytest.fixture
def accounts_store(store_copy):
    """The store accounts and session tests run on, as a :class:`~layers.store.Store`: a
    private GeoPackage demo copy (tests taking it assert through the contract only, so other
    backends can be added as parameters of this fixture)."""
    return open_store(store_copy)


@pytest.fixture
def app_store(store_copy, monkeypatch) -> Path:
    """A private copy of the demo store that the dashboard under test shows."""
    monkeypatch.setenv("WANGGE_STORE", str(store_copy))
    return store_copy


@pytest.fixture(scope="module")
def browser():
    """Debian's headless Chromium driven by Playwright (one per test module)."""
    from browserkit import ARGS, CHROMIUM
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed: run the test command `bash scripts/test.sh`")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()
