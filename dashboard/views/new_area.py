"""新建辖区 — the data page's way to a new store without Python, as ``python -m layers new``:
upload an OSM extract (and a communities boundary file), see the proposed communities and grids
on the map with what was made and dropped, then confirm. The new store lands in the data folder
(``?data=NAME``); its creator's administrator account comes along, so they can log in to it."""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
from pathlib import Path

import streamlit as st
from streamlit_folium import st_folium

from dashboard import auth
from dashboard import data as appdata
from dashboard.i18n import MESSAGES, t
from dashboard.state import StoreView, lang
from dashboard.text import md
from dashboard.views import data_report
from dashboard.views.data_report import display_name
from layers.auth import Accounts
from layers.errors import LayersError, LayerValidationError
from layers.newstore import NewStoreError, new_store
from layers.osm import OSM_MAP_ATTRIBUTION, OsmError
from layers.settings import Settings
from layers.store import open_store

log = logging.getLogger(__name__)

OSM_TYPES = ["osm", "bz2", "gz"]
_NAME = re.compile(r"[\w-][\w.-]{0,63}")
_PREVIEW = "new_area_preview"


def render(store: StoreView, boundary_types: list[str]) -> None:
    L = lang()
    st.caption(t("new_hint", L))
    c1, c2, c3 = st.columns(3)
    town = c1.text_input(t("new_town_name", L), max_chars=40, key="new_town").strip() or None
    per_grid = int(c2.number_input(t("new_per_grid", L), min_value=50, max_value=3000,
                                   value=300, step=50, key="new_per_grid"))
    crs = c3.text_input(t("new_crs", L), placeholder="gcj02 / EPSG:4544", max_chars=40,
                        key="new_crs").strip() or None
    osm = st.file_uploader(t("new_osm", L), type=OSM_TYPES, key="new_osm")
    comms = st.file_uploader(t("new_communities", L), type=boundary_types, key="new_comms")
    fictional = st.checkbox(t("new_fictional", L), key="new_fictional")
    if osm is not None and st.button(t("new_preview", L), type="primary"):
        _make_preview(osm, comms, town=town, crs=crs, per_grid=per_grid, fictional=fictional)
    preview = st.session_state.get(_PREVIEW)
    if preview and Path(preview["path"]).exists():
        _show_preview(preview)
        _confirm(store, preview)


def _upload_name(name: str, kinds: list[str]) -> str | None:
    """The temporary file name for an upload (only its checked suffix is kept)."""
    low = name.lower()
    for suffix in (".osm.bz2", ".osm.gz", ".osm", *(f".{k}" for k in kinds)):
        if low.endswith(suffix):
            return "upload" + suffix
    return None


def _make_preview(osm, comms, *, town: str | None, crs: str | None, per_grid: int,  # noqa: PLR0913
                  fictional: bool) -> None:
    L = lang()
    _drop_preview()
    folder = Path(tempfile.mkdtemp(prefix="wangge-new-"))
    osm_path = folder / (_upload_name(osm.name, []) or "upload.osm")
    osm_path.write_bytes(osm.getvalue())
    comm_path = None
    if comms is not None:
        comm_path = folder / (_upload_name(comms.name, ["zip", "geojson", "json", "gpkg"])
                              or "upload.geojson")
        comm_path.write_bytes(comms.getvalue())
    target = folder / "preview.gpkg"
    names = {osm_path.name: display_name(osm.name)}  # the server's copies → the user's names
    if comm_path is not None:
        names[comm_path.name] = display_name(comms.name)
    try:
        with st.spinner(t("new_building", L)):
            report = new_store(target, osm_path, communities=comm_path, crs=crs,
                               town_name=town, fictional_people=fictional,
                               settings=Settings(households_per_grid=per_grid))
    except (LayersError, ValueError) as exc:
        log.warning("new area refused: %s", exc)
        shutil.rmtree(folder, ignore_errors=True)
        _refused(exc, osm_path, comm_path, names)
        return
    st.session_state[_PREVIEW] = {"path": str(target), "folder": str(folder),
                                  "lines": report.summary(), "names": names,
                                  "fictional": fictional}


