"""Bring real data in: shapefiles (often GBK, often CGCS2000 Gauss-Krüger), CSV and Excel lists
from web maps (GCJ-02 / BD-09, headers like 经度/纬度/名称), GeoJSON and GeoPackage.

:func:`read_source` reads a file into a frame of the layer contract (columns mapped, coordinates
converted to WGS-84) and a report of what it did and what is wrong, row by row;
:func:`import_file` then validates it together with the store and writes it atomically
(``replace`` or ``append``). A file with any invalid row is refused as a whole and the store is
exactly as before.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from . import crs as lcrs
from .errors import LayersError, LayerValidationError
from .layerset import LayerSet
from .schema import spec
from .settings import DEFAULT_SETTINGS, Settings
from .validate import Problem, ValidationReport, validate


class ImportFileError(LayersError):
    """The file cannot be read (missing, empty, truncated, malformed, unknown format)."""


#: Common Chinese (and English) headers → contract columns.
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

_CSV = {".csv", ".txt"}
_EXCEL = {".xlsx", ".xls"}
_VECTOR = {".shp", ".geojson", ".json", ".gpkg", ".zip"}


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
             severity: str = "error") -> Problem:
    return Problem(source, row, None, column, message, severity)  # type: ignore[arg-type]


def _read_table(path: Path, encoding: str | None) -> tuple[pd.DataFrame, str]:
    if path.suffix.lower() in _EXCEL:
        try:
            return pd.read_excel(path, dtype=str), "xlsx"
        except Exception as exc:  # openpyxl raises several kinds for broken files
            raise ImportFileError(f"{path}: not a readable Excel file ({exc})") from exc
    for enc in ([encoding] if encoding else ["utf-8-sig", "gb18030"]):
        try:
            return pd.read_csv(path, dtype=str, encoding=enc), enc
        except UnicodeDecodeError:
            continue
        except pd.errors.EmptyDataError as exc:
            raise ImportFileError(f"{path}: the file is empty") from exc
        except pd.errors.ParserError as exc:
            raise ImportFileError(f"{path}: malformed CSV ({exc})") from exc
    raise ImportFileError(f"{path}: text is neither UTF-8 nor GBK/GB18030; pass --encoding")


def _looks_garbled(df: pd.DataFrame) -> bool:
    text = df.select_dtypes(include=["object", "string", "str"])
    sample = "".join(text.head(200).astype(str).to_numpy().ravel().tolist())
    return "\ufffd" in sample or any(ch in sample for ch in "ÃÂÐÑÖ×Ø")


def _read_vector(path: Path, encoding: str | None) -> tuple[gpd.GeoDataFrame, str | None]:
    suffix = path.suffix.lower()
    target: Path | str = path
    if suffix == ".zip":
        try:
            with zipfile.ZipFile(path) as z:
                shp = [n for n in z.namelist() if n.lower().endswith(".shp")]
        except zipfile.BadZipFile as exc:
            raise ImportFileError(f"{path}: not a readable zip archive (truncated?)") from exc
        if not shp:
            raise ImportFileError(f"{path}: the zip holds no .shp file")
        target = f"/vsizip/{path}/{shp[0]}"
    if suffix == ".json" or suffix == ".geojson":
        try:
            json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise ImportFileError(f"{path}: malformed JSON ({exc})") from exc
    has_cpg = suffix == ".shp" and path.with_suffix(".cpg").exists()
    try:
        if encoding:
            return pyogrio.read_dataframe(target, encoding=encoding), encoding
        df = pyogrio.read_dataframe(target)
        if suffix in (".shp", ".zip") and not has_cpg and _looks_garbled(df):
            # no .cpg and garbled text: Chinese offices' shapefiles are usually GBK
            return pyogrio.read_dataframe(target, encoding="GB18030"), "GB18030 (detected)"
        return df, "from .cpg" if has_cpg else None
    except pyogrio.errors.DataSourceError as exc:
        raise ImportFileError(f"{path}: cannot be read ({exc})") from exc


def read_source(path: str | os.PathLike[str], layer: str, *, crs: str | None = None,
                encoding: str | None = None, mapping: Mapping[str, str] | None = None,
                grids: gpd.GeoDataFrame | None = None
                ) -> tuple[pd.DataFrame, list[Problem], list[str]]:
    """Read a file into the shape of ``layer``.

    Returns
    -------
    (frame, problems, notes)
        ``problems`` name the file, the row (1 = first data row), the column and what is wrong
        (NaN or swapped coordinates, unreadable numbers); ``notes`` say what was done
        (encoding, CRS conversion, column mapping).
    """
    p = Path(path)
    s = spec(layer)
    src = str(p)
    if not p.exists():
        raise ImportFileError(f"{p}: no such file")
    if p.stat().st_size == 0:
        raise ImportFileError(f"{p}: the file is empty")
    suffix = p.suffix.lower()
    notes: list[str] = []
    problems: list[Problem] = []
    if is_osm(p):
        df, osm_notes = read_osm(p, layer, grids)
        if len(df) == 0:
            raise ImportFileError(f"{p}: no OSM features for {layer} ({'; '.join(osm_notes)})")
        return df, problems, osm_notes
    if suffix in _CSV or suffix in _EXCEL:
        df, enc = _read_table(p, encoding)
        notes.append(f"read as {enc}")
    elif suffix in _VECTOR:
        df, enc = _read_vector(p, encoding)
        if enc:
            notes.append(f"text encoding {enc}")
    else:
        raise ImportFileError(f"{p}: unknown format {suffix!r} (CSV, Excel, shapefile, zip, "
                              "GeoJSON or GeoPackage)")
    if len(df) == 0:
        raise ImportFileError(f"{p}: the file holds no rows")
    # column names: explicit mapping first, then the common headers
    rename = {}
    for col in df.columns:
        key = str(col).strip()
        if mapping and key in mapping:
            rename[col] = mapping[key]
        elif key not in s.columns and key.lower() in DEFAULT_HEADERS:
            rename[col] = DEFAULT_HEADERS[key.lower()]
        elif key in DEFAULT_HEADERS and key not in s.columns:
            rename[col] = DEFAULT_HEADERS[key]
    if rename:
        df = df.rename(columns=rename)
        notes.append("columns: " + ", ".join(f"{a}→{b}" for a, b in rename.items()))
    if s.geometry is not None and not isinstance(df, gpd.GeoDataFrame):
        df = _points_from_columns(df, src, problems)
    if isinstance(df, gpd.GeoDataFrame):
        df = _to_wgs84(df, crs, src, notes, problems)
    return df, problems, notes


def _points_from_columns(df: pd.DataFrame, src: str, problems: list[Problem]
                         ) -> gpd.GeoDataFrame:
    if not {"lon", "lat"} <= set(df.columns):
        raise ImportFileError(f"{src}: no geometry and no longitude/latitude columns "
                              "(经度/纬度, lon/lat); map them with --map 列名=lon")
    lon = pd.to_numeric(df["lon"], errors="coerce")
    lat = pd.to_numeric(df["lat"], errors="coerce")
    bad = (lon.isna() | lat.isna()).to_numpy()
    for i in np.flatnonzero(bad)[:200]:
        problems.append(_problem(src, int(i) + 1, "lon/lat",
                                 f"not numbers: {df['lon'].iloc[i]!r}, {df['lat'].iloc[i]!r}"))
    swapped = (~bad) & (lat.abs() > 90).to_numpy() & (lon.abs() <= 90).to_numpy()
    for i in np.flatnonzero(swapped)[:200]:
        problems.append(_problem(src, int(i) + 1, "lon/lat",
                                 f"({lon.iloc[i]}, {lat.iloc[i]}): latitude beyond 90° — "
                                 "longitude and latitude swapped?"))
    geom = shapely.points(lon.fillna(0).to_numpy(), lat.fillna(0).to_numpy())
    geom = np.where(bad | swapped, None, geom)
    return gpd.GeoDataFrame(df.drop(columns=["lon", "lat"]), geometry=geom, crs=None)


def _to_wgs84(df: gpd.GeoDataFrame, crs: str | None, src: str, notes: list[str],
              problems: list[Problem]) -> gpd.GeoDataFrame:
    datum = (crs or "").lower()
    if datum in ("gcj02", "bd09"):
        df = df.set_crs(4326, allow_override=True)
        df = lcrs.convert_gdf(df, datum, "wgs84")
        notes.append(f"converted {'GCJ-02' if datum == 'gcj02' else 'BD-09'} → WGS-84")
        return df
    if crs:
        df = df.set_crs(crs, allow_override=True)
        notes.append(f"coordinates read as {crs}")
    elif df.crs is None:
        present = df.geometry.notna().to_numpy() & ~df.geometry.is_empty.to_numpy()
        b = shapely.total_bounds(df.geometry.to_numpy()[present]) if present.any() else \
            np.zeros(4)  # no usable point at all: the row problems already say why
        if np.isfinite(b).all() and b[0] >= -180 and b[2] <= 180 and b[1] >= -90 and b[3] <= 90:
            df = df.set_crs(4326)
            notes.append("no CRS given: longitude/latitude assumed WGS-84 "
                         "(web-map coordinates need --crs gcj02 or bd09)")
        else:
            raise ImportFileError(f"{src}: no CRS and the numbers are not longitude/latitude; "
                                  "pass --crs EPSG:45xx (e.g. CGCS2000 Gauss-Krüger)")
    if not df.crs.equals("EPSG:4326"):
        notes.append(f"reprojected {df.crs.to_string()} → EPSG:4326")
        df = df.to_crs(4326)
    return df


def check_file(store, path: str | os.PathLike[str], layer: str, *, mode: str = "replace",
               crs: str | None = None, encoding: str | None = None,
               mapping: Mapping[str, str] | None = None,
               settings: Settings = DEFAULT_SETTINGS) -> ImportResult:
    """Everything an import does except writing: read, convert, validate the file's rows and
    then the layer as it would be, against the rest of the store. The report's ``ok`` says
    whether :func:`import_file` would succeed."""
    if mode not in ("replace", "append"):
        raise ValueError("mode must be 'replace' or 'append'")
    grids = store.read(["communities", "grids"], check_geometry=False).grids \
        if is_osm(path) and layer == "buildings" else None
    new, problems, notes = read_source(path, layer, crs=crs, encoding=encoding,
                                       mapping=mapping, grids=grids)
    src = str(path)
    # the file's own rows first: messages name the file's row numbers
    _, own = validate(LayerSet({layer: new}), settings, source=src, layers=(layer,),
                      cross_layer=False)
    report = ValidationReport(problems + [Problem(src, p.row, p.code, p.field, p.message,
                                                  p.severity) for p in own.problems],
                              source=src)
    merged = new
    if report.ok:
        if mode == "append" and layer in store.layer_names():
            current = store.read([layer], check_geometry=False)[layer]
            merged = pd.concat([current, new], ignore_index=True)
            if isinstance(current, gpd.GeoDataFrame):
                merged = gpd.GeoDataFrame(merged, geometry=current.geometry.name,
                                          crs="EPSG:4326")
        others = store.read(check_geometry=False)
        _, whole = validate(others.replace(**{layer: merged}), settings, source=store.location)
        report.problems += [p for p in whole.problems if p.severity == "error"]
    return ImportResult(layer, len(merged), merged, report, notes, new)


OSM_ATTRIBUTION = ("© OpenStreetMap contributors, Open Database License 1.0 "
                   "(https://www.openstreetmap.org/copyright)")
_OSM_SUFFIXES = (".osm", ".osm.bz2", ".osm.gz")
_OSM_CARE = {  # tag value → care kind
    "kindergarten": "kindergarten", "childcare": "nursery", "nursing_home": "elder_day_care",
}


def is_osm(path: str | os.PathLike[str]) -> bool:
    return str(path).lower().endswith(_OSM_SUFFIXES)


def read_osm(path: str | os.PathLike[str], layer: str,
             grids: gpd.GeoDataFrame | None = None) -> tuple[gpd.GeoDataFrame, list[str]]:
    """Features of a local OSM file (no network call) as rows of ``layer``: ``buildings``
    (placed in the store's ``grids``; those outside every grid are left out), ``care_points``
    (kindergartens, childcare, nursing homes, social facilities for the elderly) or
    ``parking`` (``amenity=parking``)."""
    import osmnx as ox

    tags = {"buildings": {"building": True},
            "care_points": {"amenity": [*_OSM_CARE, "social_facility"],
                            "social_facility": True},
            "parking": {"amenity": "parking"}}.get(layer)
    if tags is None:
        raise ImportFileError(f"{path}: OSM files can fill buildings, care_points or parking, "
                              f"not {layer}")
    try:
        f = ox.features_from_xml(Path(path), tags=tags)
    except Exception as exc:  # osmnx raises several kinds for bad or empty files
        raise ImportFileError(f"{path}: no usable OSM features for {layer} ({exc})") from exc
    f = f.reset_index()
    osm_id = (f["element"].astype(str).str[0] + f["id"].astype(str)).to_numpy()
    name = f["name"] if "name" in f else pd.Series(None, index=f.index)
    notes = [f"{len(f)} OSM feature(s) for {layer}; attribution kept: {OSM_ATTRIBUTION}"]
    metric = f.geometry.to_crs(lcrs.metric_crs(tuple(f.total_bounds)))
    if layer == "care_points":
        amenity = f["amenity"] if "amenity" in f else pd.Series("", index=f.index)
        sf = f["social_facility"] if "social_facility" in f else pd.Series("", index=f.index)
        kind = amenity.map(_OSM_CARE)
        elderly = sf.notna() | (amenity == "social_facility")
        kind = kind.where(kind.notna(), np.where(elderly, "elder_station", None))
        keep = kind.notna().to_numpy()
        cap = pd.to_numeric(f.get("capacity"), errors="coerce") if "capacity" in f else \
            pd.Series(0, index=f.index)
        out = gpd.GeoDataFrame({
            "code": "OSM-" + pd.Series(osm_id), "name": name.fillna(kind),
            "kind": kind, "capacity": cap.fillna(0).astype(int)},
            geometry=f.geometry.representative_point().to_numpy(), crs=4326)[keep]
    elif layer == "parking":
        street = f["parking"].isin(["street_side", "lane", "on_street"]) if "parking" in f \
            else pd.Series(False, index=f.index)
        cap = pd.to_numeric(f["capacity"], errors="coerce") if "capacity" in f else \
            pd.Series(np.nan, index=f.index)
        cap = cap.fillna(pd.Series(np.round(metric.area.to_numpy() / 25), index=f.index))
        fee = (f["fee"] == "yes").astype(float) * 2.0 if "fee" in f else 0.0
        poly = f.geometry.geom_type.isin(["Polygon"]).to_numpy()
        geom = np.where(poly, f.geometry.to_numpy(), f.geometry.representative_point()
                        .to_numpy())
        out = gpd.GeoDataFrame({
            "code": "OSM-" + pd.Series(osm_id), "name": name.fillna("停车场"),
            "kind": np.where(street, "street", "lot"), "capacity": cap.astype(int),
            "fee": fee}, geometry=geom, crs=4326)
    else:
        poly = f[f.geometry.geom_type == "Polygon"]
        if grids is None or grids.empty:
            raise ImportFileError(f"{path}: buildings need the store's grids to be placed in")
        pts = poly.geometry.representative_point().to_numpy()
        tree = shapely.STRtree(grids.geometry.to_numpy())
        pi, gi = tree.query(pts, predicate="within")
        grid = np.full(len(poly), None, dtype=object)
        grid[pi] = grids["code"].to_numpy()[gi]
        placed = pd.notna(grid)
        notes.append(f"{int((~placed).sum())} building(s) outside every grid left out")
        levels = pd.to_numeric(poly.get("building:levels"), errors="coerce") \
            if "building:levels" in poly else pd.Series(np.nan, index=poly.index)
        floors = levels.fillna(1).clip(lower=1).astype(int)
        area = metric[poly.index].area.to_numpy()
        flats = pd.to_numeric(poly.get("building:flats"), errors="coerce") \
            if "building:flats" in poly else pd.Series(np.nan, index=poly.index)
        households = flats.fillna(pd.Series(np.round(area * floors / 90), index=poly.index))
        ids = osm_id[poly.index]
        out = gpd.GeoDataFrame({
            "code": np.char.add(np.where(placed, grid, "").astype(str), ids.astype(str)),
            "grid_code": grid, "name": _building_names(poly, name[poly.index], ids),
            "households": households.astype(int).to_numpy(), "floors": floors.to_numpy(),
            "year_built": pd.array([None] * len(poly), dtype="Int64"),
            "has_elevator": floors.to_numpy() > 6, "renovation": "not_planned"},
            geometry=poly.geometry.to_numpy(), crs=4326)[placed]
    return out.reset_index(drop=True), notes


def _building_names(poly: pd.DataFrame, name: pd.Series, ids: np.ndarray) -> np.ndarray:
    """OSM building names: the name, else the address, else 楼栋 + the OSM id."""
    street = poly["addr:street"] if "addr:street" in poly else pd.Series(None, index=poly.index)
    number = poly["addr:housenumber"] if "addr:housenumber" in poly else \
        pd.Series(None, index=poly.index)
    address = (street.fillna("") + number.fillna("").astype(str)).replace("", None)
    fallback = pd.Series(["楼栋 OSM " + i for i in ids.astype(str)], index=poly.index)
    return name.fillna(address).fillna(fallback).to_numpy(dtype=object)


def import_file(store, path: str | os.PathLike[str], layer: str, *, mode: str = "replace",
                crs: str | None = None, encoding: str | None = None,
                mapping: Mapping[str, str] | None = None,
                settings: Settings = DEFAULT_SETTINGS) -> ImportResult:
    """Read ``path`` into ``layer`` of ``store`` (``replace`` the layer or ``append`` to it).

    Raises
    ------
    ImportFileError
        The file cannot be read.
    LayerValidationError
        Any invalid row (the report names file rows); the store is unchanged.
    """
    result = check_file(store, path, layer, mode=mode, crs=crs, encoding=encoding,
                        mapping=mapping, settings=settings)
    if not result.report.ok:
        raise LayerValidationError(result.report, str(path))
    meta = {f"attribution_{layer}": OSM_ATTRIBUTION, f"source_{layer}": Path(path).name} \
        if is_osm(path) else {f"source_{layer}": Path(path).name}
    repaired = store.update({layer: result.frame}, settings=settings, meta=meta)
    result.report.problems += [p for p in repaired.problems if p.severity != "error"]
    return result


def partition_new_communities(store, buildings: pd.DataFrame | None = None, *,
                              settings: Settings = DEFAULT_SETTINGS) -> tuple[int, int]:
    """Cut grids for the communities that have none, with the household-target partition.

    ``buildings`` (e.g. read with :func:`read_source` from a surveying file) may lack
    ``grid_code`` and ``code``: they are located in their community by their outline, the
    community is partitioned, and grid and building codes follow the hierarchy (community
    code + 3 digits, grid code + 4 digits). Existing grids and buildings are kept.

    Returns
    -------
    (grids added, buildings added)
    """
    from .partition import partition_grids

    data = store.read(check_geometry=False)
    comms = data["communities"]
    have = set(data["grids"]["community_code"])
    bare = comms[~comms["code"].isin(have)]
    if bare.empty:
        raise ImportFileError("every community already has grids; nothing to partition")
    b = buildings if buildings is not None else data["buildings"].iloc[:0]
    b = gpd.GeoDataFrame(b, geometry=b.geometry.name, crs="EPSG:4326") if len(b) else b
    if len(b):
        pts = b.geometry.representative_point().to_numpy()
        pi, ci = shapely.STRtree(bare.geometry.to_numpy()).query(pts, predicate="within")
        where = np.full(len(b), -1)
        where[pi] = ci
        b = b[where >= 0].assign(community_code=bare["code"].to_numpy()[where[where >= 0]])
        if "households" not in b:
            raise ImportFileError("buildings need a households column to size the grids")
    grids, grid_of = partition_grids(bare, b, settings.households_per_grid)
    new_b = b.copy()
    if len(new_b):
        new_b["grid_code"] = grid_of.to_numpy()
        seq = new_b.groupby("grid_code").cumcount().to_numpy() + 1
        made = np.char.add(new_b["grid_code"].to_numpy().astype(str),
                           np.char.zfill(seq.astype(str), 4))
        given = new_b["code"].astype(str).to_numpy() if "code" in new_b else made
        sd = np.dtypes.StringDType()
        ok = np.strings.startswith(np.asarray(given, dtype=sd),
                                   np.asarray(new_b["grid_code"].to_numpy(), dtype=sd))
        new_b["code"] = np.where(ok, given, made)
        new_b = new_b.drop(columns="community_code")
    all_grids = pd.concat([data["grids"], grids], ignore_index=True)
    all_b = pd.concat([data["buildings"], new_b], ignore_index=True)
    store.update({"grids": gpd.GeoDataFrame(all_grids, geometry="geometry", crs="EPSG:4326"),
                  "buildings": gpd.GeoDataFrame(all_b, geometry="geometry", crs="EPSG:4326")},
                 settings=settings)
    return len(grids), len(new_b)
