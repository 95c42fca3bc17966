"""The ``shiyu`` command. Exit codes: 0 done, 1 refused or failed (nothing written), 2 usage error."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from geodata.errors import BatchRefused, ShiyuError
from geodata.settings import SETTINGS
from geodata.text import one_line
from shiyu import accounts, alerts, brief, feeds, livefeed, rank, supervise

PROGRESS_MIN_ROWS = 5000


def _cluster():
    from geodata.cluster import Cluster
    from geodata.settings import settings

    return Cluster(settings().data_dir, settings().pg_bin)


def _migrate(url: str | None = None) -> list[str]:
    from geodata import db
    from geodata.migrations import migrate

    with db.connect(url) as conn:
        return migrate(conn)


def _external_db() -> bool:
    from geodata.settings import settings

    return bool(settings().database_url)


def cmd_db(args: argparse.Namespace) -> int:
    from geodata import db

    if _external_db() and args.action in ("up", "down"):
        print(f"DATABASE_URL is set: using {db.describe(db.database_url())}; nothing to {'start' if args.action == 'up' else 'stop'}")
        if args.action == "up":
            applied = _migrate()
            print(f"migrations applied: {', '.join(applied) or 'none (up to date)'}")
        return 0
    cluster = _cluster()
    if args.action == "up":
        url, started = cluster.up()
        print(f"{'started' if started else 'already running'}: {url}")
        applied = _migrate(url)
        print(f"migrations applied: {', '.join(applied) or 'none (up to date)'}")
    elif args.action == "down":
        print("stopped" if cluster.down() else "not running")
    elif args.action == "status":
        if _external_db():
            with db.connect() as conn:
                version = conn.execute("SELECT postgis_full_version()").fetchone()[0].split(" ")[1]
            print(f"external database {db.describe(db.database_url())}: reachable, PostGIS {version}")
            return 0
        status = cluster.status()
        state = "running" if status.running else ("stopped" if status.exists else "not created")
        print(f"embedded database under {status.root}: {state}" + (f", {status.url}" if status.url and status.running else ""))
        return 0 if status.running else 1
    elif args.action == "url":
        print(db.database_url() if not args.tcp else cluster.url(tcp=True))
    elif args.action == "migrate":
        applied = _migrate()
        print(f"migrations applied: {', '.join(applied) or 'none (up to date)'}")
    return 0


def _print_summary(summary, as_json: bool) -> None:
    if as_json:
        print(json.dumps(summary.as_json(), ensure_ascii=False))
        return
    if summary.mapping:
        print("columns: " + ", ".join(f"{k} <- {v}" for k, v in summary.mapping.items()))
    print(f"{summary.status}: read {summary.read}, loaded {summary.loaded}, updated {summary.updated}, "
          f"unchanged {summary.unchanged}, rejected {summary.rejected}" + (f" (batch {summary.batch_id})" if summary.batch_id else ""))
    for note in summary.notes:
        print(f"note: {note}")
    if summary.reject_file:
        print(f"rejected rows and reasons: {summary.reject_file}")


def _progress_bar(enabled: bool):
    """A rich progress bar on stderr for long loads; None when silent (--json, or not a terminal)."""
    if not enabled or not sys.stderr.isatty():
        return None, None
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(TextColumn("loading"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), transient=True,
                   console=Console(stderr=True))
    task = bar.add_task("rows", total=None)

    def update(done: int, total: int) -> None:
        if total >= PROGRESS_MIN_ROWS:
            bar.start()
            bar.update(task, completed=done, total=total)

    return bar, update


def cmd_load(args: argparse.Namespace) -> int:
    from etl.columns import parse_field_options
    from etl.load import load_areas, load_facilities, load_incidents, load_patrols

    fields = parse_field_options(args.field)
    if args.parent_field:
        fields["parent_code"] = args.parent_field
    reject_file = Path(args.reject_file) if args.reject_file else None
    common = dict(source=args.source, fields=fields, crs=args.crs, encoding=args.encoding, layer=args.layer,
                  reject_file=reject_file, max_reject_ratio=args.max_reject_ratio, dry_run=args.dry_run)
    bar, progress = _progress_bar(not args.json)
    try:
        if args.kind == "areas":
            summary = load_areas(Path(args.file), tier=args.tier, **common)
        elif args.kind == "incidents":
            summary = load_incidents(Path(args.file), sheet=args.sheet, allow_other=args.allow_other, progress=progress, **common)
        elif args.kind == "facilities":
            summary = load_facilities(Path(args.file), sheet=args.sheet, progress=progress, **common)
        else:
            summary = load_patrols(Path(args.file), sheet=args.sheet, progress=progress, **common)
    except BatchRefused as refused:
        summary = getattr(refused, "summary", None)
        if summary is not None and args.json:
            print(json.dumps(summary.as_json(), ensure_ascii=False))
            return refused.exit_code
        raise
    finally:
        if bar is not None:
            bar.stop()
    _print_summary(summary, args.json)
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from etl.coverage import check_coverage
    from geodata import db

    with db.connect() as conn:
        report = check_coverage(conn, tolerance_m2=args.tolerance, patrol_window_days=args.patrol_days)
    if args.out:
        Path(args.out).write_text(json.dumps(report.problems_geojson(), ensure_ascii=False), encoding="utf-8")
    if args.json:
        print(json.dumps(report.as_json(), ensure_ascii=False, default=str))
    else:
        for problem in report.problems():
            print(f"{problem.check}: {problem.message}")
        for check, why in report.skipped.items():
            print(f"{check}: skipped ({why})")
        counts = ", ".join(f"{k} {v}" for k, v in report.counts.items())
        print(("coverage ok: " if report.ok else "coverage problems: ") + counts)
        if args.out:
            print(f"problem geometries: {args.out}")
    return 0 if report.ok else 1


SUFFIXES = {"gpkg": ".gpkg", "geojson": ".geojson", "shp": ".zip", "csv": ".zip"}
FORMAT_OF_SUFFIX = {".gpkg": "gpkg", ".geojson": "geojson", ".json": "geojson"}
FORMAT_NAMES = {"gpkg": "GeoPackage", "geojson": "GeoJSON", "shp": "Shapefile", "csv": "CSV"}


def _split(values: list[str] | None) -> tuple[str, ...]:
    return tuple(v.strip() for value in values or [] for v in value.split(",") if v.strip())


def cmd_export(args: argparse.Namespace) -> int:
    import getpass

    from geodata.errors import InputError
    from geodata.scope import Scope
    from layers.base import Filters, day_window
    from layers.export import export, finest_whole_tier, parse_day, parse_layers

    # The pool logs each failed connection attempt; a database that cannot be reached is reported once, below.
    logging.getLogger("psycopg.pool").setLevel(logging.ERROR)
    out = Path(args.output)
    fmt = args.format or FORMAT_OF_SUFFIX.get(out.suffix.lower())
    if fmt is None:
        raise InputError(f"say which format with --format ({', '.join(SUFFIXES)}); {out.name} does not tell")
    layers = parse_layers(args.layer)
    suffix = ".zip" if fmt == "geojson" and len(layers) > 1 else SUFFIXES[fmt]
    if out.suffix.lower() not in ({suffix, ".json"} if suffix == ".geojson" else {suffix}):
        what = "several GeoJSON layers come" if fmt == "geojson" else f"a {FORMAT_NAMES[fmt]} export comes"
        raise InputError(f"{what} as a {suffix} file" + (" with its sidecars" if suffix == ".zip" else "")
                         + f"; name the output …{suffix}")
    if not out.parent.is_dir():
        raise InputError(f"there is no folder {out.parent} to write {out.name} into")
    try:
        severities = tuple(int(s) for s in _split(args.severity))
    except ValueError:
        raise InputError(f"severities are 1 to 4, not {', '.join(args.severity)}") from None
    since, until = day_window(parse_day(args.since, "--since"), parse_day(args.until, "--until"))
    filters = Filters(res=args.res, tier=args.tier or "grid", area_code=args.area, since=since, until=until,
                      categories=_split(args.category), severities=severities, statuses=_split(args.status))
    if args.tier is None and "areas" in layers:
        tier, why = finest_whole_tier(filters, Scope.everything())
        filters = dataclasses.replace(filters, tier=tier)
        if why:
            print(f"areas: {why}, so the {tier} tier (--tier to choose one, --area to narrow)")
    file = export(layers, filters, Scope.everything(), fmt, args.crs, args.csv_geometry,
                  user_name=getpass.getuser(), remote_addr=None, via="cli")
    partial = out.with_name(out.name + ".partial")
    with file:
        shutil.copyfile(file.path, partial)  # copied from the temporary file, never held in memory
    partial.replace(out)  # a file at OUT is always whole
    counts = ", ".join(f"{layer} {n:,}" for layer, n in file.counts.items())
    print(f"wrote {out} ({FORMAT_NAMES[fmt]}, {file.metadata['crs']}, {file.size:,} bytes): {counts} features")
    return 0


def _shared_secret() -> None:
    """One session key for every worker of this server: gunicorn's workers would each draw their own."""
    import secrets

    from geodata.settings import reload, settings

    if settings().auth and not settings().secret_key:
        os.environ["SHIYU_SECRET_KEY"] = secrets.token_hex(32)
        reload()
        print("SHIYU_SECRET_KEY is unset: a random key signs this server's sessions; logins end when it stops",
              file=sys.stderr, flush=True)


