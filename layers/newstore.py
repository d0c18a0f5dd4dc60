"""A new store from an OpenStreetMap extract (and a communities file): ``python -m layers new``.

:func:`new_store` makes a whole territory in one step and writes it once, validated:

- **communities** from a boundary file (:func:`layers.importer.read_source`: GBK shapefiles,
  GCJ-02 with ``crs="gcj02"`` …), else the extract's administrative boundaries
  (``Settings.osm_admin_levels``, the highest level present), else one community over the
  extract's buildings (convex hull widened by ``Settings.new_area_buffer_m``). Codes are
  the file's when they fit under the town code, else town code + 3 digits; households and
  population come from the buildings when the file has none;
- the **town**: the union of the communities; its code given, derived from the file's
  community codes, or :data:`DEFAULT_TOWN_CODE`; its name given, else the extract's
  ``admin_level=8`` boundary holding most buildings, else :data:`DEFAULT_TOWN_NAME`;
- **buildings** (:mod:`layers.osm`: households only for homes) placed in communities by
  their inner point — those outside every community are left out and reported;
- **grids** by :func:`layers.partition.grid_buildings` (``households_per_grid``); building
  codes grid code + 4 digits, grid codes community code + 3 digits;
- **roads** (the walking network), **care points** and **parking** within
  :data:`MARGIN_M` of the town;
- an empty register of people and assignments — or, with ``fictional_people``, a generated
  register of people, assignments and a year of tickets (names from :mod:`layers.demo.names`),
  the store labelled fictional and its ticket database seeded as the demo's is.

The store's metadata keeps the ODbL attribution (``licence``, ``attribution`` and
``attribution_<layer>`` as :func:`layers.importer.import_file` writes them) and the source.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from . import clock
from . import crs as lcrs
from . import osm as _osm
from .errors import LayersError, LayerValidationError
from .layerset import DATE_ANCHOR, LayerSet, empty_layer
from .partition import LISTED, grid_buildings, locate_buildings
from .schema import COMMUNITY_KINDS
from .settings import DEFAULT_SETTINGS, Settings
from .validate import Said, ValidationReport

DEFAULT_TOWN_CODE = "000000000"
DEFAULT_TOWN_NAME = "新辖区"
#: Roads, care points and parking farther than this from the town are left out (metres):
#: walks and service areas cross the border, the rest of a big extract is not needed.
MARGIN_M = 1000.0
FICTIONAL_LABEL = "示例数据，非真实：人员与工单为虚构，街道与楼栋来自 OpenStreetMap"
FICTIONAL_LABEL_EN = ("Sample data, not real: people and tickets are fictional; streets and "
                      "buildings from OpenStreetMap")

Progress = Callable[[str], None]


class NewStoreError(LayersError):
    """The store cannot be made (it exists, bad town code, no usable communities).

    ``reason`` says why in one word a page can say in the user's language (``town_code``,
    ``exists``, ``no_folder``, ``no_polygons``, ``not_polygons``, ``empty_extract``,
    ``outside``, ``no_homes``), with ``values`` (counts: never a path)."""

    def __init__(self, message: str, reason: str = "other", **values: object) -> None:
        super().__init__(message)
        self.reason = reason
        self.values = values


@dataclass
class NewStoreReport:
    """What :func:`new_store` made and what it left out, and why."""

    path: str
    counts: dict[str, int]
    communities_from: str
    #: features left out: ``osm_id``, ``name``, ``layer``, ``reason``
    dropped: pd.DataFrame
    #: buildings kept with 0 households (not homes): ``building`` tag → count
    non_residential: dict[str, int]
    report: ValidationReport
    notes: list[str] = field(default_factory=list)
    fictional: bool = False
    tickets_seeded: int = 0

    def lines(self, limit: int = LISTED) -> list[str]:
        """The summary ``python -m layers new`` prints."""
        out = [f"made {self.path}" + ("  【" + FICTIONAL_LABEL + "】" if self.fictional else "")]
        out.append("  " + ", ".join(f"{n} {c:,}" for n, c in self.counts.items()))
        out.append(f"  communities from {self.communities_from}")
        out += [f"  note: {n}" for n in self.notes]
        if self.fictional:
            out.append(f"  {self.tickets_seeded:,} fictional ticket(s) in the ticket database")
        hh0 = sum(self.non_residential.values())
        out.append(f"{hh0} non-residential building(s) kept with 0 households"
                   + (": " + ", ".join(f"{k} {v}" for k, v in self.non_residential.items())
                      if hh0 else ""))
        b = self.dropped[self.dropped["layer"] == "buildings"]
        out.append(f"{len(b)} building(s) dropped" + (":" if len(b) else ""))
        for reason, group in b.groupby("reason", sort=False):
            out.append(f"  {len(group)} {reason}:")
            out += [f"    {i}  {n}".rstrip() for i, n in zip(group["osm_id"].head(limit),
                                                    group["name"].fillna("").head(limit),
                                                    strict=True)]
            if len(group) > limit:
                out.append(f"    … and {len(group) - limit} more")
        for (layer, reason), group in self.dropped[self.dropped["layer"] != "buildings"].groupby(
                ["layer", "reason"], sort=False):
            out.append(f"{len(group)} {layer} dropped: {reason}")
        return out


    def summary(self, limit: int = LISTED) -> list[Said]:
        """What :meth:`lines` says after "made …", as keys and values a page says in the
        user's language (names of dropped features are data: ``name`` args, shown as text)."""
        out = [Said.text("made_counts", ", ".join(f"{n} {c:,}" for n, c in self.counts.items()),
                         counts=dict(self.counts))]
        out.append(Said("communities_from", "communities from {source}",
                        source=self.communities_from))
        out += [n if isinstance(n, Said) else Said.text("note", str(n)) for n in self.notes]
        if self.fictional:
            out.append(Said("fictional_tickets", "{n:,} fictional ticket(s) in the ticket "
                            "database", n=self.tickets_seeded))
        hh0 = sum(self.non_residential.values())
        tags = ", ".join(f"{k} {v}" for k, v in self.non_residential.items())
        out.append(Said("non_residential", "{n} non-residential building(s) kept with 0 "
                        "households: {tags}", n=hh0, tags=tags) if hh0 else
                   Said("non_residential_none", "0 non-residential building(s)"))
        b = self.dropped[self.dropped["layer"] == "buildings"]
        out.append(Said("dropped_buildings", "{n} building(s) dropped", n=len(b)))
        for reason, group in b.groupby("reason", sort=False):
            out.append(Said("dropped_reason", "{n} {reason}", n=len(group),
                            reason=_dropped_reason(str(reason))))
            out += [Said.text("dropped_one", f"{i}  {n}".rstrip(), id=i, name=n)
                    for i, n in zip(group["osm_id"].head(limit),
                                    group["name"].fillna("").head(limit), strict=True)]
            if len(group) > limit:
                out.append(Said("dropped_more", "… and {n} more", n=len(group) - limit))
        for (layer, reason), group in self.dropped[self.dropped["layer"] != "buildings"].groupby(
                ["layer", "reason"], sort=False):
            out.append(Said("dropped_layer", "{n} {layer} dropped: {reason}", n=len(group),
                            layer=layer, reason=_dropped_reason(str(reason))))
        return out


