"""Bring real data in: shapefiles (often GBK, often CGCS2000 Gauss-Krüger), CSV and Excel lists
from web maps (GCJ-02 / BD-09, headers like 经度/纬度/名称), GeoJSON and GeoPackage, and local
OpenStreetMap extracts for buildings, roads, care points and parking (read by :mod:`layers.osm`:
households for homes only, unknown capacities and fees left unknown; the attribution is kept
in the store's metadata).

:func:`read_source` reads a file into a frame of the layer contract (columns mapped by the
headers staff use, coordinates converted to WGS-84) and a report of what it did and what is
wrong, row by row, numbered as the file numbers them (the line of a CSV or Excel file, whose
header is line 1; the feature of a vector file); :func:`import_file` then completes what the
file leaves out (:mod:`layers.derive`: unknown optional columns, parents by location, codes,
households), validates it together with the store and writes it atomically (``replace`` or
``append``). A file with any invalid row is refused as a whole — with every kind of problem
found, the store's checks included — and the store is exactly as before. Enumerations accept
codes, labels and synonyms (:mod:`layers.labels`); ``people`` and ``assignments`` registers go
through :mod:`layers.people_io`.

An append is merged with the layer as it is *when written*: :func:`import_file` hands the merge
to :meth:`~layers.store.GeoPackageStore.transform`, which runs it (and the whole-store
validation) under the store's write lock, so concurrent imports never lose each other's rows;
:func:`check_file` is the dry run used for previews.

Imported files are bounded by :class:`~layers.settings.Settings`: rows per file
(``max_import_rows``), vertices per geometry (``max_vertices_per_geometry``, one check for every
format) and text length (``max_name_length``, ``max_text_length``). Features that land outside
the store's area after conversion to WGS-84 (``region_margin_km`` around its communities and
towns, or China for a store without any) are refused unless ``force_outside_region``.
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import re
import threading
import unicodedata
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from . import crs as lcrs
from . import derive
from . import osm as _osm
from .auth.principal import Principal
from .errors import LayersError, LayerValidationError
from .layerset import LayerSet
from .osm import OSM_ATTRIBUTION, is_osm
from .schema import LayerSpec, spec
from .settings import DEFAULT_SETTINGS, Settings
from .validate import (
    Collector,
    Problem,
    Said,
    Severity,
    Unit,
    ValidationReport,
    not_a_code,
    validate,
)


class ImportFileError(LayersError):
    """The file cannot be read (missing, empty, truncated, malformed, unknown format) or is
    too big (more rows than ``Settings.max_import_rows``).

    The message (for the CLI and the server log) names the file and the reader's details;
    ``reason`` says why in one word a page can say in the user's language (``unreadable``,
    ``empty``, ``no_rows``, ``format``, ``zip``, ``zip_no_shp``, ``shapefile_parts``,
    ``json``, ``excel``, ``csv``,
    ``encoding``, ``too_many_rows``, ``no_lonlat``, ``no_crs``, ``osm_layer``, ``osm_none``,
    ``osm``, ``missing``), with ``values`` (limits, counts, layer names: never the path)."""

    def __init__(self, message: str, reason: str = "unreadable", **values: object) -> None:
        super().__init__(message)
        self.reason = reason
        self.values = values


#: Common Chinese (and English) headers → contract columns, for every layer; compared after
#: :func:`_header_key` (NFKC, no spaces, lower case, a trailing unit in brackets dropped).
DEFAULT_HEADERS: dict[str, str] = {
    "经度": "lon", "lng": "lon", "longitude": "lon", "x": "lon", "lon": "lon",
    "纬度": "lat", "latitude": "lat", "y": "lat", "lat": "lat",
    "名称": "name", "名字": "name", "姓名": "name", "建筑名称": "name", "楼栋名称": "name",
    "编码": "code", "代码": "code", "编号": "code", "id": "code",
    "类型": "kind", "类别": "kind", "容量": "capacity", "床位": "capacity", "车位": "capacity",
    "户数": "households", "人口": "population", "层数": "floors", "建成年份": "year_built",
    "网格编码": "grid_code", "社区编码": "community_code", "镇街编码": "town_code",
    "电梯": "has_elevator", "改造状态": "renovation", "收费": "fee",
}
#: Headers whose meaning depends on the layer (网格编码 is a grid's own code in ``grids``, its
#: parent in ``buildings``); these win over :data:`DEFAULT_HEADERS`.
LAYER_HEADERS: dict[str, dict[str, str]] = {
    "towns": {"镇街名称": "name", "镇名": "name", "街道名称": "name", "镇街编码": "code",
              "镇街代码": "code", "总户数": "households", "常住人口": "population"},
    "communities": {"社区名称": "name", "村名": "name", "社区编码": "code", "社区代码": "code",
                    "村编码": "code", "所属镇街": "town_code", "镇街代码": "town_code",
                    "社区类型": "kind", "总户数": "households", "常住人口": "population"},
    "grids": {"网格名称": "name", "网格编码": "code", "网格代码": "code",
              "所属社区": "community_code", "社区代码": "community_code"},
    "buildings": {"楼栋编码": "code", "楼栋代码": "code", "楼号": "name", "楼栋": "name",
                  "所属网格": "grid_code", "网格代码": "grid_code", "住户数": "households",
                  "总户数": "households", "楼层": "floors", "楼层数": "floors",
                  "总层数": "floors", "建成年代": "year_built", "建筑年代": "year_built",
                  "竣工年份": "year_built", "有无电梯": "has_elevator",
                  "是否有电梯": "has_elevator", "改造情况": "renovation",
                  "老旧小区改造": "renovation"},
    "care_points": {"机构名称": "name", "服务点名称": "name", "机构类型": "kind",
                    "床位数": "capacity", "托位": "capacity", "托位数": "capacity"},
    "parking": {"停车场名称": "name", "车位数": "capacity", "泊位": "capacity",
                "泊位数": "capacity", "收费标准": "fee", "停车类型": "kind"},
    "roads": {"道路名称": "name", "路名": "name", "道路等级": "kind", "等级": "kind",
              "fclass": "kind", "highway": "kind"},
}
#: Headers of people and assignments registers (:mod:`layers.people_io`).
_REGISTER_HEADERS = {
    "姓名": "name", "名字": "name", "电话": "phone", "手机": "phone", "手机号": "phone",
    "手机号码": "phone", "联系电话": "phone", "联系方式": "phone",
    "党员": "is_party_member", "是否党员": "is_party_member", "政治面貌": "is_party_member",
    "楼栋编码": "home_building_code", "楼栋代码": "home_building_code",
    "住址楼栋": "home_building_code", "住址楼栋编码": "home_building_code",
    "住址": "address", "地址": "address", "家庭住址": "address", "居住地址": "address",
    "现住址": "address", "人员编号": "person_id", "编号": "person_id", "id": "person_id",
    "角色": "role", "职责": "role", "岗位": "role", "职务": "role",
    "负责网格/楼栋": "target_code", "负责网格": "target_code", "负责楼栋": "target_code",
    "负责对象": "target_code", "责任网格": "target_code", "责任楼栋": "target_code",
    "负责区域": "target_code", "起始日期": "since", "任职日期": "since", "开始日期": "since",
    "上岗日期": "since", "结束日期": "until", "离任日期": "until",
}
LAYER_HEADERS.update({"people": _REGISTER_HEADERS, "assignments": _REGISTER_HEADERS})

_CSV = {".csv", ".txt"}
_EXCEL = {".xlsx", ".xls"}
_VECTOR = {".shp", ".geojson", ".json", ".gpkg", ".zip"}
_GEOJSON = {".geojson", ".json"}
#: The format a suffix promises, for messages.
_FORMATS = {".gpkg": "GeoPackage", ".geojson": "GeoJSON", ".json": "GeoJSON",
            ".shp": "Shapefile", ".zip": "Shapefile"}

#: China's rough bounding box (lon, lat): the area of a store that has no communities or towns.
CHINA_BOUNDS = (73.0, 3.0, 136.0, 54.0)
#: Long free-text columns, bounded by ``max_text_length``; other text by ``max_name_length``.
_LONG_TEXT = {("tickets", "text")}
#: Registers: imported row by row into the store with change-log entries (:mod:`people_io`).
REGISTER_LAYERS = ("people", "assignments")
#: GDAL configuration options are process-wide: one reader at a time changes them.
_GDAL_CONFIG_LOCK = threading.Lock()


@dataclass
class ImportResult:
    """What an import read, changed and found."""

    layer: str
    rows: int
    frame: pd.DataFrame
    report: ValidationReport
    notes: list[str] = field(default_factory=list)
    #: the file's own rows, converted (``frame`` is the whole layer as it would be stored)
    file_rows: pd.DataFrame | None = None


def _problem(source: str, row: int | None, column: str | None, message: str,
             severity: Severity = "error") -> Problem:
    return Problem(source, row, None, column, message, severity)


@dataclass
class _FileRows:
    """A file's rows as read (columns named, WGS-84), with how the file numbers them.

    ``lines[i]`` is the file's own number of frame row ``i``: its line in a CSV or Excel file
    (the header is line 1) or its feature number in a vector file (``unit``). Problems are
    collected with ``row`` = frame position + 1 and renumbered by :meth:`renumber`."""

    frame: pd.DataFrame
    lines: np.ndarray
    unit: Unit
    source: str
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: (row, field, message) of problems not reported again (said another way already)
    hidden: set[tuple[int | None, str | None, str]] = field(default_factory=set)
    #: each row's id in the file where its number alone does not find it (an OSM extract's
    #: ``n…``/``w…``/``r…`` ids: "feature N" counts the features read for the layer)
    ids: np.ndarray | None = None

    def keep(self, kept: np.ndarray, frame: pd.DataFrame) -> None:
        """Rows left out or split after reading: ``kept[i]`` is the frame row (as read) that
        row ``i`` of the new ``frame`` comes from."""
        self.frame = frame
        self.lines = self.lines[kept]
        if self.ids is not None:
            self.ids = self.ids[kept]

    def renumber(self, problems: list[Problem], offset: int = 0) -> list[Problem]:
        """``problems`` of the file's rows (positions ``offset`` + 1 …, e.g. after the rows
        already in the layer) as the file's own lines or features, named by the file."""
        out = []
        for p in problems:
            row, code = p.row, p.code
            if row is not None:
                if self.ids is not None and code is None:
                    code = str(self.ids[row - offset - 1])
                row = int(self.lines[row - offset - 1])
            out.append(replace(p, layer=self.source, row=row, unit=self.unit, code=code))
        return out


