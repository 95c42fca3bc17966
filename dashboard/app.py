"""The Dash app. ``create_app()`` builds it; gunicorn serves ``create_server()``."""

from __future__ import annotations

import gc
from pathlib import Path

import dash

from dashboard import access, api, brief, downloads, failures, headers, intake, limits, open311_write, serialize, tiles

HERE = Path(__file__).resolve().parent


def create_app() -> dash.Dash:
    app = dash.Dash(
        __name__,
        use_pages=True,
        pages_folder=str(HERE / "pages"),
        assets_folder=str(HERE / "assets"),
        title="市域 Shiyu",
        update_title=None,
        suppress_callback_exceptions=True,
        serve_locally=True,
        # gzip (or brotli) for answers and scripts: a city-wide map is 1.7 MB of GeoJSON and about 0.35 MB gzipped.
        compress=True,
        # A callback that raises answers with one line and a 4xx or 5xx, its cause logged (dashboard/failures.py).
        on_error=failures.callback_failed,
    )
    app.layout = dash.page_container
    serialize.install()
    access.install(app)
    headers.install(app.server)
    failures.install(app)
    limits.install(app.server)  # after access: it counts per user
    api.install(app.server)
    intake.install(app.server)
    open311_write.install(app.server)
    tiles.install(app.server)
    downloads.install(app.server)
    brief.install(app.server)
    # Dash registers the scripts it may serve during its first request, and only one request does the work: the
    # others go on at once. A browser asks a fresh worker for a dozen scripts together, and the threads that did not
    # do the work refused theirs ("dash is not a registered library"). One request here, before the server takes
    # any, registers them in a single thread.
    app.server.test_client().get(app.config.requests_pathname_prefix)
    quiet_collector()
    return app


# A request's layers allocate tens of thousands of small objects (rows, features), so the cyclic collector ran
# full passes over everything Dash, plotly and the pages hold, mid-answer: 120 ms of the wall map's 460 ms at the
# default city. What start-up built is frozen out of every later pass, and passes come less often; cycles made
# by requests are still collected.
GC_THRESHOLDS = (50_000, 20, 20)


def quiet_collector() -> None:
    """Freeze what the process holds now out of later collections and make passes rarer (bench.layers too)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def create_server():
    """The Flask server, for ``gunicorn 'dashboard.app:create_server()'``."""
    return create_app().server
