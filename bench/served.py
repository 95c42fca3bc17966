"""The dashboard served for the benchmarks: the real app under gunicorn, as the Procfile runs it, with a
``Server-Timing`` header naming the layer calls and queries of each request (the dashboard code is untouched).
``bench.dashboard`` and ``bench.load`` share it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

from bench.common import ROOT

SERVER_LOG = ROOT / "var" / "bench-server.log"  # appended by every served bench run

# Layer calls timed inside the server: (module, attribute). The map's layers are timed through the registry.
TRACED = [("layers.areas", name) for name in ("boundaries", "build", "extent", "tiers")] + [
    ("layers.detail", name) for name in ("area_detail", "cell_detail", "area_chain", "area_children")] + [
    ("layers.panels", name) for name in ("data_as_of", "headline", "daily_trend", "category_breakdown",
                                          "latest_incidents")] + [
    ("layers.incidents", "page"), ("layers.hotspots", "build"), ("layers.coverage", "build"),
    ("layers.early_warning", "build"), ("dashboard.components.mapview", "tooltip"),
    ("dash._callback", "to_json")]  # tooltips: the map's Python per feature; to_json: Dash serialising the answer
# Modules whose queries are timed one by one, named by the constant that holds the SQL.
QUERIED = ("areas", "base", "coverage", "detail", "early_warning", "emerging", "facilities", "hexes", "hotspots",
           "incidents", "kpis", "panels", "tiles")


# ---- the server: the real app, with a Server-Timing header naming the layer calls of each request ----

_spans = threading.local()


def _timed(name: str, function):
    def timed(*args, **kwargs):
        start = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            spans = getattr(_spans, "by_name", None)
            if spans is not None:
                spans[name] = spans.get(name, 0.0) + time.perf_counter() - start
    return timed


def _timed_queries(module) -> None:
    """Time each ``fetch_all`` of ``module`` as ``sql:module.CONSTANT`` (``module.?`` for SQL composed at run time)."""
    names = {id(value): key for key, value in vars(module).items() if isinstance(value, str) and key.isupper()}
    fetch_all, short = module.fetch_all, module.__name__.rsplit(".", 1)[-1]

    def timed_fetch_all(query, *args, **kwargs):
        name = f"sql:{short}.{names.get(id(query), '?')}"
        return _timed(name, fetch_all)(query, *args, **kwargs)
    module.fetch_all = timed_fetch_all


def _with_server_timing(wsgi_app):
    """WSGI middleware (create_app has served a request already, so Flask takes no new hooks) adding the header."""
    def app(environ, start_response):
        _spans.by_name, start = {}, time.perf_counter()

        def start_timed(status, headers, exc_info=None):
            spans = {**_spans.by_name, "total": time.perf_counter() - start}
            timing = ", ".join(f"{k};dur={v * 1000:.1f}" for k, v in spans.items())
            return start_response(status, [*headers, ("Server-Timing", timing)], exc_info)
        return wsgi_app(environ, start_timed)
    return app


def traced_server():
    """The dashboard's Flask server, for ``gunicorn 'bench.served:traced_server()'``, timing its layer calls."""
    import importlib

    from dashboard.app import create_server
    from layers import base, registry

    for module_name, attribute in TRACED:
        module = importlib.import_module(module_name)
        name = f"{module_name.rsplit('.', 1)[-1].lstrip('_')}.{attribute}"
        setattr(module, attribute, _timed(name, getattr(module, attribute)))
    for module_name in QUERIED:
        _timed_queries(importlib.import_module(f"layers.{module_name}"))
    for layer, build in list(registry.LAYERS.items()):
        registry.LAYERS[layer] = _timed(f"layer.{layer}", build)
    base.LayerResult.geojson = _timed("geojson", base.LayerResult.geojson)
    server = create_server()
    server.wsgi_app = _with_server_timing(server.wsgi_app)
    return server


def serve(url: str, auth: bool = False):
    """gunicorn as the Procfile runs it, on a free port, against ``url``; (process, base URL) once it answers.

    Without ``auth`` logins are off (``SHIYU_AUTH=off``): the browser records and the replay measures the
    dashboard's own work. With it, clients must bring a token (``bench.load`` does, one per district's officer).
    """
    import requests

    from geodata.cluster import free_port

    port = free_port()
    env = {key: value for key, value in os.environ.items() if key != "SHIYU_DATA_DIR"}
    # The server's own lines (every refusal a heavy user meets is logged) go to a file, not over the bench's table.
    SERVER_LOG.parent.mkdir(parents=True, exist_ok=True)
    log = SERVER_LOG.open("ab")
    process = subprocess.Popen([sys.executable, "-m", "gunicorn", "--workers", "2", "--threads", "4", "--timeout", "60",
                                "--bind", f"127.0.0.1:{port}", "--log-level", "warning",
                                "bench.served:traced_server()"],
                               env={**env, "DATABASE_URL": url, "SHIYU_AUTH": "on" if auth else "off",
                                    "SHIYU_SECRET_KEY": "bench-" + os.urandom(16).hex()}, cwd=ROOT,
                               stdout=log, stderr=log)
    log.close()  # the child holds its own copy
    print(f"the server's log: {SERVER_LOG}", flush=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if requests.get(base + "/_dash-layout", timeout=5).status_code in (200, 401):  # 401: up, asking for a login
                for path in ("/", "/wall") * 6:  # both workers open their pools and draw each page
                    requests.get(base + path, timeout=60)
                return process, base
        except (requests.ConnectionError, requests.Timeout):  # not listening yet, or a first answer slow on a busy machine
            pass
        if process.poll() is not None:
            raise SystemExit("the dashboard did not start")
        time.sleep(0.5)
    process.terminate()
    raise SystemExit("the dashboard did not answer within 120 s")