def _too_many_rows(path: Path, count: int | None, limit: int) -> ImportFileError:
    held = f"{count:,} rows" if count is not None else f"more than {limit:,} rows"
    return ImportFileError(f"{path}: the file holds {held}, more than the limit of {limit:,} "
                           "rows per import (max_import_rows); split it into smaller files",
                           "too_many_rows", limit=limit)


def _count_csv_rows(path: Path, encoding: str) -> int:
    """Data rows of a CSV (quoted line breaks understood, blank lines skipped as pandas does),
    streamed: only called for a file already known to be over the limit."""
    with open(path, encoding=encoding, newline="", errors="replace") as fh:
        return sum(1 for row in csv.reader(fh) if row) - 1


def _count_excel_rows(path: Path) -> int | None:
    try:
        import openpyxl

        wb = openpyxl.load_workbook(path, read_only=True)
        try:
            n = wb.worksheets[0].max_row
        finally:
            wb.close()
    except Exception:  # .xls, or a sheet without dimensions: the count stays unknown
        return None
    return None if n is None else n - 1


def _excel_header_row(path: Path) -> int:
    """The sheet row (0-based) of an Excel file's header: its first row holding anything."""
    try:
        import openpyxl

        wb = openpyxl.load_workbook(path, read_only=True)
        try:
            for i, row in enumerate(wb.worksheets[0].iter_rows(values_only=True)):
                if any(v is not None and str(v).strip() for v in row):
                    return i
        finally:
            wb.close()
    except Exception:  # .xls (xlrd) or an odd sheet: pandas' own first row
        return 0
    return 0


