"""Tickets (诉求 / 工单): the lifecycle as data (:mod:`.workflow`), the category catalogue
(:mod:`.catalogue`), the store with its append-only history (:mod:`.store`) and the KPIs,
exports and imports (:mod:`.reports`).

The ticket database beside a layer store is the one source of tickets for every page, the
CLI and every export; a layer store's ``tickets`` layer is import material only.
"""

from __future__ import annotations

from .catalogue import (
    DEFAULT_CATALOGUE,
    DEFAULT_CATEGORIES,
    CatalogueError,
    Category,
    catalogue_path_for,
    load_catalogue,
)
from .photos import PHOTO_MAX_BYTES, PHOTO_TYPES, Photo, PhotoError, check_photo, photo_type
from .store import (
    FIELD_LIMITS,
    INTAKE_BUILDING_MAX_M,
    REPORTERS,
    SATISFACTION,
    ConflictError,
    GridLocator,
    Placement,
    TicketError,
    TicketNotFound,
    TicketStore,
    TicketStoreDamaged,
    db_path_for,
    to_json,
)
from .workflow import MOVES, IllegalMove, Move, allowed_moves, check_move, is_closed

__all__ = [
    "DEFAULT_CATALOGUE", "DEFAULT_CATEGORIES", "FIELD_LIMITS", "INTAKE_BUILDING_MAX_M", "MOVES",
    "PHOTO_MAX_BYTES", "PHOTO_TYPES", "REPORTERS", "SATISFACTION", "CatalogueError", "Category",
    "ConflictError", "GridLocator", "IllegalMove", "Move", "Photo", "PhotoError", "Placement",
    "TicketError", "TicketNotFound", "TicketStore", "TicketStoreDamaged",
    "allowed_moves", "catalogue_path_for", "check_move", "check_photo", "photo_type", "db_path_for", "is_closed",
    "load_catalogue", "to_json",
]
