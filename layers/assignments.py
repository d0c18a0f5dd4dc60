"""Who is responsible for what on a date: the rule "an assignment is in force" in one place.

An assignment (person → grid or building, with a role) is in force on a day when it is
``active`` and the day lies within ``since`` … ``until`` (inclusive, either may be open).
Coverage, the map, reach suggestions, lookups and the wall all call :func:`active_assignments`.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from . import clock
from .layerset import LayerSet
from .settings import DEFAULT_SETTINGS, Settings


def resolve_as_of(data: LayerSet, settings: Settings = DEFAULT_SETTINGS) -> dt.date:
    """The evaluation date: ``settings.as_of``, else today by the product's one clock
    (:func:`layers.clock.today`). ``data`` is accepted for symmetry with the analyses that call
    it; a store's own dates never move "today"."""
    del data
    return dt.date.fromisoformat(settings.as_of) if settings.as_of else clock.today()


def active_assignments(
    assignments: pd.DataFrame, as_of: dt.date | str | None = None
) -> pd.DataFrame:
    """Assignments in force on ``as_of``: ``active`` and within ``since``/``until`` (inclusive).

    Parameters
    ----------
    assignments
        The assignments layer.
    as_of
        Date to evaluate at; ``None`` ignores the dates and uses ``active`` only.
    """
    return assignments[active_mask(assignments, as_of)]


def active_mask(assignments: pd.DataFrame, as_of: dt.date | str | None = None) -> np.ndarray:
    """Which rows of ``assignments`` are in force on ``as_of`` (the rule of
    :func:`active_assignments`, without copying the rows: the coverage of a city reads two
    million assignments)."""
    a = assignments
    ok = a["active"].to_numpy(dtype=bool).copy()
    if as_of is not None:
        day = np.datetime64(pd.Timestamp(as_of).date(), "ms")
        end_of_day = day + np.timedelta64(1, "D")
        since = pd.to_datetime(a["since"]).to_numpy(dtype="datetime64[ms]")
        until = pd.to_datetime(a["until"]).to_numpy(dtype="datetime64[ms]")
        ok &= np.isnat(since) | (since < end_of_day)
        ok &= np.isnat(until) | (until >= day)
    return ok