def _csv_lines(path: Path, encoding: str) -> list[int]:
    """The line each data record of a CSV starts on (the header is line 1 when it is the
    first line), skipping blank lines as pandas does; quoted line breaks understood."""
    starts: list[int] = []
    with open(path, encoding=encoding, newline="", errors="replace") as fh:
        reader = csv.reader(fh)
        previous, header = 0, True
        for row in reader:
            start, previous = previous + 1, reader.line_num
            if not any(v.strip() for v in row):
                continue  # blank line: pandas skips it
            if header:
                header = False
                continue
            starts.append(start)
    return starts


def _read_table(path: Path, encoding: str | None, max_rows: int
                ) -> tuple[pd.DataFrame, np.ndarray, str]:
    """A CSV or Excel sheet as text columns, rows that hold nothing dropped, and each row's
    line in the file (header = line 1); at most ``max_rows`` rows are accepted and no more
    than one row beyond is read."""
    if path.suffix.lower() in _EXCEL:
        head = _excel_header_row(path)
        try:
            df = pd.read_excel(path, dtype=str, nrows=max_rows + 1, header=head)
        except Exception as exc:  # openpyxl raises several kinds for broken files
            raise ImportFileError(f"{path}: not a readable Excel file ({exc})",
                                  "excel") from exc
        if len(df) > max_rows:
            raise _too_many_rows(path, _count_excel_rows(path), max_rows)
        lines = np.arange(len(df)) + head + 2  # pandas keeps blank rows inside the sheet
        return *_drop_blank(df, lines), "xlsx"
    for enc in ([encoding] if encoding else ["utf-8-sig", "gb18030"]):
        try:
            df = pd.read_csv(path, dtype=str, encoding=enc, nrows=max_rows + 1)
            if len(df) > max_rows:
                raise _too_many_rows(path, _count_csv_rows(path, enc), max_rows)
            starts = _csv_lines(path, enc)
            lines = np.asarray(starts) if len(starts) == len(df) else np.arange(len(df)) + 2
            return *_drop_blank(df, lines), enc
        except UnicodeDecodeError:
            continue
        except pd.errors.EmptyDataError as exc:
            raise ImportFileError(f"{path}: the file is empty", "empty") from exc
        except pd.errors.ParserError as exc:
            raise ImportFileError(f"{path}: malformed CSV ({exc})", "csv") from exc
    raise ImportFileError(f"{path}: text is neither UTF-8 nor GBK/GB18030; pass --encoding",
                          "encoding")


def _drop_blank(df: pd.DataFrame, lines: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
    """Rows holding nothing (empty spreadsheet rows, lines of commas) left out."""
    if df.empty or not len(df.columns):
        return df, lines
    blank = df.apply(lambda c: c.isna() | (c.astype("string").str.strip() == "")).all(axis=1)
    keep = ~blank.fillna(True).to_numpy(dtype=bool)
    if keep.all():
        return df, lines
    return df[keep].reset_index(drop=True), lines[keep]


def _looks_garbled(df: pd.DataFrame) -> bool:
    text = df.select_dtypes(include=["object", "string", "str"])
    sample = "".join(text.head(200).astype(str).to_numpy().ravel().tolist())
    return "\ufffd" in sample or any(ch in sample for ch in "ÃÂÐÑÖ×Ø")


@contextlib.contextmanager
def _geojson_unbounded() -> Iterator[None]:
    """Lift GDAL's own cap on one GeoJSON feature's size (``OGR_GEOJSON_MAX_OBJ_SIZE``).

    With it, a huge polygon was refused from GeoJSON with GDAL's message but accepted from a
    GeoPackage or shapefile, which have no such cap. ``max_vertices_per_geometry`` is now the
    one limit for every format (the whole GeoJSON text has been parsed by ``json`` already).
    """
    name = "OGR_GEOJSON_MAX_OBJ_SIZE"
    with _GDAL_CONFIG_LOCK:
        old = pyogrio.get_gdal_config_option(name)
        pyogrio.set_gdal_config_options({name: "0"})
        try:
            yield
        finally:
            pyogrio.set_gdal_config_options({name: None if old is None else str(old)})


def _feature_count(target: Path | str, doc: object) -> int | None:
    """Features in a vector file without reading them: the parsed GeoJSON's list, else
    GDAL's count (cheap for GeoPackage and shapefiles); ``None`` when unknown."""
    if isinstance(doc, dict):
        feats = doc.get("features")
        return len(feats) if doc.get("type") == "FeatureCollection" and isinstance(
            feats, list) else 1
    try:
        n = int(pyogrio.read_info(target, force_feature_count=True)["features"])
    except pyogrio.errors.DataSourceError as exc:
        suffix = Path(str(target)).suffix.lower()
        raise ImportFileError(f"{target}: cannot be read ({exc})", "unreadable",
                              format=_FORMATS.get(suffix, suffix)) from exc
    return n if n >= 0 else None


def _shapefile_parts(path: Path, shp: str, names: set[str]) -> None:
    """A shapefile needs its ``.shx`` (the index) and ``.dbf`` (the attributes) beside the
    ``.shp``: without the ``.dbf`` GDAL reads outlines without a single column."""
    stem = shp[:-4]
    lower = {n.lower() for n in names}
    lost = [ext for ext in (".shx", ".dbf") if f"{stem}{ext}".lower() not in lower]
    if lost:
        raise ImportFileError(f"{path}: the shapefile {shp} lacks {', '.join(lost)} (a "
                              "shapefile is several files: zip them together)",
                              "shapefile_parts", parts=", ".join(lost))


def _read_vector(path: Path, encoding: str | None, max_rows: int
                 ) -> tuple[gpd.GeoDataFrame, str | None]:
    """A vector file; more than ``max_rows`` features are refused before any is read."""
    suffix = path.suffix.lower()
    target: Path | str = path
    if suffix == ".zip":
        try:
            with zipfile.ZipFile(path) as z:
                shp = [n for n in z.namelist() if n.lower().endswith(".shp")]
        except zipfile.BadZipFile as exc:
            raise ImportFileError(f"{path}: not a readable zip archive (truncated?)",
                                  "zip") from exc
        if not shp:
            raise ImportFileError(f"{path}: the zip holds no .shp file", "zip_no_shp")
        _shapefile_parts(path, shp[0], set(z.namelist()))
        target = f"/vsizip/{path}/{shp[0]}"
    elif suffix == ".shp":
        _shapefile_parts(path, path.name, {p.name for p in path.parent.iterdir()})
    doc: object = None
    if suffix in _GEOJSON:
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise ImportFileError(f"{path}: malformed JSON ({exc})", "json") from exc
    count = _feature_count(target, doc)
    if count is not None and count > max_rows:
        raise _too_many_rows(path, count, max_rows)
    del doc
    has_cpg = suffix == ".shp" and path.with_suffix(".cpg").exists()
    guard = _geojson_unbounded() if suffix in _GEOJSON else contextlib.nullcontext()

    def read(enc: str | None) -> gpd.GeoDataFrame:
        kw = {"encoding": enc} if enc else {}
        df = pyogrio.read_dataframe(target, max_features=max_rows + 1, **kw)
        if len(df) > max_rows:  # the driver could not count beforehand
            raise _too_many_rows(path, None, max_rows)
        return df

    try:
        with guard:
            if encoding:
                return read(encoding), encoding
            df = read(None)
            if suffix in (".shp", ".zip") and not has_cpg and _looks_garbled(df):
                # no .cpg and garbled text: Chinese offices' shapefiles are usually GBK
                return read("GB18030"), "GB18030 (detected)"
            return df, "from .cpg" if has_cpg else None
    except pyogrio.errors.DataSourceError as exc:
        raise ImportFileError(f"{path}: cannot be read ({exc})", "unreadable",
                              format=_FORMATS.get(suffix, suffix)) from exc


def read_source(path: str | os.PathLike[str], layer: str, *, crs: str | None = None,
                encoding: str | None = None, mapping: Mapping[str, str] | None = None,
                settings: Settings = DEFAULT_SETTINGS
                ) -> tuple[pd.DataFrame, list[Problem], list[str]]:
    """Read a file into the shape of ``layer``.

    Returns
    -------
    (frame, problems, notes)
        ``problems`` name the file, the row as the file numbers it (:attr:`Problem.unit`: the
        line of a CSV or Excel file, whose header is line 1; the feature of a vector file),
        the column and what is wrong (NaN or swapped coordinates, unreadable numbers, text or
        geometries over the limits of ``settings``; such a geometry is left out of
        ``frame``); ``notes`` say what was done (encoding, CRS conversion, column mapping).

    Raises
    ------
    ImportFileError
        The file cannot be read, or holds more rows than ``settings.max_import_rows``.
    """
    rows = _read_rows(path, layer, crs=crs, encoding=encoding, mapping=mapping,
                      settings=settings)
    return rows.frame, rows.problems, rows.notes


def _header_key(name: object) -> str:
    """A header as compared: NFKC (full-width → half-width), no spaces, lower case, a
    trailing unit in brackets dropped (``收费（元/小时）`` → ``收费``)."""
    key = re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(name))).lower()
    return re.sub(r"\([^()]*\)$", "", key) or key


