"""Row edits on a PostGIS store: the shared SQL of :class:`~layers.store._rows.SqlRowEdit` on
one psycopg connection (in the store's write transaction, or read-only); geometries bound as
WKB (``ST_GeomFromWKB``) and read as WKB (``ST_AsBinary``); indexes, row tracking and the
change log exist from the moment a table is made, so nothing is created here."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import shapely

from .._rows import SqlRowEdit, Table
from .._values import q
from ..base import CHANGE_LOG
from ._ddl import GEOMETRY, table_of
from ._tables import COLUMNS_SQL


class PgRowEdit(SqlRowEdit):
    """The :class:`~layers.store.base.RowEdit` of a PostGIS store."""

    P = "%s"

    def __init__(self, con: object, schema: str, location: str, *, writable: bool) -> None:
        super().__init__(location, writable=writable)
        self.con = con
        self.schema = schema

    def _fetch(self, sql: str, params: Sequence[object] = ()) -> list[tuple]:
        with self.con.cursor() as cur:  # type: ignore[attr-defined]
            cur.execute(sql, tuple(params) or None)
            return list(cur.fetchall())

    def _execute_many(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        with self.con.cursor() as cur:  # type: ignore[attr-defined]
            cur.executemany(sql, [tuple(r) for r in rows])

    def _has_table(self, name: str) -> bool:
        return bool(self._fetch("SELECT to_regclass(%s) IS NOT NULL",
                                [f"{q(self.schema)}.{q(name)}"])[0][0])

    def _load_table(self, layer: str) -> Table | None:
        rows = self._fetch(COLUMNS_SQL.replace(":t", "%s"),
                           [f"{q(self.schema)}.{q(table_of(layer))}"])
        if not rows:
            return None
        cols = [str(r[0]) for r in rows]
        geom = GEOMETRY if any(r[0] == GEOMETRY and r[1] == "geometry" for r in rows) else None
        return Table(layer, cols, geom, 4326)

    def _sql_name(self, layer: str) -> str:
        return q(table_of(layer))

    def _geometry_sql(self, column: str) -> str:
        return f"ST_AsBinary({q(column)})"

    def _geometries(self, values: Sequence[object]) -> np.ndarray:
        wkb = np.empty(len(values), dtype=object)
        wkb[:] = [None if v is None else bytes(v) for v in values]  # type: ignore[call-overload]
        return shapely.from_wkb(wkb)

    def _geometry_param(self) -> str:
        return "ST_GeomFromWKB(%s, 4326)"

    def _geometry_value(self, geom: object, srs_id: int) -> object:
        if geom is None or shapely.is_missing(geom):
            return None
        return shapely.to_wkb(geom, byte_order=1)

    def _ensure_log(self) -> None:
        if self._table(CHANGE_LOG, required=False) is None:  # pragma: no cover - made with the schema
            raise RuntimeError("the change log is missing from the schema")
