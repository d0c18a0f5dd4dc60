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

Who may read what is part of the contract too: each field says whether it is personal (and how
it is masked) or residents' free text, and each layer how it is cut to a scoped reader's area
(:class:`Scope`; by default, from its references). :mod:`layers.auth.scope` reads both from
here and names no layer or column itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .errors import SchemaError

Kind = Literal["str", "int", "float", "bool", "datetime"]
#: How a personal field is masked (:attr:`Field.mask`).
MaskStyle = Literal["name", "phone", "hide"]
#: How a layer is cut to a scoped principal's area (:class:`Scope`).
ScopeRule = Literal["references", "own_grids", "of_grids", "targets", "residents_or_holders",
                    "near", "public"]

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

#: The layer a duty's target lives in, by the duty's role (an assignment's ``target_code``).
ROLE_TARGETS: dict[str, str] = {"grid_sentinel": "grids", "building_member": "buildings"}

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
        Personal data (e.g. phone numbers): its values are never put in messages or logs, and
        :func:`layers.auth.scope.scoped` masks them by the reader's role
        (:data:`layers.auth.principal.PERSONAL`).
    mask
        How a personal value reads for roles that see personal data masked: ``name`` keeps the
        first character (``张**``), ``phone`` the first three and last four digits
        (``138****5678``), ``hide`` nothing (the default: a new personal field shows nothing
        until it says otherwise). Roles that see no personal data get nothing of any of them.
    free_text
        What residents wrote (a ticket's text): only the roles that read ticket text
        (:data:`layers.auth.principal.TICKET_TEXT_ROLES`) see it.
    """

    name: str
    kind: Kind
    nullable: bool = False
    choices: tuple[str, ...] | None = None
    minimum: float | None = None
    personal: bool = False
    mask: MaskStyle = "hide"
    free_text: bool = False


@dataclass(frozen=True)
class Reference:
    """A foreign key: ``column`` holds a ``key`` of ``layer``; with ``prefix`` the row's own key
    must start with it (hierarchical codes)."""

    column: str
    layer: str
    prefix: bool = False


@dataclass(frozen=True)
class Scope:
    """Which rows of a layer a principal with a scope (a community worker, a sentinel) sees,
    declared where the layer's references alone do not say it (:mod:`layers.auth.scope`).

    Without a declaration, a layer that refers (:class:`Reference`) to a layer cut to the scope
    — grids, buildings, communities, people, or any layer that itself refers to one — is cut by
    those references (rule ``references``: every such reference of a row must name a row in
    scope; a missing one does not). A layer with neither is refused to scoped principals until
    a rule is declared here.

    Attributes
    ----------
    rule
        ``references``
            as above (the rule a layer gets without a declaration);
        ``own_grids``
            the principal's grids: a sentinel's own, a community worker's those of its
            communities — where every other rule starts;
        ``of_grids``
            the communities holding those grids (and a community worker's own);
        ``targets``
            rows whose ``column`` holds a key, in scope, of the layer the row's ``role``
            names in ``targets`` (a duty is seen where it is held);
        ``residents_or_holders``
            rows whose ``column`` names a building in scope (they live there), or who hold
            a duty (a ``targets`` layer referring to this one) in force today in scope;
        ``near``
            public facilities within :data:`layers.auth.scope.FACILITY_MARGIN_DEG` of the
            scope's communities (the nearest care point may lie next door);
        ``public``
            kept whole.
    column
        ``targets``: the column holding the target's key; ``residents_or_holders``: the home
        column; ``own_grids``: the column naming the grid's community (a community worker's
        grids are those of its communities).
    role
        ``targets``: the column naming the row's role.
    targets
        ``targets``: ``(role, layer)`` pairs.
    """

    rule: ScopeRule
    column: str | None = None
    role: str | None = None
    targets: tuple[tuple[str, str], ...] = ()


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
    scope
        How the layer is cut to a scoped principal's area, where its references do not say it
        (:class:`Scope`).
    """

    name: str
    key: str | None
    fields: tuple[Field, ...]
    geometry: tuple[str, ...] | None
    references: tuple[Reference, ...] = ()
    required: bool = True
    scope: Scope | None = None

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
            scope=Scope("public"),  # the street's outline and totals
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
            scope=Scope("of_grids"),
        ),
        LayerSpec(
            "grids",
            "code",
            (_s("code"), _s("community_code"), _s("name"), _i("households", minimum=0)),
            POLYGON,
            (Reference("community_code", "communities", prefix=True),),
            scope=Scope("own_grids", column="community_code"),
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
                _s("name", personal=True, mask="name"),
                _s("phone", nullable=True, personal=True, mask="phone"),
                Field("is_party_member", "bool"),
                _s("home_building_code", nullable=True),
            ),
            POINT,
            (Reference("home_building_code", "buildings"),),
            scope=Scope("residents_or_holders", column="home_building_code"),
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
            scope=Scope("targets", column="target_code", role="role",
                        targets=tuple(ROLE_TARGETS.items())),
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
            scope=Scope("near"),
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
            scope=Scope("near"),
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
                _s("text", free_text=True),
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
            scope=Scope("near"),
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
