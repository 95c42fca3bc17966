"""The dashboard through its real HTTP endpoints and a real browser, at the default demo city and at 10,000,000.

    python -m bench.dashboard [--sizes 200000,10000000] [--repeat 7] [--loads 5] [--folder var/bench]

For each size the demo city is loaded as ``bench.layers`` loads it, into the
same kept cluster (``--folder``/layers-N), and served under gunicorn with the
Procfile's settings on a free port. Debian's Chromium (Playwright) times the
first page, from navigation until it is usable: hexagons drawn and the table's
count shown on ``/``, the open-incident KPI shown on ``/wall``. At the first
size the browser also performs a few user actions — the first load, a
district and a street from the cascade, a category, the last 7 days, the
hotspot layer, a hexagon click, a drill-down button, the wall — and every
``/_dash-update-component`` request they send is recorded. Those exact
requests are then replayed over HTTP at every size, so both sizes answer the
same questions. It prints, per callback, the median latency at each size, the
ratio (the issue's targets: under 300 ms at the default city, within 3x at
10,000,000), the bytes of the answer (as the app sent it, compressed as
the client accepts, and gzip-6 of the uncompressed answer), the features or rows it carries, and where the server spent
the time by layer call (read from a ``Server-Timing`` header the bench adds;
the dashboard code is untouched). It asserts nothing.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
from pathlib import Path

from bench.common import ROOT, Timer, median
from bench.layers import _shiyu, prepare
from bench.served import serve

SIZES = (200_000, 10_000_000)
TARGET_MS, TARGET_PAGE_S, TARGET_RATIO = 300, 3.0, 3.0
NOISE_MS = 50  # a ratio of two answers this fast is noise (1 ms against 4 ms): not flagged
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic",
                 "--no-first-run", "--disable-component-update", "--disable-sync"]
HEX_PATHS = "#explore-map .leaflet-overlay-pane path"
USABLE = {  # when a page is usable, as JavaScript
    "/": f"document.querySelectorAll('{HEX_PATHS}').length > 0 && document.querySelector('#explore-table-count') "
         "!== null && document.querySelector('#explore-table-count').innerText.trim() !== ''",
    "/wall": "document.querySelector('#wall-kpi-open') !== null && "
             "!['', '—'].includes(document.querySelector('#wall-kpi-open').innerText.trim())",
}
CALLBACKS = (("_pages_content.children", "page layout"), ("explore-hexes.data", "map"),
             ("explore-detail.children", "detail panel"), ("explore-table.getRowsResponse", "table rows"),
             ("explore-area.data", "cascade"), ("explore-map.viewport", "fly to area"), ("explore-query.data", "url"),
             ("explore-dates.start_date", "preset days"), ("wall-kpi-today", "wall panels"),
             ("wall-districts-layer", "wall map"), ("wall-map.viewport", "wall view"))

# ---- the browser: first pages, and the requests a few user actions send ----

def first_page(browser, base: str, path: str, loads: int) -> list[float]:
    """Seconds from navigation until the page is usable, each load in a fresh context (nothing cached)."""
    seconds = []
    for _ in range(loads):
        context = browser.new_context(viewport={"width": 1600, "height": 1000}, locale="zh-CN")
        page = context.new_page()
        page.goto(base + path, wait_until="commit")
        done = page.wait_for_function(f"() => ({USABLE[path]}) ? performance.now() : false", timeout=120_000)
        seconds.append(done.json_value() / 1000)
        context.close()
    return seconds


def _is_callback(url: str) -> bool:
    return url.split("?")[0].endswith("/_dash-update-component")


class Recorder:
    """The bodies of the page's ``/_dash-update-component`` requests, and how many are still unanswered."""

    def __init__(self, page):
        self.page, self.bodies, self.open = page, [], 0
        page.on("request", self._sent)
        page.on("requestfinished", self._ended)
        page.on("requestfailed", self._ended)

    def _sent(self, request):
        if _is_callback(request.url):
            self.bodies.append((request.url.split("/", 3)[3], request.post_data))
            self.open += 1

    def _ended(self, request):
        if _is_callback(request.url):
            self.open -= 1

    def settle(self, quiet_ms: int = 1500, limit_s: float = 120) -> None:
        """Wait until no callback is in flight and none has started for ``quiet_ms`` (flights and debounces end)."""
        deadline, seen, quiet_since = time.monotonic() + limit_s, -1, time.monotonic()
        while time.monotonic() < deadline:
            self.page.wait_for_timeout(100)
            if self.open or len(self.bodies) != seen:
                seen, quiet_since = len(self.bodies), time.monotonic()
            elif time.monotonic() - quiet_since > quiet_ms / 1000:
                return


