"""Shared fixtures: the demo town is generated once per test session."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from layers.demo import generate_demo
from layers.layerset import LayerSet
from layers.store import open_store


@pytest.fixture(scope="session")
def demo() -> LayerSet:
    """The default demo town (seed 7), validated as it comes out of the store."""
    return generate_demo()


@pytest.fixture(scope="session")
def demo_file(tmp_path_factory, demo) -> Path:
    path = tmp_path_factory.mktemp("store") / "demo.gpkg"
    open_store(path).write(demo)
    return path


@pytest.fixture
def store_copy(tmp_path, demo_file) -> Path:
    """A private copy of the demo store that a test may write to."""
    path = tmp_path / "town.gpkg"
    shutil.copyfile(demo_file, path)
    return path


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
