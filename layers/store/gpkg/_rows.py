"""Row edits on a GeoPackage: SQL on one sqlite3 connection (in a ``BEGIN IMMEDIATE``
transaction, or read-only), geometries as GeoPackage blobs, dates as GDAL's ISO text, the
change log made on first use and ``gpkg_contents`` kept as GDAL and QGIS expect it."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

import numpy as np
import pandas as pd

from .._rows import LOOKUP_COLUMNS, SqlRowEdit, Table, grown
from .._values import iso, missing
from .._values import q as _q
from ..base import CHANGE_LOG, CHANGE_LOG_COLUMNS, ROW_ID
from ._sqlite import (
    INDEX_PREFIX,
    LATER_SQL,
    NOW_SQL,
    UNDEFINED_GEOGRAPHIC_SRS,
    geometry_from_blobs,
    gpkg_blob,
    has_table,
    install_tracking,
)


class GpkgRowEdit(SqlRowEdit):
    """The :class:`~layers.store.base.RowEdit` of a GeoPackage."""

    P = "?"

    def __init__(self, con: sqlite3.Connection, location: str) -> None:
        super().__init__(location, writable=con.in_transaction)
        self.con = con
        self._extent: dict[str, tuple[float, float, float, float]] = {}
        self._indexed: set[tuple[str, str]] = set()
        self._tracked: set[str] = set()

    # -- the hooks -----------------------------------------------------------------------------
    def _fetch(self, sql: str, params: Sequence[object] = ()) -> list[tuple]:
        return self.con.execute(sql, tuple(params)).fetchall()

    def _execute_many(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        self.con.executemany(sql, rows)

    def _has_table(self, name: str) -> bool:
        return has_table(self.con, name)

    def _load_table(self, layer: str) -> Table | None:
        cols = [r[1] for r in self.con.execute(f"PRAGMA table_info({_q(layer)})")]
        if not cols:
            return None
        geom = self.con.execute(
            "SELECT column_name, srs_id FROM gpkg_geometry_columns WHERE table_name = ?",
            (layer,)).fetchone()
        return Table(layer, cols, geom[0] if geom else None, int(geom[1]) if geom else 4326)

    def _geometry_sql(self, column: str) -> str:
        return _q(column)

    def _geometries(self, values: Sequence[object]) -> np.ndarray:
        return geometry_from_blobs(values)  # type: ignore[arg-type]

    def _geometry_value(self, geom: object, srs_id: int) -> object:
        return gpkg_blob(geom, srs_id)

    def _bind(self, value: object, kind: str, shift: pd.Timedelta) -> object:
        """Booleans as 0/1 and dates as GDAL's ISO text (what a GeoPackage holds)."""
        if missing(value):
            return None
        if kind == "bool":
            return int(bool(value))
        if kind == "datetime":
            return iso(pd.Timestamp(value) - shift)  # type: ignore[arg-type]
        return super()._bind(value, kind, shift)

    def _track(self, layer: str) -> None:
        """Row tracking on ``layer`` (:func:`~._sqlite.install_tracking`) before its first row
        edit in this transaction (rolled back with it)."""
        if layer not in self._tracked and layer != CHANGE_LOG:
            install_tracking(self.con, layer)
            self._tracked.add(layer)

    def _index(self, table: Table, column: str) -> None:
        """An index on a key column rows are looked up by (created once, in a write
        transaction: a refused edit rolls it back with everything else). Only selective
        columns get one: an index on ``role`` would lead SQLite's planner astray."""
        key = (table.name, column)
        if key in self._indexed or key not in LOOKUP_COLUMNS or not self.writable:
            return
        self.con.execute(f"CREATE INDEX IF NOT EXISTS {_q(f'{INDEX_PREFIX}_{table.name}_{column}')}"
                         f" ON {_q(table.name)} ({_q(column)})")
        self._indexed.add(key)

    def _grow_extent(self, layer: str, geoms: np.ndarray) -> None:
        extent = grown(self._extent.get(layer), geoms)
        if extent is not None:
            self._extent[layer] = extent

    def _ensure_log(self) -> None:
        if self._table(CHANGE_LOG, required=False) is not None:
            return
        cols = ", ".join(f"{_q(c)} {'DATETIME NOT NULL' if c == 'when' else 'TEXT'}"
                         for c in CHANGE_LOG_COLUMNS)
        x = self.con.execute
        x(f"CREATE TABLE {_q(CHANGE_LOG)} ({_q(ROW_ID)} INTEGER PRIMARY KEY AUTOINCREMENT "
          f"NOT NULL, {cols})")
        x("INSERT INTO gpkg_contents (table_name, data_type, identifier, description, "
          f"last_change, srs_id) VALUES (?, 'attributes', ?, ?, {NOW_SQL}, ?)",
          (CHANGE_LOG, CHANGE_LOG, "append-only log of row edits (people, assignments)",
           UNDEFINED_GEOGRAPHIC_SRS))
        for verb in ("UPDATE", "DELETE"):
            x(f"CREATE TRIGGER {_q(f'{CHANGE_LOG}_no_{verb.lower()}')} BEFORE {verb} ON "
              f"{_q(CHANGE_LOG)} BEGIN SELECT RAISE(ABORT, "
              f"'{CHANGE_LOG} is append-only: entries are never changed or deleted'); END")
        if has_table(self.con, "gpkg_ogr_contents"):
            # what GDAL keeps for its own tables: a row count maintained by triggers
            x("INSERT INTO gpkg_ogr_contents (table_name, feature_count) VALUES (?, 0)",
              (CHANGE_LOG,))
            for verb, sign in (("insert", "+"), ("delete", "-")):
                x(f"CREATE TRIGGER {_q(f'trigger_{verb}_feature_count_{CHANGE_LOG}')} AFTER "
                  f"{verb.upper()} ON {_q(CHANGE_LOG)} BEGIN UPDATE gpkg_ogr_contents SET "
                  f"feature_count = feature_count {sign} 1 WHERE lower(table_name) = "
                  f"lower('{CHANGE_LOG}'); END")
        for c in ("person_id", "target_code"):
            x(f"CREATE INDEX {_q(f'{INDEX_PREFIX}_{CHANGE_LOG}_{c}')} ON {_q(CHANGE_LOG)} "
              f"({_q(c)})")
        self._tables.pop(CHANGE_LOG, None)

    def finish(self) -> None:
        """Before the commit: the touched tables' ``last_change`` and extents in
        ``gpkg_contents`` (what QGIS and GDAL read to know a table changed)."""
        for layer in sorted(self._touched):
            self.con.execute(f"UPDATE gpkg_contents SET last_change = {LATER_SQL} "
                             "WHERE table_name = ?", (layer,))
        for layer, (minx, miny, maxx, maxy) in self._extent.items():
            self.con.execute(
                "UPDATE gpkg_contents SET min_x = min(coalesce(min_x, ?), ?), "
                "min_y = min(coalesce(min_y, ?), ?), max_x = max(coalesce(max_x, ?), ?), "
                "max_y = max(coalesce(max_y, ?), ?) WHERE table_name = ?",
                (minx, minx, miny, miny, maxx, maxx, maxy, maxy, layer))