#: Why features of an extract were left out (:mod:`layers.osm`, :func:`_territory`,
#: :func:`_near_town`), as keys.
_DROPPED = {"outside every community": "outside_communities",
            "no outline (mapped as a point or line)": "no_outline"}


def _dropped_reason(reason: str) -> Said:
    if reason.startswith("farther than"):
        return Said("far", "farther than {m:,.0f} m from the area", m=MARGIN_M)
    return Said.text(_DROPPED.get(reason, "other"), reason)


def new_store(path: str | os.PathLike[str], osm: str | os.PathLike[str], *,  # noqa: PLR0913
              communities: str | os.PathLike[str] | None = None, crs: str | None = None,
              town_name: str | None = None, town_code: str | None = None,
              fictional_people: bool = False, seed: int = 7,
              settings: Settings = DEFAULT_SETTINGS,
              progress: Progress | None = None) -> NewStoreReport:
    """Create the store at ``path`` from the OSM extract ``osm`` (module docstring).

    Parameters
    ----------
    communities
        A boundary file of communities (any format :func:`layers.importer.read_source`
        reads); ``crs`` is its CRS when the file does not say (``gcj02`` for web maps).
    town_name, town_code
        The town (street office); defaults: see the module docstring.
    fictional_people
        Add a generated, labelled-fictional register of people, assignments and tickets.
    seed
        Seed of the fictional register.
    settings
        ``households_per_grid`` and the OSM household rule.

    Raises
    ------
    NewStoreError
        ``path`` exists (or a ticket database beside it), the town code is not digits, the
        communities are unusable.
    layers.osm.OsmError, layers.importer.ImportFileError
        The extract or the communities file cannot be read.
    LayerValidationError
        The layers break the contract (nothing is written).
    """
    say = progress or (lambda _m: None)
    target = _refuse_existing(path)
    if town_code is not None and not re.fullmatch(r"\d{1,15}", town_code):
        raise NewStoreError(f"--town-code {town_code!r}: a code is 1–15 digits", "town_code")
    say(f"reading {Path(osm).name}")
    ext = _osm.read_extract(osm, settings=settings)
    say("communities")
    comms, origin, notes = _communities(ext, communities, crs, settings)
    layers, dropped, hh0 = _territory(ext, comms, town_name, town_code, settings, notes, say)
    meta = _meta(ext.source, communities, fictional_people, settings)
    if fictional_people:
        say("fictional people and tickets")
        layers |= fictional_register(LayerSet(layers), seed=seed,
                                     as_of=meta[DATE_ANCHOR], settings=settings)
    else:  # an empty register: people and assignments are added later
        layers |= {n: empty_layer(n) for n in ("people", "assignments", "tickets")}
    say("writing the store")
    from .store import open_store

    data = LayerSet(layers, meta)
    report = open_store(target).write(data, settings=settings)
    seeded = _seed_tickets(target) if fictional_people else 0
    counts = {n: len(data[n]) for n in data}
    return NewStoreReport(str(target), counts, origin, dropped, hh0, report, notes,
                          fictional_people, seeded)


