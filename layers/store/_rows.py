"""Row edits over SQL, written once for every backend: conditions, selects, the contract check
of changed rows, optimistic expectations and the change log. A backend supplies the
connection, its placeholder, how geometries and values are bound and read, and what it does
before a commit (:class:`SqlRowEdit`'s hooks)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .. import clock
from ..errors import LayerValidationError, StoreError
from ..layerset import DATE_ANCHOR, LayerSet
from ..schema import LAYERS, spec
from ..validate import Problem, validate
from ._values import from_sql, log_value, missing, parse_dates, q, same, to_python
from .base import CHANGE_LOG, CHANGE_LOG_COLUMNS, META_TABLE, ROW_ID, RowConflict

#: Values bound in one ``IN (…)``; longer lists are looked up in chunks (SQLite binds at most
#: 32,766 values per statement, PostgreSQL 65,535).
MAX_IN = 10_000

#: The columns row edits look rows up by: keys and references (indexed).
LOOKUP_COLUMNS = frozenset(
    {(name, s.key) for name, s in LAYERS.items() if s.key}
    | {(name, r.column) for name, s in LAYERS.items() for r in s.references}
    | {("assignments", "target_code"), (CHANGE_LOG, "person_id"), (CHANGE_LOG, "target_code")})

_LISTS = list | tuple | set | frozenset | np.ndarray | pd.Series


class Table:
    """A table of the store: its columns and its geometry column (None for attributes)."""

    def __init__(self, name: str, columns: list[str], geometry: str | None, srs_id: int):
        self.name = name
        self.columns = columns
        self.geometry = geometry
        self.srs_id = srs_id


class SqlRowEdit:
    """The :class:`~layers.store.base.RowEdit` of a SQL backend (one connection, in a write
    transaction or read-only). Subclasses implement the hooks below the line."""

    #: The driver's placeholder (``?`` for sqlite3, ``%s`` for psycopg).
    P = "?"

    def __init__(self, location: str, writable: bool) -> None:
        self.location = location
        self.writable = writable
        self._tables: dict[str, Table] = {}
        self._meta: dict[str, str] | None = None
        self._touched: set[str] = set()

    # -- hooks ---------------------------------------------------------------------------------
    def _fetch(self, sql: str, params: Sequence[object] = ()) -> list[tuple]:
        raise NotImplementedError

    def _execute_many(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        raise NotImplementedError

    def _load_table(self, layer: str) -> Table | None:
        """The table's columns and geometry column, or None when it is missing."""
        raise NotImplementedError

    def _geometry_sql(self, column: str) -> str:
        """The select expression of a geometry column (its value decoded by
        :meth:`_geometries`)."""
        raise NotImplementedError

    def _geometries(self, values: Sequence[object]) -> np.ndarray:
        raise NotImplementedError

    def _geometry_param(self) -> str:
        """The placeholder of a geometry value (bound as :meth:`_geometry_value` made it)."""
        return self.P

    def _geometry_value(self, geom: object, srs_id: int) -> object:
        raise NotImplementedError

    def _bind(self, value: object, kind: str, shift: pd.Timedelta) -> object:
        """A contract value as the driver binds it."""
        return to_python(value, kind, shift)

    def _has_table(self, name: str) -> bool:
        raise NotImplementedError

    def _sql_name(self, layer: str) -> str:
        """The quoted table of ``layer`` (a backend may name a layer's table otherwise)."""
        return q(layer)

    def _index(self, table: Table, column: str) -> None:
        """Make sure rows can be looked up by ``column`` quickly (a backend may have made
        every index with the table)."""

    def _track(self, layer: str) -> None:
        """Before the first row edit of ``layer`` in this transaction (row tracking)."""

    def _ensure_log(self) -> None:
        """Make the change log table when it is missing (in this transaction)."""

    def _grow_extent(self, layer: str, geoms: np.ndarray) -> None:
        """Geometries written to ``layer`` (a backend keeping an extent grows it)."""

    def finish(self) -> None:
        """Before the commit (versions of the touched tables, extents)."""

    # -- schema ------------------------------------------------------------------------------
    def _table(self, layer: str, *, required: bool = True) -> Table | None:
        if layer not in self._tables:
            if layer != CHANGE_LOG:
                spec(layer)
            table = self._load_table(layer)
            if table is None:
                if required:
                    raise StoreError(f"{self.location}: layer {layer!r} is missing")
                return None
            self._tables[layer] = table
        return self._tables[layer]

    def _column(self, table: Table, column: str) -> str:
        """The stored column for a requested one (``geometry`` → the geometry column)."""
        if column == "geometry" and table.geometry:
            return table.geometry
        if column not in table.columns:
            raise StoreError(f"{self.location}: layer {table.name!r} has no column {column!r}")
        return column

    def meta(self) -> dict[str, str]:
        if self._meta is None:
            rows = self._fetch(f"SELECT key, value FROM {q(META_TABLE)}") \
                if self._has_table(META_TABLE) else []
            self._meta = {str(k): str(v) for k, v in rows}
        return self._meta

    def _shift(self) -> pd.Timedelta:
        """Shown − stored for date columns (a demo store's dates follow the clock)."""
        anchor = self.meta().get(DATE_ANCHOR)
        if not anchor:
            return pd.Timedelta(0)
        return pd.Timedelta(days=(clock.today() - dt.date.fromisoformat(anchor)).days)

    # -- reading -----------------------------------------------------------------------------
    def _where(self, table: Table, where: Mapping[str, object] | None,
               kinds: Mapping[str, str]) -> tuple[str, list[object]]:
        if not where:
            return "", []
        parts, params = [], []
        shift = self._shift()
        for col, value in where.items():
            stored = self._column(table, col) if col != ROW_ID else ROW_ID
            self._index(table, stored)
            kind = kinds.get(col, "str")
            if isinstance(value, _LISTS):
                vals = [self._bind(v, kind, shift) for v in value]
                if not vals:
                    return " WHERE 1 = 0", []
                parts.append(f"{q(stored)} IN ({', '.join([self.P] * len(vals))})")
                params.extend(vals)
            elif missing(value):
                parts.append(f"{q(stored)} IS NULL")
            else:
                parts.append(f"{q(stored)} = {self.P}")
                params.append(self._bind(value, kind, shift) if col != ROW_ID
                              else int(value))  # type: ignore[call-overload]  # a row id
        return " WHERE " + " AND ".join(parts), params

    def select(
        self, layer: str, where: Mapping[str, object] | None = None, *,
        columns: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        big = next((k for k, v in (where or {}).items()
                    if isinstance(v, _LISTS) and len(v) > MAX_IN), None)
        if big is not None:
            assert where is not None
            values = list(dict.fromkeys(where[big]))  # type: ignore[call-overload]
            parts = [self.select(layer, {**where, big: values[i:i + MAX_IN]}, columns=columns)
                     for i in range(0, len(values), MAX_IN)]
            return pd.concat(parts, ignore_index=True).sort_values(ROW_ID, ignore_index=True)
        table = self._table(layer)
        assert table is not None
        s = spec(layer)
        kinds = {f.name: f.kind for f in s.fields}
        wanted = list(columns) if columns is not None else (
            [f.name for f in s.fields] + (["geometry"] if table.geometry else []))
        exprs = [self._geometry_sql(table.geometry) if c == "geometry" and table.geometry
                 else q(self._column(table, c)) for c in wanted]
        cond, params = self._where(table, where, kinds)
        rows = self._fetch(f"SELECT {', '.join([q(ROW_ID), *exprs])} FROM {self._sql_name(layer)}"
                           f"{cond} ORDER BY {q(ROW_ID)}", params)
        raw = pd.DataFrame(rows, columns=[ROW_ID, *wanted], dtype=object)
        out = pd.DataFrame({ROW_ID: raw[ROW_ID].astype("int64")})
        shift = self._shift()
        for c in wanted:
            if c == "geometry" and table.geometry:
                continue
            out[c] = from_sql(raw[c], kinds.get(c, "str"), shift)
        if "geometry" in wanted and table.geometry:
            return gpd.GeoDataFrame(out, geometry=self._geometries(raw["geometry"].tolist()),
                                    crs="EPSG:4326")
        return out

    def max_value(self, layer: str, column: str, prefix: str | None = None) -> object:
        table = self._table(layer)
        assert table is not None
        col = self._column(table, column)
        self._index(table, col)
        sql = f"SELECT max({q(col)}) FROM {self._sql_name(layer)}"
        params: list[object] = []
        if prefix:
            sql += f" WHERE {q(col)} >= {self.P} AND {q(col)} < {self.P}"
            params = [prefix, prefix[:-1] + chr(ord(prefix[-1]) + 1)]
        return self._fetch(sql, params)[0][0]

    def change_log(self, filters: Mapping[str, object] | None = None) -> pd.DataFrame:
        cols = [ROW_ID, *CHANGE_LOG_COLUMNS]
        table = self._table(CHANGE_LOG, required=False)
        if table is None:
            out = pd.DataFrame({c: pd.Series([], dtype=object) for c in cols})
            out["when"] = out["when"].astype("datetime64[ms]")
            return out
        where = {k: v for k, v in (filters or {}).items() if not missing(v)}
        unknown = set(where) - set(cols)
        if unknown:
            raise StoreError(f"the change log has no column(s) {sorted(unknown)}")
        cond, params = self._where(table, where, {})
        rows = self._fetch(f"SELECT {', '.join(q(c) for c in cols)} FROM "
                           f"{q(CHANGE_LOG)}{cond} ORDER BY {q(ROW_ID)}", params)
        out = pd.DataFrame(rows, columns=cols, dtype=object)
        out[ROW_ID] = out[ROW_ID].astype("int64")
        out["when"] = parse_dates(out["when"])
        for c in ("before", "after"):
            out[c] = out[c].map(lambda v: None if v is None else json.loads(v))
        return out

    # -- writing -----------------------------------------------------------------------------
    def _require_writable(self) -> None:
        if not self.writable:
            raise StoreError("row changes need a transaction: use Store.edit_rows()")

    def _check(self, layer: str, rows: pd.DataFrame, keep_fids: Sequence[int]) -> pd.DataFrame:
        """Validate the rows as they will be stored: the contract's column checks, the
        references they make (looked up by key) and unique keys across the table. Returns the
        normalised rows; raises :class:`LayerValidationError` (nothing written)."""
        s = spec(layer)
        frames: dict[str, pd.DataFrame] = {layer: rows.reset_index(drop=True)}
        refs = [(r.column, r.layer) for r in s.references]
        if layer == "assignments":
            refs += [("target_code", "grids"), ("target_code", "buildings")]
        for column, parent in refs:
            if column in rows and parent not in frames:
                key = spec(parent).key
                assert key is not None
                found = self.select(parent, {key: rows[column].dropna().unique().tolist()},
                                    columns=[key])
                frames[parent] = found.drop(columns=ROW_ID)
        checked, report = validate(LayerSet(frames), source=self.location, layers=(layer,))
        if s.key:
            keys = checked[layer][s.key].dropna().unique().tolist()
            taken = self.select(layer, {s.key: keys}, columns=[s.key])
            taken = taken[~taken[ROW_ID].isin(list(keep_fids))]
            report.problems.extend(
                Problem(layer, None, k, s.key, f"{s.key} {k!r} is already in the store")
                for k in taken[s.key])
        if not report.ok:
            raise LayerValidationError(report, self.location)
        return checked[layer]

    def _values(self, table: Table, frame: pd.DataFrame, columns: Sequence[str]
                ) -> tuple[list[str], list[list[object]]]:
        """Stored column names and per-row bound values of ``columns``."""
        kinds = {f.name: f.kind for f in spec(table.name).fields}
        shift = self._shift()
        names: list[str] = []
        cols: list[list[object]] = []
        for c in columns:
            names.append(self._column(table, c))
            if c == "geometry" and table.geometry:
                geoms = frame.geometry.to_numpy()
                cols.append([self._geometry_value(g, table.srs_id) for g in geoms])
                self._grow_extent(table.name, geoms)
            else:
                cols.append([self._bind(v, kinds[c], shift) for v in frame[c].tolist()])
        return names, [list(r) for r in zip(*cols, strict=True)] if cols else []

    def _placeholders(self, table: Table, names: Sequence[str]) -> list[str]:
        return [self._geometry_param() if n == table.geometry else self.P for n in names]

    def insert(self, layer: str, frame: pd.DataFrame) -> int:
        self._require_writable()
        table = self._table(layer)
        assert table is not None
        s = spec(layer)
        rows = pd.DataFrame({f.name: frame.get(f.name) for f in s.fields}, index=frame.index)
        if s.geometry is not None:
            geoms = frame.geometry if isinstance(frame, gpd.GeoDataFrame) else [None] * len(frame)
            rows = gpd.GeoDataFrame(rows, geometry=gpd.GeoSeries(list(geoms), index=frame.index,
                                                                 crs="EPSG:4326"))
        if rows.empty:
            return 0
        checked = self._check(layer, rows, ())
        self._track(layer)
        wanted = [f.name for f in s.fields] + (["geometry"] if s.geometry is not None else [])
        names, values = self._values(table, checked, wanted)
        marks = self._placeholders(table, names)
        self._execute_many(f"INSERT INTO {self._sql_name(layer)} ({', '.join(q(n) for n in names)}) "
                           f"VALUES ({', '.join(marks)})", values)
        self._touched.add(layer)
        return len(values)

    def update(
        self, layer: str, where: Mapping[str, object], values: Mapping[str, object], *,
        expected: Mapping[str, object] | None = None,
    ) -> int:
        self._require_writable()
        if not where:
            raise StoreError("an update needs a condition (where); nothing was written")
        table = self._table(layer)
        assert table is not None
        current = self.select(layer, where)
        if expected:
            self._expect(layer, where, current, expected)
        if current.empty or not values:
            return 0
        new = current.copy()
        for c, v in values.items():
            self._column(table, c)
            if c == "geometry":
                new = new.set_geometry(gpd.GeoSeries([v] * len(new), index=new.index,
                                                     crs="EPSG:4326"))
            else:
                new[c] = pd.Series([v] * len(new), index=new.index, dtype=object)
        checked = self._check(layer, new.drop(columns=ROW_ID), current[ROW_ID].tolist())
        self._track(layer)
        names, rows = self._values(table, checked, list(values))
        sets = ", ".join(f"{q(n)} = {m}" for n, m in zip(
            names, self._placeholders(table, names), strict=True))
        self._execute_many(f"UPDATE {self._sql_name(layer)} SET {sets} WHERE {q(ROW_ID)} = {self.P}",
                           [[*r, int(f)] for r, f in zip(rows, current[ROW_ID], strict=True)])
        self._touched.add(layer)
        return len(current)

    def _expect(self, layer: str, where: Mapping[str, object], current: pd.DataFrame,
                expected: Mapping[str, object]) -> None:
        """:class:`RowConflict` unless every row matched holds ``expected`` (and one does)."""
        personal = {f.name for f in spec(layer).fields if f.personal}
        shown = {k: v for k, v in where.items() if k not in personal}
        if current.empty:
            raise RowConflict(layer, next(iter(expected)), shown)
        for c, want in expected.items():
            if c not in current:
                raise StoreError(f"{self.location}: layer {layer!r} has no column {c!r}")
            if not all(same(v, want) for v in current[c]):
                raise RowConflict(layer, c, shown)

    def log(self, entries: Iterable[Mapping[str, object]]) -> int:
        self._require_writable()
        entries = list(entries)
        if not entries:
            return 0
        self._ensure_log()
        zero = pd.Timedelta(0)
        now = pd.Timestamp(clock.now())
        rows = []
        for e in entries:
            unknown = set(e) - set(CHANGE_LOG_COLUMNS)
            if unknown:
                raise StoreError(f"the change log has no column(s) {sorted(unknown)}")
            if missing(e.get("action")):
                raise StoreError("a change-log entry needs an action")
            row = [log_value(c, e.get(c), now) for c in CHANGE_LOG_COLUMNS]
            row[0] = self._bind(row[0], "datetime", zero)
            rows.append(row)
        self._execute_many(
            f"INSERT INTO {q(CHANGE_LOG)} ({', '.join(q(c) for c in CHANGE_LOG_COLUMNS)}) "
            f"VALUES ({', '.join([self.P] * len(CHANGE_LOG_COLUMNS))})", rows)
        self._touched.add(CHANGE_LOG)
        return len(rows)


def grown(old: tuple[float, float, float, float] | None, geoms: np.ndarray
          ) -> tuple[float, float, float, float] | None:
    """The extent ``old`` grown by the present geometries of ``geoms``."""
    present = geoms[~(shapely.is_missing(geoms) | shapely.is_empty(geoms))]
    if not len(present):
        return old
    b = shapely.total_bounds(present)
    if old is None:
        return (float(b[0]), float(b[1]), float(b[2]), float(b[3]))
    return (min(old[0], b[0]), min(old[1], b[1]), max(old[2], b[2]), max(old[3], b[3]))
