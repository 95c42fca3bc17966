"""The nine weeks before T in 18 bins, and the queries that count each unit's incidents per bin.

``layers/early_warning.py`` defines the windows and what is flagged; this
module counts. For week k = 8 … 0 before T (0 the current week), bin
2(8-k)+1 holds its first six days and bin 2(8-k)+2 its last 24 hours
(``bin_bounds``). ``GRID_COUNTS`` and ``CELL_COUNTS`` read the incidents;
``GRID_COUNTS_BY_DAY`` reads the day cube ``shiyu.incident_day`` and, of the
incidents, only the hour holding each bin boundary (``day_bins``);
``GRID_COUNTS_BY_WEEK``, for every category together, the same per grid and
week (``shiyu.incident_grid_week``, ``week_bins``). All end
in the same columns: per unit the count and baseline sum of each window, and
one row (unit NULL) with the number of units that had incidents.
"""

from __future__ import annotations

import bisect
from datetime import datetime, timedelta, timezone

from layers.base import BEIJING, INCIDENT_FILTERS, beijing_midnight

BASELINE_WEEKS = 8
WEEK = timedelta(weeks=1)
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)

# Every incident of the nine weeks before T falls in one of the 18 bins. width_bucket against instants computed in
# Python is twice as fast per row as date arithmetic, and independent of the
# session's time zone.
_COUNTED = """
counted AS (
    SELECT unit,
           sum(n) FILTER (WHERE bin = %(last_bin)s) AS n_24h,
           sum(n) FILTER (WHERE bin >= %(from_24h)s AND bin < %(week_0)s AND mod(bin, 2) = 0) AS base_24h,
           sum(n) FILTER (WHERE bin >= %(week_0)s) AS n_7d,
           sum(n) FILTER (WHERE bin >= %(from_7d)s AND bin < %(week_0)s) AS base_7d
    FROM binned
    GROUP BY unit
)
-- Only units with MIN_COUNT in the last week can be flagged; one more row (unit NULL) counts the units examined.
SELECT unit, coalesce(n_24h, 0) AS n_24h, coalesce(base_24h, 0) AS base_24h, coalesce(n_7d, 0) AS n_7d,
       coalesce(base_7d, 0) AS base_7d, NULL::bigint AS examined
FROM counted WHERE n_7d >= %(min_count)s
UNION ALL
SELECT NULL, 0, 0, 0, 0, count(*) FROM counted
"""

_BINNED = """
WITH binned AS (
    SELECT {unit} AS unit, width_bucket(reported_at, %(bounds)s::timestamptz[]) AS bin, 1 AS n
    FROM shiyu.incident
    WHERE {unit} IS NOT NULL
      AND """ + INCIDENT_FILTERS + """
      AND {in_view}
),""" + _COUNTED

# A grid is in view when its boundary is; its incidents are counted whole even outside the box.
_GRIDS_IN_VIEW = """grid_code IN (
        SELECT code FROM shiyu.area
        WHERE tier = 'grid' AND geom && ST_MakeEnvelope(%(west)s, %(south)s, %(east)s, %(north)s, 4326))"""
GRID_COUNTS = _BINNED.replace("{in_view}", _GRIDS_IN_VIEW)
# The box comes widened by two cell radii, so every cell touching the view is counted whole.
CELL_COUNTS = _BINNED.replace("{in_view}", "geom && ST_MakeEnvelope(%(west)s, %(south)s, %(east)s, %(north)s, 4326)")

# The same counts from the day cube. A bin boundary has T's time of day, so falls in hour %(hour)s (0-23) of its
# day: a day without one lies in one bin whole, and adds its count to the counts its bin's mask says (BIT_*); a
# day with one is split around that hour, its incidents before it and after it each in one bin, and of that hour
# itself the incidents are read from shiyu.incident (one hour each, masked by their bin). The counts are summed
# per grid and mask first, then per grid by the masks' bits: the bits tested row by row were half the time.
BIT_24H, BIT_BASE_24H, BIT_7D, BIT_BASE_7D, BIT_INSIDE = 1, 2, 4, 8, 16
_DAY_CUBE_ROWS = """
    WHERE c.day >= %(first_day)s AND c.day <= %(last_day)s
      AND (%(scope)s::ltree IS NULL OR c.path <@ %(scope)s::ltree)
      AND c.category = ANY(%(cube_categories)s::text[])"""