def _refuse_existing(path: str | os.PathLike[str]) -> Path:
    from .tickets import db_path_for

    target = Path(path)
    if target.exists():
        raise NewStoreError(f"{target} exists already: `new` makes a new store (use `import` "
                            "to change one, or choose another path)", "exists")
    if db_path_for(target).exists():
        raise NewStoreError(f"{db_path_for(target)} exists (left by an earlier store?): move "
                            "it away first, or its tickets would join the new store", "exists")
    if not target.parent.is_dir():
        raise NewStoreError(f"{target.parent}: no such folder", "no_folder")
    return target


def _meta(source: str, communities: str | os.PathLike[str] | None, fictional: bool,
          settings: Settings) -> dict[str, str]:
    meta = {
        "source": source if communities is None else f"{source}; {Path(communities).name}",
        "osm_extract": source, "licence": _osm.OSM_LICENCE,
        "attribution": _osm.OSM_ATTRIBUTION, "created_by": "python -m layers new",
        "households_per_grid": str(settings.households_per_grid),
        "fictional": "true" if fictional else "false",
        **{f"attribution_{n}": _osm.OSM_ATTRIBUTION
           for n in ("buildings", "roads", "care_points", "parking")},
        **{f"source_{n}": source for n in ("buildings", "roads", "care_points", "parking")},
    }
    if communities is None:
        meta["attribution_communities"] = _osm.OSM_ATTRIBUTION
    else:
        meta["source_communities"] = Path(communities).name
    if fictional:
        meta |= {"label": FICTIONAL_LABEL, "label_en": FICTIONAL_LABEL_EN,
                 "generator": "layers.newstore (fictional people)",
                 DATE_ANCHOR: clock.today().isoformat()}
    return meta


def _seed_tickets(path: Path) -> int:
    from .auth.principal import Principal
    from .tickets import TicketStore

    ts = TicketStore.for_store(path, seed=True)
    n = len(ts.frame(principal=Principal.system("count"))) if ts.created else 0
    ts.close()
    return n


# =============================================================================================
# communities and the town


