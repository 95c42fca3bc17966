"""KPIs from the day cube rolled up to the streets (``shiyu.incident_day_street``, 0014).

For areas no deeper than a street, in a scope no deeper than a street, the
whole days of a window are read per street-day: counts, and of the resolved
incidents' hours, kept ascending, how many lie under each of
``HOUR_BOUNDS``; the part-days come from the incidents (``layers/windows.py``).
The exact median then reads only the bucket holding it (``_median_slices``).
An area and its children are read as one family: the parent's row is made
of its children's and its own (``street_rows(params, parent)``).
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from geodata.db import fetch_all
from geodata.rollups import RESOLVE_HOUR_BOUNDS
from layers.windows import GROUP, PART_DAYS, part_params

# The same from the day cube rolled up to the streets (0014), for areas no deeper than a street in a scope no deeper:
# per area its counts and, instead of every resolved incident's hours, how many are at most each of the
# ``HOUR_BOUNDS`` (``hours_upto``, summed element by element), and the part-days' hours themselves, ascending.
# ``_median_slices`` then reads only the bucket that holds the median.
STREET_DEPTH = 3
HOUR_BOUNDS = RESOLVE_HOUR_BOUNDS
_STREET_ROWS = """
    FROM shiyu.incident_day_street s
    WHERE day >= %(first_day)s AND (%(end_day)s::date IS NULL OR day < %(end_day)s)
      AND (%(scope)s::ltree IS NULL OR path <@ %(scope)s::ltree)
      AND category = ANY(%(cube_categories)s::text[])
      AND (%(paths)s::ltree[] IS NULL OR path <@ %(paths)s::ltree[]) AND nlevel(path) >= %(floor)s"""
KPIS_BY_STREET_DAY = """
WITH whole AS (
    SELECT """ + GROUP + """ AS path, sum(n) AS incidents, sum(n_resolved) AS resolved,
           ARRAY[""" + ", ".join(f"sum(hours_upto[{k + 1}])" for k in range(len(HOUR_BOUNDS))) + """] AS upto""" + \
    _STREET_ROWS + """
    GROUP BY 1
), part AS (  -- the part-days added (sign 1), and the rest of the days read whole in their place (sign -1)
    SELECT """ + GROUP + """ AS path, sum(sign) AS incidents,
           coalesce(sum(sign) FILTER (WHERE status = ANY(%(closed)s::text[])), 0) AS resolved,
           array_agg(hours ORDER BY hours) FILTER (WHERE %(median)s AND resolved_at IS NOT NULL AND sign > 0) AS hours,
           array_agg(hours ORDER BY hours) FILTER (WHERE %(median)s AND resolved_at IS NOT NULL AND sign < 0) AS less
""" + PART_DAYS + """
    GROUP BY 1
)
SELECT path, coalesce(w.incidents, 0) + coalesce(p.incidents, 0) AS incidents,
       coalesce(w.resolved, 0) + coalesce(p.resolved, 0) AS resolved, w.upto, p.hours, p.less
FROM whole w FULL JOIN part p USING (path)
"""
# Of each area's rows, the slice of the ascending hours whose buckets run from %(b1)s to %(b2)s (0-based, bucket
# b holding the hours above bound b - 1 and at most bound b). A family's children are asked for the buckets of
# their parent's median as well, so each row is read once (at 10M a district's 390 street-days: 14 ms, against 28 ms
# once for the district and once for its streets).
STREET_HOURS_BETWEEN = """
SELECT w.area AS path, v
FROM (SELECT """ + GROUP + """ AS area, hours_upto, resolve_hours""" + _STREET_ROWS + """) s
JOIN unnest(%(areas)s::text[], %(b1)s::int[], %(b2)s::int[]) AS w(area, b1, b2) ON w.area = s.area
CROSS JOIN LATERAL unnest(s.resolve_hours[(CASE WHEN w.b1 = 0 THEN 0 ELSE s.hours_upto[w.b1] END) + 1
                                          : s.hours_upto[w.b2 + 1]]) v
