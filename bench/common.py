"""What every benchmark shares: a private embedded cluster and child processes that report time and memory."""

from __future__ import annotations

import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from geodata import db
from geodata.cluster import Cluster
from geodata.migrations import migrate

ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def private_database():
    """A fresh embedded PostGIS (durable settings, as in production) for one benchmark run."""
    if os.environ.get("DATABASE_URL"):
        yield os.environ["DATABASE_URL"]
        return
    root = Path(tempfile.mkdtemp(prefix="shiyu-bench-"))
    root.chmod(0o755)
    cluster = Cluster(root / "pg")
    try:
        url, _ = cluster.up()
        with db.connect(url) as conn:
            migrate(conn)
        yield url
    finally:
        cluster.destroy()
        shutil.rmtree(root, ignore_errors=True)


def run_child(module: str, *args: str, url: str) -> dict:
    """Run ``python -m module --child ARGS`` and return the JSON it prints last."""
    env = {**os.environ, "DATABASE_URL": url}
    result = subprocess.run([sys.executable, "-m", module, "--child", *args], capture_output=True, text=True, env=env, cwd=ROOT)
    if result.returncode != 0:
        raise SystemExit(f"{module} {' '.join(args)} failed:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def run_in_checkout(file: str, prog: str, argv: list[str], env: dict[str, str], checkout: Path = ROOT) -> dict:
    """Run the bench script ``file`` as ``prog ARGV`` from ``checkout``'s folder, so that the packages it imports
    are that checkout's (a baseline measured in the same run), and return the JSON it prints last."""
    code = (f"import runpy, sys; sys.argv = {[prog, *argv]!r}; "
            f"runpy.run_path({str(Path(file).resolve())!r}, run_name='__main__')")
    env = {**env, "PYTHONPATH": str(checkout)}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=checkout)
    if result.returncode != 0:
        raise SystemExit(f"{prog} {' '.join(argv)} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def city_parser(description: str):
    """The argument parser of a bench on a synthetic city (bench.synth): ``--rows`` incidents, ``--grids`` grids,
    and the hidden ``--child KIND CSV`` that ``child_or_run`` reads."""
    import argparse

    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="incidents in the CSV (default 1,000,000)")
    parser.add_argument("--grids", type=int, default=10_000, help="grids to assign them to (default 10,000)")
    parser.add_argument("--child", nargs=2, metavar=("KIND", "CSV"), help=argparse.SUPPRESS)
    return parser


def child_or_run(args, child, run, prefix: str) -> int:
    """A bench's entry: ``--child KIND CSV`` runs one step in this process (``child(kind, path)``); otherwise
    ``run(args, work)`` with a fresh folder ``work``, removed after."""
    if args.child:
        child(args.child[0], Path(args.child[1]))
        return 0
    work = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        return run(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def report_child(seconds: float, **extra) -> None:
    """Print this child's wall time and peak memory as JSON (the parent reads the last line)."""
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": round(seconds, 3), "peak_mb": round(peak_mb, 1), **extra}))


class Timer:
    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start


def median(values: list[float]) -> float:
    return statistics.median(values)


def percentile(values: list[float], q: int) -> float:
    """The ``q``-th percentile (1-99) of ``values``, interpolated between two of them (never beyond the largest, as the
    exclusive method went with a few values: a p95 of 8.2 s over a max of 5.7 s from three batches); NaN for none."""
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def to_postgis(url: str, csv_path: Path, table: str, if_exists: str = "fail") -> int:
    """The naive peer of a load: geopandas reads ``csv_path`` (``lon``, ``lat``) and ``to_postgis`` writes it into
    ``public.table``; no validation, H3, grids or cubes. Returns the rows written."""
    import geopandas as gpd
    import pandas as pd
    from sqlalchemy import create_engine

    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        frame = pd.read_csv(csv_path, dtype={"id": str})
        points = gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(frame["lon"], frame["lat"]), crs=4326)
        points.to_postgis(table, engine, schema="public", index=False, if_exists=if_exists)
    finally:
        engine.dispose()
    return len(points)
