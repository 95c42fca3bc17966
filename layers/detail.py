"""What the explore page shows when a user clicks: the area cascade, an area's drill-down, a hex's panel.

Everything here is read inside the scope: an area outside it is an
InputError, as if it did not exist, and lists leave out what lies outside it.

- ``area_children`` / ``area_chain``: the district → street → community →
  grid dropdowns and the breadcrumb that restores them from a URL;
- ``area_detail``: an area's owner, extent, KPIs (``layers/kpis.py``), its
  child areas ranked by incidents, and its overdue incidents (reporter
  masked unless the user may see it), over the same window as the KPIs so the list agrees with them;
- ``cell_detail``: a hex's incidents by category, status and Beijing day, its
  Gi* as the hotspots map shows it, and the grids it overlaps, the one
  holding the largest share accountable.

An area owner's name and work phone (``owner_name``, ``owner_phone``) are
shown as stored: officers are meant to call them. Reporters are masked
(``geodata.pii``) unless the caller passes ``show_pii``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import date, datetime, timedelta

import h3
import numpy as np

from geodata.db import compose, fetch_all
from geodata.errors import InputError
from geodata.h3cells import RESOLUTIONS, cells_to_lonlat
from geodata.pii import reporter
from geodata.scope import Scope
from geodata.taxonomy import CLOSED_STATUSES, STATUSES, TIERS
from layers.base import (BEIJING, DUE_AFTER_SINCE, INCIDENT_FILTERS, OVERDUE, BBox, Filters, in_scope_grids,
                         incident_params, view_path)
from layers.hotspots import analyse
from layers.kpis import family_kpis, kpi_window

MAX_OVERDUE = 500  # a panel lists this many at most, whatever the caller asks
CELL_COLUMNS = {res: f"h3_r{res}" for res in RESOLUTIONS}

IN_SCOPE = "(%(scope)s::ltree IS NULL OR a.path <@ %(scope)s::ltree)"

AREA = """
SELECT a.code, a.name, a.tier, a.owner_name, a.owner_phone, a.path::text AS path, a.area_m2,
       ST_XMin(a.geom) AS west, ST_YMin(a.geom) AS south, ST_XMax(a.geom) AS east, ST_YMax(a.geom) AS north
FROM shiyu.area a
WHERE a.code = %(code)s AND """ + IN_SCOPE

CHILDREN = """
SELECT a.code, a.name, a.tier, a.owner_name, a.owner_phone, a.path::text AS path, a.area_m2
FROM shiyu.area a
WHERE a.parent_code = ANY(%(codes)s::text[]) AND """ + IN_SCOPE + """
ORDER BY a.code
"""

# The areas of the coarsest tier in scope: where the cascade starts, or what it descends from.
TOP = """
SELECT a.code, a.name, a.tier, a.path::text AS path
FROM shiyu.area a
WHERE """ + IN_SCOPE + """
  AND a.tier = (SELECT b.tier FROM shiyu.area b WHERE %(scope)s::ltree IS NULL OR b.path <@ %(scope)s::ltree
                ORDER BY array_position(%(tiers)s::text[], b.tier) LIMIT 1)
ORDER BY a.code
"""

# Ancestors, looked up by code (a path's labels are its areas' codes) rather than by path @> path: under row-level
# security the planner keeps ltree's operators, not leakproof, out of an index condition, and compared every area
# (17 ms for a street, at both sizes). Those above the scope are not the user's to see.
CHAIN = """
WITH labels AS (
    SELECT unnest(string_to_array(t.path::text, '.')) AS code FROM shiyu.area t
    WHERE t.code = %(code)s AND (%(scope)s::ltree IS NULL OR t.path <@ %(scope)s::ltree)
)
SELECT a.code, a.name, a.tier
FROM labels l JOIN shiyu.area a ON a.code = l.code
WHERE """ + IN_SCOPE + """
ORDER BY nlevel(a.path)
"""

# The personal fields are masked in Python before they go anywhere; the grid's name by subquery, since
# INCIDENT_FILTERS names ``path`` unqualified and a join to shiyu.area would make it ambiguous.
OVERDUE_LIST = """
SELECT source, external_id, reported_at, due_at, category, severity, status, grid_code,
       (SELECT g.name FROM shiyu.area g WHERE g.code = i.grid_code) AS grid_name,
       pii ->> 'reporter_name' AS reporter_name, pii ->> 'reporter_phone' AS reporter_phone
FROM shiyu.incident i
WHERE """ + OVERDUE + """ AND """ + DUE_AFTER_SINCE + """ AND """ + INCIDENT_FILTERS + """<grids>
  AND (%(due_by)s::timestamptz IS NULL OR due_at <= %(due_by)s)
