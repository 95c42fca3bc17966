"""Coverage checks behind ``shiyu check coverage``: no part of the city left uncovered.

Six checks, each one set-based query on ``shiyu.area`` (and ``shiyu.patrol_ping``):
gaps between siblings, overlaps among siblings, areas outside their parent,
parents that are not loaded, grids without an owner and grids not patrolled in
the window. Areas are measured on the geography in m²; anything at or below
``tolerance_m2`` is dropped, because hand-drawn and Voronoi boundaries leave
slivers of a few cm² that nobody should be sent to fix.

Examples
--------
>>> from geodata import db
>>> with db.connect() as conn:                       # doctest: +SKIP
...     report = check_coverage(conn, tolerance_m2=1.0, patrol_window_days=7)
>>> report.ok, report.counts["gaps"]                 # doctest: +SKIP
(False, 2)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import orjson

from geodata.errors import InputError

CHECKS: tuple[str, ...] = (
    "gaps", "overlaps", "outside_parent", "parent_missing", "grids_without_owner", "grids_not_patrolled",
)

_PLURAL = {"city": "cities", "district": "districts", "street": "streets", "community": "communities", "grid": "grids"}
_MAX_CODES_IN_MESSAGE = 4

CHECKED_AT = "SELECT COALESCE(%(now)s::timestamptz, now())"

# One row per connected piece of (parent minus the union of its children), so a
# real hole is reported on its own and cannot be inflated by slivers elsewhere.
PARENT_GAPS = """
WITH kids AS (
    SELECT parent_code, ST_Union(geom) AS geom, array_agg(DISTINCT tier ORDER BY tier) AS tiers
    FROM shiyu.area
    WHERE parent_code IN (SELECT code FROM shiyu.area)
    GROUP BY parent_code
), piece AS (
    SELECT p.code, p.name, p.tier, k.tiers, d.geom, ST_Area(d.geom::geography) AS area_m2
    FROM kids k
    JOIN shiyu.area p ON p.code = k.parent_code
    CROSS JOIN LATERAL ST_Dump(ST_Difference(p.geom, k.geom)) d
)
SELECT g.code, g.name, g.tier, g.tiers, g.area_m2, ST_AsGeoJSON(g.geom, 7) AS geojson,
       ST_X(s.pt) AS lon, ST_Y(s.pt) AS lat
FROM piece g CROSS JOIN LATERAL (SELECT ST_PointOnSurface(g.geom) AS pt) s
WHERE g.area_m2 > %(tolerance)s
ORDER BY g.code, g.area_m2 DESC
"""

# Areas with no loaded parent are siblings by tier. Their gaps are the holes of the
# tier's union: the union with every shell filled, minus the union (so an island
# inside a hole is not counted as gap). Open bays on the outer edge are not holes.
TOP_LEVEL_HOLES = """
WITH top AS (
    SELECT a.tier, a.geom FROM shiyu.area a
    WHERE NOT EXISTS (SELECT 1 FROM shiyu.area p WHERE p.code = a.parent_code)
), tier_union AS (
    SELECT tier, ST_Union(geom) AS geom FROM top GROUP BY tier
), hole AS (
    SELECT u.tier, d.geom, ST_Area(d.geom::geography) AS area_m2
    FROM tier_union u
    CROSS JOIN LATERAL (SELECT ST_Union(ST_MakePolygon(ST_ExteriorRing(s.geom))) AS geom FROM ST_Dump(u.geom) s) f
    CROSS JOIN LATERAL ST_Dump(ST_Difference(f.geom, u.geom)) d
)
SELECT h.tier, h.area_m2, b.codes, b.names, ST_AsGeoJSON(h.geom, 7) AS geojson, ST_X(s.pt) AS lon, ST_Y(s.pt) AS lat
FROM hole h
CROSS JOIN LATERAL (SELECT ST_PointOnSurface(h.geom) AS pt) s
CROSS JOIN LATERAL (
    SELECT array_agg(a.code ORDER BY a.code) AS codes, array_agg(a.name ORDER BY a.code) AS names
    FROM shiyu.area a
    WHERE a.geom && h.geom AND a.tier = h.tier AND ST_Intersects(a.geom, h.geom)
      AND NOT EXISTS (SELECT 1 FROM shiyu.area p WHERE p.code = a.parent_code)
) b
WHERE h.area_m2 > %(tolerance)s
ORDER BY h.tier, h.area_m2 DESC
"""

# Siblings share a loaded parent, or both lack one and share a tier. `&&` with
# `a.code < b.code` lets the GiST index drive the self-join and visits each pair once.
# The sibling test is cheap and filters first, so a grid is never intersected with its
# own street or city; the DE-9IM test then skips neighbours that merely touch.
OVERLAPS = """
SELECT a.code AS code_a, a.name AS name_a, a.tier AS tier_a, b.code AS code_b, b.name AS name_b, b.tier AS tier_b,
       o.area_m2, ST_AsGeoJSON(o.geom, 7) AS geojson, ST_X(s.pt) AS lon, ST_Y(s.pt) AS lat
