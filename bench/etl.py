"""Loading 1,000,000 incidents from CSV, against two baselines measured in the same run.

    python -m bench.etl [--rows N] [--grids N] [--repeat K]

- ours: ``load_incidents`` — read, validate every row, H3 r7–r10, grid
  assignment against ``--grids`` grids, upsert, indexes, committed;
- (a) geopandas ``GeoDataFrame.to_postgis`` of the same points (no
  validation, no H3, no grids);
- (b) a bare ``COPY … (FORMAT csv)`` of the file into an unindexed table;
- (c) the floor the schema sets: the rows ours wrote (every column of
  ``shiyu.incident``, read back before the clock starts) COPY'd in binary into
  a table with the same columns, then given the same primary key and indexes
  as ``shiyu.incident`` (built after the COPY, the faster order), committed.
  What ours spends beyond (c) is validation, H3, grids, cubes and staging;
  (c) itself is what the schema's indexes cost whoever loads the rows.

Each contender runs in a process of its own, so its peak memory is its own.
Targets (issue 3): at least 4x faster than (a), at most 5x the time of (b),
under 2 GB peak. Prints the ratios; it asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.common import (child_or_run, city_parser, Timer, median, private_database, report_child, run_child,
                          to_postgis)
from bench.synth import write_grids, write_incidents

MODULE = "bench.etl"
CUBES = ("shiyu.incident_week, shiyu.incident_week_r7, shiyu.incident_day_r7, shiyu.incident_cell_r7, shiyu.incident_cell, "
         "shiyu.incident_week_cell, shiyu.incident_day, shiyu.incident_day_street, shiyu.incident_grid_week")
INCIDENT_INDEXES = """
SELECT pg_get_indexdef(x.indexrelid), x.indisprimary FROM pg_index x WHERE x.indrelid = 'shiyu.incident'::regclass
"""


def floor(conn, rows_file: Path) -> dict:
    """(c): the rows into a copy of shiyu.incident's columns, then its key and indexes; seconds of each part."""

    indexes = conn.execute(INCIDENT_INDEXES).fetchall()
    with Timer() as total:
        conn.execute("SET LOCAL maintenance_work_mem = '512MB'")  # as the loader sets it
        conn.execute("CREATE TABLE public.bench_floor (LIKE shiyu.incident INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
        with Timer() as copying, conn.cursor() as cur:
            with cur.copy("COPY public.bench_floor FROM STDIN (FORMAT binary)") as copy, rows_file.open("rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    copy.write(block)
        with Timer() as indexing:
            for definition, primary in indexes:
                definition = definition.replace(" ON shiyu.incident ", " ON public.bench_floor ")
                if primary:  # the key as a constraint, as the schema has it
                    columns = definition[definition.rindex("("):]
                    conn.execute(f"ALTER TABLE public.bench_floor ADD PRIMARY KEY {columns}")
                else:
                    conn.execute(definition.replace("INDEX incident_", "INDEX bench_floor_", 1))
        conn.commit()
    return {"seconds": total.seconds, "copy": round(copying.seconds, 3), "indexes": round(indexing.seconds, 3)}


def child(kind: str, csv_path: Path) -> None:
    from geodata import db

    with db.connect(autocommit=True) as conn:
        if kind == "ours":
            conn.execute(f"TRUNCATE shiyu.rejected_row, shiyu.incident, {CUBES}")
        conn.execute("DROP TABLE IF EXISTS public.bench_raw, public.bench_gpd, public.bench_floor")
    if kind == "floor":
        rows_file = csv_path.with_name("incident.copy")
        with db.connect() as conn:
            with conn.cursor() as cur, cur.copy("COPY shiyu.incident TO STDOUT (FORMAT binary)") as copy, \
                    rows_file.open("wb") as fh:
                for block in copy:
                    fh.write(block)
            result = floor(conn, rows_file)
            loaded = conn.execute("SELECT count(*) FROM public.bench_floor").fetchone()[0]
            conn.execute("DROP TABLE public.bench_floor")
            conn.commit()
        rows_file.unlink()
        report_child(result.pop("seconds"), loaded=loaded, steps=result)
    elif kind == "ours":
        from etl.load import load_incidents

        with Timer() as timer:
            summary = load_incidents(csv_path, source="bench")
        report_child(timer.seconds, loaded=summary.loaded, rejected=summary.rejected, steps=summary.seconds)
    elif kind == "to_postgis":
        with Timer() as timer:
            loaded = to_postgis(db.database_url(), csv_path, "bench_gpd")
        report_child(timer.seconds, loaded=loaded)
    elif kind == "copy":
        with db.connect() as conn:
            conn.execute("CREATE TABLE public.bench_raw (id text, category text, reported_at timestamptz, lon float8, lat float8)")
            with Timer() as timer, conn.cursor() as cur:
                with cur.copy("COPY public.bench_raw FROM STDIN (FORMAT csv, HEADER)") as copy, csv_path.open("rb") as fh:
                    for block in iter(lambda: fh.read(1 << 20), b""):
                        copy.write(block)
                conn.commit()
            report_child(timer.seconds, loaded=conn.execute("SELECT count(*) FROM public.bench_raw").fetchone()[0])


def main(argv: list[str] | None = None) -> int:
    parser = city_parser(__doc__)
    parser.add_argument("--repeat", type=int, default=1, help="runs of each contender; medians are reported")
    return child_or_run(parser.parse_args(argv), child, _run, "shiyu-bench-etl-")


def _run(args: argparse.Namespace, work: Path) -> int:
    grids = write_grids(work / "grids.geojson", args.grids)
    csv_path = write_incidents(work / "incidents.csv", args.rows)
    print(f"{args.rows:,} incidents ({csv_path.stat().st_size / 1e6:.0f} MB CSV), {args.grids:,} grids", flush=True)
    results: dict[str, list[dict]] = {"ours": [], "floor": [], "to_postgis": [], "copy": []}  # floor reads ours' rows
    with private_database() as url:
        run_child_grids(url, grids)
        for _ in range(args.repeat):
            for kind in results:
                results[kind].append(run_child(MODULE, kind, str(csv_path), url=url))
                print(f"  {kind:<11} {results[kind][-1]['seconds']:7.2f} s  peak {results[kind][-1]['peak_mb']:7.0f} MB",
                      flush=True)
    t = {kind: median([r["seconds"] for r in runs]) for kind, runs in results.items()}
    peak = max(r["peak_mb"] for r in results["ours"])
    print(f"ours steps (s): {results['ours'][-1]['steps']}")
    print(f"(c) floor steps (s): {results['floor'][-1]['steps']}")
    print(f"ours vs (a) to_postgis: {t['to_postgis'] / t['ours']:.2f}x faster   (target >= 4x)")
    print(f"ours vs (b) bare COPY:  {t['ours'] / t['copy']:.2f}x the time   (target <= 5x)")
    print(f"ours vs (c) the schema's floor: {t['ours'] / t['floor']:.2f}x the time   "
          f"((c) vs (b): {t['floor'] / t['copy']:.2f}x, (a) vs (c): {t['to_postgis'] / t['floor']:.2f}x faster)")
    print(f"ours peak memory:       {peak:.0f} MB   (target < 2048 MB)")
    return 0


def run_child_grids(url: str, grids: Path) -> None:
    import os

    os.environ["DATABASE_URL"] = url
    from geodata.settings import reload

    reload()
    from etl.load import load_areas

    load_areas(grids, tier="grid", source="bench")


if __name__ == "__main__":
    sys.exit(main())