"""


def reads_streets(params: dict) -> bool:
    """Whether the street roll-up answers: areas and the scope no deeper than a street, not a list of grids."""
    scope = params["scope"]
    return (params["grids"] is None and params["depth"] <= STREET_DEPTH
            and (scope is None or scope.count(".") + 1 <= STREET_DEPTH))


def _middle(n: int) -> tuple[int, int]:
    """The 0-based ranks percentile_cont(0.5) interpolates between."""
    return (n - 1) // 2, n // 2


def _without(values: np.ndarray, less: np.ndarray) -> np.ndarray:
    """``values`` (ascending) less one of them for each of ``less`` (all among them)."""
    keep = np.ones(len(values), dtype=bool)
    for value, count in zip(*np.unique(less, return_counts=True)):
        start = int(np.searchsorted(values, value, side="left"))
        keep[start:start + count] = False
    return values[keep]


def _within(values: np.ndarray, bounds: tuple[float, float]) -> np.ndarray:
    """The values above the first bound and at most the second: those of the buckets between them."""
    return values[(values > bounds[0]) & (values <= bounds[1])]


def _under(path: str, area: str) -> bool:
    """Whether ``path`` is ``area`` or lies below it."""
    return path == area or path.startswith(area + ".")


def _median_slices(rows: list[dict], params: dict) -> dict[str, float | None]:
    """Each row's exact median of its whole days' hours (counted per bucket in ``upto``) with its part-days'
    (``hours``) and without those of ``less``: the bucket holding the middle ranks is found from the counts, and
    only its hours are read."""
    wanted, partial = {}, {}
    for row in rows:
        part, less = (np.sort(np.asarray(row[key] or [], dtype=float)) for key in ("hours", "less"))
        upto = np.asarray(row["upto"] or [0] * len(HOUR_BOUNDS), dtype=np.int64)
        total = (upto + np.searchsorted(part, HOUR_BOUNDS, side="right")
                 - np.searchsorted(less, HOUR_BOUNDS, side="right"))
        if total[-1] == 0:
            continue
        lo, hi = _middle(int(total[-1]))
        b1, b2 = (int(np.searchsorted(total, rank, side="right")) for rank in (lo, hi))
        below = int(total[b1 - 1]) if b1 else 0
        bounds = (HOUR_BOUNDS[b1 - 1] if b1 else -np.inf, HOUR_BOUNDS[b2])
        partial[row["path"]] = (_within(part, bounds), _within(less, bounds), below, lo, hi, bounds)
        wanted[row["path"]] = (b1, b2)
    if not wanted:
        return {}
    # a row's area is read once, for the buckets of every area holding it (a child's and its parent's)
    spans = {}
    for key in (row["path"] for row in rows):
        held = [wanted[area] for area in wanted if _under(key, area)]
        if held:
            spans[key] = (min(b1 for b1, _ in held), max(b2 for _, b2 in held))
    keys = list(spans)
    by_key: dict[str, list[float]] = defaultdict(list)
    for r in fetch_all(STREET_HOURS_BETWEEN, {**params, "areas": keys, "b1": [spans[k][0] for k in keys],
                                              "b2": [spans[k][1] for k in keys]}):
        by_key[r["path"]].append(r["v"])
    medians = {}
    for area, (part, less, below, lo, hi, bounds) in partial.items():
        mine = [np.asarray(v, dtype=float) for key, v in by_key.items() if _under(key, area)]
        pooled = _without(np.sort(np.concatenate([part, *(_within(v, bounds) for v in mine)])), less)
        first, second = float(pooled[lo - below]), float(pooled[hi - below])
        medians[area] = first if lo == hi else first + (second - first) * 0.5  # as percentile_cont interpolates
    return medians


def _merged(rows: list[dict], path: str) -> dict:
    """The street roll-up's row of ``path`` from the rows of its subtree: counts and ``upto`` added, hours pooled."""
    upto = [r["upto"] for r in rows if r["upto"] is not None]
    return {"path": path, "incidents": sum(r["incidents"] for r in rows), "resolved": sum(r["resolved"] for r in rows),
            "upto": np.sum(np.asarray(upto, dtype=np.int64), axis=0).tolist() if upto else None,
            **{key: [h for r in rows for h in r[key] or []] for key in ("hours", "less")}}


def street_rows(params: dict, parent: str | None = None) -> list[dict]:
    """incidents, resolved and median_hours per path, whole days from the street roll-up; with ``parent`` (read
    from its depth, ``floor``) also its row, made of its children's and its own."""
    params = part_params(params)
    rows = fetch_all(KPIS_BY_STREET_DAY, params)
    if parent is not None and rows:
        rows = [r for r in rows if r["path"] != parent] + [_merged(rows, parent)]
    medians = _median_slices(rows, params) if params["median"] else {}
    return [{"path": r["path"], "incidents": r["incidents"], "resolved": r["resolved"],
             "median_hours": medians.get(r["path"])} for r in rows]
