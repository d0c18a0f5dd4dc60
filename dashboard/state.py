"""What every page shares: the language, the store (cached by store key and layer version), its
coverage, and the query-parameter helpers that keep the view in the URL."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import math
from collections.abc import Iterator, Sequence
from typing import Any

import geopandas as gpd
import pandas as pd
import streamlit as st

from dashboard import auth, mapframe, mapview
from dashboard import data as appdata
from dashboard.i18n import LANGUAGES, t
from dashboard.text import md
from layers import clock
from layers import store as layers_store
from layers.auth import PermissionDenied, Principal
from layers.auth.scope import scoped, scoped_tickets
from layers.coverage import CoverageResult
from layers.layerset import LayerSet
from layers.settings import DEFAULT_SETTINGS, Settings
from layers.tickets import TicketStore, TicketStoreDamaged, rules

log = logging.getLogger(__name__)


# The layers and their analysis are shared, read-only objects (cache_resource): st.cache_data
# would unpickle a fresh copy of millions of features on every rerun.
@st.cache_resource(show_spinner=False, max_entries=2)
def _load(key: str, version: int) -> LayerSet:
    return appdata.load(key, version)


#: What a scoped view depends on: :attr:`layers.auth.Principal.scope_key`.
ScopeKey = tuple[str, str, tuple[str, ...], tuple[str, ...]]
_WHOLE: ScopeKey = ("admin", "full", (), ())


#: Who reads what every session shares before each session's own cut (:func:`_ticket_rows`).
_SHARED = Principal.system("dashboard")


def viewer(scope: ScopeKey) -> Principal:
    """The principal of a cached view: a scope (role and codes), no account name (two
    accounts with one scope share the view)."""
    role, _, comms, grids = scope
    return Principal(name="", role=role, communities=frozenset(comms), grids=frozenset(grids))


@st.cache_resource(show_spinner=False, max_entries=16)
def _scoped(key: str, version: int, scope: ScopeKey = _WHOLE) -> LayerSet:
    """The store as one scope sees it (rows in scope, personal data masked by role). The whole
    store's layers are read as pages ask for them (:func:`warm_layers` reads the rest)."""
    return scoped(_load(key, version), viewer(scope))


def scoped_data(key: str, version: int, scope: ScopeKey = _WHOLE) -> LayerSet:
    """The store as one scope sees it (cached per layer version and scope)."""
    return _scoped(key, version, scope)


@st.cache_resource(show_spinner=False, max_entries=16)
def _coverage(key: str, version: int, as_of: str | None = None,
              scope: ScopeKey = _WHOLE) -> CoverageResult:
    """Coverage of a store version as one scope sees it, today or ``as_of`` a past day."""
    settings = Settings(as_of=as_of) if as_of else DEFAULT_SETTINGS
    return appdata.coverage(key, _scoped(key, version, scope), settings)


@st.cache_resource(show_spinner=False, max_entries=8)
def reach_analysis(key: str, version: int, scope: ScopeKey = _WHOLE):
    """(network, reach result, parking balance, sentinel suggestions) of a store version."""
    from layers import network as lnet
    from layers import reach as lreach

    data = _scoped(key, version, scope)
    net = lnet.cached(appdata.location_of(key), data.get("roads"))
    result = lreach.reach(data, net)
    parking = lreach.parking_balance(data)
    suggestions = lreach.suggest_sentinels(
        data, _coverage(key, version, None, scope).grids_without_sentinel, net)
    return net, result, parking, suggestions


# Downloadable files are built once per data version, not on every rerun of a page.
@st.cache_data(show_spinner=False, max_entries=8)
def problem_tables(key: str, version: int, lang: str, as_of: str | None = None,
                   scope: ScopeKey = _WHOLE) -> dict:
    """The coverage problem list (问题清单) tables of a store version."""
    from dashboard import reports

    return reports.problem_tables(_scoped(key, version, scope),
                                  _coverage(key, version, as_of, scope), lang)


@st.cache_data(show_spinner=False, max_entries=8)
def problem_list_files(key: str, version: int, lang: str, as_of: str | None = None,
                       scope: ScopeKey = _WHOLE) -> tuple[bytes, bytes]:
    """The coverage problem list (问题清单) as (CSV, Excel) bytes."""
    from dashboard import reports

    tables = problem_tables(key, version, lang, as_of, scope)
    return reports.to_csv(tables), reports.to_excel(tables)


