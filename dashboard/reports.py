"""The coverage problem list (问题清单) for the community meeting: tables, CSV and Excel.

Names of grids, buildings and people are user data: the files are written through
:mod:`layers.export`, so none of them can start a formula in Excel or WPS.
"""

from __future__ import annotations

import pandas as pd

from dashboard.i18n import t
from layers.assignments import active_assignments
from layers.coverage import CoverageResult
from layers.export import write_csv, write_csv_zip, write_excel
from layers.layerset import LayerSet


def problem_tables(data: LayerSet, cov: CoverageResult, lang: str = "zh",
                   community: str | None = None) -> dict[str, pd.DataFrame]:
    """Flagged grids, flagged buildings and suggestions, with reasons, in the UI language.

    Parameters
    ----------
    data, cov
        The layers and their coverage.
    lang
        Headers and reasons in this language.
    community
        Only this community's rows (:func:`community_grids`: by the grid each row is in);
        ``None`` for the whole area.
    """
    tables = _problem_tables(data, cov, lang)
    if community is None:
        return tables
    grids = community_grids(cov, community)
    col = t("grid", lang)
    return {title: df[df[col].isin(grids).to_numpy()].reset_index(drop=True)
            for title, df in tables.items()}


def community_grids(cov: CoverageResult, community: str) -> set[str]:
    """The codes of the grids of one community — what the coverage page's filter keeps."""
    g = cov.grids
    return set(g.loc[(g["community_code"] == community).to_numpy(), "code"])


def duties_held(data: LayerSet, cov: CoverageResult) -> pd.DataFrame:
    """Per person, the grids and buildings held on the coverage's day: ``grids`` (as grid
    sentinel) and ``buildings`` (as building member), indexed by ``person_id``."""
    act = active_assignments(data["assignments"], cov.as_of)
    held = pd.crosstab(act["person_id"], act["role"])
    return pd.DataFrame({
        "grids": held.get("grid_sentinel", pd.Series(dtype=int)),
        "buildings": held.get("building_member", pd.Series(dtype=int)),
    }, index=held.index).fillna(0).astype(int)


def _suggestion_table(data: LayerSet, cov: CoverageResult, lang: str) -> pd.DataFrame:
    """Each suggested person with why: distance from home to the grid, the duties they hold
    now (grids, buildings) and the households of the grid they would take on."""
    s = cov.suggestions
    g = cov.grids.set_index("code")
    comm = data["communities"].set_index("code")["name"]
    held = duties_held(data, cov).reindex(s["person_id"]).fillna(0).astype(int)
    return pd.DataFrame({
        t("col_community_name", lang): comm.reindex(
            g["community_code"].reindex(s["grid_code"])).to_numpy(),
        t("grid", lang): s["grid_code"].to_numpy(),
        t("rank", lang): s["rank"].to_numpy(),
        t("person_id", lang): s["person_id"].to_numpy(),
        t("ppl_name", lang): s["name"].to_numpy(),
        t("distance_m", lang): pd.to_numeric(s["distance_m"]).round(0).astype("Int64")
        .to_numpy(),
        t("cov_held_grids", lang): held["grids"].to_numpy(),
        t("cov_held_buildings", lang): held["buildings"].to_numpy(),
        t("cov_grid_load", lang): g["households"].reindex(s["grid_code"]).to_numpy(),
    })


