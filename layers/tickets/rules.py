"""The ticket rules everything else calls: what is closed, what is open, what is overdue.

A ticket is *closed* in :data:`layers.schema.CLOSED_STATUSES` (结案, 结案（未解决）); every other
status is *open*. An open ticket is *overdue* when its deadline has passed at ``now``; a closed
ticket is never overdue (it may have been closed late: ``closed_late``). ``now`` comes from the
one clock (:func:`layers.clock.now`) unless a caller evaluates another moment (a KPI period's
end, the wall's rehearsal time).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from ..schema import CLOSED_STATUSES


def is_closed(status: str) -> bool:
    """True for a final, closed status."""
    return status in CLOSED_STATUSES


def open_mask(status: pd.Series) -> np.ndarray:
    """Which tickets are open (vectorised :func:`is_closed`, negated)."""
    return ~status.isin(CLOSED_STATUSES).to_numpy()


def overdue_mask(status: pd.Series, deadline: pd.Series, now: dt.datetime | pd.Timestamp
                 ) -> np.ndarray:
    """Which tickets are open and past their deadline at ``now``."""
    late = (pd.to_datetime(deadline) < pd.Timestamp(now)).to_numpy()
    return open_mask(status) & late


def is_overdue(status: str, deadline: dt.datetime, now: dt.datetime) -> bool:
    """One ticket: open and past its deadline at ``now``."""
    return not is_closed(status) and deadline < now


def closed_late_mask(status: pd.Series, deadline: pd.Series, closed_at: pd.Series
                     ) -> np.ndarray:
    """Which tickets were closed after their deadline."""
    late = (pd.to_datetime(closed_at) > pd.to_datetime(deadline)).to_numpy()
    return ~open_mask(status) & late


def at(tickets: pd.DataFrame, now: dt.datetime | pd.Timestamp) -> pd.DataFrame:
    """``tickets`` (a :meth:`~layers.tickets.TicketStore.frame`) with ``overdue`` evaluated
    at ``now``: a frame read once serves any later moment (a copy; ``tickets`` is not
    changed)."""
    return tickets.assign(overdue=overdue_mask(tickets["status"], tickets["deadline"], now))
