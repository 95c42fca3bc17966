"""The league table (layers/assessment.py) against a recount from the raw rows in pandas, on the five-tier city of
``tiers.py``: every indicator, the weighted score, the ranks and their ties, the change against the period before,
supervision orders, and scope."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from geodata import db
from geodata.errors import InputError
from geodata.scope import Scope
from layers import assessment
from layers.periods import current, parse_period, previous

C1 = Scope("C.C1")
DEPTH = {"district": 2, "street": 3, "community": 4, "grid": 5}
CLOSED = ("verified", "closed")


def _frame(conn, query: str) -> pd.DataFrame:
    cur = conn.execute(query)
    return pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])


@pytest.fixture(scope="module")
def raw(city, database_url):
    """The incidents, grids, r10 cells and pings as the owner reads them, straight from their tables."""
    with db.connect(database_url, autocommit=True) as conn:
        yield {"incidents": _frame(conn, "SELECT path::text AS path, status, reported_at, resolved_at, due_at "
                                         "FROM shiyu.incident WHERE path IS NOT NULL"),
               "grids": _frame(conn, "SELECT code, path::text AS path, area_m2 FROM shiyu.area WHERE tier = 'grid'"),
               "cells": _frame(conn, "SELECT code, cell, area_share FROM shiyu.area_cell WHERE res = 10"),
               "pings": _frame(conn, "SELECT h3_r10 AS cell, ts FROM shiyu.patrol_ping"),
               "areas": _frame(conn, "SELECT code, tier, path::text AS path FROM shiyu.area")}


@pytest.fixture
def orders(city, database_url):
    """Supervision orders of the test, removed after it."""
    with db.connect(database_url, autocommit=True) as conn:
        yield conn
        conn.execute("DELETE FROM shiyu.supervision_order")


@pytest.fixture
def default_weights(database_url):
    before = assessment.weights()
    yield before
    assessment.set_weights(before, "test")


def _area(path: str, depth: int) -> str:
    return ".".join(path.split(".")[:depth])


def recount(raw: dict, tier: str, period, now, orders: pd.DataFrame | None = None) -> dict[str, dict]:
    """Each indicator of each area of ``tier``, from the raw rows, as docs/assessment.md defines them."""
    depth, start, end = DEPTH[tier], period.start, period.end
    inc = raw["incidents"].copy()
    inc["area"] = inc["path"].map(lambda p: _area(p, depth))
    closed = inc["status"].isin(CLOSED)
    in_time = closed & inc["resolved_at"].notna() & (inc["resolved_at"] <= inc["due_at"])
    reported = (inc["reported_at"] >= start) & (inc["reported_at"] < end)
    due = (inc["due_at"] >= start) & (inc["due_at"] < min(end, now))
    late = reported & (inc["due_at"] < now) & ~in_time
    out = {}
    areas = raw["areas"][raw["areas"]["tier"] == tier]
    for code, path in zip(areas["code"], areas["path"]):
        mine = inc["area"] == path
        n = int((mine & reported).sum())
        hours = ((inc["resolved_at"] - inc["reported_at"]).dt.total_seconds() / 3600)[mine & reported & inc["resolved_at"].notna()]
        n_due = int((mine & due).sum())
        out[code] = {
            "reports": n,
            "closure_rate": round(int((mine & reported & closed).sum()) / n, 4) if n else None,
            "on_time_rate": round(int((mine & due & in_time).sum()) / n_due, 4) if n_due else None,
            "overdue_per_1000": round(1000 * int((mine & late).sum()) / n, 2) if n else None,
            "median_hours": round(float(np.median(hours)), 2) if len(hours) else None,
            "patrol_coverage": _coverage(raw, path, period),
            "orders": 0, "orders_on_time_rate": None,
        }
        if orders is not None and len(orders):
            o = orders[orders["path"].map(lambda p: p == path or p.startswith(path + "."))
                       & (orders["issued_at"] >= start) & (orders["issued_at"] < end)]
            answerable = o[o["replied_at"].notna() | (o["reply_due_at"] < now)]
            on_time = o[o["replied_at"].notna() & (o["replied_at"] <= o["reply_due_at"])]
            out[code]["orders"] = len(o)
            out[code]["orders_on_time_rate"] = round(len(on_time) / len(answerable), 4) if len(answerable) else None
    return out


def _coverage(raw: dict, path: str, period) -> float | None:
    """The part of the area of the area's grids (those with r10 cells) lying in r10 cells pinged in the period."""
    pings = raw["pings"]
    days = pings["ts"].dt.tz_convert("Asia/Shanghai").dt.date
    visited = set(pings["cell"][(days >= period.first_day) & (days < period.end_day)])
    grids = raw["grids"][raw["grids"]["path"].map(lambda p: p == path or p.startswith(path + "."))]
    cells = raw["cells"]
    measured = [(min(cells[(cells["code"] == g) & cells["cell"].isin(visited)]["area_share"].astype(float).sum(), 1.0), m)
                for g, m in zip(grids["code"], grids["area_m2"]) if (cells["code"] == g).any()]
    area = sum(m for _, m in measured)
    return round(sum(s * m for s, m in measured) / area, 4) if area else None


