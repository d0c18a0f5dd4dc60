"""Tickets (诉求 / 工单): intake with the grid found at intake, moves through the lifecycle,
an append-only history, safe for several users and processes.

The embedded store is SQLite in WAL mode beside the layer store (``town.gpkg`` →
``town.tickets.sqlite``), written through SQLAlchemy Core so a PostgreSQL URL can replace it.

- **Intake** (:meth:`TicketStore.add`): the point is placed in its grid and community by a
  spatial lookup against the layer store, stored with the ticket (like FixMyStreet's areas);
  the deadline comes from the category's time limit.
- **Moves** (:meth:`TicketStore.move`): only those in :data:`layers.workflow.MOVES`; each one
  appends an event (status, when, by whom, note) to the history, which the database itself
  refuses to update or delete (triggers).
- **Concurrency**: writes run in ``BEGIN IMMEDIATE`` transactions (one writer at a time, waiting
  up to ``timeout``); a move names the ``version`` it was decided on, and a stale version gets
  :class:`ConflictError` — nothing is overwritten. A batch is one transaction: a process killed
  half way leaves no half ticket.
- **First use**: opening a SQLite file is one process at a time (an advisory lock on a sibling
  ``.lock`` file); the schema is created if missing and, in the same transaction, seeded (the
  demo's history) — exactly once however many processes start together.
- **Damage**: a tickets file that is empty, is not an SQLite database or fails SQLite's
  integrity check is refused with :class:`TicketStoreDamaged` and left untouched; a database
  error while reading later raises the same error (never a traceback, never "no tickets").
- **Input limits**: free-text fields are capped (:data:`FIELD_LIMITS`), a building code must be
  one of the layer store's buildings.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import math
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import shapely
from sqlalchemy import (
    Column,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    func,
    inspect,
    select,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import StaticPool
from sqlalchemy.sql import Select

from .. import clock
from ..auth.principal import GRID_SCOPED, PermissionDenied, Principal
from ..auth.scope import require_ticket, scoped_history, scoped_ticket, scoped_tickets
from ..schema import CLOSED_STATUSES
from ..store._ddl import append_only_sql
from ..store._sqlite_tables import SqliteTables
from ..store.base import ServiceDamaged, ServiceTables
from . import rules, workflow
from .catalogue import DEFAULT_CATALOGUE, catalogue_of
from .errors import ConflictError, TicketError, TicketNotFound, TicketStoreDamaged
from .photos import Photo, check_photo

if TYPE_CHECKING:  # layers.lookup imports this package: imported where used
    from ..lookup import NearBuilding
    from ..store.base import Store

REPORTERS = ("resident", "sentinel", "hotline_12345", "inspection")
SATISFACTION = ("satisfied", "basically_satisfied", "dissatisfied")

#: The longest value (in characters) accepted for each free-text field: ticket ``text``, who
#: acted (``by``), a move's ``note`` and the ``handler`` a ticket is dispatched to. Longer input
#: is refused with a :class:`TicketError` naming the field and the limit (never truncated).
FIELD_LIMITS: dict[str, int] = {"text": 2000, "by": 64, "note": 1000, "handler": 128}

#: SQLite files up to this size get ``PRAGMA quick_check`` when opened (measured: 0.11 s for a
#: 220 MB file, warm cache). Larger files get the header check only; damage met by a later
#: query still raises :class:`TicketStoreDamaged`.
QUICK_CHECK_MAX_BYTES = 256 * 2**20

#: At intake, a ticket without a building is filed under the nearest building of its grid
#: within this many metres (straight line; 0 when the point is inside it), else under none.
INTAKE_BUILDING_MAX_M = 100.0

#: A batch whose points (with that margin) fit in a box this many degrees wide (~2 km) reads
#: the buildings around them once; a wider one reads around each point.
_ONE_READ_DEG = 0.02

# SQLite primary result codes: busy/locked (another writer: not damage), and the codes that
# mean the file itself is unusable (I/O error, corrupt, cannot open, not a database).
_SQLITE_BUSY = (5, 6)
_SQLITE_UNUSABLE = (10, 11, 14, 26)


_EMPTY_LOCK = threading.Lock()

metadata = MetaData()
tickets_table = Table(
    "tickets", metadata,
    Column("id", String(32), primary_key=True),
    Column("category", String(64), nullable=False),
    Column("text", Text, nullable=False),
    Column("reporter", String(32), nullable=False),
    Column("lon", Float, nullable=False),
    Column("lat", Float, nullable=False),
    Column("grid_code", String(64), index=True),
    Column("community_code", String(64), index=True),
    Column("building_code", String(64)),
    Column("handler", String(128)),
    Column("status", String(32), nullable=False, index=True),
    Column("created_at", DateTime, nullable=False, index=True),
    Column("deadline", DateTime, nullable=False),
    Column("closed_at", DateTime),
    Column("satisfaction", String(32)),
    Column("version", Integer, nullable=False),
)
events_table = Table(
    "ticket_events", metadata,
    Column("ticket_id", String(32), ForeignKey("tickets.id"), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("status", String(32), nullable=False),
    Column("at", DateTime, nullable=False),
    Column("by", String(128)),
    Column("note", Text),
)

attachments_table = Table(
    "ticket_attachments", metadata,
    Column("ticket_id", String(32), ForeignKey("tickets.id"), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("mime", String(32), nullable=False),
    Column("size", Integer, nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("at", DateTime, nullable=False),
    Column("by", String(128)),
)
_TABLES = {tickets_table.name, events_table.name, attachments_table.name}

#: PostgreSQL: the history's count and newest time, kept by a trigger (what
#: :meth:`TicketStore.version` reads in one step instead of counting a city's 1.4 M entries).
_VERSION_TABLE = "ticket_history_version"
_PG_VERSION = (
    f"CREATE TABLE IF NOT EXISTS {_VERSION_TABLE} (one boolean PRIMARY KEY DEFAULT true "
    "CHECK (one), n bigint NOT NULL, last timestamp)",
    f"INSERT INTO {_VERSION_TABLE} (n, last) SELECT count(*), max(at) FROM ticket_events "
    "ON CONFLICT (one) DO NOTHING",
    "CREATE OR REPLACE FUNCTION ticket_history_counted() RETURNS trigger LANGUAGE plpgsql AS $$ "
    f"BEGIN UPDATE {_VERSION_TABLE} SET n = n + (SELECT count(*) FROM new_rows), last = "
    "greatest(last, (SELECT max(at) FROM new_rows)); RETURN NULL; END $$",
    "DROP TRIGGER IF EXISTS ticket_history_counted ON ticket_events",
    "CREATE TRIGGER ticket_history_counted AFTER INSERT ON ticket_events REFERENCING NEW TABLE "
    "AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION ticket_history_counted()",
)


def _append_only(dialect: str) -> tuple[str, ...]:
    """Triggers that make the database itself refuse to change or delete history (and, on
    PostgreSQL, keep its version)."""
    if dialect == "sqlite":
        return tuple(
            f"CREATE TRIGGER IF NOT EXISTS ticket_events_no_{verb.lower()} BEFORE {verb} ON "
            "ticket_events BEGIN SELECT RAISE(ABORT, 'ticket history is append-only'); END"
            for verb in ("UPDATE", "DELETE"))
    return (*append_only_sql("ticket_events", "ticket history is append-only"), *_PG_VERSION)


def create_tables(conn: Connection) -> None:
    """Make the ticket tables that are missing (new, or from before photos) and the triggers
    keeping the history append-only, in the caller's write transaction."""
    if not set(inspect(conn).get_table_names()) >= _TABLES:
        metadata.create_all(conn, checkfirst=True)
    for stmt in _append_only(conn.dialect.name):
        conn.exec_driver_sql(stmt)


