"""Synthetic inputs for benchmarks: a Voronoi partition into grids and clustered incident points."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import shapely

from geodata import taxonomy

BOX = (119.95, 30.10, 120.45, 30.45)  # Hangzhou's urban core, roughly


def write_grids(path: Path, n: int, seed: int = 7) -> Path:
    rng = np.random.default_rng(seed)
    west, south, east, north = BOX
    seeds = shapely.points(rng.uniform(west, east, n), rng.uniform(south, north, n))
    frame = shapely.box(*BOX)
    cells = shapely.intersection(shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=frame)), frame)
    features = [{"type": "Feature", "properties": {"code": f"B{i:06d}", "name": f"第{i}网格", "owner_name": "王伟",
                                                   "owner_phone": "13800000000"},
                 "geometry": shapely.geometry.mapping(shapely.set_precision(c, 1e-7))} for i, c in enumerate(cells)]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8")
    return path


def write_incidents(path: Path, n: int, seed: int = 8, chunk: int = 250_000) -> Path:
    """``n`` incidents as CSV (id, category, reported_at, lon, lat), written in chunks to bound memory."""
    rng = np.random.default_rng(seed)
    west, south, east, north = BOX
    centres = rng.uniform([west, south], [east, north], size=(40, 2))
    names = [c.name_zh for c in taxonomy.CATEGORIES.values()]
    start = np.datetime64("2026-05-01T00:00:00")
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["id", "category", "reported_at", "lon", "lat"])
        for first in range(0, n, chunk):
            m = min(chunk, n - first)
            which = rng.integers(0, len(centres), m)
            lon = np.clip(centres[which, 0] + rng.normal(0, 0.02, m), west + 1e-5, east - 1e-5)
            lat = np.clip(centres[which, 1] + rng.normal(0, 0.02, m), south + 1e-5, north - 1e-5)
            when = (start + rng.integers(0, 180 * 86400, m).astype("timedelta64[s]")).astype(str)
            cats = np.array(names)[rng.integers(0, len(names), m)]
            ids = np.char.add("E", np.arange(first, first + m).astype(str))
            writer.writerows(zip(ids, cats, np.char.replace(when, "T", " "), np.char.mod("%.6f", lon), np.char.mod("%.6f", lat)))
    return path
