from geodata.migrations import available, migrate


def test_migrations_are_recorded_and_idempotent(conn):
    assert migrate(conn) == []
    versions = [row[0] for row in conn.execute("SELECT version FROM shiyu.schema_migration ORDER BY version")]
    assert versions == [p.stem for p in available()]


def test_schema_has_every_table_of_the_design(conn):
    tables = {row[0] for row in conn.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'shiyu'")}
    assert {"area", "incident", "facility", "patrol_ping", "load_batch", "rejected_row", "app_user", "audit_log"} <= tables


def test_indexes_cover_geometry_h3_time_and_paths(conn):
    rows = conn.execute("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'shiyu'").fetchall()
    defs = {name: definition for name, definition in rows}
    for table in ("area", "incident", "facility", "patrol_ping"):
        assert "USING gist (geom)" in defs[f"{table}_geom_idx"]
        assert "USING gist (path)" in defs[f"{table}_path_idx"]
    for res in (7, 8, 9, 10):
        assert f"btree (h3_r{res})" in defs[f"incident_h3_r{res}_idx"]
    assert "btree (reported_at)" in defs["incident_reported_idx"]
    assert "btree (ts)" in defs["patrol_ping_ts_idx"]


def test_incident_identity_is_source_and_external_id(conn):
    pk = conn.execute("""
        SELECT array_agg(a.attname ORDER BY a.attnum) FROM pg_index i
        JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
        WHERE i.indrelid = 'shiyu.incident'::regclass AND i.indisprimary""").fetchone()[0]
    assert sorted(pk) == ["external_id", "source"]
