"""The ticket lifecycle, as data.

Modelled on digital city management (数字化城市管理): 受理 received → 立案 registered →
派遣 dispatched → 处置 in_progress → 反馈 handled → 核查 verified → 结案 closed, with 退回
returned (back for rework) and 结案（未解决） closed_unresolved. The allowed moves are the
table :data:`MOVES`; nothing else in the code decides which move is legal.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import LayersError
from ..schema import CLOSED_STATUSES, TICKET_STATUSES


class IllegalMove(LayersError):
    """A move the lifecycle does not allow (e.g. received → closed)."""


@dataclass(frozen=True)
class Move:
    """One allowed transition.

    Attributes
    ----------
    source, target
        Statuses.
    action
        A short verb for the CLI and logs (``register``, ``dispatch`` …). The dashboard labels a
        move by the catalogue key ``move_{source}_{target}``.
    """

    source: str
    target: str
    action: str


#: Every allowed move; a status missing from ``source`` is final.
MOVES: tuple[Move, ...] = (
    Move("received", "registered", "register"),
    Move("received", "closed_unresolved", "reject"),
    Move("registered", "dispatched", "dispatch"),
    Move("dispatched", "in_progress", "start"),
    Move("dispatched", "returned", "return"),
    Move("in_progress", "handled", "report"),
    Move("handled", "verified", "verify"),
    Move("handled", "returned", "return"),
    Move("returned", "dispatched", "redispatch"),
    Move("returned", "in_progress", "restart"),
    Move("verified", "closed", "close"),
    Move("verified", "closed_unresolved", "close_unresolved"),
    Move("in_progress", "closed_unresolved", "close_unresolved"),
)

_BY_SOURCE: dict[str, tuple[Move, ...]] = {
    s: tuple(m for m in MOVES if m.source == s) for s in TICKET_STATUSES
}
assert all(m.source in TICKET_STATUSES and m.target in TICKET_STATUSES for m in MOVES)


def allowed_moves(status: str) -> tuple[Move, ...]:
    """The moves possible from ``status`` (empty for final statuses)."""
    if status not in _BY_SOURCE:
        raise IllegalMove(f"unknown status {status!r}; statuses: {', '.join(TICKET_STATUSES)}")
    return _BY_SOURCE[status]


def check_move(source: str, target: str) -> Move:
    """The move ``source → target``.

    Raises
    ------
    IllegalMove
        With the statuses reachable from ``source`` named in the message.
    """
    if target not in TICKET_STATUSES:
        raise IllegalMove(f"unknown status {target!r}; statuses: {', '.join(TICKET_STATUSES)}")
    for m in allowed_moves(source):
        if m.target == target:
            return m
    nexts = ", ".join(m.target for m in allowed_moves(source)) or "none (the ticket is final)"
    raise IllegalMove(f"a ticket cannot move from {source} to {target}; allowed next: {nexts}")


def is_closed(status: str) -> bool:
    return status in CLOSED_STATUSES


def path_to(status: str) -> list[str]:
    """The usual sequence of statuses from ``received`` to ``status`` (to give imported
    tickets a plausible history): the shortest path through :data:`MOVES`."""
    if status == "received":
        return ["received"]
    frontier, seen = [["received"]], {"received"}
    while frontier:
        nxt = []
        for path in frontier:
            for m in allowed_moves(path[-1]):
                if m.target in seen:
                    continue
                if m.target == status:
                    return [*path, status]
                seen.add(m.target)
                nxt.append([*path, m.target])
        frontier = nxt
    raise IllegalMove(f"status {status!r} cannot be reached from received")
