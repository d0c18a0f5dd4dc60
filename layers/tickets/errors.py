"""What can go wrong with tickets: small classes subclassing ``ValueError`` (via
:class:`~layers.errors.LayersError`)."""

from __future__ import annotations

from ..errors import LayersError


class TicketError(LayersError):
    """Bad ticket input (unknown category, point outside every grid, empty text …)."""


class TicketNotFound(TicketError):
    """No ticket has this id."""


class ConflictError(TicketError):
    """Someone else moved the ticket first: reload it and decide again."""


class TicketStoreDamaged(TicketError):
    """The tickets database exists but cannot be used: it is empty, it is not an SQLite
    database, it fails the integrity check, or a read failed. It is left as found.

    Parameters
    ----------
    file
        The database's file name (never its full path: messages reach users).
    problem
        What is wrong, in a few words.
    """

    def __init__(self, file: str, problem: str) -> None:
        self.file = file
        self.problem = problem
        super().__init__(f"tickets database {file}: {problem}. Nothing was changed; restore the "
                         "file from a backup, or move it away to start an empty one")


class CatalogueError(TicketError):
    """A category catalogue file that cannot be used (naming the file, category and field)."""