class _IntakeProcess:
    """The intake worker as a process of its own beside ``shiyu serve``'s web workers, kept by gunicorn's master:
    started with them, started again (at most every ``RESTART_S``) when it ends while the server runs, stopped
    (SIGTERM: it folds what it applied, then ends) when the server stops, and ended by the kernel if the master
    dies. A process of its own rather than a thread in each web worker: a web worker that gunicorn kills (a
    request past its timeout) or that is restarted no longer takes the micro-batch in progress with it, and the
    web workers no longer each hold a connection asking for the worker lock. (It did not move the answer's p95:
    at 10M, 171/240/180 ms against 201/182/175 ms as threads, bench.intake, three runs each.)"""

    RESTART_S = 5.0
    STOP_S = 30.0

    def __init__(self):
        self.process: subprocess.Popen | None = None
        self.started = float("-inf")

    def keep(self, log) -> None:
        """Start the worker when it is not running (and its last start is ``RESTART_S`` old)."""
        if self.process is not None and self.process.poll() is None:
            return
        if self.process is not None:  # the master may have reaped it: its code is then unknown (0)
            log.warning("shiyu serve: the intake worker (pid %s) ended; starting another", self.process.pid)
            self.process = None
        if time.monotonic() - self.started < self.RESTART_S:
            return
        self.started = time.monotonic()
        self.process = subprocess.Popen([sys.executable, "-m", "shiyu", "intake", "--quiet"],
                                        preexec_fn=_end_with_parent, stdin=subprocess.DEVNULL)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=self.STOP_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


