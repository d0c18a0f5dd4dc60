"""Accounts and the audit log in the store (``layers.auth.accounts``): argon2id hashes, lock-out
after repeated failures (and its end), disabled accounts and kiosk tokens, scope codes checked
against the store, the append-only audit log joined with the change log and the ticket
history, and whole-store writes that keep all of it.

Tests taking ``acc`` / ``accounts_store`` use the store contract only (any backend); those taking
``gpkg_acc`` / ``store_copy`` look into the GeoPackage file itself. Sessions: test_sessions.py.
The clock is fixed by conftest at 2026-11-20T12:00; tests move it with ``monkeypatch``."""

from __future__ import annotations

import datetime as dt
import hashlib
import sqlite3
from pathlib import Path

import pandas as pd
import pyogrio
import pytest
from conftest import content_bytes, content_digest, is_pg, raw_query
from sqlalchemy import delete, update
from sqlalchemy import exc as sa_exc

from layers import clock
from layers import register as reg
from layers.auth import Principal
from layers.auth.accounts import (
    ACCOUNT_COLUMNS,
    AUDIT_COLUMNS,
    AccountError,
    Accounts,
    LockedOut,
    LoginFailed,
    audit_table,
)
from layers.errors import StoreError
from layers.store import ACCOUNTS_TABLE, AUDIT_TABLE, CHANGE_LOG, open_store
from layers.tickets import TicketStore

pytestmark = pytest.mark.backends
#: The CLI's operator: whole area, full data (what tests that are not about
#: authorisation act as).
OP = Principal.operator()

NOON = dt.datetime(2026, 11, 20, 12, 0, 0)
PASSWORD = "correct horse battery"


def digest(path) -> str:
    return content_digest(path)


def sql(path, query: str, params: tuple = ()) -> list[tuple]:
    return raw_query(path, query, params)


def set_clock(monkeypatch: pytest.MonkeyPatch, t: dt.datetime) -> None:
    monkeypatch.setattr(clock, "now", lambda: t)


@pytest.fixture
def codes(accounts_store) -> dict[str, list[str]]:
    store = accounts_store
    return {"communities": store.select_rows("communities", columns=["code"])["code"].tolist(),
            "grids": store.select_rows("grids", columns=["code"])["code"].tolist()}


@pytest.fixture
def acc(accounts_store) -> Accounts:
    a = Accounts(accounts_store)
    assert a.add("Admin", "admin", password=PASSWORD, by="cli") is None
    return a


@pytest.fixture
def gpkg_acc(store_copy) -> Accounts:
    """``acc`` on the GeoPackage ``store_copy`` (for tests that look into the file)."""
    a = Accounts(store_copy)
    assert a.add("Admin", "admin", password=PASSWORD, by="cli") is None
    return a


# -- storage and hashes ----------------------------------------------------------------------------
@pytest.mark.gpkg_only
def test_reads_of_a_store_without_accounts_create_nothing(store_copy):
    before = digest(store_copy)
    a = Accounts(store_copy)
    assert not a.exists()
    assert a.list().empty and list(a.list().columns) == list(ACCOUNT_COLUMNS)
    assert a.principal("admin") is None and a.by_token("x" * 43) is None
    log = a.audit_log()
    assert list(log.columns) == list(AUDIT_COLUMNS) and set(log["source"]) == {"tickets"}
    assert digest(store_copy) == before
    assert not sql(store_copy, "SELECT name FROM sqlite_master WHERE name IN (?, ?)",
                   (ACCOUNTS_TABLE, AUDIT_TABLE))


def test_a_missing_store_is_an_error(tmp_path):
    a = Accounts(tmp_path / "missing.gpkg")
    for call in (a.exists, a.list, a.audit_log, lambda: a.principal("x"),
                 lambda: a.add("x", "admin", password=PASSWORD, by="cli")):
        with pytest.raises(StoreError, match="no such file"):
            call()
    assert not (tmp_path / "missing.gpkg").exists()


