"""The layer contract: which layers a store holds, their columns, types and geometry.

Other tools read the GeoPackage directly (QGIS, our checks), so names here are fixed; more
columns are welcome. Enumerated values are stored as stable codes; their Chinese and English
labels and the synonyms files use live in :mod:`layers.labels` (the one catalogue), except
``communities.kind`` whose values the contract fixes in Chinese (``社区`` / ``村``).

Required (not nullable) are what the hierarchy, the map and the analyses cannot do without:
codes and parent codes, names, geometry, enumerations that place a feature in an analysis
(care and parking kinds, roles), households of grids and buildings (what grids are sized by
and sentinels loaded with; the importer derives them when a file has none), party membership.
What real files often lack is nullable, meaning *unknown*: the households and population of
towns and communities, a building's floors, year built, elevator and renovation status, the
capacity of care points and car parks, a car park's fee and a road's kind.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .errors import SchemaError

Kind = Literal["str", "int", "float", "bool", "datetime"]

COMMUNITY_KINDS = ("社区", "村")
ROLES = ("grid_sentinel", "building_member")
CARE_KINDS = (
    "elder_day_care",
    "elder_station",
    "elder_canteen",
    "nursery",
    "kindergarten",
    "after_school",
)
ELDER_CARE_KINDS = CARE_KINDS[:3]
CHILD_CARE_KINDS = CARE_KINDS[3:]
PARKING_KINDS = ("lot", "street", "shared_staggered", "converted_wasteland")
RENOVATION_STATUSES = ("not_planned", "planned", "in_progress", "completed")
TICKET_STATUSES = (
    "received",
    "registered",
    "dispatched",
    "in_progress",
    "handled",
    "verified",
    "closed",
    "returned",
    "closed_unresolved",
)
CLOSED_STATUSES = ("closed", "closed_unresolved")
ROAD_KINDS = ("primary", "secondary", "residential", "village", "path")

POLYGON = ("Polygon",)
POLYGONAL = ("Polygon", "MultiPolygon")
POINT = ("Point",)


@dataclass(frozen=True)
class Field:
    """One column of the contract.

    Attributes
    ----------
    name
        Column name.
    kind
        Logical type; values are coerced to it on load and save.
    nullable
        Whether missing values are allowed.
    choices
        Allowed values, if enumerated.
    minimum
        Smallest allowed value for numbers.
    personal
        Personal data (e.g. phone numbers): its values are never put in messages or logs.
    """

    name: str
    kind: Kind
    nullable: bool = False
    choices: tuple[str, ...] | None = None
    minimum: float | None = None
    personal: bool = False


@dataclass(frozen=True)
class Reference:
    """A foreign key: ``column`` holds a ``key`` of ``layer``; with ``prefix`` the row's own key
    must start with it (hierarchical codes)."""

    column: str
    layer: str
    prefix: bool = False


@dataclass(frozen=True)
class LayerSpec:
    """Contract of one layer.

    Attributes
    ----------
    name
        Layer name in the store.
    key
        Column holding the unique identifier, or ``None``.
    fields
        The required columns (geometry excluded).
    geometry
        Allowed geometry types, or ``None`` for a table without geometry.
    references
        Foreign keys checked against other layers.
    required
        Whether a store must hold the layer (it may be empty).
    """

    name: str
    key: str | None
    fields: tuple[Field, ...]
    geometry: tuple[str, ...] | None
    references: tuple[Reference, ...] = ()
    required: bool = True

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise SchemaError(f"layer {self.name!r} has no field {name!r}")

    @property
    def columns(self) -> list[str]:
        return [f.name for f in self.fields]


def _s(name: str, **kw) -> Field:
    return Field(name, "str", **kw)


def _i(name: str, **kw) -> Field:
    return Field(name, "int", **kw)


LAYERS: dict[str, LayerSpec] = {
    spec.name: spec
    for spec in (
        LayerSpec(
            "towns",
            "code",
            (_s("code"), _s("name"), _i("households", nullable=True, minimum=0),
             _i("population", nullable=True, minimum=0)),
            POLYGONAL,
        ),
        LayerSpec(
            "communities",
            "code",
            (
                _s("code"),
                _s("name"),
                _s("kind", choices=COMMUNITY_KINDS),
                _s("town_code"),
                _i("households", nullable=True, minimum=0),
                _i("population", nullable=True, minimum=0),
            ),
            POLYGONAL,
            (Reference("town_code", "towns", prefix=True),),
        ),
        LayerSpec(
            "grids",
            "code",
            (_s("code"), _s("community_code"), _s("name"), _i("households", minimum=0)),
            POLYGON,
            (Reference("community_code", "communities", prefix=True),),
        ),
        LayerSpec(
            "buildings",
            "code",
            (
                _s("code"),
                _s("grid_code"),
                _s("name"),
                _i("households", minimum=0),
                _i("floors", nullable=True, minimum=1),
                _i("year_built", nullable=True, minimum=1800),
                Field("has_elevator", "bool", nullable=True),
                _s("renovation", nullable=True, choices=RENOVATION_STATUSES),
            ),
            POLYGON,
            (Reference("grid_code", "grids", prefix=True),),
        ),
        LayerSpec(
            "people",
            "person_id",
            (
                _s("person_id"),
                _s("name", personal=True),
                _s("phone", nullable=True, personal=True),
                Field("is_party_member", "bool"),
                _s("home_building_code", nullable=True),
            ),
            POINT,
            (Reference("home_building_code", "buildings"),),
        ),
        LayerSpec(
            "assignments",
            None,
            (
                _s("person_id"),
                _s("role", choices=ROLES),
                _s("target_code"),
                Field("active", "bool"),
                Field("since", "datetime", nullable=True),
                Field("until", "datetime", nullable=True),
            ),
            None,
            (Reference("person_id", "people"),),
        ),
        LayerSpec(
            "care_points",
            "code",
            (
                _s("code"),
                _s("name"),
                _s("kind", choices=CARE_KINDS),
                _i("capacity", nullable=True, minimum=0),
            ),
            POINT,
        ),
        LayerSpec(
            "parking",
            "code",
            (
                _s("code"),
                _s("name"),
                _s("kind", choices=PARKING_KINDS),
                _i("capacity", nullable=True, minimum=0),
                Field("fee", "float", nullable=True, minimum=0),
            ),
            ("Point", "Polygon"),
        ),
        LayerSpec(
            "tickets",
            "id",
            (
                _s("id"),
                _s("category"),
                _s("status", choices=TICKET_STATUSES),
                _s("grid_code", nullable=True),
                Field("created_at", "datetime"),
                Field("closed_at", "datetime", nullable=True),
                _s("text"),
            ),
            POINT,
            (Reference("grid_code", "grids"),),
        ),
        LayerSpec(
            "roads",
            None,
            (_s("name", nullable=True), _s("kind", nullable=True, choices=ROAD_KINDS)),
            ("LineString",),
            required=False,
        ),
    )
}

LAYER_NAMES: tuple[str, ...] = tuple(LAYERS)
REQUIRED_LAYERS: tuple[str, ...] = tuple(n for n, s in LAYERS.items() if s.required)


def spec(name: str) -> LayerSpec:
    """Return the contract of layer ``name``.

    Raises
    ------
    SchemaError
        For a name that is not part of the contract.
    """
    try:
        return LAYERS[name]
    except KeyError:
        known = ", ".join(LAYER_NAMES)
        raise SchemaError(f"unknown layer {name!r}; the contract has: {known}") from None
