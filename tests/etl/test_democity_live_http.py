"""The live feed's HTTP end against a small stand-in of the intake API (real sockets, stdlib server).

The stand-in answers as the pinned interface says (200 with counts, 429 with Retry-After, 401); the
real API is exercised once it is merged, by the intake tests and ``shiyu demo``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from etl import democity
from etl.democity import poster
from shiyu import livefeed


class Intake(BaseHTTPRequestHandler):
    """Answers each POST with the next (status, headers, body) of ``server.script``, then 200s."""

    def do_POST(self):  # noqa: N802 (the stdlib's name)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.posts.append((self.path, self.headers.get("Authorization"), self.headers.get("Content-Type"), body))
        status, headers, answer = self.server.script.pop(0) if self.server.script else (200, {}, None)
        if answer is None:
            answer = {"read": len(body), "loaded": len(body), "updated": 0, "unchanged": 0, "rejected": 0,
                      "rejects": [], "post_id": len(self.server.posts)}
        data = json.dumps(answer).encode()
        self.send_response(status)
        for key, value in {"Content-Type": "application/json", "Content-Length": str(len(data)), **headers}.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)
        self.server.seen.set()

    def log_message(self, *args):
        pass


@pytest.fixture
def intake():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Intake)
    server.posts, server.script, server.seen = [], [], threading.Event()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def url(server) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


ROWS = [{"id": "LV1796000000001", "category": "dispute", "reported_at": "2026-11-22T17:00:00+08:00",
         "lon": 120.16, "lat": 30.26, "status": "reported"}]


def test_rows_go_as_json_with_the_feed_token(intake):
    answer = poster.http_poster(url(intake), "tok-1")(ROWS)
    path, auth, kind, body = intake.posts[0]
    assert (path, auth, kind, body) == ("/api/v1/incidents", "Bearer tok-1", "application/json", ROWS)
    assert answer["loaded"] == 1


def test_429_and_503_say_how_long_to_wait_and_401_refuses(intake):
    intake.script += [(429, {"Retry-After": "17"}, {"error": "too many posts"}),
                      (503, {"Retry-After": "3"}, {"error": "database unavailable"}),
                      (401, {}, {"error": "unknown or revoked token"}),
                      (422, {}, {"error": "over the reject ratio"})]
    post = poster.http_poster(url(intake), "tok")
    with pytest.raises(poster.Backoff) as busy:
        post(ROWS)
    assert busy.value.after == 17 and "429" in str(busy.value) and "too many posts" in str(busy.value)
    with pytest.raises(poster.Backoff) as down:
        post(ROWS)
    assert down.value.after == 3
    with pytest.raises(poster.Refused, match="401: unknown or revoked token"):
        post(ROWS)
    with pytest.raises(poster.Rejected, match="422"):
        post(ROWS)


def test_no_server_is_a_growing_wait_not_a_crash():
    post = poster.http_poster("http://127.0.0.1:9", "tok", timeout=2)
    waits = []
    for _ in range(3):
        with pytest.raises(poster.Backoff) as error:
            post(ROWS)
        waits.append(error.value.after)
    assert waits == sorted(waits) and waits[-1] > waits[0] and "unreachable" in str(error.value)


def test_the_feed_process_posts_then_stops_with_its_server_and_keeps_its_cases(intake, tmp_path):
    democity.generate(tmp_path, now=datetime(2026, 11, 22, 9, 0, tzinfo=timezone.utc), grids=600, incidents=1_000,
                      patrol_units=1)
    env = {**os.environ, livefeed.TOKEN_ENV: "tok-demo"}
    process = subprocess.Popen([sys.executable, "-m", "shiyu.livefeed", "--url", url(intake), "--rate", "600",
                                "--demo-dir", str(tmp_path)], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert intake.seen.wait(120), "the feed posted nothing"
    finally:
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=60)
    assert process.returncode == 0, out
    _, auth, _, body = intake.posts[0]
    assert auth == "Bearer tok-demo" and body and all(r["id"].startswith("LV") for r in body)
    saved = json.loads((tmp_path / livefeed.STATE_FILE).read_text(encoding="utf-8"))
    posted = {r["id"] for _, _, _, rows in intake.posts for r in rows}
    assert {c["id"] for c in saved} <= posted


def test_demo_takes_a_feed_rate_or_no_feed_and_a_bad_rate_is_a_usage_error(capsys):
    from shiyu.cli import build_parser

    assert build_parser().parse_args(["demo"]).feed_rate == livefeed.DEFAULT_RATE == 30
    args = build_parser().parse_args(["demo", "--feed-rate", "12.5", "--no-feed"])
    assert args.feed_rate == 12.5 and args.no_feed
    for bad in ("0", "-5", "abc", "601"):
        with pytest.raises(SystemExit) as exit_:
            build_parser().parse_args(["demo", "--feed-rate", bad])
        assert exit_.value.code == 2
        assert "--feed-rate: rows a minute" in capsys.readouterr().err
