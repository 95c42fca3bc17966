"""The demo's live feed without a server: its rows, their order along the chain, its rate, its faults.

The clock is simulated (``sleep`` moves it on), so two days of posting take seconds; the HTTP end is
tested against a served app in tests/dashboard (after the intake API lands).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pytest

from etl.democity import hierarchy, live, places, poster
from etl.democity.live import Case, LiveCity
from etl.incidents import validate_incidents
from etl.readers import read_table
from geodata import taxonomy

START = int(datetime(2026, 11, 22, 9, 0, tzinfo=timezone.utc).timestamp())
CHAIN = tuple(taxonomy.STATUSES)


class Sim:
    """A clock that sleeping moves on, and a server that accepts everything (or what ``answer`` says)."""

    def __init__(self, start: int = START, until: int = START + 3600) -> None:
        self.now, self.until = float(start), until
        self.posts: list[tuple[float, list[dict]]] = []
        self.lines: list[str] = []
        self.sleeps: list[float] = []
        self.answer = None

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def stop(self) -> bool:
        return self.now >= self.until

    def post(self, rows: list[dict]) -> dict:
        if self.answer is not None:
            return self.answer(rows)
        self.posts.append((self.now, rows))
        return {"read": len(rows), "loaded": len(rows), "updated": 0, "unchanged": 0, "rejected": 0, "rejects": []}

    def run(self, feed: LiveCity, rate: float, **options) -> poster.Stats:
        return poster.run(feed, self.post, rate=rate, clock=self.clock, sleep=self.sleep, stop=self.stop,
                          log=self.lines.append, **options)


@pytest.fixture(scope="module")
def city():
    built = hierarchy.build_city(np.random.default_rng(5), 600)
    neglected = places.neglected_streets(built.streets)
    return built, built.streets["geometry"].to_numpy()[neglected[0]]


def feed(city, rate=30, start=START, cases=(), seed=1) -> LiveCity:
    built, neglect = city
    return LiveCity(np.random.default_rng(seed), built.raster, built.city, neglect, rate, start, cases)


@pytest.fixture(scope="module")
def three_days(city):
    sim = Sim(until=START + 3 * 86400)
    sim.run(feed(city), 30, tick_s=30)
    return sim


def frame(sim: Sim) -> pd.DataFrame:
    rows = [dict(r, posted=t) for t, batch in sim.posts for r in batch]
    return pd.DataFrame(rows)


def test_every_row_passes_the_loaders_validation(three_days, tmp_path):
    rows = frame(three_days).drop(columns="posted")
    assert len(rows) > 1000
    path = tmp_path / "live.csv"
    rows.to_csv(path, index=False)
    checked = validate_incidents(read_table(path), now=pd.Timestamp(three_days.now, unit="s", tz="UTC"))
    assert len(checked.rejects) == 0
    assert len(checked.records) == len(rows)
    assert set(checked.records["category"]) <= set(taxonomy.CATEGORIES)


def test_cases_only_move_forward_along_the_chain(three_days):
    rows = frame(three_days)
    steps = rows.assign(step=rows["status"].map(CHAIN.index)).groupby("id", sort=False)["step"].apply(list)
    assert all(s[0] == 0 for s in steps)  # each case starts as a new report
    assert all(all(b > a for a, b in zip(s, s[1:])) for s in steps)
    seen = Counter(x for s in steps for x in s)
    assert all(seen[k] > 0 for k in range(len(CHAIN)))  # in three days every step is reached, closing included


def test_only_its_own_ids_and_the_same_case_each_time(three_days):
    rows = frame(three_days)
    assert rows["id"].str.fullmatch(r"LV\d{13}").all()
    fixed = ["category", "reported_at", "lon", "lat", "severity", "description"]
    assert (rows.groupby("id")[fixed].nunique() == 1).all().all()


def test_resolved_at_comes_with_verification_and_after_the_report(three_days):
    rows = frame(three_days)
    done = rows["status"].isin(["verified", "closed"])
    assert (rows.loc[~done, "resolved_at"] == "").all()
    reported = pd.to_datetime(rows["reported_at"])
    resolved = pd.to_datetime(rows.loc[done, "resolved_at"])
    assert (resolved >= reported[done]).all()
    assert (resolved <= pd.to_datetime(rows.loc[done, "posted"], unit="s", utc=True)).all()
    assert (rows[done].groupby("id")["resolved_at"].nunique() == 1).all()


def test_never_more_than_the_rate_in_any_minute_and_about_a_sixth_new(three_days):
    rows = frame(three_days)
    per_minute = rows.groupby((rows["posted"] - START) // 60).size()
    assert per_minute.max() <= 30
    new = rows.drop_duplicates("id")
    hours = (three_days.now - START) / 3600
    assert len(new) / (hours * 60) == pytest.approx(30 / live.ROWS_PER_CASE, rel=0.15)


def test_a_backlog_is_worked_off_at_exactly_the_rate(city):
    old = [Case(f"LV{START - 86400}{k:03d}", 0, START - 86400 + k, 120.16, 30.26, 1, 600, 0, "旧案")
           for k in range(1_000)]
    sim = Sim(until=START + 20 * 60)
    sim.run(feed(city, rate=12, cases=old), 12)
    per_minute = Counter(int((t - START) // 60) for t, batch in sim.posts for _ in batch)
    assert set(per_minute.values()) == {12}
    moved = [r for _, batch in sim.posts for r in batch if r["id"].startswith(f"LV{START - 86400}")]
    # A day after a ten-minute job: resolved, in its 48 hours of verification.
    assert {r["status"] for r in moved} == {"verified"}


def test_a_line_a_minute_says_what_was_posted(city):
    sim = Sim(until=START + 10 * 60)
    sim.run(feed(city), 30)
    assert 9 <= len(sim.lines) <= 10
    posted = sum(len(b) for _, b in sim.posts)
    counted = sum(int(line.split(" rows posted")[0].rsplit(" ", 1)[1]) for line in sim.lines)
    assert counted <= posted and all(line.startswith("live feed: ") and "rejected" in line for line in sim.lines)


def test_it_waits_what_retry_after_says_and_loses_nothing(city):
    sim = Sim(until=START + 30 * 60)
    calls = {"n": 0}

    def busy_then_fine(rows):
        calls["n"] += 1
        if calls["n"] <= 3:
            raise poster.Backoff(45, "HTTP 429: too many posts")
        sim.answer = None
        return sim.post(rows)

    sim.answer = busy_then_fine
    city_feed = feed(city)
    sim.run(city_feed, 30)
    assert sim.sleeps.count(45) == 3
    assert any("HTTP 429" in line for line in sim.lines)
    posted = {r["id"] for _, b in sim.posts for r in b}
    assert not city_feed.arriving or min(c.t for c in city_feed.arriving) > START + 60
    assert posted  # the reports held back during the waits went out after them


def test_rejected_reports_are_forgotten_and_a_revoked_token_stops_the_feed(city):
    sim = Sim(until=START + 20 * 60)
    city_feed = feed(city)
    refused = set()

    def reject_first(rows):
        refused.add(rows[-1]["id"])
        sim.posts.append((sim.now, rows))
        return {"rejected": 1, "rejects": [{"row": len(rows), "reason": "test"}]}

    sim.answer = reject_first
    sim.run(city_feed, 30, tick_s=60)
    later = defaultdict(int)
    for _, b in sim.posts:
        for r in b:
            later[r["id"]] += 1
    assert all(later[i] == 1 for i in refused) and not refused & set(city_feed.cases)

    def revoked(rows):
        raise poster.Refused("HTTP 401: unknown or revoked token")

    sim2 = Sim(until=START + 86400)
    sim2.answer = revoked
    sim2.run(feed(city), 30)
    assert sim2.now < START + 600 and sim2.lines[-1].startswith("live feed stopped: HTTP 401")


def test_a_later_run_continues_the_open_cases(three_days, city):
    first = feed(city)
    Sim(until=START + 3 * 3600).run(first, 30)
    saved = first.state()
    assert saved and all(c["status"] < CHAIN.index("closed") for c in saved)
    again = feed(city, start=START + 4 * 3600, cases=[Case(**c) for c in saved], seed=2)
    batch = again.take(START + 4 * 3600, 1000)
    assert {r["id"] for r in batch.rows} <= {c["id"] for c in saved} | {c.id for c in again.arriving}
    assert batch.rows and all(CHAIN.index(r["status"]) > next(c["status"] for c in saved if c["id"] == r["id"])
                              for r in batch.rows if r["id"] in {c["id"] for c in saved})