def _communities(ext: _osm.OsmLayers, file: str | os.PathLike[str] | None, crs: str | None,
                 settings: Settings) -> tuple[gpd.GeoDataFrame, str, list[str]]:
    """Communities (``code`` or None, ``name``, ``kind``, ``households``, ``population``,
    geometry in WGS-84), where they came from, notes."""
    if file is not None:
        return _communities_from_file(file, crs)
    bounds = ext.boundaries
    if len(bounds):
        level = int(bounds["admin_level"].max())
        c = bounds[bounds["admin_level"] == level]
        frame = gpd.GeoDataFrame({"code": None, "name": c["name"].to_numpy()},
                                 geometry=c.geometry.to_numpy(), crs="EPSG:4326")
        return frame, Said("from_admin", "the extract's admin_level={level} boundaries ({n})",
                           level=level, n=len(c)), []
    return _one_community(ext, settings), Said("from_extract", "the extract's area (no "
                                               "boundaries in it)"), []


def _communities_from_file(file: str | os.PathLike[str], crs: str | None
                           ) -> tuple[gpd.GeoDataFrame, str, list[str]]:
    from .importer import read_source

    df, problems, notes = read_source(file, "communities", crs=crs)
    if _gbk_read_as_latin1(file, df):  # the importer's check looks at values only
        df, problems, notes = read_source(file, "communities", crs=crs, encoding="GB18030")
        notes = [*notes, Said("gb18030", "text encoding GB18030 (detected: no .cpg, garbled "
                              "names)")]
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise LayerValidationError(ValidationReport(errors), str(file))
    if not isinstance(df, gpd.GeoDataFrame):
        raise NewStoreError(f"{file}: communities need polygons (no geometry in the file)",
                            "no_polygons")
    geom = shapely.make_valid(df.geometry.to_numpy())
    poly = np.isin(shapely.get_type_id(geom), [3, 6])
    if not poly.all():
        raise NewStoreError(f"{file}: {int((~poly).sum())} community(ies) are not polygons",
                            "not_polygons", n=int((~poly).sum()))
    out = gpd.GeoDataFrame({
        "code": _text(df, "code"), "name": _names(df),
        "kind": _text(df, "kind"), "households": _count(df, "households"),
        "population": _count(df, "population")}, geometry=geom, crs="EPSG:4326")
    return out, Said("from_file", "{file} ({n})", file=Path(file).name, n=len(out)), notes


def _gbk_read_as_latin1(file: str | os.PathLike[str], df: pd.DataFrame) -> bool:
    """A shapefile without ``.cpg`` whose column names or text, read as Latin-1, are GBK
    bytes (``Ãû³Æ`` for 名称)."""
    p = Path(file)
    if p.suffix.lower() not in (".shp", ".zip") or p.with_suffix(".cpg").exists():
        return False
    text = df.select_dtypes(include=["object", "string"]).head(50).to_numpy().ravel()
    for s in [*map(str, df.columns), *map(str, text)]:
        raw = s.encode("latin-1", errors="ignore")
        if any(b >= 0x80 for b in raw):
            try:
                raw.decode("gb18030")
            except UnicodeDecodeError:
                continue
            return True
    return False


def _text(df: pd.DataFrame, col: str) -> np.ndarray:
    if col not in df:
        return np.full(len(df), None, dtype=object)
    v = df[col].astype(object).where(df[col].notna(), None).to_numpy()
    return np.array([None if x is None or str(x).strip() == "" else str(x).strip()
                     for x in v], dtype=object)


def _count(df: pd.DataFrame, col: str) -> np.ndarray:
    if col not in df:
        return np.full(len(df), np.nan)
    return pd.to_numeric(df[col], errors="coerce").to_numpy(float)


def _names(df: pd.DataFrame) -> np.ndarray:
    """The file's community names: ``name`` (mapped from 名称 …), else a column called
    NAME / 社区名称 / 村名 …, else 社区1, 社区2 …"""
    for col in ["name", *[c for c in df.columns if str(c).strip().lower() in (
            "name", "社区名称", "社区", "村名", "村社区", "名称", "xzqmc", "mc")]]:
        if col in df:
            v = _text(df, col)
            if pd.notna(v).any():
                return np.where(pd.notna(v), v, [f"社区{i + 1}" for i in range(len(df))])
    return np.array([f"社区{i + 1}" for i in range(len(df))], dtype=object)


