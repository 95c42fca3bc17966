"""Many district officers at once: concurrent users filtering the explore page under gunicorn, on loopback.

    python -m bench.load [--users 50] [--seconds 60] [--size 200000] [--folder var/bench] [--heavy N] [--think S]

Issue 16's scenario, against the demo city (after ``python -m bench.dashboard --sizes 200000`` once, which records
the officers' requests): ``python -m bench.load --users 20 --think 1 --heavy 6 --seconds 60``
(20 officers pausing a second between actions beside 6 users sending the heaviest requests, ``bench/heavy.py``);
it prints the officers' p50/p95, the server's peak memory (its gunicorn workers' RSS summed) and each heavy
request's answer-or-refusal time. The floor to aim for: the officers' p95 under 1.5 s, the server under 2.5 GB,
every heavy request answered or refused within 5 s.

The demo city of ``--size`` incidents is the kept bench cluster ``bench.layers`` and ``bench.dashboard``
build (``var/bench/layers-N``); the dashboard is served as the Procfile serves it (gunicorn, 2 workers,
4 threads) on a free localhost port. The requests are the ones a real browser sent for a few user actions
(recorded by ``bench.dashboard`` with Chromium, which must have run once): the first map draw, a district, a
street, a category, the last 7 days, the hot-spot layer, a hexagon, a drill-down, the table's blocks. Logins
are on: each simulated officer is an officer of one district (``bench-<code>``, made once) sending an API
token, so row-level security holds them to it. Each picks one of the requests at random, with the recorded
district swapped for their own (a street of the recorded district then names no area in their scope, which the
page answers with a notice: a realistic share of refusals), sends it, and goes on at once, until
``--seconds`` have passed. Bounded in
users and time; it sends nothing off this machine.

It prints how many requests were answered, how many failed (an HTTP status other than 200/204, a timeout or a
refused connection: the target is none), and the latency percentiles. It asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import random
import threading
import time
from pathlib import Path

from bench import heavy
from bench.common import ROOT

SIZE = 200_000
TIMEOUT_S = 60  # gunicorn's own --timeout: a request slower than this has failed


def _explore_requests(folder: Path) -> tuple[list[dict], str]:
    """The recorded explore-page requests (the wall's left out: nobody filters it), and the district they name."""
    recording = folder.parent / "dashboard-requests.json"
    if not recording.exists():
        raise SystemExit(f"no recorded requests at {recording}: run `python -m bench.dashboard --sizes 200000` once "
                         "(its browser records them)")
    recorded = json.loads(recording.read_text())
    district = next(r["action"].split()[1] for r in recorded if r["action"].startswith("district "))
    return [r for r in recorded if r["action"] != "wall" and "explore-" in r["body"]], district


def _officer_tokens(url: str) -> dict[str, str]:
    """An officer per district (``bench-<code>``, made once) and a fresh API token each: {district code: token}."""
    import os

    from geodata import db, users
    from geodata.errors import ShiyuError
    from geodata.settings import reload

    os.environ["DATABASE_URL"] = url
    reload()
    with db.connect(url) as conn:
        districts = [code for (code,) in conn.execute("SELECT code FROM shiyu.area WHERE tier = 'district' ORDER BY code")]
    tokens = {}
    for code in districts:
        try:
            users.add_user(f"bench-{code}", "officer", code)
        except ShiyuError:  # made by an earlier run
            pass
        tokens[code] = users.create_token(f"bench-{code}", label="bench.load")
    db.close_pool()
    return tokens


def _officer(base: str, requests_: list[dict], district: str, token: str, recorded_district: str, stop: float,
             results: list, seed: int, think: float = 0.0) -> None:
    """One officer of ``district``, logged in by its token, filtering their own district until ``stop``."""
    import requests

    rng = random.Random(seed)
    session = requests.Session()
    headers = {"Content-Type": "application/json", "Accept-Encoding": "gzip", "Authorization": f"Bearer {token}"}
    while time.monotonic() < stop:
        request = rng.choice(requests_)
        body = request["body"].replace(recorded_district, district)
        started = time.monotonic()
        try:
            response = session.post(f"{base}/{request['path']}", data=body.encode(), headers=headers, timeout=TIMEOUT_S)
            outcome = response.status_code
        except requests.RequestException as error:
            outcome = type(error).__name__
        results.append((time.monotonic() - started, outcome, request["callback"]))
        if think:
            time.sleep(think)


def _heavy_tokens(url: str, users: int) -> list[str]:
    import os

    from geodata import db
    from geodata.settings import reload

    if not users:
        return []
    os.environ["DATABASE_URL"] = url
    reload()
    tokens = heavy.heavy_tokens(users)
    db.close_pool()
    return tokens


def _percentile(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))] if sorted_values else float("nan")


