"""What the leaders' wall screen (大屏) shows, computed in one pure function.

:func:`wall_snapshot` turns the layers, their coverage and the live tickets into every number,
series and alert the screen draws, for the whole town or one community, at a moment ``now``.
The page only lays it out; tests compare its tiles with this.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .assignments import active_assignments
from .coverage import CoverageResult
from .layerset import LayerSet
from .tickets import rules
from .tickets.reports import ticket_kpis


@dataclass
class WallSnapshot:
    """Everything on the wall screen at one moment."""

    now: dt.datetime
    scope: str  # "town" or a community code
    open_tickets: int
    new_today: int
    closed_today: int
    closure_rate_month: float | None
    on_time_rate_month: float | None
    overdue: int
    grid_coverage: float | None
    building_coverage: float | None
    per_day: pd.DataFrame  # date, received, closed — last 30 days
    by_category: pd.DataFrame  # category, open, received_30d
    ranking: pd.DataFrame  # community_code, on_time_rate, received — this month
    overdue_list: pd.DataFrame  # id, category, grid_code, days_over
    lost_sentinel: pd.DataFrame  # grid_code, name, until
    elder_reach_500m: float | None = None  # waits for the service-reach analysis
    extra: dict = field(default_factory=dict)


def grids_that_lost_their_sentinel(data: LayerSet, as_of: dt.date,
                                   within_days: int = 180) -> pd.DataFrame:
    """Grids with no sentinel in force on ``as_of`` whose last sentinel left in the last
    ``within_days`` (the "in force" rule is :func:`layers.assignments.active_assignments`)."""
    a = data["assignments"]
    s = a[(a["role"] == "grid_sentinel").to_numpy()]
    covered = set(active_assignments(s, as_of)["target_code"])
    until = pd.to_datetime(s["until"])
    day = pd.Timestamp(as_of)
    ended = s[(until.notna() & (until < day) & (until >= day - pd.Timedelta(days=within_days))
               ).to_numpy()]
    ended = ended[~ended["target_code"].isin(covered)]
    last = ended.assign(until=pd.to_datetime(ended["until"])).sort_values("until").groupby(
        "target_code").tail(1)
    names = data["grids"].set_index("code")["name"]
    return pd.DataFrame({
        "grid_code": last["target_code"].to_numpy(),
        "name": names.reindex(last["target_code"]).to_numpy(),
        "until": last["until"].dt.date.to_numpy(),
    }).sort_values("until", ascending=False, ignore_index=True)


def rotation_scope(communities: Sequence[str], period_s: int, at_s: float) -> str | None:
    """What a rotating wall shows at ``at_s`` (seconds since the epoch): the whole area
    (``None``), then each community in turn, each for ``period_s`` seconds.

    Parameters
    ----------
    communities
        The community codes in display order.
    period_s
        Seconds each one stays on the screen (the refresh interval).
    at_s
        The moment, in seconds since the epoch.
    """
    order: list[str | None] = [None, *communities]
    return order[int(at_s // max(period_s, 1)) % len(order)]


def wall_snapshot(data: LayerSet, cov: CoverageResult, tickets: pd.DataFrame,
                  now: dt.datetime, community: str | None = None) -> WallSnapshot:
    """Compute the wall screen for the town (or ``community``) at ``now``.

    Parameters
    ----------
    data, cov
        The layers and their coverage analysis.
    tickets
        The live tickets (:meth:`layers.tickets.TicketStore.frame`).
    now
        The screen's clock: "today" and "this month" are taken from it.
    community
        A community code to show only that community.
    """
    tk = tickets
    if community is not None:
        tk = tk[tk["community_code"] == community]
    now_ts = pd.Timestamp(now)
    today = now_ts.normalize()
    month = today.replace(day=1)
    is_open = pd.Series(rules.open_mask(tk["status"]), index=tk.index)
    created = pd.to_datetime(tk["created_at"])
    closed_at = pd.to_datetime(tk["closed_at"])
    deadline = pd.to_datetime(tk["deadline"])
    kpi = ticket_kpis(tk, month, today + pd.Timedelta(days=1), by=None).iloc[0]
    # the last 30 days, one row a day
    days = pd.date_range(today - pd.Timedelta(days=29), today, freq="D")
    rec = created.dt.normalize().value_counts().reindex(days, fill_value=0)
    clo = closed_at.dropna().dt.normalize().value_counts().reindex(days, fill_value=0)
    per_day = pd.DataFrame({"date": days, "received": rec.to_numpy(),
                            "closed": clo.to_numpy()})
    recent = created >= today - pd.Timedelta(days=29)
    by_category = pd.DataFrame({
        "category": tk["category"], "open": is_open.astype(int), "received_30d":
        recent.astype(int)}).groupby("category", as_index=False).sum().sort_values(
        "received_30d", ascending=False, ignore_index=True)
    ranking = ticket_kpis(tickets, month, today + pd.Timedelta(days=1), by="community_code")
    ranking = ranking[ranking["community_code"] != "total"][
        ["community_code", "on_time_rate", "received"]].sort_values(
        ["on_time_rate", "received"], ascending=[False, False], na_position="last",
        ignore_index=True)
    late = pd.Series(rules.overdue_mask(tk["status"], deadline, now_ts), index=tk.index)
    over = tk[late.to_numpy()]
    overdue_list = pd.DataFrame({
        "id": over["id"].to_numpy(), "category": over["category"].to_numpy(),
        "grid_code": over["grid_code"].to_numpy(),
        "days_over": np.round((now_ts - deadline[late]).dt.total_seconds().to_numpy() / 86400,
                              1),
    }).sort_values("days_over", ascending=False, ignore_index=True)
    summary = cov.summary.set_index("community_code")
    row = summary.loc[community] if community is not None and community in summary.index \
        else summary.loc["town"]
    lost = grids_that_lost_their_sentinel(data, now_ts.date())
    if community is not None:
        lost = lost[lost["grid_code"].str.startswith(community)].reset_index(drop=True)
    return WallSnapshot(
        now=now, scope=community or "town",
        open_tickets=int(is_open.sum()),
        new_today=int((created >= today).sum()),
        closed_today=int(((closed_at >= today) & ~is_open).sum()),
        closure_rate_month=None if pd.isna(kpi["closure_rate"]) else float(kpi["closure_rate"]),
        on_time_rate_month=None if pd.isna(kpi["on_time_rate"]) else float(kpi["on_time_rate"]),
        overdue=int(late.sum()),
        grid_coverage=None if pd.isna(row["grid_coverage"]) else float(row["grid_coverage"]),
        building_coverage=None if pd.isna(row["building_coverage"])
        else float(row["building_coverage"]),
        per_day=per_day, by_category=by_category, ranking=ranking,
        overdue_list=overdue_list, lost_sentinel=lost,
    )
