import json

import pytest

from etl import writes
from etl.load import load_areas, load_facilities, load_incidents, load_patrols
from tests.helpers import write_csv

SQUARE = {"type": "FeatureCollection", "features": [
    {"type": "Feature", "properties": {"code": "G1", "name": "第1网格"},
     "geometry": {"type": "Polygon", "coordinates": [[[120.1, 30.2], [120.2, 30.2], [120.2, 30.3], [120.1, 30.3], [120.1, 30.2]]]}}]}




@pytest.fixture
def square(empty_db, tmp_path):
    path = tmp_path / "square.geojson"
    path.write_text(json.dumps(SQUARE, ensure_ascii=False), encoding="utf-8")
    load_areas(path, tier="grid")


def test_facilities_take_taxonomy_types_default_radii_and_their_grid(square, conn, tmp_path):
    path = write_csv(tmp_path / "fac.csv", header=["编号", "设施类型", "名称", "经度", "纬度", "服务半径"], rows=[
        ["F1", "派出所", "西溪派出所", "120.15", "30.25", ""],
        ["F2", "微型消防站", "", "120.16", "30.26", "800"],
        ["F3", "外星基地", "?", "120.16", "30.26", ""],
    ])
    summary = load_facilities(path, max_reject_ratio=0.5)
    assert (summary.read, summary.loaded, summary.rejected) == (3, 2, 1)
    rows = conn.execute("SELECT external_id, type, name, service_radius_m, grid_code FROM shiyu.facility ORDER BY 1").fetchall()
    assert rows == [("F1", "police_station", "西溪派出所", 3000.0, "G1"), ("F2", "mini_fire_station", "微型消防站F2", 800.0, "G1")]
    assert "unknown facility type '外星基地'" in (tmp_path / "fac.rejects.csv").read_text(encoding="utf-8-sig")
    again = load_facilities(path, max_reject_ratio=0.5)
    assert (again.loaded, again.updated, again.unchanged) == (0, 0, 2)


def test_patrol_pings_dedupe_by_unit_and_time(square, conn, tmp_path):
    path = write_csv(tmp_path / "pings.csv", header=["unit_id", "ts", "lon", "lat"], rows=[
        ["U1", "2026-11-20 08:00:00", "120.15", "30.25"],
        ["U1", "2026-11-20 08:00:30", "120.1502", "30.2501"],
        ["U1", "2026-11-20 08:00:00", "120.19", "30.29"],
        ["U2", "2026-11-20 08:00:00", "120.12", "30.22"],
    ])
    summary = load_patrols(path, max_reject_ratio=0.5)
    assert (summary.read, summary.loaded, summary.rejected) == (4, 3, 1)
    reasons = (tmp_path / "pings.rejects.csv").read_text(encoding="utf-8-sig")
    assert reasons.splitlines()[1].endswith(",U1,2026-11-20 08:00:00")  # the file's own columns, as written
    assert "duplicate ping of unit at time 'U1 at 2026-11-20 08:00:00' (first at line 2)" in reasons
    got = conn.execute("SELECT unit_id, ts AT TIME ZONE 'Asia/Shanghai', ST_X(geom), grid_code FROM shiyu.patrol_ping ORDER BY 1, 2").fetchall()
    assert [(u, str(t), x, g) for u, t, x, g in got] == [
        ("U1", "2026-11-20 08:00:00", 120.15, "G1"), ("U1", "2026-11-20 08:00:30", 120.1502, "G1"),
        ("U2", "2026-11-20 08:00:00", 120.12, "G1")]


def _indexes(conn, table):
    return sorted(conn.execute("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'shiyu' AND tablename = %s",
                               (table,)).fetchall())


