"""Intake: where a point is filed (grid, community, nearest building — one rule, used by the
store and shown by the form before it submits) and the optional photo (type by content, size
limit, stored in the ticket database, fetched only by those who may see the ticket)."""

from __future__ import annotations

import os
import sqlite3
import struct
import zlib
from pathlib import Path

import pytest
import shapely
from conftest import is_pg, raw_query

from layers.auth import PermissionDenied, Principal
from layers.tickets import (
    INTAKE_BUILDING_MAX_M,
    PHOTO_MAX_BYTES,
    PhotoError,
    TicketStore,
    db_path_for,
    photo_type,
)

pytestmark = pytest.mark.backends
#: The CLI's operator: whole area, full data (what tests that are not about
#: authorisation act as).
OP = Principal.operator()


def png(w: int = 2, h: int = 2) -> bytes:
    """A real (tiny) PNG."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    raw = b"".join(b"\x00" + b"\xff\x00\x00" * w for _ in range(h))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 32
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 24


@pytest.fixture
def ts(store_copy):
    return TicketStore.for_store(store_copy)


def _building(demo, i: int = 7):
    return demo.buildings.iloc[i]


def _just_outside(b, metres: float = 3.0) -> shapely.Point:
    """A point about ``metres`` outside building ``b``'s outline, east of it."""
    minx, miny, maxx, maxy = b.geometry.bounds
    return shapely.Point(maxx + metres / 95_000, (miny + maxy) / 2)


def test_a_point_inside_a_building_is_filed_under_it(ts, demo):
    b = _building(demo)
    p = b.geometry.representative_point()
    got = ts.locator.place(p.x, p.y)
    grid = demo.grids.set_index("code").loc[b.grid_code]
    assert (got.grid_code, got.community_code) == (b.grid_code, grid.community_code)
    assert got.building.code == b.code and got.building.name == b["name"]
    assert got.building.distance_m == 0
    tid = ts.add("sanitation", p.x, p.y, "楼道堆物", principal=OP)  # no building given: the same rule
    assert ts.get(tid, principal=OP)["building_code"] == b.code


def test_a_point_beside_a_building_gets_the_nearest_of_its_grid_with_the_distance(ts, demo):
    b = _building(demo)
    p = _just_outside(b)
    got = ts.locator.place(p.x, p.y)
    assert got.grid_code == b.grid_code  # the demo's grids tile the town
    assert got.building is not None and got.building.grid_code == got.grid_code
    assert 0 < got.building.distance_m <= INTAKE_BUILDING_MAX_M
    # nothing in that grid is nearer than the building reported
    import geopandas as gpd

    same = demo.buildings[demo.buildings.grid_code == got.grid_code]
    metric = gpd.GeoSeries(same.geometry.to_numpy(), crs=4326).to_crs(4544)
    here = gpd.GeoSeries([p], crs=4326).to_crs(4544).iloc[0]
    assert got.building.distance_m == pytest.approx(metric.distance(here).min(), abs=0.2)
    assert ts.get(ts.add("sanitation", p.x, p.y, "x", principal=OP),
                  principal=OP)["building_code"] == got.building.code


def test_a_point_outside_every_grid_is_placed_nowhere(ts):
    got = ts.locator.place(0.5, 0.5)
    assert got.grid_code is None and got.community_code is None and got.building is None


def test_photo_type_is_read_from_the_content():
    assert photo_type(png()) == "image/png"
    assert photo_type(JPEG) == "image/jpeg"
    assert photo_type(WEBP) == "image/webp"
    assert photo_type(b"<svg xmlns='http://www.w3.org/2000/svg'/>") is None
    assert photo_type(b"GIF89a....") is None