@st.cache_data(show_spinner=False, max_entries=16)
def community_problem_tables(key: str, version: int, lang: str,  # noqa: PLR0913
                             as_of: str | None = None, scope: ScopeKey = _WHOLE,
                             community: str | None = None) -> dict:
    """The problem list (问题清单) of one community (``None``: all), as the coverage page
    shows and downloads it."""
    from dashboard import reports

    return reports.problem_tables(_scoped(key, version, scope),
                                  _coverage(key, version, as_of, scope), lang, community)


@st.cache_data(show_spinner=False, max_entries=16)
def community_problem_files(key: str, version: int, lang: str,  # noqa: PLR0913
                            as_of: str | None = None, scope: ScopeKey = _WHOLE,
                            community: str | None = None) -> tuple[bytes, bytes]:
    """The problem list of :func:`community_problem_tables` as (ZIP of one CSV per table,
    Excel workbook) bytes."""
    from dashboard import reports

    tables = community_problem_tables(key, version, lang, as_of, scope, community)
    return reports.to_csv_zip(tables), reports.to_excel(tables)


@st.cache_data(show_spinner=False, max_entries=8)
def reach_workbook(key: str, version: int, scope: ScopeKey = _WHOLE, lang: str = "zh"
                   ) -> bytes:
    """The 服务覆盖 tables as one Excel workbook with headers in ``lang`` (text written as
    text: :func:`layers.export.write_excel`)."""
    from dashboard import reports
    from layers.export import write_excel

    _, result, parking, suggestions = reach_analysis(key, version, scope)
    data = _scoped(key, version, scope)
    tables = reports.reach_workbook_tables(
        result, parking, suggestions, lang,
        names=dict(zip(data.communities["code"], data.communities["name"], strict=True)),
        building_names=dict(zip(data.buildings["code"], data.buildings["name"], strict=True)),
        held=reports.duties_held(data, _coverage(key, version, None, scope)))
    return write_excel(tables, fit_widths=True)


@st.cache_data(show_spinner=False, max_entries=8)
def ticket_export_files(key: str, version: int, tickets_version: tuple[int, str],
                        scope: ScopeKey = _WHOLE) -> tuple[bytes, bytes]:
    """(joint-meeting Excel, Open311 JSON) for one ticket-store version and scope."""
    import json

    from layers.tickets import reports as tr

    comms = _scoped(key, version, scope).communities
    names = dict(zip(comms["code"], comms["name"], strict=True))
    ts = _tickets(key)
    who = viewer(scope)
    return (tr.joint_meeting_excel(ts, names, principal=who),
            json.dumps(tr.to_open311(ts, principal=who), ensure_ascii=False).encode("utf-8"))


@st.cache_data(show_spinner=False, max_entries=4)
def reach_excel(key: str, version: int, scope: ScopeKey = _WHOLE) -> bytes:
    """The service-reach tables as one Excel workbook (text written as text, never as a
    formula: :func:`layers.export.write_excel`)."""
    from layers.export import write_excel

    _, result, parking, suggestions = reach_analysis(key, version, scope)
    return write_excel({"buildings": result.buildings, "life_circles": result.summary,
                        "parking": parking, "suggestions": suggestions})


@st.cache_resource(show_spinner=False, max_entries=4)
def _tickets(key: str) -> TicketStore:
    return appdata.tickets(key)


@st.cache_resource(show_spinner=False, max_entries=2)
def _ticket_rows(key: str, tickets_version: tuple[int, str]) -> pd.DataFrame:
    """Every ticket of one ticket-store version, read once for all sessions (a city holds
    213,426: 1–2 s to read); callers cut it to their scope (``scoped_tickets``), take
    ``overdue`` at their moment (``rules.at``) and never change this frame."""
    del tickets_version
    return _tickets(key).frame(principal=_SHARED)


@st.cache_resource(show_spinner=False, max_entries=16)
def _ticket_layer(key: str, tickets_version: tuple[int, str], scope: ScopeKey = _WHOLE
                  ) -> gpd.GeoDataFrame:
    """The open tickets a scope sees, as a layer (the map draws only those), per
    ticket-store version."""
    del tickets_version
    df = _tickets(key).frame(open_only=True, principal=viewer(scope))
    return gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(df["lon"], df["lat"]),
                            crs="EPSG:4326")


