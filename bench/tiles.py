"""Vector tiles over HTTP against a bare ``ST_AsMVT`` query on the same table, measured in the same run.

    python -m bench.tiles [--size 200000] [--folder var/bench] [--repeat 15]

The demo city with ``--size`` incidents is kept in a cluster of its own under ``--folder/layers-SIZE``
(``bench.layers.prepare``: loaded once, then reused). For tiles at zooms 10, 12, 14 and 16 around the
busiest cells, each tile is fetched ``--repeat`` times, interleaved, three ways:

- **bare**: a hand-written ``ST_AsMVT(ST_AsMVTGeom(...))`` of the same columns, box and cap, on one open
  connection as the owner (no row security, no filters, no pool, no HTTP), never prepared;
- **layer SQL**: ``layers.tiles``' own query and arguments, on that connection (what the filters and the
  scope clauses cost in the database);
- **endpoint**: ``GET /tiles/incidents/{z}/{x}/{y}.pbf`` from the dashboard under gunicorn as the Procfile
  runs it (``bench.served``, logins off), on a kept-alive connection, gzip accepted as a browser does, timed
  to the last byte received (a browser inflates natively as bytes arrive; requests' inflating in Python is
  left out, and the inflated tile is checked to equal the bare query's).

It prints the medians per tile, the ratio endpoint / bare (issue 8: at most 1.30 at the median) and the
tile's bytes raw and gzipped. It asserts nothing.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

from bench.common import ROOT, median

MODULE = "bench.tiles"
ZOOMS = (10, 12, 14, 16)

# The same features the endpoint draws (columns, box, cap, order), with nothing else: no filters, no scope.
BARE = """
SELECT ST_AsMVT(t, 'incidents', 4096, 'geom') FROM (
  SELECT source || ':' || external_id AS id, category, severity, status,
         to_char(reported_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD"T"HH24:MI:SS"+08:00"') AS reported_at,
         grid_code,
         ST_AsMVTGeom(ST_Transform(geom, 3857), ST_TileEnvelope(%(z)s, %(x)s, %(y)s), 4096, 64, true) AS geom
  FROM shiyu.incident
  WHERE geom && ST_Transform(ST_TileEnvelope(%(z)s, %(x)s, %(y)s, margin => 0.015625), 4326)
  ORDER BY incident.reported_at DESC, source, external_id
  LIMIT %(cap)s
) t
"""


def _tile_of(lon: float, lat: float, z: int) -> tuple[int, int, int]:
    n = 2**z
    return z, int((lon + 180) / 360 * n), int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)


def _tiles(conn) -> list[tuple[int, int, int]]:
    """Three tiles per zoom: over the busiest r8 cell, the second busiest, and one beside the first."""
    import h3

    cells = [r[0] for r in conn.execute("SELECT h3_r8 FROM shiyu.incident GROUP BY 1 ORDER BY count(*) DESC LIMIT 2")]
    places = [h3.cell_to_latlng(h3.int_to_str(c)) for c in cells]
    found = []
    for z in ZOOMS:
        first, second = (_tile_of(lng, lat, z) for lat, lng in places)
        beside = (z, first[1] + 1, first[2])
        found += list(dict.fromkeys((first, second, beside)))
    return found


def child(url: str, repeat: int) -> None:
    import psycopg
    import requests

    from bench.served import serve
    from geodata.scope import Scope
    from layers import tiles

    layer = tiles.LAYERS["incidents"]
    process, base = serve(url)
    results = []
    try:
        http = requests.Session()
        with psycopg.connect(url, autocommit=True) as conn:
            for z, x, y in _tiles(conn):
                sql, params = layer.query(tiles.Tile(z, x, y), layer.filters({}), Scope.everything())
                bare_params = {"z": z, "x": x, "y": y, "cap": layer.cap}
                # Past its cap a tile holds counts per H3 cell: "layer" is then the whole of tiles.tile in this
                # process (the cap's count, the cells' counts, their hexagons, ST_AsMVT), against the capped
                # subset of points it replaced ("bare").
                cells = conn.execute(tiles.INCIDENTS_OVER_CAP, params, prepare=False).fetchone()[0]
                path = f"{base}/tiles/incidents/{z}/{x}/{y}.pbf"
                times: dict[str, list[float]] = {"bare": [], "layer": [], "endpoint": []}
                for i in range(repeat + 1):  # the first round warms the caches and is dropped
                    start = time.perf_counter()
                    bare = conn.execute(BARE, bare_params, prepare=False).fetchone()[0] or b""
                    mid = time.perf_counter()
                    ours = tiles.tile("incidents", str(z), str(x), str(y), {}, Scope.everything()) if cells \
                        else conn.execute(sql, params, prepare=False).fetchone()[0] or b""
                    end = time.perf_counter()
                    response = http.get(path, headers={"Accept-Encoding": "gzip"}, timeout=60, stream=True)
                    sent = response.raw.read(decode_content=False)  # to the last byte, as it came over the wire
                    done = time.perf_counter()
                    if response.status_code != 200:
                        raise SystemExit(f"{path}: {response.status_code} {sent[:200]!r}")
                    body = gzip.decompress(sent) if response.headers.get("Content-Encoding") == "gzip" else sent
                    if i:
                        times["bare"].append(mid - start)
                        times["layer"].append(end - mid)
                        times["endpoint"].append(done - end)
                results.append({"tile": f"{z}/{x}/{y}", **{k: median(v) for k, v in times.items()},
                                "bytes": len(bytes(bare)), "gzip_bytes": len(sent),
                                "cells": bool(cells),
                                "same": bytes(ours) == body and (cells or bytes(bare) == body)})
    finally:
        process.terminate()
        process.wait(timeout=30)
    print(json.dumps(results))


def report(results: list[dict]) -> None:
    print(f"\n{'tile':<18}{'bare ms':>10}{'layer SQL':>11}{'endpoint':>10}{'ratio':>8}{'kB':>8}{'gzip kB':>9}  same"
          "  (cells: past the cap, counts per H3 cell against the capped points' bare query)")
    for r in results:
        print(f"{r['tile']:<18}{r['bare'] * 1000:>10.1f}{r['layer'] * 1000:>11.1f}{r['endpoint'] * 1000:>10.1f}"
              f"{r['endpoint'] / r['bare']:>7.2f}x{r['bytes'] / 1024:>8.0f}{r['gzip_bytes'] / 1024:>9.0f}  {r['same']}"
              + ("  cells" if r.get("cells") else ""))
    ratios = [r["endpoint"] / r["bare"] for r in results]
    print(f"\nmedian ratio endpoint / bare over {len(results)} tiles: {median(ratios):.2f}x "
          f"(issue 8: at most 1.30x); layer SQL / bare: {median([r['layer'] / r['bare'] for r in results]):.2f}x; "
          f"worst tile {max(ratios):.2f}x")
    for z in ZOOMS:
        at = [r for r in results if r["tile"].startswith(f"{z}/")]
        if at:
            print(f"  z{z}: bare {median([r['bare'] for r in at]) * 1000:.1f} ms, endpoint "
                  f"{median([r['endpoint'] for r in at]) * 1000:.1f} ms, ratio {median([r['endpoint'] / r['bare'] for r in at]):.2f}x")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.tiles", description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=200_000, help="incidents of the demo city to measure on")
    parser.add_argument("--repeat", type=int, default=15, help="fetches of each tile each way; the median is kept")
    parser.add_argument("--folder", type=Path, default=ROOT / "var" / "bench", help="where the clusters are kept")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(os.environ["DATABASE_URL"], args.repeat)
        return
    from bench.layers import _shiyu, prepare

    folder = args.folder / f"layers-{args.size}"
    try:
        url = prepare(folder, args.size)
        env = {**{k: v for k, v in os.environ.items() if k != "SHIYU_DATA_DIR"}, "DATABASE_URL": url}
        result = subprocess.run([sys.executable, "-m", MODULE, "--child", "--repeat", str(args.repeat)], env=env,
                                cwd=ROOT, capture_output=True, text=True)
        if result.returncode != 0:
            raise SystemExit(f"measuring failed:\n{result.stderr[-3000:]}")
        report(json.loads(result.stdout.strip().splitlines()[-1]))
    finally:
        _shiyu(folder, "db", "down")


if __name__ == "__main__":
    main(sys.argv[1:])