def _close(a, b) -> bool:
    return a is None and b is None or a is not None and b is not None and abs(a - b) <= 1e-3 * max(1, abs(b))


def _assert_equal(rows: list[dict], expected: dict[str, dict]) -> None:
    assert {r["code"] for r in rows} == set(expected)
    for row in rows:
        for name, value in expected[row["code"]].items():
            assert _close(row[name], value), (row["code"], name, row[name], value)


@pytest.mark.parametrize("tier", ["district", "street", "community", "grid"])
def test_every_indicator_equals_a_recount_from_the_raw_rows(city, raw, tier):
    _, _, now = city
    for period in (current("month", now.date()), previous(current("month", now.date())), current("week", now.date()),
                   previous(current("week", now.date()))):
        rows = assessment.league(tier, period, Scope.everything(), now=now)
        _assert_equal(rows, recount(raw, tier, period, now))
    assert sum(r["reports"] for r in assessment.league(tier, current("month", now.date()), Scope.everything(), now=now)) \
        == int(((raw["incidents"]["reported_at"] >= current("month", now.date()).start)).sum())


def test_the_score_is_the_weighted_mean_of_min_max_normalised_indicators_and_ranks_follow_it(city, raw):
    _, _, now = city
    period = previous(current("month", now.date()))
    rows = assessment.league("grid", period, Scope.everything(), now=now)
    weight = assessment.weights()
    expected = recount(raw, "grid", period, now)
    assert all(r["reports"] >= assessment.MIN_REPORTS for r in rows)  # every grid ranks in a whole month here
    for row in rows:
        parts = []
        for ind in assessment.INDICATORS:
            if weight[ind.name] <= 0 or expected[row["code"]][ind.name] is None:
                continue
            present = [e[ind.name] for e in expected.values()
                       if e[ind.name] is not None and e["reports"] >= assessment.MIN_REPORTS]
            low, high = min(present), max(present)
            v = expected[row["code"]][ind.name]
            s = 100.0 if high == low else 100 * ((v - low) if ind.better == "higher" else (high - v)) / (high - low)
            parts.append((weight[ind.name], s))
        assert row["score"] == pytest.approx(sum(w * s for w, s in parts) / sum(w for w, _ in parts), abs=0.02)
    scores = [r["score"] for r in rows]
    assert scores == sorted(scores, reverse=True)
    assert [r["rank"] for r in rows] == [1 + sum(1 for s in scores if s > mine) for mine in scores]


def test_ties_share_a_rank_the_next_skips_and_ties_go_by_code():
    rows = [{"code": c, **{i.name: v for i in assessment.INDICATORS}, "reports": n} for c, v, n in
            (("B", 0.5, 10), ("A", 0.5, 10), ("D", 0.9, 10), ("C", 0.1, 10), ("E", None, 10), ("F", 1.0, 4))]
    ranked = assessment.scored(rows, {"closure_rate": 1.0})
    # F closed everything but had too few reports to rank (MIN_REPORTS); E had nothing to score
    assert [(r["code"], r["rank"]) for r in ranked] == [("D", 1), ("A", 2), ("B", 2), ("C", 4), ("E", None), ("F", None)]
    assert [r["score"] for r in ranked] == [100.0, 50.0, 50.0, 0.0, None, None]