def _rename(df: pd.DataFrame, s: LayerSpec, mapping: Mapping[str, str] | None,
            notes: list[str]) -> pd.DataFrame:
    """Column names: the explicit mapping first, then contract names as they are, then the
    layer's headers, then the common ones; a second column for the same field is kept
    under its own name (and said)."""
    own = LAYER_HEADERS.get(s.name, {})
    rename: dict[object, str] = {}
    taken = {str(c).strip() for c in df.columns} & set(s.columns)
    for col in df.columns:
        raw = str(col).strip()
        key = _header_key(col)
        if mapping and raw in mapping:
            target = mapping[raw]
        elif raw in s.columns:
            continue
        else:
            target = own.get(key) or DEFAULT_HEADERS.get(key) or ""
        if not target or target == raw:
            continue
        if target in taken:
            notes.append(Said("column_unused", "column {value} not used: {field} comes from "
                              "another column", value=raw, field=target))
            continue
        rename[col] = target
        taken.add(target)
    if rename:
        df = df.rename(columns=rename)
        pairs = ", ".join(f"{a}→{b}" for a, b in rename.items())
        notes.append(Said("columns", "columns: {pairs}", pairs=pairs))
    return df


def _read_rows(path: str | os.PathLike[str], layer: str, *, crs: str | None,
               encoding: str | None, mapping: Mapping[str, str] | None,
               settings: Settings, grids: object = None) -> _FileRows:
    """:func:`read_source` as :class:`_FileRows`: the rows, the file's numbering, problems
    (already renumbered) and notes. ``grids`` is not used (OSM buildings are placed in the
    store's grids by :func:`layers.derive.complete`, like any file's); accepted for callers
    that still pass it."""
    del grids
    p = Path(path)
    s = spec(layer)
    if not p.exists():
        raise ImportFileError(f"{p}: no such file", "missing")
    if p.stat().st_size == 0:
        raise ImportFileError(f"{p}: the file is empty", "empty")
    suffix = p.suffix.lower()
    notes: list[str] = []
    unit: Unit = "feature"
    if is_osm(p):
        df, notes = _read_osm_layer(p, layer, settings)
        lines = np.arange(len(df)) + 1
        if len(df) > settings.max_import_rows:
            raise _too_many_rows(p, len(df), settings.max_import_rows)
    elif suffix in _CSV or suffix in _EXCEL:
        df, lines, text = _read_table(p, encoding, settings.max_import_rows)
        notes.append(Said("read_table", "read as {encoding}; rows numbered as the file's lines "
                          "(header = line 1)", encoding=text))
        unit = "line"
    elif suffix in _VECTOR:
        df, venc = _read_vector(p, encoding, settings.max_import_rows)
        lines = np.arange(len(df)) + 1
        notes.append(Said("read_vector", "rows numbered as the file's features (the first "
                          "is 1)"))
        if venc:
            notes.append(Said("text_encoding", "text encoding {encoding}", encoding=venc))
    else:
        raise ImportFileError(f"{p}: unknown format {suffix!r} (CSV, Excel, shapefile, zip, "
                              "GeoJSON, GeoPackage or OSM)", "format")
    if len(df) == 0:
        raise ImportFileError(f"{p}: the file holds no rows", "no_rows")
    if not is_osm(p):
        df = _rename(df, s, mapping, notes)
    rows = _FileRows(df, lines, unit, str(p), notes=notes,
                     ids=df["osm_id"].to_numpy() if is_osm(p) and "osm_id" in df else None)
    problems: list[Problem] = []
    rows.frame, _ = _apply_limits(df, s, rows.source, settings, problems)
    lonlat = {"lon", "lat"} <= set(rows.frame.columns)
    if s.geometry is not None and not isinstance(rows.frame, gpd.GeoDataFrame) and (
            lonlat or layer not in REGISTER_LAYERS):  # people may live in a building instead
        rows.frame = _points_from_columns(rows.frame, rows.source, problems)
    if isinstance(rows.frame, gpd.GeoDataFrame) and not is_osm(p):
        rows.frame = _to_wgs84(rows.frame, crs, rows.source, notes, problems)
    rows.problems = rows.renumber(problems)
    return rows