def db_path_for(store: str | os.PathLike[str]) -> Path:
    """Where the tickets of a GeoPackage store live: ``town.gpkg`` → ``town.tickets.sqlite``."""
    from ..store.gpkg import tickets_file

    return tickets_file(store)


@dataclass(frozen=True)
class Placement:
    """Where a point is filed at intake: its grid and community (``None`` outside every
    grid) and the building it is filed under (``None``: none near enough)."""

    lon: float
    lat: float
    grid_code: str | None
    community_code: str | None
    building: NearBuilding | None


class GridLocator:
    """Finds the grid (and its community) of points, with an STRtree over the grids, and
    knows the building codes of the layer store.

    Parameters
    ----------
    grids
        The ``grids`` layer.
    building_codes
        The codes of the store's buildings, or ``None`` when unknown (then any code passes).
    buildings
        The ``buildings`` layer (``code``, ``name``, ``grid_code``, geometry) for the nearest
        building at intake; :meth:`from_store` reads the few around each point instead.
    """

    def __init__(self, grids: pd.DataFrame,
                 building_codes: Iterable[str] | None = None,
                 buildings: pd.DataFrame | None = None) -> None:
        self.codes = grids["code"].astype(str).to_numpy()
        self.communities = grids["community_code"].astype(str).to_numpy()
        self.geoms = grids.geometry.to_numpy()
        shapely.prepare(self.geoms)
        self.tree = shapely.STRtree(self.geoms)
        self._buildings = None if building_codes is None else frozenset(map(str, building_codes))
        self._store: Store | None = None
        self._codes_version: str | None = None
        self._building_layer = buildings

    @classmethod
    def from_store(cls, store: str | os.PathLike[str] | Store) -> GridLocator:
        """The grids of a layer store; its building codes are read on first need (and again
        when its buildings change)."""
        from ..store import open_store

        opened = open_store(store)
        loc = cls(opened.read(["communities", "grids"], check_geometry=False).grids)
        loc._store = opened
        return loc

    def _buildings_version(self) -> str | None:
        """The store's buildings layer version (None: it has none)."""
        assert self._store is not None
        return self._store.layer_versions().get("buildings")

    def building_exists(self, code: str) -> bool:
        """True when ``code`` is one of the store's buildings (or the codes are unknown)."""
        if self._store is not None:
            version = self._buildings_version()
            if self._buildings is None or version != self._codes_version:
                self._buildings = frozenset() if version is None else frozenset(
                    self._store.read_layer("buildings", columns=["code"])["code"].dropna()
                    .astype(str))
                self._codes_version = version
        return self._buildings is None or str(code) in self._buildings

    def locate(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Grid and community codes of each point (``None`` outside every grid)."""
        pts = shapely.points(np.asarray(lon, float), np.asarray(lat, float))
        pi, gi = self.tree.query(pts, predicate="intersects")
        idx = np.full(len(pts), -1)
        idx[pi[::-1]] = gi[::-1]
        grid = np.where(idx >= 0, self.codes[np.maximum(idx, 0)], None)
        comm = np.where(idx >= 0, self.communities[np.maximum(idx, 0)], None)
        return grid, comm  # type: ignore[return-value]  # numpy stubs: None as a branch

    def place(self, lon: float, lat: float) -> Placement:
        """Where a ticket at ``(lon, lat)`` is filed: its grid, community and the nearest
        building of that grid within :data:`INTAKE_BUILDING_MAX_M` — the one intake rule,
        used by :meth:`TicketStore.add_many` and by the intake form before it submits."""
        grid, comm = self.locate(np.array([lon]), np.array([lat]))
        g = None if _missing(grid[0]) else str(grid[0])
        c = None if _missing(comm[0]) else str(comm[0])
        return Placement(float(lon), float(lat), g, c,
                         None if g is None else self.nearest_building(lon, lat, g))

    def nearest_building(self, lon: float, lat: float, grid: str,
                         near: pd.DataFrame | None = None) -> NearBuilding | None:
        """The nearest building of ``grid`` within :data:`INTAKE_BUILDING_MAX_M` (among
        ``near`` when the caller has read the buildings around the point already)."""
        from ..lookup import nearest_building, search_box

        if near is None:
            near = self._buildings_in(search_box(lon, lat, INTAKE_BUILDING_MAX_M))
        if near is None:
            return None
        return nearest_building(near, lon, lat, max_m=INTAKE_BUILDING_MAX_M, grid=grid)

    def nearest_buildings(self, lon: np.ndarray, lat: np.ndarray,
                          grids: Iterable[str]) -> list[NearBuilding | None]:
        """:meth:`nearest_building` of many points: one read of the store when they lie
        close together (a batch from one neighbourhood), else one small read each."""
        from ..lookup import search_box

        lon, lat = np.asarray(lon, float), np.asarray(lat, float)
        if lon.size == 0:
            return []
        x0, y0, _, _ = search_box(float(lon.min()), float(lat.min()), INTAKE_BUILDING_MAX_M)
        _, _, x1, y1 = search_box(float(lon.max()), float(lat.max()), INTAKE_BUILDING_MAX_M)
        near = (self._buildings_in((x0, y0, x1, y1))
                if max(x1 - x0, y1 - y0) <= _ONE_READ_DEG else None)
        return [self.nearest_building(float(x), float(y), str(g), near)
                for x, y, g in zip(lon, lat, grids, strict=True)]

    def _buildings_in(self, box: tuple[float, float, float, float]) -> pd.DataFrame | None:
        """The buildings in a WGS-84 box: the given layer, or a bounding-box read of the
        store's (its spatial index: a few rows, however large the store)."""
        if self._building_layer is not None:
            return self._building_layer
        if self._store is None or self._buildings_version() is None:
            return None
        return self._store.read_layer("buildings", bbox=box,
                                      columns=["code", "name", "grid_code", "geometry"])


def _in_scope(q: Select, p: Principal) -> Select:
    """``q`` (a query over the tickets table) kept to ``p``'s grids or communities — the
    rows :func:`~layers.auth.scope.scoped_tickets` keeps, filtered in the database."""
    if p.whole_area:
        return q
    if p.role in GRID_SCOPED:
        return q.where(tickets_table.c.grid_code.in_(sorted(p.grids)))
    return q.where(tickets_table.c.community_code.in_(sorted(p.communities)))


def _missing(v: object) -> bool:
    """None, NaN, NA or NaT (not an empty string)."""
    return v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and math.isnan(v))