def _end_with_parent() -> None:
    """In the intake worker's process before it runs: SIGTERM to it when the process that started it dies (Linux's
    PR_SET_PDEATHSIG), so a master killed -9 leaves no worker behind."""
    import ctypes
    import signal

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1: PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve the dashboard under gunicorn, as the Procfile does; each worker builds its own app and pool."""
    from gunicorn.app.base import BaseApplication
    from gunicorn.arbiter import Arbiter

    from geodata.settings import settings

    _shared_secret()
    intake = _IntakeProcess() if settings().intake_worker else None

    class Master(Arbiter):
        def manage_workers(self) -> None:
            super().manage_workers()
            if intake is not None:
                intake.keep(self.log)

        def stop(self, graceful: bool = True) -> None:
            super().stop(graceful)
            if intake is not None:
                intake.stop()

    class Server(BaseApplication):
        def load_config(self) -> None:
            for key, value in {"bind": f"{args.host}:{args.port}", "workers": args.workers, "threads": 4,
                               "timeout": 60, "loglevel": "warning"}.items():
                self.cfg.set(key, value)

        def load(self):
            from dashboard.app import create_server

            return create_server()

        def run(self) -> None:  # BaseApplication.run, with the master that keeps the intake worker
            try:
                Master(self).run()
            except RuntimeError as error:
                print(f"\nError: {error}\n", file=sys.stderr, flush=True)
                sys.exit(1)

    print(f"Shiyu dashboard on http://{args.host}:{args.port}/  (Ctrl-C stops it)", flush=True)
    Server().run()
    return 0


def _load_demo_file(demo_file, rejects_dir: Path, progress):
    """Load one generated file through the same public loader an operator would use."""
    from etl import load

    loader = {"areas": load.load_areas, "incidents": load.load_incidents,
              "facilities": load.load_facilities, "patrols": load.load_patrols}[demo_file.kind]
    options = dict(demo_file.options)
    if demo_file.kind != "areas":
        options["progress"] = progress
    return loader(demo_file.path, reject_file=rejects_dir / f"{demo_file.path.stem}.rejects.csv", **options)


def _demo_now(manifest: Path, seed: int, incidents: int):
    """The demo's "now": today's earlier run's, so a re-run regenerates the same files and loads nothing new."""
    from datetime import datetime, timezone
    from zoneinfo import ZoneInfo

    beijing = ZoneInfo("Asia/Shanghai")
    now = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    try:
        earlier = json.loads(manifest.read_text(encoding="utf-8"))
        then = datetime.fromisoformat(earlier["now"])
        rows = sum(feed["rows"] for feed in earlier["incidents"].values())
    except (OSError, ValueError, KeyError, TypeError):
        return now
    same_day = then.astimezone(beijing).date() == now.astimezone(beijing).date()
    return then if same_day and earlier.get("seed") == seed and rows == incidents else now