FROM (SELECT a.*, EXISTS (SELECT 1 FROM shiyu.area p WHERE p.code = a.parent_code) AS has_parent
      FROM shiyu.area a) a
JOIN shiyu.area b ON a.geom && b.geom AND a.code < b.code
CROSS JOIN LATERAL (
    SELECT x.geom, ST_Area(x.geom::geography) AS area_m2
    FROM (SELECT ST_CollectionExtract(ST_Intersection(a.geom, b.geom), 3) AS geom) x
) o
CROSS JOIN LATERAL (SELECT ST_PointOnSurface(o.geom) AS pt) s
WHERE CASE WHEN a.has_parent THEN b.parent_code = a.parent_code
           ELSE b.tier = a.tier AND NOT EXISTS (SELECT 1 FROM shiyu.area p WHERE p.code = b.parent_code) END
  AND ST_Relate(a.geom, b.geom, '2********')
  AND o.area_m2 > %(tolerance)s
ORDER BY a.code, b.code
"""

OUTSIDE_PARENT = """
SELECT c.code, c.name, c.tier, p.code AS parent_code, p.name AS parent_name, p.tier AS parent_tier,
       o.area_m2, o.area_m2 / NULLIF(ST_Area(c.geom::geography), 0) AS share,
       ST_AsGeoJSON(o.geom, 7) AS geojson
FROM shiyu.area c
JOIN shiyu.area p ON p.code = c.parent_code
CROSS JOIN LATERAL (
    SELECT x.geom, ST_Area(x.geom::geography) AS area_m2
    FROM (SELECT ST_CollectionExtract(ST_Difference(c.geom, p.geom), 3) AS geom) x
) o
WHERE NOT ST_CoveredBy(c.geom, p.geom) AND o.area_m2 > %(tolerance)s
ORDER BY c.code
"""

PARENT_MISSING = """
SELECT a.code, a.name, a.tier, a.parent_code, a.area_m2, ST_AsGeoJSON(a.geom, 7) AS geojson
FROM shiyu.area a
WHERE a.parent_code IS NOT NULL AND a.parent_code <> ''
  AND NOT EXISTS (SELECT 1 FROM shiyu.area p WHERE p.code = a.parent_code)
ORDER BY a.code
"""

GRIDS_WITHOUT_OWNER = """
SELECT g.code, g.name, g.tier, g.area_m2, ST_AsGeoJSON(g.geom, 7) AS geojson,
       NULLIF(btrim(g.owner_name), '') IS NULL AS no_name, NULLIF(btrim(g.owner_phone), '') IS NULL AS no_phone
