"""Ticket KPIs (against brute force), Open311 round trip, hotline CSV in GCJ-02, the
joint-meeting workbook."""

from __future__ import annotations

import datetime as dt
import io
import json

import numpy as np
import pandas as pd
import pytest
import shapely
from conftest import copy_store

from layers import crs as lcrs
from layers.auth import Principal
from layers.tickets import TicketError, TicketStore
from layers.tickets import reports as tr

pytestmark = pytest.mark.backends
#: The CLI's operator: whole area, full data (what tests that are not about
#: authorisation act as).
OP = Principal.operator()


@pytest.fixture
def ts(store_copy) -> TicketStore:
    return TicketStore.for_store(store_copy)


def _brute_kpis(df: pd.DataFrame, t0: pd.Timestamp, t1: pd.Timestamp) -> dict:
    recv = clos = recv_closed = due = due_ok = overdue = rated = happy = 0
    days = 0.0
    for r in df.itertuples(index=False):
        closed = r.status in ("closed", "closed_unresolved")
        if t0 <= r.created_at < t1:
            recv += 1
            if closed and r.closed_at < t1:
                recv_closed += 1
        if closed and t0 <= r.closed_at < t1:
            clos += 1
            days += (r.closed_at - r.created_at).total_seconds() / 86400
            if r.satisfaction is not None and not pd.isna(r.satisfaction):
                rated += 1
                happy += r.satisfaction in ("satisfied", "basically_satisfied")
        if t0 <= r.deadline < t1:
            due += 1
            due_ok += closed and r.closed_at <= r.deadline
        if r.created_at < t1 and not (closed and r.closed_at < t1) and r.deadline < t1:
            overdue += 1
    return {"received": recv, "closed": clos,
            "closure_rate": round(recv_closed / recv, 4) if recv else None,
            "on_time_rate": round(due_ok / due, 4) if due else None,
            "avg_handling_days": round(days / clos, 2) if clos else None,
            "overdue": overdue,
            "satisfaction_rate": round(happy / rated, 4) if rated else None}


def test_kpis_match_brute_force(ts):
    df = ts.frame(principal=OP)
    rng = np.random.default_rng(1)
    closed = df.index[df.status.isin(["closed", "closed_unresolved"])]
    df.loc[rng.choice(closed, 300, replace=False), "satisfaction"] = rng.choice(
        ["satisfied", "basically_satisfied", "dissatisfied"], 300)
    t0, t1 = pd.Timestamp("2026-08-01"), pd.Timestamp("2026-11-01")
    got = tr.ticket_kpis(df, t0, t1, by="community_code").set_index("community_code")
    for code, part in df.groupby("community_code"):
        exp = _brute_kpis(part, t0, t1)
        row = got.loc[code]
        for k, v in exp.items():
            if v is None:
                assert pd.isna(row[k]), (code, k)
            else:
                assert row[k] == pytest.approx(v), (code, k)
    total = _brute_kpis(df, t0, t1)
    assert got.loc["total", "received"] == total["received"]
    assert got.loc["total", "overdue"] == total["overdue"]
    town = tr.ticket_kpis(df, t0, t1, by=None).iloc[0]
    assert town["closure_rate"] == pytest.approx(total["closure_rate"])
    assert town["satisfaction_rate"] == pytest.approx(total["satisfaction_rate"])


def test_open311_round_trip(ts, tmp_path, demo_file):
    reqs = tr.to_open311(ts, principal=OP)
    assert len(reqs) == len(ts.frame(principal=OP))
    r0 = reqs[0]
    for key in ("service_request_id", "status", "service_code", "description", "lat", "long",
                "requested_datetime", "expected_datetime"):
        assert key in r0
    assert r0["requested_datetime"].endswith("+08:00")
    assert {r["status"] for r in reqs} == {"open", "closed"}
    # into a fresh store: same categories, places and texts, received anew
    other = tmp_path / "other.gpkg"
    copy_store(demo_file, other)
    fresh = TicketStore(tmp_path / "fresh.sqlite", ts.locator)
    ids = tr.from_open311(fresh, json.loads(json.dumps(reqs[:40], ensure_ascii=False)),
                          principal=OP)
    got = fresh.frame(principal=OP).set_index("id").loc[ids]
    src = ts.frame(principal=OP).set_index("id").loc[[r["service_request_id"] for r in reqs[:40]]]
    assert got["category"].tolist() == src["category"].tolist()
    assert got["text"].tolist() == src["text"].tolist()
    assert np.allclose(got["lon"], src["lon"]) and np.allclose(got["lat"], src["lat"])
    assert got["grid_code"].tolist() == src["grid_code"].tolist()
    assert (got["created_at"] == src["created_at"]).all()
    with pytest.raises(TicketError, match="'lat' is missing"):
        tr.from_open311(fresh, [{"service_code": "dispute", "long": 106.28}], principal=OP)


def test_hotline_csv_in_gcj02_lands_in_the_right_grid(ts, demo, tmp_path):
    pts = shapely.point_on_surface(demo.grids.geometry.to_numpy()[:5])
    glon, glat = lcrs.wgs84_to_gcj02(shapely.get_x(pts), shapely.get_y(pts))
    csv = tmp_path / "hotline.csv"
    pd.DataFrame({"受理时间": ["2026-11-01 09:00"] * 5, "类别": ["环境卫生"] * 5,
                  "诉求内容": [f"反映{i}" for i in range(5)], "经度": glon, "纬度": glat}
                 ).to_csv(csv, index=False, encoding="utf-8-sig")
    ids = tr.import_hotline_csv(ts, csv, crs="gcj02", principal=OP)
    got = ts.frame(principal=OP).set_index("id").loc[ids]
    assert got["grid_code"].tolist() == demo.grids.code.iloc[:5].tolist()
    assert (got["category"] == "sanitation").all() and (got["reporter"] == "hotline_12345").all()
    np.testing.assert_allclose(got["lon"], shapely.get_x(pts), atol=1e-6)
    # read as WGS-84 they would be ~500 m off: refuse or misplace, never silently right
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"类别": ["环境卫生"], "诉求内容": ["x"], "经度": ["abc"], "纬度": [29.6]}).to_csv(
        bad, index=False)
    with pytest.raises(TicketError, match="row 2"):
        tr.import_hotline_csv(ts, bad, principal=OP)


def test_joint_meeting_workbook(ts):
    df = ts.frame(principal=OP)
    open_ids = df[~df.status.isin(["closed", "closed_unresolved"])].id.tolist()
    t = ts.get(open_ids[0], principal=OP)
    nxt = [s for s in t["allowed"] if s not in ("closed_unresolved",)][0]
    ts.move(open_ids[0], nxt, handler="joint_meeting", principal=Principal.operator("书记"))
    now = dt.datetime(2026, 11, 21)
    wb = pd.read_excel(io.BytesIO(tr.joint_meeting_excel(ts, now=now, principal=OP)),
                       sheet_name=None)
    listing = wb["超期与上报工单"]
    exp_overdue = int(((~df.status.isin(["closed", "closed_unresolved"]))
                       & (df.deadline < pd.Timestamp(now))).sum())
    assert int(listing["问题"].str.contains("超期").sum()) == exp_overdue
    assert open_ids[0] in set(listing["工单号"])
    assert wb["按社区汇总"]["工单数"].sum() == len(listing)
