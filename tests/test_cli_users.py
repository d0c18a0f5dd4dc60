"""``python -m layers users …`` and ``python -m layers audit …`` as our checks call them: the
kiosk token alone on the last stdout line, refusals on stderr with exit status 2, the audit log
as JSON, and a ``demo`` written over a store that keeps its accounts.

The clock is fixed by conftest (``WANGGE_NOW``, inherited by the subprocesses)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from clikit import run_cli

from layers.auth.accounts import Accounts
from layers.store import open_store

pytestmark = pytest.mark.backends

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "correct horse battery"


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return run_cli(*args, input=stdin, timeout=300)


@pytest.fixture
def pw_file(tmp_path) -> Path:
    f = tmp_path / "pw.txt"
    f.write_text(PASSWORD + "\nsecond line ignored\n", encoding="utf-8")
    return f


def test_users_add_list_login(store_copy, pw_file):
    s = str(store_copy)
    r = run("users", "add", s, "--name", "admin", "--role", "admin", "--password-file",
            str(pw_file))
    assert r.returncode == 0, r.stderr
    community = open_store(store_copy).select_rows("communities", columns=["code"])["code"][0]
    r = run("users", "add", s, "--name", "cw", "--role", "community", "--communities",
            f"{community}", "--password-file", "-", "--by", "ops", stdin=PASSWORD + "\n")
    assert r.returncode == 0, r.stderr
    r = run("users", "list", s, "--format", "json")
    assert r.returncode == 0, r.stderr
    listed = {a["name"]: a for a in json.loads(r.stdout)}
    assert set(listed) == {"admin", "cw"}
    assert listed["cw"]["communities"] == [community] and listed["cw"]["role"] == "community"
    assert listed["admin"]["created_at"] == "2026-11-20T12:00:00"
    assert "argon2" not in r.stdout and PASSWORD not in r.stdout
    table = run("users", "list", s)
    assert table.returncode == 0 and "cw" in table.stdout and community in table.stdout
    acc = Accounts(store_copy)
    assert acc.authenticate("admin", PASSWORD).role == "admin"  # the first line, no newline
    assert acc.authenticate("cw", PASSWORD).communities == {community}


def test_kiosk_token_on_the_last_line_then_revoked(store_copy):
    s = str(store_copy)
    r = run("users", "add", s, "--name", "wall", "--role", "kiosk")
    assert r.returncode == 0, r.stderr
    token = r.stdout.splitlines()[-1]
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token)
    acc = Accounts(store_copy)
    assert acc.by_token(token).role == "kiosk"
    r = run("users", "disable", s, "--name", "wall")
    assert r.returncode == 0, r.stderr
    assert acc.by_token(token) is None
    r = run("users", "enable", s, "--name", "wall")
    assert r.returncode == 0, r.stderr
    fresh = r.stdout.splitlines()[-1]
    assert fresh != token and acc.by_token(fresh).name == "wall"
    assert acc.by_token(token) is None


def test_passwd_and_the_audit_log_as_json(store_copy, pw_file, tmp_path):
    s = str(store_copy)
    assert run("users", "add", s, "--name", "admin", "--role", "admin", "--password-file",
               str(pw_file)).returncode == 0
    new = tmp_path / "new.txt"
    new.write_text("another good one", encoding="utf-8")
    r = run("users", "passwd", s, "--name", "admin", "--password-file", str(new), "--by", "ops")
    assert r.returncode == 0, r.stderr
    acc = Accounts(store_copy)
    assert acc.authenticate("admin", "another good one").name == "admin"
    r = run("audit", s, "--format", "json", "--since", "2026-11-20")
    assert r.returncode == 0, r.stderr
    entries = json.loads(r.stdout)
    assert isinstance(entries, list) and entries
    assert set(entries[0]) == {"at", "user", "action", "target", "detail", "source"}
    mine = [(e["user"], e["action"], e["target"]) for e in entries if e["source"] == "audit"]
    assert mine == [("cli", "account_add", "admin"), ("ops", "password_set", "admin"),
                    ("admin", "login", "")]
    assert all(e["at"].startswith("2026-11-20T") for e in entries)
    r = run("audit", s, "--format", "json", "--user", "ops", "--action", "password_set")
    assert [(e["user"], e["action"]) for e in json.loads(r.stdout)] == [("ops", "password_set")]
    r = run("audit", s, "--action", "login")
    assert r.returncode == 0 and "admin" in r.stdout and "password_set" not in r.stdout


@pytest.mark.parametrize(("argv", "message"), [
    (["users", "add", "{s}", "--name", "sn", "--role", "sentinel", "--grids", "NOPE",
      "--password-file", "{pw}"], "unknown grid code"),
    (["users", "add", "{s}", "--name", "cw", "--role", "community", "--password-file", "{pw}"],
     "at least one of its communities"),
    (["users", "add", "{s}", "--name", "x", "--role", "leader"], "password is required"),
    (["users", "add", "{s}", "--name", "k", "--role", "kiosk", "--password-file", "{pw}"],
     "no password"),
    (["users", "add", "{s}", "--name", "x", "--role", "mayor"], "invalid choice"),
    (["users", "disable", "{s}", "--name", "ghost"], "no account named"),
    (["users", "list", "{missing}"], "no such file"),
    (["audit", "{s}", "--since", "yesterday"], "--since"),
])
@pytest.mark.postgis_first_case
def test_refusals_exit_2_on_stderr(store_copy, pw_file, tmp_path, argv, message):
    values = {"s": str(store_copy), "pw": str(pw_file), "missing": str(tmp_path / "no.gpkg")}
    r = run(*[a.format(**values) for a in argv])
    assert r.returncode == 2 and message in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""
    assert not Accounts(store_copy).exists()


def test_demo_over_a_store_keeps_its_accounts(store_copy, pw_file):
    s = str(store_copy)
    assert run("users", "add", s, "--name", "admin", "--role", "admin", "--password-file",
               str(pw_file)).returncode == 0
    r = run("demo", "--out", s, "-q")
    assert r.returncode == 0, r.stderr
    acc = Accounts(store_copy)
    assert acc.exists() and acc.authenticate("admin", PASSWORD).name == "admin"
    assert acc.audit_log(action="account_add")["target"].tolist() == ["admin"]