FROM shiyu.area g
WHERE g.tier = 'grid' AND (NULLIF(btrim(g.owner_name), '') IS NULL OR NULLIF(btrim(g.owner_phone), '') IS NULL)
ORDER BY g.code
"""

ANY_PATROL = "SELECT EXISTS (SELECT 1 FROM shiyu.patrol_ping)"

# Only pings inside the window are read (patrol_ping_ts_idx); the table's history may be years long.
GRIDS_NOT_PATROLLED = """
SELECT g.code, g.name, g.tier, g.area_m2, ST_AsGeoJSON(g.geom, 7) AS geojson
FROM shiyu.area g
WHERE g.tier = 'grid' AND NOT EXISTS (
    SELECT 1 FROM shiyu.patrol_ping p
    WHERE p.grid_code = g.code AND p.ts > %(since)s AND p.ts <= %(until)s
)
ORDER BY g.code
"""


@dataclass(frozen=True)
class Problem:
    """One thing to fix: which areas, how much, where, and a message saying what is wrong."""

    check: str
    codes: tuple[str, ...]
    names: tuple[str, ...]
    tier: str
    area_m2: float
    message: str
    geometry: dict | None = field(default=None, repr=False, compare=False)
    share: float | None = None  # outside_parent only: the part of the child outside its parent

    def as_json(self) -> dict:
        """The problem without its geometry, for ``--json``."""
        out = {"check": self.check, "codes": list(self.codes), "names": list(self.names), "tier": self.tier,
               "area_m2": round(self.area_m2, 3), "message": self.message}
        if self.share is not None:
            out["share"] = round(self.share, 6)
        return out


@dataclass
class CoverageReport:
    """Every problem found, one list per check; ``skipped`` names checks that could not run and why."""

    checked_at: datetime
    tolerance_m2: float
    patrol_window_days: int
    gaps: list[Problem] = field(default_factory=list)
    overlaps: list[Problem] = field(default_factory=list)
    outside_parent: list[Problem] = field(default_factory=list)
    parent_missing: list[Problem] = field(default_factory=list)
    grids_without_owner: list[Problem] = field(default_factory=list)
    grids_not_patrolled: list[Problem] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def counts(self) -> dict[str, int]:
        return {check: len(getattr(self, check)) for check in CHECKS}

    @property
    def ok(self) -> bool:
        """True when no check found anything (a skipped check finds nothing)."""
        return not any(self.counts.values())

    def problems(self) -> list[Problem]:
        return [problem for check in CHECKS for problem in getattr(self, check)]

    def as_json(self) -> dict:
        """Counts and items without geometry: what ``shiyu check coverage --json`` prints."""
        return {
            "ok": self.ok,
            "checked_at": self.checked_at.isoformat(),
            "tolerance_m2": self.tolerance_m2,
            "patrol_window_days": self.patrol_window_days,
            "counts": self.counts,
            "skipped": dict(self.skipped),
            "items": {check: [p.as_json() for p in getattr(self, check)] for check in CHECKS},
        }

    def problems_geojson(self) -> dict:
        """A FeatureCollection of every problem's geometry (the gap, the overlap, the part outside, the grid)."""
        features = [
            {"type": "Feature", "geometry": p.geometry,
             "properties": {"check": p.check, "codes": list(p.codes), "area_m2": round(p.area_m2, 3),
                            "message": p.message}}
            for p in self.problems() if p.geometry is not None
        ]
        return {"type": "FeatureCollection", "features": features}


def check_coverage(conn, *, tolerance_m2: float = 1.0, patrol_window_days: int = 7,
                   now: datetime | None = None) -> CoverageReport:
    """Run every coverage check on ``conn`` (a ``geodata.db.connect()`` connection).

    Parameters
    ----------
    conn
        An open connection; the checks only read, inside one transaction.
    tolerance_m2
        Gaps, overlaps and parts outside a parent at or below this area (m², on the
        spheroid) are slivers and are not reported.
    patrol_window_days
        A grid with no patrol ping in this many days up to ``now`` is reported.
    now
        The end of the patrol window; the database's clock when omitted.
    """
    if not tolerance_m2 >= 0:
        raise InputError(f"tolerance must be 0 m² or more, not {tolerance_m2}")
    if int(patrol_window_days) != patrol_window_days or patrol_window_days < 1:
        raise InputError(f"the patrol window must be a whole number of days, 1 or more, not {patrol_window_days}")
    tol = {"tolerance": float(tolerance_m2)}
    with conn.transaction():
        checked_at = conn.execute(CHECKED_AT, {"now": now}).fetchone()[0]
        report = CoverageReport(checked_at, float(tolerance_m2), int(patrol_window_days))
        report.gaps = ([_parent_gap(r) for r in _rows(conn, PARENT_GAPS, tol)]
                       + [_top_level_hole(r) for r in _rows(conn, TOP_LEVEL_HOLES, tol)])
        report.overlaps = [_overlap(r) for r in _rows(conn, OVERLAPS, tol)]
        report.outside_parent = [_outside(r) for r in _rows(conn, OUTSIDE_PARENT, tol)]
        report.parent_missing = [_orphan(r) for r in _rows(conn, PARENT_MISSING, {})]
        report.grids_without_owner = [_ownerless(r) for r in _rows(conn, GRIDS_WITHOUT_OWNER, {})]
        if conn.execute(ANY_PATROL).fetchone()[0]:
            window = {"since": checked_at - timedelta(days=int(patrol_window_days)), "until": checked_at}
            report.grids_not_patrolled = [_unpatrolled(r, report) for r in _rows(conn, GRIDS_NOT_PATROLLED, window)]
        else:
            report.skipped["grids_not_patrolled"] = "no patrol pings are loaded"
    return report


