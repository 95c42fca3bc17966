"""The wall's reads of load_batch stay index reads however many micro-batches the intake has recorded."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from layers.panels import ARRIVALS, ARRIVED_BATCHES, LAST_LOAD


def _plan(conn, query: str, params: dict | None = None) -> str:
    return "\n".join(r[0] for r in conn.execute("EXPLAIN " + query, params or {}).fetchall())


def test_data_as_of_and_arrivals_read_indexes_not_every_batch_or_the_days_reports(empty_db, conn):
    conn.execute("ALTER TABLE shiyu.load_batch DISABLE TRIGGER load_batch_finished")  # no data version to move
    try:
        conn.execute("""INSERT INTO shiyu.load_batch (kind, source, file_name, file_sha256, status, started_at, finished_at)
                        SELECT 'incidents', 'feed', 'post', 'x', 'loaded', t, t
                        FROM generate_series(now() - interval '60 days', now(), interval '5 minutes') t""")
    finally:
        conn.execute("ALTER TABLE shiyu.load_batch ENABLE TRIGGER load_batch_finished")
    conn.execute("ANALYZE shiyu.load_batch")
    assert "load_batch_finished" in _plan(conn, LAST_LOAD)
    # A day of reports, each written once in the last day, most of them by batches long gone.
    conn.execute("""INSERT INTO shiyu.incident (source, external_id, category, reported_at, geom, h3_r7, h3_r8, h3_r9,
                                                h3_r10, batch_id, updated_at)
                    SELECT 'feed', i::text, 'dispute', t, ST_Point(116.4, 39.9, 4326), 0, 0, 0, 0, i, t
                    FROM generate_series(1, 20000) i, LATERAL (SELECT now() - i * interval '4 seconds' AS t) x""")
    conn.execute("ANALYZE shiyu.incident")
    now = datetime.now(timezone.utc)
    assert "load_batch_finished" in _plan(conn, ARRIVED_BATCHES, {"seconds": 20.0, "after": None})
    plan = _plan(conn, ARRIVALS, {"first": now - timedelta(seconds=20), "batches": [1, 2], "recent": now - timedelta(hours=24),
                                  "limit": 10, "scope": None, "since": None, "until": None, "categories": [],
                                  "severities": [], "statuses": []})
    assert "incident_updated_idx" in plan
