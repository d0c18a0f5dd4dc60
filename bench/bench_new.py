"""Benchmark: ``python -m layers new`` on the shared OSM extract and on a generated extract of
~200,000 buildings (issue 12; target ≤ 60 s).

Usage::

    python bench/bench_new.py [--buildings 200000] [--keep DIR]

The synthetic extract (:func:`write_synthetic_osm`) is OSM XML as an export would write it: a
lattice of streets (``highway=residential``, every fifth ``secondary``), blocks of rectangular
buildings (``building=residential``/``apartments``/``yes``/``school``, some with
``building:levels``), a ``landuse=residential`` area over the western half (so ``yes``
buildings there count as homes), a few kindergartens, nursing homes and car parks (public,
private, underground without capacity, paid: :data:`PARKING_TAGS`), and
``admin_level=10`` closed ways cutting the area into communities. Each run is a fresh
``python -m layers new`` process, timed from outside (start-up and imports included).
"""

from __future__ import annotations

import argparse
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SHARED_OSM = ROOT.parent / "shared" / "osm" / "shenzhen_longgang_map.osm.bz2"

#: Origin of the synthetic extract (south-west corner, lon/lat) and metres per degree there.
ORIGIN = (114.10, 22.60)
M_PER_DEG_LAT = 110_574.0
M_PER_DEG_LON = 111_320.0 * np.cos(np.radians(ORIGIN[1]))
#: Buildings per block side, building footprint and spacing (metres), street width.
PER_SIDE = 8
FOOT_W, FOOT_H, PITCH = 18.0, 12.0, 25.0
STREET_M = 30.0
KINDS = np.array(["residential", "apartments", "yes", "school"])
#: Car parks cycle through these tags: a public lot with a capacity, one without (area
#: estimate), a private one, an underground one without capacity, a paid one.
PARKING_TAGS: tuple[dict[str, str], ...] = (
    {"capacity": "40"}, {}, {"access": "private", "capacity": "30"},
    {"parking": "underground"}, {"fee": "yes", "capacity": "20"})
PARKING_TAGS_CYCLE = len(PARKING_TAGS)


