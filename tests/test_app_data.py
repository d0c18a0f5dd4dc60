"""The app's store loading (issue 15): each layer read once per layer version; an edit
re-reads only what it changed, and the result is what a fresh read gives."""

from __future__ import annotations

import pandas as pd
from conftest import copy_store

from dashboard import data as appdata
from layers import register as reg
from layers.store import GeoPackageStore, open_store


def _same(a, b) -> None:
    assert a.meta == b.meta
    assert set(a._layers) == set(b._layers)
    for name in b._layers:
        pd.testing.assert_frame_equal(a[name], b[name], obj=name)


def test_an_edit_rereads_only_the_layers_it_changed(demo_file, tmp_path, monkeypatch):
    path = copy_store(demo_file, tmp_path / "s.gpkg")
    first = appdata.load(str(path), 0)
    _same(first, open_store(path).read())
    reads: list[list[str]] = []
    real = GeoPackageStore.read

    def counted(self, layers=None, **kw):
        reads.append(list(layers or []))
        return real(self, layers, **kw)

    monkeypatch.setattr(GeoPackageStore, "read", counted)
    again = appdata.load(str(path), 0)
    assert reads == []  # nothing changed: nothing read
    assert again["buildings"] is first["buildings"]
    reg.add_person(open_store(path), name="新居民", phone="13800000000", source="test",
                   building=str(first["buildings"]["code"].iloc[0]))
    after = appdata.load(str(path), 1)
    assert reads == [["people"]]  # the one layer the edit changed
    assert after["buildings"] is first["buildings"]
    monkeypatch.setattr(GeoPackageStore, "read", real)
    _same(after, open_store(path).read())
    assert "新居民" in set(after["people"]["name"])