def test_bulk_batches_into_an_empty_table_build_every_index_and_the_key_after(square, conn, tmp_path, monkeypatch):
    before = _indexes(conn, "incident")
    monkeypatch.setattr(writes, "BULK_MIN_ROWS", 10)
    rows = [[f"B{i}", "治安", "2026-05-01 08:00:00", f"{120.11 + i * 0.0005:.4f}", "30.25"] for i in range(40)]
    path = write_csv(tmp_path / "bulk.csv", header=["id", "category", "reported_at", "lon", "lat"], rows=rows)
    first = load_incidents(path)
    assert first.loaded == 40 and "index" in first.seconds  # the empty table took the bulk path
    assert _indexes(conn, "incident") == before
    rows[0][1] = "消防"
    write_csv(path, header=["id", "category", "reported_at", "lon", "lat"], rows=rows + [["B99", "治安", "2026-05-01 08:00:00", "120.15", "30.25"]])
    oids = "SELECT array_agg(indexrelid ORDER BY indexrelid) FROM pg_index WHERE indrelid = 'shiyu.incident'::regclass"
    kept = conn.execute(oids).fetchone()[0]
    second = load_incidents(path)  # into a table that holds rows: the indexes stay live, as readers need them
    assert (second.loaded, second.updated, second.unchanged) == (1, 1, 39)
    assert conn.execute(oids).fetchone()[0] == kept  # the same indexes, not dropped and built again
    assert _indexes(conn, "incident") == before
    count, distinct = conn.execute("SELECT count(*), count(DISTINCT (source, external_id)) FROM shiyu.incident").fetchone()
    assert count == distinct == 41
    with pytest.raises(Exception, match="duplicate key"):
        conn.execute("INSERT INTO shiyu.incident SELECT * FROM shiyu.incident LIMIT 1")


def test_readers_never_wait_on_a_large_reload(square, conn, database_url, tmp_path, monkeypatch):
    """While a reload large against the table is written, up to the moment before it commits, another session
    reads the incidents and every cube without waiting on a lock (lock_timeout 0.1 s: any lock wait fails it) and
    sees the old rows; unchanged rows are not written at all (their row versions stay)."""
    import psycopg

    from etl import cubes

    monkeypatch.setattr(writes, "BULK_MIN_ROWS", 10)
    header = ["id", "category", "reported_at", "lon", "lat", "status"]
    rows = [[f"R{i}", "治安", "2026-05-01 08:00:00", f"{120.11 + i * 0.0005:.4f}", "30.25", "上报"] for i in range(40)]
    path = write_csv(tmp_path / "reload.csv", header=header, rows=rows)
    assert load_incidents(path).loaded == 40
    versions = dict(conn.execute("SELECT external_id, xmin::text FROM shiyu.incident").fetchall())
    for row in rows[:4]:
        row[5] = "结案"
    write_csv(path, header=header, rows=rows + [[f"N{i}", "消防", "2026-05-02 09:00:00", "120.13", "30.25", "上报"]
                                                 for i in range(40)])  # 80 rows against 40
    tables = ("shiyu.incident", *(cube.table for cube in cubes.CUBES))
    seen = {}
    apply_cubes = writes.apply_cubes

    def then_read(*args, **kwargs):  # the reload's writes are done, its transaction not yet committed
        apply_cubes(*args, **kwargs)
        with psycopg.connect(database_url) as reader:
            reader.execute("SET lock_timeout = '100ms'")
            for table in tables:
                seen[table] = reader.execute(f"SELECT count(*) FROM {table}").fetchone()[0]

    monkeypatch.setattr(writes, "apply_cubes", then_read)
    summary = load_incidents(path)
    assert (summary.loaded, summary.updated, summary.unchanged) == (40, 4, 36)
    assert seen["shiyu.incident"] == 40 and len(seen) == len(tables)  # the old rows, read without waiting
    after = dict(conn.execute("SELECT external_id, xmin::text FROM shiyu.incident WHERE external_id LIKE 'R%'").fetchall())
    assert [k for k in versions if after[k] != versions[k]] == [f"R{i}" for i in range(4)]  # only the changed
