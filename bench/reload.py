"""Readers during a reload: a city's 1,000,000 incidents loaded again with 10 % of their statuses changed, while
readers query the incidents and the cubes beside it, as the wall and the OGC API do.

    python -m bench.reload [--rows N] [--grids N] [--changed 0.1]

In a private database: the grids, then the incidents (a first load: into empty tables, their indexes built
after), then readers measured on their own for 20 s (the baseline, same run), then the same readers while the
reload runs in a process of its own, then a re-run of the unchanged file. Prints the reload's seconds and steps,
the readers' p50 / p95 / max and failures in both phases and their ratio, and what the unchanged re-run wrote.
Issue 20: readers keep answering within 1 s while the reload runs. Asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

import pandas as pd

from bench.common import child_or_run, city_parser, Timer, private_database, report_child, run_child
from bench.etl import run_child_grids
from bench.synth import write_grids, write_incidents

MODULE = "bench.reload"
# What the wall and the OGC API ask of the tables a reload writes: the open cases and today's counts from the
# incidents, a KPI from the day cube, a week's map from the weekly cube, a page of features in a box.
READS = {
    "open by status": "SELECT status, count(*) FROM shiyu.incident WHERE status NOT IN ('verified', 'closed') "
                      "AND reported_at > now() - interval '400 days' GROUP BY status",
    "day cube KPI": "SELECT sum(n), sum(n_resolved) FROM shiyu.incident_day WHERE day > current_date - 400 AND category = ''",
    "week cube map": "SELECT h3_r8, sum(n) FROM shiyu.incident_week WHERE week > current_date - 400 GROUP BY h3_r8",
    "OGC page": "SELECT external_id, category, status, ST_AsGeoJSON(geom) FROM shiyu.incident "
                "WHERE geom && ST_MakeEnvelope(120.10, 30.20, 120.15, 30.25, 4326) ORDER BY source, external_id LIMIT 100",
}


def child(kind: str, csv_path: Path) -> None:
    from etl.load import load_incidents

    with Timer() as timer:
        summary = load_incidents(csv_path, source="bench")
    report_child(timer.seconds, loaded=summary.loaded, updated=summary.updated, unchanged=summary.unchanged,
                 steps=summary.seconds)


class Readers(threading.Thread):
    """Each read in turn, every 0.25 s, on a connection of its own with a 15 s statement limit (the app's)."""

    def __init__(self, url: str):
        super().__init__(daemon=True)
        self.url, self.stop, self.times, self.failed = url, threading.Event(), [], 0

    def run(self) -> None:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute("SET statement_timeout = '15s'")
            while not self.stop.is_set():
                for sql in READS.values():
                    start = time.perf_counter()
                    try:
                        conn.execute(sql).fetchall()
                        self.times.append(time.perf_counter() - start)
                    except psycopg.Error:
                        self.failed += 1
                self.stop.wait(0.25)


def _summary(readers: Readers) -> tuple[float, float, float]:
    times = sorted(readers.times) or [float("nan")]
    return times[len(times) // 2], times[int(len(times) * 0.95)], times[-1]


def main(argv: list[str] | None = None) -> int:
    parser = city_parser(__doc__)
    parser.add_argument("--changed", type=float, default=0.1, help="share of statuses the reload changes (default 0.1)")
    return child_or_run(parser.parse_args(argv), child, _run, "shiyu-bench-reload-")


def _run(args: argparse.Namespace, work: Path) -> int:
    grids = write_grids(work / "grids.geojson", args.grids)
    frame = pd.read_csv(write_incidents(work / "raw.csv", args.rows), dtype=str)
    base, reload = work / "base.csv", work / "reload.csv"
    frame.assign(status="上报").to_csv(base, index=False)
    changed = frame.index.to_series().sample(frac=args.changed, random_state=1).index
    statuses = pd.Series("上报", index=frame.index)
    statuses[changed] = "立案"
    frame.assign(status=statuses).to_csv(reload, index=False)
    del frame
    with private_database() as url:
        run_child_grids(url, grids)
        first = run_child(MODULE, "load", str(base), url=url)
        print(f"{args.rows:,} incidents, {args.grids:,} grids; first load {first['seconds']:.1f} s", flush=True)

        idle = Readers(url)
        idle.start()
        time.sleep(20)
        idle.stop.set()
        idle.join()

        during = Readers(url)
        during.start()
        with Timer() as timer:
            loaded = run_child(MODULE, "load", str(reload), url=url)
        during.stop.set()
        during.join()
        again = run_child(MODULE, "load", str(reload), url=url)

    (p50, p95, worst), (q50, q95, qworst) = _summary(idle), _summary(during)
    print(f"reload ({args.changed:.0%} of statuses changed): {loaded['seconds']:.1f} s "
          f"(updated {loaded['updated']:,}, unchanged {loaded['unchanged']:,}); steps {loaded['steps']}")
    print(f"readers alone:        p50 {p50 * 1000:7.1f} ms  p95 {p95 * 1000:7.1f} ms  max {worst * 1000:8.1f} ms  "
          f"failed {idle.failed}  ({len(idle.times):,} reads)")
    print(f"readers while reload: p50 {q50 * 1000:7.1f} ms  p95 {q95 * 1000:7.1f} ms  max {qworst * 1000:8.1f} ms  "
          f"failed {during.failed}  ({len(during.times):,} reads over {timer.seconds:.0f} s)")
    print(f"readers, reload vs alone: p95 {q95 / p95:.1f}x, max {qworst / worst:.1f}x   (issue 20: within 1 s)")
    print(f"re-run of the unchanged file: {again['seconds']:.1f} s (updated {again['updated']:,}, "
          f"unchanged {again['unchanged']:,}); steps {again['steps']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
