"""Paging the OGC API's collections as QGIS does by default — 100 a page, following ``next`` to the end — with
the page cache and without it (every page computing the layer, as before issue 16), in the same run.

    python -m bench.ogc [--size 200000] [--folder var/bench] [--collections hotspots,hexes|all] [--limit 100]
                        [--against DIR] [--cached-only]

``--collections all --cached-only`` walks every collection as a planner adding them all in QGIS would (``--limit
100``, QGIS's page) or GDAL (``--limit 10``, GDAL 3.6's default page), the floor of issue 19 being 30 s a
collection and 60 s for the incidents at QGIS's page.

The demo city with ``--size`` incidents is kept in a cluster of its own under ``--folder/layers-SIZE``
(``bench.layers.prepare``: loaded once, then reused). In a child process per mode (``SHIYU_CACHE_MB=0``, then
the default), each collection is walked from its first page to its last through ``layers.ogc.items`` — in
process, as the owner, the whole city, the collection's default resolution — and the seconds, the pages and
the layer computations are printed, with the ratio of the first mode to the cached one. With ``--against DIR``
(another checkout, e.g. one from before the cache) the same walk runs with that checkout's code first. With
``DATABASE_URL`` set, that database is walked instead of the demo city's cluster. HTTP and serialising the pages
are left out: every mode pays them alike. It asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from bench.common import ROOT, Timer

MODULE = "bench.ogc"
MODES = {"every page computed (SHIYU_CACHE_MB=0)": "0", "one computation (cache)": None}


def _walk(collection_id: str, limit: int) -> dict:
    from geodata.scope import Scope
    from layers import ogc

    try:
        from layers.ogc.pages import PAGES
    except ImportError:  # a checkout from before the cache (--against)
        PAGES = None
    args, pages, features = {"limit": [str(limit)]}, 0, 0
    computed = PAGES.stats.computed if PAGES else 0
    with Timer() as timer:
        while args is not None:
            doc, _ = ogc.items(collection_id, args, Scope.everything(), "http://bench/ogc")
            pages, features = pages + 1, features + doc["numberReturned"]
            following = [link["href"] for link in doc["links"] if link["rel"] == "next"]
            args = parse_qs(urlsplit(following[0]).query) if following else None
    return {"seconds": round(timer.seconds, 2), "pages": pages, "features": features,
            "computed": PAGES.stats.computed - computed if PAGES else pages,
            "cached_mb": round(PAGES.bytes / 2**20, 1) if PAGES else None}


def child(collections: list[str], limit: int) -> None:
    print(json.dumps({c: _walk(c, limit) for c in collections}))


def _run(url: str, cache_mb: str | None, collections: list[str], limit: int, checkout: Path = ROOT) -> dict:
    env = {**os.environ, "DATABASE_URL": url}
    env.pop("SHIYU_CACHE_MB", None)
    if cache_mb is not None:
        env["SHIYU_CACHE_MB"] = cache_mb
    argv = ["--child", "--collections", ",".join(collections), "--limit", str(limit)]
    from bench.common import run_in_checkout  # the parent's: a child imports the checkout's bench.common

    return run_in_checkout(__file__, "ogc", argv, env, checkout)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog=f"python -m {MODULE}", description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=200_000, help="incidents of the demo city (default 200,000)")
    parser.add_argument("--folder", type=Path, default=ROOT / "var" / "bench", help="where the clusters are kept")
    parser.add_argument("--collections", default="hotspots,hexes",
                        help="comma-separated collection ids, or 'all' (every collection, as QGIS would add them)")
    parser.add_argument("--cached-only", action="store_true",
                        help="walk with the page cache only (skip every page computing its layer)")
    parser.add_argument("--limit", type=int, default=100, help="features per page (QGIS's default: 100)")
    parser.add_argument("--against", type=Path, help="another checkout to walk with first (e.g. main's)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    collections = [c.strip() for c in args.collections.split(",") if c.strip()]
    if collections == ["all"]:
        from layers.ogc import COLLECTIONS

        collections = list(COLLECTIONS)
    if args.child:
        child(collections, args.limit)
        return
    from bench.layers import prepare

    url = os.environ.get("DATABASE_URL") or prepare(args.folder / f"layers-{args.size}", args.size)
    results = {}
    if args.against:
        before = f"before ({args.against.name})"
        results[before] = _run(url, None, collections, args.limit, args.against.resolve())
    modes = {m: v for m, v in MODES.items() if v is None or not args.cached_only}
    results.update({mode: _run(url, cache_mb, collections, args.limit) for mode, cache_mb in modes.items()})
    fast = list(results.values())[-1]
    print(f"\n{args.limit} features a page, every page to the last; seconds (layer computations)")
    compared = len(results) > 1
    print(f"{'collection':<16} {'pages':>6} " + " ".join(f"{mode:>40}" for mode in results)
          + (f" {'first / cached':>15}" if compared else ""))
    for c in collections:
        cells = [f"{r[c]['seconds']:.2f} s ({r[c]['computed']})" for r in results.values()]
        ratio = list(results.values())[0][c]["seconds"] / max(fast[c]["seconds"], 1e-6)
        print(f"{c:<16} {fast[c]['pages']:>6} " + " ".join(f"{cell:>40}" for cell in cells)
              + (f" {ratio:>14.1f}x" if compared else ""))
    print("the cache held " + ", ".join(f"{fast[c]['cached_mb']} MB after {c}" for c in collections))


if __name__ == "__main__":
    main()
