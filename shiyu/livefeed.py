"""The demo's simulated live feed, run beside the server: ``shiyu demo`` starts it, ``--no-feed`` does not.

:func:`start` registers the feed ``demo-live`` (a new token each run; the old
ones revoked) and starts ``python -m shiyu.livefeed`` with the token in its
environment, never on its command line. That process rebuilds the demo city
from the manifest (same seed, same places), continues the open cases an
earlier run left (``var/demo/live-feed.json``), and posts through the intake
API (:mod:`etl.democity.poster`) until the server stops: :func:`stop` ends
it, and it ends itself when its parent is gone.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

FEED = "demo-live"
TOKEN_ENV = "SHIYU_DEMO_FEED_TOKEN"
STATE_FILE = "live-feed.json"
DEFAULT_RATE = 30.0
MAX_RATE = 600.0


def rate(text: str) -> float:
    """argparse type of ``--feed-rate``: rows a minute, above 0 and at most :data:`MAX_RATE`."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"rows a minute, a number: not {text!r}") from None
    if not 0 < value <= MAX_RATE:
        raise argparse.ArgumentTypeError(f"rows a minute above 0 and at most {MAX_RATE:g}, not {text}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``shiyu demo``'s options for its feed."""
    parser.add_argument("--feed-rate", type=rate, default=DEFAULT_RATE, metavar="R",
                        help="the simulated live feed posts at most R rows a minute (new reports and status changes) "
                             f"through the intake API (default {DEFAULT_RATE:g})")
    parser.add_argument("--no-feed", action="store_true", help="serve without the simulated live feed")


def start(demo_dir: Path, host: str, port: int, rows_a_minute: float) -> subprocess.Popen | None:
    """Register the feed and start posting; None (and one line why) when it cannot run."""
    from geodata.errors import ShiyuError
    from geodata.text import one_line

    try:
        from geodata.feeds import add_feed
    except ImportError:
        print("live feed off: this build has no intake API (geodata.feeds)", flush=True)
        return None
    try:
        token = add_feed(FEED, "city", replace=True)
    except ShiyuError as error:
        print(f"live feed off: {one_line(error)}", flush=True)
        return None
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '', '::') else host}:{port}"
    command = [sys.executable, "-m", "shiyu.livefeed", "--url", url, "--rate", f"{rows_a_minute:g}",
               "--demo-dir", str(demo_dir), "--parent", str(os.getpid())]
    process = subprocess.Popen(command, env={**os.environ, TOKEN_ENV: token})
    print(f"live feed {FEED}: up to {rows_a_minute:g} rows a minute to {url}/api/v1/incidents "
          "(new reports and status changes; --feed-rate R sets it, --no-feed turns it off)", flush=True)
    return process


def stop(process: subprocess.Popen | None) -> None:
    """End the feed (it saves its open cases first)."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()


def _load_state(path: Path) -> list:
    from etl.democity.live import Case

    try:
        return [Case(**c) for c in json.loads(path.read_text(encoding="utf-8"))]
    except (OSError, ValueError, TypeError):
        return []  # no earlier run, or a file of another version: start afresh


def _save_state(path: Path, feed) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(feed.state(), ensure_ascii=False), encoding="utf-8")
    partial.replace(path)


def main(argv: list[str] | None = None) -> int:
    import numpy as np

    from etl import democity
    from etl.democity import poster
    from etl.democity.live import LiveCity
    from shiyu.stopping import stop_on

    parser = argparse.ArgumentParser(prog="python -m shiyu.livefeed", description="the demo's live feed")
    parser.add_argument("--url", required=True, help="the served dashboard, e.g. http://127.0.0.1:8050")
    parser.add_argument("--rate", type=rate, default=DEFAULT_RATE, help="rows a minute at most")
    parser.add_argument("--demo-dir", type=Path, required=True, help="where the demo city's manifest.json is")
    parser.add_argument("--parent", type=int, help="stop when this process is gone")
    args = parser.parse_args(argv)
    token = os.environ.pop(TOKEN_ENV, "")
    if not token:
        print(f"live feed off: {TOKEN_ENV} is unset", file=sys.stderr, flush=True)
        return 2
    halt = threading.Event()
    stop_on(halt, (signal.SIGTERM, signal.SIGINT))
    try:
        manifest = json.loads((args.demo_dir / "manifest.json").read_text(encoding="utf-8"))
        city = democity.build_city(manifest["seed"], manifest.get("grids_asked", 10_000))
        _, streets_of_neglect = democity.neglect(city)
        state = args.demo_dir / STATE_FILE
        feed = LiveCity(np.random.default_rng(), city.raster, city.city, streets_of_neglect, args.rate,
                        int(time.time()), _load_state(state))
        poster.run(feed, poster.http_poster(args.url, token), rate=args.rate, clock=time.time, sleep=halt.wait,
                   stop=lambda: halt.is_set() or (args.parent is not None and os.getppid() != args.parent),
                   log=lambda line: print(line, flush=True), save=lambda: _save_state(state, feed))
    except Exception as error:  # the demo's server goes on without its feed
        print(f"live feed stopped: {type(error).__name__}: {error}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