def _problem_tables(data: LayerSet, cov: CoverageResult, lang: str
                    ) -> dict[str, pd.DataFrame]:
    g = cov.grids
    comm = data["communities"].set_index("code")["name"]
    flagged = g[g["status"] != "ok"].copy()
    over = cov.overloaded_sentinels.explode("grids").set_index("grids")["households"]
    flagged["reason"] = flagged["status"].map(
        {"no_sentinel": t("reason_no_sentinel", lang), "overloaded": t("reason_overloaded", lang)})
    flagged["detail"] = ""
    is_over = flagged["status"] == "overloaded"
    flagged.loc[is_over, "detail"] = (
        over.reindex(flagged.loc[is_over, "code"]).astype("Int64").astype(str).to_numpy()
        + f" / {t('limit', lang)} {cov.settings.sentinel_max_households}")
    grids = pd.DataFrame({
        t("col_community_name", lang): comm.reindex(flagged["community_code"]).to_numpy(),
        t("grid", lang): flagged["code"].to_numpy(),
        t("name", lang): flagged["name"].to_numpy(),
        t("households", lang): flagged["households"].to_numpy(),
        t("reason", lang): flagged["reason"].to_numpy(),
        t("detail_col", lang): flagged["detail"].to_numpy(),
    })
    b = data["buildings"]
    nomem = b[b["code"].isin(cov.buildings_without_member)]
    grid_comm = g.set_index("code")["community_code"]
    outside = cov.buildings_outside_grid
    bld = pd.concat([
        pd.DataFrame({"code": nomem["code"].to_numpy(), "name": nomem["name"].to_numpy(),
                      "grid": nomem["grid_code"].to_numpy(),
                      "households": nomem["households"].to_numpy(),
                      "reason": t("reason_no_member", lang), "detail": ""}),
        pd.DataFrame({"code": outside["code"].to_numpy(),
                      "name": b.set_index("code")["name"].reindex(outside["code"]).to_numpy(),
                      "grid": outside["grid_code"].to_numpy(),
                      "households": b.set_index("code")["households"].reindex(
                          outside["code"]).to_numpy(),
                      "reason": t("reason_outside_grid", lang),
                      "detail": outside["located_grid"].fillna("—").to_numpy()}),
    ], ignore_index=True)
    buildings = pd.DataFrame({
        t("col_community_name", lang): comm.reindex(grid_comm.reindex(bld["grid"])).to_numpy(),
        t("grid", lang): bld["grid"].to_numpy(),
        t("building", lang): bld["code"].to_numpy(),
        t("name", lang): bld["name"].to_numpy(),
        t("households", lang): bld["households"].to_numpy(),
        t("reason", lang): bld["reason"].to_numpy(),
        t("detail_col", lang): bld["detail"].to_numpy(),
    })
    return {t("flagged_grids", lang): grids, t("flagged_buildings", lang): buildings,
            t("suggestions", lang): _suggestion_table(data, cov, lang)}


def to_csv(tables: dict[str, pd.DataFrame]) -> bytes:
    """One CSV with a section per table, UTF-8 with BOM so Excel in China opens it right; text
    that could start a formula is quoted (:func:`layers.export.write_csv`)."""
    return write_csv(tables)


def to_csv_zip(tables: dict[str, pd.DataFrame]) -> bytes:
    """A ZIP of one CSV per table (``<title>.csv``, UTF-8 with BOM, text made safe): each
    opens on its own in Excel or WPS (:func:`layers.export.write_csv_zip`)."""
    return write_csv_zip(tables)


def to_excel(tables: dict[str, pd.DataFrame]) -> bytes:
    """An .xlsx workbook with one sheet per table, text stored as text
    (:func:`layers.export.write_excel`)."""
    return write_excel(tables, fit_widths=True)


# -- 服务覆盖 (service reach): the page's tables and its workbook, headers in the UI language --

_REACH_GROUPS = ("elder_care", "child_care", "parking")


def _svc(group: str, lang: str) -> str:
    return t(f"reach_svc_{group}", lang)


def _names(codes: pd.Series, names: dict[str, str] | None) -> object:
    return codes.map(names).to_numpy() if names is not None else codes.to_numpy()


def _way(values: pd.Series, lang: str) -> object:
    """``network`` / ``straight`` as the words staff read."""
    return values.map({"network": t("reach_way_network", lang),
                       "straight": t("reach_way_straight", lang)}).fillna(values).to_numpy()


def _metres(values: pd.Series) -> object:
    """Distances in whole metres (missing: unreachable)."""
    return pd.to_numeric(values).round(0).astype("Int64").to_numpy()


def reach_buildings(b: pd.DataFrame, lang: str, *, names: dict[str, str] | None = None,
                    building_names: dict[str, str] | None = None,
                    groups: tuple[str, ...] = _REACH_GROUPS) -> pd.DataFrame:
    """Buildings with their walking distances (``ReachResult.buildings`` or some of its rows),
    headed in ``lang``; columns the input lacks are left out."""
    out = pd.DataFrame({t("building", lang): b["code"].to_numpy()})
    if building_names is not None:
        out[t("name", lang)] = b["code"].map(building_names).to_numpy()
    elif "name" in b:
        out[t("name", lang)] = b["name"].to_numpy()
    if "community_code" in b:
        out[t("col_community_name", lang)] = _names(b["community_code"], names)
    for col, key in (("grid_code", "grid"), ("households", "households")):
        if col in b:
            out[t(key, lang)] = b[col].to_numpy()
    for g in groups:
        if f"{g}_m" in b:
            out[t("reach_col_dist", lang).format(service=_svc(g, lang))] = _metres(b[f"{g}_m"])
    if "snap_m" in b:
        out[t("reach_col_snap", lang)] = _metres(b["snap_m"])
    if "method" in b:
        out[t("reach_col_method", lang)] = _way(b["method"], lang)
    return out