def _one_community(ext: _osm.OsmLayers, settings: Settings) -> gpd.GeoDataFrame:
    """One community over the buildings (convex hull, widened), else over every feature."""
    parts = [ext.buildings.geometry] if len(ext.buildings) else [
        g.geometry for g in (ext.roads, ext.care_points, ext.parking) if len(g)]
    if not parts:
        raise NewStoreError(f"{ext.source}: no buildings, roads or facilities to make an area",
                            "empty_extract")
    geoms = gpd.GeoSeries(pd.concat(parts, ignore_index=True), crs="EPSG:4326")
    metric = lcrs.metric_crs(tuple(geoms.total_bounds))
    hull = shapely.convex_hull(shapely.union_all(geoms.to_crs(metric).to_numpy()))
    area = gpd.GeoSeries([hull.buffer(settings.new_area_buffer_m)], crs=metric).to_crs(4326)
    return gpd.GeoDataFrame({"code": [None], "name": [None]}, geometry=area.to_numpy(),
                            crs="EPSG:4326")


def _town_code(comms: gpd.GeoDataFrame, given: str | None) -> tuple[str, list[str]]:
    """The town code: given, else the prefix the file's community codes share (all but their
    last 3 digits), else the default."""
    codes = [c for c in comms["code"] if c is not None]
    if given is not None:
        return given, []
    if codes and len(codes) == len(comms) and len({c[:-3] for c in codes}) == 1 \
            and len(codes[0]) > 3:
        return codes[0][:-3], [Said("town_code_taken", "town code {code} taken from the "
                                    "community codes", code=codes[0][:-3])]
    return DEFAULT_TOWN_CODE, []


def _community_codes(comms: gpd.GeoDataFrame, town: str) -> tuple[np.ndarray, list[str]]:
    """The file's codes when every one is distinct and under the town code, else town code +
    001, 002 … (west to east, north to south)."""
    given = comms["code"].to_numpy(dtype=object)
    fits = all(c is not None and c.startswith(town) and len(c) > len(town) for c in given)
    if fits and len(set(given)) == len(given):
        return given, []
    c = shapely.point_on_surface(comms.geometry.to_numpy())
    order = np.lexsort((shapely.get_x(c), -np.round(shapely.get_y(c), 3)))
    made = np.empty(len(comms), dtype=object)
    made[order] = [f"{town}{i + 1:03d}" for i in range(len(comms))]
    notes: list[str] = [] if all(g is None for g in given) else [Said(
        "codes_remade", "community codes of the file do not all fit under town code {code}: "
        "made {code}001…; the file's are kept in source_code", code=town)]
    return made, notes


def _kinds(comms: gpd.GeoDataFrame, names: np.ndarray) -> np.ndarray:
    """The file's kind when it is 社区 or 村, else 村 for a name ending in 村, else 社区."""
    given = comms["kind"].to_numpy(dtype=object) if "kind" in comms else \
        np.full(len(comms), None, dtype=object)
    by_name = np.where([str(n).endswith("村") for n in names], "村", "社区")
    return np.where(np.isin(given.astype(str), COMMUNITY_KINDS), given, by_name)


def _town_name(ext: _osm.OsmLayers, given: str | None) -> str:
    """Given, else the extract's admin_level=8 boundary holding most buildings."""
    if given:
        return given
    towns = ext.boundaries[ext.boundaries["admin_level"] == 8]
    if len(towns) and len(ext.buildings):
        where = locate_buildings(towns, ext.buildings)
        if (where >= 0).any():
            return str(towns["name"].iloc[int(np.bincount(where[where >= 0]).argmax())])
    return DEFAULT_TOWN_NAME


