"""Whole reads of layers straight into Arrow, with the ADBC PostgreSQL driver.

A read of whole layers (a server start, ``python -m layers coverage``) is millions of rows.
``COPY … TO STDOUT`` through psycopg hands Python one row at a time (a city's two million
buildings: ~5 s before any parsing), then the CSV and the hex WKB must be parsed again. The
Apache Arrow project's ADBC driver reads the server's binary ``COPY`` into Arrow arrays in
C++ (the geometry as WKB bytes), so the same read costs the server's work and the WKB decoding
(city buildings ~5 s in all instead of ~9 s). Every layer of one read comes from one
``REPEATABLE READ`` transaction: together they are the database at one moment. Reads of a
bounding box or of row ids (a click: a few rows) and small whole reads (a town) stay on the
pooled psycopg connections with ``COPY``, in one ``REPEATABLE READ`` transaction too.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import pandas as pd
from sqlalchemy import text
from sqlalchemy.engine import Connection

from ...errors import StoreError
from .._values import q
from ..base import ROW_ID, Bounds, StoreUnavailable
from . import _ddl
from ._copy import arrow_frame
from ._url import libpq_uri

if TYPE_CHECKING:
    from . import PostGISStore

log = logging.getLogger(__name__)

#: Layers read at once (each on its own connection): one decodes while the next is fetched.
WORKERS = 2
#: Rows (about) from which a read goes through ADBC: below, the pooled connection's COPY is
#: quicker (an ADBC connection loads the server's type catalogue first: a town's whole read
#: took 0.67 s that way against 0.36 s).
ARROW_ROWS = 100_000
#: The layers that are large in a city (read first).
_LARGE = ("buildings", "assignments", "people")
#: A snapshot id as the server prints it (checked before it is written into a statement).
_SNAPSHOT_ID = re.compile(r"[0-9A-Fa-f]+(-[0-9A-Fa-f]+)+")


def read_layers(store: PostGISStore, names: Sequence[str], bbox: Bounds | None,
                columns: Mapping[str, Sequence[str]]) -> dict[str, pd.DataFrame]:
    """The frames of ``names`` (as :meth:`PostGISStore.read_layer` returns each), all from
    one snapshot of the database."""
    with store._connected(snapshot=True) as conn:
        for n in names:  # a missing layer is named before anything is read
            store._stored_columns(conn, n)
        if bbox is not None or _rows_about(store, conn, names) < ARROW_ROWS:
            return {n: store._read_one(conn, n, bbox=bbox, columns=columns.get(n))
                    for n in names}
        queries = {n: store._query(conn, n, columns=columns.get(n), binary=True)
                   for n in names}
    if len(names) == 1:
        return {names[0]: _read_in(store, None, *queries[names[0]])}
    with _arrow_cursor(store) as lead:
        lead.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        lead.execute("SELECT pg_export_snapshot() AS s")
        snapshot = str(lead.fetch_arrow_table().column(0)[0])
        if not _SNAPSHOT_ID.fullmatch(snapshot):
            raise StoreError(f"{store.location}: unexpected snapshot id {snapshot[:40]!r}")
        with ThreadPoolExecutor(WORKERS, thread_name_prefix="pg-read") as pool:
            futures = {n: pool.submit(_read_in, store, snapshot, *queries[n])
                       for n in sorted(names, key=lambda n: n not in _LARGE)}
            frames = {n: futures[n].result() for n in names}
        lead.execute("COMMIT")
    return frames


def _read_in(store: PostGISStore, snapshot: str | None, query: tuple[str, list[object]],
             types: dict[str, str], geometry: str | None) -> pd.DataFrame:
    """One layer's rows (in the exported ``snapshot`` when given), on a connection of its
    own."""
    with _arrow_cursor(store) as cur:
        cur.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        if snapshot is not None:
            cur.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
        cur.execute(query[0])
        table = cur.fetch_arrow_table()
        cur.execute("COMMIT")
    return arrow_frame(table, types, geometry)


def _rows_about(store: PostGISStore, conn: Connection, names: Sequence[str]) -> int:
    """About how many rows ``names`` hold: their highest row ids (an index look-up each)."""
    tables = " UNION ALL ".join(
        f"SELECT max({q(ROW_ID)}) AS m FROM {q(store.schema)}.{q(_ddl.table_of(n))}"
        for n in names)
    return int(conn.execute(text(f"SELECT coalesce(sum(m), 0) FROM ({tables}) AS t")).scalar()
               or 0) if names else 0


@contextlib.contextmanager
def _arrow_cursor(store: PostGISStore) -> Iterator:  # type: ignore[type-arg]
    """An ADBC cursor on a connection of its own (closed at the end); the driver's errors
    as :class:`StoreUnavailable` (no server) or a plain :class:`StoreError` (details to the
    log)."""
    import adbc_driver_manager
    import adbc_driver_postgresql.dbapi as adbc

    try:
        with adbc.connect(libpq_uri(store.address), autocommit=True) as con, \
                con.cursor() as cur:
            yield cur
    except adbc_driver_manager.OperationalError as exc:
        log.warning("%s: %s", store.location, exc)
        raise StoreUnavailable(f"{store.location}: cannot reach the database") from exc
    except adbc_driver_manager.Error as exc:
        log.warning("%s: database error: %s", store.location, exc)
        first = str(exc).strip().splitlines()[0][:200]
        raise StoreError(f"{store.location}: the database refused the request ({first})"
                         ) from exc
