"""Accounts and the append-only audit log, kept in the store.

Both are plain SQLite tables of the store's GeoPackage file, not registered in
``gpkg_contents`` (GIS clients do not list them), so they travel with the store (a whole-store
write carries them over, see :data:`layers.store.SERVICE_TABLES`). Every write runs in one
``BEGIN IMMEDIATE`` transaction under the store's write lock
(:meth:`layers.store.GeoPackageStore.service_transaction`); reads open the file read-only
and create nothing: a store without the tables has no accounts and an empty audit log.

``auth_accounts``
    ``id`` INTEGER PRIMARY KEY AUTOINCREMENT, ``name`` TEXT (as given), ``name_key`` TEXT
    UNIQUE (NFKC, trimmed, case-folded: names are unique whatever their case),
    ``role`` TEXT (one of :data:`~layers.auth.principal.ACCOUNT_ROLES`), ``password_hash``
    TEXT (argon2id, PHC string; NULL for a kiosk), ``token_sha256`` TEXT UNIQUE (hex SHA-256
    of a kiosk's token; NULL otherwise and once revoked), ``communities`` / ``grids`` TEXT
    (JSON lists of codes), ``disabled`` INTEGER 0/1, ``created_at`` TEXT, ``created_by``
    TEXT, ``last_login`` TEXT, ``failures`` INTEGER (consecutive failed logins),
    ``locked_until`` TEXT. Times are the product clock's local time in ISO text.
``audit_log``
    ``fid`` INTEGER PRIMARY KEY AUTOINCREMENT, ``at`` TEXT, ``user`` TEXT, ``action`` TEXT,
    ``target`` TEXT, ``detail`` TEXT. Append-only: triggers abort every UPDATE and DELETE.

Audit actions
-------------
==================  =======================  ==============================================
action              user                     target / detail
==================  =======================  ==============================================
login               the account              — / —
login_failed        the account, or the      the account (empty for a name without one) /
                    attempted name folded    why (wrong password, disabled, unknown …)
login_locked        as login_failed          the account / locked until when
logout              the account              — / —
reveal_phone        who revealed it          the person id / —
export              who exported             what was exported / format, rows
import              who imported             the layer / file, mode, rows
account_add         who added it             the new account / role and scope
account_disable     who disabled it          the account / —
account_enable      who enabled it           the account / —
password_set        who set it               the account / —
==================  =======================  ==============================================

:meth:`Accounts.audit_log` joins these (source ``audit``) with the store's change log (people
and assignment changes, source ``change_log``) and the ticket history beside the store (ticket
moves, action ``ticket_<status>``, source ``tickets``).

Passwords are hashed with argon2id (:mod:`argon2`, salted and slow); a login for a name
without an account verifies against a dummy hash, and names without an account are locked out
after the same failures as accounts, so neither the answer nor its timing tells whether an
account exists. Kiosk accounts have no password but a random token (the wall's URL); only its
SHA-256 is stored.
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
import sqlite3
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from .. import clock
from ..errors import LayersError, StoreError
from ..settings import DEFAULT_SETTINGS, Settings
from ..store import ACCOUNTS_TABLE, AUDIT_TABLE, GeoPackageStore, Store, open_store
from .principal import ACCOUNT_ROLES, COMMUNITY_SCOPED, GRID_SCOPED, Principal

#: Most characters of an account name.
MAX_NAME_LENGTH = 64
#: Most characters of a password (argon2 takes any length; this bounds the work per try).
MAX_PASSWORD_LENGTH = 1024
#: Columns of :meth:`Accounts.list` and of :meth:`Accounts.audit_log`.
ACCOUNT_COLUMNS = ("name", "role", "communities", "grids", "disabled", "created_at",
                   "last_login", "failures", "locked_until")
AUDIT_COLUMNS = ("at", "user", "action", "target", "detail", "source")
#: Codes of a scope (communities or grids), in the order given.
_Codes = list[str]
_SINGULAR = {"communities": "community", "grids": "grid"}
#: Longest ``user`` / ``target`` / ``detail`` text an audit entry keeps.
_CLIP = {"user": 128, "target": 256, "detail": 2000}

_SCHEMA = (
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


def name_key(name: str) -> str:
    """What account names are compared by: NFKC-normalised, trimmed and case-folded."""
    return unicodedata.normalize("NFKC", name).strip().casefold()


def _iso(t: dt.datetime | None) -> str | None:
    return None if t is None else t.isoformat(timespec="seconds")


def _time(text: object) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text) if isinstance(text, str) and text else None


def _clip(text: object, field: str) -> str:
    s = "" if text is None else str(text)
    s = "".join(" " if unicodedata.category(c) == "Cc" else c for c in s)
    return s[:_CLIP[field]]


class Accounts:
    """The accounts and the audit log of one store.

    Parameters
    ----------
    store
        Path of the store's ``.gpkg`` file (it must exist).
    settings
        Lock-out and password rules (:attr:`Settings.max_login_failures`,
        :attr:`Settings.lockout_minutes`, :attr:`Settings.min_password_length`).

    Raises
    ------
    StoreError
        Not a GeoPackage path (every method: a missing or unreadable store file).
    """

    def __init__(self, store: str | os.PathLike[str],
                 settings: Settings = DEFAULT_SETTINGS) -> None:
        opened = open_store(store)
        if not isinstance(opened, GeoPackageStore):  # pragma: no cover - the only backend
            raise StoreError(f"{store}: accounts need a GeoPackage store")
        self.store = opened
        self.path = Path(store)
        self.settings = settings

    def __repr__(self) -> str:
        return f"Accounts({str(self.path)!r})"

    # -- connections ---------------------------------------------------------------------------
    @contextlib.contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        """A read-only connection (creates nothing; no lock)."""
        if not self.path.is_file():
            raise StoreError(f"{self.path}: no such file")
        if self.path.stat().st_size == 0:
            raise StoreError(f"{self.path}: the file is empty")
        try:
            con = sqlite3.connect(self.path.resolve().as_uri() + "?mode=ro", uri=True,
                                  timeout=60, isolation_level=None)
        except sqlite3.DatabaseError as exc:  # pragma: no cover - an unreadable file
            raise StoreError(f"{self.path}: cannot be opened ({exc})") from exc
        con.row_factory = sqlite3.Row
        try:
            con.execute("SELECT 1 FROM sqlite_master LIMIT 1")
            yield con
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: cannot be read ({exc})") from exc
        finally:
            con.close()

    @contextlib.contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        """One locked ``BEGIN IMMEDIATE`` transaction with the tables made if missing."""
        with self.store.service_transaction() as con:
            con.row_factory = sqlite3.Row
            for sql in _SCHEMA:
                con.execute(sql)
            yield con

    def _query(self, table: str, sql: str, params: Iterable[object] = ()) -> list[sqlite3.Row]:
        """Rows of a read-only query on ``table``; none when the table does not exist."""
        with self._reading() as con:
            if not _has_table(con, table):
                return []
            return con.execute(sql, tuple(params)).fetchall()

    # -- reading -------------------------------------------------------------------------------
    def exists(self) -> bool:
        """Whether the store has at least one account, enabled or not (then it needs a login).

        Raises
        ------
        StoreError
            Missing or unreadable store file.
        """
        return bool(self._query(ACCOUNTS_TABLE, f"SELECT 1 FROM {ACCOUNTS_TABLE} LIMIT 1"))

    def list(self) -> pd.DataFrame:
        """Every account, oldest first, without hashes or tokens.

        Returns
        -------
        pandas.DataFrame
            Columns :data:`ACCOUNT_COLUMNS`: ``communities`` and ``grids`` are lists of codes,
            ``disabled`` a bool, ``created_at`` / ``last_login`` / ``locked_until`` datetimes
            (NaT when never), ``failures`` the consecutive failed logins.
        """
        rows = self._query(ACCOUNTS_TABLE, f"SELECT {', '.join(ACCOUNT_COLUMNS)} FROM "
                                           f"{ACCOUNTS_TABLE} ORDER BY id")
        df = pd.DataFrame([tuple(r) for r in rows], columns=list(ACCOUNT_COLUMNS), dtype=object)
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
        if not isinstance(token, str) or not token:
            return None
        digest = _token_digest(token)
        rows = self._query(ACCOUNTS_TABLE, f"SELECT * FROM {ACCOUNTS_TABLE} WHERE "
                                           "token_sha256 IS NOT NULL AND disabled = 0")
        found = None
        for row in rows:
            if hmac.compare_digest(row["token_sha256"], digest):
                found = row
        return None if found is None else _principal(found)

    def _account(self, key: str) -> sqlite3.Row | None:
        rows = self._query(ACCOUNTS_TABLE, f"SELECT * FROM {ACCOUNTS_TABLE} WHERE name_key = ?",
                           (key,))
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
        now = _iso(clock.now())
        with self._writing() as con:
            if _fetch(con, name_key(name)) is not None:
                raise AccountError(f"an account named {name!r} exists already")
            con.execute(
                f"INSERT INTO {ACCOUNTS_TABLE} (name, name_key, role, password_hash, "
                "token_sha256, communities, grids, created_at, created_by) VALUES "
                "(?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (name, name_key(name), role, secret["password_hash"], secret["token_sha256"],
                 json.dumps(scope[0], ensure_ascii=False),
                 json.dumps(scope[1], ensure_ascii=False), now, _clip(by, "user")))
            _append(con, by, "account_add", name, _scope_text(role, *scope))
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
        with source._reading() as con:
            row = _fetch(con, name_key(name)) if _has_table(con, ACCOUNTS_TABLE) else None
        if row is None or row["role"] != "admin" or row["disabled"]:
            raise AccountError(f"{name!r} is not an enabled administrator of {source.path}")
        with self._writing() as con:
            if con.execute(f"SELECT count(*) FROM {ACCOUNTS_TABLE}").fetchone()[0]:
                raise AccountError(f"{self.path} has accounts already")
            con.execute(
                f"INSERT INTO {ACCOUNTS_TABLE} (name, name_key, role, password_hash, "
                "token_sha256, communities, grids, created_at, created_by) VALUES "
                "(?, ?, 'admin', ?, NULL, '[]', '[]', ?, ?)",
                (row["name"], row["name_key"], row["password_hash"], _iso(clock.now()),
                 row["name"]))
            _append(con, row["name"], "account_add", row["name"], f"admin of {source.path.name}")

    def disable(self, name: str, *, by: str) -> None:
        """Disable an account: it cannot log in and :meth:`principal` returns None for it; a
        kiosk's token is revoked (:meth:`enable` issues a new one).

        Raises
        ------
        AccountError
            No account of that name, or the last enabled administrator (the store would be
            left with nobody who can manage it from the app).
        """
        with self._writing() as con:
            row = _require(con, name)
            if row["role"] == "admin" and not row["disabled"]:
                admins = con.execute(f"SELECT count(*) FROM {ACCOUNTS_TABLE} WHERE role = "
                                     "'admin' AND disabled = 0").fetchone()[0]
                if admins <= 1:
                    raise AccountError(f"{row['name']} is the last enabled administrator; "
                                       "add another admin first")
            con.execute(f"UPDATE {ACCOUNTS_TABLE} SET disabled = 1, token_sha256 = NULL "
                        "WHERE id = ?", (row["id"],))
            _append(con, by, "account_disable", row["name"])

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
        with self._writing() as con:
            row = _require(con, name)
            if row["role"] == "kiosk" and row["token_sha256"] is None:
                token = secrets.token_urlsafe(32)
            con.execute(f"UPDATE {ACCOUNTS_TABLE} SET disabled = 0, failures = 0, "
                        "locked_until = NULL, token_sha256 = coalesce(token_sha256, ?) "
                        "WHERE id = ?", (token and _token_digest(token), row["id"]))
            _append(con, by, "account_enable", row["name"])
        return token

    def set_password(self, name: str, password: str, *, by: str) -> None:
        """Give an account a new password (its failed logins and lock-out are cleared).

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
        with self._writing() as con:
            row = _require(con, name)
            con.execute(f"UPDATE {ACCOUNTS_TABLE} SET password_hash = ?, failures = 0, "
                        "locked_until = NULL WHERE id = ?", (hashed, row["id"]))
            _append(con, by, "password_set", row["name"])

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
        password hashed with outdated argon2 parameters and is audited (``login``). A failure — wrong password, disabled account, a kiosk, or no account of
        that name — is audited (``login_failed``) and counted; the
        :attr:`Settings.max_login_failures`-th consecutive one locks the name for
        :attr:`Settings.lockout_minutes`, during which every try is refused (``login_locked``).

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
        with self._writing() as con:
            outcome = self._record(con, key, ok, row, now, rehash)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def _record(self, con: sqlite3.Connection, key: str, ok: bool,  # noqa: PLR0913
                seen: sqlite3.Row | None, now: dt.datetime,
                rehash: str | None) -> Principal | LoginFailed:
        """Record a login attempt (in the write transaction); return its outcome. ``ok``:
        the password matched ``seen`` (the account as read before); ``rehash``: its new
        hash when the stored one's parameters are outdated."""
        row = _fetch(con, key)
        who = key if row is None else row["name"]
        target = "" if row is None else row["name"]
        until = self._lock(row, key, now, con)
        if until is not None:
            _append(con, who, "login_locked", target, f"locked until {_iso(until)}", now)
            return LockedOut(until)
        why = _refusal(row, seen, ok)
        if why is None:
            assert row is not None
            self._succeed(con, row, now, rehash)
            return _principal(row)
        failures = self._failures(row, key, now, con) + 1
        locked = (now + dt.timedelta(minutes=self.settings.lockout_minutes)
                  if failures >= self.settings.max_login_failures else None)
        if row is not None:
            con.execute(f"UPDATE {ACCOUNTS_TABLE} SET failures = ?, locked_until = ? "
                        "WHERE id = ?", (failures, _iso(locked), row["id"]))
        detail = why + (f"; locked until {_iso(locked)}" if locked else "")
        _append(con, who, "login_failed", target, detail, now)
        return LockedOut(locked) if locked else LoginFailed()

    def _succeed(self, con: sqlite3.Connection, row: sqlite3.Row, now: dt.datetime,
                 rehash: str | None) -> None:
        con.execute(f"UPDATE {ACCOUNTS_TABLE} SET failures = 0, locked_until = NULL, "
                    "last_login = ?, password_hash = coalesce(?, password_hash) WHERE id = ?",
                    (_iso(now), rehash, row["id"]))
        _append(con, row["name"], "login", "", "", now)

    def _lock(self, row: sqlite3.Row | None, key: str, now: dt.datetime,
              con: sqlite3.Connection | None = None) -> dt.datetime | None:
        """Until when the account (or the name without one) is locked out, or None."""
        until = (_time(row["locked_until"]) if row is not None
                 else self._unknown_state(key, con)[1])
        return until if until is not None and now < until else None

    def _failures(self, row: sqlite3.Row | None, key: str, now: dt.datetime,
                  con: sqlite3.Connection) -> int:
        """Consecutive failed logins that count now (none once a lock-out has ended)."""
        if row is not None:
            ended = _time(row["locked_until"])
            return 0 if ended is not None and now >= ended else int(row["failures"])
        count, until = self._unknown_state(key, con)
        return 0 if until is not None and now >= until else count

    def _unknown_state(self, key: str, con: sqlite3.Connection | None
                       ) -> tuple[int, dt.datetime | None]:
        """Failures and lock-out of a name without an account, replayed from its audited
        failures by the accounts' rule (so the answers cannot tell the two apart)."""
        sql = (f'SELECT at FROM {AUDIT_TABLE} WHERE action = ? AND "user" = ? AND target = \'\''
               " ORDER BY fid DESC LIMIT 1000")
        params = ("login_failed", _clip(key, "user"))  # as _append kept it
        if con is None:
            rows = self._query(AUDIT_TABLE, sql, params)
        else:
            rows = con.execute(sql, params).fetchall()
        failures, until = 0, None
        for (at,) in reversed(rows):
            t = _time(at)
            assert t is not None
            if until is not None and t >= until:
                failures, until = 0, None
            failures += 1
            if failures >= self.settings.max_login_failures and until is None:
                until = t + dt.timedelta(minutes=self.settings.lockout_minutes)
        return failures, until

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
        with self._writing() as con:
            _append(con, user, action.strip(), target, detail)

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
        rows = self._query(AUDIT_TABLE, f'SELECT at, "user", action, target, detail FROM '
                                        f"{AUDIT_TABLE} ORDER BY fid")
        df = pd.DataFrame([tuple(r) for r in rows], columns=list(AUDIT_COLUMNS[:-1]),
                          dtype=object)
        df["at"] = _times(df["at"])
        df["source"] = "audit"
        return df