def _pick(page, dropdown, text: str | None) -> str:
    """Open a dropdown and click the option holding ``text`` (the first one if None); the option's label."""
    dropdown.click()
    options = page.locator(f"[id='{dropdown.get_attribute('aria-controls')}'] [role=option]")
    option = options.filter(has_text=text).first if text else options.first
    label = option.inner_text()
    option.click()
    page.keyboard.press("Escape")
    return label


def _level(page, tier: str):
    return page.locator(f".cascade[id*='\"tier\":\"{tier}\"']")


def _busiest(url: str) -> tuple[str, str]:
    """The codes of the district with most incidents and of its busiest street."""
    from geodata import db

    with db.connect(url) as conn:
        district = conn.execute("SELECT district FROM shiyu.incident_week GROUP BY 1 ORDER BY sum(n) DESC LIMIT 1"
                                ).fetchone()[0]
        street = conn.execute("""SELECT subpath(path, 2, 1)::text FROM shiyu.incident
                                 WHERE subpath(path, 1, 1)::text = %s AND nlevel(path) > 2
                                 GROUP BY 1 ORDER BY count(*) DESC LIMIT 1""", (district,)).fetchone()[0]
    return district, street


def record(browser, base: str, url: str) -> list[dict]:
    """The callbacks' requests of a few user actions: [{"action", "callback", "path", "body"}], duplicates dropped.

    The path keeps the query the renderer adds (Dash 4's ``endId``), so the replay is the same request."""
    district, street = _busiest(url)
    context = browser.new_context(viewport={"width": 1600, "height": 1000}, locale="zh-CN")
    page = context.new_page()
    recorder = Recorder(page)

    def hexagon():
        paths = page.locator(HEX_PATHS)
        paths.nth(paths.count() // 2).click(force=True)
        page.wait_for_function("document.querySelector('#explore-detail h3 small') !== null && "
                               "document.querySelector('#explore-detail h3 small').innerText.includes('H3')")

    actions = [
        ("load", None, lambda: None),
        (f"district {district}", "/", lambda: _pick(page, _level(page, "district"), district)),
        (f"street {street}", f"/?area={district}", lambda: _pick(page, _level(page, "street"), street)),
        ("category", "/", lambda: _pick(page, page.locator("#explore-categories"), None)),
        ("last 7 days", "/", lambda: page.locator(".preset").first.click()),
        ("hotspot layer", "/", lambda: page.locator("#explore-layer input[value='hotspots']").check()),
        ("hexagon click", "/", hexagon),
        ("drill-down", f"/?area={district}", lambda: page.locator("#explore-detail table.mini .drill").first.click()),
        ("wall", None, lambda: None),
    ]
    recorded, seen = [], set()
    for action, start, act in actions:
        page.goto(base + (start or ("/wall" if action == "wall" else "/")))
        page.wait_for_function(USABLE["/wall" if action == "wall" else "/"], timeout=120_000)
        recorder.settle()
        if start is not None:
            recorder.bodies.clear()
            act()
            recorder.settle()
        for path, body in recorder.bodies:
            if (action, body) not in seen:
                seen.add((action, body))
                recorded.append({"action": action, "callback": _callback_name(json.loads(body)), "path": path,
                                 "body": body})
        recorder.bodies.clear()
    context.close()
    return recorded


def _callback_name(body: dict) -> str:
    output = body.get("output", "")
    return next((name for key, name in CALLBACKS if key in output), output[:30])


# ---- the replay over HTTP ----

def _items(value) -> int:
    """GeoJSON features and table rows anywhere in a callback's answer."""
    if isinstance(value, dict):
        if value.get("type") == "FeatureCollection":
            return len(value.get("features") or [])
        if "rowData" in value:
            return len(value["rowData"] or [])
        return sum(_items(v) for v in value.values())
    if isinstance(value, list):
        return sum(_items(v) for v in value)
    return 0


def _notice(answer: dict) -> str:
    """A refusal the answer shows the user (the map's notice), if any."""
    notice = answer.get("response", {}).get("explore-notice", {}).get("children")
    return notice if isinstance(notice, str) else ""


def _server_timing(header: str) -> dict[str, float]:
    spans = {}
    for part in filter(None, (p.strip() for p in header.split(","))):
        name, _, duration = part.partition(";dur=")
        spans[name] = float(duration)
    return spans


def replay(base: str, recorded: list[dict], repeat: int) -> list[dict]:
    """Each recorded request, once to warm up, then ``repeat`` times: median ms, bytes, items, server spans."""
    import requests

    session = requests.Session()
    headers = {"Content-Type": "application/json", "Accept": "application/json", "Accept-Encoding": "gzip, deflate, br"}
    results = []
    for request in recorded:
        times, spans = [], []
        for run in range(repeat + 1):
            with Timer() as timer:
                response = session.post(f"{base}/{request['path']}", data=request["body"].encode(),
                                        headers=headers, timeout=120)
            if run:
                times.append(timer.seconds)
                spans.append(_server_timing(response.headers.get("Server-Timing", "")))
        body = response.content
        answer = json.loads(body) if response.status_code == 200 and body else {}
        results.append({"ms": median(times) * 1000, "status": response.status_code, "bytes": len(body),
                        "wire": int(response.headers.get("Content-Length", len(body))),
                        "gzip": len(gzip.compress(body, 6)), "items": _items(answer), "notice": _notice(answer),
                        "spans": {k: median([s.get(k, 0.0) for s in spans]) for k in spans[-1]}})
    return results


def _incidents_and_areas(url: str) -> tuple[int, str]:
    from geodata import db

    with db.connect(url) as conn:
        incidents = conn.execute("SELECT count(*) FROM shiyu.incident").fetchone()[0]
        areas = conn.execute("SELECT md5(string_agg(code || ':' || md5(ST_AsBinary(geom)), ',' ORDER BY code)) "
                             "FROM shiyu.area").fetchone()[0]
    return incidents, areas


# ---- the report ----

def _kb(n: int) -> str:
    return f"{n / 1024:,.1f}"


def _top(spans: dict, n: int = 3) -> str:
    """The slowest calls and, after a bar, the slowest queries."""
    calls = sorted(((v, k) for k, v in spans.items() if k != "total" and not k.startswith("sql:")), reverse=True)
    queries = sorted(((v, k[4:]) for k, v in spans.items() if k.startswith("sql:")), reverse=True)
    text = ", ".join(f"{k} {v:.0f}" for v, k in calls[:n] if v >= 1) or "—"
    slow = ", ".join(f"{k} {v:.0f}" for v, k in queries[:2] if v >= 1)
    return text + (f" | {slow}" if slow else "")


def report_size(size: int, run: dict) -> None:
    print(f"\n== {size:,} incidents ({run['incidents']:,} loaded; areas digest {run['areas'][:12]}) ==")
    for path, seconds in run["pages"].items():
        flag = f"  > {TARGET_PAGE_S:g} s" if median(seconds) > TARGET_PAGE_S else ""
        loads = ", ".join(f"{s:.2f}" for s in seconds)
        print(f"first page {path:<6} median {median(seconds):5.2f} s  (loads: {loads}){flag}")
    for request, result in zip(run["recorded"], run["results"]):
        if result["notice"] or result["status"] not in (200, 204):
            print(f"  {request['action']} / {request['callback']}: HTTP {result['status']} {result['notice']}")


def _groups(recorded: list[dict]) -> dict[tuple[str, str], list[int]]:
    """The requests of each (action, callback), in the order they were first sent."""
    groups: dict[tuple[str, str], list[int]] = {}
    for i, request in enumerate(recorded):
        groups.setdefault((request["action"], request["callback"]), []).append(i)
    return groups


def report(by_size: dict[int, dict], recorded: list[dict]) -> None:
    small, large = min(by_size), max(by_size)
    a_runs, b_runs = by_size[small]["results"], by_size[large]["results"]
    print(f"\nfirst page, median s: {'':<4}{f'{small:,}':>11}{f'{large:,}':>12}{'ratio':>7}")
    for path in USABLE:
        a, b = median(by_size[small]["pages"][path]), median(by_size[large]["pages"][path])
        flags = [f"> {TARGET_PAGE_S:g} s at {size:,}" for size, s in {small: a, large: b}.items() if s > TARGET_PAGE_S]
        print(f"  {path:<23}{a:>9.2f} s{b:>10.2f} s{b / a:>6.2f}x  {'; '.join(flags)}")
    print(f"\ncallbacks over HTTP: per action and callback, the slowest of its n requests (each the median of the "
          f"replays);\nkB and items of the largest answer at {large:,}: as sent (compressed by the app) and gzip-6")
    print(f"{'action':<16}{'callback':<13}{'n':>3}{f'{small:,}':>11}{f'{large:,}':>12}{'ratio':>7}"
          f"{'sent kB':>9}{'gzip kB':>9}{'items':>7}  flags")
    for (action, callback), members in _groups(recorded).items():
        a = max(a_runs[i]["ms"] for i in members)
        b = max(b_runs[i]["ms"] for i in members)
        big = max((b_runs[i] for i in members), key=lambda r: r["bytes"])
        ratio = b / a if a else float("nan")
        flags = ([f"> {TARGET_MS} ms at {small:,}"] if a > TARGET_MS else []) + (
            [f"> {TARGET_RATIO:g}x"] if small != large and ratio > TARGET_RATIO and b > NOISE_MS else [])
        print(f"{action[:15]:<16}{callback[:12]:<13}{len(members):>3}{a:>8.0f} ms{b:>9.0f} ms{ratio:>6.2f}x"
              f"{_kb(big['wire']):>9}{_kb(big['gzip']):>9}{big['items']:>7,}  {'; '.join(flags)}")
    for size, runs in {small: a_runs, large: b_runs}.items():
        times = [r["ms"] for r in runs]
        print(f"all {len(times)} requests at {size:,}: median {median(times):.0f} ms, slowest {max(times):,.0f} ms, "
              f"{sum(t > TARGET_MS for t in times)} over {TARGET_MS} ms")
    print("\nserver time of those requests by layer call, ms (median of the replays; total: the request inside the "
          "server;\ncallback.to_json: Dash serialising the answer; callbacks under 5 ms at both sizes left out)")
    for (action, callback), members in _groups(recorded).items():
        a = a_runs[max(members, key=lambda i: a_runs[i]["ms"])]["spans"]
        b = b_runs[max(members, key=lambda i: b_runs[i]["ms"])]["spans"]
        if max(a.get("total", 0), b.get("total", 0)) < 5:
            continue
        line = f"  {action[:15]:<16}{callback[:12]:<13}{small:,}: {a.get('total', 0):.0f} [{_top(a)}]"
        print(line + (f"   {large:,}: {b.get('total', 0):.0f} [{_top(b)}]" if small != large else ""))
    for size, run in sorted(by_size.items()):
        biggest = max(range(len(recorded)), key=lambda i: run["results"][i]["bytes"])
        rows = [r for q, r in zip(recorded, run["results"]) if q["callback"] == "table rows" and r["items"]]
        row_bytes = median([r["bytes"] / r["items"] for r in rows]) if rows else float("nan")
        big, most = run["results"][biggest], max(r["items"] for r in run["results"])
        print(f"\nat {size:,}: the biggest answer is {recorded[biggest]['action']} / {recorded[biggest]['callback']}: "
              f"{_kb(big['bytes'])} kB raw, {_kb(big['gzip'])} kB gzip, {big['items']:,} features; at most "
              f"{most:,} features or rows in any answer. The raw table: {run['incidents']:,} rows x {row_bytes:.0f} B "
              f"= {run['incidents'] * row_bytes / 1024 ** 2:,.0f} MB (the biggest answer is "
              f"{big['bytes'] / (run['incidents'] * row_bytes):.2%} of it)")
    if len({run["areas"] for run in by_size.values()}) > 1:
        print("\nthe sizes' areas differ: the replayed codes and boxes do not mean the same places")


def measure(folder: Path, size: int, browser, recorded: list[dict] | None, repeat: int, loads: int) -> dict:
    url = prepare(folder, size)
    incidents, areas = _incidents_and_areas(url)
    process, base = serve(url)
    try:
        if recorded is None:
            print("recording the callbacks of a few user actions …", flush=True)
            recorded = record(browser, base, url)
            (folder.parent / "dashboard-requests.json").write_text(json.dumps(recorded, ensure_ascii=False, indent=1))
        print(f"timing first pages ({loads} loads each) …", flush=True)
        pages = {path: first_page(browser, base, path, loads) for path in USABLE}
        print(f"replaying {len(recorded)} recorded requests ({repeat} times each) …", flush=True)
        results = replay(base, recorded, repeat)
    finally:
        process.terminate()
        process.wait(timeout=60)
    return {"incidents": incidents, "areas": areas, "pages": pages, "results": results, "recorded": recorded}


def main(argv: list[str] | None = None) -> None:
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(prog="python -m bench.dashboard", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="incident counts, comma-separated; "
                        "the smallest is the baseline and its browser session records the replayed requests")
    parser.add_argument("--repeat", type=int, default=7, help="replays of each recorded request; the median is kept")
    parser.add_argument("--loads", type=int, default=5, help="browser loads of each first page; the median is kept")
    parser.add_argument("--folder", type=Path, default=ROOT / "var" / "bench",
                        help="where the clusters are kept (shared with bench.layers: FOLDER/layers-N)")
    args = parser.parse_args(argv)
    by_size, recorded = {}, None
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        for size in sorted(int(s) for s in args.sizes.split(",")):
            folder = args.folder / f"layers-{size}"
            try:
                by_size[size] = run = measure(folder, size, browser, recorded, args.repeat, args.loads)
            finally:
                _shiyu(folder, "db", "down")
            recorded = run["recorded"]
            report_size(size, run)
        browser.close()
    report(by_size, recorded)


if __name__ == "__main__":
    main(sys.argv[1:])
