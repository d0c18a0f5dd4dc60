"""Who is asking: a :class:`Principal` (an account's name, role and scope) and the roles as data.

Every read and write that depends on who asks takes a principal, and none of them has a
default that skips the checks: :mod:`layers.auth.scope` cuts a layer set and a ticket frame
down to the principal's communities or grids and masks personal data by role; writers check
:meth:`Principal.require` and the scope of every object they touch, and take ``by`` from
:attr:`Principal.name`. The CLI, an operator's tool on the server, acts as
:meth:`Principal.operator` (whole area, full data) named by its ``--by``; reads the application
makes for everyone before cutting them per reader use :meth:`Principal.system`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import LayersError

#: Roles, in the order the UI lists them (labels live in the dashboard's catalogue:
#: ``role_admin`` 街道管理员, ``role_community`` 社区工作者, ``role_sentinel`` 网格哨兵,
#: ``role_planner`` 规划, ``role_leader`` 领导, ``role_kiosk`` 大屏).
ACCOUNT_ROLES: tuple[str, ...] = ("admin", "community", "sentinel", "planner", "leader",
                                  "kiosk")

#: What each role may do. Capabilities:
#: ``map`` maps and the detail panel · ``analysis`` coverage/reach pages · ``people`` the people
#: register page · ``people_edit`` add/edit people and assignments · ``reveal_phone`` a full
#: phone number on request · ``tickets`` the tickets page · ``tickets_file`` file a ticket ·
#: ``tickets_move`` any lifecycle move · ``tickets_handle`` the handler's moves
#: (:data:`HANDLER_MOVES`) · ``export`` downloads · ``import`` replace layers ·
#: ``accounts`` and ``audit`` administration · ``wall`` the wall screen.
CAPABILITIES: dict[str, frozenset[str]] = {
    "admin": frozenset({"map", "analysis", "people", "people_edit", "reveal_phone", "tickets",
                        "tickets_file", "tickets_move", "tickets_handle", "export", "import",
                        "accounts", "audit", "wall"}),
    "community": frozenset({"map", "analysis", "people", "people_edit", "reveal_phone",
                            "tickets", "tickets_file", "tickets_move", "tickets_handle",
                            "export"}),
    "sentinel": frozenset({"map", "people", "tickets", "tickets_file", "tickets_handle"}),
    "planner": frozenset({"map", "analysis", "export"}),
    "leader": frozenset({"map", "analysis", "tickets", "export", "wall"}),  # tickets: KPIs, read
    "kiosk": frozenset({"wall"}),
}

#: How much personal data (people's names and phones) a role sees: ``full`` (phones masked
#: until revealed, each reveal audited), ``masked`` (张*, 138****5678, no reveal) or ``none``
#: (names replaced by the role, no phones).
PERSONAL: dict[str, str] = {"admin": "full", "community": "full", "sentinel": "masked",
                            "planner": "none", "leader": "masked", "kiosk": "none"}

#: Roles that read tickets' free text (description, notes) and handlers' names.
TICKET_TEXT_ROLES: frozenset[str] = frozenset({"admin", "community", "sentinel"})

#: The moves (source, target) a role with ``tickets_handle`` but not ``tickets_move`` may
#: make: take a ticket dispatched to its grid, report it handled, or hand it back.
HANDLER_MOVES: frozenset[tuple[str, str]] = frozenset({
    ("dispatched", "in_progress"), ("in_progress", "handled"), ("dispatched", "returned"),
    ("returned", "in_progress"),
})

#: Roles whose scope is a list of communities / of grids (the others see the whole area).
COMMUNITY_SCOPED = frozenset({"community"})
GRID_SCOPED = frozenset({"sentinel"})

assert set(CAPABILITIES) == set(ACCOUNT_ROLES) == set(PERSONAL)


class PermissionDenied(LayersError):
    """The principal may not do this, or not here (outside its communities or grids)."""


@dataclass(frozen=True)
class Principal:
    """An authenticated actor.

    Attributes
    ----------
    name
        The account name; what ``by`` records on every change.
    role
        One of :data:`ACCOUNT_ROLES`.
    communities, grids
        The scope of a ``community`` / ``sentinel`` account (codes); empty for the others.
    """

    name: str
    role: str
    communities: frozenset[str] = field(default_factory=frozenset)
    grids: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if self.role not in CAPABILITIES:
            raise PermissionDenied(f"unknown role {self.role!r}; roles: "
                                   f"{', '.join(ACCOUNT_ROLES)}")

    @classmethod
    def operator(cls, by: str | None = None) -> Principal:
        """The server operator (CLI, scripts, the open fictional demo): everything, whole area;
        ``by`` (default ``cli``) is what the change log and the ticket history record."""
        return cls(name=by or "cli", role="admin")

    @classmethod
    def system(cls, purpose: str) -> Principal:
        """The application itself reading for everyone, before each reader's own cut (a read
        shared by all sessions, a count when a store is made): whole area, full data. Its name,
        ``system:<purpose>``, says which read it is; it is not meant for changes a person
        makes (those carry the person's principal)."""
        return cls(name=f"system:{purpose}", role="admin")

    # -- what --------------------------------------------------------------------------------
    def can(self, capability: str) -> bool:
        """Whether the role has ``capability`` (see :data:`CAPABILITIES`)."""
        return capability in CAPABILITIES[self.role]

    def require(self, capability: str) -> None:
        """Raise :class:`PermissionDenied` unless the role has ``capability``."""
        if not self.can(capability):
            raise PermissionDenied(f"{self.name} ({self.role}) may not {capability}")

    @property
    def personal(self) -> str:
        """``full``, ``masked`` or ``none``: see :data:`PERSONAL`."""
        return PERSONAL[self.role]

    @property
    def reads_ticket_text(self) -> bool:
        return self.role in TICKET_TEXT_ROLES

    def may_move(self, source: str, target: str) -> bool:
        """Whether the role may make the lifecycle move ``source → target`` (legality of the
        move itself is :func:`layers.tickets.workflow.check_move`'s business)."""
        if self.can("tickets_move"):
            return True
        return self.can("tickets_handle") and (source, target) in HANDLER_MOVES

    # -- where -------------------------------------------------------------------------------
    @property
    def whole_area(self) -> bool:
        """True for roles that see every community (admin, planner, leader, kiosk)."""
        return self.role not in COMMUNITY_SCOPED | GRID_SCOPED

    def covers(self, community_code: object, grid_code: object = None) -> bool:
        """Whether a place (its community and, where known, its grid) is in scope."""
        if self.whole_area:
            return True
        if self.role in GRID_SCOPED:
            return isinstance(grid_code, str) and grid_code in self.grids
        return isinstance(community_code, str) and community_code in self.communities

    @property
    def scope_key(self) -> tuple[str, str, tuple[str, ...], tuple[str, ...]]:
        """What a cached, scoped view depends on (two principals with the same key see the
        same rows)."""
        return (self.role, self.personal, tuple(sorted(self.communities)),
                tuple(sorted(self.grids)))