def test_changing_the_weights_changes_the_order_to_the_weighted_indicators_own(city, default_weights):
    _, _, now = city
    period = previous(current("month", now.date()))
    for only, better in (("median_hours", "lower"), ("closure_rate", "higher")):
        assessment.set_weights({name: (1.0 if name == only else 0.0) for name in default_weights}, "test")
        rows = assessment.league("grid", period, Scope.everything(), now=now)
        values = [r[only] for r in rows if r["rank"] is not None]
        assert values == sorted(values, reverse=better == "higher"), only
    assert db.fetch_value("SELECT count(*) FROM shiyu.audit_log WHERE action = 'assessment_weights'") >= 2


def test_rank_change_is_the_previous_rank_minus_this_one_and_changes_are_against_the_previous_period(city):
    _, _, now = city
    period = previous(current("week", now.date()))  # a whole week, and the one before it, inside the 30 days
    rows = assessment.league("grid", period, Scope.everything(), now=now)
    before = {r["code"]: r for r in assessment.league("grid", previous(period), Scope.everything(), now=now)}
    assert any(r["rank_change"] not in (0, None) for r in rows)
    for row in rows:
        then = before[row["code"]]
        assert row["previous_rank"] == then["rank"]
        assert row["rank_change"] == (None if then["rank"] is None or row["rank"] is None else then["rank"] - row["rank"])
        assert row["previous"]["reports"] == then["reports"]
        if then["reports"]:
            assert row["change"]["reports"] == round(100 * (row["reports"] - then["reports"]) / then["reports"], 1)
        assert row["year_before"]["reports"] == 0 and row["change_year"]["reports"] is None  # no data a year back
    long_before = assessment.league("grid", current("month", (now - timedelta(days=70)).date()), Scope.everything(), now=now)
    assert all(r["reports"] == 0 and r["rank"] is None and r["score"] is None for r in long_before)  # before the data


def test_supervision_orders_received_and_replied_on_time_are_counted_per_area(city, raw, orders):
    _, _, now = city
    period = current("week", now.date())
    start = period.start
    rows = [("C1111", start + timedelta(hours=1), start + timedelta(hours=5), start + timedelta(hours=2)),   # on time
            ("C1111", start + timedelta(hours=2), start + timedelta(hours=3), start + timedelta(hours=4)),   # late
            ("C1112", start + timedelta(hours=1), now - timedelta(minutes=1), None),                         # overdue
            ("C2221", start + timedelta(hours=1), now + timedelta(days=2), None),                            # not due
            ("C2221", start - timedelta(hours=1), start + timedelta(hours=1), start)]                        # before
    for code, issued, due, replied in rows:
        orders.execute("INSERT INTO shiyu.supervision_order (area_code, path, level, addressee, issued_by, issued_at, "
                       "reply_due_at, replied_at) SELECT code, path, 'order', '负责人', 'test', %s, %s, %s "
                       "FROM shiyu.area WHERE code = %s", (issued, due, replied, code))
    got = _frame(orders, "SELECT path::text AS path, issued_at, reply_due_at, replied_at FROM shiyu.supervision_order")
    for tier in ("grid", "street", "district"):
        league = {r["code"]: r for r in assessment.league(tier, period, Scope.everything(), now=now)}
        for code, values in recount(raw, tier, period, now, got).items():
            assert league[code]["orders"] == values["orders"] and league[code]["orders_on_time_rate"] == values["orders_on_time_rate"]
    grids = {r["code"]: r for r in assessment.league("grid", period, Scope.everything(), now=now)}
    assert (grids["C1111"]["orders"], grids["C1111"]["orders_on_time_rate"]) == (2, 0.5)
    assert (grids["C1112"]["orders"], grids["C1112"]["orders_on_time_rate"]) == (1, 0.0)
    assert (grids["C2221"]["orders"], grids["C2221"]["orders_on_time_rate"]) == (1, None)