#: What an OSM extract can fill, and how (:mod:`layers.osm`).
_OSM_LAYERS = ("buildings", "roads", "care_points", "parking")


def _read_osm_layer(p: Path, layer: str, settings: Settings
                    ) -> tuple[pd.DataFrame, list[str]]:
    """An OSM extract's features for ``layer``, read by :mod:`layers.osm` (offline):
    buildings with names, floors and households (residential ones only, by the rule of
    ``Settings``), left without ``code`` and ``grid_code`` for :func:`layers.derive.complete`
    to place them in the store's grids; the walkable roads; child and elder care points;
    car parks with their public capacity and fee as far as the tags tell."""
    if layer not in _OSM_LAYERS:
        raise ImportFileError(f"{p}: OSM files can fill {', '.join(_OSM_LAYERS)}, "
                              f"not {layer}", "osm_layer", layers=_OSM_LAYERS)
    try:
        f = _osm.read_features(p)
    except _osm.OsmError as exc:
        raise ImportFileError(str(exc), "osm") from exc
    notes: list[str] = []
    df: pd.DataFrame
    if layer == "buildings":
        df, dropped = _osm.buildings(f, settings)
        source = df["households_source"].value_counts()
        notes.append(Said("osm_buildings", "{n} OSM building(s): households from tags for "
                          "{tag}, estimated (footprint × levels) for {estimate}, 0 for "
                          "{other} non-residential", n=len(df),
                          tag=int(source.get("tag", 0)), estimate=int(source.get("estimate", 0)),
                          other=int(source.get("non_residential", 0))))
        if len(dropped):
            notes.append(Said("osm_no_outline", "{n} OSM building(s) without an outline "
                              "(mapped as a point or line) left out", n=len(dropped)))
    elif layer == "roads":
        df = _osm.roads(f)
        notes.append(Said("osm_roads", "{n} walkable OSM way part(s) for roads", n=len(df)))
    elif layer == "care_points":
        df = _osm.care_points(f, settings)
        notes.append(Said("osm_care", "{n} OSM care point(s); capacity unknown for {unknown}",
                          n=len(df), unknown=int((~df["capacity_known"]).sum())))
    else:
        df = _osm.parking(f, settings)
        notes.append(Said("osm_parking", "{n} OSM car park(s), {private} private (not public "
                          "supply)", n=len(df), private=int((~df["public"]).sum())))
    notes.append(Said("osm_attribution", "attribution kept: {text}", text=OSM_ATTRIBUTION))
    if len(df) == 0:
        raise ImportFileError(f"{p}: no OSM features for {layer} ({'; '.join(notes)})",
                              "osm_none", layer=layer)
    return df, notes


def _row_problems(src: str, mask: np.ndarray, column: str, key: str, template: str,  # noqa: PLR0913
                  values: np.ndarray, **args: object) -> list[Problem]:
    """One problem per flagged row (numbered by position, 1 = first), the message being
    ``template.format(value=values[row])`` (said as ``key`` with ``args``), capped like the
    validator's listings."""
    report = ValidationReport()
    msg = np.empty(len(mask), dtype=object)
    idx = np.flatnonzero(mask)
    msg[idx] = [Said.text(key, template.format(value=values[i]), value=values[i], **args)
                for i in idx]
    Collector(report).rows(src, mask, None, column, msg)
    return report.problems


def _apply_limits(df: pd.DataFrame, s: LayerSpec, src: str, settings: Settings,
                  problems: list[Problem]) -> tuple[pd.DataFrame, bool]:
    """Check text lengths and vertex counts (whatever the format); geometries over the cap
    are reported and left out. Returns the frame and whether any geometry was left out.

    Text values are never quoted (some columns are personal data), only their length.
    """
    for f in s.fields:
        if f.kind != "str" or f.name not in df.columns:
            continue
        long_text = (s.name, f.name) in _LONG_TEXT
        cap = settings.max_text_length if long_text else settings.max_name_length
        what = "max_text_length" if long_text else "max_name_length"
        col = df[f.name]
        if isinstance(col, pd.DataFrame):  # two source columns mapped to one name
            col = col.iloc[:, 0]
        lengths = col.astype("string").str.len().fillna(0).to_numpy(dtype=np.int64)
        problems += _row_problems(src, lengths > cap, f.name, "too_long",
                                  f"{{value}} characters, more than the limit of {cap} ({what})",
                                  lengths, limit=cap)
    if not isinstance(df, gpd.GeoDataFrame):
        return df, False
    cap = settings.max_vertices_per_geometry
    geoms = df.geometry.to_numpy()
    counts = shapely.get_num_coordinates(geoms)
    over = counts > cap
    problems += _row_problems(src, over, "geometry", "too_many_vertices",
                              f"{{value}} vertices, more than the limit of {cap} "
                              "(max_vertices_per_geometry); simplify it", counts, limit=cap)
    if not over.any():
        return df, False
    df = df.copy()
    df[df.geometry.name] = gpd.GeoSeries(np.where(over, None, geoms), index=df.index,
                                         crs=df.crs)
    return df, True