def _territory(ext: _osm.OsmLayers, comms: gpd.GeoDataFrame,  # noqa: PLR0913
               town_name: str | None, town_code: str | None, settings: Settings,
               notes: list[str], say: Progress
               ) -> tuple[dict[str, pd.DataFrame], pd.DataFrame, dict[str, int]]:
    """Every layer but the register: town, communities, grids, buildings, roads, care points,
    parking; the features left out; non-residential building counts by tag."""
    code, more = _town_code(comms, town_code)
    ccodes, recoded = _community_codes(comms, code)
    notes += more + recoded
    name = _town_name(ext, town_name)
    cnames = np.where(pd.notna(comms["name"].to_numpy(dtype=object)), comms["name"],
                      [f"{name}社区" if len(comms) == 1 else f"{name}社区{i + 1}"
                       for i in range(len(comms))]).astype(object)
    b = ext.buildings
    where = locate_buildings(comms, b)
    if len(b) and (where < 0).all():
        raise NewStoreError(f"none of the extract's {len(b)} buildings lies inside the "
                            "communities: do they cover the extract, and is their CRS right "
                            "(--crs gcj02 for web-map files, EPSG:… for survey files)?",
                            "outside", n=len(b))
    dropped = pd.concat([ext.dropped, _osm.dropped_frame(
        b["osm_id"][where < 0].tolist(), b["name"][where < 0].tolist(), "buildings",
        "outside every community")], ignore_index=True)
    say("grids")
    placed = b[where >= 0].assign(community_code=ccodes[where[where >= 0]])
    grids, placed = grid_buildings(
        gpd.GeoDataFrame({"code": ccodes, "name": cnames}, geometry=comms.geometry.to_numpy(),
                         crs="EPSG:4326"), placed, settings.households_per_grid,
        keep_codes=False)
    hh = np.bincount(where[where >= 0], weights=placed["households"].to_numpy(float),
                     minlength=len(comms))
    c = _community_layer(comms, ccodes, cnames, code, hh, settings)
    if comms["code"].notna().any() and recoded:
        c["source_code"] = comms["code"].to_numpy(dtype=object)
    town = _town(code, name, c)
    near, far = _near_town(ext, town)
    layers: dict[str, pd.DataFrame] = {
        "towns": town, "communities": c, "grids": grids.to_crs("EPSG:4326"),
        "buildings": placed.reset_index(drop=True), **near}
    non_res = placed[~placed["residential"] & (placed["households"] == 0)]
    return layers, pd.concat([dropped, far], ignore_index=True), \
        non_res["building"].value_counts().to_dict()


def _community_layer(comms: gpd.GeoDataFrame, codes: np.ndarray,  # noqa: PLR0913
                     names: np.ndarray, town_code: str, households: np.ndarray,
                     settings: Settings) -> gpd.GeoDataFrame:
    """The communities layer: the file's households and population where it has them, else
    the buildings' households and households × ``persons_per_household``."""
    def given(col: str) -> np.ndarray:
        return comms[col].to_numpy(float) if col in comms else np.full(len(comms), np.nan)

    hh = np.where(np.isnan(given("households")), households, given("households"))
    pop = given("population")
    pop = np.where(np.isnan(pop), hh * settings.persons_per_household, pop)
    return gpd.GeoDataFrame({
        "code": codes, "name": names, "kind": _kinds(comms, names), "town_code": town_code,
        "households": np.round(hh).astype(np.int64),
        "population": np.round(pop).astype(np.int64)},
        geometry=comms.geometry.to_numpy(), crs="EPSG:4326")


