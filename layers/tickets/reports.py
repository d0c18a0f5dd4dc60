"""Ticket KPIs, exports and imports: what leaders and the monthly joint meeting read, and how
tickets travel to and from other systems (Open311 GeoReport v2, hotline CSV exports).

KPI definitions (also in ``docs/tickets.md``), for a period ``[start, end)``:

received
    tickets created in the period.
closed
    tickets that reached 结案 or 结案（未解决） in the period.
closure_rate (结案率)
    of the tickets received in the period, the share closed by ``end``.
on_time_rate (按期结案率)
    of the tickets whose deadline fell in the period (应结案), the share closed on or before
    their deadline.
avg_handling_days
    mean days from creation to closing, over the tickets closed in the period.
overdue
    tickets open at ``end`` whose deadline had passed.
satisfaction_rate
    of the tickets closed in the period with a rating, the share rated 满意 or 基本满意.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import clock
from .. import crs as lcrs
from ..auth.principal import Principal
from ..export import write_excel
from . import rules
from .catalogue import DEFAULT_CATALOGUE
from .store import TicketError, TicketStore

KPI_COLUMNS = ["received", "closed", "closure_rate", "on_time_rate", "avg_handling_days",
               "overdue", "satisfaction_rate"]


def ticket_kpis(df: pd.DataFrame, start: str | dt.date, end: str | dt.date,
                by: str | None = "community_code") -> pd.DataFrame:
    """KPIs per group (``community_code``, ``grid_code`` or ``None`` for the town) over
    ``[start, end)``, vectorised with pandas; a ``total`` row closes grouped tables."""
    t0, t1 = pd.Timestamp(start), pd.Timestamp(end)
    created = pd.to_datetime(df["created_at"])
    closed_at = pd.to_datetime(df["closed_at"])
    deadline = pd.to_datetime(df["deadline"])
    is_closed = ~rules.open_mask(df["status"])
    recv = ((created >= t0) & (created < t1)).to_numpy()
    clos = (is_closed & (closed_at >= t0) & (closed_at < t1)).to_numpy()
    closed_by_end = is_closed & (closed_at < t1).to_numpy()
    due = ((deadline >= t0) & (deadline < t1)).to_numpy()
    on_time = is_closed & (closed_at <= deadline).to_numpy()
    overdue = (created < t1).to_numpy() & ~closed_by_end & (deadline < t1).to_numpy()
    days = ((closed_at - created).dt.total_seconds() / 86400).to_numpy()
    sat = df["satisfaction"] if "satisfaction" in df else pd.Series(None, index=df.index)
    rated = clos & sat.notna().to_numpy()
    happy = rated & sat.isin(["satisfied", "basically_satisfied"]).to_numpy()
    parts = pd.DataFrame({
        "received": recv, "closed": clos, "recv_closed": recv & closed_by_end,
        "due": due, "due_on_time": due & on_time,
        "days": np.where(clos, days, 0.0), "overdue": overdue, "rated": rated, "happy": happy,
    })
    key = df[by].fillna("—").to_numpy() if by else np.zeros(len(df), dtype=int)
    g = parts.groupby(key).sum()
    if by:
        g.loc["total"] = g.sum()
    out = pd.DataFrame(index=g.index)
    out["received"] = g["received"].astype(int)
    out["closed"] = g["closed"].astype(int)
    out["closure_rate"] = (g["recv_closed"] / g["received"].where(g["received"] > 0)).round(4)
    out["on_time_rate"] = (g["due_on_time"] / g["due"].where(g["due"] > 0)).round(4)
    out["avg_handling_days"] = (g["days"] / g["closed"].where(g["closed"] > 0)).round(2)
    out["overdue"] = g["overdue"].astype(int)
    out["satisfaction_rate"] = (g["happy"] / g["rated"].where(g["rated"] > 0)).round(4)
    out.index.name = by or "scope"
    return out.reset_index()


# -- Open311 GeoReport v2 ---------------------------------------------------------------------

_TZ = "+08:00"


def _iso_col(values: pd.Series) -> pd.Series:
    """ISO 8601 times in China Standard Time, ``None`` where missing (vectorised)."""
    ts = pd.to_datetime(values)
    return (ts.dt.strftime("%Y-%m-%dT%H:%M:%S") + _TZ).astype(object).where(ts.notna(), None)


def to_open311(store: TicketStore, *, principal: Principal) -> list[dict[str, Any]]:
    """Every ticket the ``principal`` may see (:meth:`TicketStore.frame`: its scope, text and
    notes hidden by role) as an Open311 GeoReport v2 service request (times in China Standard
    Time, ``status`` open/closed, our status and latest note in ``status_notes``)."""
    # a scoped frame keeps its row labels: number them afresh
    df = store.frame(principal=principal).reset_index(drop=True)
    last = store.last_events(principal=principal).set_index("ticket_id").reindex(df["id"])
    note = last["note"].fillna("").astype(str).to_numpy()
    names = {code: name for code, (name, _) in store.catalogue.items()}
    out = pd.DataFrame({
        "service_request_id": df["id"],
        "status": np.where(rules.open_mask(df["status"]), "open", "closed"),
        "status_notes": df["status"].astype(str) + np.where(note != "", ": " + note, ""),
        "service_name": df["category"].map(names).fillna(df["category"]),
        "service_code": df["category"],
        "description": df["text"],
        "agency_responsible": df["handler"],
        "service_notice": None,
        "requested_datetime": _iso_col(df["created_at"]),
        "updated_datetime": _iso_col(last["at"].fillna(df.set_index("id")["created_at"])
                                     .reset_index(drop=True)),
        "expected_datetime": _iso_col(df["deadline"]),
        "address": df["grid_code"],
        "address_id": df["building_code"],
        "zipcode": None,
        "lat": df["lat"],
        "long": df["lon"],
        "media_url": None,
    })
    return out.astype(object).where(out.notna(), None).to_dict(orient="records")


def from_open311(store: TicketStore, requests: list[Mapping[str, Any]], crs: str = "wgs84",
                 *, principal: Principal) -> list[str]:
    """Receive Open311 service requests as new tickets (one transaction), filed by
    ``principal`` (:meth:`TicketStore.add_many`: ``tickets_file``, every point in its scope).
    ``crs`` names the coordinates' datum (``gcj02`` for web-map exports)."""
    rows = []
    for i, r in enumerate(requests, start=1):
        for field in ("service_code", "lat", "long"):
            if r.get(field) in (None, ""):
                raise TicketError(f"request {i}: field {field!r} is missing")
        rows.append({"category": r["service_code"], "lon": float(r["long"]),
                     "lat": float(r["lat"]), "text": r.get("description") or "",
                     "reporter": "hotline_12345",
                     "created_at": _local(r.get("requested_datetime"))})
    return _add_converted(store, pd.DataFrame(rows), crs, principal)


