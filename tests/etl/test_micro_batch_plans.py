"""A live micro-batch finds its rows' stored versions by key, whatever the statistics say of its feed.

Each micro-batch of the intake asks which of its rows are new and which change (etl/intake_worker.py CLASSIFY),
stages the cubes' delta from the same join (etl/cubes.py INCIDENT_DELTA) and upserts only the rows that are new or
changed (etl/staging.py, cubes.STORED_AS_IS). Planned as a plain join, a feed younger
than the table's statistics was estimated at one row, so every micro-batch hashed all of the feed's rows: at 10M,
53 ms for 17 rows once the feed had 25,000, and growing with it. A few rows are looked up one by one.
"""

from __future__ import annotations

import re

import psycopg

from etl import cubes, intake_worker, staging


# The feed's stored rows hashed to join the staged ones (the upsert's own target is ``i``, its probe ``i_1``).
HASHED_FEED = re.compile(r"Hash Cond: \(s\.external_id = i(_1)?\.external_id\)")


def _plan(conn, query: str) -> str:
    return "\n".join(r[0] for r in conn.execute("EXPLAIN " + query, {"source": "feed", "batch_id": 0}).fetchall())


def test_a_few_staged_rows_look_up_their_stored_versions_by_key_not_by_hashing_the_feed(empty_db, conn):
    conn.execute("""INSERT INTO shiyu.incident (source, external_id, category, reported_at, geom, h3_r7, h3_r8, h3_r9,
                                                h3_r10, batch_id)
                    SELECT 'file', i::text, 'dispute', now(), ST_Point(116.4, 39.9, 4326), 0, 0, 0, 0, 0
                    FROM generate_series(1, 20000) i""")
    conn.execute("ANALYZE shiyu.incident")  # statistics taken before the feed posted anything
    conn.execute("""INSERT INTO shiyu.incident (source, external_id, category, reported_at, geom, h3_r7, h3_r8, h3_r9,
                                                h3_r10, batch_id)
                    SELECT 'feed', i::text, 'dispute', now(), ST_Point(116.4, 39.9, 4326), 0, 0, 0, 0, 0
                    FROM generate_series(1, 20000) i""")
    with conn.transaction():
        conn.execute(staging.INCIDENTS.stage_raw)
        conn.execute("""INSERT INTO stage_raw (row_no, external_id, category, reported_at, lon, lat, h3_r7, h3_r8,
                                               h3_r9, h3_r10)
                        SELECT i, (i * 997)::text, 'dispute', now(), 116.4, 39.9, 0, 0, 0, 0 FROM generate_series(1, 17) i""")
        conn.execute(staging.INCIDENTS.stage_points)
        conn.execute(staging.ASSIGN_GRIDS_FEW)
        conn.execute(cubes.STAGE_DELTA)
        conn.execute(intake_worker.STAGE_POSTS.replace("shiyu.intake_row WHERE post_id = ANY(%(posts)s)",
                                                       "(SELECT 1 AS post_id, row_no FROM stage_points) r"))
        delta = staging.INCIDENTS.before_upsert[1]
        for statement in (delta, intake_worker.CLASSIFY, staging.INCIDENTS.upsert):
            few, many = _plan(conn, cubes.for_few(statement, True)), _plan(conn, cubes.for_few(statement, False))
            assert "Index Scan using incident_pkey" in few and not HASHED_FEED.search(few)
            assert HASHED_FEED.search(many)  # the plain join, as a large batch has it
        raise psycopg.Rollback()  # the staged tables go with it
