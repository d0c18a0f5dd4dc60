"""Storage of layer sets behind one contract (:class:`~layers.store.base.Store`).

Callers use :func:`open_store` and the contract only; the backends are
:class:`~layers.store.gpkg.GeoPackageStore` (one ``.gpkg`` file, the embedded default) and
:class:`~layers.store.postgis.PostGISStore` (a schema of a PostgreSQL + PostGIS database).
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import StoreError
from ._values import datetimes as _datetimes
from .base import (
    ACCOUNTS_TABLE,
    AUDIT_TABLE,
    CHANGE_LOG,
    CHANGE_LOG_COLUMNS,
    META_TABLE,
    ROW_CHANGES,
    ROW_ID,
    ROW_TRACKING,
    SCHEMA_VERSION,
    SERVICE_TABLES,
    SESSIONS_TABLE,
    Bounds,
    Change,
    RowConflict,
    RowEdit,
    RowMarker,
    ServiceDamaged,
    ServiceTables,
    Store,
    StoreIntegrityError,
    StoreUnavailable,
)
from .gpkg import GeoPackageStore

#: URL schemes of the PostGIS backend.
POSTGIS_SCHEMES = ("postgresql://", "postgres://", "postgresql+psycopg://")


def is_url(location: str | os.PathLike[str]) -> bool:
    """Whether ``location`` names a database server (not a file)."""
    return os.fspath(location).startswith(POSTGIS_SCHEMES)


def open_store(location: str | os.PathLike[str] | Store) -> Store:
    """Open the store at ``location``.

    Parameters
    ----------
    location
        A path to a ``.gpkg`` file (created on first write), or a PostgreSQL URL
        ``postgresql://user[:password]@host[:port]/database[?schema=name]`` (the schema is
        made on first write; default ``wangge``). A store given is returned as it is.

    Raises
    ------
    StoreError
        For a location no backend understands.
    """
    if not isinstance(location, str | os.PathLike):
        return location
    loc = os.fspath(location)
    if is_url(loc):
        from .postgis import PostGISStore

        return PostGISStore(loc)
    if loc.startswith(("PG:", "postgis://")):
        raise StoreError("a PostGIS store is named by a URL: postgresql://user@host/database")
    if Path(loc).suffix.lower() != ".gpkg":
        raise StoreError(f"{loc}: not a GeoPackage path (expected a file name ending in .gpkg)"
                         " nor a postgresql:// URL")
    return GeoPackageStore(loc)


__all__ = ["ACCOUNTS_TABLE", "AUDIT_TABLE", "CHANGE_LOG", "CHANGE_LOG_COLUMNS", "META_TABLE",
           "POSTGIS_SCHEMES", "ROW_CHANGES", "ROW_ID", "ROW_TRACKING", "SCHEMA_VERSION",
           "SERVICE_TABLES", "SESSIONS_TABLE", "Bounds", "Change", "GeoPackageStore",
           "RowConflict", "RowEdit", "RowMarker", "ServiceDamaged", "ServiceTables", "Store",
           "StoreIntegrityError", "StoreUnavailable", "_datetimes", "is_url", "open_store"]
