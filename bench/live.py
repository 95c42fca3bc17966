"""What the live probe costs against what it saves: ``python -m bench.live [--probes N]``.

Against the configured database (``shiyu db up``, or ``DATABASE_URL``; the demo city or the sample), in this
process through the app's own request path (Flask's test client: access checks, limits, Dash, the callback), it
times the wall's probe (``dashboard/components/live.py``: the data's version, unchanged, answered 204) beside its
baseline, a bare ``data_version()``, and the two heavy callbacks the probe saves an idle wall from (the panels and
the map), then prints what an idle wall asks of the server per minute with the defaults. Prints; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from bench.common import ROOT  # noqa: F401  (puts the checkout first on the path, as the other benches)


def _body(app, output: str, values: dict, changed: str) -> dict:
    """A callback request for the callback whose outputs start with ``output``, filled from ``values``."""
    key = next(k for k in app.callback_map if k.strip(".").startswith(output))
    cb = app.callback_map[key]

    def item(dep):
        name = f"{dep['id']}.{dep['property']}"
        return {"id": dep["id"], "property": dep["property"], "value": values.get(name)}

    def out(text):
        component, prop = text.rsplit(".", 1)
        return {"id": component, "property": prop}

    outputs = [out(o) for o in key[2:-2].split("...")] if key.startswith("..") else out(key)
    return {"output": key, "outputs": outputs, "inputs": [item(i) for i in cb["inputs"]],
            "state": [item(s) for s in cb.get("state", [])], "changedPropIds": [changed]}


def _times(call, n: int) -> list[float]:
    out = []
    for _ in range(n):
        start = time.perf_counter()
        call()
        out.append((time.perf_counter() - start) * 1000)
    return out


def _line(name: str, ms: list[float], base: float | None = None) -> None:
    p50 = statistics.median(ms)
    p95 = sorted(ms)[max(0, int(len(ms) * 0.95) - 1)]
    ratio = f"  {p50 / base:8.1f}x the bare read" if base else ""
    print(f"{name:<34} n={len(ms):<4} p50 {p50:8.2f} ms  p95 {p95:8.2f} ms{ratio}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--probes", type=int, default=300, help="probe requests timed (default 300)")
    parser.add_argument("--heavy", type=int, default=5, help="heavy callback requests timed (default 5)")
    args = parser.parse_args(argv)
    os.environ.setdefault("SHIYU_AUTH", "off")
    os.environ.setdefault("SHIYU_USER_RATE_PER_MIN", "1000000")

    from dashboard.app import create_app
    from geodata.settings import settings
    from geodata.version import data_version

    app = create_app()
    client = app.server.test_client()
    assert client.get("/wall").status_code == 200  # Dash fills its callback map on the first request
    version = data_version()
    extent = [119.9, 30.1, 120.4, 30.45]
    values = {"wall-shown.data": version, "wall-changed.data": {"tick": 0, "version": None},
              "wall-interval.n_intervals": 1, "wall-probe.n_intervals": 1, "wall-lang.data": "zh-CN",
              "wall-extent.data": extent, "wall-vh.data": 10.8, "wall-last-good.data": None, "wall-since.data": None,
              "wall-map-hash.data": None}
    probe = _body(app, "wall-changed.data", values, "wall-probe.n_intervals")
    panels = _body(app, "wall-kpi-today.children", values, "wall-changed.data")
    drawn = _body(app, "wall-districts-layer.data", values, "wall-changed.data")

    def post(body, expect):
        response = client.post("/_dash-update-component", json=body)
        assert response.status_code == expect, (response.status_code, response.get_data(as_text=True)[:200])

    post(probe, 204), post(panels, 200), post(drawn, 200)  # warm: the pool, the layers' caches
    bare = _times(data_version, args.probes)
    _line("data_version() (baseline)", bare)
    base = statistics.median(bare)
    _line("wall probe, version unchanged", _times(lambda: post(probe, 204), args.probes), base)
    _line("wall panels (heavy)", _times(lambda: post(panels, 200), args.heavy), base)
    _line("wall map (heavy)", _times(lambda: post(drawn, 200), args.heavy), base)
    probe_s, refresh_s = max(settings().live_probe_s, 0.5), settings().wall_refresh_s
    print(f"an idle wall per minute: {60 / probe_s:.0f} probes, {2 * 60 / refresh_s:.0f} heavy requests "
          f"(the periodic refresh every {refresh_s:g} s); without the probe, new data would wait up to "
          f"{refresh_s:g} s, or a refresh every {probe_s:g} s would cost {2 * 60 / probe_s:.0f} heavy requests a minute")


if __name__ == "__main__":
    main()