@pytest.mark.gpkg_only
def test_password_is_an_argon2id_hash_and_tables_are_not_layers(gpkg_acc, store_copy):
    acc = gpkg_acc
    assert acc.exists()
    (stored,) = sql(store_copy, f"SELECT password_hash FROM {ACCOUNTS_TABLE}")[0]
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    other = Accounts(store_copy)
    other.add("second", "admin", password=PASSWORD, by="cli")
    hashes = [h for (h,) in sql(store_copy, f"SELECT password_hash FROM {ACCOUNTS_TABLE}")]
    assert hashes[0] != hashes[1]  # salted
    listed = acc.list()
    assert list(listed.columns) == list(ACCOUNT_COLUMNS)
    assert "password_hash" not in listed.columns and PASSWORD not in listed.to_string()
    registered = {t for (t,) in sql(store_copy, "SELECT table_name FROM gpkg_contents")}
    assert not {ACCOUNTS_TABLE, AUDIT_TABLE} & registered  # QGIS does not list them
    assert ACCOUNTS_TABLE not in dict(pyogrio.list_layers(store_copy))


# -- logging in ------------------------------------------------------------------------------------
def test_login_resets_failures_records_last_login_and_is_audited(acc, monkeypatch):
    with pytest.raises(LoginFailed):
        acc.authenticate("admin", "wrong password")
    assert acc.list().loc[0, "failures"] == 1
    set_clock(monkeypatch, NOON + dt.timedelta(minutes=3))
    p = acc.authenticate("  ADMIN ", PASSWORD)  # names compare trimmed, whatever their case
    assert (p.name, p.role, p.whole_area) == ("Admin", "admin", True)
    row = acc.list().iloc[0]
    assert row["failures"] == 0 and row["last_login"] == NOON + dt.timedelta(minutes=3)
    log = acc.audit_log()
    audit = log[log["source"] == "audit"]
    assert audit["action"].tolist() == ["account_add", "login_failed", "login"]
    assert audit["user"].tolist() == ["cli", "Admin", "Admin"]
    assert audit["at"].iloc[-1] == NOON + dt.timedelta(minutes=3)
    assert "wrong password" in audit["detail"].iloc[1]


def test_lockout_after_five_failures_and_its_end(acc, monkeypatch):
    for _ in range(4):
        with pytest.raises(LoginFailed) as err:
            acc.authenticate("admin", "wrong password")
        assert not isinstance(err.value, LockedOut)
    with pytest.raises(LockedOut, match="2026-11-20 12:15") as locked:
        acc.authenticate("admin", "wrong password")
    assert locked.value.until == NOON + dt.timedelta(minutes=15)
    set_clock(monkeypatch, NOON + dt.timedelta(minutes=14, seconds=59))
    with pytest.raises(LockedOut):
        acc.authenticate("admin", PASSWORD)  # the right password, refused while locked
    assert acc.list().loc[0, "failures"] == 5
    set_clock(monkeypatch, NOON + dt.timedelta(minutes=15))
    with pytest.raises(LoginFailed) as err:  # a fresh count once the lock-out is over
        acc.authenticate("admin", "wrong again")
    assert not isinstance(err.value, LockedOut)
    assert acc.authenticate("admin", PASSWORD).name == "Admin"
    row = acc.list().iloc[0]
    assert row["failures"] == 0 and pd.isna(row["locked_until"])
    actions = acc.audit_log(action="login_locked")
    assert len(actions) == 1 and "locked until 2026-11-20T12:15:00" in actions["detail"].iloc[0]


