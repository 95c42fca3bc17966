"""Live intake under load: N concurrent posters for D seconds against ``shiyu serve`` (gunicorn, with its intake
worker) on the database at hand (the demo city: ``DATABASE_URL``, or the embedded one under ``var/pg``).

Each poster sends small batches (1-50 rows) of new reports and status changes of reports it posted before, as a
city platform would, at its share of ``--rate`` rows a second (the posts are offered at the platforms' pace, not
sent again the moment one is answered, so the answer time is measured at a known load). Prints accepted rows/s, failed requests, the answer time's p50/p95/p99, the end-to-end
delay's p50/p95 (post answered -> the post's first new report found by the incident card's query, run as
``shiyu_app``), the queue left, and a recount check of every incident cube. Asserts nothing.

With ``--walls N`` (default 1) N real walls (Debian's Chromium, headless, ``/wall`` with its live probe) refresh
beside the posters, as a command centre's would: the posts move the data's version, so each wall redraws its
panels and map every ``SHIYU_LIVE_MIN_REDRAW_S`` seconds. It prints how many redraws each part made and their
answer times. The walls' browsers run at the lowest CPU priority (``nice 19``): on a real wall they run on other
machines; their requests are the same.

    python -m bench.intake --posters 3 --seconds 60 --rate 250 --walls 1
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

import requests

from bench.common import ROOT, percentile
from layers.base import BEIJING

CATEGORIES = ("治安", "消防", "矛盾纠纷", "交通安全", "城市管理", "食药安全", "公共卫生")
CHAIN = ("立案", "派遣", "处置中", "核查", "结案")
# Points to post beside, from a sample of the table's pages (ORDER BY random() sorts all 10M rows first).
POINTS = """SELECT ST_X(geom), ST_Y(geom) FROM shiyu.incident
            TABLESAMPLE SYSTEM (least(100, 100 * 20000 / greatest(1, (SELECT reltuples FROM pg_class
                                                                   WHERE oid = 'shiyu.incident'::regclass))))
            WHERE grid_code IS NOT NULL LIMIT 2000"""


def _serve(url: str, workers: int) -> tuple[subprocess.Popen, str]:
    from geodata.cluster import free_port

    port = free_port()
    env = {**os.environ, "DATABASE_URL": url, "SHIYU_AUTH": "off", "SHIYU_FEED_RATE_PER_MIN": "1000000"}
    process = subprocess.Popen([sys.executable, "-m", "shiyu", "serve", "--port", str(port), "--workers", str(workers)],
                               env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            requests.get(base + "/login", timeout=30)  # a fresh worker's first answer is slow on a busy machine
            return process, base
        except requests.RequestException:
            time.sleep(0.5)
    process.terminate()
    raise SystemExit("shiyu serve did not answer within 180 s")


class Poster(threading.Thread):
    def __init__(self, n: int, base: str, token: str, points: list, until: float, seen: "Seen", rate: float = 0):
        super().__init__(daemon=True)
        self.n, self.base, self.points, self.until, self.seen = n, base, points, until, seen
        self.rate = rate  # rows a second this poster offers (0: as fast as it is answered)
        self.session = requests.Session()
        self.session.headers.update({"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        self.rng = random.Random(f"{n}-{time.time_ns()}")  # new ids each run: a rerun posts new reports
        self.open: dict[str, dict] = {}  # posted reports not yet closed
        self.times: list[float] = []
        self.accepted = self.failed = self.statuses = self.queued = 0

    def _batch(self) -> tuple[list[dict], list[str]]:
        rows, new = [], []
        now = datetime.now(BEIJING)  # the feed writes Beijing time, as the loader reads a time without an offset
        for _ in range(self.rng.randint(1, 50)):
            if self.open and self.rng.random() < 0.4:
                key = self.rng.choice(list(self.open))
                row = self.open[key]
                step = CHAIN.index(row["status"]) + 1 if row["status"] in CHAIN else 0
                if any(r["id"] == key for r in rows):
                    continue
                row = {**row, "status": CHAIN[step]}
                if CHAIN[step] == "结案":
                    row["resolved_at"] = f"{now:%Y-%m-%d %H:%M:%S}"
                    del self.open[key]
                else:
                    self.open[key] = row
                rows.append(row)
            else:
                lon, lat = self.rng.choice(self.points)
                key = f"B{self.n}-{len(self.open)}-{self.rng.getrandbits(40):x}"
                row = {"id": key, "category": self.rng.choice(CATEGORIES), "reported_at": f"{now:%Y-%m-%d %H:%M:%S}",
                       "lon": round(lon + self.rng.uniform(-2e-4, 2e-4), 6),
                       "lat": round(lat + self.rng.uniform(-2e-4, 2e-4), 6), "status": "上报"}
                self.open[key] = row
                rows.append(row)
                new.append(key)
        return rows, new

    def run(self) -> None:
        due = time.monotonic() + self.rng.uniform(0, 0.5)  # the posters do not start in step
        while time.monotonic() < self.until:
            if self.rate:
                time.sleep(max(0.0, due - time.monotonic()))
            rows, new = self._batch()
            due = max(due, time.monotonic() - 1.0) + len(rows) / self.rate if self.rate else 0
            start = time.perf_counter()
            try:
                answer = self.session.post(f"{self.base}/api/v1/incidents", json=rows, timeout=30)
            except requests.RequestException:
                self.failed += 1
                continue
            self.times.append(time.perf_counter() - start)
            if answer.status_code in (200, 202):
                self.queued += answer.status_code == 202
                self.accepted += len(rows) - answer.json()["rejected"]
                self.statuses += len(rows) - len(new)
                self.seen.expect(new, time.monotonic())
            else:
                self.failed += 1


class Seen(threading.Thread):
    """Looks up the first new report of each post through the incident card's query (``layers.supervision_reads
    .incident_card``: what an officer's click on the report shows), as shiyu_app under row-level security, until it
    is there, and times it from the post's answer. One report a post: a sample that every post rate can keep up with."""

    def __init__(self, until: float):
        super().__init__(daemon=True)
        self.until, self.lock = until, threading.Lock()
        self.waiting: dict[str, float] = {}
        self.delays: list[float] = []
        self.lost = 0

    def expect(self, ids: list[str], answered: float) -> None:
        if ids:
            with self.lock:
                self.waiting[f"bench-intake:{ids[0]}"] = answered

    def run(self) -> None:
        from geodata import db
        from geodata.errors import InputError
        from geodata.scope import Scope
        from layers.supervision_reads import incident_card

        everything = Scope.everything()
        while time.monotonic() < self.until or self.waiting:
            with self.lock:
                pending = sorted(self.waiting.items(), key=lambda item: item[1])[:50]
            for key, answered in pending:
                try:
                    with db.scoped(everything):
                        incident_card(key, everything)
                except InputError:  # not there yet
                    if time.monotonic() - answered > 60:
                        with self.lock:
                            self.waiting.pop(key, None)
                            self.lost += 1
                    continue
                seen = time.monotonic()
                with self.lock:
                    self.waiting.pop(key, None)
                    self.delays.append(max(0.0, seen - answered))
            time.sleep(0.05)


