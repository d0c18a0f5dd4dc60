"""Row tracking: after row edits a layer is caught up from the rows that changed, and the result
is always what a whole read gives — whoever edited the file, however (register, plain SQLite,
a whole-layer rewrite, deletions)."""

from __future__ import annotations

import contextlib
import sqlite3

import numpy as np
import pandas as pd
import pytest
from conftest import copy_store

from dashboard import data as appdata
from layers import register as reg
from layers.auth import Principal
from layers.store import open_store


def _whole(store, name: str) -> pd.DataFrame:
    return store.read([name], relative_dates=False)[name]


def _caught_up(store, name, frame, marker):
    got = store.read_changed(name, frame, marker)
    assert got is not None
    pd.testing.assert_frame_equal(got[0], _whole(store, name), obj=name)
    return got


def test_a_whole_write_installs_tracking_and_the_token_follows_it(demo, demo_file, tmp_path):
    store = open_store(copy_store(demo_file, tmp_path / "s.gpkg"))
    first = store.row_marker("assignments")  # tracked from the whole write on
    assert first is not None and first.seq == 0 and first.rows == len(demo.assignments)
    token = store.layer_versions()["assignments"]
    data = store.read(["grids", "people"])
    reg.assign(store, person_id=str(data.people.person_id.iloc[3]), role="grid_sentinel",
               target=str(data.grids.code.iloc[7]), principal=Principal.operator("t"))
    marker = store.row_marker("assignments")
    assert marker is not None and marker.rows == marker.max_fid == len(_whole(store,
                                                                             "assignments"))
    assert store.layer_versions()["assignments"] != token
    # a plain SQLite client's update, which GDAL's stamp does not see, moves the token too
    token = store.layer_versions()["assignments"]
    with sqlite3.connect(store.path) as con:
        con.execute("UPDATE assignments SET active = 0 WHERE fid = 11")
    assert store.layer_versions()["assignments"] != token
    now, fids = store.rows_changed("assignments", marker)
    assert fids.tolist() == [11] and now.seq > marker.seq


@pytest.mark.parametrize("seed", [0, 1])
def test_catching_up_equals_a_whole_read_after_random_edits(demo_file, tmp_path, seed):
    rng = np.random.default_rng(seed)
    store = open_store(copy_store(demo_file, tmp_path / "s.gpkg"))
    data = store.read(["grids", "buildings", "people", "assignments"])
    grids, people = data.grids.code.tolist(), data.people.person_id.tolist()
    reg.edit_person(store, people[0], name="甲",
                    principal=Principal.operator("t"))  # tracking installed on both
    reg.assign(store, person_id=people[1], role="building_member",
               target=str(data.buildings.code.iloc[1]), principal=Principal.operator("t"))
    state = {n: (_whole(store, n), store.row_marker(n)) for n in ("assignments", "people")}

    def assign():
        reg.assign(store, person_id=str(rng.choice(people)), role="grid_sentinel",
                   target=str(rng.choice(grids)), principal=Principal.operator("t"))

    def end():
        rows = store.select_rows("assignments", {"role": "grid_sentinel"})
        row = rows[rows.until.isna()].iloc[int(rng.integers(20))]
        reg.unassign(store, person_id=row.person_id, target=row.target_code,
                     principal=Principal.operator("t"))

    def rename():
        reg.edit_person(store, str(rng.choice(people)), name=f"名{rng.integers(99)}",
                        principal=Principal.operator("t"))

    def move():
        reg.edit_person(store, str(rng.choice(people)), principal=Principal.operator("t"),
                        home_building_code=str(rng.choice(data.buildings.code)))

    def new_person():
        reg.add_person(store, name="新人", party_member=True, principal=Principal.operator("t"),
                       building=str(data.buildings.code.iloc[5]))

    def sql_update():
        with sqlite3.connect(store.path) as con:
            con.execute("UPDATE assignments SET active = 1 - active WHERE fid = ?",
                        (int(rng.integers(1, 100)),))

    edits = [assign, end, rename, move, new_person, sql_update]
    for step in range(12):
        with contextlib.suppress(reg.RegisterError, reg.EditConflict):  # refused: no change
            edits[step % len(edits)]()
        for name, (frame, marker) in state.items():
            state[name] = _caught_up(store, name, frame, marker)


def test_what_cannot_be_caught_up_is_read_whole(demo_file, tmp_path):
    store = open_store(copy_store(demo_file, tmp_path / "s.gpkg"))
    people = store.read(["people"]).people.person_id.tolist()
    reg.edit_person(store, people[0], name="甲", principal=Principal.operator("t"))
    frame, marker = _whole(store, "people"), store.row_marker("people")
    # a row deleted in the middle: positions no longer follow fid
    with sqlite3.connect(store.path) as con:
        con.execute("DELETE FROM people WHERE fid = 10")
    assert store.read_changed("people", frame, marker) is None
    # the last row deleted: caught up (truncated)
    reg.edit_person(store, people[1], name="乙", principal=Principal.operator("t"))
    store2 = open_store(copy_store(demo_file, tmp_path / "t.gpkg"))
    reg.edit_person(store2, people[0], name="甲", principal=Principal.operator("t"))
    frame, marker = _whole(store2, "people"), store2.row_marker("people")
    with sqlite3.connect(store2.path) as con:
        con.execute("DELETE FROM people WHERE fid = (SELECT max(fid) FROM people)")
    _caught_up(store2, "people", frame, marker)
    # the layer rewritten whole (its triggers go with the old table): read whole
    frame, marker = _whole(store2, "people"), store2.row_marker("people")
    store2.update({"people": frame.iloc[:-1]})
    assert store2.row_marker("people").epoch != marker.epoch  # tracked anew
    assert store2.read_changed("people", frame, marker) is None
    # tracking made again by the next row edit: a new epoch, still read whole from before
    reg.edit_person(store2, people[2], name="丙", principal=Principal.operator("t"))
    assert store2.row_marker("people").epoch != marker.epoch
    assert store2.read_changed("people", frame, marker) is None


def test_the_app_catches_up_after_an_edit_elsewhere(demo_file, tmp_path, monkeypatch):
    from layers.store import GeoPackageStore

    path = str(copy_store(demo_file, tmp_path / "s.gpkg"))
    store = open_store(path)
    people = store.read(["people"]).people.person_id.tolist()
    reg.edit_person(store, people[0], name="甲",
                    principal=Principal.operator("t"))  # tracked from here on
    reg.assign(store, person_id=people[0], role="building_member",
               target=str(store.read(["buildings"]).buildings.code.iloc[0]), principal=Principal.operator("t"))
    for layer in ("people", "assignments"):
        appdata.load(path, 0)[layer]
    whole: list[str] = []
    real = GeoPackageStore.read_layer

    def counted(self, name, **kw):
        if kw.get("fids") is None:
            whole.append(name)
        return real(self, name, **kw)

    monkeypatch.setattr(GeoPackageStore, "read_layer", counted)
    reg.edit_person(store, people[4], name="丁", principal=Principal.operator("t"))
    reg.assign(store, person_id=people[4], role="grid_sentinel",
               target=str(store.read(["grids"]).grids.code.iloc[0]), principal=Principal.operator("t"))
    whole.clear()
    data = appdata.load(path, 1)
    got = {layer: data[layer] for layer in ("people", "assignments")}
    assert whole == []  # neither read whole: only their changed rows
    for layer, frame in got.items():
        pd.testing.assert_frame_equal(frame, open_store(path).read([layer])[layer], obj=layer)
    assert "丁" in set(data.people.name)
