"""The coverage problem list (问题清单) for the community meeting: tables, CSV and Excel.

Names of grids, buildings and people are user data: the files are written through
:mod:`layers.export`, so none of them can start a formula in Excel or WPS.
"""

from __future__ import annotations

import pandas as pd

from dashboard.i18n import t
from layers.coverage import CoverageResult
from layers.export import write_csv, write_excel
from layers.layerset import LayerSet


def problem_tables(data: LayerSet, cov: CoverageResult, lang: str = "zh"
                   ) -> dict[str, pd.DataFrame]:
    """Flagged grids, flagged buildings and suggestions, with reasons, in the UI language."""
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
    s = cov.suggestions
    suggestions = pd.DataFrame({
        t("grid", lang): s["grid_code"].to_numpy(),
        t("rank", lang): s["rank"].to_numpy(),
        t("person_id", lang): s["person_id"].to_numpy(),
        t("name", lang): s["name"].to_numpy(),
        t("distance_m", lang): s["distance_m"].to_numpy(),
    })
    return {t("flagged_grids", lang): grids, t("flagged_buildings", lang): buildings,
            t("suggestions", lang): suggestions}


def to_csv(tables: dict[str, pd.DataFrame]) -> bytes:
    """One CSV with a section per table, UTF-8 with BOM so Excel in China opens it right; text
    that could start a formula is quoted (:func:`layers.export.write_csv`)."""
    return write_csv(tables)


def to_excel(tables: dict[str, pd.DataFrame]) -> bytes:
    """An .xlsx workbook with one sheet per table, text stored as text
    (:func:`layers.export.write_excel`)."""
    return write_excel(tables, fit_widths=True)
