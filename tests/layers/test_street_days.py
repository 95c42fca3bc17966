"""The street roll-up of the day cube (0014) is kept equal to a recount by the loader's deltas, whatever a load changes,
and its bounds are the ones layers/kpis.py buckets the part-days' hours by."""

from datetime import timedelta

from etl.load import load_incidents
from geodata import db
from layers import street_kpis
from tests.helpers import write_csv

COLUMNS = "day, path::text AS path, category, n, n_resolved, hours_upto, resolve_hours"
KEPT = f"SELECT {COLUMNS} FROM shiyu.incident_day_street ORDER BY category, day, path"
RECOUNT = f"SELECT {COLUMNS} FROM shiyu.incident_day_street_of(NULL, NULL) ORDER BY category, day, path"
# The definition from the incidents themselves: streets' whole days, every resolved incident's hours ascending.
FROM_INCIDENTS = """
SELECT (reported_at AT TIME ZONE 'Asia/Shanghai')::date AS day, subpath(path, 0, 3)::text AS path, count(*) AS n,
       count(*) FILTER (WHERE status IN ('verified', 'closed')) AS n_resolved,
       coalesce(array_agg((extract(epoch FROM resolved_at - reported_at) / 3600)::float8
                          ORDER BY (extract(epoch FROM resolved_at - reported_at) / 3600)::float8)
                FILTER (WHERE resolved_at IS NOT NULL), '{}') AS resolve_hours
FROM shiyu.incident WHERE path IS NOT NULL
GROUP BY 1, 2 ORDER BY 1, 2
"""


def _kept_equals_recount(conn_url):
    with db.connect(conn_url) as conn:
        kept = conn.execute(KEPT).fetchall()
        recount = conn.execute(RECOUNT).fetchall()
        whole = conn.execute("SELECT day, path::text, n, n_resolved, resolve_hours FROM shiyu.incident_day_street "
                             "WHERE category = '' ORDER BY 1, 2").fetchall()
        raw = conn.execute(FROM_INCIDENTS).fetchall()
    assert kept == recount
    assert whole == raw
    return kept


def test_the_roll_up_holds_the_streets_days_as_the_incidents_do(city, database_url):
    kept = _kept_equals_recount(database_url)
    assert len(kept) > 100 and any(len(row[6]) > 3 for row in kept)
    for row in kept:
        hours, upto = row[6], row[5]
        assert list(hours) == sorted(hours) and len(upto) == len(street_kpis.HOUR_BOUNDS)
        assert upto == [sum(h <= bound for h in hours) for bound in street_kpis.HOUR_BOUNDS]


def test_the_bounds_are_the_ones_the_kpis_bucket_by(city, database_url):
    with db.connect(database_url) as conn:
        assert tuple(conn.execute("SELECT shiyu.resolve_hour_bounds()").fetchone()[0]) == street_kpis.HOUR_BOUNDS


def test_a_load_that_moves_closes_and_adds_incidents_keeps_it_equal(city, database_url, tmp_path):
    _, written, now = city
    before = _kept_equals_recount(database_url)
    rows = []
    for i in range(60):  # another source's incidents, then the same ones moved in time, place, category and status
        rows.append([f"M{i}", ("dispute", "fire_safety", "public_order")[i % 3],
                     f"{now - timedelta(hours=5 * i + 2):%Y-%m-%d %H:%M:%S}", 120.01 + 0.0063 * i, 30.02 + 0.0061 * i,
                     ("reported", "closed")[i % 2], f"{now - timedelta(hours=5 * i):%Y-%m-%d %H:%M:%S}"])
    header = ("id", "category", "reported_at", "lon", "lat", "status", "resolved_at")
    summary = load_incidents(write_csv(tmp_path / "first.csv", rows, header=header), source="moves")
    assert summary.loaded == 60
    after_first = _kept_equals_recount(database_url)
    assert after_first != before
    moved = [[r[0], "traffic_safety" if i % 4 == 0 else r[1],
              f"{now - timedelta(hours=5 * i + 30):%Y-%m-%d %H:%M:%S}" if i % 3 == 0 else r[2],
              r[3] + (0.1 if i % 5 == 0 else 0), r[4], "closed", r[6]] for i, r in enumerate(rows[:40])]
    load_incidents(write_csv(tmp_path / "second.csv", moved, header=header), source="moves")
    assert _kept_equals_recount(database_url) != after_first
    kept = _kept_equals_recount(database_url)
    with db.connect(database_url) as conn:  # the recount the migration fills it with writes the same rows
        conn.execute("SELECT shiyu.refresh_incident_day_street(NULL, NULL)")
        refreshed = conn.execute(KEPT).fetchall()
        conn.rollback()
    assert kept == refreshed