def test_a_name_without_account_answers_like_an_account(acc, monkeypatch):
    answers = {}
    for name in ("admin", "nobody"):
        seen = []
        for _ in range(6):
            with pytest.raises(LoginFailed) as err:
                acc.authenticate(name, "wrong password")
            seen.append((type(err.value).__name__, str(err.value)))
        answers[name] = seen
    assert answers["admin"] == answers["nobody"]
    assert answers["nobody"][0] == ("LoginFailed", "wrong user name or password")
    assert answers["nobody"][-1][0] == "LockedOut"
    with pytest.raises(LockedOut):
        acc.authenticate("NOBODY", "wrong password")  # case does not dodge it
    set_clock(monkeypatch, NOON + dt.timedelta(minutes=15))
    with pytest.raises(LoginFailed) as err:
        acc.authenticate("nobody", "wrong password")
    assert not isinstance(err.value, LockedOut)
    failed = acc.audit_log(action="login_failed", user="nobody")
    assert len(failed) == 6 and set(failed["detail"].str[:15]) == {"no such account"}


def test_disabled_account_fails_like_a_wrong_password(acc):
    acc.add("second", "admin", password="another password", by="boss")  # not the last admin
    acc.disable("admin", by="boss")
    assert acc.principal("admin") is None
    with pytest.raises(LoginFailed, match="wrong user name or password") as err:
        acc.authenticate("admin", PASSWORD)
    assert not isinstance(err.value, LockedOut)
    assert acc.exists()  # a store that had accounts keeps requiring a login
    assert acc.enable("admin", by="boss") is None
    assert acc.authenticate("admin", PASSWORD).role == "admin"
    log = acc.audit_log(user="boss")
    assert log["action"].tolist() == ["account_add", "account_disable", "account_enable"]
    assert log["target"].tolist() == ["second", "Admin", "Admin"]


def test_set_password(acc):
    acc.set_password("admin", "a new password", by="boss")
    with pytest.raises(LoginFailed):
        acc.authenticate("admin", PASSWORD)
    assert acc.authenticate("admin", "a new password").name == "Admin"
    assert acc.audit_log(action="password_set")["user"].tolist() == ["boss"]
    with pytest.raises(AccountError, match="too short"):
        acc.set_password("admin", "short", by="boss")
    with pytest.raises(AccountError, match="no account"):
        acc.set_password("ghost", "a new password", by="boss")


