"""QGIS 3.22 itself adding every OGC collection of the demo city with its default paging (what the API definition's
``limit`` leads it to, following ``next`` to the end), logged in by a Basic authentication configuration, as a planner does.

    python -m bench.qgis [--size 200000] [--folder var/bench] [--collections incidents,hotspots]

The demo city with ``--size`` incidents is kept in a cluster of its own under ``--folder/layers-SIZE``
(``bench.layers.prepare``: loaded once, then reused) and served under gunicorn as the Procfile runs it, with
logins on (``bench.served``). Debian's PyQGIS (``/usr/bin/python3``, ``tests/qgis/probe.py``, headless) adds
each collection in turn with QGIS's defaults as the demo's admin, through a token in a Basic configuration, and
reads every feature; the seconds from adding a layer to its last feature are printed per collection, with the
features QGIS read, the page size's pages and issue 19's floor (every collection under 30 s, incidents under
60 s). A collection QGIS cannot open is printed as such, with QGIS's last message. It asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
from pathlib import Path

from bench.common import ROOT
from layers.ogc import DEFAULT_LIMIT, MAX_LIMIT

PROBE = ROOT / "tests" / "qgis" / "probe.py"
QGIS_PYTHON = "/usr/bin/python3"
# QGIS's OAPIF page size unless its connection sets another: min(max(1000, default), maximum) of the API
# definition's components/parameters/limit (layers/ogc/openapi.py), else 100.
QGIS_PAGE = min(max(1000, DEFAULT_LIMIT), MAX_LIMIT)
FLOOR_S = {"incidents": 60.0}
DEFAULT_FLOOR_S = 30.0


def _collections(base: str, token: str) -> list[str]:
    import requests

    doc = requests.get(f"{base}/ogc/collections", headers={"Authorization": f"Bearer {token}"}, timeout=120).json()
    return [c["id"] for c in doc["collections"]]


def measure(base: str, user: str, token: str, collections: list[str]) -> dict:
    auth_dir = tempfile.mkdtemp(prefix="bench-qgis-")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "QGIS_AUTH_DB_DIR_PATH": auth_dir, "HOME": auth_dir,
           "XDG_RUNTIME_DIR": auth_dir}
    env.pop("PYTHONPATH", None)
    spec = {"ogc": f"{base}/ogc", "user": user, "token": token, "layers": [{"id": c} for c in collections]}
    done = subprocess.run([QGIS_PYTHON, str(PROBE)], input=json.dumps(spec), capture_output=True, text=True,
                          env=env, timeout=7200)
    if done.returncode != 0:
        raise SystemExit(f"QGIS failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def report(result: dict) -> None:
    print(f"\nQGIS {result['qgis']}, its default paging ({QGIS_PAGE} a page), logged in by Basic\n")
    print(f"{'collection':<18}{'features':>10}{'pages':>8}{'seconds':>9}{'floor':>7}  ")
    for collection, layer in result["layers"].items():
        floor = FLOOR_S.get(collection, DEFAULT_FLOOR_S)
        if not layer.get("valid") or "seconds" not in layer:
            print(f"{collection:<18}{'does not open':>27}{floor:>7.0f}  {(result['log'] or ['?'])[-1][:120]}")
            continue
        pages = -(-layer["count"] // QGIS_PAGE) or 1
        verdict = "within" if layer["seconds"] <= floor else "OVER"
        print(f"{collection:<18}{layer['count']:>10,}{pages:>8,}{layer['seconds']:>9.1f}{floor:>7.0f}  {verdict}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.qgis", description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=200_000, help="incidents of the demo city to measure on")
    parser.add_argument("--folder", type=Path, default=ROOT / "var" / "bench", help="where the clusters are kept")
    parser.add_argument("--collections", help="comma-separated collection ids (default: every one)")
    args = parser.parse_args(argv)
    from bench.layers import _shiyu, prepare
    from bench.served import serve

    folder = args.folder / f"layers-{args.size}"
    try:
        url = prepare(folder, args.size)
        token = _shiyu(folder, "users", "token", "demo", "--label", "bench.qgis").splitlines()[-1].split()[-1]
        process, base = serve(url, auth=True)
        try:
            collections = args.collections.split(",") if args.collections else _collections(base, token)
            report(measure(base, "demo", token, collections))
        finally:
            process.terminate()
            process.wait(timeout=30)
    finally:
        _shiyu(folder, "db", "down")


if __name__ == "__main__":
    main()