def _town(code: str, name: str, comms: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The town: the union of its communities, their households and population."""
    union = shapely.make_valid(shapely.union_all(comms.geometry.to_numpy()))
    parts = shapely.get_parts(union)
    parts = parts[np.isin(shapely.get_type_id(parts), [3, 6])]
    area = shapely.union_all(parts)
    return gpd.GeoDataFrame({
        "code": [code], "name": [name], "households": [int(comms["households"].sum())],
        "population": [int(comms["population"].sum())]}, geometry=[area], crs="EPSG:4326")


def _near_town(ext: _osm.OsmLayers, town: gpd.GeoDataFrame
               ) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """Roads, care points and parking within :data:`MARGIN_M` of the town, and the others
    as dropped rows."""
    metric = lcrs.metric_crs(tuple(town.total_bounds))
    zone = town.to_crs(metric).buffer(MARGIN_M).to_crs("EPSG:4326").iloc[0]
    shapely.prepare(zone)
    kept: dict[str, pd.DataFrame] = {}
    far = []
    for layer, frame in (("roads", ext.roads), ("care_points", ext.care_points),
                         ("parking", ext.parking)):
        near = shapely.intersects(zone, frame.geometry.to_numpy()) if len(frame) else \
            np.zeros(0, bool)
        kept[layer] = frame[near].reset_index(drop=True)
        if (~near).any():
            far.append(_osm.dropped_frame(
                frame["osm_id"][~near].tolist(), frame["name"][~near].tolist(), layer,
                f"farther than {MARGIN_M:,.0f} m from the area"))
    return kept, pd.concat(far, ignore_index=True) if far else _osm.dropped_frame(
        [], [], "", "")


# =============================================================================================
# a fictional register on a real map


def fictional_register(data: LayerSet, *, seed: int = 7, as_of: str | None = None,
                       settings: Settings = DEFAULT_SETTINGS) -> dict[str, pd.DataFrame]:
    """Generated, fictional ``people``, ``assignments`` and ``tickets`` for real grids and
    buildings, sized like the demo town's (:data:`layers.demo.generator.TOWN`): a sentinel
    for most grids, a building member for most homes, unassigned party members, a year of
    tickets. Names, phones and ticket texts come from :mod:`layers.demo.names`.

    Parameters
    ----------
    data
        Grids and buildings (with ``households``).
    as_of
        The register's "today" (ISO date; default the product clock's).

    Raises
    ------
    NewStoreError
        There are no buildings to live in.
    """
    del settings
    rng = np.random.default_rng(seed)
    today = np.datetime64(as_of or clock.today().isoformat(), "D")
    b = data["buildings"].reset_index(drop=True)
    if b.empty:
        raise NewStoreError("no buildings to house a fictional register (the extract has no "
                            "building outlines inside the communities)", "no_homes")
    people, assignments = _fictional_people(rng, b, data["grids"], today)
    tickets = _fictional_tickets(rng, b, data["grids"], today)
    return {"people": people, "assignments": assignments, "tickets": tickets}


def _home_weights(b: pd.DataFrame) -> np.ndarray:
    """Households as weights; a building without any still has a tiny one (chosen only where
    a grid has no home at all)."""
    hh = pd.to_numeric(b["households"], errors="coerce").fillna(0).to_numpy(float)
    return np.where(hh > 0, hh, 1e-6)


def _pick_per_group(rng: np.random.Generator, groups: np.ndarray, weights: np.ndarray
                    ) -> pd.Series:
    """One row per group, drawn with ``weights`` (largest ``u ** (1 / w)``): group → row."""
    key = rng.random(len(groups)) ** (1.0 / weights)
    return pd.Series(key).groupby(groups).idxmax()


def _fictional_people(rng: np.random.Generator, b: pd.DataFrame, grids: pd.DataFrame,
                      today: np.datetime64) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    from .demo import names
    from .demo.generator import TOWN

    w = _home_weights(b)
    chosen = _pick_per_group(rng, b["grid_code"].to_numpy(), w)
    chosen = chosen[rng.random(len(chosen)) >= TOWN.sentinel_gap_share]
    homes_s = chosen.to_numpy(int)
    homes = np.flatnonzero(b["households"].to_numpy() > 0)
    homes_m = homes[rng.random(len(homes)) >= TOWN.member_gap_share]
    total = float(b["households"].sum()) * TOWN.persons_per_household
    n_pool = max(3, round(total * TOWN.party_share) - len(homes_s) - len(homes_m))
    homes_p = rng.choice(len(b), n_pool, p=w / w.sum())
    home = np.r_[homes_s, homes_m, homes_p]
    party = np.r_[rng.random(len(homes_s)) < 0.75, rng.random(len(homes_m)) < 0.9,
                  np.ones(n_pool, bool)]
    ids = np.char.add("P", np.char.zfill(np.arange(1, len(home) + 1).astype(str), 8))
    people = gpd.GeoDataFrame({
        "person_id": ids.astype(object), "name": names.person_names(rng, len(home)),
        "phone": names.phones(rng, len(home)), "is_party_member": party,
        "home_building_code": b["code"].to_numpy(dtype=object)[home]},
        geometry=shapely.point_on_surface(b.geometry.to_numpy()[home]), crs="EPSG:4326")
    n_a = len(homes_s) + len(homes_m)
    assignments = pd.DataFrame({
        "person_id": ids[:n_a].astype(object),
        "role": np.r_[np.full(len(homes_s), "grid_sentinel"),
                      np.full(len(homes_m), "building_member")].astype(object),
        "target_code": np.r_[chosen.index.to_numpy(dtype=object),
                             b["code"].to_numpy(dtype=object)[homes_m]],
        "active": np.ones(n_a, bool),
        "since": (today - rng.integers(30, 2000, n_a)).astype("datetime64[ms]"),
        "until": np.full(n_a, np.datetime64("NaT"), dtype="datetime64[ms]")})
    return people, assignments


def _fictional_tickets(rng: np.random.Generator, b: pd.DataFrame, grids: pd.DataFrame,
                       today: np.datetime64) -> gpd.GeoDataFrame:
    from .demo import names
    from .demo.generator import REPORTERS, TIME_LIMIT_DAYS, TOWN

    hh = float(b["households"].sum())
    n = max(20, round(TOWN.tickets_per_year * hh / (TOWN.urban_households
                                                     + TOWN.village_households)))
    cats = np.array(list(names.TICKET_CATEGORIES), dtype=object)[
        rng.integers(0, len(names.TICKET_CATEGORIES), n)]
    limit = np.array([TIME_LIMIT_DAYS[c] for c in cats])
    now = np.datetime64(clock.now().isoformat(), "s")
    created = (today - rng.integers(0, 365, n)).astype("datetime64[s]") + rng.integers(
        8 * 3600, 20 * 3600, n).astype("timedelta64[s]")
    created = np.sort(np.minimum(created, now - np.timedelta64(600, "s")))
    span = (limit * 0.5 * np.exp(rng.normal(0, 0.7, n)) * 86400).astype("timedelta64[s]")
    stuck = rng.random(n) < 0.04
    done = (created + span <= now) & ~stuck
    stage = np.clip(((now - created) / np.maximum(span, np.timedelta64(1, "s")) * 5)
                    .astype(int), 0, 5)
    stage = np.where(stuck & ~done, np.minimum(stage, 3), stage)
    opened = np.array(["received", "registered", "dispatched", "in_progress", "handled",
                       "verified"], dtype=object)[stage]
    status = np.where(done, np.where(rng.random(n) < 0.035, "closed_unresolved", "closed"),
                      opened)
    w = _home_weights(b)
    at = rng.choice(len(b), n, p=w / w.sum())
    comm = pd.Series(grids["community_code"].to_numpy(), index=grids["code"].to_numpy())
    place = b["name"].astype(str).to_numpy()[at]
    day = created.astype("datetime64[D]").astype(str)
    seq = pd.Series(np.ones(n, int)).groupby(day).cumsum().to_numpy()
    return gpd.GeoDataFrame({
        "id": np.char.add(np.char.add("T", np.char.replace(day, "-", "")),
                          np.char.zfill(seq.astype(str), 5)).astype(object),
        "category": cats, "status": status.astype(object),
        "grid_code": b["grid_code"].to_numpy(dtype=object)[at],
        "community_code": comm.reindex(b["grid_code"].to_numpy()[at]).to_numpy(dtype=object),
        "building_code": b["code"].to_numpy(dtype=object)[at],
        "reporter": np.array(REPORTERS, dtype=object)[rng.integers(0, len(REPORTERS), n)],
        "created_at": created.astype("datetime64[ms]"),
        "deadline": (created + (limit * 86400).astype("timedelta64[s]")).astype(
            "datetime64[ms]"),
        "closed_at": np.where(done, np.minimum(created + span, now), np.datetime64("NaT"))
        .astype("datetime64[ms]"),
        "text": names.ticket_texts(rng, cats, np.where(
            np.char.startswith(place.astype(str), "楼栋 OSM"), "本楼栋", place).astype(object))},
        geometry=shapely.point_on_surface(b.geometry.to_numpy()[at]), crs="EPSG:4326")
