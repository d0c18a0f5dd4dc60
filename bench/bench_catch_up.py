"""Benchmark: a layer caught up from its changed rows vs read whole, after one row edit (issue 15).

Usage::

    python bench/bench_catch_up.py                 # city: a private copy of bench/out/city.gpkg
    python bench/bench_catch_up.py --store PATH    # any store (copied)

On a private copy of the store it makes one row edit per layer to install the row tracking,
reads the layer whole (``Store.read``, what the app did after every edit), then, ``--repeat``
times, one more edit (a sentinel assigned, a person renamed) followed by both, side by side:
``read_changed`` (only the changed rows, integrity-checked) and the whole read — and checks the
two frames are equal. The snapshot is not involved: both read the store file.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("WANGGE_NOW", "2026-11-20T12:00:00")


def _timed(fn):  # noqa: ANN001, ANN202 - a tiny helper
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def run(path: Path, repeat: int) -> None:
    import pandas as pd

    from layers import register as reg
    from layers.auth import Principal
    from layers.store import open_store

    store = open_store(path)
    op = Principal.operator("bench")
    grids = store.select_rows("grids", columns=["code"])["code"].tolist()[-repeat - 2:]
    people = store.select_rows("people", {"is_party_member": True},
                               columns=["person_id"])["person_id"].tolist()[:repeat + 2]
    edits = {
        "assignments": lambda i: reg.assign(store, person_id=people[i], role="grid_sentinel",
                                            target=grids[i], principal=op),
        "people": lambda i: reg.edit_person(store, people[i], name=f"测试{i}", principal=op),
    }
    print(f"{'layer':12} {'rows':>10} {'caught up s':>12} {'read whole s':>13}  equal")
    for name, edit in edits.items():
        edit(0)  # installs the tracking
        frame = store.read([name], relative_dates=False)[name]
        marker = store.row_marker(name)
        ups, wholes = [], []
        for i in range(1, repeat + 1):
            edit(i)
            got, up_s = _timed(lambda n=name, f=frame, m=marker: store.read_changed(n, f, m))
            whole, whole_s = _timed(lambda n=name: store.read([n], relative_dates=False)[n])
            assert got is not None, "not caught up"
            pd.testing.assert_frame_equal(got[0], whole)
            frame, marker = got
            ups.append(up_s)
            wholes.append(whole_s)
        print(f"{name:12} {len(frame):>10,} {statistics.median(ups):>12.3f} "
              f"{statistics.median(wholes):>13.3f}  yes ({repeat} edits; runs "
              f"{', '.join(f'{u:.3f}' for u in ups)} / {', '.join(f'{w:.2f}' for w in wholes)})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--store", type=Path, default=ROOT / "bench" / "out" / "city.gpkg")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="catch-up-") as tmp:
        copy = Path(tmp) / args.store.name
        shutil.copyfile(args.store, copy)
        run(copy, args.repeat)


if __name__ == "__main__":
    main()