def reach_circles(summary: pd.DataFrame, lang: str, *, names: dict[str, str] | None = None,
                  level: str | None = None, groups: tuple[str, ...] = _REACH_GROUPS
                  ) -> pd.DataFrame:
    """Life-circle shares (``ReachResult.summary``; one ``level`` or all), headed in ``lang``:
    ``<service> ≤<d> m`` columns hold shares (0–1); just ``≤<d> m`` for one service."""
    s = summary if level is None or "level" not in summary else summary[
        (summary["level"] == level).to_numpy()]
    out = pd.DataFrame(index=range(len(s)))
    if level is None and "level" in s:
        out[t("reach_col_level", lang)] = s["level"].map(
            lambda v: t(f"reach_level_{v}", lang)).to_numpy()
    if "code" in s:
        if level is None:
            out[t("reach_col_code", lang)] = s["code"].to_numpy()
        if names is not None:
            out[t("col_community_name", lang)] = s["code"].map(names).to_numpy()
    if "households" in s:
        out[t("households", lang)] = s["households"].to_numpy()
    for col in s.columns:
        parts = str(col).split("_")
        if parts[0] != "share" or len(parts) < 3 or "_".join(parts[1:-1]) not in groups:
            continue
        g, d = "_".join(parts[1:-1]), parts[-1]
        head = (t("reach_band_le", lang).format(d=d) if len(groups) == 1
                else t("reach_col_share", lang).format(service=t(f"reach_{g}", lang), d=d))
        out[head] = s[col].to_numpy()
    return out


def reach_parking(parking: pd.DataFrame, lang: str, *, names: dict[str, str] | None = None
                  ) -> pd.DataFrame:
    """Parking supply and demand per grid (``layers.reach.parking_balance``), in ``lang``."""
    heads = {"grid_code": "grid", "households": "households", "supply": "reach_supply",
             "demand": "reach_demand", "balance": "reach_balance"}
    out = pd.DataFrame(index=range(len(parking)))
    for col, key in heads.items():
        if col in parking:
            out[t(key, lang)] = parking[col].to_numpy()
        if col == "grid_code" and "community_code" in parking:
            out[t("col_community_name", lang)] = _names(parking["community_code"], names)
    extra = [c for c in parking.columns if c not in heads and c != "community_code"]
    for col in extra:  # a column this table does not know is kept, not dropped silently
        out[str(col)] = parking[col].to_numpy()
    return out


def reach_suggestions(s: pd.DataFrame, lang: str, *, held: pd.DataFrame | None = None
                      ) -> pd.DataFrame:
    """The walking-distance sentinel suggestions (``layers.reach.suggest_sentinels``) with why:
    distance, how it was measured and the duties the person holds now (``held``:
    :func:`duties_held`)."""
    heads = {"grid_code": "grid", "person_id": "person_id", "name": "ppl_name"}
    out = pd.DataFrame(index=range(len(s)))
    for col, key in heads.items():
        if col in s:
            out[t(key, lang)] = s[col].to_numpy()
    if "distance_m" in s:
        out[t("distance_m", lang)] = _metres(s["distance_m"])
    if "method" in s:
        out[t("reach_col_method", lang)] = _way(s["method"], lang)
    if held is not None and "person_id" in s:
        h = held.reindex(s["person_id"]).fillna(0).astype(int)
        out[t("cov_held_grids", lang)] = h["grids"].to_numpy()
        out[t("cov_held_buildings", lang)] = h["buildings"].to_numpy()
    return out


def reach_workbook_tables(result, parking: pd.DataFrame, suggestions: pd.DataFrame,  # noqa: ANN001
                          lang: str, *, names: dict[str, str] | None = None,
                          building_names: dict[str, str] | None = None,
                          held: pd.DataFrame | None = None) -> dict[str, pd.DataFrame]:
    """The 服务覆盖 workbook's sheets (title → table), every header in ``lang``."""
    return {
        t("reach_sheet_buildings", lang): reach_buildings(
            result.buildings, lang, names=names, building_names=building_names),
        t("reach_sheet_circles", lang): reach_circles(result.summary, lang),
        t("reach_sheet_parking", lang): reach_parking(parking, lang, names=names),
        t("reach_sheet_suggestions", lang): reach_suggestions(suggestions, lang, held=held),
    }


def households_beyond(b: pd.DataFrame, group: str, metres: float) -> tuple[int, int, pd.Series]:
    """Households with no ``group`` service within ``metres`` (farther, or unreachable).

    Returns
    -------
    (households beyond, all households, households beyond per community code, largest first)
    """
    hh = pd.to_numeric(b["households"]).fillna(0)
    d = pd.to_numeric(b[f"{group}_m"])
    far = (d.isna() | (d > metres)).to_numpy()
    per = hh[far].groupby(b["community_code"].to_numpy()[far]).sum()
    per = per[per > 0].sort_values(ascending=False, kind="stable")
    return int(hh[far].sum()), int(hh.sum()), per.astype(int)