def _demo_login(args: argparse.Namespace) -> None:
    """The demo's admin ``demo``, created once, with a new random password each run (only its hash is kept)."""
    import secrets

    from geodata import users
    from geodata.errors import ShiyuError as Refused
    from geodata.settings import settings

    if not settings().auth:
        print("SHIYU_AUTH=off: no login needed", flush=True)
        return
    password = secrets.token_urlsafe(12)
    try:
        users.add_user("demo", "admin", "city", password=password)
    except Refused:
        users.set_password("demo", password)
    print(f"log in at http://{args.host}:{args.port}/login as demo, password {password}", flush=True)


def cmd_demo(args: argparse.Namespace) -> int:
    """Start the database, generate the demo city as the files a city would hand over, load them, serve (with a live feed)."""
    import time

    from etl.democity import generate
    from geodata.settings import settings

    started_at = time.perf_counter()
    if _external_db():
        applied = _migrate()
    else:
        url, started = _cluster().up()
        print(f"database {'started' if started else 'already running'}: {url}")
        applied = _migrate(url)
    print(f"migrations applied: {', '.join(applied) or 'none (up to date)'}")
    var = settings().data_dir.parent
    step = lambda name, seconds: print(f"  generated {name} in {seconds:.1f} s", flush=True)  # noqa: E731
    t = time.perf_counter()
    now = _demo_now(var / "demo" / "manifest.json", args.seed, args.incidents)
    files = generate(var / "demo", seed=args.seed, incidents=args.incidents, now=now, progress=step)
    print(f"demo city written to {var / 'demo'} in {time.perf_counter() - t:.1f} s", flush=True)
    bar, progress = _progress_bar(True)
    try:
        for demo_file in files:
            t = time.perf_counter()
            summary = _load_demo_file(demo_file, var / "rejects", progress)
            if bar is not None:
                bar.stop()
            print(f"{demo_file.kind} {demo_file.path.name} ({time.perf_counter() - t:.1f} s)", flush=True)
            _print_summary(summary, False)
    finally:
        if bar is not None:
            bar.stop()
    print(f"demo ready in {time.perf_counter() - started_at:.0f} s", flush=True)
    _demo_login(args)
    if args.no_serve:
        return 0
    feed = None if args.no_feed else livefeed.start(var / "demo", args.host, args.port, args.feed_rate)
    try:
        return cmd_serve(args)
    finally:
        livefeed.stop(feed)