GRID_COUNTS_BY_DAY = """
WITH grids AS (
    SELECT code FROM shiyu.area
    WHERE tier = 'grid' AND geom && ST_MakeEnvelope(%(west)s, %(south)s, %(east)s, %(north)s, 4326)
      AND (%(scope)s::ltree IS NULL OR path <@ %(scope)s::ltree)
), parts AS (  -- per row up to two counts, each with its mask
    SELECT c.grid_code AS unit, c.n AS n1, d.mask AS m1, 0 AS n2, 0 AS m2
    FROM shiyu.incident_day c
    JOIN unnest(%(whole_days)s::date[], %(whole_masks)s::int[]) AS d(day, mask) ON d.day = c.day""" + \
    _DAY_CUBE_ROWS + """
    UNION ALL
    SELECT c.grid_code, coalesce(c.by_hour_cum[%(hour)s], 0), d.early, c.n - c.by_hour_cum[%(hour)s + 1], d.late
    FROM shiyu.incident_day c
    JOIN unnest(%(split_days)s::date[], %(split_early)s::int[], %(split_late)s::int[]) AS d(day, early, late)
         ON d.day = c.day""" + _DAY_CUBE_ROWS + """
    UNION ALL
    SELECT r.grid_code, 1, r.mask, 0, 0
    FROM unnest(%(raw_hours)s::timestamptz[]) AS w(start)
    -- OFFSET 0: each hour is one range of the reported_at index
    CROSS JOIN LATERAL (
        SELECT grid_code, (%(bin_masks)s::int[])[width_bucket(reported_at, %(bounds)s::timestamptz[]) + 1] AS mask
        FROM shiyu.incident
        WHERE reported_at >= w.start AND reported_at < w.start + interval '1 hour'
          AND """ + INCIDENT_FILTERS + """
        OFFSET 0
    ) r
), masked AS (
    SELECT unit, m1, m2, sum(n1) AS n1, sum(n2) AS n2
    FROM parts
    WHERE (m1 <> 0 AND n1 <> 0) OR (m2 <> 0 AND n2 <> 0)
    GROUP BY 1, 2, 3
), counted AS (
    SELECT unit,
           coalesce(sum(n1) FILTER (WHERE m1 & 1 <> 0), 0) + coalesce(sum(n2) FILTER (WHERE m2 & 1 <> 0), 0) AS n_24h,
           coalesce(sum(n1) FILTER (WHERE m1 & 2 <> 0), 0) + coalesce(sum(n2) FILTER (WHERE m2 & 2 <> 0), 0) AS base_24h,
           coalesce(sum(n1) FILTER (WHERE m1 & 4 <> 0), 0) + coalesce(sum(n2) FILTER (WHERE m2 & 4 <> 0), 0) AS n_7d,
           coalesce(sum(n1) FILTER (WHERE m1 & 8 <> 0), 0) + coalesce(sum(n2) FILTER (WHERE m2 & 8 <> 0), 0) AS base_7d
    FROM masked
    -- the grids in view are matched to the sums, not to the cube's rows (joined to those, the planner hashed the
    -- half million rows rather than the grids, and spilled them to disk)
    WHERE unit IN (SELECT code FROM grids)
    GROUP BY unit
)
-- every unit counted had an incident inside the nine weeks (BIT_INSIDE is every bin's)
SELECT unit, n_24h, base_24h, n_7d, base_7d, NULL::bigint AS examined FROM counted WHERE n_7d >= %(min_count)s
UNION ALL
SELECT NULL, 0, 0, 0, 0, count(*) FROM counted
"""

# The same counts, for every category together, from the day cube's hours per grid and week (0020): a row holds
# how many incidents came before each hour of its week, so a span of whole hours is at(end) - at(start), where
# at(x) = before_day[d] + by_hour_cum[h] for the indexes week_bins gives (h 0, out of the array, for a midnight).
# Each week has, per count, the span of whole hours lying in it with that count's bit (the 24 h baseline up to
# two, GRID_WEEK_SPANS); of the hours a bin boundary splits, the incidents are read from shiyu.incident, each
# with the bits its bin has and the whole hour does not (%(raw_covered)s, what the weeks count already).
GRID_WEEK_SPANS = ("n_24h", "base_24h", "base_24h_2", "n_7d", "base_7d", "inside")
_ENDS = tuple(f"{span}_{end}_{index}" for span in GRID_WEEK_SPANS for end in ("s", "e") for index in ("d", "h"))