def main(argv: list[str] | None = None) -> None:
    from bench.served import serve
    from bench.layers import _shiyu, prepare

    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.split("\n\n")[0],
                                     epilog="\n\n".join(__doc__.split("\n\n")[1:3]), formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=50, help="simulated officers sending requests at once (default 50)")
    parser.add_argument("--seconds", type=float, default=60, help="how long they go on (default 60)")
    parser.add_argument("--size", type=int, default=SIZE, help=f"incidents in the demo city (default {SIZE:,})")
    parser.add_argument("--folder", type=Path, default=ROOT / "var" / "bench", help="where the bench clusters are kept")
    parser.add_argument("--heavy", type=int, default=0,
                        help="users sending the heaviest requests the UI and APIs allow beside the officers (default 0; "
                             "issue 16's scenario is 6)")
    parser.add_argument("--think", type=float, default=0.0,
                        help="seconds each officer pauses between requests (default 0; issue 16's scenario is 1)")
    args = parser.parse_args(argv)
    if not (1 <= args.users <= 200 and 1 <= args.seconds <= 600 and 0 <= args.heavy <= 50 and 0 <= args.think <= 60):
        parser.error("--users is 1 to 200, --seconds 1 to 600, --heavy 0 to 50 and --think 0 to 60")

    folder = args.folder / f"layers-{args.size}"
    url = prepare(folder, args.size)
    tokens = _officer_tokens(url)
    heavy_tokens_ = _heavy_tokens(url, args.heavy)
    process, base = serve(url, auth=True)
    memory = heavy.PeakMemory(process.pid)
    heavy_results: list = []
    try:
        requests_, recorded_district = _explore_requests(folder)
        districts = sorted(tokens)
        print(f"{args.users} officers for {args.seconds:g} s against {base} ({args.size:,} incidents), "
              f"{len(requests_)} recorded requests, {len(districts)} districts", flush=True)
        results: list = []
        stop = time.monotonic() + args.seconds
        officers = [districts[k % len(districts)] for k in range(args.users)]
        threads = [threading.Thread(target=_officer, args=(base, requests_, district, tokens[district], recorded_district,
                                                           stop, results, k, args.think))
                   for k, district in enumerate(officers)]
        if heavy_tokens_:
            recorded = json.loads((folder.parent / "dashboard-requests.json").read_text())
            heavies = heavy.heavy_requests(recorded)
            print(f"{args.heavy} heavy users, {len(heavies)} heavy requests in turn, officers pausing {args.think:g} s",
                  flush=True)
            threads += [threading.Thread(target=heavy.heavy_user, args=(base, token, heavies, stop, heavy_results))
                        for token in heavy_tokens_]
        memory.start()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=args.seconds + TIMEOUT_S + 10)
    finally:
        memory.done.set()
        process.terminate()
        process.wait(timeout=30)
        _shiyu(folder, "db", "down")
    ok = sorted(seconds for seconds, outcome, _ in results if outcome in (200, 204))
    failed = [(outcome, callback) for _, outcome, callback in results if outcome not in (200, 204)]
    print(f"\nrequests answered: {len(ok):,} ({len(ok) / args.seconds:.1f}/s); failed: {len(failed):,}"
          + (f" — {sorted(set(failed))[:10]}" if failed else ""))
    print("latency of answered requests: " + ", ".join(
        f"p{int(q * 100)} {_percentile(ok, q) * 1000:,.0f} ms" for q in (0.5, 0.9, 0.95, 0.99)) + f", max {ok[-1] * 1000:,.0f} ms"
          if ok else "no request was answered")
    print(f"server memory: peak {memory.peak / 2**30:.2f} GB (its gunicorn workers' RSS summed)")
    if heavy_results:
        heavy.report(heavy_results, _percentile)
    by_callback: dict[str, list[float]] = {}
    for seconds, outcome, callback in results:
        if outcome in (200, 204):
            by_callback.setdefault(callback, []).append(seconds)
    for callback, times in sorted(by_callback.items()):
        times.sort()
        print(f"  {callback:14s} n={len(times):5d}  p50 {_percentile(times, 0.5) * 1000:7,.0f} ms"
              f"  p95 {_percentile(times, 0.95) * 1000:7,.0f} ms")


if __name__ == "__main__":
    main()