def _points_from_columns(df: pd.DataFrame, src: str, problems: list[Problem]
                         ) -> gpd.GeoDataFrame:
    if not {"lon", "lat"} <= set(df.columns):
        raise ImportFileError(f"{src}: no geometry and no longitude/latitude columns "
                              "(经度/纬度, lon/lat); map them with --map 列名=lon", "no_lonlat")
    lon = pd.to_numeric(df["lon"], errors="coerce")
    lat = pd.to_numeric(df["lat"], errors="coerce")
    bad = (lon.isna() | lat.isna()).to_numpy()
    raw = np.array([f"{a!r}, {b!r}" for a, b in zip(df["lon"], df["lat"], strict=True)],
                   dtype=object)
    problems += _row_problems(src, bad, "lon/lat", "lonlat_not_numbers", "not numbers: {value}",
                              raw)
    swapped = (~bad) & (lat.abs() > 90).to_numpy() & (lon.abs() <= 90).to_numpy()
    pair = np.array([f"({a}, {b})" for a, b in zip(lon, lat, strict=True)], dtype=object)
    problems += _row_problems(src, swapped, "lon/lat", "lonlat_swapped", "{value}: latitude "
                              "beyond 90° — longitude and latitude swapped?", pair)
    geom = shapely.points(lon.fillna(0).to_numpy(), lat.fillna(0).to_numpy())
    geom = np.where(bad | swapped, None, geom)
    return gpd.GeoDataFrame(df.drop(columns=["lon", "lat"]), geometry=geom, crs=None)


def _to_wgs84(df: gpd.GeoDataFrame, crs: str | None, src: str, notes: list[str],
              problems: list[Problem]) -> gpd.GeoDataFrame:
    datum = (crs or "").lower()
    if datum in ("gcj02", "bd09"):
        df = df.set_crs(4326, allow_override=True)
        df = lcrs.convert_gdf(df, datum, "wgs84")
        notes.append(Said("converted", "converted {datum} → WGS-84",
                          datum="GCJ-02" if datum == "gcj02" else "BD-09"))
        return df
    if crs:
        df = df.set_crs(crs, allow_override=True)
        notes.append(Said("read_crs", "coordinates read as {crs}", crs=crs))
    elif df.crs is None:
        present = df.geometry.notna().to_numpy() & ~df.geometry.is_empty.to_numpy()
        b = shapely.total_bounds(df.geometry.to_numpy()[present]) if present.any() else \
            np.zeros(4)  # no usable point at all: the row problems already say why
        if np.isfinite(b).all() and b[0] >= -180 and b[2] <= 180 and b[1] >= -90 and b[3] <= 90:
            df = df.set_crs(4326)
            notes.append(Said("assumed_wgs84", "no CRS given: longitude/latitude assumed WGS-84 "
                              "(web-map coordinates need --crs gcj02 or bd09)"))
        else:
            raise ImportFileError(f"{src}: no CRS and the numbers are not longitude/latitude; "
                                  "pass --crs EPSG:45xx (e.g. CGCS2000 Gauss-Krüger)", "no_crs")
    if not df.crs.equals("EPSG:4326"):
        notes.append(Said("reprojected_note", "reprojected {crs} → EPSG:4326",
                          crs=df.crs.to_string()))
        df = df.to_crs(4326)
    return df


def store_region(store, settings: Settings = DEFAULT_SETTINGS
                 ) -> tuple[tuple[float, float, float, float], str]:
    """The area an import into ``store`` must land in, as (minx, miny, maxx, maxy) in WGS-84
    and a description: the bounding box of the store's communities and towns widened by
    ``settings.region_margin_km``, or :data:`CHINA_BOUNDS` for a store without any."""
    present = [n for n in ("towns", "communities") if n in store.layer_names()]
    data = store.read(present, check_geometry=False) if present else LayerSet()
    geoms = np.concatenate([data[n].geometry.to_numpy() for n in present]) if present \
        else np.array([], dtype=object)
    geoms = geoms[~shapely.is_missing(geoms) & ~shapely.is_empty(geoms)] if len(geoms) \
        else geoms
    if len(geoms) == 0:
        return CHINA_BOUNDS, "China"
    minx, miny, maxx, maxy = shapely.total_bounds(geoms)
    km = settings.region_margin_km
    dlat = km / 111.32
    coslat = math.cos(math.radians(min(max(abs(miny), abs(maxy)), 89.0)))
    dlon = km / (111.32 * coslat)
    box = (minx - dlon, miny - dlat, maxx + dlon, maxy + dlat)
    return box, f"{km:g} km around its communities and towns"


def _outside_region(new: pd.DataFrame, store, src: str, settings: Settings,
                    force: bool) -> list[Problem]:
    """Rows (converted to WGS-84) not inside the store's area, one problem each (the report
    groups them); warnings instead of errors when forced. OSM files too: their
    coordinates are right by definition, but an extract of another city is the wrong file."""
    if not isinstance(new, gpd.GeoDataFrame) or new.empty:
        return []
    geoms = new.geometry.to_numpy()
    usable = ~shapely.is_missing(geoms) & ~shapely.is_empty(geoms)
    if not usable.any():
        return []
    box, where = store_region(store, settings)
    b = shapely.bounds(geoms)
    with np.errstate(invalid="ignore"):
        inside = (b[:, 0] >= box[0]) & (b[:, 1] >= box[1]) & (b[:, 2] <= box[2]) & \
            (b[:, 3] <= box[3])
    outside = usable & ~inside
    if not outside.any():
        return []
    west, south, east, north = (f"{v:.2f}" for v in box)
    bounds = f"longitude {west}…{east}, latitude {south}…{north}"
    severity: Severity = "warning" if force else "error"
    hint = "imported anyway (forced)" if force else (
        "a wrong .prj / --crs, or longitude and latitude swapped? Use "
        "force_outside_region (--force-outside-region) to import anyway")
    key = "outside_region_forced" if force else (
        "outside_china" if where == "China" else "outside_region")
    message = Said.text(key,
                        f"outside the area of this store ({where}: {bounds}); {hint}",
                        km=settings.region_margin_km if where != "China" else None,
                        west=west, east=east, south=south, north=north)
    report = ValidationReport()
    Collector(report).rows(src, outside, None, "geometry", message, severity)
    return report.problems