def _whole_hours(span: str) -> str:
    at = "c.before_day[w.{0}_{1}_d] + coalesce(c.by_hour_cum[w.{0}_{1}_h], 0)"
    return f"({at.format(span, 'e')}) - ({at.format(span, 's')})"


_RAW_BITS = {"n_24h": BIT_24H, "base_24h": BIT_BASE_24H, "n_7d": BIT_7D, "base_7d": BIT_BASE_7D, "inside": BIT_INSIDE}
GRID_COUNTS_BY_WEEK = """
WITH grids AS (
    SELECT code FROM shiyu.area
    WHERE tier = 'grid' AND geom && ST_MakeEnvelope(%(west)s, %(south)s, %(east)s, %(north)s, 4326)
      AND (%(scope)s::ltree IS NULL OR path <@ %(scope)s::ltree)
), weeks AS (
    SELECT * FROM unnest(%(weeks)s::date[], """ + ", ".join(f"%({e})s::int[]" for e in _ENDS) + """)
        AS w(week, """ + ", ".join(_ENDS) + """)
), parts AS (
    SELECT c.grid_code AS unit, """ + ", ".join(
        f"sum({_whole_hours(span)}{' + ' + _whole_hours('base_24h_2') if span == 'base_24h' else ''}) AS {span}"
        for span in _RAW_BITS) + """
    FROM shiyu.incident_grid_week c JOIN weeks w ON w.week = c.week
    WHERE c.week >= %(first_week)s AND c.week <= %(last_week)s
      AND (%(scope)s::ltree IS NULL OR c.path <@ %(scope)s::ltree)
    GROUP BY 1
    UNION ALL
    SELECT r.grid_code, """ + ", ".join(f"count(*) FILTER (WHERE r.mask & {bit} <> 0)" for bit in _RAW_BITS.values()) + """
    FROM unnest(%(raw_hours)s::timestamptz[], %(raw_covered)s::int[]) AS w(start, covered)
    CROSS JOIN LATERAL (
        SELECT grid_code,
               (%(bin_masks)s::int[])[width_bucket(reported_at, %(bounds)s::timestamptz[]) + 1] & ~w.covered AS mask
        FROM shiyu.incident
        WHERE reported_at >= w.start AND reported_at < w.start + interval '1 hour'
          AND """ + INCIDENT_FILTERS + """
        OFFSET 0
    ) r
    GROUP BY 1
), counted AS (
    SELECT unit, """ + ", ".join(f"sum({span}) AS {span}" for span in _RAW_BITS) + """
    FROM parts
    WHERE unit IN (SELECT code FROM grids)
    GROUP BY unit
)
-- every unit counted had an incident inside the nine weeks
SELECT unit, n_24h, base_24h, n_7d, base_7d, NULL::bigint AS examined
FROM counted WHERE inside > 0 AND n_7d >= %(min_count)s
UNION ALL
SELECT NULL, 0, 0, 0, 0, count(*) FROM counted WHERE inside > 0
"""


