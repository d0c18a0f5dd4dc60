"""What a real file leaves out, derived: parents found by location, codes made to follow the
hierarchy, households of grids and buildings, unknown optional columns.

:func:`complete` is called by the importer on a file's rows (already in WGS-84) with the
store they go into:

- **missing optional columns** (nullable in :mod:`layers.schema`) are added as unknown;
- **parents by location**: a row without its parent code gets the parent polygon its inner
  point (``point_on_surface``) lies in — communities → town, grids → community, buildings →
  grid; care points and car parks get the community (extra column ``community_code``) their
  codes are made under. A building outside every grid of the store is left out with a warning
  that lists it; other rows without a parent are errors;
- **codes** for rows without one: the parent's code + the next free number (communities and
  grids 3 digits, buildings 4, as the demo and the national codes do; care points ``C`` + 2,
  car parks ``P`` + 3 under their community; towns the next 9-digit number);
- **households**: a building without one gets footprint × floors ÷
  ``Settings.osm_m2_per_household`` (floors unknown: ``Settings.osm_default_levels``), said in a
  warning; a grid without one gets the households of the store's buildings inside it;
- ``communities.kind`` from the name (``…村`` → 村, else 社区) when the file has none;
- **roads**: multi-part lines become one row per part; a kind outside the contract (an OSM
  ``fclass`` such as ``bus_guideway``) becomes unknown, with a warning.

Problems name rows by their position in the frame (1 = first row); the importer renumbers
them as the file's own lines or features.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from . import crs as lcrs
from .labels import normalise
from .schema import spec
from .settings import DEFAULT_SETTINGS, Settings
from .validate import Collector, Problem, Severity, ValidationReport

__all__ = ["CODE_RULES", "Completed", "complete"]

#: How a row without a code gets one: (parent layer, parent column in the row or ``None`` when
#: the parent is only located, separator, digits).
CODE_RULES: dict[str, tuple[str | None, str | None, str, int]] = {
    "towns": (None, None, "", 9),
    "communities": ("towns", "town_code", "", 3),
    "grids": ("communities", "community_code", "", 3),
    "buildings": ("grids", "grid_code", "", 4),
    "care_points": ("communities", None, "C", 2),
    "parking": ("communities", None, "P", 3),
}
#: Column of the located community of care points and car parks (an extra column).
LOCATED_COMMUNITY = "community_code"


@dataclass
class Completed:
    """A file's rows completed: the frame, which of the file's rows it keeps (positions in
    the frame read), problems (rows numbered by position, 1 = first) and notes."""

    frame: pd.DataFrame
    kept: np.ndarray
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _missing(col: pd.Series) -> np.ndarray:
    text = col.astype("string").str.strip()
    return (col.isna() | (text == "")).fillna(True).to_numpy(dtype=bool)


def _present(df: pd.DataFrame, column: str) -> np.ndarray:
    if column not in df:
        return np.zeros(len(df), bool)
    return ~_missing(df[column])


def _geoms(df: pd.DataFrame) -> np.ndarray:
    if not isinstance(df, gpd.GeoDataFrame):
        return np.full(len(df), None, dtype=object)
    return df.geometry.to_numpy()


def _usable(geoms: np.ndarray) -> np.ndarray:
    return ~(shapely.is_missing(geoms) | shapely.is_empty(geoms)) & shapely.is_valid(geoms)


def locate(geoms: np.ndarray, parents: pd.DataFrame, key: str = "code") -> np.ndarray:
    """The ``key`` of the parent polygon each geometry's inner point lies in (``None``
    outside every one; on a shared border the first parent found)."""
    out = np.full(len(geoms), None, dtype=object)
    ok = _usable(geoms)
    pgeoms = _geoms(parents)
    pok = _usable(pgeoms) if len(pgeoms) else np.zeros(0, bool)
    if not ok.any() or not pok.any():
        return out
    pts = shapely.point_on_surface(geoms[ok])
    tree = shapely.STRtree(pgeoms[pok])
    pi, gi = tree.query(pts, predicate="intersects")
    first, at = np.unique(pi, return_index=True)
    keys = parents[key].to_numpy()[pok]
    out[np.flatnonzero(ok)[first]] = keys[gi[at]]
    return out


def next_codes(prefixes: np.ndarray, taken: Iterable[str], separator: str, digits: int
               ) -> np.ndarray:
    """New codes ``prefix + separator + number`` numbered after the largest number already
    taken under each prefix, in row order; the number is zero-filled to ``digits``.

    Vectorised over the codes taken (a city's two million building codes): they are cut at
    each prefix length once and the numbers grouped by head."""
    prefixes = np.asarray(prefixes, dtype=object)
    if not len(prefixes):
        return np.array([], dtype=object)
    heads = pd.Series([f"{p}{separator}" for p in prefixes], dtype=object)
    taken_s = pd.Series(list(taken), dtype=object).dropna().astype(str)
    top: dict[str, int] = dict.fromkeys(heads.unique(), 0)
    for length in heads.str.len().unique():
        cut, rest = taken_s.str.slice(0, length), taken_s.str.slice(length)
        sel = (cut.isin(heads[heads.str.len() == length].unique())
               & rest.str.fullmatch(r"\d+")).to_numpy(dtype=bool)
        if sel.any():
            best = pd.to_numeric(rest[sel]).groupby(cut[sel].to_numpy()).max()
            top.update({h: int(n) for h, n in best.items()})
    seq = heads.groupby(heads.to_numpy()).cumcount().to_numpy() + 1
    return np.array([f"{h}{str(top[h] + n).zfill(digits)}"
                     for h, n in zip(heads, seq, strict=True)], dtype=object)


class _Rows:
    """Problems of the rows of a completion, numbered by the rows *as given* (rows left out
    or split on the way keep the number they came with)."""

    def __init__(self, done: Completed) -> None:
        self.done = done
        self.n = len(done.frame)
        self.out = Collector(ValidationReport(done.problems))

    def add(self, problem: Problem) -> None:
        self.out.add(problem)

    def rows(self, layer: str, mask: np.ndarray, fieldname: str | None,
             message: str | np.ndarray, severity: Severity = "error") -> None:
        at = self.done.kept[mask]
        full = np.zeros(self.n, bool)
        full[at] = True
        if not isinstance(message, str):
            msg = np.empty(self.n, dtype=object)
            msg[at] = message[mask]
            message = msg
        self.out.rows(layer, full, None, fieldname, message, severity)


class _Context:
    """The store's layers the completion reads, each read once."""

    def __init__(self, store, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self._cache: dict[str, pd.DataFrame] = {}
        self.present = set(store.layer_names()) if store is not None else set()

    def layer(self, name: str) -> pd.DataFrame:
        if name not in self._cache:
            if name in self.present:
                self._cache[name] = self.store.read([name], check_geometry=False)[name]
            else:
                from .layerset import empty_layer

                self._cache[name] = empty_layer(name)
        return self._cache[name]

    def keys(self, name: str) -> pd.Series:
        key = spec(name).key
        assert key is not None
        return self.layer(name)[key]


def complete(df: pd.DataFrame, layer: str, store, *, mode: str = "append",
             settings: Settings = DEFAULT_SETTINGS) -> Completed:
    """Complete a file's rows for ``layer`` of ``store`` (see the module docstring).

    Parameters
    ----------
    df
        The file's rows, columns named as the contract, geometry in WGS-84.
    store
        The store the rows go into (its parent layers and codes are read), or ``None``.
    mode
        ``append`` or ``replace``: with ``replace`` the layer's current codes are given up,
        so only the file's own codes are taken.
    """
    ctx = _Context(store, settings)
    done = Completed(df.copy(), np.arange(len(df)))
    out = _Rows(done)
    _fill_unknown(done, layer)
    if layer == "communities" and "kind" not in df:
        name = done.frame["name"].astype("string") if "name" in done.frame else None
        if name is not None:
            done.frame["kind"] = np.where(name.str.strip().str.endswith("村").fillna(False),
                                          "村", "社区")
            done.notes.append("kind from the names (…村 → 村, else 社区)")
    if layer == "roads":
        _roads(done, out)
    if layer in CODE_RULES:
        _parents_and_codes(done, layer, ctx, mode, out)
    if layer == "buildings":
        _building_households(done, out, settings)
    if layer == "grids":
        _grid_households(done, ctx)
    return done


def _fill_unknown(done: Completed, layer: str) -> None:
    """Optional (nullable) contract columns the file lacks, added as unknown."""
    absent = [f for f in spec(layer).fields if f.nullable and f.name not in done.frame]
    for f in absent:
        done.frame[f.name] = pd.Series(pd.NA if f.kind in ("int", "bool") else None,
                                       index=done.frame.index,
                                       dtype={"int": "Int64", "bool": "boolean",
                                              "float": "float64"}.get(f.kind, object))
    if absent:
        done.notes.append("not in the file, left unknown: "
                          + ", ".join(f.name for f in absent))


def _keep(done: Completed, mask: np.ndarray) -> None:
    done.frame = done.frame[mask].reset_index(drop=True)
    done.kept = done.kept[mask]


def _parents_and_codes(done: Completed, layer: str, ctx: _Context, mode: str,
                       out: _Rows) -> None:
    parent, column, sep, digits = CODE_RULES[layer]
    df = done.frame
    key = spec(layer).key
    assert key is not None
    need_code = ~_present(df, key)
    where = column or LOCATED_COMMUNITY
    if parent is not None:
        has_parent = _present(df, where)
        # care points and car parks are located only for their codes
        todo = need_code & ~has_parent if column is None else ~has_parent
        if todo.any():
            _locate_parents(done, layer, parent, where, todo, ctx, out)
            df = done.frame
            need_code = ~_present(df, key)
    if not need_code.any():
        return
    prefixes = (df[where].astype(object).where(_present(df, where), "").to_numpy()
                if parent is not None and where in df else np.full(len(df), "", dtype=object))
    prefixes = np.where(pd.isna(prefixes), "", prefixes)
    taken = list(df[key].dropna().astype(str)) if key in df else []
    if mode == "append":
        taken += list(ctx.keys(layer).dropna().astype(str))
    todo_idx = np.flatnonzero(need_code)
    codes = next_codes(prefixes[todo_idx], taken, sep, digits)
    df[key] = df[key].astype(object) if key in df else pd.Series(None, index=df.index,
                                                                 dtype=object)
    df.loc[todo_idx, key] = codes
    done.notes.append(f"{len(codes)} code(s) made for rows without one"
                      + (f", under their {where}" if parent is not None else "")
                      + f" (e.g. {codes[0]})")


def _locate_parents(done: Completed, layer: str, parent: str, column: str,
                    todo: np.ndarray, ctx: _Context, out: _Rows) -> None:
    """Fill ``column`` of the rows ``todo`` with the parent polygon they lie in."""
    df = done.frame
    parents = ctx.layer(parent)
    geoms = _geoms(df)
    if len(parents) == 0:
        if layer in ("care_points", "parking"):
            return  # codes without a community
        hint = {"buildings": "run `python -m layers partition STORE` (it cuts grids and "
                             "places the buildings in them)"}.get(
            layer, f"import the {parent} first, or give {column}")
        out.add(Problem(layer, None, None, column, f"rows without {column} are placed in the "
                        f"store's {parent} by location, and the store has no {parent} yet: "
                        f"{hint}"))
        return
    found = locate(np.where(todo, geoms, None), parents)  # type: ignore[call-overload]  # stubs: None
    col = df[column].astype(object) if column in df else pd.Series(None, index=df.index,
                                                                   dtype=object)
    hit = todo & pd.notna(found)
    col[hit] = found[hit]
    df[column] = col
    n = int(hit.sum())
    if n:
        done.notes.append(f"{n} row(s) placed in their {parent} by location ({column})")
    lost = todo & pd.isna(found) & _usable(geoms)
    if not lost.any() or layer in ("care_points", "parking"):
        return
    if layer == "buildings":
        out.rows(layer, lost, "geometry", "outside every grid of the store: left out",
                 "warning")
        _keep(done, ~lost)
        return
    out.rows(layer, lost, column, f"no {column} and outside every one of the store's "
             f"{parent}: give {column} or fix the outline")


def _building_households(done: Completed, out: _Rows, settings: Settings) -> None:
    """Households of buildings without them: footprint × floors ÷ m² per household."""
    df = done.frame
    given = pd.to_numeric(df["households"], errors="coerce") if "households" in df else \
        pd.Series(np.nan, index=df.index)
    raw_given = _present(df, "households")
    need = ~raw_given
    geoms = _geoms(df)
    need &= _usable(geoms)
    if not need.any():
        return
    floors = pd.to_numeric(df["floors"], errors="coerce") if "floors" in df else \
        pd.Series(np.nan, index=df.index)
    known = floors.notna().to_numpy()
    levels = floors.fillna(settings.osm_default_levels).clip(lower=1).to_numpy(float)
    metric = lcrs.metric_crs(tuple(shapely.total_bounds(geoms[need])))
    area = gpd.GeoSeries(geoms[need], crs="EPSG:4326").to_crs(metric).area.to_numpy()
    est = np.maximum(1, np.round(area * levels[need] / settings.osm_m2_per_household))
    values = given.astype("float64").to_numpy().copy()
    values[need] = est
    df["households"] = pd.array(np.where(np.isnan(values), None, values), dtype="Int64") \
        if np.isnan(values).any() else values.astype("int64")
    msg = (f"households estimated: footprint × floors ÷ {settings.osm_m2_per_household:g} m² "
           "per household; give a households column (户数) for real figures")
    out.rows("buildings", need & known, "households", msg, "warning")
    out.rows("buildings", need & ~known, "households",
             msg.replace("floors ÷", f"floors (unknown: {settings.osm_default_levels} "
                                     "assumed) ÷"), "warning")


def _grid_households(done: Completed, ctx: _Context) -> None:
    """Households of grids without them: the store's buildings inside each grid."""
    df = done.frame
    need = ~_present(df, "households")
    if not need.any():
        return
    b = ctx.layer("buildings")
    hh: np.ndarray = np.zeros(len(df))
    if len(b):
        where = locate(_geoms(b), df.assign(_pos=np.arange(len(df))), key="_pos")
        inside = pd.notna(where)
        w = pd.to_numeric(b["households"], errors="coerce").fillna(0).to_numpy(float)
        hh = np.bincount(where[inside].astype(int), weights=w[inside], minlength=len(df))
    given = pd.to_numeric(df["households"], errors="coerce") if "households" in df else \
        pd.Series(np.nan, index=df.index)
    df["households"] = np.where(need, np.round(hh), given.fillna(0)).astype("int64")
    done.notes.append(f"households of {int(need.sum())} grid(s) from the store's buildings "
                      "inside them")


def _roads(done: Completed, out: _Rows) -> None:
    """One row per line part; kinds outside the contract become unknown (with a warning)."""
    df = done.frame
    if isinstance(df, gpd.GeoDataFrame) and len(df):
        multi = (df.geom_type == "MultiLineString").to_numpy()
        if multi.any():
            pos = np.arange(len(df))
            ex = df.assign(_pos=pos).explode(index_parts=False)
            done.frame = ex.drop(columns="_pos").reset_index(drop=True)
            done.kept = done.kept[ex["_pos"].to_numpy()]
            done.notes.append(f"{int(multi.sum())} multi-part line(s) split into their parts")
    df = done.frame
    if "kind" not in df:
        return
    choices = spec("roads").field("kind").choices
    assert choices is not None
    raw = df["kind"]
    codes = raw.map(lambda v: normalise(choices, v))
    unknown = (~_missing(raw)) & codes.isna().to_numpy()
    if unknown.any():
        msg = np.empty(len(df), dtype=object)
        msg[unknown] = [f"road kind {v!r} is not one of the contract's "
                        f"({', '.join(choices)}): kept without a kind"
                        for v in raw.astype(str).to_numpy()[unknown]]
        severity: Severity = "warning"
        out.rows("roads", unknown, "kind", msg, severity)
        df["kind"] = raw.astype(object).where(~unknown, None)