def build_parser() -> argparse.ArgumentParser:
    settings_help = "\n".join(f"  {name:<28} {help_} (default: {default or 'unset'})" for name, default, help_ in SETTINGS)
    parser = argparse.ArgumentParser(
        prog="shiyu", description="Shiyu 市域: the spatial governance dashboard for grid management.",
        epilog="environment:\n" + settings_help + "\n\nexit codes: 0 done, 1 refused or failed (nothing written), 2 usage error",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("db", help="the embedded PostGIS database (or the one DATABASE_URL names)")
    p.add_argument("action", choices=["up", "down", "status", "url", "migrate"],
                   help="up: create/start and migrate; down: stop; status; url: print the connection URL; migrate")
    p.add_argument("--tcp", action="store_true", help="with url: the TCP URL with password, for QGIS and psql -h")
    p.set_defaults(func=cmd_db)

    p = sub.add_parser("load", help="validate a file and load it in one transaction")
    p.add_argument("kind", choices=["areas", "incidents", "facilities", "patrols"], help="what the file holds")
    p.add_argument("file", help="CSV/TXT, XLSX, GeoJSON, GeoPackage, Shapefile (.shp or zipped)")
    p.add_argument("--tier", choices=["city", "district", "street", "community", "grid"], help="areas: the tier they are")
    p.add_argument("--crs", help="input coordinate system: wgs84, cgcs2000, gcj02, bd09 or EPSG:n (default wgs84 / the file's own)")
    p.add_argument("--encoding", default="auto", help="text encoding: auto (UTF-8 with or without BOM, else GBK/GB18030), utf-8, gbk, …")
    p.add_argument("--layer", help="the layer of a GeoPackage, or the shapefile inside a zip, to read")
    p.add_argument("--sheet", help="incidents in a workbook: the sheet (name or 0-based number; default the first)")
    p.add_argument("--parent-field", help="areas: the property holding each area's parent code (default: by containment)")
    p.add_argument("--source", help="name of the feed; ids are unique per source (default: the file name)")
    p.add_argument("--field", action="append", metavar="CANONICAL=COLUMN", help="which column holds a field, e.g. lon=经度")
    p.add_argument("--reject-file", help="where to write rejected rows (default: FILE.rejects.csv beside the input)")
    p.add_argument("--max-reject-ratio", type=float, default=0.1, help="refuse the batch when more rows than this are rejected")
    p.add_argument("--allow-other", action="store_true", help="load unknown categories as 'other' instead of rejecting them")
    p.add_argument("--dry-run", action="store_true", help="validate and write the reject file, load nothing")
    p.add_argument("--json", action="store_true", help="print one JSON object: batch_id, read, loaded, updated, unchanged, rejected, reject_file")
    p.set_defaults(func=cmd_load)

    p = sub.add_parser("check", help="check the loaded data")
    p.add_argument("what", choices=["coverage"], help="coverage: gaps, overlaps, areas outside their parent, grids without owner or patrol")
    p.add_argument("--tolerance", type=float, default=1.0, help="ignore gaps and overlaps smaller than this many m² (default 1)")
    p.add_argument("--patrol-days", type=int, default=7, help="a grid without a patrol ping in this many days is reported (default 7)")
    p.add_argument("--out", help="write the problem geometries to this GeoJSON file")
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("export", help="write layers, filtered, to a GeoPackage, GeoJSON, zipped Shapefile or CSV file",
                       description="Write layers, filtered, to a file QGIS and GDAL open. Every export is recorded "
                                   "in the audit log; reporter names and phones are never exported.")
    p.add_argument("layer", nargs="+", metavar="LAYER",
                   help="areas, hexes, hotspots, emerging, coverage, facilities, warnings or supervision; several (repeated or "
                        "comma-separated) go into one file")
    p.add_argument("-o", "--output", required=True, metavar="FILE",
                   help="the file to write: .gpkg, .geojson, or .zip (Shapefile, CSV, several GeoJSON layers)")
    p.add_argument("--format", choices=list(SUFFIXES), help="gpkg, geojson, shp or csv (default: from FILE's suffix)")
    p.add_argument("--crs", default="wgs84",
                   help="coordinates: wgs84 (default), cgcs2000 (EPSG:4490), EPSG:n such as EPSG:4549, or gcj02 for "
                        "Amap-based systems (labelled EPSG:4326, noted in the metadata)")
    p.add_argument("--tier", choices=["city", "district", "street", "community", "grid"],
                   help="areas: the tier to export (default: the finest one file holds whole, grid when --area "
                        "narrows it enough)")
    p.add_argument("--res", type=int, default=8, choices=[7, 8, 9, 10], help="H3 resolution of hexagon layers (default 8)")
    p.add_argument("--area", metavar="CODE", help="only this area (a district, street, … code) and what lies in it")
    p.add_argument("--since", metavar="YYYY-MM-DD", help="incidents reported from this Beijing day on")
    p.add_argument("--until", metavar="YYYY-MM-DD", help="incidents reported up to and including this Beijing day")
    p.add_argument("--category", action="append", metavar="C", help="only these categories (repeat or comma-separate), e.g. dispute,fire_safety")
    p.add_argument("--severity", action="append", metavar="N", help="only these severities 1-4 (repeat or comma-separate)")
    p.add_argument("--status", action="append", metavar="S", help="only these statuses (repeat or comma-separate), e.g. reported,dispatched")
    p.add_argument("--csv-geometry", choices=["wkt", "lonlat"], default="wkt",
                   help="CSV: a WKT column (default), or X/Y columns of each point (for a cell or grid, a point inside it)")
    p.set_defaults(func=cmd_export)

    accounts.add_parsers(sub)
    feeds.add_parsers(sub)
    supervise.add_parsers(sub)
    alerts.add_parsers(sub)
    brief.add_parsers(sub)
    rank.add_parsers(sub)

    for name, func, help_ in (("serve", cmd_serve, "serve the dashboard"),
                              ("demo", cmd_demo, "start the database, generate and load the demo city, serve the dashboard")):
        p = sub.add_parser(name, help=help_)
        p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
        p.add_argument("--port", type=int, default=int(os.environ.get("PORT", 8050)), help="port (default 8050 or $PORT)")
        p.add_argument("--workers", type=int, default=2, help="gunicorn worker processes (default 2)")
        if name == "demo":
            p.add_argument("--no-serve", action="store_true", help="load the demo city and stop")
            p.add_argument("--incidents", type=int, default=200_000, help="incidents to generate (default 200,000; up to 10,000,000)")
            p.add_argument("--seed", type=int, default=20261122, help="the generator's seed (same seed, same city)")
            livefeed.add_arguments(p)
        p.set_defaults(func=func)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=os.environ.get("SHIYU_LOG_LEVEL", "WARNING"), format="%(levelname)s %(name)s: %(message)s")
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # `shiyu export areas --tier district hotspots`: argparse takes only the first run of a list of positionals,
    # so layers named after an option come back here; anything else left over is the usage error it always was.
    if extra and getattr(args, "func", None) is cmd_export and not any(word.startswith("-") for word in extra):
        args.layer += extra
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return args.func(args)
    except ShiyuError as error:
        print(f"shiyu: {one_line(error)}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("shiyu: interrupted; nothing of the running batch was written", file=sys.stderr)
        return 130
    except Exception as error:  # a bug: say so in one line; SHIYU_DEBUG=1 shows the traceback
        if os.environ.get("SHIYU_DEBUG"):
            raise
        logging.getLogger("shiyu").debug("unexpected error", exc_info=True)
        print(f"shiyu: unexpected error ({type(error).__name__}: {one_line(error, 100)}); "
              "nothing of the running batch was written; run again with SHIYU_DEBUG=1 for details", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
