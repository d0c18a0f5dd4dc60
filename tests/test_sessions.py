"""Server-side sessions (``Accounts.start_session`` / ``session`` / ``end_session`` /
``end_sessions``): a random id of which only the SHA-256 is stored, resolved to the account's
principal while the session lives (idle timeout, absolute lifetime, account enabled), ended by a
logout, by disabling the account and by a new password, and seen by every ``Accounts`` object
and every process on the same store.

Most tests take the ``accounts_store`` fixture and look at the tables through the store's
:class:`~layers.store.ServiceTables` only (SQLAlchemy Core), so they hold for every backend.
The clock is fixed by conftest at 2026-11-20T12:00; tests move it with ``monkeypatch``."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select, update

from layers import clock
from layers.auth.accounts import (
    SESSION_TOUCH,
    AccountError,
    Accounts,
    accounts_table,
    sessions_table,
)
from layers.settings import DEFAULT_SETTINGS
from layers.store import SESSIONS_TABLE, open_store

pytestmark = pytest.mark.backends

ROOT = Path(__file__).resolve().parent.parent
NOON = dt.datetime(2026, 11, 20, 12, 0, 0)
PASSWORD = "correct horse battery"


@pytest.fixture
def at(monkeypatch: pytest.MonkeyPatch) -> Callable[[dt.datetime], None]:
    """Set the product clock."""
    def set_clock(t: dt.datetime) -> None:
        monkeypatch.setattr(clock, "now", lambda: t)
    return set_clock


@pytest.fixture
def acc(accounts_store) -> Accounts:
    a = Accounts(accounts_store)
    a.add("Admin", "admin", password=PASSWORD, by="cli")
    a.add("Clerk", "planner", password=PASSWORD, by="cli")
    return a


def stored(store) -> list[dict]:
    """The session rows, through the store's service tables."""
    tables = store.services()
    with tables.reading() as conn:
        if SESSIONS_TABLE not in tables.table_names(conn):
            return []
        return [dict(r) for r in conn.execute(
            select(sessions_table).order_by(sessions_table.c.created_at)).mappings()]


def row_of(store, token: str) -> dict:
    digest = hashlib.sha256(token.encode()).hexdigest()
    (row,) = [r for r in stored(store) if r["id_sha256"] == digest]
    return row


def test_a_session_resolves_to_its_account(acc, accounts_store):
    token = acc.start_session("  ADMIN ")  # names compare trimmed, whatever their case
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token)
    p = acc.session(token)
    assert p is not None and (p.name, p.role, p.whole_area) == ("Admin", "admin", True)
    assert row_of(accounts_store, token) == {
        "id_sha256": hashlib.sha256(token.encode()).hexdigest(), "account": "admin",
        "created_at": "2026-11-20T12:00:00", "last_seen": "2026-11-20T12:00:00",
        "expires_at": "2026-11-20T20:00:00"}
    other = acc.start_session("Admin")
    assert other != token and acc.session(other).name == "Admin"
    for bad in ("", "x" * 43, token[:-1], token + "x", "y" * 10_000, None, 42):
        assert acc.session(bad) is None
    starts = acc.audit_log(action="session_start")
    assert starts["user"].tolist() == ["Admin", "Admin"]
    assert starts["detail"].iloc[0] == "session " + hashlib.sha256(token.encode()).hexdigest()[:8]


def test_the_session_id_is_never_stored_nor_logged(acc, accounts_store):
    token = acc.start_session("Admin")
    acc.session(token)
    tables = accounts_store.services()
    with tables.reading() as conn:
        text = repr([list(conn.exec_driver_sql(f'SELECT * FROM "{t}"'))
                     for t in sorted(tables.table_names(conn))])
    assert "session_start" in text and token not in text
    assert token not in acc.audit_log().to_string()
    if accounts_store.location.endswith(".gpkg"):  # the file itself, journal pages and all
        assert token.encode() not in Path(accounts_store.location).read_bytes()
    assert acc.by_token(token) is None  # a session id is no kiosk token


def test_a_session_ends_when_unused_for_the_idle_time(accounts_store, at):
    acc = Accounts(accounts_store,
                   settings=dataclasses.replace(DEFAULT_SETTINGS, session_idle_hours=1))
    acc.add("Admin", "admin", password=PASSWORD, by="cli")
    token = acc.start_session("Admin")
    assert row_of(accounts_store, token)["expires_at"] == "2026-11-20T13:00:00"
    at(NOON + dt.timedelta(minutes=59, seconds=59))
    assert acc.session(token).name == "Admin"  # a use: the idle time starts again
    row = row_of(accounts_store, token)
    assert (row["last_seen"], row["expires_at"]) == ("2026-11-20T12:59:59",
                                                     "2026-11-20T13:59:59")
    at(NOON + dt.timedelta(hours=1, minutes=59, seconds=58))
    assert acc.session(token) is not None
    at(NOON + dt.timedelta(hours=3))
    assert acc.session(token) is None
    at(NOON + dt.timedelta(hours=3, minutes=1))
    assert acc.session(token) is None  # an expired session is not revived by a later try
    assert row_of(accounts_store, token)["last_seen"] == "2026-11-20T13:59:58"