def _local(value: Any) -> pd.Timestamp | None:
    """An ISO time as naive China Standard Time (how the store keeps times)."""
    if value in (None, ""):
        return None
    ts = pd.Timestamp(value)
    return ts.tz_convert("Asia/Shanghai").tz_localize(None) if ts.tzinfo else ts


def _add_converted(store: TicketStore, df: pd.DataFrame, crs: str,
                   principal: Principal) -> list[str]:
    if df.empty:
        return []
    if crs.lower() not in ("wgs84", "epsg:4326"):
        lon, lat = lcrs.convert_coords(df["lon"].to_numpy(float), df["lat"].to_numpy(float),
                                       crs, "wgs84")
        df = df.assign(lon=lon, lat=lat)
    return store.add_many(df.to_dict(orient="records"), principal=principal)


#: Common headers of hotline (12345) exports → our fields.
HOTLINE_HEADERS = {
    "诉求内容": "text", "内容": "text", "描述": "text", "description": "text",
    "类别": "category", "诉求类别": "category", "category": "category",
    "经度": "lon", "lng": "lon", "lon": "lon", "longitude": "lon",
    "纬度": "lat", "lat": "lat", "latitude": "lat",
    "受理时间": "created_at", "来电时间": "created_at", "created_at": "created_at",
}


