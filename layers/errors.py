"""Error classes. Every error a user can cause is a small class subclassing ``ValueError``."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from .validate import ValidationReport


class LayersError(ValueError):
    """Base class of the library's user-facing errors."""


class LayerValidationError(LayersError):
    """Data broke the layer contract; ``report`` lists every problem found.

    Parameters
    ----------
    report
        The full validation report (all problems, not only the first).
    source
        The file or store the data came from or was going to, for the message.
    """

    def __init__(self, report: ValidationReport, source: str | None = None) -> None:
        self.report = report
        self.source = source
        where = f" in {source}" if source else ""
        # rows, not listed entries: a capped run of 600 rows is 200 problems and a summary
        rows = sum(p.count for p in report.errors)
        head = f"{rows} problem(s){where}; nothing was written.\n"
        super().__init__(head + report.format(limit=50))


class StoreError(LayersError):
    """The store cannot be opened, read or written (missing file, wrong format, bad URL)."""


class SchemaError(LayersError):
    """An unknown layer name or a programming error against the layer contract."""
