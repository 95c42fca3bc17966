"""The small bundled sample: ~300 grids west of Hangzhou's West Lake and ~5,000 incidents.

Deterministic for a seed; ``python -m etl.sample DIR`` rewrites the files in
``geodata/samples/``. A handful of rows are deliberately bad (never geocoded,
swapped axes, an unknown category, a bad date, a repeated id) so the demo load
shows its reject report. The demo-city generator replaces this sample.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np
import shapely

from geodata import taxonomy

BOX = (120.08, 30.22, 120.20, 30.31)  # west, south, east, north: 西湖区 west of the lake
GRIDS = 300
INCIDENTS = 5000
START = np.datetime64("2026-08-01T00:00")
DAYS = 90
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华"
HOTSPOTS = ((120.125, 30.275, 0.004, 0.30), (120.165, 30.255, 0.003, 0.20), (120.105, 30.295, 0.005, 0.10))


def _grids(rng: np.random.Generator) -> list[dict]:
    west, south, east, north = BOX
    seeds = shapely.points(rng.uniform(west, east, GRIDS), rng.uniform(south, north, GRIDS))
    frame = shapely.box(*BOX)
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=frame))
    cells = shapely.intersection(cells, frame)
    order = np.lexsort((shapely.get_x(shapely.centroid(cells)), -np.round(shapely.get_y(shapely.centroid(cells)), 2)))
    features = []
    for n, i in enumerate(order, start=1):
        geom = shapely.set_precision(cells[i], 1e-6)
        owner = rng.choice(list(SURNAMES)) + "".join(rng.choice(list(GIVEN), size=rng.integers(1, 3)))
        features.append({
            "type": "Feature",
            "properties": {"code": f"330106{n:06d}", "name": f"第{n}网格", "owner_name": owner,
                           "owner_phone": f"1{rng.integers(30, 90)}{rng.integers(0, 10**8):08d}"},
            "geometry": shapely.geometry.mapping(geom),
        })
    return features


def _incidents(rng: np.random.Generator) -> list[list[str]]:
    west, south, east, north = BOX
    share = np.array([h[3] for h in HOTSPOTS])
    which = rng.choice(len(HOTSPOTS) + 1, size=INCIDENTS, p=[*share, 1 - share.sum()])
    lon = rng.uniform(west, east, INCIDENTS)
    lat = rng.uniform(south, north, INCIDENTS)
    for k, (x, y, sd, _) in enumerate(HOTSPOTS):
        pick = which == k
        lon[pick] = np.clip(rng.normal(x, sd, pick.sum()), west + 1e-4, east - 1e-4)
        lat[pick] = np.clip(rng.normal(y, sd, pick.sum()), south + 1e-4, north - 1e-4)
    codes = [c for c in taxonomy.CATEGORIES if c != "other"]
    weights = np.linspace(2.0, 0.5, len(codes))
    category = rng.choice(codes, size=INCIDENTS, p=weights / weights.sum())
    minutes = rng.integers(0, DAYS * 24 * 60, INCIDENTS)
    when = START + minutes.astype("timedelta64[m]")
    statuses = [s for s in taxonomy.STATUSES]
    status = rng.choice(statuses, size=INCIDENTS, p=[0.05, 0.05, 0.1, 0.15, 0.05, 0.6])
    rows = [[f"S{n:05d}", taxonomy.CATEGORIES[c].name_zh, str(w).replace("T", " ") + ":00", f"{x:.6f}", f"{y:.6f}", s]
            for n, (c, w, x, y, s) in enumerate(zip(category, when, lon, lat, status), start=1)]
    rows[10][3], rows[10][4] = "0", "0"                      # never geocoded
    rows[20][3], rows[20][4] = rows[20][4], rows[20][3]      # axes swapped
    rows[30][1] = "外星人入侵"                                 # not in the taxonomy
    rows[40][2] = "2026-13-45 25:00:00"                       # not a date
    rows.append(list(rows[50]))                               # the same id twice
    return rows


def write_sample(folder: Path, seed: int = 20261122) -> list[Path]:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    grids_path = folder / "sample_grids.geojson"
    grids_path.write_text(json.dumps({"type": "FeatureCollection", "features": _grids(rng)}, ensure_ascii=False) + "\n",
                          encoding="utf-8")
    incidents_path = folder / "sample_incidents.csv"
    with incidents_path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["id", "category", "reported_at", "lon", "lat", "status"])
        writer.writerows(_incidents(rng))
    return [grids_path, incidents_path]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m etl.sample", description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", default="geodata/samples", type=Path,
                        help="where to write sample_grids.geojson and sample_incidents.csv (default geodata/samples)")
    parser.add_argument("--seed", type=int, default=20261122, help="the generator's seed (same seed, same files)")
    args = parser.parse_args(argv)
    for path in write_sample(args.folder, seed=args.seed):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