# -- helpers ------------------------------------------------------------------------------------
def _has_table(con: sqlite3.Connection, table: str) -> bool:
    return con.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                       (table,)).fetchone() is not None


def _fetch(con: sqlite3.Connection, key: str) -> sqlite3.Row | None:
    row: sqlite3.Row | None = con.execute(
        f"SELECT * FROM {ACCOUNTS_TABLE} WHERE name_key = ?", (key,)).fetchone()
    return row


def _require(con: sqlite3.Connection, name: str) -> sqlite3.Row:
    row = _fetch(con, name_key(name)) if isinstance(name, str) else None
    if row is None:
        raise AccountError(f"no account named {name!r}")
    return row


def _append(con: sqlite3.Connection, user: object, action: str, target: object = "",
            detail: object = "", at: dt.datetime | None = None) -> None:
    con.execute(f'INSERT INTO {AUDIT_TABLE} (at, "user", action, target, detail) '
                "VALUES (?, ?, ?, ?, ?)",
                (_iso(at or clock.now()), _clip(user, "user"), action, _clip(target, "target"),
                 _clip(detail, "detail")))


def _principal(row: Mapping[str, Any] | sqlite3.Row) -> Principal:
    return Principal(name=row["name"], role=row["role"],
                     communities=frozenset(json.loads(row["communities"])),
                     grids=frozenset(json.loads(row["grids"])))


def _refusal(row: sqlite3.Row | None, seen: sqlite3.Row | None, ok: bool) -> str | None:
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


def _change_entries(store: GeoPackageStore) -> pd.DataFrame:
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