# The flagged grids' incidents of the last 24 h and 7 days by category, from the day cube's rows of each
# category: T's day and the days 1 and 7 before it are split around hour %(hour)s (before it, after it), the days
# between count whole, and that hour of the three days is read from the incidents (each in [T - 7 d, T)).
GRID_CATEGORIES_BY_DAY = """
SELECT unit, category, sum(n_24h) AS n_24h, sum(n_7d) AS n_7d FROM (
    SELECT c.grid_code AS unit, c.category,
           sum(CASE WHEN c.day = %(day_24h)s THEN c.n - c.by_hour_cum[%(hour)s + 1]
                    WHEN c.day = %(last_day)s THEN coalesce(c.by_hour_cum[%(hour)s], 0) ELSE 0 END) AS n_24h,
           sum(CASE WHEN c.day = %(first_day)s THEN c.n - c.by_hour_cum[%(hour)s + 1]
                    WHEN c.day = %(day_24h)s THEN c.n - c.by_hour_cum[%(hour)s + 1] + coalesce(c.by_hour_cum[%(hour)s], 0)
                    WHEN c.day = %(last_day)s THEN coalesce(c.by_hour_cum[%(hour)s], 0) ELSE c.n END) AS n_7d
    FROM shiyu.incident_day c
    WHERE c.grid_code = ANY(%(units)s::text[]) AND c.day >= %(first_day)s AND c.day <= %(last_day)s
      AND c.category = ANY(%(cube_categories)s::text[])
      AND (%(scope)s::ltree IS NULL OR c.path <@ %(scope)s::ltree)
    GROUP BY 1, 2
    UNION ALL
    SELECT r.grid_code, r.category, count(*) FILTER (WHERE r.reported_at >= %(day_start)s), count(*)
    FROM unnest(%(raw_hours)s::timestamptz[]) AS w(start)
    CROSS JOIN LATERAL (
        SELECT grid_code, category, reported_at
        FROM shiyu.incident
        WHERE reported_at >= w.start AND reported_at < w.start + interval '1 hour'
          AND """ + INCIDENT_FILTERS + """
        OFFSET 0
    ) r
    WHERE r.grid_code = ANY(%(units)s::text[])
    GROUP BY 1, 2
) counts
GROUP BY 1, 2
"""


def category_days(until: datetime) -> dict:
    """How GRID_CATEGORIES_BY_DAY splits the days of the week before T (``until``)."""
    local = until.astimezone(BEIJING)
    day = local.date()
    return {"hour": local.hour, "first_day": day - WEEK, "day_24h": day - DAY, "last_day": day,
            "raw_hours": [beijing_midnight(d) + local.hour * HOUR for d in (day - WEEK, day - DAY, day)]}


def bin_bounds(until: datetime) -> list[datetime]:
    """Ascending: for each week k = 8 … 0 before T, the start of the week and the start of its last 24 hours."""
    return [until - k * WEEK - span for k in range(BASELINE_WEEKS, -1, -1) for span in (WEEK, DAY)]


def bin_params(until: datetime, spans: dict[str, int]) -> dict:
    """The bins of ``_BINNED`` that make each window's count and baseline (spans k = 1 … K of each)."""
    week_0 = 2 * BASELINE_WEEKS + 1
    return {"bounds": bin_bounds(until), "week_0": week_0, "last_bin": week_0 + 1,
            "from_24h": 2 * (BASELINE_WEEKS - spans["24h"]) + 2, "from_7d": 2 * (BASELINE_WEEKS - spans["7d"]) + 1}


def bin_masks(spans: dict[str, int]) -> list[int]:
    """For each bin of ``bin_bounds`` (0 = outside, … 18 = the last 24 h), the counts it adds to, as BIT_* flags;
    the same choice _COUNTED makes with its FILTERs."""
    p = bin_params(datetime.now(timezone.utc), spans)
    masks = [0]
    for b in range(1, p["last_bin"] + 1):
        mask = BIT_INSIDE
        mask |= BIT_24H if b == p["last_bin"] else 0
        mask |= BIT_BASE_24H if p["from_24h"] <= b < p["week_0"] and b % 2 == 0 else 0
        mask |= BIT_7D if b >= p["week_0"] else 0
        mask |= BIT_BASE_7D if p["from_7d"] <= b < p["week_0"] else 0
        masks.append(mask)
    return masks


