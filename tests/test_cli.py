"""The command line as scripts and our checks call it: ``python -m layers …``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from clikit import run_cli
from conftest import BACKENDS, pg_drop

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return run_cli(*args, cwd=cwd, timeout=300)


def real_run(*args: str) -> subprocess.CompletedProcess:
    """The module entry point for real: a new interpreter runs ``python -m layers ARGS``."""
    return subprocess.run([sys.executable, "-m", "layers", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


def _demo(out: str) -> str:
    r = run("demo", "--out", out, "--seed", "11")
    assert r.returncode == 0, r.stderr
    from layers.store import open_store

    assert r.stdout.strip().splitlines()[-1] == open_store(out).location
    assert "示例数据" in r.stderr  # progress and the fictional label go to stderr
    return out


@pytest.fixture(scope="module", params=BACKENDS)
def any_store(request, tmp_path_factory) -> str:
    """A demo made by the CLI (``demo --out``) on each backend: a file, or a database."""
    if request.param == "gpkg":
        return _demo(str(tmp_path_factory.mktemp("cli") / "town.gpkg"))
    cluster = request.getfixturevalue("pg_cluster")
    url = cluster.database("cli_demo")
    yield_url = _demo(url)
    request.addfinalizer(lambda: pg_drop(cluster, url))
    return yield_url


@pytest.fixture(scope="module")
def cli_store(tmp_path_factory) -> Path:
    return Path(_demo(str(tmp_path_factory.mktemp("cli-file") / "town.gpkg")))


def test_coverage_json(any_store):
    cli_store = any_store
    r = run("coverage", str(cli_store), "--format", "json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    for key in ("grids_without_sentinel", "overloaded_sentinels", "buildings_without_member",
                "summary"):
        assert key in doc
    assert doc["grids_without_sentinel"] and all(isinstance(c, str) for c in
                                                 doc["grids_without_sentinel"])
    assert doc["summary"][-1]["community_code"] == "town"
    assert doc["label"] == "示例数据，非真实"
    # same answer as the library on the same file
    from layers.coverage import coverage
    from layers.store import open_store

    lib = coverage(open_store(cli_store).read())
    assert doc["grids_without_sentinel"] == lib.grids_without_sentinel
    assert len(doc["buildings_without_member"]) == len(lib.buildings_without_member)


def test_coverage_table(any_store):
    r = run("coverage", any_store)
    assert r.returncode == 0, r.stderr
    assert "无哨兵网格" in r.stdout and "合计" in r.stdout and "示例数据" in r.stdout


def test_demo_is_deterministic(any_store, tmp_path):
    other = tmp_path / "again.gpkg"
    assert run("demo", "--out", str(other), "--seed", "11", "-q").returncode == 0
    a = json.loads(run("coverage", any_store, "--format", "json").stdout)
    b = json.loads(run("coverage", str(other), "--format", "json").stdout)
    assert a == b


def test_validate_command(any_store):
    r = run("validate", any_store)
    assert r.returncode == 0 and "0 error(s)" in r.stdout


def test_errors_go_to_stderr_with_nonzero_exit(tmp_path):
    r = real_run("coverage", str(tmp_path / "missing.gpkg"))
    assert r.returncode != 0 and "no such file" in r.stderr and r.stdout == ""
    bad = tmp_path / "bad.gpkg"
    bad.write_text("hello")
    r = real_run("coverage", str(bad))
    assert r.returncode != 0 and "cannot be opened" in r.stderr
    assert "Traceback" not in r.stderr
    r = real_run("demo", "--out", str(tmp_path / "x.gpkg"), "--scale", "galaxy")
    assert r.returncode != 0 and "invalid choice" in r.stderr


def test_broken_store_reports_the_problem(cli_store, tmp_path):
    import shutil

    import pyogrio

    broken = tmp_path / "broken.gpkg"
    shutil.copyfile(cli_store, broken)
    g = pyogrio.read_dataframe(broken, layer="grids")
    g.loc[0, "community_code"] = "nowhere"
    pyogrio.write_dataframe(g, broken, layer="grids")
    # references between layers are the full check's (a read trusts what the store wrote)
    r = run("coverage", str(broken), "--full-check")
    assert r.returncode == 2
    assert "grids" in r.stderr and "'nowhere' is not a code in communities" in r.stderr
    assert "Traceback" not in r.stderr
    r = run("validate", str(broken), "--format", "json")
    assert r.returncode == 2
    rows = json.loads(r.stdout)
    assert any(p["layer"] == "grids" and p["field"] == "community_code" and p["row"] == 1
               for p in rows)
    # a column broken outside the app: the plain coverage command refuses it too
    pyogrio.write_dataframe(g.drop(columns=["households"]), broken, layer="grids")
    r = run("coverage", str(broken))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "grids / field households: required column is missing" in r.stderr
    assert "python -m layers validate" in r.stderr
