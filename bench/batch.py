"""Small batches into a big city: 1,000-row files loaded by ``shiyu load``'s own function into a kept cluster.

    python -m bench.batch [--size 10000000] [--rows 1000] [--batches 20] [--folder var/bench]

Issue 20: "a 1,000-row batch into a database holding 10M incidents: p95 under 0.5 s server-side, every roll-up
kept". The cluster is the demo city of ``--size`` incidents that ``bench.layers`` builds and keeps
(``var/bench/layers-N``; 10M takes about 17 minutes the first time). Each batch is a CSV of the grid workers'
app's source (``grid_app``): half new reports at points sampled from the stored ones, half status changes of
stored reports (each moved one step along 发现 → … → 结案, everything else as stored), loaded with
``etl.load.load_incidents`` in this process (no process start counted): validated, H3, grids, upsert and every
cube's delta, committed. The baseline, in the same run: geopandas ``to_postgis`` of the same rows appended to
a table of their own (no validation, no H3, no grids, no cubes, no key). Prints each side's p50 / p95 / max, their
ratio, and the loader's steps at the median; asserts nothing. The batches' rows stay loaded (a new report is a new
report), so each run adds ``--batches * --rows / 2`` incidents.
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
import tempfile
import time
from pathlib import Path

from bench.common import ROOT, Timer, percentile, to_postgis

SOURCE = "grid_app"
HEADER = ("id", "category", "reported_at", "lon", "lat", "severity", "status", "resolved_at")
# Stored reports to change, from a sample of the table's pages (ORDER BY random() would sort all 10M rows first).
STORED = """
SELECT external_id, category, reported_at AT TIME ZONE 'Asia/Shanghai', ST_X(geom), ST_Y(geom), severity, status,
       resolved_at AT TIME ZONE 'Asia/Shanghai'
FROM shiyu.incident TABLESAMPLE SYSTEM (5) WHERE source = %(source)s AND status <> 'closed' LIMIT %(n)s
"""


def _next(status: str) -> str:
    from geodata.taxonomy import STATUSES

    chain = list(STATUSES)
    return chain[min(chain.index(status) + 1, len(chain) - 1)]


def _batches(conn, n: int, rows: int, run: str) -> list[list[tuple]]:
    from geodata.taxonomy import CLOSED_STATUSES

    half = rows // 2
    stored = conn.execute(STORED, {"source": SOURCE, "n": n * half}).fetchall()
    if len(stored) < n * half:
        raise SystemExit(f"only {len(stored):,} open {SOURCE} reports sampled; fewer --batches or --rows")
    random.Random(7).shuffle(stored)
    from datetime import datetime
    from zoneinfo import ZoneInfo

    now = datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M:%S")  # the files' times are Beijing's
    out = []
    for b in range(n):
        mine = stored[b * half:(b + 1) * half]
        changes = [(i, c, str(t)[:19], x, y, s, _next(st),
                    str(r)[:19] if r else (now if _next(st) in CLOSED_STATUSES else ""))
                   for i, c, t, x, y, s, st, r in mine]
        # New reports beside stored ones (a few tens of metres off), so they fall in the city's grids.
        new = [(f"BB{run}{b:03d}{k:05d}", c, now, x + random.uniform(-2e-4, 2e-4), y + random.uniform(-2e-4, 2e-4), s,
                "reported", "") for k, (_, c, _, x, y, s, _, _) in enumerate((mine * 2)[:rows - half])]
        out.append(changes + new)
    return out


def _write(path: Path, rows: list[tuple]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        writer.writerows(rows)
    return path


def _to_postgis(url: str, path: Path) -> float:
    with Timer() as timer:
        to_postgis(url, path, "bench_batch_gpd", if_exists="append")
    return timer.seconds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.batch", description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=10_000_000, help="the kept demo city's incidents (default 10M)")
    parser.add_argument("--rows", type=int, default=1000, help="rows a batch (default 1,000)")
    parser.add_argument("--batches", type=int, default=20, help="batches (default 20)")
    parser.add_argument("--folder", type=Path, default=ROOT / "var" / "bench", help="where the clusters are kept")
    args = parser.parse_args(argv)

    from bench.layers import _shiyu, prepare
    from etl.load import load_incidents
    from geodata import db
    from geodata.settings import reload

    folder = args.folder / f"layers-{args.size}"
    url = prepare(folder, args.size)
    try:
        import os

        os.environ["DATABASE_URL"] = url
        reload()
        with db.connect(url) as conn:
            incidents = conn.execute("SELECT count(*) FROM shiyu.incident").fetchone()[0]
            batches = _batches(conn, args.batches, args.rows, time.strftime("%H%M%S"))
        ours, gpd_s, steps = [], [], []
        with tempfile.TemporaryDirectory(prefix="shiyu-batch-") as work:
            for n, rows in enumerate(batches):
                path = _write(Path(work) / f"batch{n}.csv", rows)
                gpd_s.append(_to_postgis(url, path))
                with Timer() as timer:
                    summary = load_incidents(path, source=SOURCE, reject_file=Path(work) / "rejects.csv")
                ours.append(timer.seconds)
                steps.append(summary.seconds)
                if summary.rejected or summary.loaded + summary.updated < args.rows * 0.9:
                    reasons = sorted({row["reason"] for row in csv.DictReader((Path(work) / "rejects.csv").open())})
                    print(f"  batch {n}: read {summary.read}, loaded {summary.loaded}, updated {summary.updated}, "
                          f"rejected {summary.rejected} ({'; '.join(reasons)[:300]})", flush=True)
        with db.connect(url) as conn:
            conn.execute("DROP TABLE IF EXISTS public.bench_batch_gpd")
            conn.commit()
    finally:
        _shiyu(folder, "db", "down")
    print(f"{incidents:,} incidents; {args.batches} batches of {args.rows:,} rows ({args.rows // 2:,} status changes, "
          f"{args.rows - args.rows // 2:,} new reports) into {SOURCE}")
    print(f"{'':<28}{'p50':>8}{'p95':>8}{'max':>8}")
    for name, values in (("load_incidents (s)", ours), ("to_postgis, same rows (s)", gpd_s)):
        print(f"{name:<28}{percentile(values, 50):8.3f}{percentile(values, 95):8.3f}{max(values):8.3f}")
    print(f"ratio at p50 / p95: {percentile(ours, 50) / percentile(gpd_s, 50):.1f}x / "
          f"{percentile(ours, 95) / percentile(gpd_s, 95):.1f}x")
    median_batch = sorted(range(len(ours)), key=ours.__getitem__)[len(ours) // 2]
    print(f"steps of the median batch (s): {steps[median_batch]}")


if __name__ == "__main__":
    main(sys.argv[1:])
