"""数据管理 — bring a file into a layer: upload, preview beside the current layer, read the
validation report, confirm."""

from __future__ import annotations

import functools
import json
import logging
import tempfile
from pathlib import Path

import folium
import geopandas as gpd
import pandas as pd
import shapely
import streamlit as st
from streamlit_folium import st_folium

from dashboard import auth, mapview, offline
from dashboard.i18n import t
from dashboard.state import StoreView, fictional_banner, go_to_row, lang
from dashboard.text import md
from dashboard.views import data_report, new_area
from dashboard.views.data_report import display_name, layer_label
from layers import export
from layers.errors import LayersError, LayerValidationError
from layers.importer import check_file, import_file, is_osm
from layers.lookup import mask_phone
from layers.osm import OSM_MAP_ATTRIBUTION
from layers.schema import LAYER_NAMES
from layers.validate import ValidationReport

log = logging.getLogger(__name__)

UPLOAD_TYPES = ["csv", "txt", "xlsx", "zip", "geojson", "json", "gpkg", "osm", "bz2", "gz"]


def preview_map(current: pd.DataFrame | None, new: pd.DataFrame | None, *,
                credit: str | None = None) -> folium.Map:
    """The current layer (grey) and the new rows (blue) on one offline map; ``credit`` names
    the data's source in the attribution (© OpenStreetMap contributors for OSM data)."""
    offline.use_local_assets()
    frames = [f for f in (current, new) if isinstance(f, gpd.GeoDataFrame) and len(f)]
    geoms = [g for f in frames for g in f.geometry.to_numpy()[:20000] if g is not None]
    b = shapely.total_bounds(geoms) if geoms else (106.2, 29.5, 106.4, 29.7)
    m = folium.Map(tiles=None, control_scale=False)
    m.options["maxZoom"] = 19
    for frame, colour, name in ((current, "#888888", "current"), (new, "#1f77b4", "file")):
        if not isinstance(frame, gpd.GeoDataFrame) or frame.empty:
            continue
        g = frame.geometry.to_numpy()[:20000]
        g = g[~shapely.is_missing(g)]
        data = mapview.feature_collection(mapview._round(g, 6),
                                          pd.DataFrame(index=range(len(g))))
        mapview.VectorLayer(data, name, base={"color": colour, "weight": 1,
                                              "fillColor": colour, "fillOpacity": 0.35,
                                              "radius": 4}).add_to(m)
    mapview.MapScript("map.attributionControl.setPrefix('Leaflet');"
                      + mapview.METRIC_SCALE).add_to(m)
    L = lang()
    mapview.add_legend(m, t("legend", L), [("#888888", t("data_map_current", L), "square"),
                                           ("#1f77b4", t("data_map_file", L), "square")])
    if credit:
        mapview.MapScript("map.attributionControl.addAttribution("
                          f"{json.dumps(credit)});").add_to(m)
    m.fit_bounds([[b[1], b[0]], [b[3], b[2]]])
    return m


def render() -> None:
    L = lang()
    store = StoreView()
    store.principal.require("import")  # the page is registered for admins only; belt and braces
    st.title(t("page_data", L))
    fictional_banner(store)
    tab_import, tab_new = st.tabs([t("data_tab_import", L), t("data_tab_new", L)])
    with tab_new:
        new_area.render(store, ["zip", "geojson", "json", "gpkg"])
    with tab_import:
        _import(store)


