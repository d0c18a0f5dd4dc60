"""Validation of a :class:`~layers.layerset.LayerSet` against the layer contract.

:func:`validate` checks everything it can in one pass and returns a normalised copy of the data
plus one :class:`ValidationReport` listing every problem as (layer, row, code, field, message).
It never raises for bad data: callers decide (the store refuses to write or load data whose
report has errors, see :class:`~layers.errors.LayerValidationError`).

All checks are vectorised (pandas / numpy / shapely arrays, ``STRtree`` for geometry pairs).
Rows are numbered from 1 in the order of the layer (the first feature or data row is row 1);
the importer renumbers the problems of a file as the file's own lines (CSV, Excel: the header
is line 1) or features (GeoJSON, shapefile, GeoPackage, OSM), see :attr:`Problem.unit`.
:meth:`ValidationReport.format` groups repeated problems ("600 rows: value is missing, e.g.
lines 2, 3, 4 …").

Enumerations accept the code, its Chinese or English label and the synonyms of
:mod:`layers.labels` (the one catalogue); booleans accept 是/否, 有/无, Y/N, 1/0 ….
:func:`readiness` says what a store in the middle of set-up still lacks.
:func:`check_integrity` is the cheap check of layers read back from a store (what the store
wrote was validated when written): columns, kinds, required values, keys, geometry presence and
type — not content.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow.compute as pc
import shapely

from . import _keys
from . import crs as _crs
from . import labels as _labels
from .layerset import LayerSet
from .schema import CLOSED_STATUSES, LAYER_NAMES, REQUIRED_LAYERS, Field, LayerSpec, spec
from .settings import DEFAULT_SETTINGS, Settings

Severity = Literal["error", "repaired", "warning", "info"]
Unit = Literal["row", "line", "feature"]

#: At most this many rows are listed per (layer, field, kind of problem); the rest are counted.
MAX_ROWS_PER_KIND = 200


def _said(key: str, text: str, args: dict[str, object]) -> Said:
    return Said.text(key, text, **args)


class Said(str):
    """A message in plain English (what the CLI prints) that also carries what it says as a
    ``key`` and its ``args``, so the dashboard can say it in the user's language
    (``dashboard.i18n``: ``data_said_<key>``). ``args["value"]``, when present, is the row's
    own value; the other args are the same for every row of one kind of problem.

    >>> s = Said("not_choice", "{value!r} is not one of: {allowed}", value="x", allowed="a, b")
    >>> s, s.key, s.args["value"]
    ("'x' is not one of: a, b", 'not_choice', 'x')
    """

    key: str
    args: dict[str, object]

    def __new__(cls, key: str, template: str, /, **args: object) -> Said:
        return cls.text(key, template.format(**args), **args)

    @classmethod
    def text(cls, key: str, text: str, /, **args: object) -> Said:
        """A message whose English ``text`` is given as it is (not a template)."""
        obj = str.__new__(cls, text)
        obj.key = key
        obj.args = args
        return obj

    def kind(self) -> tuple:
        """What one kind of problem shares: the key and every arg but the row's value."""
        return (self.key, *sorted((k, str(v)) for k, v in self.args.items() if k != "value"))

    def __reduce__(self) -> tuple:  # pickles (Streamlit's session state, caches)
        return _said, (self.key, str(self), self.args)


_COLUMN_MISSING = Said("column_missing", "required column is missing")
_VALUE_MISSING = Said("value_missing", "value is missing")
#: What a value that cannot be read as a kind is.
_NOT_KIND = {"int": "not a whole number", "float": "not a number",
             "bool": "not true/false (yes/no)", "datetime": "not a date/time"}
#: A row without a usable geometry.
GEOMETRY_MISSING = Said("geometry_missing", "geometry is missing or empty")


def not_a_code(value: object, layer: str) -> Said:
    """The message of a reference to a code ``layer`` does not hold."""
    return Said("not_a_code", "{value!r} is not a code in {layer}", value=value, layer=layer)


def _geometry_type(name: str, allowed: Sequence[str]) -> Said:
    return Said("geometry_type", "geometry type {value} not allowed (expected {expected})",
                value=name, expected=" or ".join(allowed))


@dataclass(frozen=True)
class Problem:
    """One finding of the validator.

    Attributes
    ----------
    layer
        Layer name (or the file's name for the rows of an imported file).
    row
        1-based number of the row, in :attr:`unit`; ``None`` for layer-level problems and for
        the summary of rows beyond the listing cap.
    code
        The row's key (code / id) when it has one.
    field
        The column concerned (``"geometry"`` for geometry), or ``None``.
    message
        What is wrong, in plain words. Never contains personal data (phones, names).
    severity
        ``error`` (data refused), ``repaired`` (fixed automatically, said so), ``warning``
        (kept but worth a look) or ``info`` (e.g. reprojected).
    unit
        What ``row`` counts: ``row`` (rows of a layer, the first is 1), ``line`` (a CSV or
        Excel file's own line: the header is line 1, the first data row line 2) or
        ``feature`` (the features of a GeoJSON, shapefile, GeoPackage or OSM file).
    count
        How many rows the problem stands for: 1, or the number of rows left out of the
        listing (``row`` is then ``None`` and ``message`` starts with "N more rows like: ").
    """

    layer: str
    row: int | None
    code: str | None
    field: str | None
    message: str
    severity: Severity = "error"
    unit: Unit = "row"
    count: int = 1

    def __str__(self) -> str:
        where = [self.layer]
        if self.row is not None:
            where.append(f"{self.unit} {self.row}")
        if self.code:
            where.append(f"code {self.code}")
        if self.field:
            where.append(f"field {self.field}")
        return f"[{self.severity}] {' / '.join(where)}: {self.message}"

    @property
    def base_message(self) -> str:
        """The message of the rows a capped summary stands for (the message otherwise)."""
        if self.row is None and self.count > 1:
            return self.message.split(_MORE, 1)[-1]
        return self.message