def _display_data(key: str, version: int, tickets_version: tuple[int, str],
                  scope: ScopeKey) -> LayerSet:
    """What a scope's maps draw: its layers with the live tickets; no people at all for
    roles that see no personal data (not even names in a tooltip)."""
    data = _scoped(key, version, scope).replace(
        tickets=_ticket_layer(key, tickets_version, scope))
    if scope[1] == "none":
        data = data.replace(people=data.people.iloc[:0])
    return data


@st.cache_resource(show_spinner=False, max_entries=32)
def map_data(key: str, version: int, community: str | None, crs: str,  # noqa: PLR0913
             lang: str, tickets_version: tuple[int, str] = (0, ""),
             as_of: str | None = None, scope: ScopeKey = _WHOLE) -> mapview.MapData:
    """Display data for one (store version, community, base-map CRS, language, tickets,
    as-of day, scope)."""
    data = _display_data(key, version, tickets_version, scope)
    return mapview.prepare(data, _coverage(key, version, as_of, scope), crs=crs,
                           community=community, lang=lang)


@st.cache_resource(show_spinner=False, max_entries=32)
def map_frame(key: str, version: int, community: str | None,  # noqa: PLR0913
              tiles: mapview.TileSource, lang: str, tickets_version: tuple[int, str] = (0, ""),
              as_of: str | None = None, scope: ScopeKey = _WHOLE) -> mapframe.Frame:
    """The map of :func:`map_data`, rendered once for the component (a rerun resends the
    strings; it does not rebuild or re-render the map)."""
    md = map_data(key, version, community, tiles.crs, lang, tickets_version, as_of, scope)
    return mapframe.render(mapview.build_map(md, tiles, lang=lang, url_view=True))


@st.cache_resource(show_spinner=False, max_entries=64)
def view_data(key: str, version: int, bbox: tuple[float, ...], zoom: int, crs: str,  # noqa: PLR0913
              lang: str, communities: bool, tickets_version: tuple[int, str] = (0, ""),
              as_of: str | None = None, scope: ScopeKey = _WHOLE) -> mapview.MapData:
    """The communities, grids, buildings and open tickets in one viewport of an aggregated
    map (a pan back to a view seen before is served from here)."""
    data = _display_data(key, version, tickets_version, scope)
    return mapview.prepare_view(data,
                                _coverage(key, version, as_of, scope),
                                bbox, zoom, crs=crs, lang=lang,  # type: ignore[arg-type]
                                communities=communities)


def warm_layers() -> None:
    """After a page: read in the background the layers of the store this session shows that
    no page needed yet, and for a store the map shows by viewport, build the spatial indexes
    of its communities, grids and buildings (so the first zoom to a street does not wait)."""
    shown = st.session_state.get(_SHOWN)
    if shown is None:
        return
    data = _scoped(*shown)
    big = len(data.grids) > mapview.MAX_GRIDS
    appdata.warm(data, indexes=("communities", "grids", "buildings") if big else (),
                 key=shown[0])


#: Session key of what :class:`StoreView` last opened: (store key, layer version, scope).
_SHOWN = "_store_shown"


def store_key() -> str:
    """The key of the store this session shows (:func:`dashboard.data.store_key`: every
    cache is keyed by it; never a password). ``?data=`` is checked: a name that is no store
    stops the page with a plain message, never another store shown instead; a shipped demo
    file is set up on first use."""
    try:
        location = appdata.configured_location(st.query_params.get("data"))
    except appdata.UnknownDataSet as exc:
        log.info("?data= refused: %s", exc)
        st.error(t("err_bad_data_param", lang()))
        st.stop()
    if appdata.is_shipped_demo(location):
        with st.spinner(t("generating", lang())):
            appdata.ensure_demo(location)
    return appdata.store_key(location)


