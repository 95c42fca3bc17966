"""Settings, read from the environment once into one frozen object.

Every setting is declared once in ``SETTINGS`` with its default and help
text; ``shiyu --help`` and ``docs/`` show the same table.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from geodata.errors import InputError

# (environment variable, default, help)
SETTINGS: tuple[tuple[str, str, str], ...] = (
    ("DATABASE_URL", "", "Use this PostgreSQL/PostGIS database instead of the embedded one."),
    ("SHIYU_APP_DATABASE_URL", "", "The dashboard's database URL, as the role shiyu_app that row-level security holds to "
     "a scope (default: DATABASE_URL, or the embedded database, as shiyu_app without a password); docs/security.md."),
    ("SHIYU_AUTH", "on", "Dashboard logins: on, or off for local use only (every request is then an anonymous "
     "commander of SHIYU_SCOPE; never off on a network others reach)."),
    ("SHIYU_SCOPE", "", "With SHIYU_AUTH=off: the area path every dashboard request is scoped to (e.g. 330100.330106); "
     "empty: the whole database."),
    ("SHIYU_SECRET_KEY", "", "The key that signs dashboard session cookies; set it (e.g. `openssl rand -hex 32`): unset, "
     "each process draws its own, so sessions end when it restarts."),
    ("SHIYU_COOKIE_SECURE", "0", "1: the session cookie is sent over HTTPS only (set it when TLS is in front)."),
    ("SHIYU_SESSION_HOURS", "12", "How long a dashboard login lasts, in hours."),
    ("SHIYU_WALL_FRAME_ANCESTORS", "", "Origins that may show the wall (/wall) in a frame, separated by spaces (e.g. "
     "https://screens.example.gov.cn); empty: no page of the dashboard may be framed anywhere."),
    ("SHIYU_PROXIES", "0", "How many reverse proxies stand in front of the dashboard; their X-Forwarded-For and "
     "X-Forwarded-Proto are then trusted for the client's address (audit log) and scheme."),
    ("SHIYU_DATA_DIR", "var/pg", "Where the embedded PostGIS cluster lives (relative to the working directory)."),
    ("SHIYU_PG_BIN", "", "Directory of the PostgreSQL server binaries (default: the newest /usr/lib/postgresql/*/bin)."),
    ("SHIYU_STATEMENT_TIMEOUT_MS", "15000", "Longest any query of the dashboard may run, in milliseconds."),
    ("SHIYU_USER_CONCURRENCY", "8", "How many expensive requests (map callbacks, OGC API, tiles, exports) one user, or "
     "one address when anonymous, may have running at once in each server worker (a browser sends up to 6 at once); more are answered 429. "
     "A user runs one export at a time."),
    ("SHIYU_USER_RATE_PER_MIN", "240", "How many expensive requests one user (or anonymous address) may start per "
     "minute in each server worker, in bursts of up to a quarter of it (a tile counts a quarter); more are "
     "answered 429 with Retry-After."),
    ("SHIYU_HEAVY_AT_ONCE", "1", "How many large requests (a layer of more than about 10,000 hexagons, the whole city "
     "at r8 for one, or an export) each server worker runs at once; another waits up to a second for its turn and "
     "is then refused with a way to narrow it."),
    ("SHIYU_EXPORT_MAX_MB", "200", "The largest file an export may write, in megabytes: estimated before the work "
     "and checked as the file is written; a larger one is refused with a way to narrow it."),
    ("SHIYU_INTAKE_MAX_KB", "1024", "The largest body POST /api/v1/incidents takes, in KiB; a larger one is answered "
     "413 before it is read (docs/intake.md)."),
    ("SHIYU_INTAKE_WAIT_S", "2", "How long a post waits for the intake worker to apply it before it is answered 202 "
     "(queued) instead of 200 with its counts, in seconds."),
    ("SHIYU_INTAKE_MAX_REJECT_RATIO", "0.1", "A post with a larger share of rejected rows is refused whole (422), "
     "nothing written, as `shiyu load --max-reject-ratio`."),
    ("SHIYU_INTAKE_KEEP_DAYS", "30", "How many days an applied or refused post is kept (its counts for `shiyu feeds "
     "list` and GET /api/v1/posts/<id>); older ones are pruned daily by the intake worker and by `shiyu feeds prune`. "
     "The incidents they carried stay."),
    ("SHIYU_FEED_RATE_PER_MIN", "1200", "How many posts one feed may start per minute in each server worker, in bursts "
     "of up to a quarter of it; more are answered 429 with Retry-After."),
    ("SHIYU_INTAKE_WORKER", "on", "Whether `shiyu serve` runs the intake worker (a process of its own that the "
     "server keeps); off when a separate `shiyu intake` process (the Procfile's worker:) applies the queue."),
    ("SHIYU_ALERT_EVERY_S", "60", "How often the elected worker runs a pass of alert push (new early warnings, red "
     "lights and escalations to each area's webhooks, and the retries due), in seconds (docs/alerts.md)."),
    ("SHIYU_ALERT_TIMEOUT_S", "5", "The longest one webhook post may take to connect, and to answer, in seconds."),
    ("SHIYU_ALERT_ATTEMPTS", "6", "How many times a message is posted before it is given up (and audited as failed)."),
    ("SHIYU_ALERT_BACKOFF_S", "30", "The wait before a failed message's first retry, in seconds; it doubles at each "
     "further retry, up to an hour."),
    ("SHIYU_POOL_TIMEOUT_S", "5", "Longest a request waits for a database connection, in seconds."),
    ("SHIYU_CACHE_MB", "128", "Memory each server process keeps computed layers in, for the OGC API's pages (their "
     "GeoJSON, in MB; least recently used dropped first; a committed load makes every older one unreachable); 0: none kept."),
    ("SHIYU_TILE_URL", "", "Basemap tile URL template ({z}/{x}/{y}); empty: no basemap, boundaries only."),
    ("SHIYU_TILE_ATTRIBUTION", "", "Attribution shown for the basemap tiles."),
    ("SHIYU_LANG", "zh-CN", "Default UI language: zh-CN or en."),
    ("SHIYU_WALL_REFRESH_S", "30", "How often the command-centre wall (/wall) refreshes itself, in seconds."),
    ("SHIYU_LIVE_PROBE_S", "2", "How often the wall and the explore page ask whether new data has committed (a cheap "
                                "read of the data version), in seconds; they redraw only when it moved."),
    ("SHIYU_LIVE_MIN_REDRAW_S", "5", "The least time between two redraws the probe asks for, in seconds: under a steady "
                                     "feed a page redraws at most this often instead of at every probe."),
    ("SHIYU_LIVE_HEAVY_REDRAW_S", "30", "The least time between two redraws of the wall's costly parts (map, charts, "
                                        "early warnings, supervision) while data keeps arriving, in seconds; its live "
                                        "parts (headline numbers, latest reports, the pulse of new ones) follow "
                                        "SHIYU_LIVE_MIN_REDRAW_S."),
    ("SHIYU_STALE_AFTER_MIN", "60", "The wall warns that its data is stale when the newest load is older than this, in minutes."),
)


@dataclass(frozen=True)
class Settings:
    database_url: str
    app_database_url: str
    auth: bool
    scope: str
    secret_key: str
    cookie_secure: bool
    session_hours: float
    wall_frame_ancestors: str
    proxies: int
    data_dir: Path
    pg_bin: str
    statement_timeout_ms: int
    user_concurrency: int
    user_rate_per_min: float
    heavy_at_once: int
    export_max_mb: float
    intake_max_kb: float
    intake_wait_s: float
    intake_max_reject_ratio: float
    intake_keep_days: float
    feed_rate_per_min: float
    intake_worker: bool
    alert_every_s: float
    alert_timeout_s: float
    alert_attempts: int
    alert_backoff_s: float
    pool_timeout_s: float
    cache_mb: float
    tile_url: str
    tile_attribution: str
    lang: str
    wall_refresh_s: float
    live_probe_s: float
    live_min_redraw_s: float
    live_heavy_redraw_s: float
    stale_after_min: float


def _switch(name: str, value: str) -> bool:
    text = value.strip().lower()
    if text not in ("1", "on", "true", "yes", "0", "off", "false", "no"):
        raise InputError(f"{name} is on or off, not {value!r}")
    return text in ("1", "on", "true", "yes")


def _read(environ: dict[str, str] | os._Environ) -> Settings:
    value = {name: environ.get(name, default) for name, default, _ in SETTINGS}
    return Settings(
        database_url=value["DATABASE_URL"].strip(),
        app_database_url=value["SHIYU_APP_DATABASE_URL"].strip(),
        auth=_switch("SHIYU_AUTH", value["SHIYU_AUTH"]),
        scope=value["SHIYU_SCOPE"].strip(),
        secret_key=value["SHIYU_SECRET_KEY"].strip(),
        cookie_secure=_switch("SHIYU_COOKIE_SECURE", value["SHIYU_COOKIE_SECURE"]),
        session_hours=float(value["SHIYU_SESSION_HOURS"]),
        wall_frame_ancestors=" ".join(value["SHIYU_WALL_FRAME_ANCESTORS"].split()),
        proxies=int(value["SHIYU_PROXIES"]),
        data_dir=Path(value["SHIYU_DATA_DIR"]).expanduser().absolute(),
        pg_bin=value["SHIYU_PG_BIN"].strip(),
        statement_timeout_ms=int(value["SHIYU_STATEMENT_TIMEOUT_MS"]),
        user_concurrency=int(value["SHIYU_USER_CONCURRENCY"]),
        user_rate_per_min=float(value["SHIYU_USER_RATE_PER_MIN"]),
        heavy_at_once=int(value["SHIYU_HEAVY_AT_ONCE"]),
        export_max_mb=float(value["SHIYU_EXPORT_MAX_MB"]),
        intake_max_kb=float(value["SHIYU_INTAKE_MAX_KB"]),
        intake_wait_s=float(value["SHIYU_INTAKE_WAIT_S"]),
        intake_max_reject_ratio=float(value["SHIYU_INTAKE_MAX_REJECT_RATIO"]),
        intake_keep_days=float(value["SHIYU_INTAKE_KEEP_DAYS"]),
        feed_rate_per_min=float(value["SHIYU_FEED_RATE_PER_MIN"]),
        intake_worker=_switch("SHIYU_INTAKE_WORKER", value["SHIYU_INTAKE_WORKER"]),
        alert_every_s=float(value["SHIYU_ALERT_EVERY_S"]),
        alert_timeout_s=float(value["SHIYU_ALERT_TIMEOUT_S"]),
        alert_attempts=max(1, int(value["SHIYU_ALERT_ATTEMPTS"])),
        alert_backoff_s=float(value["SHIYU_ALERT_BACKOFF_S"]),
        pool_timeout_s=float(value["SHIYU_POOL_TIMEOUT_S"]),
        cache_mb=float(value["SHIYU_CACHE_MB"]),
        tile_url=value["SHIYU_TILE_URL"].strip(),
        tile_attribution=value["SHIYU_TILE_ATTRIBUTION"].strip(),
        lang=value["SHIYU_LANG"].strip() or "zh-CN",
        wall_refresh_s=float(value["SHIYU_WALL_REFRESH_S"]),
        live_probe_s=float(value["SHIYU_LIVE_PROBE_S"]),
        live_min_redraw_s=float(value["SHIYU_LIVE_MIN_REDRAW_S"]),
        live_heavy_redraw_s=float(value["SHIYU_LIVE_HEAVY_REDRAW_S"]),
        stale_after_min=float(value["SHIYU_STALE_AFTER_MIN"]),
    )


@lru_cache(maxsize=1)
def settings() -> Settings:
    """The process's settings, read on first use (never at import time)."""
    return _read(os.environ)


def reload() -> Settings:
    """Forget the cached settings (tests and the CLI change the environment)."""
    settings.cache_clear()
    return settings()
