"""The wall's reads of load_batch stay index reads however many micro-batches the intake has recorded."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from layers.panels import ARRIVALS, LAST_LOAD


def _plan(conn, query: str, params: dict | None = None) -> str:
    return "\n".join(r[0] for r in conn.execute("EXPLAIN " + query, params or {}).fetchall())


def test_data_as_of_and_arrivals_read_the_finished_index_not_every_batch(empty_db, conn):
    conn.execute("ALTER TABLE shiyu.load_batch DISABLE TRIGGER load_batch_finished")  # no data version to move
    try:
        conn.execute("""INSERT INTO shiyu.load_batch (kind, source, file_name, file_sha256, status, started_at, finished_at)
                        SELECT 'incidents', 'feed', 'post', 'x', 'loaded', t, t
                        FROM generate_series(now() - interval '60 days', now(), interval '5 minutes') t""")
    finally:
        conn.execute("ALTER TABLE shiyu.load_batch ENABLE TRIGGER load_batch_finished")
    conn.execute("ANALYZE shiyu.load_batch")
    assert "load_batch_finished" in _plan(conn, LAST_LOAD)
    now = datetime.now(timezone.utc)
    plan = _plan(conn, ARRIVALS, {"seconds": 20.0, "after": None, "recent": now - timedelta(hours=24), "limit": 10,
                                  "scope": None, "since": None, "until": None, "categories": [], "severities": [],
                                  "statuses": []})
    assert "load_batch_finished" in plan