WALL_PARTS = (("wall-kpi-today", "panels"), ("wall-districts-layer", "map"), ("wall-changed", "probe"))  # by output


class Walls(threading.Thread):
    """N headless Chromium pages showing /wall; the answer time of every callback they send, by part."""

    def __init__(self, n: int, base: str, until: float):
        super().__init__(daemon=True)
        self.n, self.base, self.until = n, base, until
        self.times: dict[str, list[float]] = {part: [] for _, part in WALL_PARTS}
        self.failed, self.ready = 0, threading.Event()
        self.error: str | None = None

    def _finished(self, request) -> None:
        if not request.url.split("?")[0].endswith("/_dash-update-component"):
            return
        try:
            output = json.loads(request.post_data or "{}").get("output", "")
        except ValueError:
            return
        part = next((p for key, p in WALL_PARTS if key in output), None)
        if part is None:
            return
        response = request.response()
        if response is None or response.status >= 400:
            self.failed += 1
        elif response.status == 200:  # 204: the probe found the version unchanged
            self.times[part].append(request.timing["responseEnd"] / 1000)

    def run(self) -> None:
        from playwright.sync_api import sync_playwright

        from bench.dashboard import CHROMIUM, CHROMIUM_ARGS, USABLE

        try:
            with sync_playwright() as p:
                # The walls' browsers run at the lowest priority: on a real wall they run on other machines, and
                # here their drawing would otherwise take the server's cores (the requests they send are the same).
                # Playwright starts the browser in a session of its own, which the kernel schedules as a group of
                # its own (sched_autogroup), weighed against the database's and the server's groups by the group's
                # nice, not its processes': so the group's nice is set too, else `nice` alone changes nothing.
                with tempfile.TemporaryDirectory() as folder:
                    nice = Path(folder) / "chromium"
                    nice.write_text("#!/bin/sh\n[ \"$(ps -o sid= -p $$)\" -eq $$ ] && echo 19 > /proc/self/autogroup "
                                    f'2>/dev/null\nexec nice -n 19 {CHROMIUM} "$@"\n')
                    nice.chmod(0o755)
                    browser = p.chromium.launch(executable_path=str(nice), args=CHROMIUM_ARGS, headless=True)
                pages = []
                for _ in range(self.n):
                    page = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="zh-CN").new_page()
                    page.goto(self.base + "/wall")
                    page.wait_for_function(USABLE["/wall"], timeout=120_000)
                    page.on("requestfinished", self._finished)
                    page.on("requestfailed", lambda request: setattr(self, "failed", self.failed + 1))
                    pages.append(page)
                self.ready.set()
                while time.monotonic() < self.until:
                    pages[0].wait_for_timeout(200)  # lets Playwright deliver the pages' events
                browser.close()
        except Exception as error:  # the bench reports what stopped its walls rather than dying with them
            self.error = f"{type(error).__name__}: {error}"
            self.ready.set()


