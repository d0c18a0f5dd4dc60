"""The map builders, tested on their folium objects and rendered HTML (AppTest cannot look
inside st_folium)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import shapely

from dashboard import mapview, offline
from dashboard.mapview import STATUS_COLOURS, VectorLayer, build_map, prepare
from layers import crs as lcrs
from layers.coverage import coverage


@pytest.fixture(scope="module")
def cov(demo):
    return coverage(demo)


@pytest.fixture(scope="module")
def md(demo, cov):
    return prepare(demo, cov)


def _features(text: str) -> list[dict]:
    return mapview.features(text)


def test_every_layer_is_valid_geojson(md, demo):
    expected = {"roads", "towns", "communities", "grids", "buildings", "sentinels", "members",
                "elder_care", "child_care", "parking"}
    assert expected <= set(md.layers)
    for name, text in md.layers.items():
        rows = json.loads(text)  # [[geometry, properties], …]
        assert len(rows) == md.counts[name], name
        for geometry, props in rows[:50]:
            assert geometry["type"] in ("Point", "LineString", "Polygon", "MultiPolygon")
            assert isinstance(props, dict)
    assert md.counts["grids"] == len(demo.grids)
    assert md.counts["buildings"] == len(demo.buildings)
    assert not md.aggregated


def test_grids_coloured_by_status(md, cov, demo):
    status = dict(zip(cov.grids.code, cov.grids.status, strict=True))
    feats = _features(md.layers["grids"])
    assert {f["properties"]["code"]: f["properties"]["s"] for f in feats} == status
    m = build_map(md, mapview.tile_sources()["none"])
    grids = next(c for c in m._children.values()
                 if isinstance(c, VectorLayer) and c.layer_name.startswith("网格"))
    assert grids.styles["no_sentinel"]["fillColor"] == STATUS_COLOURS["no_sentinel"]
    html = m.get_root().render()
    assert STATUS_COLOURS["no_sentinel"] in html
    # the sentinel's name is in the grid's tooltip; grids without one say so
    no = next(f for f in feats if f["properties"]["s"] == "no_sentinel")
    assert "哨兵：无" in no["properties"]["tt"]


def test_layers_present_and_grouped(md):
    m = build_map(md, mapview.tile_sources()["none"])
    html = m.get_root().render()
    names = {c.layer_name for c in m._children.values() if hasattr(c, "layer_name")}
    for label in ("网格（按哨兵状态）", "楼栋（放大后显示）", "网格哨兵", "养老服务点", "托育服务点",
                  "停车场（按车位）", "社区/村", "道路"):
        assert label in names, label
    assert any(n.startswith("未办结工单") for n in names)
    control = next(c for c in m._children.values() if c._name == "GroupedLayerControl")
    assert set(control.grouped_overlays) == {"底图", "区划与网格", "人员", "服务设施", "工单"}
    assert "L.control.groupedLayers" in html
    assert "markerClusterGroup" in html  # tickets clustered, not one folium.Marker each
    assert "L.heatLayer" in html  # the heat-map option (off until chosen)
    assert any(n == "工单热力图" for n in names)
    # only the DivIcon templates (老, 幼, the no-sentinel badge), never one per point
    assert html.count("L.marker(") <= 3
    assert "wg-legend" in html
    # buildings only from street zoom
    assert re.search(r"m\.getZoom\(\) >= 16", html)


def test_no_cdn_and_no_tiles_by_default(md):
    html = build_map(md, mapview.tile_sources()["none"]).get_root().render()
    assert offline.external_urls(html) == []
    assert "tile.openstreetmap" not in html and "autonavi" not in html


def test_ticket_text_is_escaped(demo, cov):
    t = demo.tickets.copy()
    i = int(np.flatnonzero(~t.status.isin(["closed", "closed_unresolved"]))[0])
    t.loc[i, "text"] = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    b = demo.buildings.copy()
    b.loc[0, "name"] = "</script><b>楼</b>"
    data = demo.replace(tickets=t, buildings=b)
    md = prepare(data, cov)
    html = build_map(md, mapview.tile_sources()["none"]).get_root().render()
    assert "<script>alert" not in html
    assert "<img src=x" not in html
    # data can never close the page's script element
    assert "</script><b>楼" not in html
    [row] = [r for r in md.tickets if "alert" in r[6]]
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;img src=x" in row[6]
    tips = [f["properties"]["tt"] for f in _features(md.layers["buildings"])]
    assert any("&lt;/script&gt;&lt;b&gt;楼" in tip for tip in tips)
    assert "</script><b>" not in md.layers["buildings"]


def test_amap_base_shifts_overlays_to_gcj02(demo, cov):
    wgs = prepare(demo, cov, crs="wgs84")
    gcj = prepare(demo, cov, crs="gcj02")
    a = shapely.get_coordinates(mapview.layer_geometries(wgs, "grids")[0])
    b = shapely.get_coordinates(mapview.layer_geometries(gcj, "grids")[0])
    ex, ey = lcrs.wgs84_to_gcj02(a[:, 0], a[:, 1])
    np.testing.assert_allclose(b[:, 0], ex, atol=1.1e-5)
    np.testing.assert_allclose(b[:, 1], ey, atol=1.1e-5)
    shift_m = np.hypot((b[:, 0] - a[:, 0]) * 96_800, (b[:, 1] - a[:, 1]) * 111_000)
    assert 300 < shift_m.mean() < 700  # the ~500 m everything would be off without it
    assert gcj.bounds[0] > wgs.bounds[0] + 0.003
    tk_w, tk_g = wgs.tickets[0], gcj.tickets[0]
    assert tk_g[1] - tk_w[1] == pytest.approx(0.0038, abs=0.0004)  # lon east
    assert tk_g[0] - tk_w[0] == pytest.approx(-0.0027, abs=0.0004)  # lat south
    m = build_map(gcj, mapview.tile_sources()["amap"])
    assert "autonavi.com" in m.get_root().render()


def test_grids_keep_sharing_edges_after_simplification(md, demo):
    geoms = mapview.layer_geometries(md, "grids")
    assert shapely.is_valid(geoms).all()
    import geopandas as gpd

    metric = gpd.GeoSeries(geoms, crs=4326).to_crs(4544).to_numpy()
    exact = demo.grids.to_crs(4544).geometry.to_numpy()
    union = shapely.union_all(metric)
    # no gaps or overlaps worth a pixel: slivers between neighbours add up to < 0.002 % of
    # the town, and the grids still cover the same area as the exact ones
    overlap = shapely.area(metric).sum() - union.area
    assert 0 <= overlap < 2e-5 * union.area
    assert union.area == pytest.approx(shapely.union_all(exact).area, rel=1e-3)
    # coordinates on a 1e-6° grid (≈ 0.1 m), sent as integers from the view's corner
    assert md.quant["grids"][2] == pytest.approx(1e-6)
    raw = np.array(_features(md.layers["grids"])[0]["geometry"]["coordinates"][0])
    assert np.issubdtype(raw.dtype, np.integer)


def test_quantised_layers_decode_in_the_browser(md):
    m = build_map(md, mapview.tile_sources()["none"])
    html = m.get_root().render()
    x0, y0, step = md.quant["buildings"]
    assert "coordsToLatLng" in html
    assert f"{y0} + c[1] * {step}" in html
    # buildings: whole numbers only, about half the bytes of decimal degrees
    assert re.search(r"\[\d+,\d+\]", md.layers["buildings"])
    assert not re.search(r"\d\.\d", md.layers["buildings"].split('"properties"')[0])


def test_community_filter(demo, cov):
    code = demo.communities.code.iloc[1]
    md = prepare(demo, cov, community=code)
    codes = {f["properties"]["code"] for f in _features(md.layers["grids"])}
    assert codes == set(demo.grids.code[demo.grids.community_code == code])
    assert md.counts["communities"] == 1
    assert 0 < md.counts["buildings"] < len(demo.buildings)


def test_aggregates_to_communities_on_large_data(demo, cov):
    md = prepare(demo, cov, max_grids=50)
    assert md.aggregated and "grids" not in md.layers and "buildings" not in md.layers
    s = {f["properties"]["code"]: f["properties"]["s"] for f in _features(
        md.layers["communities"])}
    worst = cov.summary.set_index("community_code").grid_coverage.drop("town")
    for c, share in worst.items():
        assert s[c] == ("a" if share >= 0.999 else "b" if share >= 0.9 else "c")


def test_tile_sources_configuration():
    tiles = mapview.tile_sources({})
    assert tiles["none"].url is None
    assert tiles["tianditu"].url is None  # no token, no Tianditu
    assert tiles["amap"].crs == "gcj02"
    tiles = mapview.tile_sources({"tianditu_token": "abc123",
                                  "osm_url": "http://tiles.intranet/{z}/{x}/{y}.png"})
    assert "tk=abc123" in tiles["tianditu"].url and "tk=abc123" in tiles["tianditu"].overlay_url
    assert tiles["osm"].url.startswith("http://tiles.intranet/")


def test_selection_outline(demo, md):
    code = demo.buildings.code.iloc[3]
    sel = mapview.selection_geojson(demo, code)
    assert sel and mapview.features(sel)[0]["properties"]["k"] == "s"
    m = build_map(md, mapview.tile_sources()["none"], selected=code, selected_geojson=sel)
    html = m.get_root().render()
    assert "#00e5ff" in html
    assert mapview.selection_geojson(demo, "nope") is None


@pytest.mark.skipif(__import__("shutil").which("node") is None, reason="node not installed")
@pytest.mark.parametrize("aggregated", [False, True])
def test_the_script_st_folium_sends_is_valid_javascript(demo, cov, tmp_path, aggregated):
    """A syntax error anywhere leaves the map iframe at 0 px with no message: parse the exact
    script streamlit-folium sends (the browser tests prove it also runs)."""
    import subprocess

    from streamlit_folium import _get_map_string

    md = prepare(demo, cov, max_grids=50 if aggregated else 5000)
    sel = mapview.selection_geojson(demo, demo.grids.code.iloc[0])
    m = build_map(md, mapview.tile_sources()["none"], selected=demo.grids.code.iloc[0],
                  selected_geojson=sel)
    script = tmp_path / "map.js"
    script.write_text(_get_map_string(m))
    r = subprocess.run(["node", "--check", str(script)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[:500]