def test_an_officer_ranks_only_the_areas_of_their_subtree_with_the_same_values(city):
    _, _, now = city
    period = previous(current("month", now.date()))
    everything = {r["code"]: r for r in assessment.league("street", period, Scope.everything(), now=now)}
    with db.scoped(C1):
        mine = assessment.league("street", period, C1, now=now)
        wrong = assessment.league("street", period, Scope.everything(), now=now)  # a caller's bug: RLS still holds
        with pytest.raises(InputError, match="no area 'C2' in your scope"):
            assessment.league("grid", period, C1, area="C2", now=now)
        assert assessment.league("district", period, Scope("C.C1.C11"), now=now) == []
    assert {r["code"] for r in mine} == {c for c in everything if c.startswith("C1")} == {r["code"] for r in wrong}
    for row in mine:
        for ind in assessment.INDICATORS:
            assert row[ind.name] == everything[row["code"]][ind.name]
    assert sorted(r["rank"] for r in mine) == [1, 2]


def test_bad_periods_and_tiers_are_one_line_input_errors(city):
    _, _, now = city
    for period in ("2026-13", "2026-W54", "26-11", "2026/11", "x"):
        with pytest.raises(InputError, match="neither a month"):
            assessment.league("street", period, Scope.everything(), now=now)
    with pytest.raises(InputError, match="has not begun"):
        assessment.league("street", f"{now.year + 1}-01", Scope.everything(), now=now)
    with pytest.raises(InputError, match="tier 'city'"):
        assessment.league("city", "2026-01", Scope.everything(), now=now)
    assert parse_period("2026-W53").label == "2026-W53" and parse_period("2026-11").end_day.isoformat() == "2026-12-01"


def test_the_recount_covers_real_values_not_only_empty_ones(city):
    _, _, now = city
    week, month = current("week", now.date()), current("month", now.date())
    rows = [r for p in (week, previous(week), month, previous(month))
            for r in assessment.league("grid", p, Scope.everything(), now=now)]
    for name in ("closure_rate", "on_time_rate", "overdue_per_1000", "median_hours", "patrol_coverage"):
        values = {r[name] for r in rows if r[name] is not None}
        assert len(values) > 1, name


def test_a_league_is_kept_until_the_data_the_weights_or_the_minute_move(city, default_weights):
    _, _, now = city
    label = previous(current("month", now.date())).label
    assessment.LEAGUES.clear()
    computed = assessment.LEAGUES.stats.computed
    first = assessment.league("street", label, Scope.everything())
    again = assessment.league("street", label, Scope.everything())
    assert again == first and assessment.LEAGUES.stats.computed - computed in (1, 2)  # 2 only across a minute
    assessment.set_weights({"closure_rate": 0.9}, "test")
    before = assessment.LEAGUES.stats.computed
    assessment.league("street", label, Scope.everything())
    assert assessment.LEAGUES.stats.computed == before + 1
    with db.scoped(C1):  # another scope is another entry, never the city's
        assert {r["code"] for r in assessment.league("street", label, C1)} == {"C11", "C12"}


def test_a_league_over_its_limit_is_refused_before_counting_with_a_way_to_narrow(city, monkeypatch):
    from geodata.errors import TooLarge

    _, _, now = city
    monkeypatch.setattr(assessment, "LEAGUE_AREAS", 10)
    with pytest.raises(TooLarge, match="more than its limit of 10 areas; choose a coarser tier or rank inside one district"):
        assessment.league("grid", current("month", now.date()), Scope.everything(), now=now)
    assert len(assessment.league("grid", current("month", now.date()), Scope.everything(), area="C1", now=now)) == 8


def test_an_areas_standing_is_its_row_among_its_siblings_as_far_as_the_scope_reaches(city):
    _, _, now = city
    label = previous(current("month", now.date())).label
    streets = {r["code"]: r for r in assessment.league("street", label, Scope.everything(), area="C1")}
    mine = assessment.standing("C12", label, Scope.everything())
    assert mine["rank"] == streets["C12"]["rank"] and mine["of"] == 2 and mine["score"] == streets["C12"]["score"]
    with db.scoped(C1):
        assert assessment.standing("C1", label, C1)["of"] == 1  # an officer of C1 sees no other district
        with pytest.raises(InputError, match="no area 'C2'"):
            assessment.standing("C2", label, C1)
    assert assessment.standing("C", label, Scope.everything()) is None