def test_kiosk_token_works_until_disabled(gpkg_acc, store_copy):
    acc = gpkg_acc
    token = acc.add("wall", "kiosk", by="cli")
    assert isinstance(token, str) and len(token) >= 43
    assert token.encode() not in content_bytes(store_copy)  # only its SHA-256 is kept
    (stored,) = sql(store_copy, f"SELECT token_sha256 FROM {ACCOUNTS_TABLE} WHERE name = ?",
                    ("wall",))[0]
    assert stored == hashlib.sha256(token.encode()).hexdigest()
    p = acc.by_token(token)
    assert p is not None and (p.name, p.role, p.personal) == ("wall", "kiosk", "none")
    assert acc.by_token(token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    assert acc.by_token("") is None
    with pytest.raises(LoginFailed):
        acc.authenticate("wall", "")  # no password login for a kiosk
    acc.disable("wall", by="cli")
    assert acc.by_token(token) is None  # revoked
    fresh = acc.enable("wall", by="cli")
    assert fresh and fresh != token
    assert acc.by_token(token) is None and acc.by_token(fresh).name == "wall"
    with pytest.raises(AccountError, match="no password"):
        acc.set_password("wall", "a new password", by="cli")


def test_scoped_accounts_and_their_principal(acc, codes):
    c, g = codes["communities"][:2], codes["grids"][:1]
    assert acc.add("社区王", "community", password=PASSWORD, communities=c, by="cli") is None
    acc.add("哨兵李", "sentinel", password=PASSWORD, grids=g, by="cli")
    p = acc.principal("社区王")
    assert p is not None and p.communities == frozenset(c) and not p.whole_area
    assert p.covers(c[0]) and not p.covers(codes["communities"][2])
    s = acc.authenticate("哨兵李", PASSWORD)
    assert s.grids == frozenset(g) and s.covers(None, g[0]) and not s.covers(c[0], "x")
    listed = acc.list().set_index("name")
    assert listed.loc["社区王", "communities"] == c and listed.loc["哨兵李", "grids"] == g
    assert "communities=" + ",".join(c) in acc.audit_log(action="account_add")["detail"].iloc[1]


@pytest.mark.parametrize(("kw", "message"), [
    ({"name": "cw", "role": "community", "communities": ["NOPE"]}, "unknown community.*NOPE"),
    ({"name": "sn", "role": "sentinel", "grids": ["G-NOPE"]}, "unknown grid.*G-NOPE"),
    ({"name": "cw", "role": "community"}, "at least one of its communities"),
    ({"name": "sn", "role": "sentinel"}, "at least one of its grids"),
    ({"name": "pl", "role": "planner", "grids": ["x"]}, "takes no grids"),
    ({"name": "x", "role": "mayor"}, "unknown role"),
    ({"name": "", "role": "admin"}, "1 to 64"),
    ({"name": "a" * 65, "role": "admin"}, "1 to 64"),
    ({"name": "bad\nname", "role": "admin"}, "control characters"),
    ({"name": "zero\u200bwidth", "role": "admin"}, "control characters"),
    ({"name": "ADMIN", "role": "leader"}, "exists already"),
    ({"name": "short", "role": "leader", "password": "1234567"}, "too short"),
    ({"name": "nopass", "role": "leader", "password": None}, "password is required"),
    ({"name": "samename", "role": "leader", "password": "SameName"}, "must not be"),
    ({"name": "k", "role": "kiosk", "password": PASSWORD}, "kiosk account has no password"),
])
def test_add_refusals_change_nothing(gpkg_acc, store_copy, kw, message):
    acc = gpkg_acc
    kw = {"password": PASSWORD, **kw}
    before = digest(store_copy)
    with pytest.raises(AccountError, match=message):
        acc.add(**kw, by="cli")
    assert digest(store_copy) == before


# -- the audit log ---------------------------------------------------------------------------------
def test_audit_log_is_append_only(acc, accounts_store):
    acc.audit("Admin", "reveal_phone", "P00000001")
    tables = accounts_store.services()
    refused = [update(audit_table).values(user="x"), delete(audit_table)]
    if tables.dialect == "postgresql":
        refused.append(f"TRUNCATE {AUDIT_TABLE}")
    for statement in refused:
        with pytest.raises(sa_exc.DBAPIError, match="append-only"), tables.writing() as conn:
            if isinstance(statement, str):
                conn.exec_driver_sql(statement)
            else:
                conn.execute(statement)
    assert len(acc.audit_log(action="reveal_phone")) == 1
    with pytest.raises(AccountError, match="action"):
        acc.audit("Admin", " ")


def test_audit_log_joins_changes_and_ticket_moves_with_filters(acc, accounts_store,
                                                               monkeypatch):
    store = accounts_store
    building = store.select_rows("buildings", columns=["code"])["code"].iloc[0]
    set_clock(monkeypatch, NOON + dt.timedelta(hours=1))
    pid = reg.add_person(store, name="张测试", phone="13812345678", building=building,
                         principal=Principal.operator("alice"))
    tickets = TicketStore.for_store(store)
    received = tickets.frame(principal=OP)
    tid = received.loc[received["status"] == "received", "id"].iloc[0]
    set_clock(monkeypatch, NOON + dt.timedelta(hours=2))
    tickets.move(tid, "registered", principal=Principal.operator("bob"), note="登记")
    tickets.close()
    acc.audit("Admin", "export", "coverage", "xlsx, 12 rows")

    log = acc.audit_log()
    assert list(log.columns) == list(AUDIT_COLUMNS)
    assert log["at"].is_monotonic_increasing
    change = log[(log["source"] == "change_log") & (log["user"] == "alice")]
    assert len(change) == 1 and change["target"].iloc[0] == pid
    assert change["action"].iloc[0] == "person_add"
    move = log[(log["source"] == "tickets") & (log["user"] == "bob")]
    assert move[["action", "target", "detail"]].values.tolist() == [
        ["ticket_registered", tid, "登记"]]
    assert move["at"].iloc[0] == NOON + dt.timedelta(hours=2)

    assert set(acc.audit_log(user="alice")["source"]) == {"change_log"}
    assert acc.audit_log(action="ticket_registered", user="bob")["target"].tolist() == [tid]
    assert acc.audit_log(action="export")["detail"].tolist() == ["xlsx, 12 rows"]
    since = acc.audit_log(since=NOON + dt.timedelta(hours=1, minutes=30))
    assert (since["at"] >= NOON + dt.timedelta(hours=1, minutes=30)).all()
    assert "alice" not in set(since["user"]) and "bob" in set(since["user"])
    assert len(acc.audit_log(since=dt.date(2026, 11, 21))) == len(
        log[log["at"] >= dt.datetime(2026, 11, 21)])


# -- whole-store writes keep accounts, the audit log and the change log --------------------------
def test_writes_keep_accounts_and_logs(gpkg_acc, store_copy):
    acc = gpkg_acc
    store = open_store(store_copy)
    building = store.select_rows("buildings", columns=["code"])["code"].iloc[0]
    reg.add_person(store, name="张测试", phone=None, building=building,
                   principal=Principal.operator("alice"))
    token = acc.add("wall", "kiosk", by="cli")
    acc.audit("Admin", "reveal_phone", "P00000001")
    counts = {t: sql(store_copy, f"SELECT count(*) FROM {t}")[0][0]
              for t in (ACCOUNTS_TABLE, AUDIT_TABLE, CHANGE_LOG)}

    store.write(store.read())  # a whole new file, as an import or `demo` over it makes
    store.update({"care_points": store.read(["care_points"]).care_points})
    store.transform(lambda cur: {"parking": cur.parking})
    assert {t: sql(store_copy, f"SELECT count(*) FROM {t}")[0][0] for t in counts} == counts

    assert acc.exists() and acc.authenticate("admin", PASSWORD).name == "Admin"
    assert acc.by_token(token) is not None
    assert len(acc.audit_log(user="alice")) == 1  # the change log, still readable
    assert len(store.change_log({"by": "alice"})) == 1
    if not is_pg(store_copy):
        assert CHANGE_LOG in dict(pyogrio.list_layers(store_copy))  # still registered
        registered = {t for (t,) in sql(store_copy, "SELECT table_name FROM gpkg_contents")}
        assert not {ACCOUNTS_TABLE, AUDIT_TABLE} & registered
    for table in (AUDIT_TABLE, CHANGE_LOG):  # the append-only triggers came along
        with pytest.raises(Exception, match="append-only"):
            sql(store_copy, f"DELETE FROM {table}")
    acc.add("later", "planner", password=PASSWORD, by="cli")  # ids continue
    ids = [i for (i,) in sql(store_copy, f"SELECT id FROM {ACCOUNTS_TABLE} ORDER BY id")]
    assert ids == sorted(set(ids)) and len(ids) == counts[ACCOUNTS_TABLE] + 1


def test_write_over_a_non_database_file_still_works(tmp_path, demo):
    junk = tmp_path / "junk.gpkg"
    junk.write_text("not a database")
    open_store(junk).write(demo)
    assert not Accounts(junk).exists()


def test_a_hash_with_outdated_parameters_is_rehashed_at_login(gpkg_acc, store_copy):
    acc = gpkg_acc
    from argon2 import PasswordHasher

    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    sql(store_copy, f"UPDATE {ACCOUNTS_TABLE} SET password_hash = ?", (weak,))
    assert acc.authenticate("admin", PASSWORD).name == "Admin"
    (stored,) = sql(store_copy, f"SELECT password_hash FROM {ACCOUNTS_TABLE}")[0]
    assert stored != weak and stored.startswith("$argon2id$")
    assert not PasswordHasher().check_needs_rehash(stored)
    assert acc.authenticate("admin", PASSWORD).name == "Admin"


def test_the_last_enabled_admin_cannot_be_disabled(tmp_path, demo_file):
    from layers.auth.accounts import AccountError, Accounts
    from tests.conftest import copy_store

    path = copy_store(demo_file, tmp_path / "s.gpkg")
    accts = Accounts(path)
    accts.add("boss", "admin", password="long-enough-1", by="t")
    with pytest.raises(AccountError, match="last enabled administrator"):
        accts.disable("boss", by="t")
    accts.add("boss2", "admin", password="long-enough-2", by="t")
    accts.disable("boss", by="t")
    assert accts.principal("boss") is None
    with pytest.raises(AccountError):
        accts.disable("boss2", by="t")


def test_a_new_store_adopts_its_creators_admin_account(tmp_path, demo_file):
    from layers.auth.accounts import AccountError, Accounts
    from tests.conftest import copy_store

    old = Accounts(copy_store(demo_file, tmp_path / "old.gpkg"))
    old.add("boss", "admin", password="long-enough-1", by="t")
    old.add("clerk", "community", password="long-enough-2",
            communities=["500106110001"], by="t")
    new = Accounts(copy_store(demo_file, tmp_path / "new.gpkg"))
    with pytest.raises(AccountError, match="not an enabled administrator"):
        new.adopt_admin(old, "clerk")
    new.adopt_admin(old, "boss")
    assert new.authenticate("boss", "long-enough-1").role == "admin"  # the same password
    with pytest.raises(AccountError, match="has accounts already"):
        new.adopt_admin(old, "boss")


def test_logins_leave_the_layer_version_alone_edits_change_it(store_copy):
    """The app's caches are keyed by the layers' version: a login (an audit entry in the same
    file) must not make every page re-read the store; a row edit or a metadata change must."""
    from layers import register as reg
    from layers.auth.accounts import Accounts
    from layers.store import open_store

    store = open_store(store_copy)
    accts = Accounts(store_copy)
    accts.add("boss", "admin", password="long-enough-1", by="t")
    before = store.version()
    accts.authenticate("boss", "long-enough-1")
    accts.audit("boss", "reveal_phone", "P00000001")
    assert store.version() == before
    building = store.select_rows("buildings", None, columns=["code"])["code"].iloc[0]
    reg.add_person(store, name="甲", building=building, principal=Principal.operator("t"))
    after_edit = store.version()
    assert after_edit != before
    store.transform(lambda _current: {}, meta={"note": "x"})
    assert store.version() != after_edit


# -- stores whose tables the raw-sqlite3 version made ----------------------------------------------
#: The DDL the accounts module ran before it was written with SQLAlchemy (stores in the field).
RAW_SCHEMA = (
    f"""CREATE TABLE IF NOT EXISTS {ACCOUNTS_TABLE} (
        id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, name TEXT NOT NULL,
        name_key TEXT NOT NULL UNIQUE, role TEXT NOT NULL, password_hash TEXT,
        token_sha256 TEXT UNIQUE, communities TEXT NOT NULL DEFAULT '[]',
        grids TEXT NOT NULL DEFAULT '[]', disabled INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL, created_by TEXT NOT NULL, last_login TEXT,
        failures INTEGER NOT NULL DEFAULT 0, locked_until TEXT)""",
    f"""CREATE TABLE IF NOT EXISTS {AUDIT_TABLE} (
        fid INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, at TEXT NOT NULL, "user" TEXT NOT NULL,
        action TEXT NOT NULL, target TEXT NOT NULL DEFAULT '',
        detail TEXT NOT NULL DEFAULT '')""",
    f'CREATE INDEX IF NOT EXISTS {AUDIT_TABLE}_action_user ON {AUDIT_TABLE} (action, "user")',
    f"CREATE INDEX IF NOT EXISTS {AUDIT_TABLE}_at ON {AUDIT_TABLE} (at)",
    *(f"CREATE TRIGGER IF NOT EXISTS {AUDIT_TABLE}_no_{verb.lower()} BEFORE {verb} ON "
      f"{AUDIT_TABLE} BEGIN SELECT RAISE(ABORT, '{AUDIT_TABLE} is append-only: entries are "
      "never changed or deleted'); END" for verb in ("UPDATE", "DELETE")),
)


def shape(path: Path, table: str) -> tuple[list[tuple], list[tuple]]:
    """A table's columns (name, type, not null, default, primary key) and indexes."""
    columns = [tuple(r[1:]) for r in sql(path, f"PRAGMA table_info({table})")]
    indexes = sorted((name, unique, tuple(c for (_, _, c) in sql(path,
                                                                f"PRAGMA index_info({name})")))
                     for (_, name, unique, *_) in sql(path, f"PRAGMA index_list({table})"))
    return columns, [(n if not n.startswith("sqlite_autoindex") else "auto", u, c)
                     for n, u, c in indexes]


@pytest.mark.gpkg_only
def test_tables_made_by_the_raw_ddl_keep_working(store_copy, tmp_path, demo_file):
    from argon2 import PasswordHasher

    from tests.conftest import copy_store

    con = sqlite3.connect(store_copy)
    with con:
        for statement in RAW_SCHEMA:
            con.execute(statement)
        con.execute(f"INSERT INTO {ACCOUNTS_TABLE} (name, name_key, role, password_hash, "
                    "communities, grids, created_at, created_by) VALUES ('Old', 'old', 'admin', "
                    "?, '[]', '[]', '2026-01-02T03:04:05', 'cli')",
                    (PasswordHasher().hash(PASSWORD),))
        con.execute(f'INSERT INTO {AUDIT_TABLE} (at, "user", action, target) VALUES '
                    "('2026-01-02T03:04:05', 'cli', 'account_add', 'Old')")
    con.close()
    ddl = dict(sql(store_copy, "SELECT name, sql FROM sqlite_master WHERE tbl_name IN (?, ?)",
                   (ACCOUNTS_TABLE, AUDIT_TABLE)))

    acc = Accounts(store_copy)
    assert acc.authenticate("old", PASSWORD).name == "Old"
    token = acc.start_session("Old")  # the sessions table is added beside them
    assert acc.session(token).name == "Old"
    acc.add("new", "planner", password=PASSWORD, by="Old")
    acc.disable("new", by="Old")
    assert acc.list()["name"].tolist() == ["Old", "new"]
    assert acc.list().loc[0, "created_at"] == dt.datetime(2026, 1, 2, 3, 4, 5)
    log = acc.audit_log()
    assert log.loc[log["source"] == "audit", "action"].tolist() == [
        "account_add", "login", "session_start", "account_add", "account_disable"]
    assert sql(store_copy, f"SELECT id FROM {ACCOUNTS_TABLE} ORDER BY id") == [(1,), (2,)]
    assert dict(sql(store_copy, "SELECT name, sql FROM sqlite_master WHERE tbl_name IN "
                                "(?, ?)", (ACCOUNTS_TABLE, AUDIT_TABLE))) == ddl  # as they were

    # and what this version makes has the same shape as what the raw DDL made
    fresh = copy_store(demo_file, tmp_path / "fresh.gpkg")
    Accounts(fresh).add("Old", "admin", password=PASSWORD, by="cli")
    for table in (ACCOUNTS_TABLE, AUDIT_TABLE):
        assert shape(fresh, table) == shape(store_copy, table)
    assert {n for (n,) in sql(fresh, "SELECT name FROM sqlite_sequence")} >= {
        ACCOUNTS_TABLE, AUDIT_TABLE}  # AUTOINCREMENT: ids are never reused
    con = sqlite3.connect(fresh)
    try:
        for statement in (f"UPDATE {AUDIT_TABLE} SET user = 'x'", f"DELETE FROM {AUDIT_TABLE}"):
            with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                con.execute(statement)
    finally:
        con.close()