def day_bins(until: datetime, spans: dict[str, int]) -> dict:
    """How GRID_COUNTS_BY_DAY counts each Beijing day of the nine weeks before T.

    Every bin boundary has T's time of day, so lies within hour ``hour`` of its day; each day is three parts —
    before that hour, that hour, after it — and each part lies in one bin (masked 0 outside the nine weeks),
    except that hour on a day a boundary falls in, which is read from the incidents (``raw_hours``).
    """
    bounds, masks = bin_bounds(until), bin_masks(spans)
    start = bounds[0]
    local = until.astimezone(BEIJING)
    hour = local.hour

    def mask_of(moment: datetime) -> int:
        return 0 if moment < start or moment >= until else masks[bisect.bisect_right(bounds, moment)]

    boundary_days = {b.astimezone(BEIJING).date() for b in [*bounds, until]}
    first, last = start.astimezone(BEIJING).date(), local.date()
    days, early, split, late, raw = [], [], [], [], []
    for k in range((last - first).days + 1):
        day = first + timedelta(days=k)
        midnight = beijing_midnight(day)
        days.append(day)
        early.append(mask_of(midnight) if hour > 0 else 0)
        late.append(mask_of(midnight + (hour + 1) * HOUR) if hour < 23 else 0)
        if day in boundary_days:
            split.append(0)
            raw.append(midnight + hour * HOUR)
        else:
            split.append(mask_of(midnight + hour * HOUR))
    whole = [k for k, day in enumerate(days) if day not in boundary_days]
    parted = [k for k, day in enumerate(days) if day in boundary_days]
    return {"hour": hour, "first_day": first, "last_day": last, "days": days, "early_masks": early,
            "split_masks": split, "late_masks": late, "raw_hours": raw, "bin_masks": masks,
            # the same, as GRID_COUNTS_BY_DAY reads it: days in one bin whole, and days split around the hour
            "whole_days": [days[k] for k in whole], "whole_masks": [split[k] for k in whole],
            "split_days": [days[k] for k in parted], "split_early": [early[k] for k in parted],
            "split_late": [late[k] for k in parted]}


def _runs(bits: list[int], bit: int) -> list[tuple[int, int]]:
    """The [start, end) runs of the hours whose bits have ``bit``."""
    runs, start = [], None
    for x, b in enumerate([*bits, 0]):
        if b & bit and start is None:
            start = x
        elif not b & bit and start is not None:
            runs.append((start, x))
            start = None
    return runs


def week_bins(until: datetime, spans: dict[str, int]) -> dict:
    """How GRID_COUNTS_BY_WEEK counts the Beijing weeks of the nine weeks before T.

    An hour of a week lies in one bin whole, or is split by a bin boundary (those have T's time of day): the week
    counts each hour's incidents under the bits the whole hour has (a split hour's two bins' bits in common), and
    of the split hours (``raw_hours``) the incidents are read, each under its bin's bits less those
    (``raw_covered``). Per week and count the hours counted are at most one run (two for the 24 h baseline: its
    spans are a week apart), each end given as GRID_COUNTS_BY_WEEK's two array indexes.
    """
    bounds, masks = bin_bounds(until), bin_masks(spans)
    start, last = bounds[0], timedelta(microseconds=1)

    def mask_of(moment: datetime) -> int:
        return 0 if moment < start or moment >= until else masks[bisect.bisect_right(bounds, moment)]

    first_day = start.astimezone(BEIJING).date()
    first_week = first_day - timedelta(days=first_day.weekday())
    last_day = until.astimezone(BEIJING).date()
    last_week = last_day - timedelta(days=last_day.weekday())
    params: dict = {"weeks": [], "raw_hours": [], "raw_covered": [], "first_week": first_week, "last_week": last_week,
                    "bin_masks": masks,
                    **{end: [] for end in _ENDS}}
    week = first_week
    while week <= last_week:
        monday, bits = beijing_midnight(week), []
        for x in range(7 * 24):
            hour = monday + x * HOUR
            head, tail = mask_of(hour), mask_of(hour + HOUR - last)
            bits.append(head & tail)
            if head != tail:
                params["raw_hours"].append(hour)
                params["raw_covered"].append(head & tail)
        params["weeks"].append(week)
        for span, bit in _RAW_BITS.items():
            runs, names = _runs(bits, bit), (span, "base_24h_2") if span == "base_24h" else (span,)
            if len(runs) > len(names):
                raise AssertionError(f"{len(runs)} runs of {span} in the week of {week}")
            for name, run in zip(names, runs + [(0, 0)] * (len(names) - len(runs))):
                for end, x in zip(("s", "e"), run):
                    params[f"{name}_{end}_d"].append(x // 24 + 1)
                    params[f"{name}_{end}_h"].append(x if x % 24 else 0)
        week += WEEK
    return params