#: What :mod:`layers.derive` says (plain English), read as keys and values for pages that
#: say it in the user's language; a text matching none stays as it is.
_DERIVED: tuple[tuple[re.Pattern[str], str], ...] = tuple((re.compile(rx), key) for rx, key in (
    (r"not in the file, left unknown: (?P<columns>.+)$", "left_unknown"),
    (r"kind from the names", "kind_from_names"),
    (r"(?P<n>\d+) code\(s\) made for rows without one(, under their (?P<parent>\S+))? "
     r"\(e\.g\. (?P<example>[^)]*)\)", "codes_made"),
    (r"(?P<n>\d+) row\(s\) placed in their (?P<layer>\S+) by location \((?P<column>[^)]+)\)",
     "placed"),
    (r"outside every grid of the store: left out", "outside_grids"),
    (r"no (?P<column>\S+) and outside every one of the store's (?P<layer>\S+):", "no_parent"),
    (r"rows without (?P<column>\S+) are placed in the store's (?P<layer>\S+) by location",
     "no_parents_yet"),
    (r"households estimated", "households_estimated"),
    (r"households of (?P<n>\d+) grid\(s\) from the store's buildings", "grid_households"),
    (r"(?P<n>\d+) multi-part line\(s\) split", "lines_split"),
    (r"road kind (?P<value>'[^']*') is not one of", "road_kind"),
))


def _said_of(text: str) -> str:
    """``text`` from :mod:`layers.derive` as a :class:`~layers.validate.Said` when it is one
    of the things it says (:data:`_DERIVED`)."""
    if isinstance(text, Said):
        return text
    for rx, key in _DERIVED:
        m = rx.match(text)
        if m:
            return Said.text(key, text, **{k: v for k, v in m.groupdict().items()
                                           if v is not None})
    return text


def _unknown_community(frame: pd.DataFrame, layer: str, store, src: str) -> list[Problem]:
    """Care points and car parks whose community (the extra column their codes are made
    under, :data:`layers.derive.LOCATED_COMMUNITY`) the file gives but the store has not."""
    column = derive.LOCATED_COMMUNITY
    if derive.CODE_RULES.get(layer, (None, None))[1] is not None or column not in frame \
            or derive.CODE_RULES.get(layer, ("",))[0] != "communities":
        return []
    given = frame[column].astype("string").str.strip()
    present = given.notna() & given.ne("")
    if not present.any():
        return []
    known = store.read(["communities"], columns={"communities": ["code"]},
                       check_geometry=False)["communities"]["code"] \
        if "communities" in store.layer_names() else pd.Series([], dtype="string")
    unknown = present.fillna(False).to_numpy(dtype=bool) & ~given.isin(
        known.astype("string")).fillna(False).to_numpy(dtype=bool)
    msg = np.empty(len(frame), dtype=object)
    msg[unknown] = [not_a_code(v, "communities") for v in given.to_numpy()[unknown]]
    report = ValidationReport()
    Collector(report).rows(src, unknown, None, column, msg)
    return report.problems


def _check_own_rows(store, path: str | os.PathLike[str], layer: str, *, crs: str | None,
                    encoding: str | None, mapping: Mapping[str, str] | None,
                    settings: Settings, force_outside_region: bool, mode: str) -> _FileRows:
    """Read the file, complete what it leaves out (:func:`layers.derive.complete`) and check
    its own rows (limits, contract, the store's area); problems name the file's lines or
    features."""
    rows = _read_rows(path, layer, crs=crs, encoding=encoding, mapping=mapping,
                      settings=settings)
    # the store's area first: a wrong CRS is an error, not buildings "outside every grid"
    rows.problems += rows.renumber(_outside_region(rows.frame, store, rows.source, settings,
                                                   force_outside_region))
    done = derive.complete(rows.frame, layer, store, mode=mode, settings=settings)
    rows.problems += rows.renumber([replace(p, message=_said_of(p.message))
                                    for p in done.problems])
    rows.notes += [_said_of(n) for n in done.notes]
    rows.keep(done.kept, done.frame)
    rows.problems += rows.renumber(_unknown_community(rows.frame, layer, store, rows.source))
    fixed, own = validate(LayerSet({layer: rows.frame}), settings, source=rows.source,
                          layers=(layer,), cross_layer=False)
    if own.ok:  # labels read as codes, types coerced: said once, here
        rows.frame = fixed[layer]
    # a geometry left out while reading (over the vertex cap, coordinates not numbers) was
    # said so already: not again as missing, nor as the parent it could not be placed in
    said = {p.row for p in rows.problems if p.severity == "error"}
    no_geometry = {p.row for p in rows.problems if p.severity == "error"
                   and p.field in ("geometry", "lon/lat")}
    located = derive.CODE_RULES.get(layer, (None, None, "", 0))[1]
    for p in rows.renumber(own.problems):
        if (p.message == "geometry is missing or empty" and p.row in said) or (
                p.message == "value is missing" and p.field == located
                and p.row in no_geometry):
            rows.hidden.add((p.row, p.field, p.message))
        else:
            rows.problems.append(p)
    return rows


def _file_view(problems: list[Problem], layer: str, rows: _FileRows, offset: int
               ) -> list[Problem]:
    """Problems of a whole-store check as the file's: those of the file's rows (positions
    after ``offset``, the rows already in the layer) renumbered as its lines or features;
    those the file's own check found already left out."""
    def key(p: Problem) -> tuple:
        return p.layer, p.unit, p.row, p.field, p.message

    seen = {key(p) for p in rows.problems} | {
        (rows.source, rows.unit, *h) for h in rows.hidden}
    own_key = spec(layer).key
    out = []
    for p in problems:
        if p.layer == layer and p.row is not None and p.row > offset:
            p = rows.renumber([p], offset)[0]
        elif p.layer == layer and p.row is not None and p.field == own_key:
            continue  # a code the file repeats: said of the file's row, not the store's
        elif p.layer == layer and p.row is None and p.field is not None:
            p = replace(p, layer=rows.source, unit=rows.unit)
        if key(p) not in seen:
            seen.add(key(p))
            out.append(p)
    return out