ORDER BY due_at, source, external_id
LIMIT %(limit)s
"""

# The due time of the %(limit)s-th oldest overdue incident: every one listed is due by then. Walking the due-time
# index from the window's start finds it after about limit / (the area's share of the open incidents) entries, read
# from the index alone (a district's 50th after 650 at 10M: 2 ms), where the list through the grids reads every
# overdue incident of the area (its 73k: 91 ms). Asked only when the area has more than %(limit)s overdue.
OVERDUE_DUE_BY = """
SELECT max(due_at) AS due_by
FROM (SELECT due_at FROM shiyu.incident
      WHERE """ + OVERDUE + """ AND """ + DUE_AFTER_SINCE + """ AND """ + INCIDENT_FILTERS + """
      ORDER BY due_at
      LIMIT %(limit)s) oldest
"""

# One pass gives the total, both breakdowns and the trend; grouped by the Beijing day in SQL so the
# answer does not depend on the session's time zone.
CELL_COUNTS = """
SELECT (reported_at AT TIME ZONE 'Asia/Shanghai')::date AS day, category, status, count(*) AS n,
       count(*) FILTER (WHERE """ + OVERDUE + """) AS overdue
FROM shiyu.incident
WHERE {cell} = %(cell)s AND """ + INCIDENT_FILTERS + """
GROUP BY 1, 2, 3
"""

# Every grid in scope the cell overlaps, ordered as DOMINANT_GRID (layers/hexes.py) picks the first.
CELL_GRIDS = """
SELECT c.code, c.share, a.name, a.owner_name, a.owner_phone
FROM shiyu.area_cell c JOIN shiyu.area a ON a.code = c.code
WHERE c.res = %(res)s AND c.cell = %(cell)s AND """ + IN_SCOPE + """
ORDER BY c.share DESC, c.code
"""


def _brief(row: dict) -> dict:
    return {"code": row["code"], "name": row["name"], "tier": row["tier"]}


def _now(now: datetime | None) -> datetime:
    return (now or datetime.now().astimezone()).astimezone(BEIJING)


def area_children(code: str | None, scope: Scope) -> list[dict]:
    """The areas in scope whose parent is ``code``, by code; with None, the top of the cascade.

    The top is the coarsest tier in scope, except that a city, or the area the
    scope itself is, is descended from: nobody picks the one city, and an
    officer's own district is where the cascade starts, not a choice in it.
    """
    if code is not None:
        return [_brief(r) for r in fetch_all(CHILDREN, {"codes": [code], "scope": scope.path})]
    top = fetch_all(TOP, {"scope": scope.path, "tiers": list(TIERS)})
    if any(r["tier"] == "city" or r["path"] == scope.path for r in top):
        top = fetch_all(CHILDREN, {"codes": [r["code"] for r in top], "scope": scope.path})
    return [_brief(r) for r in top]


def area_chain(code: str, scope: Scope) -> list[dict]:
    """The area and its ancestors inside the scope, root first; InputError for an area not in the scope."""
    chain = [_brief(r) for r in fetch_all(CHAIN, {"code": code, "scope": scope.path})]
    if not chain:
        raise InputError(f"there is no area '{code}' in your scope")
    return chain


def _overdue(filters: Filters, scope: Scope, now: datetime, limit: int, total: int,
             show_pii: bool = False) -> list[dict]:
    """The overdue incidents under ``filters``, oldest due first, at most ``limit``, of the ``total`` there are."""
    params = {**incident_params(filters, scope), "closed": list(CLOSED_STATUSES), "now": now,
              "limit": max(0, min(limit, MAX_OVERDUE)), "due_by": None}
    if params["limit"] == 0 or total == 0:
        return []
    if total > params["limit"]:
        params["due_by"] = fetch_all(OVERDUE_DUE_BY, params)[0]["due_by"]
    rows = fetch_all(in_scope_grids(OVERDUE_LIST, params), params)
    return [{
        "id": f"{r['source']}:{r['external_id']}",
        "reported_at": r["reported_at"].astimezone(BEIJING), "due_at": r["due_at"].astimezone(BEIJING),
        "hours_overdue": round((now - r["due_at"]).total_seconds() / 3600, 1),
        "category": r["category"], "severity": r["severity"], "status": r["status"],
        "grid_code": r["grid_code"], "grid_name": r["grid_name"],
        **reporter(r["reporter_name"], r["reporter_phone"], show_pii),
    } for r in rows]


def area_detail(code: str, filters: Filters, scope: Scope, now: datetime | None = None,
                overdue_limit: int = 50, show_pii: bool = False) -> dict:
    """The drill-down panel of one area in scope: owner, chain, bbox, KPIs, ranked children, overdue incidents.

    ``filters.area_code`` is replaced by ``code``; the categories, severities,
    statuses and time window apply. The window is ``kpi_window`` (the
    filters', else the last 30 days) for the KPIs and the overdue list alike,
    so ``overdue_total`` equals ``kpis["overdue"]``. Reporters are masked unless ``show_pii``.
    """
    rows = fetch_all(AREA, {"code": code, "scope": scope.path})
    if not rows:
        raise InputError(f"there is no area '{code}' in your scope")
    area = rows[0]
    now = _now(now)
    mine = replace(filters, area_code=code)
    window = kpi_window(mine, now)
    children = fetch_all(CHILDREN, {"codes": [code], "scope": scope.path})
    kpis = family_kpis(area, children, mine, scope, now)
    ranked = sorted(({"code": c["code"], "name": c["name"], "tier": c["tier"], "owner_name": c["owner_name"],
                      "owner_phone": c["owner_phone"], "kpis": kpis[c["code"]]} for c in children),
                    key=lambda c: (-c["kpis"]["incidents"], c["code"]))
    total = kpis[code]["overdue"]
    overdue = _overdue(window, scope, now, overdue_limit, total, show_pii)
    bbox: BBox = (area["west"], area["south"], area["east"], area["north"])
    return {
        "code": area["code"], "name": area["name"], "tier": area["tier"],
        "owner_name": area["owner_name"], "owner_phone": area["owner_phone"],
        "chain": area_chain(code, scope), "bbox": bbox,
        "since": window.since.astimezone(BEIJING), "until": (window.until or now).astimezone(BEIJING),
        "kpis": kpis[code],
        "children": ranked, "overdue": overdue, "overdue_total": total,
    }


def _cell(h3_cell: str) -> tuple[int, int]:
    """(the cell as an integer, its resolution) of a hex string the map carries; InputError otherwise."""
    text = h3_cell.strip().lower() if isinstance(h3_cell, str) else ""
    if not text or not h3.is_valid_cell(text):
        raise InputError(f"'{h3_cell}' is not an H3 cell")
    res = h3.get_resolution(text)
    if res not in RESOLUTIONS:
        raise InputError(f"H3 cell '{text}' is of resolution {res}; the map draws r{RESOLUTIONS[0]}–r{RESOLUTIONS[-1]}")
    return h3.str_to_int(text), res


def _days(since: datetime, until: datetime) -> list[date]:
    """The Beijing days the window [since, until) touches."""
    first = since.astimezone(BEIJING).date()
    last = (until - timedelta(microseconds=1)).astimezone(BEIJING).date()
    return [first + timedelta(days=k) for k in range((last - first).days + 1)]


def _gi(filters: Filters, scope: Scope, cell: int) -> dict | None:
    """The cell's Gi* in the hotspots analysis of the view, or None when the cell is not in its study area."""
    try:
        analysis = analyse(filters, scope)
    except InputError:
        # A view too large to analyse draws no hotspots either; the rest of the panel still answers.
        return None
    found = np.flatnonzero(analysis.cells == cell)
    if found.size == 0:
        return None
    i = int(found[0])
    return {"z": float(analysis.z[i]), "p": float(analysis.p[i]), "p_fdr": float(analysis.p_fdr[i]),
            "class": str(analysis.classes[i])}


def cell_detail(h3_cell: str, filters: Filters, scope: Scope, now: datetime | None = None) -> dict:
    """The panel of a clicked hex: incident counts and daily trend, its Gi*, the grids it overlaps.

    Counts and trend cover the filters' window, else the last 30 days, up to
    ``filters.until`` or now; ``gi`` is the hotspots map's for the same view
    (``filters.bbox``) at the cell's resolution, or None outside its study
    area or when the view is too large to analyse.
    """
    cell, res = _cell(h3_cell)
    now = _now(now)
    window = kpi_window(filters, now)
    window = replace(window, until=window.until or now)
    rows = fetch_all(compose(CELL_COUNTS, cell=CELL_COLUMNS[res]), {
        **incident_params(window, scope), "cell": cell, "closed": list(CLOSED_STATUSES), "now": now})
    by_category, by_status, by_day = Counter(), Counter(), Counter()
    for r in rows:
        by_category[r["category"]] += int(r["n"])
        by_status[r["status"]] += int(r["n"])
        by_day[r["day"]] += int(r["n"])
    grids = [{"code": g["code"], "share": round(float(g["share"]), 4), "name": g["name"],
              "owner_name": g["owner_name"], "owner_phone": g["owner_phone"]}
             for g in fetch_all(CELL_GRIDS, {"res": res, "cell": cell, "scope": view_path(filters, scope)})]
    lon, lat = cells_to_lonlat(np.array([cell], dtype=np.int64))
    return {
        "h3": h3.int_to_str(cell), "res": res, "centre": [float(lon[0]), float(lat[0])],
        "since": window.since.astimezone(BEIJING), "until": window.until.astimezone(BEIJING),
        "counts": {
            "total": sum(by_category.values()),
            "overdue": sum(int(r["overdue"]) for r in rows),
            "by_category": dict(sorted(by_category.items(), key=lambda kv: (-kv[1], kv[0]))),
            "by_status": {s: by_status[s] for s in STATUSES if by_status[s]},
        },
        "trend": [(day, by_day.get(day, 0)) for day in _days(window.since, window.until)],
        "gi": _gi(replace(filters, res=res), scope, cell),
        "grids": grids,
        "accountable": grids[0] if grids else None,
    }