def _rows(conn, query: str, params: dict) -> list[dict]:
    cur = conn.execute(query, params)
    columns = [c.name for c in cur.description]
    return [row if isinstance(row, dict) else dict(zip(columns, row)) for row in cur.fetchall()]


def _geometry(text: str | None) -> dict | None:
    return orjson.loads(text) if text else None


def _m2(value: float) -> str:
    return f"{value:,.0f} m²" if value >= 10 else f"{value:,.2f} m²"


def _label(code: str, name: str | None) -> str:
    return f"{code} {name}" if name else code


def _labels(codes: list[str], names: list[str]) -> str:
    shown = ", ".join(_label(c, n) for c, n in zip(codes[:_MAX_CODES_IN_MESSAGE], names))
    more = len(codes) - _MAX_CODES_IN_MESSAGE
    return f"{shown} and {more} more" if more > 0 else shown


def _at(row: dict) -> str:
    return f"(around {row['lon']:.5f}, {row['lat']:.5f})" if row.get("lon") is not None else ""


def _parent_gap(row: dict) -> Problem:
    tiers = row["tiers"] or []
    children = _PLURAL.get(tiers[0], "children") if len(tiers) == 1 else "children"
    message = (f"gap of {_m2(row['area_m2'])} inside {_label(row['code'], row['name'])} not covered by its "
               f"{children} {_at(row)}")
    return Problem("gaps", (row["code"],), (row["name"],), row["tier"], row["area_m2"], message.strip(),
                   _geometry(row["geojson"]))


def _top_level_hole(row: dict) -> Problem:
    codes, names = list(row["codes"] or []), list(row["names"] or [])
    tier = _PLURAL.get(row["tier"], row["tier"])
    message = (f"gap of {_m2(row['area_m2'])} between {tier} {_labels(codes, names)}, covered by none of them "
               f"{_at(row)}")
    return Problem("gaps", tuple(codes), tuple(names), row["tier"], row["area_m2"], message.strip(),
                   _geometry(row["geojson"]))


def _overlap(row: dict) -> Problem:
    tier = row["tier_a"] if row["tier_a"] == row["tier_b"] else f"{row['tier_a']}/{row['tier_b']}"
    message = (f"{_label(row['code_a'], row['name_a'])} and {_label(row['code_b'], row['name_b'])} overlap by "
               f"{_m2(row['area_m2'])}; redraw their shared border {_at(row)}")
    return Problem("overlaps", (row["code_a"], row["code_b"]), (row["name_a"], row["name_b"]), tier,
                   row["area_m2"], message.strip(), _geometry(row["geojson"]))


def _outside(row: dict) -> Problem:
    share = row["share"] or 0.0
    message = (f"{_label(row['code'], row['name'])} extends {_m2(row['area_m2'])} ({share:.1%} of it) outside its "
               f"parent {_label(row['parent_code'], row['parent_name'])}")
    return Problem("outside_parent", (row["code"], row["parent_code"]), (row["name"], row["parent_name"]),
                   row["tier"], row["area_m2"], message, _geometry(row["geojson"]), share)


def _orphan(row: dict) -> Problem:
    message = (f"{_label(row['code'], row['name'])} names parent {row['parent_code']}, which is not loaded; "
               "load the parent or fix the parent_code")
    return Problem("parent_missing", (row["code"], row["parent_code"]), (row["name"], ""), row["tier"],
                   row["area_m2"], message, _geometry(row["geojson"]))


def _ownerless(row: dict) -> Problem:
    missing = ("owner name or phone" if row["no_name"] and row["no_phone"]
               else "owner name" if row["no_name"] else "owner phone")
    message = f"grid {_label(row['code'], row['name'])} has no {missing}; assign someone responsible for it"
    return Problem("grids_without_owner", (row["code"],), (row["name"],), row["tier"], row["area_m2"], message,
                   _geometry(row["geojson"]))


def _unpatrolled(row: dict, report: CoverageReport) -> Problem:
    days = report.patrol_window_days
    message = (f"grid {_label(row['code'], row['name'])} had no patrol in the {days} day{'s' if days != 1 else ''} "
               f"up to {report.checked_at:%Y-%m-%d %H:%M %Z}".rstrip())
    return Problem("grids_not_patrolled", (row["code"],), (row["name"],), row["tier"], row["area_m2"], message,
                   _geometry(row["geojson"]))