def _lonlat(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return ORIGIN[0] + x / M_PER_DEG_LON, ORIGIN[1] + y / M_PER_DEG_LAT


def _node_lines(ids: np.ndarray, x: np.ndarray, y: np.ndarray) -> list[str]:
    lon, lat = _lonlat(x, y)
    return [f'  <node id="{i}" version="1" lat="{b:.7f}" lon="{a:.7f}"/>\n'
            for i, a, b in zip(ids.tolist(), lon.tolist(), lat.tolist(), strict=True)]


def _way(wid: int, refs: list[int], tags: dict[str, str]) -> str:
    nds = "".join(f'<nd ref="{r}"/>' for r in refs)
    tg = "".join(f'<tag k="{k}" v="{v}"/>' for k, v in tags.items())
    return f'  <way id="{wid}" version="1">{nds}{tg}</way>\n'


class _Ids:
    """Running node and way ids of the extract being written."""

    def __init__(self) -> None:
        self.node, self.way = 1, 1

    def nodes(self, n: int) -> np.ndarray:
        ids = np.arange(self.node, self.node + n)
        self.node += n
        return ids

    def next_way(self) -> int:
        self.way += 1
        return self.way - 1


def _closed(ids: _Ids, xs: np.ndarray, ys: np.ndarray, tags: dict[str, str]) -> list[str]:
    """A closed way (an area) with its own nodes."""
    nodes = ids.nodes(len(xs))
    return [*_node_lines(nodes, xs, ys),
            _way(ids.next_way(), [*nodes.tolist(), int(nodes[0])], tags)]


def _streets(ids: _Ids, k: int, block_m: float) -> list[str]:
    """A lattice of ``k`` × ``k`` streets sharing their crossing nodes."""
    gx, gy = np.meshgrid(np.arange(k) * block_m, np.arange(k) * block_m)
    cross = ids.nodes(k * k).reshape(k, k)
    out = _node_lines(cross.ravel(), gx.ravel(), gy.ravel())
    for r in range(k):
        kind = "secondary" if r % 5 == 0 else "residential"
        out.append(_way(ids.next_way(), cross[r, :].tolist(), {"highway": kind,
                                                               "name": f"横{r}路"}))
        out.append(_way(ids.next_way(), cross[:, r].tolist(), {"highway": kind,
                                                               "name": f"纵{r}街"}))
    return out


def _buildings(ids: _Ids, rng: np.random.Generator, n: int, blocks_side: int,
               block_m: float) -> list[str]:
    """``n`` rectangles in blocks of ``PER_SIDE`` × ``PER_SIDE``, random kinds and levels."""
    per_block = PER_SIDE * PER_SIDE
    bi, bj = np.divmod(np.arange(blocks_side * blocks_side), blocks_side)
    slot = np.arange(per_block)
    bx = (bj[:, None] * block_m + STREET_M / 2 + (slot % PER_SIDE) * PITCH).ravel()[:n]
    by = (bi[:, None] * block_m + STREET_M / 2 + (slot // PER_SIDE) * PITCH).ravel()[:n]
    corners = ids.nodes(4 * n).reshape(n, 4)
    out = _node_lines(corners.ravel(), np.c_[bx, bx + FOOT_W, bx + FOOT_W, bx].ravel(),
                      np.c_[by, by, by + FOOT_H, by + FOOT_H].ravel())
    kind = KINDS[rng.choice(4, n, p=[0.35, 0.3, 0.3, 0.05])]
    levels = rng.integers(2, 33, n)
    tagged = rng.random(n) < 0.4
    for i in range(n):
        c = corners[i].tolist()
        tags = {"building": str(kind[i])}
        if tagged[i]:
            tags["building:levels"] = str(levels[i])
        out.append(_way(ids.next_way(), [*c, c[0]], tags))
    return out


def _facilities(ids: _Ids, rng: np.random.Generator, n: int, size: float, k: int,
                block_m: float) -> list[str]:
    """Kindergartens and nursing homes (points), car parks (areas at street corners)."""
    n_poi = max(4, n // 2000)
    nodes = ids.nodes(n_poi)
    lon, lat = _lonlat(rng.uniform(0, size, n_poi), rng.uniform(0, size, n_poi))
    out = []
    for i, (a, b) in enumerate(zip(lon.tolist(), lat.tolist(), strict=True)):
        amenity = "kindergarten" if i % 2 == 0 else "nursing_home"
        out.append(f'  <node id="{nodes[i]}" version="1" lat="{b:.7f}" lon="{a:.7f}">'
                   f'<tag k="amenity" v="{amenity}"/><tag k="name" v="服务点{i}"/></node>\n')
    for i in range(max(PARKING_TAGS_CYCLE, n // 5000)):
        r, c = rng.integers(0, k - 1, 2)
        x0, y0 = c * block_m + 2, r * block_m + 2
        out += _closed(ids, np.array([x0, x0 + 12, x0 + 12, x0]),
                       np.array([y0, y0, y0 + 12, y0 + 12]),
                       {"amenity": "parking", "name": f"停车场{i}"}
                       | PARKING_TAGS[i % PARKING_TAGS_CYCLE])
    return out


def _areas(ids: _Ids, size: float, per_side: int) -> list[str]:
    """``landuse=residential`` over the western half; ``admin_level=10`` communities."""
    half = size / 2
    out = _closed(ids, np.array([0, half, half, 0]), np.array([0, 0, size, size]),
                  {"landuse": "residential"})
    step = size / per_side
    for r in range(per_side):
        for c in range(per_side):
            out += _closed(ids, np.array([c, c + 1, c + 1, c]) * step,
                           np.array([r, r, r + 1, r + 1]) * step,
                           {"boundary": "administrative", "admin_level": "10",
                            "name": f"合成{r * per_side + c + 1}社区"})
    return out


def write_synthetic_osm(path: Path, n_buildings: int = 200_000, seed: int = 0,
                        communities_per_side: int = 4) -> dict[str, int]:
    """Write an OSM XML extract of about ``n_buildings`` buildings; returns counts by kind."""
    rng = np.random.default_rng(seed)
    blocks_side = int(np.ceil(np.sqrt(n_buildings / (PER_SIDE * PER_SIDE))))
    block_m = PER_SIDE * PITCH + STREET_M
    size = blocks_side * block_m
    k = blocks_side + 1
    lon1, lat1 = _lonlat(np.array([size]), np.array([size]))
    ids = _Ids()
    out = ['<?xml version="1.0" encoding="UTF-8"?>\n',
           '<osm version="0.6" generator="bench_new.py">\n',
           f'  <bounds minlat="{ORIGIN[1]}" minlon="{ORIGIN[0]}" maxlat="{lat1[0]:.7f}" '
           f'maxlon="{lon1[0]:.7f}"/>\n']
    out += _streets(ids, k, block_m)
    out += _buildings(ids, rng, n_buildings, blocks_side, block_m)
    out += _facilities(ids, rng, n_buildings, size, k, block_m)
    out += _areas(ids, size, communities_per_side)
    out.append("</osm>\n")
    path.write_text("".join(out), encoding="utf-8")
    return {"buildings": n_buildings, "streets": 2 * k,
            "communities": communities_per_side ** 2}


def _run_new(store: Path, osm: Path, *extra: str) -> tuple[float, float]:
    """Run ``new`` in a fresh process; print its summary and step times; wall seconds and the
    child's peak RSS (GB)."""
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "layers", "new", str(store), "--osm", str(osm),
                           *extra], cwd=ROOT, capture_output=True, text=True)
    took = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"new failed ({done.returncode}):\n{done.stderr}\n{done.stdout}")
    print(done.stdout.strip())
    steps = re.findall(r"^\[\s*([\d.]+) s\] (.*)$", done.stderr, flags=re.M)
    print("steps started at:", "; ".join(f"{what} {at} s" for at, what in steps),
          f"; done {took:.1f} s")
    return took, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--buildings", type=int, default=200_000)
    ap.add_argument("--keep", default=None, help="write the extract and stores here")
    args = ap.parse_args()
    tmp = Path(args.keep or tempfile.mkdtemp())
    tmp.mkdir(parents=True, exist_ok=True)
    for f in tmp.glob("*.gpkg"):
        f.unlink()
    for f in tmp.glob("*.tickets.sqlite*"):
        f.unlink()
    print(f"== shared extract: {SHARED_OSM.name}")
    small, _ = _run_new(tmp / "longgang.gpkg", SHARED_OSM)
    print("\n== shared extract with --fictional-people")
    fict, _ = _run_new(tmp / "longgang_f.gpkg", SHARED_OSM, "--fictional-people")
    osm = tmp / "synthetic.osm"
    t0 = time.perf_counter()
    counts = write_synthetic_osm(osm, args.buildings)
    print(f"\n== synthetic extract: {counts} written in {time.perf_counter() - t0:.1f} s "
          f"({osm.stat().st_size / 1e6:.0f} MB)")
    big, rss = _run_new(tmp / "synthetic.gpkg", osm)
    size = (tmp / "synthetic.gpkg").stat().st_size / 1e6
    print(f"\nnew, shared extract: {small:.1f} s; with --fictional-people: {fict:.1f} s")
    print(f"new, {counts['buildings']:,} buildings: {big:.1f} s (target ≤ 60 s), peak RSS "
          f"{rss:.2f} GB, store {size:.0f} MB")


if __name__ == "__main__":
    main()
