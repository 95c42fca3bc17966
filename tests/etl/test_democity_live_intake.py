"""The demo's live feed posting through the real intake API to a served app on a real PostGIS.

A small demo city's areas are loaded; the feed then runs over the last hours on a simulated clock that stops at
the real now (so no report lies in the future), posting over real HTTP with a ``demo-live`` token, and what the
database holds afterwards is compared with what the feed sent.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone

import numpy as np
import pytest

from etl import democity
from etl.democity import poster
from etl.democity.live import LiveCity
from tests.conftest import empty
from tests.etl.test_democity_live import Sim
from tests.etl.test_incident_cubes import _assert_cubes_are_the_recount
from tests.serving import served_with

feeds = pytest.importorskip("geodata.feeds", reason="needs the intake API (geodata.feeds, issue 17): runs once intake is merged")
intake_worker = pytest.importorskip("etl.intake_worker")

HOURS = 8


@pytest.fixture(scope="module")
def city(database_url, tmp_path_factory):
    from etl.load import load_areas

    empty(database_url)
    out = tmp_path_factory.mktemp("live_intake")
    files = democity.generate(out, now=datetime.now(timezone.utc), grids=600, incidents=1_000, patrol_units=1)
    for f in files:
        if f.kind == "areas":
            load_areas(f.path, **f.options)
    thread, stop = intake_worker.start_thread()
    yield democity.build_city(democity.SEED, 600)
    stop.set()
    thread.join(timeout=10)


def test_the_feed_lands_every_row_it_posts_and_nothing_else(city, conn):
    _, neglect = democity.neglect(city)
    now = int(time.time())
    start = now - HOURS * 3600
    feed = LiveCity(np.random.default_rng(11), city.raster, city.city, neglect, 30, start)
    with served_with() as url:
        token = feeds.add_feed("demo-live", "city", replace=True)
        sim = Sim(start=start, until=now)
        sent: list[list[dict]] = []
        post = poster.http_poster(url, token)

        def recorded(rows):
            answer = post(rows)
            sent.append(rows)
            return answer

        last = poster.run(feed, recorded, rate=30, clock=sim.clock, sleep=sim.sleep, stop=sim.stop,
                          log=sim.lines.append, tick_s=180)
    assert sent and not any("error: HTTP" in line or "unreachable" in line for line in sim.lines), sim.lines
    assert last.rejected == 0
    final = {}
    for rows in sent:
        for r in rows:
            final[r["id"]] = r
    held = dict(conn.execute("SELECT external_id, status FROM shiyu.incident WHERE source = 'demo-live'").fetchall())
    assert held == {i: r["status"] for i, r in final.items()}
    assert conn.execute("SELECT count(*) FROM shiyu.incident WHERE source <> 'demo-live'").fetchone()[0] == 0
    moved = {i for rows in sent[1:] for r in rows if r["status"] != "reported" for i in [r["id"]]}
    assert moved, "no status change in the hours simulated"
    resolved = conn.execute("SELECT count(*) FROM shiyu.incident WHERE source = 'demo-live' AND status = "
                            "ANY('{verified,closed}') AND resolved_at IS NULL").fetchone()[0]
    assert resolved == 0
    _assert_cubes_are_the_recount(conn)
