"""The demo city's live feed: new reports, and its open cases moved along the chain, as canonical rows.

:class:`LiveCity` is the grid workers' app of the demo city seen from the
intake API. New reports arrive as a Poisson stream at ``rate / ROWS_PER_CASE``
a minute, drawn like the demo's incidents (:mod:`etl.democity.process`:
the same places, categories and severities, the hotspots :data:`HOT` times as
often). Each gets a handling time from the same model as the files, so it is
registered, dispatched, handled, verified (``resolved_at`` set) and closed
when :func:`process.status_at` says so — stalling in the streets of neglect
as there. Over a day each case is posted about :data:`ROWS_PER_CASE` times,
so ``rate`` rows a minute is both the cap and the steady pace.

The feed only ever writes its own cases (ids ``LV…``, under the feed's own
source). :meth:`LiveCity.take` proposes rows without changing anything, so a
post that failed is simply proposed again; :meth:`LiveCity.confirm` records
what the server accepted. Time is passed in (epoch seconds), never read, so a
test drives a day in a moment.
"""

from __future__ import annotations

import bisect
import heapq
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta, timezone

import numpy as np
import shapely

from etl.democity import feeds, names, places, process

__all__ = ["Batch", "Case", "LiveCity", "ROWS_PER_CASE"]

ROWS_PER_CASE = 6          # reported, registered, dispatched, handling, verified, closed
HOT = 2.0                  # the live feed's hotspots draw twice their share
ID_PREFIX = "LV"
POOL = 256                 # reports drawn at a time
BEIJING = timezone(timedelta(hours=8))
CLOSED = process.STATUS_CODES.index("closed")
VERIFIED = process.STATUS_CODES.index("verified")


@dataclass
class Case:
    """One of the feed's own open cases: what was last posted of it, and when it will be resolved."""

    id: str
    category: int
    t: int                 # reported, epoch seconds
    lon: float
    lat: float
    severity: int
    took: int              # seconds from report to resolution
    status: int            # the last status posted (index into STATUS_CODES)
    description: str
    reporter_name: str = ""
    reporter_phone: str = ""


@dataclass
class Batch:
    """Rows proposed at ``now``: moves of known cases first, then new reports (``new`` of them, at the end)."""

    now: int
    rows: list[dict]
    cases: list[Case]      # the case of each row, as it will be once the row is accepted
    new: int

    @property
    def new_ids(self) -> set[str]:
        """The ids of the new reports among the rows."""
        return {c.id for c in self.cases[len(self.cases) - self.new:]}


def _text(t: int) -> str:
    return datetime.fromtimestamp(int(t), BEIJING).isoformat(timespec="seconds")


def row(case: Case) -> dict:
    """The canonical row of a case at its status (``resolved_at`` once verified)."""
    resolved = _text(case.t + case.took) if case.status >= VERIFIED else ""
    return {"id": case.id, "category": process.CATEGORY_CODES[case.category], "reported_at": _text(case.t),
            "lon": round(case.lon, 6), "lat": round(case.lat, 6), "severity": case.severity,
            "status": process.STATUS_CODES[case.status], "resolved_at": resolved, "description": case.description,
            "reporter_name": case.reporter_name, "reporter_phone": case.reporter_phone}