def _refused(exc: Exception, osm_path: Path, comm_path: Path | None,
             names: dict[str, str]) -> None:
    """Why no area was made, in plain words naming the user's files (details: server log)."""
    L = lang()
    if isinstance(exc, LayerValidationError):  # the communities file's rows
        assert comm_path is not None  # only a communities file is validated row by row
        shown = names[comm_path.name]
        st.error(t("data_new_refused", L).format(name=md(shown)))
        st.table(data_report.report_table(exc.report, L, str(exc.source), shown)
                 .style.hide(axis="index"))
        return
    reason = getattr(exc, "reason", None)
    if isinstance(exc, NewStoreError):
        key = f"data_new_err_{reason}"
        shown = names.get(comm_path.name, "") if comm_path is not None and reason in (
            "no_polygons", "not_polygons") else names[osm_path.name]
        args = {"name": md(shown), **getattr(exc, "values", {})}
        st.error(t(key if key in MESSAGES else "data_new_err_other", L).format(**args))
        return
    # unreadable: the extract (OsmError) or the communities file (ImportFileError)
    shown = names[osm_path.name] if isinstance(exc, OsmError) or comm_path is None \
        or str(comm_path) not in str(exc) else names[comm_path.name]
    st.error(data_report.unreadable(exc, L, md(shown)))


def _drop_preview() -> None:
    old = st.session_state.pop(_PREVIEW, None)
    if old:
        shutil.rmtree(old["folder"], ignore_errors=True)


def _show_preview(preview: dict) -> None:
    from dashboard.views.data_page import preview_map

    data = open_store(preview["path"]).read(["communities", "grids"], check_geometry=False)
    st.subheader(t("new_proposed", lang()))
    left, right = st.columns([1.3, 1])
    with left:
        st_folium(preview_map(data.communities, data.grids, credit=OSM_MAP_ATTRIBUTION),
                  key="new_area_map",
                  height=420, use_container_width=True, returned_objects=[])
    with right:
        st.markdown(summary_markdown(preview["lines"], preview.get("names", {}), lang()))


def summary_markdown(lines: list, names: dict[str, str], lang_: str) -> str:
    """What the preview made and left out, in the user's language, as a Markdown list
    (dropped features listed under their reason); names from the extract escaped, the
    server's copies named as the user named the files."""
    out = []
    for line in lines:
        text = data_report.say(line, lang_)
        for copy, shown in names.items():
            text = text.replace(copy, shown)
        nested = getattr(line, "key", "") in ("dropped_one", "dropped_more")
        out.append(("    - " if nested else "- ") + md(text))
    return "\n".join(out)


def _confirm(store: StoreView, preview: dict) -> None:
    L = lang()
    name = st.text_input(t("new_store_name", L), max_chars=64, key="new_store_name",
                         help=t("new_store_name_help", L)).strip()
    if not st.button(t("new_confirm", L), disabled=not name):
        return
    if not _NAME.fullmatch(name) or name.startswith("."):
        st.error(t("new_bad_name", L))
        return
    stem = name.removesuffix(".gpkg")
    target = appdata.install_store(preview["path"], stem)
    if target is None:
        st.error(t("new_exists", L).format(name=md(stem)))
        return
    here = appdata.accounts(store.key)
    if here.exists():  # the creator can log in to the new store at once
        Accounts(target).adopt_admin(here, store.principal.name)
    auth.audit(store.key, "new_store", stem, "; ".join(map(str, preview["lines"][:2])))
    _drop_preview()
    st.success(t("new_done", L).format(name=md(stem)))
    st.markdown(f"[{t('new_open', L)}](./?data={stem})")  # the name: [\w.-] only