def test_a_photo_is_stored_with_the_ticket_in_the_database(ts, demo, store_copy):
    p = _building(demo).geometry.representative_point()
    tid = ts.add("sanitation", p.x, p.y, "墙面渗水", photo=png(), principal=OP)
    (ph,) = ts.photos(tid, principal=OP)
    assert (ph.ticket_id, ph.seq, ph.mime, ph.data) == (tid, 1, "image/png", png())
    rows = raw_query(store_copy if is_pg(store_copy) else db_path_for(store_copy),
                     "SELECT ticket_id, mime, size FROM ticket_attachments")
    assert rows == [(tid, "image/png", len(png()))]
    assert ts.attach(tid, JPEG, principal=OP) == 2
    assert [x.mime for x in ts.photos(tid, principal=OP)] == ["image/png", "image/jpeg"]
    folder = Path(os.environ.get("TMPDIR", "/tmp")) if is_pg(store_copy) else store_copy.parent
    assert list(folder.glob("*.png")) == []  # never a file on disk


@pytest.mark.parametrize(("data", "reason"), [
    (b"just text, named photo.jpg", "type"),
    (b"", "empty"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * PHOTO_MAX_BYTES, "too_large"),
], ids=["type", "empty", "too_large"])
def test_a_refused_photo_files_nothing(ts, demo, data, reason):
    p = _building(demo).geometry.representative_point()
    before = len(ts.frame(principal=OP))
    with pytest.raises(PhotoError) as err:
        ts.add("sanitation", p.x, p.y, "墙面渗水", photo=data, principal=OP)
    assert err.value.reason == reason
    assert len(ts.frame(principal=OP)) == before


def test_photos_follow_the_ticket_access_rules(ts, demo):
    b = _building(demo)
    p = b.geometry.representative_point()
    tid = ts.add("sanitation", p.x, p.y, "墙面渗水", photo=png(), principal=OP)
    other = next(g for g in demo.grids.code if g != b.grid_code)
    mine = Principal("哨兵甲", "sentinel", grids=frozenset({b.grid_code}))
    assert len(ts.photos(tid, principal=mine)) == 1
    with pytest.raises(PermissionDenied):
        ts.photos(tid, principal=Principal("哨兵乙", "sentinel", grids=frozenset({other})))
    with pytest.raises(PermissionDenied):  # reads KPIs, not ticket content
        ts.photos(tid, principal=Principal("领导", "leader"))
    with pytest.raises(PermissionDenied):
        ts.attach(tid, JPEG, principal=Principal("哨兵乙", "sentinel",
                                                 grids=frozenset({other})))
    assert len(ts.photos(tid, principal=OP)) == 1


def test_a_database_from_before_photos_reads_none_and_takes_one(ts, demo, store_copy):
    p = _building(demo).geometry.representative_point()
    tid = ts.add("sanitation", p.x, p.y, "旧库", principal=OP)
    ts.close()
    if is_pg(store_copy):
        raw_query(store_copy, "DROP TABLE ticket_attachments")
    else:
        with sqlite3.connect(db_path_for(store_copy)) as con:
            con.execute("DROP TABLE ticket_attachments")
    old = TicketStore.for_store(store_copy)
    assert old.photos(tid, principal=OP) == []
    assert old.attach(tid, png(), principal=OP) == 1
    assert len(old.photos(tid, principal=OP)) == 1


@pytest.mark.parametrize("spread", [slice(40, 46), slice(0, None, 150)])
def test_a_batch_files_each_row_under_the_building_place_finds(ts, demo, spread):
    """Rows close together (one read of the store) and far apart (one read each) are filed
    by the same rule as a single ticket."""
    rows = demo.buildings.iloc[spread]
    pts = [_just_outside(b, 4.0) for _, b in rows.iterrows()]
    ids = ts.add_many([{"category": "sanitation", "lon": p.x, "lat": p.y, "text": "批量"}
                       for p in pts], principal=OP)
    want = [ts.locator.place(p.x, p.y).building for p in pts]
    got = [ts.get(i, principal=OP)["building_code"] for i in ids]
    assert got == [None if w is None else w.code for w in want]
    assert sum(g is not None for g in got) >= len(got) // 2