def _shown(v: object, n: int = 40) -> str:
    """A user value for an error message: its repr, cut short."""
    r = repr(v)
    return r if len(r) <= n else r[:n] + "…"


def _limited(field: str, value: object, where: str) -> str | None:
    """A free-text field checked against :data:`FIELD_LIMITS` (``None`` when missing).

    Raises
    ------
    TicketError
        Naming the place (``where``), the field and the limit.
    """
    if _missing(value):
        return None
    if not isinstance(value, str):
        raise TicketError(f"{where}field {field!r} must be text, not {type(value).__name__}")
    limit = FIELD_LIMITS[field]
    if len(value) > limit:
        raise TicketError(f"{where}field {field!r} is {len(value)} characters long; at most "
                          f"{limit} are allowed")
    return value


class TicketStore:
    """The tickets of one territory.

    Parameters
    ----------
    tables
        Where the tickets are kept: a store's :meth:`~layers.store.Store.ticket_tables`, or
        the path of a SQLite file (created on first use).
    locator
        Places points in grids at intake (:meth:`GridLocator.from_store`), or a function
        that makes it, called when a ticket is first filed or placed (opening the store to
        read tickets does not read the grids).
    catalogue
        Category code → (name, days allowed).
    timeout
        Seconds a writer waits for another writer before giving up (a SQLite file).
    seed
        Called once, when this open creates the schema: the tickets to import then (a
        ``tickets`` layer, see :meth:`import_frame`), or ``None``.

    Raises
    ------
    TicketStoreDamaged
        The SQLite file exists but is empty, is not an SQLite database or is damaged.
    """

    def __init__(self, tables: ServiceTables | str | os.PathLike[str],  # noqa: PLR0913
                 locator: GridLocator | Callable[[], GridLocator] | None = None,
                 catalogue: Mapping[str, tuple[str, int]] = DEFAULT_CATALOGUE,
                 timeout: float = 30.0,
                 seed: Callable[[], pd.DataFrame | None] | None = None) -> None:
        if isinstance(tables, str | os.PathLike):
            path = Path(str(tables).removeprefix("sqlite:///"))
            tables = SqliteTables(path, path.name, timeout=timeout)
        self.tables: ServiceTables = tables
        self.name: str = tables.name
        self._locator = locator
        self._locator_lock = threading.Lock()
        self.catalogue = dict(catalogue)
        #: True when this open created the schema (and imported ``seed``).
        self.created = False
        self._empty: Engine | None = None
        self._ready = False  # the schema was found or made by this instance
        with self._damage():
            if seed is not None:
                self.created = self._ensure_schema(seed)
            elif self.tables.exists():
                with self.tables.reading():  # checks the file (reading never writes)
                    pass

    def close(self) -> None:
        """Close pooled connections (a SQLite file is then one file again: WAL checkpointed)."""
        dispose = getattr(self.tables, "dispose", None)
        if dispose is not None:
            dispose()

    @property
    def locator(self) -> GridLocator | None:
        """Places points in grids at intake (made on first use when given as a function)."""
        if callable(self._locator) and not isinstance(self._locator, GridLocator):
            with self._locator_lock:
                if callable(self._locator) and not isinstance(self._locator, GridLocator):
                    self._locator = self._locator()
        return self._locator

    @classmethod
    def for_store(cls, store: str | os.PathLike[str] | Store, *, seed: bool = False,
                  **kw: Any) -> TicketStore:
        """The ticket store of a layer store (the one source of tickets for every page, the
        CLI and every export). Opening it writes nothing: without its tables it reads as no
        tickets, and the first ticket filed creates them.

        With ``seed=True`` (the demo and ``tickets seed``, never a page) tables that do not
        exist yet are created and filled with the layer store's ``tickets`` layer (import
        material, e.g. the demo's history) — once, however many processes do it at the same
        time. Categories are the store's own (:func:`~.catalogue.catalogue_of`), else
        :data:`DEFAULT_CATALOGUE`."""
        from ..store import open_store

        layers = open_store(store)
        if "catalogue" not in kw:
            own = catalogue_of(layers)
            if own is not None:
                kw["catalogue"] = own

        def layer_history() -> pd.DataFrame | None:
            if "tickets" not in layers.layer_names():
                return None
            return layers.read(["tickets"], check_geometry=False).tickets

        return cls(layers.ticket_tables(), functools.partial(GridLocator.from_store, layers),
                   seed=layer_history if seed else None, **kw)

    # -- opening -----------------------------------------------------------------------------
    def _ensure_schema(self, seed: Callable[[], pd.DataFrame | None] | None) -> bool:
        """Create the tables and triggers if missing, and import ``seed`` then — all in one
        write transaction (a crash half way leaves no schema without its seed). Tables that
        exist already are only read."""
        if self.tables.exists() and seed is None:
            with self.tables.reading() as conn:
                if self.tables.table_names(conn) >= _TABLES:
                    self._ready = True
                    return False
        with self.tables.writing() as conn:
            present = self.tables.table_names(conn)
            fresh = not {tickets_table.name, events_table.name} <= present
            create_tables(conn)
            if fresh and seed is not None:
                tickets = seed()
                if tickets is not None:
                    self._import(conn, tickets)
        self._ready = True
        return fresh

    def _empty_engine(self) -> Engine:
        """An in-memory database with the schema and no rows: what reads see while the
        tables do not exist (so reading never creates them)."""
        with _EMPTY_LOCK:
            if self._empty is None:
                empty = create_engine(  # one shared in-memory database for every thread
                    "sqlite://", poolclass=StaticPool,
                    connect_args={"check_same_thread": False})
                metadata.create_all(empty)
                self._empty = empty
        return self._empty

    @contextlib.contextmanager
    def _damage(self) -> Iterator[None]:
        """A damaged database as the user-facing :class:`TicketStoreDamaged`."""
        try:
            yield
        except ServiceDamaged as exc:
            raise TicketStoreDamaged(exc.name, exc.problem) from exc

    # -- transactions ------------------------------------------------------------------------
    @contextlib.contextmanager
    def _reading(self) -> Iterator[Connection]:
        """A connection for reading; a damaged database raises :class:`TicketStoreDamaged`;
        tables not made yet read as empty."""
        with self._damage():
            if not self.tables.exists():
                with self._empty_engine().connect() as conn:
                    yield conn
                return
            with self.tables.reading() as conn:
                if not self._ready and not self.tables.table_names(conn) >= {
                        tickets_table.name, events_table.name}:
                    with self._empty_engine().connect() as empty:
                        yield empty
                    return
                yield conn

    @contextlib.contextmanager
    def _write(self) -> Iterator[Connection]:
        """One write transaction (one writer at a time). The first write creates the
        database and its schema."""
        with self._damage():
            if not self._ready:
                self._ensure_schema(None)
            with self.tables.writing() as conn:
                yield conn

    # -- intake ------------------------------------------------------------------------------
    def add(self, category: str, lon: float, lat: float, text_: str, *,  # noqa: PLR0913
            principal: Principal, reporter: str = "resident",
            building_code: str | None = None, created_at: dt.datetime | None = None,
            photo: bytes | None = None) -> str:
        """Receive one ticket; return its id (``T`` + date + a 5-digit number of the day).

        The ``principal`` (the app's logged-in account; the CLI's operator) must have
        ``tickets_file`` and the point must lie in its scope
        (:class:`~layers.auth.PermissionDenied`); ``by`` is its name. Without
        ``building_code`` the ticket is filed under the nearest building
        (:meth:`GridLocator.place`). A ``photo`` (JPEG/PNG/WebP bytes, see
        :func:`~layers.tickets.photos.check_photo`) is stored with it, in the same
        transaction."""
        return self.add_many([{"category": category, "lon": lon, "lat": lat, "text": text_,
                               "reporter": reporter, "building_code": building_code,
                               "created_at": created_at, "photo": photo}],
                             principal=principal)[0]

    def add_many(self, rows: Iterable[Mapping[str, Any]], *,
                 principal: Principal) -> list[str]:
        """Receive several tickets in one transaction (all or none), as :meth:`add` (``by`` of
        every row is the principal's name)."""
        principal.require("tickets_file")
        if self.locator is None and not principal.whole_area:
            raise PermissionDenied("this ticket store has no grids to check the scope of "
                                   f"{principal.name} against")
        rows = [{**r, "by": principal.name} for r in rows]
        new = [self._check_row(i, r) for i, r in enumerate(rows, start=1)]
        if not new:
            return []
        lon = np.fromiter((r["lon"] for r in new), float, len(new))
        lat = np.fromiter((r["lat"] for r in new), float, len(new))
        grid: np.ndarray | list[Any]
        comm: np.ndarray | list[Any]
        if self.locator is not None:
            grid, comm = self.locator.locate(lon, lat)
            outside = np.flatnonzero(pd.isna(grid))
            if outside.size:
                i = int(outside[0])
                raise TicketError(
                    f"row {i + 1}: point ({lon[i]:.6f}, {lat[i]:.6f}) lies outside every "
                    "grid of this store (wrong coordinates, or GCJ-02 from a web map? "
                    "convert with layers.crs first)")
            todo = [i for i, r in enumerate(new) if r["building_code"] is None]
            found = self.locator.nearest_buildings(lon[todo], lat[todo],
                                                   [str(grid[i]) for i in todo])
            for i, near in zip(todo, found, strict=True):
                new[i]["building_code"] = None if near is None else near.code
        else:
            grid = [r.get("grid_code") for r in new]
            comm = [r.get("community_code") for r in new]
        for i, (g, c) in enumerate(zip(grid, comm, strict=True)):
            if not principal.covers(c, g):
                raise PermissionDenied(f"row {i + 1}: the point lies in grid {g}, outside "
                                       f"the scope of {principal.name}")
        with self._write() as conn:
            ids = self._next_ids(conn, [r["created_at"] for r in new])
            conn.execute(tickets_table.insert(), [
                {"id": tid, "category": r["category"], "text": r["text"],
                 "reporter": r["reporter"], "lon": float(x), "lat": float(y), "grid_code": g,
                 "community_code": c, "building_code": r["building_code"], "handler": None,
                 "status": "received", "created_at": r["created_at"],
                 "deadline": r["created_at"] + dt.timedelta(
                     days=self.catalogue[r["category"]][1]),
                 "closed_at": None, "satisfaction": None, "version": 1}
                for tid, r, x, y, g, c in zip(ids, new, lon, lat, grid, comm, strict=True)])
            conn.execute(events_table.insert(), [
                {"ticket_id": tid, "seq": 1, "status": "received", "at": r["created_at"],
                 "by": r["by"], "note": None} for tid, r in zip(ids, new, strict=True)])
            photos = [{"ticket_id": tid, "seq": 1, "mime": r["photo_mime"],
                       "size": len(r["photo"]), "data": r["photo"], "at": r["created_at"],
                       "by": r["by"]} for tid, r in zip(ids, new, strict=True) if r["photo"]]
            if photos:
                attachments_table.create(conn, checkfirst=True)  # a database from before
                conn.execute(attachments_table.insert(), photos)
        return ids

    def attach(self, ticket_id: str, photo: bytes, *, principal: Principal) -> int:
        """Add a photo to an existing ticket; return its number. The ``principal`` must have
        ``tickets_file`` and the ticket in its scope; ``by`` is its name.

        Raises
        ------
        PhotoError, TicketNotFound, PermissionDenied
        """
        mime = check_photo(photo, f"ticket {_shown(ticket_id)}: ")
        principal.require("tickets_file")
        by = _limited("by", principal.name, f"ticket {_shown(ticket_id)}: ")
        with self._write() as conn:
            row = self._scope_row(conn, ticket_id)
            require_ticket(principal, row)
            attachments_table.create(conn, checkfirst=True)  # a database from before photos
            seq = conn.execute(select(func.max(attachments_table.c.seq)).where(
                attachments_table.c.ticket_id == ticket_id)).scalar() or 0
            conn.execute(attachments_table.insert().values(
                ticket_id=ticket_id, seq=seq + 1, mime=mime, size=len(photo),
                data=bytes(photo), at=clock.now().replace(microsecond=0), by=by))
        return seq + 1

    def photos(self, ticket_id: str, *, principal: Principal) -> list[Photo]:
        """A ticket's photos, in the order they were added: only when the ``principal`` may
        see the ticket (scope) and read its content (the roles that read ticket text): a role
        that may not see a ticket may not fetch its photos either.

        Raises
        ------
        TicketNotFound, PermissionDenied
        """
        if not principal.reads_ticket_text:
            raise PermissionDenied(f"{principal.name} ({principal.role}) may not see ticket "
                                   "photos")
        with self._reading() as conn:
            row = self._scope_row(conn, ticket_id)
            require_ticket(principal, row)
            if attachments_table.name not in inspect(conn).get_table_names():
                return []  # a database from before photos: none yet (reading never writes)
            rows = conn.execute(select(attachments_table).where(
                attachments_table.c.ticket_id == ticket_id).order_by(
                attachments_table.c.seq)).mappings().all()
        return [Photo(r["ticket_id"], int(r["seq"]), r["mime"], int(r["size"]), bytes(r["data"]))
                for r in rows]

    @staticmethod
    def _scope_row(conn: Connection, ticket_id: str) -> dict[str, Any]:
        """What a scope check needs of a ticket (id, grid, community)."""
        row = conn.execute(select(tickets_table.c.id, tickets_table.c.grid_code,
                                  tickets_table.c.community_code).where(
            tickets_table.c.id == ticket_id)).mappings().first()
        if row is None:
            raise TicketNotFound(f"no ticket {ticket_id!r}")
        return dict(row)

    def _check_row(self, i: int, r: Mapping[str, Any]) -> dict[str, Any]:
        """One new ticket, checked, with defaults; a clear error names the row and field."""
        category = r.get("category")
        if not isinstance(category, str) or category not in self.catalogue:
            raise TicketError(f"row {i}: unknown category {_shown(category)}; known: "
                              f"{', '.join(self.catalogue)}")
        text_ = r.get("text")
        if not isinstance(text_, str) or not text_.strip():
            raise TicketError(f"row {i}: text is empty")
        text_ = _limited("text", text_.strip(), f"row {i}: ")
        reporter = r.get("reporter") or "resident"
        if not isinstance(reporter, str) or reporter not in REPORTERS:
            raise TicketError(f"row {i}: reporter {_shown(reporter)} is not one of "
                              f"{', '.join(REPORTERS)}")
        try:
            # None raises TypeError, reported below
            lon, lat = float(r.get("lon")), float(r.get("lat"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            lon = lat = math.nan
        if not (math.isfinite(lon) and math.isfinite(lat)) or not (
                -180 <= lon <= 180 and -90 <= lat <= 90):
            raise TicketError(f"row {i}: ({r.get('lon')}, {r.get('lat')}) is not a "
                              "longitude/latitude")
        created = r.get("created_at")
        if created is None or (not isinstance(created, str) and pd.isna(created)):
            created = clock.now()
        else:
            try:
                created = pd.Timestamp(created).to_pydatetime().replace(microsecond=0)
            except (TypeError, ValueError):
                raise TicketError(f"row {i}: created_at {_shown(created)} is not a time") from None
        building = r.get("building_code")
        building = None if _missing(building) else str(building)
        if building is not None and self.locator is not None and (
                not self.locator.building_exists(building)):
            raise TicketError(f"row {i}: building_code {_shown(building)} is not a building "
                              "of this store")
        photo = r.get("photo")
        photo = None if photo is None else bytes(photo) if isinstance(
            photo, (bytes, bytearray, memoryview)) else photo
        mime = None if photo is None else check_photo(photo, f"row {i}: ")
        return {"category": category, "text": text_, "reporter": reporter,
                "photo": photo, "photo_mime": mime,
                "lon": lon, "lat": lat, "created_at": created, "building_code": building,
                "by": _limited("by", r.get("by"), f"row {i}: "),
                "grid_code": r.get("grid_code"), "community_code": r.get("community_code")}

    def _next_ids(self, conn: Connection, created: list[dt.datetime]) -> list[str]:
        """``T`` + date + the next 5-digit numbers of each day (inside the write lock)."""
        days = [c.strftime("%Y%m%d") for c in created]
        next_no: dict[str, int] = {}
        for day in sorted(set(days)):  # one query per day in the batch
            last = conn.execute(select(tickets_table.c.id).where(
                tickets_table.c.id.like(f"T{day}%")).order_by(
                tickets_table.c.id.desc()).limit(1)).scalar()
            next_no[day] = int(last[9:]) if last else 0
        out = []
        for day in days:
            next_no[day] += 1
            out.append(f"T{day}{next_no[day]:05d}")
        return out

    # -- moves -------------------------------------------------------------------------------
    def move(self, ticket_id: str, to: str, *, principal: Principal,  # noqa: PLR0913
             note: str | None = None,
             expected_version: int | None = None, handler: str | None = None,
             satisfaction: str | None = None, at: dt.datetime | None = None) -> dict:
        """Move a ticket to ``to``; return the updated ticket (as :meth:`get` gives it to the
        principal).

        The ``principal`` must have the ticket in its scope and the move must be one its role
        may make (:meth:`~layers.auth.Principal.may_move`); ``by`` is its name.

        Raises
        ------
        TicketError
            ``by``, ``note`` or ``handler`` longer than :data:`FIELD_LIMITS` allows.
        TicketNotFound, IllegalMove
            Unknown id; a move the lifecycle does not allow.
        ConflictError
            ``expected_version`` is not the ticket's current version (someone moved it first).
        """
        if satisfaction is not None and satisfaction not in SATISFACTION:
            raise TicketError(f"satisfaction must be one of {', '.join(SATISFACTION)}")
        where = f"ticket {_shown(ticket_id)}: "
        by = _limited("by", principal.name, where)
        note = _limited("note", note, where)
        handler = _limited("handler", handler, where)
        when = (at or clock.now()).replace(microsecond=0)
        with self._write() as conn:
            row = conn.execute(select(
                tickets_table.c.status, tickets_table.c.version, tickets_table.c.grid_code,
                tickets_table.c.community_code).where(tickets_table.c.id == ticket_id)).first()
            if row is None:
                raise TicketNotFound(f"no ticket {ticket_id!r}")
            status, version, grid, community = row
            require_ticket(principal, {"id": ticket_id, "grid_code": grid,
                                       "community_code": community}, status, to)
            if expected_version is not None and expected_version != version:
                raise ConflictError(
                    f"ticket {ticket_id} was changed by someone else (now version {version}, "
                    f"status {status}; you had version {expected_version}); reload it")
            workflow.check_move(status, to)
            values: dict[str, Any] = {"status": to, "version": version + 1}
            if workflow.is_closed(to):
                values["closed_at"] = when
            if handler is not None:
                values["handler"] = handler
            if satisfaction is not None:
                values["satisfaction"] = satisfaction
            done = conn.execute(tickets_table.update().where(
                (tickets_table.c.id == ticket_id) & (tickets_table.c.version == version)
            ).values(**values))
            if done.rowcount != 1:  # pragma: no cover - the write lock makes this unreachable
                raise ConflictError(f"ticket {ticket_id} changed while moving it; reload it")
            seq = conn.execute(select(events_table.c.seq).where(
                events_table.c.ticket_id == ticket_id).order_by(
                events_table.c.seq.desc()).limit(1)).scalar() or 0
            conn.execute(events_table.insert().values(
                ticket_id=ticket_id, seq=seq + 1, status=to, at=when, by=by, note=note))
        return self.get(ticket_id, principal=principal)

    # -- reading -----------------------------------------------------------------------------
    def version(self) -> tuple[int, str]:
        """Changes whenever a ticket is added or moved (a cache key for views): the newest
        history entry. The history is append-only (no update, no delete), so on SQLite its
        last row number only grows — read in one index step, where counting a city's 1.4 M
        entries took 0.15 s on every page run."""
        with self._reading() as conn:
            if conn.dialect.name == "sqlite":
                row = conn.exec_driver_sql(
                    "SELECT rowid, at FROM ticket_events ORDER BY rowid DESC LIMIT 1").first()
                n, last = row if row is not None else (0, None)
            elif conn.dialect.name == "postgresql" and conn.dialect.has_table(
                    conn, _VERSION_TABLE):
                n, last = conn.exec_driver_sql(f"SELECT n, last FROM {_VERSION_TABLE}").one()
            else:
                n, last = conn.execute(select(func.count(), func.max(events_table.c.at))).one()
        return int(n), str(last)

    def get(self, ticket_id: str, now: dt.datetime | None = None, *,
            principal: Principal) -> dict:
        """One ticket in its JSON form (:func:`record`): with its ``history`` (oldest
        first), ``overdue``, ``closed_late`` and the ``allowed`` next statuses — as the
        ``principal`` may read it (:func:`~layers.auth.scope.scoped_ticket`: in its scope,
        text and names hidden by role).

        Raises
        ------
        TicketNotFound, PermissionDenied
        """
        with self._reading() as conn:
            row = conn.execute(select(tickets_table).where(
                tickets_table.c.id == ticket_id)).mappings().first()
            if row is None:
                raise TicketNotFound(f"no ticket {ticket_id!r}")
            hist = conn.execute(select(events_table).where(
                events_table.c.ticket_id == ticket_id).order_by(events_table.c.seq)
            ).mappings().all()
        return scoped_ticket(record(
            row,  # type: ignore[arg-type]  # RowMapping: keyed by column name
            [_jsonable({k: v for k, v in h.items() if k != "ticket_id"}) for h in hist],
            now or clock.now()), principal)

    def records(self, tickets: pd.DataFrame, now: dt.datetime | None = None, *,
                principal: Principal) -> list[dict]:
        """The JSON form (:func:`record`) of the tickets of a :meth:`frame` (one query for
        all their histories), each as :meth:`get` gives it to the ``principal``."""
        hist = self.histories(tickets["id"].tolist(), principal=principal)
        when = now or clock.now()
        return [scoped_ticket(record(row, hist.get(row["id"], []), when), principal)
                for row in tickets.to_dict(orient="records")]

    def frame(self, now: dt.datetime | None = None, *, principal: Principal,
              open_only: bool = False, **filters: Any) -> pd.DataFrame:
        """The tickets the ``principal`` may see (its grids or communities, read as such from
        the database; text and handler hidden by role: :func:`~layers.auth.scope.scoped_tickets`),
        optionally filtered by equality on columns (``open_only``: the open ones, by
        :data:`~layers.schema.CLOSED_STATUSES`, the one rule), as a DataFrame with ``overdue``
        at ``now`` (default: the one clock) and ``closed_late``."""
        q = _in_scope(select(tickets_table), principal)
        if open_only:
            q = q.where(tickets_table.c.status.not_in(sorted(CLOSED_STATUSES)))
        for col, value in filters.items():
            if value is not None:
                q = q.where(tickets_table.c[col] == value)
        with self._reading() as conn:
            df = _read_frame(conn, q.order_by(tickets_table.c.id))
        for col in ("created_at", "deadline", "closed_at"):  # one unit, whatever the rows
            df[col] = pd.to_datetime(df[col], format="ISO8601").astype("datetime64[us]")
        df["closed_late"] = rules.closed_late_mask(df["status"], df["deadline"],
                                                   df["closed_at"])
        return scoped_tickets(rules.at(df, now or clock.now()), principal)

    def last_events(self, *, principal: Principal) -> pd.DataFrame:
        """The latest history entry of every ticket the ``principal`` may see: ``ticket_id``,
        ``at``, ``note`` (notes hidden from roles without ticket text)."""
        e, m = events_table.alias("e"), select(
            events_table.c.ticket_id, func.max(events_table.c.seq).label("s")).group_by(
            events_table.c.ticket_id).subquery()
        q = select(e.c.ticket_id, e.c.at, e.c.note).join(
            m, (e.c.ticket_id == m.c.ticket_id) & (e.c.seq == m.c.s))
        if not principal.whole_area:
            q = _in_scope(q.join(tickets_table, tickets_table.c.id == e.c.ticket_id), principal)
        with self._reading() as conn:
            df = pd.read_sql(q, conn)
        df["at"] = pd.to_datetime(df["at"])
        if not principal.reads_ticket_text:
            df["note"] = None
        return df

    def histories(self, ids: Iterable[str] | None = None, *,
                  principal: Principal) -> dict[str, list[dict]]:
        """The history of many tickets in one query (oldest event first): of the tickets the
        ``principal`` may see, names and notes hidden by role
        (:func:`~layers.auth.scope.scoped_history`)."""
        q = select(events_table).order_by(events_table.c.ticket_id, events_table.c.seq)
        if ids is not None:
            q = q.where(events_table.c.ticket_id.in_(list(ids)))
        if not principal.whole_area:
            q = _in_scope(q.join(tickets_table, tickets_table.c.id == events_table.c.ticket_id),
                          principal)
        out: dict[str, list[dict]] = {}
        with self._reading() as conn:
            for h in conn.execute(q).mappings():
                out.setdefault(h["ticket_id"], []).append(
                    _jsonable({k: v for k, v in h.items() if k != "ticket_id"}))
        return {tid: scoped_history(events, principal) for tid, events in out.items()}

    # -- import ------------------------------------------------------------------------------
    def import_frame(self, tickets: pd.DataFrame) -> int:
        """Load a ``tickets`` layer (e.g. the demo's history) with a plausible history for each
        ticket (the usual path of statuses, spread between creation and closing). One
        transaction; existing ids are skipped."""
        if tickets.empty:
            return 0
        with self._write() as conn:
            return self._import(conn, tickets)

    def _import(self, conn: Connection, tickets: pd.DataFrame) -> int:
        """:meth:`import_frame` inside the caller's write transaction."""
        if tickets.empty:
            return 0
        t = tickets.reset_index(drop=True)
        pts = t.geometry.to_numpy()
        created = pd.to_datetime(t["created_at"])
        limits = t["category"].map(lambda c: self.catalogue.get(c, ("", 7))[1])
        deadline = (pd.to_datetime(t["deadline"]) if "deadline" in t
                    else created + pd.to_timedelta(limits, unit="D"))
        closed = pd.to_datetime(t["closed_at"])
        have = set(conn.execute(select(tickets_table.c.id)).scalars())
        keep = ~t["id"].isin(have).to_numpy()
        if not keep.any():
            return 0
        t, created, deadline, closed = (x[keep] for x in (t, created, deadline, closed))
        pts = pts[keep]
        status = t["status"].astype(str).to_numpy()
        end = closed.fillna(pd.Timestamp(clock.now())).to_numpy()
        start = created.to_numpy()
        end = np.maximum(end, start)
        opt = {c: (t[c].astype(object).where(t[c].notna(), None).to_numpy()
                   if c in t else np.full(len(t), None, dtype=object))
               for c in ("grid_code", "community_code", "building_code")}
        rows = pd.DataFrame({
            "id": t["id"].astype(str).to_numpy(), "category": t["category"].astype(str),
            "text": t["text"].astype(str),
            "reporter": t["reporter"].astype(str) if "reporter" in t else "resident",
            "lon": shapely.get_x(pts), "lat": shapely.get_y(pts),
            **opt, "handler": None, "status": status,
            "created_at": start, "deadline": deadline.to_numpy(),
            "closed_at": closed.to_numpy(), "satisfaction": None,
            "version": [len(workflow.path_to(s_)) for s_ in status]})
        # history: the usual path to each status, spread between creation and closing
        events = []
        for st in np.unique(status):  # one pass per status, not per ticket
            path = workflow.path_to(str(st))
            sel = np.flatnonzero(status == st)
            span = (end[sel] - start[sel])
            for k, s_ in enumerate(path):
                at = start[sel] + span * (k / max(len(path) - 1, 1))
                events.append(pd.DataFrame({
                    "ticket_id": rows["id"].to_numpy()[sel], "seq": k + 1, "status": s_,
                    "at": pd.to_datetime(at).floor("s"), "by": "import", "note": None}))
        ev = pd.concat(events, ignore_index=True)
        conn.execute(tickets_table.insert(), _records(rows))
        conn.execute(events_table.insert(), _records(ev))
        return len(rows)


def _records(df: pd.DataFrame) -> list[dict]:
    """Rows for ``executemany``: timestamps as datetimes, missing values as None."""
    out = df.astype(object).where(df.notna(), None)
    for col in df.columns:
        if pd.api.types.is_datetime64_any_dtype(df[col]):
            out[col] = pd.Series([None if pd.isna(v) else pd.Timestamp(v).to_pydatetime()
                                  for v in df[col]], index=df.index, dtype=object)
    return out.to_dict(orient="records")


def _jsonable(d: Mapping[str, Any]) -> dict:
    """Times as ISO text, missing values (None, NaN, NaT) as None."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        if v is None or (not isinstance(v, str) and bool(pd.isna(v))):
            out[k] = None
        elif isinstance(v, dt.datetime):
            out[k] = pd.Timestamp(v).to_pydatetime().isoformat()
        elif isinstance(v, np.generic):
            out[k] = v.item()
        else:
            out[k] = v
    return out


def record(row: Mapping[str, Any], history: list[dict], now: dt.datetime) -> dict:
    """A ticket's one JSON form (CLI ``show`` and ``list``, the page's detail): the stored
    columns, ``overdue`` at ``now``, ``closed_late``, ``history`` and ``allowed``."""
    out = _jsonable({c.name: row[c.name] for c in tickets_table.columns})
    deadline = pd.Timestamp(row["deadline"]).to_pydatetime()
    closed = None if out["closed_at"] is None else pd.Timestamp(row["closed_at"])
    out["overdue"] = rules.is_overdue(out["status"], deadline, now)
    out["closed_late"] = bool(closed is not None and closed > pd.Timestamp(deadline))
    out["history"] = history
    out["allowed"] = [m.target for m in workflow.allowed_moves(out["status"])]
    return out


def to_json(ticket: Mapping[str, Any]) -> str:
    return json.dumps(ticket, ensure_ascii=False, indent=1, default=str)


__all__ = ["DEFAULT_CATALOGUE", "FIELD_LIMITS", "INTAKE_BUILDING_MAX_M", "ConflictError",
           "GridLocator", "Placement", "TicketError", "TicketNotFound", "TicketStore",
           "TicketStoreDamaged", "db_path_for"]


def _read_frame(conn: Connection, query: Select) -> pd.DataFrame:
    """The rows of ``query`` as a frame. On SQLite straight from the driver's cursor (dates
    come as ISO text, parsed by the caller): SQLAlchemy's row objects cost ~1 s per 200k
    tickets, two thirds of reading a city's tickets; other databases through pandas."""
    if conn.dialect.name != "sqlite":
        return pd.read_sql(query, conn)
    compiled = query.compile(conn, compile_kwargs={"render_postcompile": True})
    params = compiled.params  # filters are plain values (text, numbers): no bind processing
    values = tuple(params[name] for name in compiled.positiontup or ()) \
        if compiled.positional else params
    try:
        cursor = conn.connection.dbapi_connection.execute(  # type: ignore[union-attr]
            str(compiled), values)
        columns = [d[0] for d in cursor.description]
        rows = cursor.fetchall()
    except sqlite3.Error as exc:  # as SQLAlchemy would raise it: the caller tells damage
        raise sa_exc.DBAPIError.instance(str(compiled), values, exc, sqlite3.Error) from exc
    return pd.DataFrame(rows, columns=columns)