class StoreView:
    """The store as this session's principal sees it, loaded once per layer version.

    ``data``, ``cov`` and :meth:`ticket_frame` hold only the rows of the principal's scope,
    with personal data masked by role (:func:`layers.auth.scope.scoped`): nothing outside
    it is drawn or sent to the browser."""

    def __init__(self) -> None:
        #: the store key: what every cache is keyed by and callbacks are given
        #: (:func:`dashboard.data.open_key` opens the store from it)
        self.key: str = store_key()
        #: where the store is, as pages and logs may show it (never a password)
        self.location: str = appdata.shown(self.key)
        self.principal: Principal = auth.principal()
        self.scope: ScopeKey = self.principal.scope_key
        #: the layers' version (:func:`dashboard.data.version_key`; not a file's mtime: a
        #: login's audit entry changes the store but no layer, and must not make every page
        #: re-read it)
        self.version: int = appdata.version_key(self.key)
        self.data: LayerSet = _scoped(self.key, self.version, self.scope)
        st.session_state[_SHOWN] = (self.key, self.version, self.scope)
        #: ``?asof=YYYY-MM-DD``: the responsibility chain as it was on a past day (None: today)
        self.as_of: str | None = query_date("asof")
        self.cov: CoverageResult = _coverage(self.key, self.version, self.as_of, self.scope)

    def open(self) -> layers_store.Store:
        """The store itself (for row edits and imports; pages read through ``data``)."""
        return appdata.open_key(self.key)

    @property
    def tickets(self) -> TicketStore:
        """The live ticket store beside the layers, for writes (pass ``principal``) and the
        catalogue; read tickets through :meth:`ticket_frame` / :meth:`ticket`."""
        return _tickets(self.key)

    def ticket_frame(self, now: dt.datetime | None = None, **filters: Any) -> pd.DataFrame:
        """The tickets this principal may see (its scope; text hidden by role), ``overdue``
        at ``now`` (default: the one clock): all of them read once per ticket-store version,
        or only those equal to ``filters`` (e.g. ``grid_code=``: one query)."""
        if filters:
            return self.tickets.frame(now=now, principal=self.principal, **filters)
        every = _ticket_rows(self.key, self.tickets.version())
        return scoped_tickets(rules.at(every, now or clock.now()), self.principal)

    def ticket(self, ticket_id: str) -> dict:
        """One ticket's JSON form, when it is in scope (:class:`PermissionDenied` else; text
        and names hidden by role: :meth:`TicketStore.get`)."""
        return self.tickets.get(ticket_id, principal=self.principal)

    def map_data(self, community: str | None, crs: str) -> mapview.MapData:
        return map_data(self.key, self.version, community, crs, lang(),
                        self.tickets.version(), self.as_of, self.scope)

    def map_frame(self, community: str | None, tiles: mapview.TileSource) -> mapframe.Frame:
        """The rendered map for the component (:mod:`dashboard.mapframe`)."""
        return map_frame(self.key, self.version, community, tiles, lang(),
                         self.tickets.version(), self.as_of, self.scope)

    def view_data(self, bbox: tuple[float, ...], zoom: int, crs: str, communities: bool
                  ) -> mapview.MapData:
        """What is in one viewport of the aggregated map (:func:`mapview.prepare_view`)."""
        return view_data(self.key, self.version, bbox, zoom, crs, lang(), communities,
                         self.tickets.version(), self.as_of, self.scope)


def download(store: StoreView, label: str, data: bytes, file_name: str, mime: str, *,
             where: object = None, key: str | None = None) -> None:
    """A download button whose use is recorded in the audit log (``export``, the file name)."""
    box = where if where is not None else st
    box.download_button(label, data, file_name, mime, key=key,  # type: ignore[attr-defined]
                        on_click=auth.audit, args=(store.key, "export", file_name))


def number_columns(df: pd.DataFrame) -> dict[str, Any]:
    """``st.dataframe`` column settings that show every number column of ``df`` with
    thousands separators (``6,296``), like the figures above the tables (``f"{n:,}"``)."""
    return {str(c): st.column_config.NumberColumn(format="localized")
            for c in df.columns if pd.api.types.is_numeric_dtype(df[c])
            and not pd.api.types.is_bool_dtype(df[c])}


def query_int(name: str, default: int, lo: int, hi: int) -> int:
    """An integer URL parameter, clamped to ``[lo, hi]``; ``default`` when it is missing or
    not a plain whole number (URL numbers are the visitor's choice: never trust their size)."""
    raw = st.query_params.get(name)
    if raw is None or len(raw) > 12 or not raw.strip().lstrip("+-").isdigit():
        return default
    return min(hi, max(lo, int(raw)))


