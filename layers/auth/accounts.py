"""Accounts, server-side sessions and the append-only audit log, kept in the store.

They are service tables of the store (:meth:`layers.store.Store.services`), reached through
SQLAlchemy Core in SQL common to SQLite and PostgreSQL — the same code for every backend; only
the audit log's append-only triggers differ by dialect. In a GeoPackage they are plain tables
of the ``.gpkg`` file itself, not registered in ``gpkg_contents`` (GIS clients do not list
them), so they travel with the store (a whole-store write carries them over, see
:data:`layers.store.SERVICE_TABLES`); in PostGIS they are tables of the store's schema. Every
write is one transaction of :meth:`~layers.store.ServiceTables.writing` (one writer at a time:
``BEGIN IMMEDIATE`` under the GeoPackage's advisory write lock, a transaction holding an
advisory lock in PostgreSQL), and the first write makes the tables that are missing. Reads
create nothing: a store without the tables has no accounts, no sessions and an empty audit log.

``auth_accounts``
    ``id`` INTEGER PRIMARY KEY AUTOINCREMENT, ``name`` TEXT (as given), ``name_key`` TEXT
    UNIQUE (NFKC, trimmed, case-folded: names are unique whatever their case),
    ``role`` TEXT (one of :data:`~layers.auth.principal.ACCOUNT_ROLES`), ``password_hash``
    TEXT (argon2id, PHC string; NULL for a kiosk), ``token_sha256`` TEXT UNIQUE (hex SHA-256
    of a kiosk's token; NULL otherwise and once revoked), ``communities`` / ``grids`` TEXT
    (JSON lists of codes), ``disabled`` INTEGER 0/1, ``created_at`` TEXT, ``created_by``
    TEXT, ``last_login`` TEXT, ``failures`` INTEGER (consecutive failed logins),
    ``locked_until`` TEXT. Times are the product clock's local time in ISO text.
``auth_sessions``
    ``id_sha256`` TEXT PRIMARY KEY (hex SHA-256 of the session id: the id itself is never
    stored), ``account`` TEXT (the account's ``name_key``), ``created_at``, ``last_seen``,
    ``expires_at`` TEXT. A session ends after :attr:`Settings.session_idle_hours` without use
    and, however active, :attr:`Settings.session_hours` after it began; ``last_seen`` is
    written at most once per :data:`SESSION_TOUCH` (so the idle time counts from up to that
    much earlier); ``expires_at`` is when it ends if unused, as of that write.
``audit_log``
    ``fid`` INTEGER PRIMARY KEY AUTOINCREMENT, ``at`` TEXT, ``user`` TEXT, ``action`` TEXT,
    ``target`` TEXT, ``detail`` TEXT. Append-only: triggers abort every UPDATE and DELETE
    (and, in PostgreSQL, TRUNCATE).

Audit actions
-------------
==================  =======================  ==============================================
action              user                     target / detail
==================  =======================  ==============================================
login               the account              — / —
login_failed        the account, or the      the account (empty for a name without one) /
                    attempted name folded    why (wrong password, disabled, unknown …)
login_locked        as login_failed          the account / locked until when
logout              the account              — / the session (``session`` + 8 hex digits of
                                             its hash) when a session was ended
session_start       the account              — / the session
sessions_end        who ended them           the account / how many sessions
reveal_phone        who revealed it          the person id / —
export              who exported             what was exported / format, rows
import              who imported             the layer / file, mode, rows
account_add         who added it             the new account / role and scope
account_disable     who disabled it          the account / sessions ended, if any
account_enable      who enabled it           the account / —
password_set        who set it               the account / sessions ended, if any
==================  =======================  ==============================================

:meth:`Accounts.audit_log` joins these (source ``audit``) with the store's change log (people
and assignment changes, source ``change_log``) and the ticket history beside the store (ticket
moves, action ``ticket_<status>``, source ``tickets``).

Passwords are hashed with argon2id (:mod:`argon2`, salted and slow); a login for a name
without an account verifies against a dummy hash, and names without an account are locked out
after the same failures as accounts, so neither the answer nor its timing tells whether an
account exists. Kiosk accounts have no password but a random token (the wall's URL); session
ids are random too (:func:`secrets.token_urlsafe`, 256 bits); of both only the SHA-256 is
stored, and neither is ever logged.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
import hmac
import json
import os
import secrets
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import pandas as pd
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import (
    Column,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    delete,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection, RowMapping
from sqlalchemy.sql import Executable

from .. import clock
from ..errors import LayersError, StoreError
from ..settings import DEFAULT_SETTINGS, Settings
from ..store import (
    ACCOUNTS_TABLE,
    AUDIT_TABLE,
    SESSIONS_TABLE,
    ServiceTables,
    Store,
    open_store,
)
from ..store._ddl import append_only_sql
from .principal import ACCOUNT_ROLES, COMMUNITY_SCOPED, GRID_SCOPED, Principal

#: Most characters of an account name.
MAX_NAME_LENGTH = 64
#: Most characters of a password (argon2 takes any length; this bounds the work per try).
MAX_PASSWORD_LENGTH = 1024
#: Longest token or session id looked up (longer ones are refused without hashing them).
MAX_TOKEN_LENGTH = 128
#: A session's ``last_seen`` is written at most this often (each use reads; a minute writes).
SESSION_TOUCH = dt.timedelta(minutes=1)
#: Columns of :meth:`Accounts.list` and of :meth:`Accounts.audit_log`.
ACCOUNT_COLUMNS = ("name", "role", "communities", "grids", "disabled", "created_at",
                   "last_login", "failures", "locked_until")
AUDIT_COLUMNS = ("at", "user", "action", "target", "detail", "source")
#: Codes of a scope (communities or grids), in the order given.
_Codes = list[str]
_SINGULAR = {"communities": "community", "grids": "grid"}
#: Longest ``user`` / ``target`` / ``detail`` text an audit entry keeps.
_CLIP = {"user": 128, "target": 256, "detail": 2000}
_APPEND_ONLY = f"{AUDIT_TABLE} is append-only: entries are never changed or deleted"

# The tables, as stores made before sessions have them (raw DDL then: the same columns, TEXT
# times, JSON text code lists, AUTOINCREMENT ids and index names), so those keep working.
metadata = MetaData()
accounts_table = Table(
    ACCOUNTS_TABLE, metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", Text, nullable=False),
    Column("name_key", Text, nullable=False, unique=True),
    Column("role", Text, nullable=False),
    Column("password_hash", Text),
    Column("token_sha256", Text, unique=True),
    Column("communities", Text, nullable=False, server_default="[]"),
    Column("grids", Text, nullable=False, server_default="[]"),
    Column("disabled", Integer, nullable=False, server_default=text("0")),
    Column("created_at", Text, nullable=False),
    Column("created_by", Text, nullable=False),
    Column("last_login", Text),
    Column("failures", Integer, nullable=False, server_default=text("0")),
    Column("locked_until", Text),
    sqlite_autoincrement=True,
)
audit_table = Table(
    AUDIT_TABLE, metadata,
    Column("fid", Integer, primary_key=True, autoincrement=True),
    Column("at", Text, nullable=False),
    Column("user", Text, nullable=False, quote=True),
    Column("action", Text, nullable=False),
    Column("target", Text, nullable=False, server_default=""),
    Column("detail", Text, nullable=False, server_default=""),
    Index(f"{AUDIT_TABLE}_action_user", "action", "user"),
    Index(f"{AUDIT_TABLE}_at", "at"),
    sqlite_autoincrement=True,
)
sessions_table = Table(
    SESSIONS_TABLE, metadata,
    Column("id_sha256", Text, primary_key=True),
    Column("account", Text, nullable=False),
    Column("created_at", Text, nullable=False),
    Column("last_seen", Text, nullable=False),
    Column("expires_at", Text, nullable=False),
    Index(f"{SESSIONS_TABLE}_account", "account"),
    Index(f"{SESSIONS_TABLE}_expires_at", "expires_at"),
)
_TABLES = frozenset(metadata.tables)
_A, _L, _S = accounts_table.c, audit_table.c, sessions_table.c


def _append_only(dialect: str) -> tuple[str, ...]:
    """Triggers that make the database itself refuse to change or delete audit entries."""
    if dialect == "sqlite":
        return tuple(
            f"CREATE TRIGGER IF NOT EXISTS {AUDIT_TABLE}_no_{verb.lower()} BEFORE {verb} ON "
            f"{AUDIT_TABLE} BEGIN SELECT RAISE(ABORT, '{_APPEND_ONLY}'); END"
            for verb in ("UPDATE", "DELETE"))
    return append_only_sql(AUDIT_TABLE, _APPEND_ONLY)


class AccountError(LayersError):
    """An account cannot be added, found or changed as asked (name, role, password, scope)."""


class LoginFailed(AccountError):
    """Wrong name or password; the message never says which, nor whether the account exists."""

    def __init__(self, message: str = "wrong user name or password") -> None:
        super().__init__(message)


class LockedOut(LoginFailed):
    """Too many failed logins: refused, even with the right password, until :attr:`until`."""

    def __init__(self, until: dt.datetime) -> None:
        self.until = until
        super().__init__(f"too many failed logins: locked until {until:%Y-%m-%d %H:%M:%S}")


_HASHER = PasswordHasher()  # argon2id, RFC 9106 "low memory" parameters


@functools.cache
def _dummy_hash() -> str:
    """A hash no password matches, verified for names without an account (equal timing)."""
    return _HASHER.hash(secrets.token_urlsafe(32))


def _verify(stored: str | None, password: object) -> bool:
    """Whether ``password`` matches the argon2 hash ``stored`` (a dummy one when None: the
    same work, always False)."""
    try:
        ok = _HASHER.verify(stored or _dummy_hash(), password if isinstance(password, str)
                            else "")
    except (VerificationError, InvalidHashError):
        return False
    return bool(ok) and stored is not None


def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _secret_digest(token: object) -> str | None:
    """The SHA-256 of a token or session id as given by a client; None for anything that
    cannot be one (not text, empty, longer than :data:`MAX_TOKEN_LENGTH`)."""
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    return _token_digest(token)


def _session_ref(digest: str) -> str:
    """How the audit log names a session: the first digits of its hash (never its id)."""
    return f"session {digest[:8]}"


def name_key(name: str) -> str:
    """What account names are compared by: NFKC-normalised, trimmed and case-folded."""
    return unicodedata.normalize("NFKC", name).strip().casefold()


def _iso(t: dt.datetime | None) -> str | None:
    return None if t is None else t.isoformat(timespec="seconds")


def _time(text_: object) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text_) if isinstance(text_, str) and text_ else None


def _clip(text_: object, field: str) -> str:
    s = "" if text_ is None else str(text_)
    s = "".join(" " if unicodedata.category(c) == "Cc" else c for c in s)
    return s[:_CLIP[field]]


def create_tables(conn: Connection) -> None:
    """Make the accounts, sessions and audit tables that are missing, with their indexes and
    the audit log's append-only triggers, in the caller's write transaction (also what
    :func:`layers.store.copy.copy_store` makes a target's tables with)."""
    metadata.create_all(conn, checkfirst=True)
    for statement in _append_only(conn.dialect.name):
        conn.exec_driver_sql(statement)


class Accounts:
    """The accounts, sessions and audit log of one store.

    Parameters
    ----------
    store
        The store (:class:`~layers.store.Store`), or its location (a ``.gpkg`` path or a
        ``postgresql://`` URL, see :func:`~layers.store.open_store`); it must exist.
    settings
        Lock-out, password and session rules (:attr:`Settings.max_login_failures`,
        :attr:`Settings.lockout_minutes`, :attr:`Settings.min_password_length`,
        :attr:`Settings.session_idle_hours`, :attr:`Settings.session_hours`).

    Raises
    ------
    StoreError
        A location no backend understands (every method: a missing or unreadable store).
    """

    def __init__(self, store: str | os.PathLike[str] | Store,
                 settings: Settings = DEFAULT_SETTINGS) -> None:
        self.store: Store = open_store(store)
        self.settings = settings
        self._tables: ServiceTables | None = None
        self._present = False  # the store was found to exist
        self._ready = False  # the tables were found or made by a write of this instance

    def __repr__(self) -> str:
        return f"Accounts({self.store.location!r})"

    # -- connections ---------------------------------------------------------------------------
    @property
    def tables(self) -> ServiceTables:
        """The store's service tables (:meth:`~layers.store.Store.services`)."""
        if self._tables is None:
            self._tables = self.store.services()
        return self._tables

    def _require_store(self) -> None:
        """Refuse a store that does not exist (in the backend's words: a GeoPackage's "no such
        file"); service tables are never the first thing a store holds."""
        if self._present:
            return
        if not self.store.exists():
            self.store.layer_names()  # raises the backend's own error for a missing store
            raise StoreError(f"{self.store.location}: the store holds no data")
        self._present = True

    @contextlib.contextmanager
    def _reading(self, *tables: str) -> Iterator[Connection | None]:
        """A connection for reading, or None when one of ``tables`` does not exist (reading
        creates nothing; no lock)."""
        self._require_store()
        if not self.tables.exists():
            yield None
            return
        with self.tables.reading() as conn:
            yield conn if set(tables) <= self.tables.table_names(conn) else None

    def _rows(self, statement: Executable, *tables: str) -> list[RowMapping]:
        """The rows of a read-only query on ``tables``; none when one of them is missing."""
        with self._reading(*tables) as conn:
            return [] if conn is None else list(conn.execute(statement).mappings())

    @contextlib.contextmanager
    def _writing(self) -> Iterator[Connection]:
        """One write transaction (one writer at a time), the tables made if missing."""
        self._require_store()
        with self.tables.writing() as conn:
            if not self._ready:
                self._ensure_schema(conn)
            yield conn
        self._ready = True  # committed: the tables exist now

    def _ensure_schema(self, conn: Connection) -> None:
        """Make the missing tables (:func:`create_tables`) in the caller's write transaction;
        tables that exist are left as they are."""
        if self.tables.table_names(conn) >= _TABLES:
            return
        create_tables(conn)

    # -- reading -------------------------------------------------------------------------------
    def exists(self) -> bool:
        """Whether the store has at least one account, enabled or not (then it needs a login).

        Raises
        ------
        StoreError
            Missing or unreadable store.
        """
        return bool(self._rows(select(_A.id).limit(1), ACCOUNTS_TABLE))

    def list(self) -> pd.DataFrame:
        """Every account, oldest first, without hashes or tokens.

        Returns
        -------
        pandas.DataFrame
            Columns :data:`ACCOUNT_COLUMNS`: ``communities`` and ``grids`` are lists of codes,
            ``disabled`` a bool, ``created_at`` / ``last_login`` / ``locked_until`` datetimes
            (NaT when never), ``failures`` the consecutive failed logins.
        """
        rows = self._rows(select(*(_A[c] for c in ACCOUNT_COLUMNS)).order_by(_A.id),
                          ACCOUNTS_TABLE)
        df = pd.DataFrame([tuple(r[c] for c in ACCOUNT_COLUMNS) for r in rows],
                          columns=list(ACCOUNT_COLUMNS), dtype=object)
        for c in ("communities", "grids"):
            df[c] = df[c].map(json.loads)
        df["disabled"] = df["disabled"].astype(bool)
        df["failures"] = df["failures"].astype("int64")
        for c in ("created_at", "last_login", "locked_until"):
            df[c] = pd.to_datetime(df[c]).astype("datetime64[s]")
        return df

    def principal(self, name: str) -> Principal | None:
        """The principal of the enabled account ``name`` now, or None (no such account, or
        disabled): the app asks again on every rerun, so a disable or a scope change takes
        effect at once."""
        row = self._account(name_key(name))
        return None if row is None or row["disabled"] else _principal(row)

    def by_token(self, token: str) -> Principal | None:
        """The kiosk principal whose token this is, or None (unknown, revoked or disabled).
        The token's SHA-256 is compared with every stored one in constant time."""
        digest = _secret_digest(token)
        if digest is None:
            return None
        rows = self._rows(select(accounts_table).where(
            _A.token_sha256.is_not(None), _A.disabled == 0), ACCOUNTS_TABLE)
        found = None
        for row in rows:
            if hmac.compare_digest(row["token_sha256"], digest):
                found = row
        return None if found is None else _principal(found)

    def _account(self, key: str) -> RowMapping | None:
        rows = self._rows(select(accounts_table).where(_A.name_key == key), ACCOUNTS_TABLE)
        return rows[0] if rows else None

    # -- changing accounts ---------------------------------------------------------------------
    def add(self, name: str, role: str, *, password: str | None = None,  # noqa: PLR0913
            communities: Iterable[str] = (), grids: Iterable[str] = (), by: str) -> str | None:
        """Add an account.

        Parameters
        ----------
        name
            1–:data:`MAX_NAME_LENGTH` characters, no control characters, unique whatever
            its case.
        role
            One of :data:`~layers.auth.principal.ACCOUNT_ROLES`.
        password
            Required for every role but ``kiosk`` (which must have none); at least
            :attr:`Settings.min_password_length` characters.
        communities, grids
            The scope: ``community`` accounts need at least one community code, ``sentinel``
            accounts at least one grid code, both of the store; other roles take none.
        by
            Who adds it (the audit entry's user).

        Returns
        -------
        str or None
            A kiosk's token (shown once: only its hash is kept), else None.

        Raises
        ------
        AccountError
            Bad name, role, password or scope, unknown codes, or the name is taken.
        """
        name = _check_name(name)
        scope = self._check_scope(role, _codes(communities), _codes(grids))
        token = secrets.token_urlsafe(32) if role == "kiosk" else None
        if token is not None:
            if password is not None:
                raise AccountError("a kiosk account has no password (it gets a token)")
            secret: dict[str, str | None] = {"password_hash": None,
                                             "token_sha256": _token_digest(token)}
        else:
            secret = {"password_hash": self._hash(password, name), "token_sha256": None}
        with self._writing() as conn:
            if _fetch(conn, name_key(name)) is not None:
                raise AccountError(f"an account named {name!r} exists already")
            conn.execute(insert(accounts_table).values(
                name=name, name_key=name_key(name), role=role, **secret,
                communities=json.dumps(scope[0], ensure_ascii=False),
                grids=json.dumps(scope[1], ensure_ascii=False), created_at=_iso(clock.now()),
                created_by=_clip(by, "user")))
            _append(conn, by, "account_add", name, _scope_text(role, *scope))
        return token

    def adopt_admin(self, source: Accounts, name: str) -> None:
        """Make ``source``'s administrator ``name`` this (new, account-less) store's first
        administrator, with the same password hash: who creates a store in the app can log in
        to it at once.

        Raises
        ------
        AccountError
            ``name`` is not an enabled administrator of ``source``, or this store has
            accounts already.
        """
        row = source._account(name_key(name))
        if row is None or row["role"] != "admin" or row["disabled"]:
            raise AccountError(f"{name!r} is not an enabled administrator of "
                               f"{source.store.location}")
        with self._writing() as conn:
            if conn.execute(select(func.count()).select_from(accounts_table)).scalar_one():
                raise AccountError(f"{self.store.location} has accounts already")
            conn.execute(insert(accounts_table).values(
                name=row["name"], name_key=row["name_key"], role="admin",
                password_hash=row["password_hash"], token_sha256=None, communities="[]",
                grids="[]", created_at=_iso(clock.now()), created_by=row["name"]))
            _append(conn, row["name"], "account_add", row["name"],
                    f"admin of {source.tables.name}")

    def disable(self, name: str, *, by: str) -> None:
        """Disable an account: it cannot log in, :meth:`principal` returns None for it, every
        session of it ends (in the same transaction) and a kiosk's token is revoked
        (:meth:`enable` issues a new one).

        Raises
        ------
        AccountError
            No account of that name, or the last enabled administrator (the store would be
            left with nobody who can manage it from the app).
        """
        with self._writing() as conn:
            row = _require(conn, name)
            if row["role"] == "admin" and not row["disabled"]:
                admins = conn.execute(select(func.count()).select_from(accounts_table).where(
                    _A.role == "admin", _A.disabled == 0)).scalar_one()
                if admins <= 1:
                    raise AccountError(f"{row['name']} is the last enabled administrator; "
                                       "add another admin first")
            conn.execute(update(accounts_table).where(_A.id == row["id"]).values(
                disabled=1, token_sha256=None))
            ended = _end_sessions(conn, row["name_key"])
            _append(conn, by, "account_disable", row["name"], _ended(ended))

    def enable(self, name: str, *, by: str) -> str | None:
        """Enable an account again (its failed logins and lock-out are cleared).

        Returns
        -------
        str or None
            For a kiosk whose token was revoked, its new token (shown once); else None.

        Raises
        ------
        AccountError
            No account of that name.
        """
        token = None
        with self._writing() as conn:
            row = _require(conn, name)
            if row["role"] == "kiosk" and row["token_sha256"] is None:
                token = secrets.token_urlsafe(32)
            conn.execute(update(accounts_table).where(_A.id == row["id"]).values(
                disabled=0, failures=0, locked_until=None,
                token_sha256=func.coalesce(_A.token_sha256, token and _token_digest(token))))
            _append(conn, by, "account_enable", row["name"])
        return token

    def set_password(self, name: str, password: str, *, by: str,
                     keep_session: str | None = None) -> None:
        """Give an account a new password (its failed logins and lock-out are cleared). Every
        session of the account ends with it (in the same transaction), but ``keep_session``:
        the session of whoever changed it, when that is one of the account's.

        Raises
        ------
        AccountError
            No account of that name, a kiosk (no password), or the password breaks the policy.
        """
        row = self._account(name_key(name))
        if row is None:
            raise AccountError(f"no account named {name!r}")
        if row["role"] == "kiosk":
            raise AccountError("a kiosk account has no password (disable and enable it for a "
                               "new token)")
        hashed = self._hash(password, row["name"])
        with self._writing() as conn:
            row = _require(conn, name)
            conn.execute(update(accounts_table).where(_A.id == row["id"]).values(
                password_hash=hashed, failures=0, locked_until=None))
            ended = _end_sessions(conn, row["name_key"], keep=_secret_digest(keep_session))
            _append(conn, by, "password_set", row["name"], _ended(ended))

    def _hash(self, password: object, name: str) -> str:
        """The argon2id hash of a password that meets the policy."""
        least = self.settings.min_password_length
        if not isinstance(password, str) or not password:
            raise AccountError("a password is required")
        if len(password) < least:
            raise AccountError(f"the password is too short: at least {least} characters")
        if len(password) > MAX_PASSWORD_LENGTH:
            raise AccountError(f"the password is too long: at most {MAX_PASSWORD_LENGTH} "
                               "characters")
        if name_key(password) == name_key(name):
            raise AccountError("the password must not be the account name")
        return _HASHER.hash(password)

    def _check_scope(self, role: str, communities: _Codes,
                     grids: _Codes) -> tuple[_Codes, _Codes]:
        """The scope of a new account of ``role``, its codes checked against the store."""
        if role not in ACCOUNT_ROLES:
            raise AccountError(f"unknown role {role!r}; roles: {', '.join(ACCOUNT_ROLES)}")
        needs = {"communities": role in COMMUNITY_SCOPED, "grids": role in GRID_SCOPED}
        for what, codes in (("communities", communities), ("grids", grids)):
            if needs[what] and not codes:
                raise AccountError(f"a {role} account needs at least one of its {what} "
                                   f"(--{what} CODE,CODE)")
            if codes and not needs[what]:
                raise AccountError(f"a {role} account takes no {what}")
            unknown = self._unknown_codes(what, codes)
            if unknown:
                raise AccountError(f"unknown {_SINGULAR[what]} code(s) in "
                                   f"this store: {', '.join(unknown)}")
        return communities, grids

    def _unknown_codes(self, layer: str, codes: _Codes) -> _Codes:
        if not codes:
            return []
        found = self.store.select_rows(layer, {"code": codes}, columns=["code"])
        known = set(found["code"])
        return [c for c in codes if c not in known]

    # -- logging in ----------------------------------------------------------------------------
    def authenticate(self, name: str, password: str) -> Principal:
        """Log in with a name and password.

        A success clears the account's failed logins, records ``last_login``, rehashes a
        password hashed with outdated argon2 parameters and is audited (``login``). A
        failure — wrong password, disabled account, a kiosk, or no account of that name — is
        audited (``login_failed``) and counted; the :attr:`Settings.max_login_failures`-th
        consecutive one locks the name for :attr:`Settings.lockout_minutes`, during which
        every try is refused (``login_locked``). It starts no session
        (:meth:`start_session` does, for a caller that keeps one).

        Returns
        -------
        Principal
            The account's principal.

        Raises
        ------
        LockedOut
            The name is locked out (also raised by the failure that locks it).
        LoginFailed
            Any other failure (the message does not say why).
        """
        key = name_key(name) if isinstance(name, str) else ""
        now = clock.now()
        row = self._account(key)
        stored = None if row is None else row["password_hash"]
        # a locked name is refused below without the work of a verify
        ok = self._lock(row, key, now) is None and _verify(stored, password)
        rehash = (_HASHER.hash(password) if ok and stored is not None
                  and _HASHER.check_needs_rehash(stored) else None)
        with self._writing() as conn:
            outcome = self._record(conn, key, ok, row, now, rehash)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def _record(self, conn: Connection, key: str, ok: bool,  # noqa: PLR0913
                seen: RowMapping | None, now: dt.datetime,
                rehash: str | None) -> Principal | LoginFailed:
        """Record a login attempt (in the write transaction); return its outcome. ``ok``:
        the password matched ``seen`` (the account as read before); ``rehash``: its new
        hash when the stored one's parameters are outdated."""
        row = _fetch(conn, key)
        who = key if row is None else row["name"]
        target = "" if row is None else row["name"]
        until = self._lock(row, key, now, conn)
        if until is not None:
            _append(conn, who, "login_locked", target, f"locked until {_iso(until)}", now)
            return LockedOut(until)
        why = _refusal(row, seen, ok)
        if why is None:
            assert row is not None
            self._succeed(conn, row, now, rehash)
            return _principal(row)
        failures = self._failures(row, key, now, conn) + 1
        locked = (now + dt.timedelta(minutes=self.settings.lockout_minutes)
                  if failures >= self.settings.max_login_failures else None)
        if row is not None:
            conn.execute(update(accounts_table).where(_A.id == row["id"]).values(
                failures=failures, locked_until=_iso(locked)))
        detail = why + (f"; locked until {_iso(locked)}" if locked else "")
        _append(conn, who, "login_failed", target, detail, now)
        return LockedOut(locked) if locked else LoginFailed()

    def _succeed(self, conn: Connection, row: RowMapping, now: dt.datetime,
                 rehash: str | None) -> None:
        conn.execute(update(accounts_table).where(_A.id == row["id"]).values(
            failures=0, locked_until=None, last_login=_iso(now),
            password_hash=func.coalesce(rehash, _A.password_hash)))
        _append(conn, row["name"], "login", "", "", now)

    def _lock(self, row: RowMapping | None, key: str, now: dt.datetime,
              conn: Connection | None = None) -> dt.datetime | None:
        """Until when the account (or the name without one) is locked out, or None."""
        until = (_time(row["locked_until"]) if row is not None
                 else self._unknown_state(key, conn)[1])
        return until if until is not None and now < until else None

    def _failures(self, row: RowMapping | None, key: str, now: dt.datetime,
                  conn: Connection) -> int:
        """Consecutive failed logins that count now (none once a lock-out has ended)."""
        if row is not None:
            ended = _time(row["locked_until"])
            return 0 if ended is not None and now >= ended else int(row["failures"])
        count, until = self._unknown_state(key, conn)
        return 0 if until is not None and now >= until else count

    def _unknown_state(self, key: str, conn: Connection | None
                       ) -> tuple[int, dt.datetime | None]:
        """Failures and lock-out of a name without an account, replayed from its audited
        failures by the accounts' rule (so the answers cannot tell the two apart)."""
        query = (select(_L.at).where(_L.action == "login_failed",
                                     _L.user == _clip(key, "user"),  # as _append kept it
                                     _L.target == "")
                 .order_by(_L.fid.desc()).limit(1000))
        rows = (self._rows(query, AUDIT_TABLE) if conn is None
                else list(conn.execute(query).mappings()))
        failures, until = 0, None
        for row in reversed(rows):
            t = _time(row["at"])
            assert t is not None
            if until is not None and t >= until:
                failures, until = 0, None
            failures += 1
            if failures >= self.settings.max_login_failures and until is None:
                until = t + dt.timedelta(minutes=self.settings.lockout_minutes)
        return failures, until

    # -- sessions ------------------------------------------------------------------------------
    def start_session(self, name: str) -> str:
        """Start a server-side session for the enabled account ``name`` (after the caller
        has authenticated it: :meth:`authenticate`, an OIDC sign-in …); audited
        (``session_start``). Sessions that have expired are removed then.

        Returns
        -------
        str
            The session id (:func:`secrets.token_urlsafe`, 256 bits): give it to the client
            only (a cookie); the store keeps its SHA-256, never the id.

        Raises
        ------
        AccountError
            No account of that name, or it is disabled.
        """
        token = secrets.token_urlsafe(32)
        digest = _token_digest(token)
        now = clock.now()
        with self._writing() as conn:
            row = _require(conn, name)
            if row["disabled"]:
                raise AccountError(f"{row['name']} is disabled")
            conn.execute(delete(sessions_table).where(_S.expires_at <= _iso(now)))
            conn.execute(insert(sessions_table).values(
                id_sha256=digest, account=row["name_key"], created_at=_iso(now),
                last_seen=_iso(now), expires_at=_iso(self._expiry(now, now, self._idle(None)))))
            _append(conn, row["name"], "session_start", "", _session_ref(digest), now)
        return token

    def session(self, token: str, *, idle_hours: float | None = None) -> Principal | None:
        """The principal of a live session now, or None: an unknown id, a session ended
        (:meth:`end_session`, :meth:`end_sessions`, :meth:`disable`, :meth:`set_password`),
        unused for ``idle_hours`` or begun more than :attr:`Settings.session_hours` ago, or
        whose account is disabled. A use is recorded (``last_seen``, ``expires_at``) when the
        last one recorded is :data:`SESSION_TOUCH` old or more; other uses only read.

        Parameters
        ----------
        token
            The session id :meth:`start_session` returned.
        idle_hours
            How long a session lives unused; default :attr:`Settings.session_idle_hours`. Use
            one value for every caller of a store: expired rows (past ``expires_at``, which
            this writes) are removed by :meth:`start_session`.

        Raises
        ------
        AccountError
            ``idle_hours`` is not positive.
        """
        idle = self._idle(idle_hours)
        digest = _secret_digest(token)
        if digest is None:
            return None
        now = clock.now()
        rows = self._rows(
            select(_S.created_at, _S.last_seen, _A.name, _A.role, _A.communities, _A.grids,
                   _A.disabled)
            .join_from(sessions_table, accounts_table, _S.account == _A.name_key)
            .where(_S.id_sha256 == digest), SESSIONS_TABLE, ACCOUNTS_TABLE)
        if not rows or rows[0]["disabled"]:
            return None
        row = rows[0]
        created, seen = _time(row["created_at"]), _time(row["last_seen"])
        assert created is not None and seen is not None
        if now >= self._expiry(created, seen, idle):
            return None
        due = not seen <= now < seen + SESSION_TOUCH  # or the clock was set back
        if due and not self._touch(digest, created, now, idle):
            return None  # ended meanwhile
        return _principal(row)

    def end_session(self, token: str) -> bool:
        """End a session (a logout; audited ``logout``).

        Returns
        -------
        bool
            Whether ``token`` named a session (expired or not); nothing is written if not.
        """
        digest = _secret_digest(token)
        if digest is None or not self._rows(select(_S.account).where(_S.id_sha256 == digest),
                                            SESSIONS_TABLE):
            return False
        with self._writing() as conn:
            key = conn.execute(select(_S.account).where(_S.id_sha256 == digest)).scalar()
            if key is None:
                return False  # ended meanwhile
            conn.execute(delete(sessions_table).where(_S.id_sha256 == digest))
            account = _fetch(conn, key)
            _append(conn, key if account is None else account["name"], "logout", "",
                    _session_ref(digest))
        return True

    def end_sessions(self, name: str, *, by: str | None = None) -> int:
        """End every session of account ``name`` (log it out everywhere; audited
        ``sessions_end`` when there was one).

        Parameters
        ----------
        by
            Who ends them (the audit entry's user); default the account itself.

        Returns
        -------
        int
            How many sessions ended.

        Raises
        ------
        AccountError
            No account of that name.
        """
        row = self._account(name_key(name)) if isinstance(name, str) else None
        if row is None:
            raise AccountError(f"no account named {name!r}")
        if not self._rows(select(_S.id_sha256).where(_S.account == row["name_key"]).limit(1),
                          SESSIONS_TABLE):
            return 0
        with self._writing() as conn:
            row = _require(conn, name)
            ended = _end_sessions(conn, row["name_key"])
            if ended:
                _append(conn, by or row["name"], "sessions_end", row["name"],
                        f"{ended} session(s)")
        return ended

    def _idle(self, hours: float | None) -> dt.timedelta:
        idle = self.settings.session_idle_hours if hours is None else hours
        if not isinstance(idle, int | float) or not idle > 0:
            raise AccountError(f"idle_hours must be a positive number of hours, not {idle!r}")
        return dt.timedelta(hours=idle)

    def _expiry(self, created: dt.datetime, seen: dt.datetime,
                idle: dt.timedelta) -> dt.datetime:
        """When a session begun at ``created`` and last used at ``seen`` ends if unused."""
        return min(seen + idle, created + dt.timedelta(hours=self.settings.session_hours))

    def _touch(self, digest: str, created: dt.datetime, now: dt.datetime,
               idle: dt.timedelta) -> bool:
        """Record a use of the session now; False when it has ended meanwhile."""
        with self._writing() as conn:
            changed = conn.execute(update(sessions_table).where(_S.id_sha256 == digest).values(
                last_seen=_iso(now), expires_at=_iso(self._expiry(created, now, idle))))
        return bool(changed.rowcount)

    # -- the audit log -------------------------------------------------------------------------
    def audit(self, user: str, action: str, target: str = "", detail: str = "") -> None:
        """Append one entry to the audit log, at the product clock's now.

        Parameters
        ----------
        user
            Who (an account name, ``cli`` …).
        action
            What: one of the actions in this module's table (any non-empty text is kept).
        target, detail
            What it was done to, and anything worth keeping (never a secret).
        """
        if not isinstance(action, str) or not action.strip():
            raise AccountError("an audit entry needs an action")
        with self._writing() as conn:
            _append(conn, user, action.strip(), target, detail)

    def audit_log(self, *, since: dt.date | str | None = None, user: str | None = None,
                  action: str | None = None) -> pd.DataFrame:
        """The audit log joined with the change log and the ticket history, oldest first.

        Parameters
        ----------
        since
            Only entries at or after this date (midnight) or time.
        user, action
            Only entries of this user / with this action (exact).

        Returns
        -------
        pandas.DataFrame
            Columns :data:`AUDIT_COLUMNS`; ``source`` is ``audit``, ``change_log`` or
            ``tickets``.
        """
        frames = [self._audit_entries(), _change_entries(self.store),
                  _ticket_entries(self.store)]
        df = pd.concat([f for f in frames if len(f)] or frames[:1], ignore_index=True)
        if since is not None:
            df = df[df["at"] >= pd.Timestamp(since)]
        if user is not None:
            df = df[df["user"] == user]
        if action is not None:
            df = df[df["action"] == action]
        return df.sort_values("at", kind="stable", ignore_index=True)[list(AUDIT_COLUMNS)]

    def _audit_entries(self) -> pd.DataFrame:
        columns = AUDIT_COLUMNS[:-1]
        rows = self._rows(select(*(_L[c] for c in columns)).order_by(_L.fid), AUDIT_TABLE)
        df = pd.DataFrame([tuple(r[c] for c in columns) for r in rows], columns=list(columns),
                          dtype=object)
        df["at"] = _times(df["at"])
        df["source"] = "audit"
        return df


# -- helpers ------------------------------------------------------------------------------------
def _fetch(conn: Connection, key: str) -> RowMapping | None:
    return conn.execute(select(accounts_table).where(_A.name_key == key)).mappings().first()


def _require(conn: Connection, name: str) -> RowMapping:
    row = _fetch(conn, name_key(name)) if isinstance(name, str) else None
    if row is None:
        raise AccountError(f"no account named {name!r}")
    return row


def _end_sessions(conn: Connection, key: str, keep: str | None = None) -> int:
    """Delete the sessions of the account ``key`` (but ``keep``); how many there were."""
    query = delete(sessions_table).where(_S.account == key)
    if keep is not None:
        query = query.where(_S.id_sha256 != keep)
    return int(conn.execute(query).rowcount)


def _ended(sessions: int) -> str:
    """An audit detail for sessions ended along with an account change."""
    return f"{sessions} session(s) ended" if sessions else ""


def _append(conn: Connection, user: object, action: str, target: object = "",  # noqa: PLR0913
            detail: object = "", at: dt.datetime | None = None) -> None:
    conn.execute(insert(audit_table).values(
        at=_iso(at or clock.now()), user=_clip(user, "user"), action=action,
        target=_clip(target, "target"), detail=_clip(detail, "detail")))


def _principal(row: Mapping[Any, Any]) -> Principal:
    return Principal(name=row["name"], role=row["role"],
                     communities=frozenset(json.loads(row["communities"])),
                     grids=frozenset(json.loads(row["grids"])))


def _refusal(row: RowMapping | None, seen: RowMapping | None, ok: bool) -> str | None:
    """Why a login attempt fails (for the audit log, never for the user), or None."""
    if row is None:
        return "no such account"
    if row["disabled"]:
        return "account disabled"
    if row["password_hash"] is None:
        return "no password (kiosk)"
    if not ok:
        return "wrong password"
    if seen is None or seen["password_hash"] != row["password_hash"]:
        return "password changed meanwhile"
    return None


def _check_name(name: object) -> str:
    """An account name, trimmed; refused when empty, too long or with control characters."""
    if not isinstance(name, str):
        raise AccountError("an account needs a name")
    name = name.strip()
    if not name or len(name) > MAX_NAME_LENGTH:
        raise AccountError(f"an account name has 1 to {MAX_NAME_LENGTH} characters")
    if any(unicodedata.category(c) in ("Cc", "Cf") for c in name):
        raise AccountError("an account name must not contain control characters")
    return name


def _codes(codes: Iterable[str]) -> list[str]:
    """Scope codes: a string is one code; blanks dropped, duplicates removed, order kept."""
    if isinstance(codes, str):
        codes = [codes]
    return list(dict.fromkeys(str(c).strip() for c in codes if str(c).strip()))


def _scope_text(role: str, communities: list[str], grids: list[str]) -> str:
    parts = [f"role={role}"]
    if communities:
        parts.append(f"communities={','.join(communities)}")
    if grids:
        parts.append(f"grids={','.join(grids)}")
    return "; ".join(parts)


def _change_entries(store: Store) -> pd.DataFrame:
    """The store's change log as audit entries (people and assignment changes)."""
    log = store.change_log()
    target = log["target_code"].where(log["target_code"].notna(), log["person_id"])
    return pd.DataFrame({
        "at": log["when"].astype("datetime64[s]"), "user": log["by"].fillna("").astype(object),
        "action": log["action"].astype(object), "target": target.fillna("").astype(object),
        "detail": [_summary(b, a, r, role) for b, a, r, role in
                   zip(log["before"], log["after"], log["reason"], log["role"], strict=True)],
        "source": "change_log"})


def _summary(before: object, after: object, reason: object, role: object) -> str:
    """A short ``key: before→after`` text of a change-log entry."""
    b = before if isinstance(before, dict) else {}
    a = after if isinstance(after, dict) else {}
    parts = [f"{role}"] if isinstance(role, str) and role else []
    for k in dict.fromkeys([*b, *a]):
        old, new = b.get(k), a.get(k)
        parts.append(f"{k}: {old}→{new}" if k in b and k in a else
                     f"{k}={new}" if k in a else f"{k}: {old}→")
    if isinstance(reason, str) and reason:
        parts.append(f"reason: {reason}")
    return _clip("; ".join(parts), "detail")


def _ticket_entries(store: Store) -> pd.DataFrame:
    """Ticket moves from the store's tickets (none when it has none)."""
    from ..tickets.store import TicketStore

    tickets = TicketStore(store.ticket_tables())
    try:
        histories = tickets.histories(principal=Principal.system("audit"))
    finally:
        tickets.close()
    rows = [(e["at"], e.get("by") or "", f"ticket_{e['status']}", tid, e.get("note") or "")
            for tid, events in histories.items() for e in events]
    df = pd.DataFrame(rows, columns=list(AUDIT_COLUMNS[:-1]), dtype=object)
    df["at"] = _times(df["at"])
    df["source"] = "tickets"
    return df


def _times(values: pd.Series) -> pd.Series:
    """ISO text → naive datetime64[s]."""
    return pd.to_datetime(values, format="ISO8601").astype("datetime64[s]")