def _store_problems(store, layer: str, rows: _FileRows, mode: str, settings: Settings
                    ) -> tuple[pd.DataFrame, list[Problem]]:
    """The layer as it would be stored, and the errors of the whole store with it
    (references, codes taken, tiling …) that the file's own check could not see."""
    current = store.read(check_geometry=False)
    merged = _merged(current, layer, rows.frame, mode)
    _, whole = validate(current.replace(**{layer: merged}), settings, source=store.location)
    return merged, _file_view(whole.errors, layer, rows, len(merged) - len(rows.frame))


def _merged(current: LayerSet, layer: str, new: pd.DataFrame, mode: str) -> pd.DataFrame:
    """The layer as it would be stored: ``new`` alone, or appended to the current layer."""
    if mode != "append" or layer not in current:
        return new
    cur = current[layer]
    merged = pd.concat([cur, new], ignore_index=True)
    if isinstance(cur, gpd.GeoDataFrame):
        merged = gpd.GeoDataFrame(merged, geometry=cur.geometry.name, crs="EPSG:4326")
    return merged


def _check_mode(mode: str) -> None:
    if mode not in ("replace", "append"):
        raise ValueError("mode must be 'replace' or 'append'")


def check_file(store, path: str | os.PathLike[str], layer: str, *, mode: str = "replace",
               crs: str | None = None, encoding: str | None = None,
               mapping: Mapping[str, str] | None = None,
               settings: Settings = DEFAULT_SETTINGS,
               force_outside_region: bool = False) -> ImportResult:
    """Everything an import does except writing (the dry run behind previews): read, convert,
    check the file's rows and then the layer as it would be, against the rest of the store as
    it is now. The report's ``ok`` says whether :func:`import_file` would succeed if nobody
    writes to the store meanwhile (:func:`import_file` checks again under the write lock).

    Parameters
    ----------
    force_outside_region
        Accept features outside the store's area (:func:`store_region`), with a warning.
    """
    _check_mode(mode)
    if layer in REGISTER_LAYERS:
        from . import people_io

        return people_io.check_register(store, path, layer, crs=crs, encoding=encoding,
                                        mapping=mapping, settings=settings)
    rows = _check_own_rows(store, path, layer, crs=crs, encoding=encoding, mapping=mapping,
                           settings=settings, force_outside_region=force_outside_region,
                           mode=mode)
    merged, more = _store_problems(store, layer, rows, mode, settings)
    report = ValidationReport(rows.problems + more, source=rows.source)
    return ImportResult(layer, len(merged), merged, report, rows.notes, rows.frame)


def import_file(store, path: str | os.PathLike[str], layer: str, *, mode: str = "replace",
                crs: str | None = None, encoding: str | None = None,
                mapping: Mapping[str, str] | None = None,
                settings: Settings = DEFAULT_SETTINGS,
                force_outside_region: bool = False, principal: Principal,
                name: str | None = None) -> ImportResult:
    """Read ``path`` into ``layer`` of ``store`` (``replace`` the layer or ``append`` to it).

    The file's own rows are checked first; the append merge and the whole-store validation
    then run under the store's write lock (:meth:`~layers.store.GeoPackageStore.transform`)
    against the layer as it is at that moment, so a concurrent import is never lost.

    What the file leaves out is completed first (:func:`layers.derive.complete`: optional
    columns unknown, parents by location, codes, households). ``people`` and ``assignments``
    are registers: their rows are added to the register in one transaction with change-log
    entries (:func:`layers.people_io.import_register`; ``mode`` does not apply).

    Parameters
    ----------
    force_outside_region
        Import features outside the store's area (:func:`store_region`) too, with a warning.
    principal
        Who imports: capability ``import`` (:class:`~layers.auth.PermissionDenied` else); the
        change log's ``by`` of a register import.
    name
        The file's name as its user knows it (an upload's own name, not the server's copy),
        for the store's metadata (``source_<layer>``) and the change log; default: the
        name of ``path``.

    Raises
    ------
    ImportFileError
        The file cannot be read, or holds too many rows.
    LayerValidationError
        Any invalid row — every kind of problem, the store's checks included — numbered as
        the file's lines or features; the store is unchanged.
    StoreError
        The store is read-only.
    PermissionDenied
        The principal may not import.
    """
    _check_mode(mode)
    principal.require("import")
    if layer in REGISTER_LAYERS:
        from . import people_io

        return people_io.import_register(store, path, layer, crs=crs, encoding=encoding,
                                         mapping=mapping, settings=settings,
                                         principal=principal, name=name)
    rows = _check_own_rows(store, path, layer, crs=crs, encoding=encoding, mapping=mapping,
                           settings=settings, force_outside_region=force_outside_region,
                           mode=mode)
    report = ValidationReport(rows.problems, source=rows.source)
    if not report.ok:  # every kind of problem at once: the store's checks too
        report.problems += _store_problems(store, layer, rows, mode, settings)[1]
        raise LayerValidationError(report, rows.source)
    source = name or Path(path).name
    meta = {f"attribution_{layer}": OSM_ATTRIBUTION, f"source_{layer}": source} \
        if is_osm(path) else {f"source_{layer}": source}
    written: dict[str, pd.DataFrame] = {}

    def change(current: LayerSet) -> dict[str, pd.DataFrame]:
        written[layer] = _merged(current, layer, rows.frame, mode)
        return {layer: written[layer]}

    try:
        repaired = store.transform(change, settings=settings, meta=meta, validate_all=True)
    except LayerValidationError as exc:  # the store's checks, as the file's rows
        offset = len(written[layer]) - len(rows.frame) if layer in written else 0
        report.problems += _file_view(exc.report.errors, layer, rows, offset)
        raise LayerValidationError(report, rows.source) from None
    report.problems += [p for p in repaired.problems if p.severity != "error"]
    frame = written[layer]
    return ImportResult(layer, len(frame), frame, report, rows.notes, rows.frame)