def _import(store: StoreView) -> None:
    L = lang()
    st.caption(t("data_hint", L))
    c1, c2, c3 = st.columns(3)
    names = list(LAYER_NAMES)  # roads too (an OSM extract or a line file: the walking network)
    wanted = st.query_params.get("layer")
    layer = c1.selectbox(t("data_layer", L), names, key="data_layer",
                         format_func=lambda n: layer_label(n, L),
                         index=names.index(wanted) if wanted in names else 0)
    mode = c2.radio(t("data_mode", L), ["append", "replace"], horizontal=True,
                    format_func=lambda m: t(f"data_{m}", L), key="data_mode")
    crs = c3.text_input(t("data_crs", L), placeholder="gcj02 / bd09 / EPSG:4544",
                        key="data_crs", max_chars=40).strip() or None
    mapping_text = st.text_area(t("data_mapping", L), placeholder="楼名=name\n床位=capacity",
                                key="data_mapping", height=80, max_chars=2000)
    mapping = dict(line.split("=", 1) for line in mapping_text.splitlines() if "=" in line)
    upload = st.file_uploader(t("data_file", L), type=UPLOAD_TYPES, key="data_file")
    if upload is None:
        return
    suffix = upload_suffix(upload.name)
    if suffix is None:
        st.error(t("data_bad_type", L).format(types=", ".join(UPLOAD_TYPES)))
        return
    shown = display_name(upload.name)
    with tempfile.TemporaryDirectory(prefix="wangge-upload-") as folder:
        tmp = Path(folder) / f"upload{suffix}"  # never the client's name: it is not a path
        tmp.write_bytes(upload.getvalue())
        _check_and_confirm(store, tmp, shown, layer, mode, crs, mapping, upload.file_id)


def upload_suffix(client_name: str) -> str | None:
    """The suffix of an uploaded file's name when it is one the page accepts, else None.

    The name is the client's choice (a request may say ``../../x.gpkg`` or ``/abs/path``): only
    its suffix is ever used, and only from the accepted list; it picks the reader."""
    name = Path(client_name.replace("\\", "/")).name.lower()
    for double in (".osm.bz2", ".osm.gz"):  # compressed OSM extracts keep both suffixes
        if name.endswith(double):
            return double
    suffix = Path(name).suffix
    return suffix if suffix.lstrip(".") in UPLOAD_TYPES and suffix not in (".bz2", ".gz") \
        else None


def _plain(message: str, tmp: Path, shown: str) -> str:
    """A message about the temporary copy, naming the user's file instead of a server path."""
    return md(message.replace(str(tmp), shown).replace(str(tmp.parent), ""))


def _check_and_confirm(store: StoreView, tmp: Path, shown: str, layer: str, mode: str,
                       crs: str | None, mapping: dict[str, str], file_id: str) -> None:
    L = lang()
    target = store.open()
    result, failure = None, None
    with st.status(t("data_checking", L), expanded=False) as status:
        try:
            result = check_file(target, tmp, layer, mode=mode, crs=crs, mapping=mapping)
        except (LayersError, ValueError) as exc:
            failure = exc
            status.update(label=t("data_unreadable", L), state="error")
        else:
            status.update(label=t("data_checked", L), state="complete")
    if result is None:  # said where the eye is, not inside the collapsed box
        _refused(failure, tmp, shown)
        return
    errors = result.report.errors
    if errors:  # first, where the eye is: every kind of problem, grouped
        _refusal(result.report, tmp, shown)
    else:
        st.success(t("data_ok", L).format(n=result.rows))
    _notes(result.notes, tmp, shown)
    center, zoom = st.session_state.get(_GOTO) or (None, None)  # a row picked below
    st_folium(preview_map(store.data.get(layer), result.file_rows,
                          credit=OSM_MAP_ATTRIBUTION if is_osm(tmp) else None),
              key=f"data_preview_{file_id}", height=420, use_container_width=True,
              returned_objects=[], center=center, zoom=zoom)
    n = len(result.file_rows) if result.file_rows is not None else 0
    st.caption(t("data_rows_in_file", L).format(n=n))
    if not errors and len(result.report.problems):
        _report(result.report, tmp, shown)
    _file_rows(result.file_rows)
    if not errors and st.button(t("data_confirm", L), type="primary"):
        _import_now(store, target, tmp, shown, layer, mode, crs, mapping, result.rows)


def _refused(failure: Exception | None, tmp: Path, shown: str) -> None:
    """A file the check could not read (or whose rows it refused): the reason in plain words,
    visibly; the reader's own message (with the server's path) to the log only."""
    if isinstance(failure, LayerValidationError):
        _refusal(failure.report, tmp, shown)
        return
    log.warning("upload %s refused: %s", shown, failure)
    st.error(data_report.unreadable(failure or ValueError(), lang(), md(shown)))