def import_hotline_csv(store: TicketStore, path: str | Path, *, principal: Principal,
                       crs: str = "gcj02", encoding: str = "utf-8-sig") -> list[str]:
    """Receive tickets from a hotline CSV export (coordinates GCJ-02 by default, as web maps
    give them; Chinese or English headers; categories by code or Chinese name), filed by
    ``principal`` as :func:`from_open311`."""
    df = pd.read_csv(path, encoding=encoding, dtype=str)
    df = df.rename(columns={c: HOTLINE_HEADERS[c] for c in df.columns if c in HOTLINE_HEADERS})
    missing = [c for c in ("text", "category", "lon", "lat") if c not in df]
    if missing:
        raise TicketError(f"{path}: missing column(s) {', '.join(missing)} "
                          f"(known headers: {', '.join(HOTLINE_HEADERS)})")
    by_name = {name: code for code, (name, _) in store.catalogue.items()}
    df["category"] = df["category"].map(lambda c: by_name.get(c, c))
    bad = pd.to_numeric(df["lon"], errors="coerce").isna() | pd.to_numeric(
        df["lat"], errors="coerce").isna()
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise TicketError(f"{path}: row {i + 2}: longitude/latitude are not numbers")
    df["reporter"] = "hotline_12345"
    keep = [c for c in ("text", "category", "lon", "lat", "created_at", "reporter") if c in df]
    return _add_converted(store, df[keep], crs, principal)


# -- the monthly joint meeting (大党委联席会议) ---------------------------------------------------


def joint_meeting_excel(store: TicketStore, community_names: Mapping[str, str] | None = None,
                        now: dt.datetime | None = None, *, principal: Principal) -> bytes:
    """Escalated (to the street's joint meeting or a department) and overdue open tickets, by
    community, as an Excel workbook: a summary sheet and one list — of the tickets the
    ``principal`` may see (:meth:`TicketStore.frame`). Ticket text and names are written as
    text (:func:`layers.export.write_excel`): none can start a formula."""
    now_ts = pd.Timestamp(now or clock.now())
    df = store.frame(now=now_ts.to_pydatetime(), principal=principal).reset_index(drop=True)
    open_ = pd.Series(rules.open_mask(df["status"]), index=df.index)
    overdue = df["overdue"]
    escalated = open_ & df["handler"].fillna("").str.startswith(("joint_meeting", "department"))
    pick = df[overdue | escalated].copy()
    names = dict(community_names or {})
    pick["社区"] = pick["community_code"].map(lambda c: names.get(c, c))
    pick["问题"] = np.where(overdue[pick.index] & escalated[pick.index], "上报且超期",
                          np.where(escalated[pick.index], "已上报", "超期"))
    pick["类别"] = pick["category"].map(lambda c: DEFAULT_CATALOGUE.get(c, (c, 0))[0])
    pick["超期天数"] = ((now_ts - pick["deadline"]).dt.total_seconds() / 86400).clip(
        lower=0).round(1)
    listing = pick[["社区", "id", "类别", "status", "handler", "created_at", "deadline",
                    "超期天数", "问题", "text"]].rename(columns={
                        "id": "工单号", "status": "状态", "handler": "承办", "created_at": "受理时间",
                        "deadline": "办理时限", "text": "内容"}).sort_values(["社区", "受理时间"])
    summary = pick.groupby("社区").agg(工单数=("id", "size"),
                                     超期=("问题", lambda s: int(s.str.contains("超期").sum())),
                                     已上报=("问题", lambda s: int(s.str.contains("上报").sum())))
    return write_excel({"按社区汇总": summary.reset_index(), "超期与上报工单": listing})


def write_open311(store: TicketStore, out: str | Path, *, principal: Principal) -> int:
    """Write :func:`to_open311` of ``principal`` to the JSON file ``out``; return how many
    requests it holds."""
    data = to_open311(store, principal=principal)
    Path(out).write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    return len(data)
