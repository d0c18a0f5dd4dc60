"""The ticket category catalogue: code → name → days allowed before a ticket is overdue.

The default catalogue below is what a Chongqing street office files (the kinds named in the
seeds); a store may bring its own as ``town.categories.json`` beside ``town.gpkg``
(``{"code": {"name": "矛盾纠纷", "days": 10}, …}``). Codes are what the library stores and
emits; the dashboard shows its own label for a known code and the catalogue's name otherwise.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import CatalogueError

if TYPE_CHECKING:  # pragma: no cover
    from ..store.base import Store

#: The store metadata entry holding a store's own catalogue (the JSON of a catalogue file):
#: what a store that is not a file keeps instead of ``town.categories.json``.
CATALOGUE_META_KEY = "ticket_catalogue"


@dataclass(frozen=True)
class Category:
    """One kind of ticket."""

    code: str
    name: str
    days: int


#: The default categories, in display order.
DEFAULT_CATEGORIES: tuple[Category, ...] = (
    Category("dispute", "矛盾纠纷", 10),
    Category("sanitation", "环境卫生", 3),
    Category("facility_repair", "设施维修", 15),
    Category("parking_order", "停车秩序", 5),
    Category("cooking_fumes", "油烟扰民", 7),
    Category("group_rental_fire", "群租与消防安全", 5),
    Category("elevator_retrofit", "加装电梯", 60),
    Category("tree_trimming", "树木修剪", 10),
    Category("employment", "就业服务", 15),
    Category("power_supply", "供电用电", 2),
    Category("elderly_child_care", "一老一小服务", 7),
    Category("other", "其他", 7),
)

#: Category code → (name, days allowed before a ticket is overdue).
DEFAULT_CATALOGUE: dict[str, tuple[str, int]] = {
    c.code: (c.name, c.days) for c in DEFAULT_CATEGORIES}


def catalogue_path_for(store: str | os.PathLike[str] | Store) -> Path | None:
    """The optional category catalogue of a GeoPackage store: ``town.gpkg`` →
    ``town.categories.json`` (``{"code": {"name": "矛盾纠纷", "days": 10}, …}``); None for a
    store that is not a file (a PostGIS store keeps its catalogue in its metadata,
    :data:`CATALOGUE_META_KEY`)."""
    from ..store import is_url

    loc: str | os.PathLike[str] | None = store if isinstance(store, str | os.PathLike) \
        else getattr(store, "path", None)
    if loc is None or is_url(loc):
        return None
    p = Path(loc)
    return p.with_name(p.stem + ".categories.json")


def load_catalogue(path: str | os.PathLike[str]) -> dict[str, tuple[str, int]]:
    """Read a category catalogue file.

    Raises
    ------
    CatalogueError
        Naming the file, the category and what is wrong.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise CatalogueError(f"{path}: not a readable JSON catalogue ({exc})") from exc
    return parse_catalogue(text, str(path))


def parse_catalogue(text: str, source: str) -> dict[str, tuple[str, int]]:
    """A catalogue from its JSON text (a file's, or a store's :data:`CATALOGUE_META_KEY`).

    Raises
    ------
    CatalogueError
        Naming ``source``, the category and what is wrong.
    """
    path = source
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise CatalogueError(f"{path}: not a readable JSON catalogue ({exc})") from exc
    if not isinstance(raw, dict) or not raw:
        raise CatalogueError(f"{path}: expected an object of categories")
    out: dict[str, tuple[str, int]] = {}
    for code, entry in raw.items():
        name = entry.get("name") if isinstance(entry, dict) else None
        days = entry.get("days") if isinstance(entry, dict) else None
        if not isinstance(name, str) or not name.strip():
            raise CatalogueError(f"{path}: category {code!r}: field 'name' is missing")
        if not isinstance(days, int) or isinstance(days, bool) or days <= 0:
            raise CatalogueError(f"{path}: category {code!r}: field 'days' must be a positive "
                              f"whole number of days, not {days!r}")
        out[str(code)] = (name.strip(), days)
    return out


def catalogue_of(store: Store) -> dict[str, tuple[str, int]] | None:
    """A store's own catalogue: its metadata entry :data:`CATALOGUE_META_KEY`, else the file
    beside a GeoPackage (:func:`catalogue_path_for`); None when it has none."""
    text = store.meta().get(CATALOGUE_META_KEY) if store.exists() else None
    if text:
        return parse_catalogue(text, f"{store.location} ({CATALOGUE_META_KEY})")
    path = catalogue_path_for(store)
    return load_catalogue(path) if path is not None and path.exists() else None
