"""Offline charts: Vega-Lite specs (Altair) that Streamlit renders with its bundled Vega."""

from __future__ import annotations

import json

import altair as alt
import pandas as pd
import shapely

from dashboard.i18n import t
from layers.layerset import LayerSet

STATUS_COLOURS = {"ok": "#4c9f70", "no_sentinel": "#d62728", "overloaded": "#ff9f1c"}


def _features(gdf, props: pd.DataFrame, tolerance: float = 0.00002) -> dict:
    """A GeoJSON FeatureCollection with simplified, rounded geometry and only ``props``."""
    geoms = shapely.set_precision(shapely.simplify(gdf.geometry.to_numpy(), tolerance), 1e-6)
    geo = json.loads(shapely.to_geojson(shapely.GeometryCollection(list(geoms))))["geometries"]
    records = props.to_dict(orient="records")
    return {"type": "FeatureCollection",
            "features": [{"type": "Feature", "geometry": g, "properties": p}
                         for g, p in zip(geo, records, strict=True)]}


def town_map(data: LayerSet, grid_status: pd.DataFrame, lang: str = "zh") -> alt.LayerChart:
    """Grids coloured by sentinel status under community outlines, drawn without tiles."""
    status = grid_status.set_index("code").reindex(data.grids.code)
    labels = {k: t(f"status_{k}", lang) for k in STATUS_COLOURS}
    props = pd.DataFrame({
        "code": data.grids.code.to_numpy(),
        "name": data.grids.name.to_numpy(),
        "households": status.households.to_numpy(),
        "status": status.status.map(labels).to_numpy(),
    })
    grids = alt.Data(values=_features(data.grids, props)["features"])
    comm = alt.Data(values=_features(
        data.communities, data.communities[["code", "name"]].astype(str))["features"])
    colour = alt.Color(
        "properties.status:N",
        scale=alt.Scale(domain=[labels[k] for k in STATUS_COLOURS],
                        range=list(STATUS_COLOURS.values())),
        legend=alt.Legend(title=None, orient="top"),
    )
    base = alt.Chart(grids).mark_geoshape(stroke="white", strokeWidth=0.4).encode(
        color=colour,
        tooltip=[alt.Tooltip("properties.code:N", title=t("grids", lang)),
                 alt.Tooltip("properties.name:N", title=""),
                 alt.Tooltip("properties.households:Q", title=t("col_households", lang)),
                 alt.Tooltip("properties.status:N", title="")],
    )
    outline = alt.Chart(comm).mark_geoshape(filled=False, stroke="#1f2328", strokeWidth=1.4)
    return (base + outline).project(type="mercator").properties(height=620)
