"""Every layer at 1,000,000 and at 10,000,000 incidents of the demo city, and the ratio between them.

    python -m bench.layers [--sizes 1000000,10000000] [--repeat 5] [--folder var/bench] [--against DIR]

For each size the demo city (same seed, same 10,000 grids, facilities and
patrols; only the incidents differ) is generated and loaded through
``shiyu demo --no-serve`` into an embedded cluster of its own under
``--folder`` (kept between runs: a cluster that already holds the incidents
is not loaded again). Then, in a child process per size, each layer of the
registry is built for a few views — the whole city at r7 and r8, one
district, a zoomed-in street, a four-week window — and the median of
``--repeat`` runs is kept. It prints, per layer and view, the time at each
size, the ratio of the largest size to the next (issue 5: hexes and hotspots
within 3x from 1M to 10M; add 200000, the default demo city, for its times),
and the gzip size of the GeoJSON at the largest size. With ``--against DIR`` (another checkout,
e.g. main's worktree) each size is measured with that checkout's layers and
with these, alternately, ``--rounds`` times each on the same cluster, and the
best of each is printed with their ratio: a change's effect at one size. It
asserts nothing.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
from datetime import datetime, time, timedelta
from pathlib import Path

from bench.common import ROOT, Timer, median

MODULE = "bench.layers"
SIZES = (1_000_000, 10_000_000)


def _env(folder: Path) -> dict:
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    return {**env, "SHIYU_DATA_DIR": str(folder / "pg")}


def _shiyu(folder: Path, *args: str, capture: bool = True) -> str:
    result = subprocess.run([sys.executable, "-m", "shiyu", *args], env=_env(folder), cwd=ROOT,
                            capture_output=capture, text=True)
    if result.returncode != 0:
        raise SystemExit(f"shiyu {' '.join(args)} failed:\n{(result.stderr or '')[-2000:]}")
    return (result.stdout or "").strip()


def _incidents_in(url: str) -> int:
    from geodata import db

    with db.connect(url) as conn:
        exists = conn.execute("SELECT to_regclass('shiyu.incident') IS NOT NULL").fetchone()[0]
        return conn.execute("SELECT count(*) FROM shiyu.incident").fetchone()[0] if exists else 0


def prepare(folder: Path, incidents: int) -> str:
    """A running cluster under ``folder`` holding the demo city with about ``incidents`` incidents; its URL."""
    _shiyu(folder, "db", "up")
    url = _shiyu(folder, "db", "url").splitlines()[-1]
    have = _incidents_in(url)
    if have < incidents * 0.95:  # the demo's spoiled rows are rejected, a few per cent
        print(f"loading the demo city with {incidents:,} incidents into {folder} (this takes a while) …", flush=True)
        with Timer() as timer:
            _shiyu(folder, "demo", "--no-serve", "--incidents", str(incidents), capture=False)
        print(f"  loaded in {timer.seconds:.0f} s", flush=True)
    else:
        print(f"{folder} already holds {have:,} incidents", flush=True)
    return url


def _views() -> dict[str, dict]:
    """The views measured, as keyword arguments of Filters (plus the scope path under 'scope')."""
    import h3

    from geodata.db import fetch_all
    from geodata.scope import Scope
    from layers.areas import extent
    from layers.base import BEIJING

    city = extent(Scope.everything())
    district = fetch_all("""SELECT a.path::text AS path, ST_XMin(a.geom) w, ST_YMin(a.geom) s, ST_XMax(a.geom) e, ST_YMax(a.geom) n
                            FROM shiyu.area a WHERE a.tier = 'district' AND subpath(a.path, 1, 1)::text =
                                (SELECT district FROM shiyu.incident_week GROUP BY 1 ORDER BY sum(n) DESC LIMIT 1)""")[0]
    busiest_cell = fetch_all("SELECT h3_r8 FROM shiyu.incident_week GROUP BY 1 ORDER BY sum(n) DESC LIMIT 1")[0]["h3_r8"]
    lat, lon = h3.cell_to_latlng(h3.int_to_str(busiest_cell))
    # Beijing's Monday, as the weekly cubes count weeks (the machine's own zone put the window off their bounds).
    newest = fetch_all("SELECT max(reported_at) AS t FROM shiyu.incident")[0]["t"].astimezone(BEIJING)
    monday = datetime.combine(newest.date() - timedelta(days=newest.weekday()), time(0), newest.tzinfo)
    box = (lon - 0.02, lat - 0.012, lon + 0.02, lat + 0.012)
    return {
        "city r7": {"bbox": city, "zoom": 9.5, "res": 7, "tier": "district"},
        "city r8": {"bbox": city, "zoom": 10.5, "res": 8, "tier": "street"},
        "district r8": {"bbox": (district["w"], district["s"], district["e"], district["n"]), "zoom": 11, "res": 8,
                        "tier": "street", "scope": district["path"]},
        "4 weeks r8": {"bbox": city, "zoom": 10.5, "res": 8, "tier": "street",
                       "since": monday - timedelta(weeks=4), "until": monday},
        "street r9": {"bbox": box, "zoom": 14, "res": 9, "tier": "grid"},
    }


def child(repeat: int) -> None:
    from dashboard import app as server
    from geodata.errors import ShiyuError
    from geodata.scope import Scope
    from layers.base import Filters
    from layers.registry import LAYERS

    # The layers answer inside the dashboard's server: measured with the collector settings it starts with (a
    # checkout without them measures with Python's).
    getattr(server, "quiet_collector", lambda: None)()

    results = {}
    for view, spec in _views().items():
        spec = dict(spec)
        scope = Scope(spec.pop("scope", None))
        filters = Filters(**spec)
        for layer, build in LAYERS.items():
            times, payload = [], None
            try:
                for _ in range(repeat):
                    with Timer() as timer:
                        result = build(filters, scope)
                    times.append(timer.seconds)
                payload = json.dumps(result.geojson(), ensure_ascii=False, separators=(",", ":")).encode()
                results[f"{layer}|{view}"] = {"seconds": median(times), "features": len(result.features),
                                              "gzip_bytes": len(gzip.compress(payload, 6))}
            except ShiyuError as error:
                results[f"{layer}|{view}"] = {"error": str(error)}
    print(json.dumps(results))


def measure(url: str, repeat: int, tree: Path = ROOT) -> dict:
    """Every layer and view, with the layers of the checkout at ``tree`` (the views are this file's, either way)."""
    from bench.common import run_in_checkout  # the parent's: a child imports the checkout's bench.common

    return run_in_checkout(__file__, MODULE, ["--child", "--repeat", str(repeat)], {**os.environ, "DATABASE_URL": url}, tree)


def _cell(entry: dict | None) -> str:
    if entry is None:
        return "—"
    return "refused" if "error" in entry else f"{entry['seconds'] * 1000:8.0f} ms"


def report(by_size: dict[int, dict]) -> None:
    """A column per size; the ratio is the largest size's time against the next smaller one's (10M against 1M)."""
    sizes = sorted(by_size)
    large, small = sizes[-1], sizes[-2] if len(sizes) > 1 else sizes[-1]
    print(f"\n{'layer':<12}{'view':<14}" + "".join(f"{f'{size:,}':>14}" for size in sizes)
          + f"{'ratio':>8}{'features':>10}{'gzip kB':>10}")
    for key in by_size[sizes[0]]:
        layer, view = key.split("|")
        a, b = by_size[small].get(key), by_size[large].get(key)
        ratio = f"{b['seconds'] / a['seconds']:.2f}x" if a and b and "seconds" in a and "seconds" in b else "—"
        features = f"{b['features']:,}" if b and "features" in b else "—"
        kb = f"{b['gzip_bytes'] / 1024:.0f}" if b and "gzip_bytes" in b else "—"
        print(f"{layer:<12}{view:<14}" + "".join(f"{_cell(by_size[size].get(key)):>14}" for size in sizes)
              + f"{ratio:>8}{features:>10}{kb:>10}")
    refused = {k: v["error"] for v_by in by_size.values() for k, v in v_by.items() if "error" in v}
    for key, error in sorted(refused.items()):
        print(f"  {key.replace('|', ' at ')}: {error}")


def best(runs: list[dict]) -> dict:
    """Per layer and view, the fastest of several runs' medians: the one least disturbed by the machine's other work."""
    return {key: min((run[key] for run in runs), key=lambda entry: entry.get("seconds", float("inf"))) for key in runs[0]}


def report_against(size: int, baseline: dict, ours: dict) -> None:
    print(f"\n{f'{size:,} incidents':<26}{'baseline':>12}{'this':>12}{'ratio':>8}{'features':>10}{'gzip kB':>10}")
    for key, entry in ours.items():
        layer, view = key.split("|")
        a = baseline.get(key)
        ratio = f"{entry['seconds'] / a['seconds']:.2f}x" if a and "seconds" in a and "seconds" in entry else "—"
        features = f"{entry['features']:,}" if "features" in entry else "—"
        kb = f"{entry['gzip_bytes'] / 1024:.0f}" if "gzip_bytes" in entry else "—"
        print(f"{layer:<12}{view:<14}{_cell(a):>12}{_cell(entry):>12}{ratio:>8}{features:>10}{kb:>10}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.layers", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="incident counts, comma-separated")
    parser.add_argument("--repeat", type=int, default=5, help="runs per layer and view; the median is kept")
    parser.add_argument("--folder", type=Path, default=ROOT / "var" / "bench", help="where the clusters are kept")
    parser.add_argument("--against", type=Path, help="another checkout whose layers are the baseline, size by size")
    parser.add_argument("--rounds", type=int, default=2, help="with --against: alternate runs of each checkout")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.repeat)
        return
    if args.against:
        for size in sorted(int(s) for s in args.sizes.split(",")):
            folder = args.folder / f"layers-{size}"
            try:
                url = prepare(folder, size)
                runs = [(measure(url, args.repeat, args.against.resolve()), measure(url, args.repeat))
                        for _ in range(args.rounds)]
            finally:
                _shiyu(folder, "db", "down")
            report_against(size, best([a for a, _ in runs]), best([b for _, b in runs]))
        return
    by_size = {}
    for size in sorted(int(s) for s in args.sizes.split(",")):
        folder = args.folder / f"layers-{size}"
        try:
            by_size[size] = measure(prepare(folder, size), args.repeat)
        finally:
            _shiyu(folder, "db", "down")
    report(by_size)


if __name__ == "__main__":
    main(sys.argv[1:])
