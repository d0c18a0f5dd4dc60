"""The app's store loading (issue 15): each layer read when first asked for and once per
layer version; an edit re-reads only what it changed, and the result is what a fresh read
gives."""

from __future__ import annotations

import time

import pandas as pd
from conftest import copy_store

from dashboard import data as appdata
from layers import register as reg
from layers.auth import Principal
from layers.store import GeoPackageStore, open_store

#: The CLI's operator: whole area, full data (what tests that are not about
#: authorisation act as).
OP = Principal.operator()


def _same(a, b) -> None:
    assert a.meta == b.meta
    assert list(a) == list(b)
    for name in b:
        pd.testing.assert_frame_equal(a[name], b[name], obj=name)


def _count_reads(monkeypatch) -> list[list[str]]:
    """The layers each read from the GeoPackage itself asks for, from now on: a whole read
    (``[layers]``), or a catch-up of some rows (``["people#rows"]``)."""
    reads: list[list[str]] = []
    real, real_layer = GeoPackageStore.read, GeoPackageStore.read_layer

    def counted(self, layers=None, **kw):
        reads.append(list(layers or []))
        return real(self, layers, **kw)

    def counted_rows(self, name, **kw):
        if kw.get("fids") is not None:
            reads.append([f"{name}#rows"])
        return real_layer(self, name, **kw)

    monkeypatch.setattr(GeoPackageStore, "read", counted)
    monkeypatch.setattr(GeoPackageStore, "read_layer", counted_rows)
    return reads


def test_an_edit_rereads_only_the_layers_it_changed(demo_file, tmp_path, monkeypatch):
    path = copy_store(demo_file, tmp_path / "s.gpkg")
    first = appdata.load(str(path), 0)
    _same(first, open_store(path).read())
    reads = _count_reads(monkeypatch)
    again = appdata.load(str(path), 0)
    _ = [again[n] for n in again]
    assert reads == []  # nothing changed: nothing read
    assert again["buildings"] is first["buildings"]
    reg.add_person(open_store(path), name="新居民", phone="13800000000", source="test",
                   building=str(first["buildings"]["code"].iloc[0]), principal=OP)
    after = appdata.load(str(path), 1)
    _ = [after[n] for n in after]
    assert reads == [["people#rows"]]  # the one layer the edit changed: its changed rows
    assert after["buildings"] is first["buildings"]
    monkeypatch.undo()
    _same(after, open_store(path).read())
    assert "新居民" in set(after["people"]["name"])


def test_layers_are_read_when_first_asked_for(demo_file, tmp_path, monkeypatch):
    path = copy_store(demo_file, tmp_path / "s.gpkg")
    reads = _count_reads(monkeypatch)
    data = appdata.load(str(path), 0)
    assert reads == [] and data.loaded == ()
    assert "buildings" in data and len(data) == len(open_store(path).layer_names())
    comms = data.communities
    assert reads == [["communities"]] and data.loaded == ("communities",)
    assert data.communities is comms  # read once
    assert data.replace(grids=data.grids.iloc[:0]).communities is comms


def test_warming_reads_every_layer_in_the_background(demo_file, tmp_path):
    path = copy_store(demo_file, tmp_path / "s.gpkg")
    data = appdata.load(str(path), 0)
    appdata.warm(data, indexes=("grids",), delay_s=0.2)
    appdata.warm(data, indexes=("grids",), delay_s=0)  # once per layer set
    assert data.loaded == ()  # not before the delay
    deadline = time.monotonic() + 60
    while len(data.loaded) < len(data) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert data.loaded == tuple(data)
    assert data.grids.has_sindex
    _same(data, open_store(path).read())


def _same_coverage(a, b) -> None:
    assert a.to_dict() == b.to_dict()
    for name in ("grids", "overloaded_sentinels", "overloaded_members", "buildings_outside_grid",
                 "suggestions", "summary"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name), obj=name)


