"""``shiyu serve`` as production runs it: gunicorn, several workers, several threads each."""

import os
import re
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from geodata.cluster import free_port
from tests.conftest import ROOT


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.fixture
def gunicorn(empty_db):
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "shiyu", "serve", "--port", str(port), "--workers", "2"],
                              cwd=ROOT, env={**os.environ, "DATABASE_URL": empty_db},
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if _get(url + "/_dash-layout") == 200:
                    break
            except OSError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, "the server did not start"
            time.sleep(0.2)
        yield url, server
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_a_fresh_worker_serves_every_script_a_browser_asks_for_at_once(gunicorn):
    url, server = gunicorn
    index = urllib.request.urlopen(url + "/", timeout=30).read().decode()
    scripts = [url + src for src in re.findall(r'<script src="([^"]+)"', index) if src.startswith("/")]
    assert len(scripts) >= 8
    # Each worker's threads get the page's scripts together, as a browser's first visit sends them.
    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(_get, scripts * 4))
    assert statuses == [200] * len(statuses)
    server.terminate()
    assert "Traceback" not in server.communicate(timeout=30)[0]


def test_answers_travel_compressed_to_a_browser_that_accepts_it(gunicorn):
    url, _ = gunicorn
    index = urllib.request.urlopen(url + "/", timeout=30).read().decode()
    script = next(src for src in re.findall(r'<script src="([^"]+)"', index) if "dash_renderer" in src)
    request = urllib.request.Request(url + script, headers={"Accept-Encoding": "gzip"})
    with urllib.request.urlopen(request, timeout=30) as response:
        body = response.read()
        assert response.headers["Content-Encoding"] == "gzip"
    import gzip

    assert len(gzip.decompress(body)) > 2 * len(body)
