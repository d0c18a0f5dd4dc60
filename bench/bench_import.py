"""Benchmark: importing 1M points from CSV and 100k polygons from a shapefile (issue 7).

Usage::

    python bench/bench_import.py

Each import goes the whole way: read, map Chinese headers, convert coordinates (GCJ-02 for the
CSV, CGCS2000 Gauss-Krüger EPSG:4544 for the shapefile), validate, and write the store
atomically (into a copy of the demo town: care points from the CSV, parking polygons from the
shapefile). Targets: ≤ 20 s each.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    from dataclasses import replace

    import geopandas as gpd
    import pyogrio
    import shapely

    from layers import crs as lcrs
    from layers.auth import Principal
    from layers.importer import import_file
    from layers.settings import DEFAULT_SETTINGS
    from layers.store import open_store

    big = replace(DEFAULT_SETTINGS, max_import_rows=2_000_000)

    tmp = Path(tempfile.mkdtemp())
    store = tmp / "town.gpkg"
    shutil.copyfile(ROOT / "geodata" / "demo_town.gpkg", store)
    rng = np.random.default_rng(0)
    n = 1_000_000
    lon = 106.20 + rng.random(n) * 0.15
    lat = 29.54 + rng.random(n) * 0.12
    glon, glat = lcrs.wgs84_to_gcj02(lon, lat)
    csv = tmp / "points.csv"
    pd.DataFrame({"编码": [f"C{i:07d}" for i in range(n)], "名称": "养老服务站",
                  "类型": "elder_station", "容量": rng.integers(10, 60, n),
                  "经度": np.round(glon, 6), "纬度": np.round(glat, 6)}).to_csv(csv, index=False)
    t0 = time.perf_counter()
    op = Principal.operator("bench")
    r = import_file(open_store(store), csv, "care_points", crs="gcj02", principal=op,
                    settings=big)  # 1M rows: above the default per-file limit
    print(f"CSV, {n:,} points (GCJ-02 → WGS-84): {time.perf_counter() - t0:.1f} s "
          f"({r.rows:,} rows stored; target ≤ 20 s)")
    m = 100_000
    x = 600_000 + rng.random(m) * 20_000
    y = 3_270_000 + rng.random(m) * 20_000
    polys = shapely.box(x, y, x + rng.uniform(20, 60, m), y + rng.uniform(15, 40, m))
    shp = tmp / "lots.shp"
    pyogrio.write_dataframe(gpd.GeoDataFrame(
        {"code": [f"L{i:06d}" for i in range(m)], "name": "停车场", "kind": "lot",
         "capacity": rng.integers(10, 200, m), "fee": 2.0}, geometry=polys, crs=4544),
        shp, encoding="GB18030")
    t0 = time.perf_counter()
    r = import_file(open_store(store), shp, "parking", principal=op)
    print(f"shapefile, {m:,} polygons (EPSG:4544 → WGS-84): {time.perf_counter() - t0:.1f} s "
          f"({r.rows:,} rows stored; target ≤ 20 s)")


if __name__ == "__main__":
    main()