def _refusal(report: ValidationReport, tmp: Path, shown: str) -> None:
    """The refusal: how many kinds of problem and places, nothing stored changed, and the
    grouped report."""
    L = lang()
    kinds = data_report.groups(ValidationReport(report.errors))
    st.error(t("data_refused_kinds", L).format(
        kinds=len(kinds), n=sum(p.count for p in report.errors)))
    _report(report, tmp, shown)


def _report(report: ValidationReport, tmp: Path, shown: str) -> None:
    """The check report: one line per kind of problem (field, problem, how many, the file's
    line numbers), errors first, headers in the user's language, and its CSV; the file
    named as the user named it."""
    L = lang()
    table = data_report.report_table(report, L, str(tmp), shown)
    source = t("data_col_source", L)
    shown_table = table
    if (table[source] == shown).all():  # the file's own rows only: named once, above
        st.caption(t("data_report_of", L).format(name=md(shown)))
        shown_table = table.drop(columns=source)
    else:
        st.caption(t("data_report", L))
    st.table(shown_table.style.hide(axis="index"))  # text wraps: every problem in full
    st.download_button(t("data_download_report", L), export.write_csv(table),
                       file_name=f"{Path(shown).stem}-{t('data_report_file', L)}.csv",
                       mime="text/csv", key="data_report_csv")


def _notes(notes: list[str], tmp: Path, shown: str) -> None:
    """How the file was read (encoding, columns, CRS, codes made), in the user's language."""
    L = lang()
    if notes:
        st.caption(t("data_notes", L) + "：" if L == "zh" else t("data_notes", L) + ":")
        st.markdown("\n".join(f"- {_plain(data_report.say(n, L), tmp, shown)}" for n in notes))


def _file_rows(rows: pd.DataFrame | None) -> None:
    """The file's first rows, columns named as staff say them."""
    L = lang()
    if rows is None:
        return
    shown = pd.DataFrame(rows).drop(columns="geometry", errors="ignore").head(50)
    if "phone" in shown:  # personal: masked, as on every page
        shown["phone"] = shown["phone"].map(mask_phone)
    for col in ("kind", "renovation", "role"):  # codes as staff say them
        if col in shown:
            shown[col] = shown[col].map(lambda v: data_report.code_label(v, L)
                                        if isinstance(v, str) else v)
    st.caption(t("data_preview_cols", L))
    places = _row_points(rows)
    st.dataframe(shown.rename(columns=lambda c: data_report.field_label(str(c), L)),
                 hide_index=True, width="stretch", key="data_rows", selection_mode="single-row",
                 on_select=functools.partial(go_to_row, "data_rows", places, _GOTO))


#: Session key: where the preview map goes (a row of the file picked), ((lat, lon), zoom)
_GOTO = "data_preview_goto"


def _row_points(rows: pd.DataFrame) -> list:
    """A point inside each of the first 50 rows' geometries (None without one)."""
    if not isinstance(rows, gpd.GeoDataFrame):
        return []
    g = rows.geometry.to_numpy()[:50]
    return [None if p is None or p.is_empty else p for p in shapely.point_on_surface(g)]


def _import_now(store: StoreView, target, tmp: Path, shown: str, layer: str,  # noqa: PLR0913
                mode: str, crs: str | None, mapping: dict[str, str], rows: int) -> None:
    L = lang()
    try:
        import_file(target, tmp, layer, mode=mode, crs=crs, mapping=mapping,
                    principal=store.principal, name=shown)
    except (LayersError, ValueError) as exc:  # someone else wrote meanwhile, or unreadable now
        _refused(exc, tmp, shown)
        return
    auth.audit(store.key, "import", layer, f"{mode} {rows} rows from {shown}")
    st.success(t("data_done", L).format(n=rows, layer=layer_label(layer, L)))