def _fold_lag(first_post: int) -> tuple[float, float]:
    """p50 and p95 seconds from a post's commit (answered) to its micro-batch's fold into the cubes, of the posts
    from ``first_post`` on."""
    from geodata import db

    with db.connect() as conn:
        return conn.execute("""
            SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY s), percentile_cont(0.95) WITHIN GROUP (ORDER BY s)
            FROM (SELECT extract(epoch FROM b.finished_at - p.applied_at) AS s FROM shiyu.intake_post p
                  JOIN shiyu.load_batch b ON b.id = p.batch_id WHERE p.id >= %s) t""", (first_post,)).fetchone()


def _recount() -> dict[str, int]:
    """Rows by which each cube differs from its recount from the incidents (0 everywhere: in step)."""
    from geodata import db
    from tests.etl.test_incident_cubes import GRID_WEEKS_VS_RECOUNT, STREETS_VS_RECOUNT
    from tests.etl.test_incident_day import DAY_VS_RAW
    from tests.etl.test_incident_week import CELLS_VS_RAW, CUBE_VS_RAW
    from tests.geodata.test_rollups import CELL_R7_VS_RAW, DAY_R7_VS_RAW

    checks = {"week": CUBE_VS_RAW, "cell": CELLS_VS_RAW, "day": DAY_VS_RAW, "street": STREETS_VS_RECOUNT,
              "day_r7": DAY_R7_VS_RAW, "cell_r7": CELL_R7_VS_RAW, "grid_week": GRID_WEEKS_VS_RECOUNT}
    with db.connect() as conn:
        return {name: conn.execute(sql).fetchone()[0] for name, sql in checks.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.intake", description=__doc__.split("\n\n")[0])
    parser.add_argument("--posters", type=int, default=8, help="concurrent posters (default 8)")
    parser.add_argument("--seconds", type=float, default=60, help="how long they post (default 60)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers of shiyu serve (default 2)")
    parser.add_argument("--rate", type=float, default=250,
                        help="rows a second the posters offer together, as city platforms post at their own pace "
                             "(default 250, above the issue's floor of 200; 0: each posts again as soon as answered)")
    parser.add_argument("--walls", type=int, default=1, help="walls refreshing beside the posters (default 1; 0: none)")
    parser.add_argument("--no-recount", dest="recount", action="store_false",
                        help="skip the recount of every cube after (minutes at 10M: a run started meanwhile would "
                             "share the cores with it)")
    args = parser.parse_args(argv)

    from geodata import db, feeds

    url = db.database_url()
    with db.connect(url) as conn:
        points = conn.execute(POINTS).fetchall()
        incidents = conn.execute("SELECT count(*) FROM shiyu.incident").fetchone()[0]
    if not points:
        raise SystemExit("no incidents in a grid to post beside: run `shiyu demo --no-serve` first")
    token = feeds.add_feed("bench-intake", replace=True)
    with db.connect(url) as conn:  # this run's posts are those after it
        first_post = conn.execute("SELECT coalesce(max(id), 0) + 1 FROM shiyu.intake_post").fetchone()[0]
    server, base = _serve(url, args.workers)
    try:
        walls = None
        if args.walls:
            walls = Walls(args.walls, base, float("inf"))
            walls.start()
            walls.ready.wait(180)
            if walls.error:
                raise SystemExit(f"the walls did not open: {walls.error}")
            for part in walls.times.values():
                part.clear()  # the first drawing is not a refresh
        start = time.monotonic()
        until = start + args.seconds
        if walls:
            walls.until = until
        seen = Seen(until + 10)
        posters = [Poster(n, base, token, points, until, seen, args.rate / args.posters) for n in range(args.posters)]
        seen.start()
        for p in posters:
            p.start()
        for p in posters:
            p.join()
        elapsed = time.monotonic() - start
        seen.join()
        if walls:
            walls.join(60)
        queue = feeds.queue_status()
        folded = _fold_lag(first_post)
    finally:
        server.terminate()
        server.wait(timeout=30)
    times = sorted(t for p in posters for t in p.times)
    accepted, failed = sum(p.accepted for p in posters), sum(p.failed for p in posters)
    offered = f"offering {args.rate:g} rows/s together" if args.rate else "each posting again as soon as answered"
    print(f"{incidents:,} incidents; {args.posters} posters {offered}, for {args.seconds:g} s against shiyu serve "
          f"({args.workers} workers); {len(times):,} posts answered")
    print(f"accepted rows/s   {accepted / elapsed:8.1f}   ({accepted:,} rows, "
          f"{sum(p.statuses for p in posters):,} of them status changes)")
    print(f"failed requests   {failed:8d}")
    print(f"answer time       p50 {percentile(times, 50) * 1000:7.1f} ms   p95 {percentile(times, 95) * 1000:7.1f} ms   "
          f"p99 {percentile(times, 99) * 1000:7.1f} ms")
    print(f"end-to-end delay  p50 {percentile(seen.delays, 50):7.2f} s    p95 {percentile(seen.delays, 95):7.2f} s    "
          f"({len(seen.delays):,} reports looked up, one a post; {seen.lost:,} not seen within 60 s)")
    print(f"answered 202      {sum(p.queued for p in posters):8,d}   (queued: not applied within SHIYU_INTAKE_WAIT_S "
          f"= {os.environ.get('SHIYU_INTAKE_WAIT_S', 'its default')}; the rest 200 with their counts)")
    print(f"queue after       {queue['queued_posts']:,} posts, {queue['queued_rows']:,} rows queued; "
          f"{queue['unfolded_batches']:,} micro-batches applied but not yet folded into the cubes")
    print(f"into the cubes    p50 {folded[0] or 0:7.2f} s    p95 {folded[1] or 0:7.2f} s    (a post's commit -> its "
          "micro-batch folded into the cubes, the data's version moved)")
    if walls:
        for part, times in walls.times.items():
            times.sort()
            print(f"wall {part:<8}     {len(times):5d} redraws  p50 {percentile(times, 50) * 1000:7.1f} ms   "
                  f"p95 {percentile(times, 95) * 1000:7.1f} ms   (from {args.walls} wall{'s' if args.walls > 1 else ''})")
        print(f"wall failed       {walls.failed:8d}" + (f"   (stopped: {walls.error})" if walls.error else ""))
    if args.recount:
        print("cubes vs recount  " + ", ".join(f"{k} {v}" for k, v in _recount().items()) + "  (0: equal)")


if __name__ == "__main__":
    main()
