"""A small five-tier city the layer tests build themselves: boxes halved tier by tier, 16 grids of 0.1°."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from etl.load import load_areas, load_incidents, load_patrols
from tests.helpers import write_csv

CITY = (120.0, 30.0, 120.4, 30.4)
# Each tier halves its parent along one axis: 1 city, 2 districts, 4 streets, 8 communities, 16 grids.
SPLITS = (("district", 0), ("street", 1), ("community", 0), ("grid", 1))


def _halves(box, axis):
    west, south, east, north = box
    if axis == 0:
        mid = (west + east) / 2
        return (west, south, mid, north), (mid, south, east, north)
    mid = (south + north) / 2
    return (west, south, east, mid), (west, mid, east, north)


def tier_boxes() -> dict[str, dict[str, tuple]]:
    """{tier: {code: box}}; a child's code is its parent's plus one digit."""
    boxes = {"city": {"C": CITY}}
    for tier, axis in SPLITS:
        parents = boxes[list(boxes)[-1]]
        boxes[tier] = {f"{code}{i + 1}": half for code, box in parents.items() for i, half in enumerate(_halves(box, axis))}
    return boxes


def _geojson(path: Path, boxes: dict[str, tuple]) -> Path:
    features = [{"type": "Feature", "properties": {"code": code, "name": f"区域{code}", "owner": f"负责人{code}"},
                 "geometry": {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}}
                for code, (w, s, e, n) in boxes.items()]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8")
    return path


def load_tiers(folder: Path) -> dict[str, dict[str, tuple]]:
    boxes = tier_boxes()
    for tier, by_code in boxes.items():
        load_areas(_geojson(folder / f"{tier}.geojson", by_code), tier=tier, source="tiers")
    return boxes


N_INCIDENTS = 3000
STATUSES = ("reported", "dispatched", "handling", "verified", "closed")
CATEGORIES = ("dispute", "fire_safety", "traffic_safety", "city_management")


def write_incidents(folder: Path, n: int, now: datetime, seed: int = 7) -> dict[str, np.ndarray]:
    """Random incidents over the city in the 30 days before ``now``; returns what was written, as arrays."""
    rng = np.random.default_rng(seed)
    west, south, east, north = CITY
    lon, lat = rng.uniform(west + 1e-4, east - 1e-4, n), rng.uniform(south + 1e-4, north - 1e-4, n)
    reported = [now - timedelta(minutes=int(m)) for m in rng.integers(60, 30 * 24 * 60, n)]
    status = rng.choice(STATUSES, n)
    resolved = [r + timedelta(minutes=int(m)) if s in ("verified", "closed") else None
                for r, s, m in zip(reported, status, rng.integers(10, 50 * 60, n))]
    resolved = [r if r is None or r < now else None for r in resolved]
    status = np.array([s if r is not None or s not in ("verified", "closed") else "handling" for s, r in zip(status, resolved)])
    category, severity = rng.choice(CATEGORIES, n), rng.integers(1, 5, n)
    rows = [[f"E{i}", category[i], f"{reported[i]:%Y-%m-%d %H:%M:%S}", f"{lon[i]:.6f}", f"{lat[i]:.6f}", severity[i],
             status[i], "" if resolved[i] is None else f"{resolved[i]:%Y-%m-%d %H:%M:%S}"] for i in range(n)]
    path = write_csv(folder / "incidents.csv", rows,
                     header=("id", "category", "reported_at", "lon", "lat", "severity", "status", "resolved_at"))
    summary = load_incidents(path, source="tiers")
    assert summary.loaded == n, summary
    return {"lon": np.round(lon, 6), "lat": np.round(lat, 6), "status": status, "category": category,
            "severity": severity, "reported": np.array(reported), "resolved": np.array(resolved, dtype=object)}


def write_pings(folder: Path, now: datetime, seed: int = 11) -> dict[str, np.ndarray]:
    """Two patrol units' pings over the last three days, one sweeping the west half of district C1, one a corner of C2."""
    rng = np.random.default_rng(seed)
    n = 400
    lon = np.concatenate([rng.uniform(120.01, 120.09, n), rng.uniform(120.31, 120.39, n // 4)])
    lat = np.concatenate([rng.uniform(30.01, 30.39, n), rng.uniform(30.31, 30.39, n // 4)])
    unit = np.array(["U1"] * n + ["U2"] * (n // 4))
    ts = [now - timedelta(minutes=10 * i + 5) for i in range(len(lon))]
    rows = [[unit[i], f"{ts[i]:%Y-%m-%d %H:%M:%S}", f"{lon[i]:.6f}", f"{lat[i]:.6f}"] for i in range(len(lon))]
    load_patrols(write_csv(folder / "pings.csv", rows, header=("unit_id", "ts", "lon", "lat")), source="tiers")
    return {"lon": lon, "lat": lat}


def load_city(folder: Path, now: datetime) -> tuple[dict[str, dict[str, tuple]], dict[str, np.ndarray]]:
    """Tiers, ``N_INCIDENTS`` incidents and two patrol units' pings: (the boxes by tier, the incidents written)."""
    boxes = load_tiers(folder)
    written = write_incidents(folder, N_INCIDENTS, now)
    write_pings(folder, now)
    return boxes, written