def query_date(name: str) -> str | None:
    """A past ISO date from the URL (``None`` when missing, malformed or not before today)."""
    raw = st.query_params.get(name)
    if not raw or len(raw) > 10:
        return None
    try:
        day = dt.date.fromisoformat(raw)
    except ValueError:
        return None
    return day.isoformat() if dt.date(2000, 1, 1) <= day < clock.today() else None


def as_of_picker(store: StoreView) -> None:
    """A sidebar date: show coverage and the map as they were on a past day (kept in the
    URL as ``?asof=``)."""
    L = lang()
    today = clock.today()
    shown = dt.date.fromisoformat(store.as_of) if store.as_of else today
    day = st.sidebar.date_input(t("as_of_view", L), value=shown, max_value=today,
                                min_value=dt.date(2000, 1, 1), key="as_of_view",
                                help=t("as_of_view_help", L))
    chosen = None if day is None or day >= today else day.isoformat()
    if chosen != store.as_of:
        set_param("asof", chosen)
        st.rerun()
    if store.as_of:
        st.info(t("as_of_banner", L).format(day=store.as_of))


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Show a failure as a plain message in the page's language and log its details on the
    server (tracebacks and server paths never reach the browser). Streamlit's own control
    flow (``st.rerun``, ``st.stop``) is not an ``Exception`` and passes through."""
    try:
        yield
    except PermissionDenied as exc:
        log.warning("refused: %s", exc)
        st.error(t("auth_denied", lang()))
    except TicketStoreDamaged:
        log.exception("tickets database damaged")
        st.error(t("err_tickets_damaged", lang()))
    except Exception:
        log.exception("page failed")
        st.error(t("err_generic", lang()))


def lang() -> str:
    """The interface language: ``?lang=`` or the sidebar switch (Chinese by default)."""
    return st.session_state.get("lang") or st.query_params.get("lang", "zh")


def dataset_picker(key: str) -> None:
    """A sidebar choice among the stores of the data folder (the shipped demos, areas made
    with 新建辖区) when the store shown is one of them; the choice is ``?data=NAME`` (each
    store asks for its own login)."""
    here = appdata.data_folder_name(key)
    if here is None:  # another file, or a database server: no picking among files
        return
    names = appdata.data_folder_names()
    if len(names) < 2:
        return
    here = here if here in names else names[0]
    default = appdata.default_data_name()
    choice = st.sidebar.selectbox(t("data_source", lang()), names, index=names.index(here),
                                  key="dataset")
    if choice != here:
        set_param("data", None if choice == default else choice)
        for key_ in ("sel", "c"):  # codes of one store mean nothing in another
            set_param(key_, None)
        st.rerun()


def language_switch() -> str:
    current = st.query_params.get("lang", "zh")
    choice = st.sidebar.radio("语言 / Language", list(LANGUAGES), format_func=LANGUAGES.get,
                              horizontal=True, key="lang",
                              index=list(LANGUAGES).index(current) if current in LANGUAGES
                              else 0)
    set_param("lang", None if choice == "zh" else choice)
    return choice


def set_param(name: str, value: str | None) -> None:
    """Set (or with ``None`` remove) a query parameter, only when it changes."""
    if value is None or value == "":
        if name in st.query_params:
            del st.query_params[name]
    elif st.query_params.get(name) != value:
        st.query_params[name] = value


def fictional_banner(store: StoreView) -> None:
    if store.data.fictional:
        label = t("fictional", lang())
        other = store.data.meta.get("label_en", "")  # both languages on the Chinese page
        st.warning(f"**{label}**" + (f" · {md(other)}" if other and other != label else ""),
                   icon="⚠️")


def go_to_row(table_key: str, points: Sequence[Any], goto_key: str, crs: str = "wgs84") -> None:
    """Callback of a table beside a map: the picked row's point (``points``: a WGS-84 shapely
    point per row, None without one) becomes where the map goes —
    ``st.session_state[goto_key] = ((lat, lon), zoom)`` in the map's ``crs``. A row without a
    usable point leaves the map where it is."""
    rows = st.session_state[table_key].selection.rows
    if not rows or not 0 <= rows[0] < len(points):
        return
    p = points[rows[0]]
    if p is None or p.is_empty or not (math.isfinite(p.x) and math.isfinite(p.y)):
        return
    st.session_state[goto_key] = mapview.point_view(float(p.x), float(p.y), crs)
