"""The product's one clock.

Every "now" and "today" — a ticket's intake time and overdue flag, KPI periods, the wall's
"today", coverage as of today, the map's overdue tickets — comes from :func:`now`. It is the real
clock, unless ``$WANGGE_NOW`` holds an ISO time (tests, benchmarks, rehearsals), so every page,
the CLI and every export agree on what time it is.
"""

from __future__ import annotations

import datetime as dt
import os

#: Environment variable that fixes the clock (``2026-11-20T15:00:00`` or ``2026-11-20``).
ENV = "WANGGE_NOW"


class ClockError(ValueError):
    """``$WANGGE_NOW`` is set but is not an ISO date or time."""


def now() -> dt.datetime:
    """The current local time, to the second (naive, like every time the product stores)."""
    fixed = os.environ.get(ENV)
    if fixed:
        try:
            return dt.datetime.fromisoformat(fixed).replace(tzinfo=None, microsecond=0)
        except ValueError as exc:
            raise ClockError(f"${ENV}={fixed!r} is not an ISO date or time") from exc
    return dt.datetime.now().replace(microsecond=0)


def today() -> dt.date:
    """The current date (:func:`now`'s)."""
    return now().date()