#: How the summary of rows beyond the listing cap starts its message: "N more rows like: …".
_MORE = " more rows like: "
#: Row numbers a grouped problem lists.
ROWS_LISTED = 5
_ORDER = {"error": 0, "repaired": 1, "warning": 2, "info": 3}


@dataclass
class ValidationReport:
    """All problems found in one validation run."""

    problems: list[Problem] = field(default_factory=list)
    source: str | None = None

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def repairs(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "repaired"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def ok(self) -> bool:
        """True when there is no error (repairs, warnings and notes are allowed)."""
        return not self.errors

    def groups(self, severities: tuple[str, ...] | None = None) -> list[list[Problem]]:
        """The problems grouped by (severity, layer, field, message, unit): one group per kind
        of problem, however many rows it concerns; errors first, then by first row (problems
        of a whole layer first)."""
        by: dict[tuple, list[Problem]] = {}
        for p in self.problems:
            if severities is None or p.severity in severities:
                by.setdefault((p.severity, p.layer, p.field, p.base_message, p.unit),
                              []).append(p)
        def order(g: list[Problem]) -> tuple[int, float]:
            rows = [p.row for p in g if p.row is not None]
            return _ORDER[g[0].severity], min(rows) if rows else 0

        return sorted(by.values(), key=order)

    def format(self, limit: int | None = None, severities: tuple[str, ...] | None = None) -> str:
        """Human-readable listing, errors first, one line per kind of problem: a problem of
        many rows says how many and the first row numbers ("600 rows: value is missing, e.g.
        lines 2, 3, 4, 5, 6 …"). ``limit`` caps the lines."""
        groups = self.groups(severities)
        shown = groups if limit is None else groups[:limit]
        lines = [_group_line(g, self.source) for g in shown]
        if len(groups) > len(shown):
            more = sum(_rows_in(g) for g in groups[len(shown):])
            lines.append(f"… and {len(groups) - len(shown)} more kind(s) of problem "
                         f"({more} row(s))")
        prefix = f"{self.source}: " if self.source else ""
        return "\n".join(prefix + line for line in lines)

    def to_frame(self) -> pd.DataFrame:
        """The report as a table (for the dashboard and CSV downloads); ``unit`` says what
        ``row`` counts (``row``, ``line`` or ``feature``)."""
        cols = ["severity", "layer", "row", "code", "field", "message", "unit"]
        return pd.DataFrame([{c: getattr(p, c) for c in cols} for p in self.problems], columns=cols)

    def counts(self) -> Counter[str]:
        return Counter(p.severity for p in self.problems)


def _rows_in(group: list[Problem]) -> int:
    return sum(p.count for p in group)


def _group_line(group: list[Problem], source: str | None) -> str:
    """One kind of problem: the problem itself when it concerns one row, else the count of
    rows, the message and the first row numbers. A layer named like the report's source
    (an imported file's rows) is not named twice."""
    first = group[0]
    if first.layer == source:
        group = [replace(p, layer="") for p in group]
        first = group[0]
    n = _rows_in(group)
    rows = [p.row for p in group if p.row is not None]
    if n == 1 or not rows:
        return str(first).replace("]  / ", "] ") + (
            f" (×{len(group)})" if len(group) > 1 else "")
    unit = {"line": "lines", "feature": "features"}.get(first.unit, "rows")
    listed = ", ".join(str(r) for r in rows[:ROWS_LISTED])
    where = [w for w in (first.layer, f"field {first.field}" if first.field else "") if w]
    if not rows:
        tail = ""
    elif n > ROWS_LISTED:
        tail = f", e.g. {unit} {listed} …"
    else:
        tail = f" ({unit} {listed})"
    return f"[{first.severity}] {' / '.join(where)}: {n} rows: {first.base_message}{tail}"


class Collector:
    """Adds problems to a report row by row from boolean masks, listing at most
    :data:`MAX_ROWS_PER_KIND` rows per kind and counting the rest."""

    def __init__(self, report: ValidationReport) -> None:
        self.report = report

    def add(self, problem: Problem) -> None:
        self.report.problems.append(problem)

    def rows(
        self,
        layer: str,
        mask: np.ndarray,
        codes: np.ndarray | None,
        fieldname: str | None,
        message: str | np.ndarray,
        severity: Severity = "error",
    ) -> None:
        idx = np.flatnonzero(mask)
        if idx.size == 0:
            return
        shown = idx[:MAX_ROWS_PER_KIND]
        for i in shown:
            msg = message if isinstance(message, str) else message[i]
            msg = msg if isinstance(msg, str) else str(msg)  # a Said stays one
            code = None if codes is None else _clean_code(codes[i])
            self.add(Problem(layer, int(i) + 1, code, fieldname, msg, severity))
        if idx.size > shown.size:
            n = int(idx.size - shown.size)
            # one message for every row: the summary joins their group; messages that differ
            # row by row (they quote values) get a summary of their own
            text = f"{n}{_MORE}{message}" if isinstance(message, str) else \
                f"{n} more rows, e.g.: {message[idx[shown.size]]}"
            first = message if isinstance(message, str) else message[idx[shown.size]]
            if isinstance(first, Said):  # the same kind of problem, for the page to group
                text = Said.text(first.key, text, **first.args)
            self.add(Problem(layer, None, None, fieldname, text, severity, count=n))


def _clean_code(v: object) -> str | None:
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA:
        return None
    return str(v)


# --------------------------------------------------------------------------------------------
# column coercion


def _coerce(
    s: pd.Series, f: Field
) -> tuple[pd.Series, np.ndarray, np.ndarray, str]:
    """Coerce ``s`` to ``f.kind``; return (values, missing mask, bad mask, the kind a bad value is not).
    Blank text (an empty spreadsheet cell read as ``''``) is missing, whatever the kind."""
    raw_missing = s.isna().to_numpy()
    if f.kind != "str" and (s.dtype == object or pd.api.types.is_string_dtype(s.dtype)):
        blank = s.astype("string").str.strip().eq("").fillna(False).to_numpy(dtype=bool)
        if blank.any():
            raw_missing = raw_missing | blank
            s = s.where(~blank, None)
    if f.kind == "str":
        if pd.api.types.is_float_dtype(s.dtype):
            # codes read from Excel come back as floats: 500106.0 -> "500106"
            as_int = pd.to_numeric(s, errors="coerce")
            integral = as_int.notna() & (as_int % 1 == 0)
            s = s.astype(object)
            s[integral] = as_int[integral].astype("int64").astype(str)
        out = s.astype("str")
        stripped = out.str.strip()
        missing = raw_missing | (stripped == "").fillna(True).to_numpy()
        if f.choices is not None:  # labels and synonyms → codes (layers.labels)
            out = _labels.normalise_series(f.choices, stripped.where(~missing, None))
        return out.where(~missing, None).astype("str"), missing, np.zeros(len(s), bool), ""
    if f.kind in ("int", "float"):
        num = pd.to_numeric(s, errors="coerce")
        bad = (~raw_missing) & num.isna().to_numpy()
        missing = raw_missing
        if f.kind == "int":
            frac = num.notna().to_numpy() & (num.fillna(0) % 1 != 0).to_numpy()
            bad = bad | frac
            num = num.where(~frac)
            return num.round().astype("Int64"), missing, bad, "int"
        return num.astype("float64"), missing, bad, "float"
    if f.kind == "bool":
        if pd.api.types.is_bool_dtype(s.dtype) and not raw_missing.any():
            return s.astype(bool), raw_missing, np.zeros(len(s), bool), ""
        is_t, is_f = _labels.normalise_bool(s)
        bad = (~raw_missing) & ~(is_t | is_f)
        flags = pd.Series(is_t, index=s.index)
        if f.nullable and raw_missing.any():  # unknown stays unknown, not false
            flags = flags.astype("boolean").where(~raw_missing, pd.NA)
        return flags, raw_missing, bad, "bool"
    if f.kind == "datetime":
        if pd.api.types.is_datetime64_any_dtype(s.dtype):
            out = s
            if getattr(out.dt, "tz", None) is not None:
                out = out.dt.tz_convert("Asia/Shanghai").dt.tz_localize(None)
            return out.astype("datetime64[ms]"), raw_missing, np.zeros(len(s), bool), ""
        out = pd.to_datetime(s, errors="coerce", format="ISO8601")
        retry = out.isna().to_numpy() & ~raw_missing
        if retry.any():
            out[retry] = pd.to_datetime(s[retry], errors="coerce", format="mixed")
        bad = (~raw_missing) & out.isna().to_numpy()
        return out.astype("datetime64[ms]"), raw_missing, bad, "datetime"
    raise AssertionError(f.kind)  # pragma: no cover


# --------------------------------------------------------------------------------------------
# the validator


def validate(
    data: LayerSet,
    settings: Settings = DEFAULT_SETTINGS,
    *,
    source: str | None = None,
    layers: tuple[str, ...] | None = None,
    check_geometry: bool = True,
    cross_layer: bool = True,
) -> tuple[LayerSet, ValidationReport]:
    """Check ``data`` against the layer contract.

    Parameters
    ----------
    data
        The layers to check.
    settings
        Tolerances (tiling, containment, repair) and the metric CRS.
    source
        File or store name, used in messages.
    layers
        Only these layers (default: all present). Cross-layer references to layers not checked
        are still resolved against ``data``.
    check_geometry
        Set to False to skip the (more expensive) geometric checks: validity, containment,
        tiling. Columns and keys are always checked.
    cross_layer
        Set to False to skip checks between layers (references, code prefixes, assignment
        targets, grid tiling), e.g. for a read limited to a bounding box.

    Returns
    -------
    (LayerSet, ValidationReport)
        The normalised data (types coerced, CRS EPSG:4326, safe repairs applied) and the report.
    """
    report = ValidationReport(source=source)
    out = Collector(report)
    names = [n for n in LAYER_NAMES if n in data and (layers is None or n in layers)]
    fixed: dict[str, pd.DataFrame] = {}
    for name in names:
        fixed[name] = _check_layer(name, data[name], settings, out, check_geometry)
    merged = {n: data[n] for n in data}
    merged.update(fixed)
    result = LayerSet(merged, data.meta)
    _check_tickets(result, names, out)
    if cross_layer:
        _check_references(result, names, out)
        _check_assignments(result, names, out)
        if check_geometry and "grids" in names and "communities" in result:
            _check_tiling(result, settings, out)
    return result, report


def _check_layer(
    name: str, df: pd.DataFrame, settings: Settings, out: Collector, check_geometry: bool
) -> pd.DataFrame:
    s = spec(name)
    df = df.copy()
    if not isinstance(df.index, pd.RangeIndex) or df.index.start != 0:
        df = df.reset_index(drop=True)
    codes = df[s.key].astype("str").to_numpy() if s.key and s.key in df else None
    for f in s.fields:
        if f.name not in df.columns and f.nullable:  # optional: unknown, not an error
            df[f.name] = pd.Series(None, index=df.index, dtype=object)
            out.add(Problem(name, None, None, f.name, Said(
                "column_unknown", "column not given: values unknown"), "info"))
        elif f.name not in df.columns:
            out.add(Problem(name, None, None, f.name, _COLUMN_MISSING))
            continue
        values, missing, bad, what = _coerce(df[f.name], f)
        _report_bad(name, f, df[f.name], bad, what, codes, out)
        if not f.nullable:
            out.rows(name, missing, codes, f.name, _VALUE_MISSING)
        if f.choices is not None:
            _note_labels(name, f, df[f.name], values, out)
            okv = values.isna().to_numpy() | values.isin(f.choices).to_numpy()
            if (~okv).any():
                allowed = ", ".join(f.choices)
                vals = values.astype("str").to_numpy()
                full = np.empty(len(df), dtype=object)
                full[~okv] = [Said("not_choice", "{value!r} is not one of: {allowed} (or "
                                   "their labels)", value=v, allowed=allowed)
                              for v in vals[~okv]]
                out.rows(name, ~okv, codes, f.name, full)
        if f.minimum is not None and f.kind in ("int", "float"):
            low = (values < f.minimum).fillna(False).to_numpy(dtype=bool)
            out.rows(name, low, codes, f.name, Said("minimum", "must be at least {minimum:g}",
                                                    minimum=f.minimum))
        if f.name == "phone":
            txt = values.astype("str")
            badphone = values.notna().to_numpy() & ~txt.str.fullmatch(r"\+?[\d\- ]{5,20}").fillna(
                False
            ).to_numpy(dtype=bool)
            out.rows(name, badphone, codes, f.name, Said(
                "phone", "not a phone number (value not shown)"))
        df[f.name] = values
    if s.key and s.key in df.columns:
        keys = df[s.key]
        dup = keys.duplicated(keep=False).to_numpy() & keys.notna().to_numpy()
        if dup.any():
            counts = keys[dup].value_counts()
            msg = np.empty(len(df), dtype=object)
            msg[dup] = [Said("not_unique", "{column} is not unique ({n} rows share it)",
                             column=s.key, n=counts[k], value=k) for k in keys[dup]]
            out.rows(name, dup, codes, s.key, msg)
    if s.geometry is not None:
        df = _check_geometry(name, df, s, settings, out, codes, check_geometry)
    return df


def _report_bad(name: str, f: Field, raw: pd.Series, bad: np.ndarray, what: str,
                codes: np.ndarray | None, out: Collector) -> None:
    """The rows whose value could not be read as ``f.kind`` (personal values never shown)."""
    if not bad.any():
        return
    if f.personal:
        msg: str | np.ndarray = Said(f"not_{what}_personal",
                                     f"{_NOT_KIND[what]} (value not shown: personal data)")
    else:
        text = raw.astype("str").to_numpy()
        msg = np.empty(len(raw), dtype=object)
        msg[bad] = [Said(f"not_{what}", _NOT_KIND[what] + ": {value!r}", value=v)
                    for v in text[bad]]
    out.rows(name, bad, codes, f.name, msg)


def _note_labels(name: str, f: Field, raw: pd.Series, values: pd.Series,
                 out: Collector) -> None:
    """An ``info`` note when labels or synonyms were read as codes (日间照料中心 →
    elder_day_care), with the first such reading."""
    assert f.choices is not None
    odd = (raw.notna() & ~raw.isin(f.choices)).to_numpy(dtype=bool)
    if not odd.any():  # codes only (a stored layer): nothing was read as a label
        return
    text = raw.astype(object).where(raw.notna(), None)
    read = odd & values.isin(f.choices).to_numpy() & (
        text.astype("str").str.strip().to_numpy() != values.to_numpy())
    if read.any():
        i = int(np.flatnonzero(read)[0])
        out.add(Problem(name, None, None, f.name, Said(
            "labels_read", "{n} value(s) given as labels or synonyms read as codes (e.g. "
            "{label!r} → {code})", n=int(read.sum()), label=str(text.iloc[i]).strip(),
            code=values.iloc[i]), "info"))


def _check_geometry(
    name: str,
    df: pd.DataFrame,
    s: LayerSpec,
    settings: Settings,
    out: Collector,
    codes: np.ndarray | None,
    deep: bool,
) -> pd.DataFrame:
    assert s.geometry is not None  # only layers with geometry are checked here
    if not isinstance(df, gpd.GeoDataFrame) or df.geometry.name not in df:
        out.add(Problem(name, None, None, "geometry", Said(
            "no_geometry_column", "layer has no geometry column")))
        return df
    if df.crs is None:
        b = df.total_bounds
        lonlat = np.isfinite(b).all() and b[0] >= -180 and b[2] <= 180 and b[1] >= -90 \
            and b[3] <= 90
        if len(df) == 0 or lonlat:
            out.add(Problem(name, None, None, "geometry", Said(
                "no_crs_lonlat", "no CRS given; coordinates look like longitude/latitude, "
                "assumed WGS-84 (EPSG:4326)"), "warning"))
            df = df.set_crs("EPSG:4326")
        else:
            out.add(Problem(name, None, None, "geometry", Said(
                "no_crs", "no CRS given and coordinates are not longitude/latitude; set the "
                "CRS of the source")))
            return df
    elif not df.crs.equals("EPSG:4326"):
        src = df.crs.to_string()
        df = _crs.ensure_wgs84(df)
        out.add(Problem(name, None, None, "geometry", Said(
            "reprojected", "reprojected from {crs} to EPSG:4326", crs=src), "info"))
    geoms = df.geometry.to_numpy()
    empty = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    out.rows(name, empty, codes, "geometry", GEOMETRY_MISSING)
    types = shapely.get_type_id(geoms)
    type_names = np.array(_TYPE_NAMES, dtype=object)
    tname = np.where(types >= 0, type_names[np.clip(types, 0, 7)], None)
    allowed = np.isin(tname, s.geometry) | empty
    # a MultiPolygon/MultiPoint/MultiLineString of one part where the single type is required
    single = (~allowed) & (shapely.get_num_geometries(geoms) == 1) & np.isin(
        tname, ["MultiPolygon", "MultiPoint", "MultiLineString"]
    )
    if single.any():
        parts = shapely.get_geometry(geoms[single], 0)
        if np.isin(shapely.get_type_id(parts), [_TYPE_ID[t] for t in s.geometry]).all():
            geoms = geoms.copy()
            geoms[single] = parts
            out.rows(name, single, codes, "geometry", Said(
                "single_part", "single-part multi-geometry stored as its one part"),
                "repaired")
            allowed = allowed | single
    bad_type = ~allowed
    if bad_type.any():
        msg = np.empty(len(df), dtype=object)
        msg[bad_type] = [_geometry_type(t, s.geometry) for t in tname[bad_type]]
        out.rows(name, bad_type, codes, "geometry", msg)
    if deep:
        sane = _check_coordinates(name, geoms, ~empty, out, codes)
        geoms = _check_validity(name, geoms, ~empty & allowed & sane, s, settings, out, codes)
    df = df.set_geometry(gpd.GeoSeries(geoms, index=df.index, crs="EPSG:4326"))
    return df


_TYPE_ID = {"Point": 0, "LineString": 1, "Polygon": 3, "MultiPolygon": 6}
#: Geometry type names by shapely's type id.
_TYPE_NAMES = ("Point", "LineString", "LinearRing", "Polygon", "MultiPoint", "MultiLineString",
               "MultiPolygon", "GeometryCollection")


def _check_validity(
    name: str,
    geoms: np.ndarray,
    considered: np.ndarray,
    s: LayerSpec,
    settings: Settings,
    out: Collector,
    codes: np.ndarray | None,
) -> np.ndarray:
    assert s.geometry is not None  # called for layers with geometry only
    invalid = considered & ~shapely.is_valid(geoms)
    if not invalid.any():
        return geoms
    idx = np.flatnonzero(invalid)
    reasons = shapely.is_valid_reason(geoms[idx])
    repaired = shapely.make_valid(geoms[idx], method="structure", keep_collapsed=False)
    rtype = shapely.get_type_id(repaired)
    allowed_ids = [_TYPE_ID[t] for t in s.geometry if t in _TYPE_ID]
    same_type = np.isin(rtype, allowed_ids) & ~shapely.is_empty(repaired)
    a0 = np.abs(shapely.area(geoms[idx]))
    a1 = shapely.area(repaired)
    rel = np.abs(a1 - a0) / np.where(a1 > 0, a1, 1.0)
    small = (rel <= settings.repair_max_area_change) | (a1 == 0) & (a0 == 0)
    safe = same_type & small
    geoms = geoms.copy()
    geoms[idx[safe]] = repaired[safe]
    msg = np.empty(len(geoms), dtype=object)
    for j, i in enumerate(idx):
        if safe[j]:
            msg[i] = Said("invalid_repaired", "invalid geometry ({value}) repaired with "
                          "make_valid; area changed {change:.2%}", value=reasons[j],
                          change=float(rel[j]))
        elif not same_type[j]:
            n = shapely.get_num_geometries(repaired[j])
            kind = "nothing" if repaired[j].is_empty else repaired[j].geom_type
            msg[i] = Said("invalid_parts", "invalid geometry ({value}); a repair would turn "
                          "it into {kind} of {n} part(s), so it was not repaired: fix the "
                          "outline", value=reasons[j], kind=kind, n=n)
        else:
            msg[i] = Said("invalid_area", "invalid geometry ({value}); a repair would change "
                          "its area by {change:.0%}, so it was not repaired: fix the outline",
                          value=reasons[j], change=float(rel[j]))
    rep_mask = np.zeros(len(geoms), bool)
    rep_mask[idx[safe]] = True
    err_mask = np.zeros(len(geoms), bool)
    err_mask[idx[~safe]] = True
    out.rows(name, rep_mask, codes, "geometry", msg, "repaired")
    out.rows(name, err_mask, codes, "geometry", msg)
    return geoms


def _check_coordinates(
    name: str, geoms: np.ndarray, considered: np.ndarray, out: Collector, codes
) -> np.ndarray:
    """Report NaN and out-of-range coordinates; return the mask of geometries without them."""
    b = shapely.bounds(geoms)
    with np.errstate(invalid="ignore"):
        nan = considered & ~np.isfinite(b).all(axis=1)
        outside = considered & ~nan & ~(
            (b[:, 0] >= -180) & (b[:, 2] <= 180) & (b[:, 1] >= -90) & (b[:, 3] <= 90)
        )
        out.rows(name, nan, codes, "geometry", Said("nan", "coordinates are not numbers (NaN)"))
        out.rows(name, outside, codes, "geometry", Said(
            "out_of_range", "coordinates outside longitude −180…180 / latitude −90…90"))
        china = considered & ~nan & ~outside & (
            (b[:, 0] >= 73) & (b[:, 2] <= 136) & (b[:, 1] >= 3) & (b[:, 3] <= 54)
        )
        far = considered & ~nan & ~outside & ~china
        out.rows(name, far, codes, "geometry", Said(
            "outside_china", "outside China — swapped longitude/latitude or a wrong CRS?"),
            "warning")
    return ~(nan | outside)


# --------------------------------------------------------------------------------------------
# cross-layer checks


def _check_references(data: LayerSet, names: list[str], out: Collector) -> None:
    for name in names:
        s = spec(name)
        df = data[name]
        codes = df[s.key].to_numpy() if s.key and s.key in df else None
        for ref in s.references:
            if ref.column not in df or ref.layer not in data:
                continue  # the parent layer is not loaded: nothing to check against
            parent = spec(ref.layer)
            keys = data[ref.layer][parent.key]
            col = df[ref.column]
            present = col.notna().to_numpy()
            unknown = present & ~_keys.isin(col, keys)
            msg = np.empty(len(df), dtype=object)
            vals = col.astype("str").to_numpy()
            msg[unknown] = [not_a_code(v, ref.layer) for v in vals[unknown]]
            out.rows(name, unknown, codes, ref.column, msg)
            if ref.prefix and s.key:
                own = df[s.key]
                ok = present & own.notna().to_numpy()
                starts = np.zeros(len(df), bool)
                if ok.any():
                    a = np.asarray(own[ok].to_numpy(), dtype=np.dtypes.StringDType())
                    p = np.asarray(col[ok].to_numpy(), dtype=np.dtypes.StringDType())
                    starts[ok] = np.strings.startswith(a, p)
                wrong = ok & ~starts
                msg = np.empty(len(df), dtype=object)
                msg[wrong] = [Said("prefix", "{own} does not start with its {parent} {value!r} "
                                   "(codes are hierarchical)", own=s.key, parent=ref.column,
                                   value=v) for v in vals[wrong]]
                out.rows(name, wrong, codes, s.key, msg)


def _check_assignments(data: LayerSet, names: list[str], out: Collector) -> None:
    if "assignments" not in names:
        return
    a = data["assignments"]
    if not {"role", "target_code"} <= set(a.columns):
        return
    role = a["role"]
    target = a["target_code"]
    for r, layer in (("grid_sentinel", "grids"), ("building_member", "buildings")):
        if layer not in data or "code" not in data[layer]:
            continue  # not loaded: nothing to check against
        keys = data[layer]["code"]
        sel = (role == r).to_numpy() & target.notna().to_numpy()
        bad = sel & ~_keys.isin(target, keys)
        msg = np.empty(len(a), dtype=object)
        msg[bad] = [Said("target_unknown", "{role} points at {value!r}, which is not a code "
                         "in {layer}", role=r, value=v, layer=layer)
                    for v in target.astype("str").to_numpy()[bad]]
        out.rows("assignments", bad, None, "target_code", msg)
    if {"since", "until"} <= set(a.columns):
        order = (a["until"] < a["since"]).fillna(False).to_numpy(dtype=bool)
        out.rows("assignments", order, None, "until", Said("until_before_since",
                                                           "until is before since"))
    if {"active", "person_id"} <= set(a.columns):
        active = a["active"].astype(bool)
        dup = a[active & (role == "grid_sentinel")]
        many = dup["target_code"].duplicated(keep=False).to_numpy()
        if many.any():
            mask = np.zeros(len(a), bool)
            mask[np.flatnonzero((active & (role == "grid_sentinel")).to_numpy())[many]] = True
            out.rows("assignments", mask, None, "target_code", Said(
                "two_sentinels", "the grid has more than one active sentinel"), "warning")


def _check_tickets(data: LayerSet, names: list[str], out: Collector) -> None:
    if "tickets" not in names:
        return
    t = data["tickets"]
    if not {"status", "created_at", "closed_at", "id"} <= set(t.columns):
        return
    ids = t["id"].to_numpy()
    closed = t["status"].isin(CLOSED_STATUSES).to_numpy()
    no_close = closed & t["closed_at"].isna().to_numpy()
    out.rows("tickets", no_close, ids, "closed_at", Said("closed_needs_date",
                                                         "a closed ticket needs closed_at"))
    open_with = ~closed & t["closed_at"].notna().to_numpy()
    out.rows("tickets", open_with, ids, "closed_at", Said("open_has_date",
                                                          "an open ticket has a closed_at"))
    before = (t["closed_at"] < t["created_at"]).fillna(False).to_numpy(dtype=bool)
    out.rows("tickets", before, ids, "closed_at", Said("closed_before_created",
                                                       "closed_at is before created_at"))


def _check_tiling(data: LayerSet, settings: Settings, out: Collector) -> None:
    """Grids inside their community, no overlaps between grids, no gaps beyond tolerance."""
    grids = data["grids"]
    comms = data["communities"]
    need = {"code", "community_code", "geometry"}
    if not need <= set(grids.columns) or not {"code", "geometry"} <= set(comms.columns):
        return
    if len(comms) == 0:
        return
    ccodes = comms["code"].to_numpy()
    no_grids = ~_keys.isin(comms["code"], grids["community_code"])
    out.rows("communities", no_grids, ccodes, "geometry", Said(
        "no_grids", "community has no grids yet (partition it: `python -m layers partition "
        "STORE`)"), "warning")
    if len(grids) == 0:
        return
    g_ok = ~(shapely.is_missing(grids.geometry.values) | shapely.is_empty(grids.geometry.values))
    g_ok &= shapely.is_valid(grids.geometry.values)
    c_ok = ~(shapely.is_missing(comms.geometry.values) | shapely.is_empty(comms.geometry.values))
    c_ok &= shapely.is_valid(comms.geometry.values)
    bounds = grids.total_bounds
    metric = settings.metric_crs or _crs.metric_crs(tuple(bounds))
    gm = grids.geometry.to_crs(metric).to_numpy()
    cm = comms.geometry.to_crs(metric).to_numpy()
    comm_pos = pd.Series(np.arange(len(comms)), index=comms["code"].to_numpy())
    comm_pos = comm_pos[~comm_pos.index.duplicated()]
    pos = comm_pos.reindex(grids["community_code"].to_numpy()).to_numpy()
    has = g_ok & ~np.isnan(pos)
    has[has] &= c_ok[pos[has].astype(int)]
    codes = grids["code"].to_numpy()
    tol = settings.containment_tolerance_m
    # -- containment: grid within its community (buffered by the tolerance)
    gi = np.flatnonzero(has)
    ci = pos[gi].astype(int)
    ucomm, inv = np.unique(ci, return_inverse=True)
    buffered = shapely.buffer(cm[ucomm], tol)
    shapely.prepare(buffered)
    inside = shapely.covered_by(gm[gi], buffered[inv])
    if (~inside).any():
        bad = gi[~inside]
        outside_area = shapely.area(shapely.difference(gm[bad], cm[pos[bad].astype(int)]))
        msg = np.empty(len(grids), dtype=object)
        msg[bad] = [Said("sticks_out", "sticks out of its community by {value:,.0f} m²",
                         value=float(a)) for a in outside_area]
        mask = np.zeros(len(grids), bool)
        mask[bad] = True
        out.rows("grids", mask, codes, "geometry", msg)
    # -- overlaps between grids (any two, same community or not)
    tree = shapely.STRtree(gm[gi])
    pairs = []
    for pred in ("overlaps", "contains"):
        p = tree.query(gm[gi], predicate=pred)
        pairs.append(p[:, p[0] != p[1]])
    pair = np.unique(np.sort(np.concatenate(pairs, axis=1), axis=0), axis=1)
    overlap_by_comm = np.zeros(len(comms))
    if pair.size:
        a, b = gi[pair[0]], gi[pair[1]]
        inter = shapely.area(shapely.intersection(gm[a], gm[b]))
        big = inter > settings.tiling_tolerance_m2
        mask = np.zeros(len(grids), bool)
        msg = np.empty(len(grids), dtype=object)
        for x, y, ar in zip(a[big], b[big], inter[big], strict=True):
            mask[x] = True
            msg[x] = Said("overlaps", "overlaps grid {value} by {area:,.1f} m²",
                          value=codes[y], area=float(ar))
        out.rows("grids", mask, codes, "geometry", msg)
        same = pos[a] == pos[b]
        np.add.at(overlap_by_comm, pos[a][same].astype(int), inter[same])
    # -- gaps: community area not covered by its grids
    grid_area = pd.Series(shapely.area(shapely.intersection(gm[gi], cm[ci]))).groupby(ci).sum()
    c_area = shapely.area(cm)
    covered = np.zeros(len(comms))
    covered[grid_area.index.to_numpy()] = grid_area.to_numpy()
    covered -= overlap_by_comm
    gap = c_area - covered
    with_grids = np.zeros(len(comms), bool)
    with_grids[ucomm] = True
    gapmask = with_grids & (gap > settings.tiling_tolerance_m2) & (
        gap > 1e-9 * c_area)
    msg = np.empty(len(comms), dtype=object)
    msg[gapmask] = [Said("gap", "its grids leave {value:,.1f} m² uncovered (tolerance "
                         "{tolerance:g} m²)", value=float(g),
                         tolerance=settings.tiling_tolerance_m2) for g in gap[gapmask]]
    out.rows("communities", gapmask, ccodes, "geometry", msg)


# --------------------------------------------------------------------------------------------
# the integrity check of a store read: the file's shape and types, not its content


def check_integrity(
    data: LayerSet, *, source: str | None = None,
    columns: Mapping[str, Sequence[str]] | None = None,
) -> tuple[LayerSet, ValidationReport]:
    """The cheap check of layers read back from a store: what code reading them relies on.

    Data written by the store was fully validated when written (:func:`validate`); reading it
    back only checks that the file still has that shape, so a file edited outside the app
    (QGIS, sqlite3) fails with a clear report instead of deep inside an analysis:

    - every contract column present (a missing optional one is added as unknown, as
      :func:`validate` does);
    - values of the contract's kinds, returned with the dtypes :func:`validate` returns
      (``Int64``, ``bool``, ``datetime64[ms]``, ``str``); a value that cannot be read as its
      kind is an error;
    - required values present; keys unique;
    - a geometry column in EPSG:4326 (another CRS is reprojected, as :func:`validate` does),
      every geometry present and of an allowed type.

    Left to :func:`validate` (``Store.read(full_check=True)``, ``python -m layers validate``):
    geometry validity and coordinates, tiling and containment, enumerations, labels, minimums,
    phone formats, blank text, references between layers, assignment targets, ticket dates.

    Parameters
    ----------
    data
        Layers as read from a store. Its frames are not modified; columns that need no
        conversion are shared with the result, not copied.
    source
        The store, for messages.
    columns
        Layer name → the only columns read of it (``"geometry"`` among them when its geometry
        was read): the others are neither expected nor added.

    Returns
    -------
    (LayerSet, ValidationReport)
        The layers with the contract's dtypes, and the problems found.
    """
    report = ValidationReport(source=source)
    out = Collector(report)
    wanted = columns or {}
    checked = {name: _integrity_layer(name, data[name], out, wanted.get(name))
               for name in data}
    return LayerSet(checked, data.meta), report


def _integrity_layer(name: str, df: pd.DataFrame, out: Collector,
                     wanted: Sequence[str] | None) -> pd.DataFrame:
    """One layer's columns, key and geometry (see :func:`check_integrity`); only the
    ``wanted`` columns when given."""
    s = spec(name)
    fields = [f for f in s.fields if wanted is None or f.name in wanted]
    df = df.copy(deep=False)
    if not isinstance(df.index, pd.RangeIndex) or df.index.start != 0:
        df = df.reset_index(drop=True)

    def codes() -> np.ndarray | None:  # the keys, for messages: only built when one is needed
        return df[s.key].astype("str").to_numpy() if s.key and s.key in df else None

    for f in fields:
        if f.name not in df.columns:
            if f.nullable:  # optional: unknown, as validate() adds it
                df[f.name] = _coerce(pd.Series(None, index=df.index, dtype=object), f)[0]
            else:
                out.add(Problem(name, None, None, f.name, _COLUMN_MISSING))
            continue
        col = df[f.name]
        values = _as_stored(col, f)
        if values is None:  # not what the store writes: read it as validate() would
            values, missing, bad, what = _coerce(col, f)
            if bad.any():
                _report_bad(name, f, col, bad, what, codes(), out)
        else:
            missing = values.isna().to_numpy()
        if not f.nullable and missing.any():
            out.rows(name, missing, codes(), f.name, _VALUE_MISSING)
        df[f.name] = values
    if s.key and s.key in df.columns and any(f.name == s.key for f in fields) \
            and not _unique(df[s.key]):
        keys = df[s.key]
        dup = keys.duplicated(keep=False).to_numpy() & keys.notna().to_numpy()
        out.rows(name, dup, codes(), s.key, f"{s.key} is not unique")
    if s.geometry is not None and (wanted is None or "geometry" in wanted):
        df = _integrity_geometry(name, df, s, out, codes)
    return df


def _unique(keys: pd.Series) -> bool:
    """True when no two rows share a key (missing keys aside): one comparison pass when the
    keys are strictly increasing (as generated stores hold them), else one hash of them."""
    arr = _keys.strings(keys)
    if arr.null_count:
        arr = arr.drop_null()
    n = len(arr)
    if n < 2 or pc.all(pc.less(arr.slice(0, n - 1), arr.slice(1))).as_py():
        return True
    return len(pc.unique(arr)) == n


def _as_stored(col: pd.Series, f: Field) -> pd.Series | None:
    """``col`` with the contract's dtype when its dtype is one the store writes for ``f.kind``
    (no value needs reading), else None."""
    d = col.dtype
    if f.kind == "str":
        return col if d == "str" else None
    if f.kind == "int":
        if isinstance(d, pd.Int64Dtype):
            return col
        return col.astype("Int64") if d.kind in "iu" else None
    if f.kind == "float":
        return col if d == np.float64 else None
    if f.kind == "bool":
        return col if d == np.bool_ else None
    if f.kind == "datetime":
        return col if d == np.dtype("datetime64[ms]") else None
    raise AssertionError(f.kind)  # pragma: no cover


def _integrity_geometry(name: str, df: pd.DataFrame, s: LayerSpec, out: Collector,
                        codes: Callable[[], np.ndarray | None]) -> pd.DataFrame:
    """Geometry column, CRS, presence and type (no validity, no coordinates)."""
    assert s.geometry is not None  # only layers with geometry are checked here
    if not isinstance(df, gpd.GeoDataFrame) or df.geometry.name not in df \
            or df.crs is None or not df.crs.equals("EPSG:4326"):
        # unlike what the store writes: validate()'s column-level geometry check, which
        # reports a missing column or CRS and reprojects another CRS
        return _check_geometry(name, df, s, DEFAULT_SETTINGS, out, codes(), False)
    types = shapely.get_type_id(df.geometry.to_numpy())
    missing = types < 0
    if missing.any():
        out.rows(name, missing, codes(), "geometry", "geometry is missing")
    allowed = np.zeros(8, bool)
    allowed[[_TYPE_ID[t] for t in s.geometry]] = True
    bad = ~missing & ~allowed[np.clip(types, 0, 7)]
    if bad.any():
        names = np.array(_TYPE_NAMES, dtype=object)[types[bad]]
        msg = np.empty(len(df), dtype=object)
        msg[bad] = [_geometry_type(t, s.geometry) for t in names]
        out.rows(name, bad, codes(), "geometry", msg)
    return df


# --------------------------------------------------------------------------------------------
# set-up: what a store still lacks before every command accepts it

#: What to run when a layer is still empty or missing; ``{store}`` is the store's path.
SETUP_HINTS: dict[str, str] = {
    "towns": "create the store with `python -m layers new {store} --osm EXTRACT` or import "
             "a boundary: `python -m layers import {store} FILE --layer towns`",
    "communities": "import them: `python -m layers import {store} FILE --layer communities` "
                   "(or `python -m layers new {store} --osm EXTRACT --communities FILE`)",
    "grids": "run `python -m layers partition {store}`",
    "buildings": "import them: `python -m layers import {store} FILE --layer buildings` (a "
                 "buildings file or an OSM extract), then `python -m layers partition {store}`",
    "people": "import the register: `python -m layers import {store} FILE --layer people`",
    "assignments": "import them: `python -m layers import {store} FILE --layer assignments`, "
                   "or `python -m layers assign {store} …`",
    "care_points": "import them: `python -m layers import {store} FILE --layer care_points`",
    "parking": "import them: `python -m layers import {store} FILE --layer parking`",
    "tickets": "the store was not made by `python -m layers new` or `demo`: write it again "
               "with them",
}
#: Layers every command needs rows in; the others may be empty (an empty register, no
#: tickets yet) and only get a warning.
SETUP_REQUIRED_ROWS = ("towns", "communities", "grids", "buildings")


def readiness(data: LayerSet, store: str = "STORE") -> list[Problem]:
    """What a store in the middle of set-up still lacks, as problems: errors for what every
    command needs (each required layer, towns, communities, grids, buildings, a grid for every
    community), warnings for what may stay empty for a while (people, assignments, care
    points, parking). Each message says what to run next.

    Parameters
    ----------
    data
        The store's layers as they are (absent layers are absent from ``data``).
    store
        The store's path, for the commands in the messages.
    """
    out: list[Problem] = []
    for name in REQUIRED_LAYERS:
        hint = SETUP_HINTS[name].format(store=store)
        if name not in data:
            out.append(Problem(name, None, None, None, f"layer missing — {hint}"))
        elif len(data[name]) == 0 and name != "tickets":
            severity: Severity = "error" if name in SETUP_REQUIRED_ROWS else "warning"
            out.append(Problem(name, None, None, None, f"none yet — {hint}", severity))
    comms, grids = data["communities"], data["grids"]
    if len(comms) and len(grids) and {"code"} <= set(comms) and "community_code" in grids:
        bare = comms["code"][~_keys.isin(comms["code"], grids["community_code"])]
        if len(bare):
            shown = ", ".join(map(str, bare.head(ROWS_LISTED)))
            more = " …" if len(bare) > ROWS_LISTED else ""
            out.append(Problem("grids", None, None, "community_code",
                               f"{len(bare)} communit{'y has' if len(bare) == 1 else 'ies have'}"
                               f" no grids yet ({shown}{more}) — "
                               f"{SETUP_HINTS['grids'].format(store=store)}"))
    return out
