"""Assessment periods: a Beijing month (``2026-11``) or ISO week (``2026-W49``), the one before it and the same
one a year before (the CompStat comparisons of ``layers/assessment.py``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from geodata.errors import InputError
from layers.base import beijing_midnight, held_day

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")


@dataclass(frozen=True)
class Period:
    """A month or an ISO week, as the half-open Beijing window [start, end) of its days."""

    kind: str  # "month" or "week"
    first_day: date
    end_day: date  # the day after the last

    @property
    def label(self) -> str:
        if self.kind == "month":
            return f"{self.first_day:%Y-%m}"
        year, week, _ = self.first_day.isocalendar()
        return f"{year}-W{week:02d}"

    @property
    def start(self) -> datetime:
        return beijing_midnight(self.first_day)

    @property
    def end(self) -> datetime:
        return beijing_midnight(self.end_day)


def _month(year: int, month: int) -> Period:
    first = date(year, month, 1)
    end = date(year + month // 12, month % 12 + 1, 1)
    return Period("month", held_day(first, "the month"), held_day(end, "the month"))


def _week(year: int, week: int) -> Period:
    first = date.fromisocalendar(year, week, 1)
    return Period("week", held_day(first, "the week"), held_day(first + timedelta(days=7), "the week"))


def parse_period(text: str) -> Period:
    """The period ``YYYY-MM`` or ``YYYY-Www`` names; an ``InputError`` saying the two forms otherwise."""
    text = str(text).strip()
    try:
        if found := _MONTH.match(text):
            return _month(int(found[1]), int(found[2]))
        if found := _WEEK.match(text):
            return _week(int(found[1]), int(found[2]))
    except ValueError:
        pass
    raise InputError(f"period {text[:20]!r} is neither a month YYYY-MM (2026-11) nor an ISO week YYYY-Www (2026-W49)")


def previous(period: Period) -> Period:
    """The month or week before ``period``."""
    if period.kind == "month":
        before = period.first_day - timedelta(days=1)
        return _month(before.year, before.month)
    return Period("week", period.first_day - timedelta(days=7), period.first_day)


def year_before(period: Period) -> Period:
    """The same month, or the same ISO week number (week 52 for a week 53), a year before."""
    if period.kind == "month":
        return _month(period.first_day.year - 1, period.first_day.month)
    year, week, _ = period.first_day.isocalendar()
    try:
        return _week(year - 1, week)
    except ValueError:  # the year before has no week 53
        return _week(year - 1, 52)


def current(kind: str, today: date) -> Period:
    """The month or week holding ``today``."""
    if kind == "month":
        return _month(today.year, today.month)
    year, week, _ = today.isocalendar()
    return _week(year, week)


def last_complete(kind: str, today: date) -> Period:
    """The month or week before the one holding ``today``: what a league is shown for unless another is asked
    (the running one ranks areas on a few days' reports)."""
    return previous(current(kind, today))
