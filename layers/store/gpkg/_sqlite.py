"""The GeoPackage's SQLite side: connections with the ``ST_`` functions GDAL's R-tree
triggers call, the GeoPackage geometry blob, row tracking triggers and row counts.

GDAL's GeoPackage files carry R-tree triggers on every feature table that call ST_IsEmpty and
ST_MinX … ST_MaxY; plain sqlite3 lacks them, so each connection registers the small Python
versions below (they read the GeoPackage geometry header, see GeoPackage 1.3 § 2.1.3).
"""

from __future__ import annotations

import secrets
import sqlite3
import struct
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import shapely

from ...errors import StoreError
from .._values import q as _q
from ..base import ROW_CHANGES, ROW_ID, ROW_TRACKING, RowMarker

#: Doubles in the header's envelope, by its indicator (flags bits 1–3).
_ENVELOPE_DOUBLES = {0: 0, 1: 4, 2: 6, 3: 6, 4: 8}
_GPKG_EMPTY = 0b0001_0000
_GPKG_LITTLE = 0b0000_0001
_GPKG_ENVELOPE_XY = 0b0000_0010
UNDEFINED_GEOGRAPHIC_SRS = 0
INDEX_PREFIX = "wangge_idx"
NOW_SQL = "strftime('%Y-%m-%dT%H:%M:%fZ','now')"
#: Now, or 2 ms after the row's ``last_change`` when that is not earlier (two edits within a
#: millisecond, a clock set back): every edit moves a table's version forward.
LATER_SQL = ("strftime('%Y-%m-%dT%H:%M:%fZ', max(julianday('now'), "
              "coalesce(julianday(last_change), 0) + 0.002 / 86400))")


def _gpkg_header(blob: bytes) -> tuple[bool, tuple[float, ...] | None, int]:
    """(empty flag, envelope ``(minx, maxx, miny, maxy)`` or None, offset of the WKB)."""
    if len(blob) < 8 or blob[:2] != b"GP":
        raise ValueError("not a GeoPackage geometry blob")
    flags = blob[3]
    n = _ENVELOPE_DOUBLES.get((flags >> 1) & 0b111)
    if n is None:
        raise ValueError("bad envelope indicator in a GeoPackage geometry blob")
    order = "<" if flags & _GPKG_LITTLE else ">"
    env = struct.unpack_from(order + "4d", blob, 8) if n else None
    return bool(flags & _GPKG_EMPTY), env, 8 + 8 * n


def gpkg_bounds(blob: bytes | None) -> tuple[float, float, float, float] | None:
    """(minx, miny, maxx, maxy) of a GeoPackage geometry; None for NULL or empty."""
    if blob is None:
        return None
    empty, env, offset = _gpkg_header(blob)
    if empty:
        return None
    if env is not None:
        return env[0], env[2], env[1], env[3]
    wkb = blob[offset:]
    if len(wkb) == 21:  # a 2-D point: byte order, type 1, x, y
        order = "<" if wkb[0] == 1 else ">"
        kind, x, y = struct.unpack_from(order + "Idd", wkb, 1)
        if kind == 1:
            return x, y, x, y
    b = shapely.bounds(shapely.from_wkb(wkb))
    return None if b[0] != b[0] else (b[0], b[1], b[2], b[3])  # NaN: empty


def _st_is_empty(blob: bytes | None) -> int | None:
    if blob is None:
        return None
    return int(_gpkg_header(blob)[0] or gpkg_bounds(blob) is None)


def _st_coordinate(i: int) -> Callable[[bytes | None], float | None]:
    def f(blob: bytes | None) -> float | None:
        b = gpkg_bounds(blob)
        return None if b is None else b[i]
    return f


_SQL_FUNCTIONS: dict[str, Callable] = {
    "ST_IsEmpty": _st_is_empty,
    "ST_MinX": _st_coordinate(0),
    "ST_MinY": _st_coordinate(1),
    "ST_MaxX": _st_coordinate(2),
    "ST_MaxY": _st_coordinate(3),
}


def gpkg_blob(geom: object, srs_id: int) -> bytes | None:
    """A GeoPackage geometry blob as GDAL writes it: little endian, no envelope for points, the
    XY envelope otherwise."""
    if geom is None or shapely.is_missing(geom):
        return None
    flags = _GPKG_LITTLE
    envelope = b""
    if shapely.is_empty(geom):
        flags |= _GPKG_EMPTY
    elif shapely.get_type_id(geom) != 0:
        minx, miny, maxx, maxy = shapely.bounds(geom)
        flags |= _GPKG_ENVELOPE_XY
        envelope = struct.pack("<4d", minx, maxx, miny, maxy)
    header = b"GP" + bytes([0, flags]) + struct.pack("<i", srs_id)
    return header + envelope + shapely.to_wkb(geom, byte_order=1)


def geometry_from_blobs(blobs: Sequence[bytes | None]) -> np.ndarray:
    wkb = [None if b is None else b[_gpkg_header(b)[2]:] for b in blobs]
    return shapely.from_wkb(np.array(wkb, dtype=object))


def connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit) with the ST_ functions."""
    if readonly:
        con = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True, timeout=60,
                              isolation_level=None)
    else:
        con = sqlite3.connect(path, timeout=60, isolation_level=None)
    for name, fn in _SQL_FUNCTIONS.items():
        con.create_function(name, 1, fn, deterministic=True)
    try:
        con.execute("SELECT 1 FROM gpkg_contents LIMIT 1")
    except sqlite3.DatabaseError as exc:
        con.close()
        raise StoreError(f"{path}: cannot be opened as a GeoPackage ({exc})") from exc
    return con



def has_table(con: sqlite3.Connection, name: str) -> bool:
    return con.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                       (name,)).fetchone() is not None


def triggers(con: sqlite3.Connection, table: str) -> set[str]:
    """The names of the triggers on ``table``."""
    return {r[0] for r in con.execute(
        "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?", (table,))}


def _trackingtriggers(layer: str) -> dict[str, str]:
    """Operation → the name of the trigger that records it for ``layer``."""
    return {op: f"wg_rows_{layer}_{op.lower()}" for op in ("INSERT", "UPDATE", "DELETE")}


def install_tracking(con: sqlite3.Connection, layer: str) -> None:
    """Triggers recording every inserted, updated or deleted row of ``layer`` (its ``fid``)
    in :data:`ROW_CHANGES`, whoever writes it; a new epoch in :data:`ROW_TRACKING` when they
    had to be (re)made. In the caller's write transaction."""
    con.execute(f"CREATE TABLE IF NOT EXISTS {_q(ROW_CHANGES)} (seq INTEGER PRIMARY KEY "
                "AUTOINCREMENT, layer TEXT NOT NULL, fid INTEGER NOT NULL)")
    con.execute(f"CREATE INDEX IF NOT EXISTS {_q(ROW_CHANGES + '_layer_seq')} ON "
                f"{_q(ROW_CHANGES)} (layer, seq)")
    con.execute(f"CREATE TABLE IF NOT EXISTS {_q(ROW_TRACKING)} (layer TEXT PRIMARY KEY, "
                "epoch TEXT NOT NULL)")
    names = _trackingtriggers(layer)
    if set(names.values()) <= triggers(con, layer):
        return
    lit = "'" + layer.replace("'", "''") + "'"
    for op, name in names.items():
        rows = {"INSERT": f"({lit}, NEW.{ROW_ID})", "DELETE": f"({lit}, OLD.{ROW_ID})",
                "UPDATE": f"({lit}, OLD.{ROW_ID}), ({lit}, NEW.{ROW_ID})"}[op]
        con.execute(f"DROP TRIGGER IF EXISTS {_q(name)}")
        con.execute(f"CREATE TRIGGER {_q(name)} AFTER {op} ON {_q(layer)} BEGIN "
                    f"INSERT INTO {_q(ROW_CHANGES)} (layer, fid) VALUES {rows}; END")
    con.execute(f"INSERT OR REPLACE INTO {_q(ROW_TRACKING)} (layer, epoch) VALUES (?, ?)",
                (layer, secrets.token_hex(8)))


def row_marker(con: sqlite3.Connection, layer: str) -> RowMarker | None:
    """``layer``'s :class:`RowMarker`, or None when its rows are not tracked (no tracking
    tables, a trigger missing: the layer was rewritten whole since)."""
    if not (has_table(con, ROW_CHANGES) and has_table(con, ROW_TRACKING)):
        return None
    epoch = con.execute(f"SELECT epoch FROM {_q(ROW_TRACKING)} WHERE layer = ?",
                        (layer,)).fetchone()
    if epoch is None or not set(_trackingtriggers(layer).values()) <= triggers(con, layer):
        return None
    seq = con.execute(f"SELECT coalesce(max(seq), 0) FROM {_q(ROW_CHANGES)} WHERE layer = ?",
                      (layer,)).fetchone()[0]
    max_fid = con.execute(f"SELECT coalesce(max({_q(ROW_ID)}), 0) FROM {_q(layer)}").fetchone()[0]
    return RowMarker(str(epoch[0]), int(seq), row_count(con, layer), int(max_fid))


def row_count(con: sqlite3.Connection, layer: str) -> int:
    """Rows of ``layer``: GeoPackage's feature count, kept by GDAL's triggers for every
    client's inserts and deletes (a city's assignments: ``count(*)`` scans 1.9 M rows, 70 ms),
    else counted."""
    count = con.execute("SELECT feature_count FROM gpkg_ogr_contents WHERE lower(table_name) = "
                        "lower(?)", (layer,)).fetchone() \
        if has_table(con, "gpkg_ogr_contents") else None
    if count is not None and count[0] is not None:
        return int(count[0])
    return int(con.execute(f"SELECT count(*) FROM {_q(layer)}").fetchone()[0])