def test_coverage_is_kept_beside_the_store_per_layer_versions(demo_file, tmp_path, monkeypatch):
    from layers import snapshot
    from layers.coverage import coverage
    from layers.settings import Settings

    path = str(copy_store(demo_file, tmp_path / "s.gpkg"))
    runs: list[int] = []
    real = appdata.layers_coverage

    def counted(data, settings, memo=None):
        runs.append(1)
        return real(data, settings, memo)

    monkeypatch.setattr(appdata, "layers_coverage", counted)
    first = appdata.coverage(path, appdata.load(path, 0))
    snapshot.wait()
    _same_coverage(first, coverage(open_store(path).read()))
    appdata._LAYERS.clear()  # a new server process: nothing in memory
    data = appdata.load(path, 0)
    again = appdata.coverage(path, data)
    assert len(runs) == 1 and data.loaded == ()  # read back; no layer needed for it
    _same_coverage(again, first)
    # a past day asked for: computed, not kept (today's stays)
    past = appdata.coverage(path, data, Settings(as_of="2026-01-05"))
    assert len(runs) == 2 and past.as_of.isoformat() == "2026-01-05"
    snapshot.wait()
    _same_coverage(appdata.coverage(path, data), first)
    assert len(runs) == 2
    # an assignment elsewhere: the grid's gap closes in the next coverage
    gap = first.grids_without_sentinel[0]
    person = str(data.people[data.people["is_party_member"]]["person_id"].iloc[0])
    reg.assign(open_store(path), person_id=person, role="grid_sentinel", target=gap,
               principal=Principal.operator("t"))
    snapshot.wait()
    after = appdata.coverage(path, appdata.load(path, 1))
    assert len(runs) == 3 and gap not in after.grids_without_sentinel
    _same_coverage(after, coverage(open_store(path).read()))
    # a scoped view (its layers replaced: no versions) is computed, never kept
    scoped = data.replace(grids=data.grids.iloc[:5])
    appdata.coverage(path, scoped)
    appdata.coverage(path, scoped)
    assert len(runs) == 5


def test_after_edits_the_kept_memo_gives_a_fresh_coverage(demo_file, tmp_path, monkeypatch):
    """The app keeps a coverage memo per store (primed in the background after a start):
    after edits by the register (assign, replace, end, a person moving house) each next
    coverage equals one computed from scratch on the store, and looks up only what changed."""
    import layers._keys as keys
    from layers.coverage import coverage

    path = str(copy_store(demo_file, tmp_path / "s.gpkg"))
    data = appdata.load(path, 0)
    first = appdata.coverage(path, data)  # from scratch: fills the memo
    looked_up: list[int] = []
    real = keys.index_in
    monkeypatch.setattr(keys, "index_in", lambda v, k: looked_up.append(len(v)) or real(v, k))
    store = open_store(path)
    gap = first.grids_without_sentinel[0]
    pick = first.suggestions[first.suggestions.grid_code == gap].person_id.iloc[0]
    member = str(data.assignments.query("role == 'building_member'").iloc[0].person_id)
    building = str(data.assignments.query("role == 'building_member'").iloc[0].target_code)
    home = str(data.buildings.code.iloc[-1])
    edits = [
        lambda: reg.assign(store, person_id=pick, role="grid_sentinel", target=gap,
                           principal=Principal.operator("t")),
        lambda: reg.unassign(store, person_id=member, target=building,
                             principal=Principal.operator("t")),
        lambda: reg.edit_person(store, pick, home_building_code=home,
                                principal=Principal.operator("t")),
    ]
    for version, edit in enumerate(edits, start=1):
        edit()
        looked_up.clear()
        got = appdata.coverage(path, appdata.load(path, version))
        if version < 3:  # the assignments changed: a new row, or one row's dates
            assert sum(looked_up) <= 2, looked_up
        _same_coverage(got, coverage(open_store(path).read()))
    assert gap not in got.grids_without_sentinel


def test_priming_fills_the_memo_and_writes_nothing(demo_file, tmp_path):
    path = str(copy_store(demo_file, tmp_path / "s.gpkg"))
    before = sorted(p.name for p in tmp_path.rglob("*"))
    mtime = (tmp_path / "s.gpkg").stat().st_mtime_ns
    data = appdata.load(path, 0)
    appdata._prime(path, data)
    assert appdata._memo(path).primed
    assert sorted(p.name for p in tmp_path.rglob("*") if "snapshot" not in str(p)) == [
        n for n in before if "snapshot" not in n]
    assert (tmp_path / "s.gpkg").stat().st_mtime_ns == mtime