class LiveCity:
    """The feed's state: its open cases and the next new report.

    Parameters
    ----------
    rng : numpy.random.Generator
    raster, city
        The demo city's population surface and outline (:func:`etl.democity.build_city`).
    neglect : shapely.Geometry or None
        The streets of neglect.
    rate : float
        Rows a minute the feed posts at most (and, once its cases cycle, about that many).
    start : int
        Epoch seconds the feed starts at; the first new report comes after it.
    cases : iterable of Case, optional
        Open cases of an earlier run, continued.
    """

    def __init__(self, rng: np.random.Generator, raster: places.Raster, city: shapely.Geometry,
                 neglect: shapely.Geometry | None, rate: float, start: int, cases=()) -> None:
        if not rate > 0:
            raise ValueError(f"the feed rate must be above 0 rows a minute, not {rate}")
        self.rng, self.raster, self.city, self.neglect = rng, raster, city, neglect
        self.mean_gap_s = 60.0 * ROWS_PER_CASE / rate
        self.cases: dict[str, Case] = {}
        self.moves_at: dict[str, int] = {}   # when each open case next changes status
        self.queue: list[tuple[int, str]] = []  # (moves_at, id), a heap; entries of moved cases go stale
        for case in cases:
            self._keep(case)
        self.arriving: list[Case] = []   # drawn, not yet accepted by the server
        self.next_at = start + self._gap()
        self.serial = 0
        self.pool: list[Case] = []

    def _gap(self) -> int:
        return max(1, int(round(self.rng.exponential(self.mean_gap_s))))

    def _draw(self, n: int) -> list[Case]:
        """``n`` reports to come, without times or ids yet (drawn in blocks: a draw over the raster is slow)."""
        spot = process.components(self.rng, n, HOT)
        category = process.categories(self.rng, spot)
        lon, lat = process.place(self.rng, spot, self.raster, self.city)
        severity = process.severities(self.rng, category)
        took = process.handling_times(self.rng, category, process.in_neglect(self.neglect, lon, lat))
        reported = self.rng.random(n) < feeds.REPORTER_SHARE
        people, phones = names.person_names(self.rng, n), names.phones(self.rng, n)
        out = []
        for k in range(n):
            phrases = feeds.DESCRIPTIONS[process.CATEGORY_CODES[category[k]]]
            where = f"{places.HOTSPOTS[spot[k]].name}附近：" if spot[k] >= 0 else ""
            out.append(Case("", int(category[k]), 0, float(lon[k]), float(lat[k]), int(severity[k]), int(took[k]), 0,
                            where + phrases[self.rng.integers(len(phrases))],
                            str(people[k]) if reported[k] else "", str(phones[k]) if reported[k] else ""))
        return out

    def _arrivals(self, now: int) -> None:
        while self.next_at <= now:
            if not self.pool:
                self.pool = self._draw(POOL)
            self.serial += 1
            case = self.pool.pop()
            case.id, case.t = f"{ID_PREFIX}{self.next_at}{self.serial % 1000:03d}", self.next_at
            self.arriving.append(case)
            self.next_at += self._gap()

    def take(self, now: int, budget: int) -> Batch:
        """At most ``budget`` rows due at ``now``: status moves (oldest report first), then new reports.

        Nothing changes until :meth:`confirm`; asked again, it proposes the same rows (and any newer).
        """
        self._arrivals(now)
        cases: list[Case] = []
        if budget > 0:
            moved = sorted((self.cases[i] for i in self._due(now)), key=lambda c: c.t)
            for c in moved[:budget]:
                status = bisect.bisect_right(process.step_times(c.t, c.took), now) - 1
                cases.append(replace(c, status=min(status, CLOSED)))
        new = self.arriving[: max(0, budget - len(cases))]
        cases += new
        rows = [row(c) for c in cases]
        return Batch(now, rows, cases, len(new))

    def confirm(self, batch: Batch, rejected: set[str] = frozenset()) -> None:
        """Record what the server accepted of ``batch`` (rows whose ids are in ``rejected`` were not)."""
        posted = batch.new_ids
        self.arriving = [c for c in self.arriving if c.id not in posted]
        for case in batch.cases:
            if case.id in rejected or case.status == CLOSED:  # a case refused is forgotten, not retried for ever
                self.cases.pop(case.id, None)
                self.moves_at.pop(case.id, None)
            else:
                self._keep(case)

    def _keep(self, case: Case) -> None:
        self.cases[case.id] = case
        self.moves_at[case.id] = when = process.step_times(case.t, case.took)[case.status + 1]
        heapq.heappush(self.queue, (when, case.id))

    def _due(self, now: int) -> list[str]:
        """Ids of open cases whose next status is due by ``now`` (the queue is left as it was, stale entries aside)."""
        due, keep = {}, []
        while self.queue and self.queue[0][0] <= now:
            when, case_id = heapq.heappop(self.queue)
            if self.moves_at.get(case_id) == when and case_id not in due:
                due[case_id] = None
                keep.append((when, case_id))
        for item in keep:
            heapq.heappush(self.queue, item)
        return list(due)

    def forget(self, batch: Batch) -> None:
        """Drop every case of ``batch`` (the server refused it whole): no more rows of them are proposed."""
        ids = {c.id for c in batch.cases}
        self.arriving = [c for c in self.arriving if c.id not in ids]
        for case_id in ids:
            self.cases.pop(case_id, None)
            self.moves_at.pop(case_id, None)

    def state(self) -> list[dict]:
        """The open cases, to continue them in a later run (:meth:`Case` fields)."""
        return [asdict(c) for c in self.cases.values()]
