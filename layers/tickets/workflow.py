"""The ticket lifecycle, as data.

Modelled on digital city management (数字化城市管理): 受理 received → 立案 registered →
派遣 dispatched → 处置 in_progress → 反馈 handled → 核查 verified → 结案 closed, with 退回
returned (back for rework) and 结案（未解决） closed_unresolved. The allowed moves are the
table :data:`MOVES`; nothing else in the code decides which move is legal.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import LayersError
from .schema import CLOSED_STATUSES, TICKET_STATUSES


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
        A short verb for buttons and the CLI (``register``, ``dispatch`` …).
    label_zh
        The button's Chinese label.
    """

    source: str
    target: str
    action: str
    label_zh: str


#: Every allowed move; a status missing from ``source`` is final.
MOVES: tuple[Move, ...] = (
    Move("received", "registered", "register", "立案"),
    Move("received", "closed_unresolved", "reject", "不予立案"),
    Move("registered", "dispatched", "dispatch", "派遣"),
    Move("dispatched", "in_progress", "start", "开始处置"),
    Move("dispatched", "returned", "return", "退回"),
    Move("in_progress", "handled", "report", "处置反馈"),
    Move("handled", "verified", "verify", "核查通过"),
    Move("handled", "returned", "return", "核查不通过，退回"),
    Move("returned", "dispatched", "redispatch", "重新派遣"),
    Move("returned", "in_progress", "restart", "重新处置"),
    Move("verified", "closed", "close", "结案"),
    Move("verified", "closed_unresolved", "close_unresolved", "结案（未解决）"),
    Move("in_progress", "closed_unresolved", "close_unresolved", "结案（未解决）"),
)

STATUS_LABELS_ZH = {
    "received": "受理", "registered": "立案", "dispatched": "派遣", "in_progress": "处置中",
    "handled": "已反馈", "verified": "已核查", "closed": "结案", "returned": "退回重办",
    "closed_unresolved": "结案（未解决）",
}

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
    raise IllegalMove(
        f"a ticket cannot move from {source} ({STATUS_LABELS_ZH.get(source, source)}) to "
        f"{target} ({STATUS_LABELS_ZH.get(target, target)}); allowed next: {nexts}")


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
