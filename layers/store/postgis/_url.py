"""A PostGIS store's address: ``postgresql://user[:password]@host[:port]/database[?schema=name]``
parsed once; one SQLAlchemy engine (psycopg 3, a small pool) per address and process; the store
shown without its password."""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass

from sqlalchemy import create_engine
from sqlalchemy.engine import URL, Engine, make_url

from ...errors import StoreError

#: The schema of a URL that names none.
DEFAULT_SCHEMA = "wangge"
#: What a schema name may look like (a plain lower-case PostgreSQL identifier).
_SCHEMA = re.compile(r"[a-z_][a-z0-9_]{0,62}")

_ENGINES: dict[str, Engine] = {}
_GUARD = threading.Lock()


@dataclass(frozen=True)
class Address:
    """Where a PostGIS store is."""

    #: The SQLAlchemy URL to connect with (driver psycopg, the password if one was given).
    url: URL
    #: The schema holding every table of the store.
    schema: str

    @property
    def shown(self) -> str:
        """``postgresql://user@host:port/database?schema=name`` (never the password)."""
        u = self.url
        user = f"{u.username}@" if u.username else ""
        port = f":{u.port}" if u.port else ""
        return f"postgresql://{user}{u.host or ''}{port}/{u.database or ''}?schema={self.schema}"


def parse(location: str) -> Address:
    """The address of ``location``.

    Raises
    ------
    StoreError
        Not a PostgreSQL URL, no database named, or a schema name that is not a plain
        lower-case identifier.
    """
    try:
        url = make_url(location)
    except Exception as exc:  # sqlalchemy raises ArgumentError for junk
        raise StoreError("not a PostgreSQL URL (postgresql://user@host/database)") from exc
    if url.get_backend_name() not in ("postgresql", "postgres"):
        raise StoreError("not a PostgreSQL URL (postgresql://user@host/database)")
    query = dict(url.query)
    schema = str(query.pop("schema", DEFAULT_SCHEMA))
    if not _SCHEMA.fullmatch(schema):
        raise StoreError(f"schema {schema[:70]!r}: use lower-case letters, digits and _ "
                         "(at most 63, not starting with a digit)")
    if not url.database:
        raise StoreError("the PostgreSQL URL names no database (postgresql://user@host/db)")
    url = url.set(drivername="postgresql+psycopg", query=query)
    return Address(url, schema)


def engine(address: Address) -> Engine:
    """The process's engine for ``address``: connections whose ``search_path`` is the store's
    schema (then ``public``, where PostGIS lives), checked before use."""
    key = address.url.render_as_string(hide_password=False) + "#" + address.schema
    with _GUARD:
        found = _ENGINES.get(key)
        if found is None:
            found = create_engine(
                address.url, pool_size=4, max_overflow=8, pool_pre_ping=True,
                pool_recycle=1800,
                connect_args={"options": f"-c search_path={address.schema},public",
                              "application_name": "wangge", "connect_timeout": 10})
            _ENGINES[key] = found
        return found


def libpq_uri(address: Address) -> str:
    """``address`` as a libpq URI (password and query options kept), for a connection
    outside SQLAlchemy (the Arrow bulk reader, whose queries name the schema of every
    table)."""
    url = address.url.set(drivername="postgresql").update_query_dict(
        {"application_name": "wangge", "connect_timeout": "10"})
    return url.render_as_string(hide_password=False)


def dispose(address: Address) -> None:
    """Close the pooled connections of ``address`` and forget its engine (a schema dropped)."""
    key = address.url.render_as_string(hide_password=False) + "#" + address.schema
    with _GUARD:
        found = _ENGINES.pop(key, None)
    if found is not None:
        found.dispose()


def _forget_after_fork() -> None:
    """In a forked child: the parent's pooled connections are the parent's (sharing a socket
    corrupts both), so the child starts with no engine and opens its own."""
    for e in _ENGINES.values():
        e.dispose(close=False)
    _ENGINES.clear()


os.register_at_fork(after_in_child=_forget_after_fork)


def dispose_all() -> None:
    """Close every pooled connection of this process (tests, before a fork)."""
    with _GUARD:
        for e in _ENGINES.values():
            e.dispose()
        _ENGINES.clear()