def test_idle_hours_given_per_call(acc, at):
    token = acc.start_session("Admin")
    at(NOON + dt.timedelta(minutes=31))
    assert acc.session(token, idle_hours=0.5) is None
    assert acc.session(token) is not None  # the default: 8 hours
    with pytest.raises(AccountError, match="positive"):
        acc.session(token, idle_hours=0)


def test_a_session_lives_at_most_session_hours_however_active(acc, accounts_store, at):
    token = acc.start_session("Admin")
    for hours in (3, 6, 7.99):
        at(NOON + dt.timedelta(hours=hours))
        assert acc.session(token) is not None
    assert row_of(accounts_store, token)["expires_at"] == "2026-11-20T20:00:00"  # not later
    at(NOON + dt.timedelta(hours=8))
    assert acc.session(token) is None


def test_last_seen_is_written_at_most_once_a_minute(acc, accounts_store, at):
    token = acc.start_session("Admin")
    before = stored(accounts_store)
    at(NOON + SESSION_TOUCH - dt.timedelta(seconds=1))
    assert acc.session(token) is not None
    assert stored(accounts_store) == before  # a read only
    at(NOON + SESSION_TOUCH)
    assert acc.session(token) is not None
    assert row_of(accounts_store, token)["last_seen"] == "2026-11-20T12:01:00"
    at(NOON - dt.timedelta(hours=1))  # the clock set back: recorded, not trusted blindly
    assert acc.session(token) is not None
    assert row_of(accounts_store, token)["last_seen"] == "2026-11-20T11:00:00"


def test_logout_ends_that_session_only(acc, accounts_store):
    token, other = acc.start_session("Admin"), acc.start_session("Admin")
    assert acc.end_session(token) is True
    assert acc.session(token) is None and acc.session(other).name == "Admin"
    assert acc.end_session(token) is False  # gone already
    before = stored(accounts_store)
    assert acc.end_session("never-issued") is False and acc.end_session("") is False
    assert stored(accounts_store) == before
    logout = acc.audit_log(action="logout")
    assert logout[["user", "detail"]].values.tolist() == [
        ["Admin", "session " + hashlib.sha256(token.encode()).hexdigest()[:8]]]


def test_disabling_an_account_ends_every_session_of_it(acc, accounts_store):
    clerk = [acc.start_session("clerk"), acc.start_session("Clerk")]
    admin = acc.start_session("Admin")
    acc.disable("clerk", by="Admin")
    assert [acc.session(t) for t in clerk] == [None, None]
    assert acc.session(admin).name == "Admin"
    assert [r["account"] for r in stored(accounts_store)] == ["admin"]
    entry = acc.audit_log(action="account_disable")
    assert entry[["user", "target", "detail"]].values.tolist() == [
        ["Admin", "Clerk", "2 session(s) ended"]]
    with pytest.raises(AccountError, match="disabled"):
        acc.start_session("clerk")
    acc.enable("clerk", by="Admin")
    assert [acc.session(t) for t in clerk] == [None, None]  # enabling revives none
    assert acc.session(acc.start_session("clerk")).name == "Clerk"


def test_a_session_of_an_account_disabled_behind_our_back_is_refused(acc, accounts_store):
    token = acc.start_session("Clerk")
    with accounts_store.services().writing() as conn:  # another program's write
        conn.execute(update(accounts_table).where(accounts_table.c.name == "Clerk")
                     .values(disabled=1))
    assert acc.session(token) is None


def test_a_new_password_ends_the_other_sessions(acc):
    mine, elsewhere = acc.start_session("Admin"), acc.start_session("Admin")
    clerk = acc.start_session("Clerk")
    acc.set_password("Admin", "a new password", by="Admin", keep_session=mine)
    assert acc.session(mine).name == "Admin" and acc.session(elsewhere) is None
    assert acc.session(clerk) is not None
    acc.set_password("Admin", "another password", by="cli")
    assert acc.session(mine) is None
    details = acc.audit_log(action="password_set")["detail"].tolist()
    assert details == ["1 session(s) ended", "1 session(s) ended"]
    acc.set_password("Clerk", "a new password", by="cli", keep_session=mine)  # not Clerk's
    assert acc.session(clerk) is None


