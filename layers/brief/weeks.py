"""ISO weeks as a brief names them (``2026-W49``): Monday to Sunday, Beijing days."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from geodata.errors import InputError
from layers.base import BEIJING, FIRST_DAY, LAST_DAY, beijing_midnight

_WEEK = re.compile(r"^(\d{4})-?W(\d{1,2})$", re.IGNORECASE)


@dataclass(frozen=True)
class Week:
    """One ISO week: its Monday, and the half-open window [Monday 00:00, next Monday 00:00) in Beijing time."""

    monday: date

    @property
    def label(self) -> str:
        year, number, _ = self.monday.isocalendar()
        return f"{year}-W{number:02d}"

    @property
    def sunday(self) -> date:
        return self.monday + timedelta(days=6)

    @property
    def since(self) -> datetime:
        return beijing_midnight(self.monday)

    @property
    def until(self) -> datetime:
        return beijing_midnight(self.monday + timedelta(days=7))

    def shifted(self, weeks: int) -> "Week":
        return Week(self.monday + timedelta(weeks=weeks))

    def title_zh(self) -> str:
        year, number, _ = self.monday.isocalendar()
        return (f"{year}年第{number}周（{self.monday.month}月{self.monday.day}日—"
                f"{self.sunday.month}月{self.sunday.day}日）")


def parse_week(text: str | None, what: str = "week") -> Week:
    """``YYYY-Www`` (ISO 8601) as a ``Week``; an ``InputError`` naming ``what`` otherwise."""
    found = _WEEK.match(text.strip()) if isinstance(text, str) else None
    if found is None:
        raise InputError(f"{what} {str(text)[:20]!r} is not an ISO week such as 2026-W49")
    year, number = int(found.group(1)), int(found.group(2))
    try:
        monday = date.fromisocalendar(year, number, 1)
    except ValueError:
        raise InputError(f"{what} {text.strip()!r}: {year} has no week {number}") from None
    if not (FIRST_DAY <= monday and monday + timedelta(days=6) <= LAST_DAY):
        raise InputError(f"{what} {text.strip()!r} is outside the days Shiyu holds, {FIRST_DAY} to {LAST_DAY}")
    return Week(monday)


def week_of(moment: datetime) -> Week:
    """The week ``moment`` (aware; Beijing's day) falls in."""
    day = moment.astimezone(BEIJING).date()
    return Week(day - timedelta(days=day.weekday()))


def last_complete_week(now: datetime) -> Week:
    """The newest week that has ended by ``now``: the one a Monday morning's brief is about."""
    return week_of(now).shifted(-1)