def test_end_sessions_logs_an_account_out_everywhere(acc):
    tokens = [acc.start_session("Clerk") for _ in range(3)]
    admin = acc.start_session("Admin")
    assert acc.end_sessions("clerk", by="Admin") == 3
    assert all(acc.session(t) is None for t in tokens) and acc.session(admin) is not None
    assert acc.end_sessions("Clerk") == 0
    entries = acc.audit_log(action="sessions_end")
    assert entries[["user", "target", "detail"]].values.tolist() == [
        ["Admin", "Clerk", "3 session(s)"]]
    acc.start_session("Clerk")
    assert acc.end_sessions("Clerk") == 1
    assert acc.audit_log(action="sessions_end")["user"].tolist() == ["Admin", "Clerk"]
    with pytest.raises(AccountError, match="no account named"):
        acc.end_sessions("ghost")


def test_starting_needs_an_account_and_purges_expired_sessions(acc, accounts_store, at):
    with pytest.raises(AccountError, match="no account named"):
        acc.start_session("ghost")
    old = acc.start_session("Admin")
    at(NOON + dt.timedelta(hours=9))
    fresh = acc.start_session("Clerk")
    assert [r["id_sha256"] for r in stored(accounts_store)] == [
        hashlib.sha256(fresh.encode()).hexdigest()]
    assert acc.session(old) is None and acc.session(fresh).name == "Clerk"


def test_a_kiosk_token_is_no_session(acc):
    kiosk = acc.add("wall", "kiosk", by="cli")
    assert acc.session(kiosk) is None and acc.by_token(kiosk).name == "wall"


def test_every_accounts_object_sees_the_same_sessions(acc, accounts_store):
    token = acc.start_session("Admin")
    other = Accounts(accounts_store)
    assert other.session(token).name == "Admin"
    assert other.end_session(token)
    assert acc.session(token) is None


def test_reading_sessions_of_a_store_without_accounts_creates_nothing(accounts_store):
    acc = Accounts(accounts_store)
    tables = accounts_store.services()

    def names() -> set[str]:
        with tables.reading() as conn:
            return tables.table_names(conn)

    before = names()
    assert acc.session("x" * 43) is None and acc.end_session("x" * 43) is False
    with pytest.raises(AccountError, match="no account named"):
        acc.end_sessions("admin")
    with pytest.raises(AccountError, match="no account named"):
        acc.start_session("admin")  # rolled back: the tables it made are gone
    assert names() == before and SESSIONS_TABLE not in before


# -- the GeoPackage backend ----------------------------------------------------------------------
@pytest.fixture
def gpkg_acc(store_copy) -> Accounts:
    """``acc`` on the GeoPackage ``store_copy``, opened by its path."""
    a = Accounts(store_copy)
    a.add("Admin", "admin", password=PASSWORD, by="cli")
    return a


def test_another_process_sees_and_ends_the_same_session(gpkg_acc, store_copy):
    acc = gpkg_acc
    token = acc.start_session("Admin")
    assert Accounts(str(store_copy)).session(token).name == "Admin"
    code = ("import sys; from layers.auth.accounts import Accounts; "
            "a = Accounts(sys.argv[1]); t = sys.stdin.readline().strip(); p = a.session(t); "
            "print(p.name if p else '-'); print(a.end_session(t))")
    r = subprocess.run([sys.executable, "-c", code, str(store_copy)], input=token + "\n",
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["Admin", "True"]
    assert acc.session(token) is None


def test_sessions_survive_a_whole_store_write(gpkg_acc, store_copy):
    acc = gpkg_acc
    token = acc.start_session("Admin")
    store = open_store(store_copy)
    store.write(store.read())  # a whole new file, as an import or `demo` over it makes
    assert acc.session(token).name == "Admin"
    assert Accounts(store_copy).session(token).name == "Admin"


def test_sessions_leave_the_layer_version_alone(gpkg_acc, store_copy, at):
    acc = gpkg_acc
    store = open_store(store_copy)
    before = store.version(), store.layer_versions()
    token = acc.start_session("Admin")
    at(NOON + dt.timedelta(minutes=5))
    acc.session(token)
    acc.end_session(token)
    assert (store.version(), store.layer_versions()) == before


def test_processes_starting_sessions_at_once_all_land(gpkg_acc, store_copy):
    code = ("import sys; from layers.auth.accounts import Accounts; a = Accounts(sys.argv[1]); "
            "print(' '.join(a.start_session('Admin') for _ in range(5)))")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(store_copy)], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(3)]
    outs = [p.communicate(timeout=180) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [err for _, err in outs]
    tokens = [t for out, _ in outs for t in out.split()]
    assert len(set(tokens)) == 15
    assert all(gpkg_acc.session(t).name == "Admin" for t in tokens)
    assert len(gpkg_acc.audit_log(action="session_start")) == 15
