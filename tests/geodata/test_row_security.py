"""Row-level security, asked as the app role itself: a scope set in the transaction is all it can read."""

from __future__ import annotations

import json
from datetime import datetime

import psycopg
import pytest

from etl.load import load_facilities
from geodata import db
from geodata.errors import InputError
from geodata.scope import Scope
from layers.base import BEIJING
from tests.conftest import empty
from tests.helpers import write_csv
from tests.layers.tiers import load_city

PLACED = ("incident", "area", "facility", "patrol_ping")
CUBES = ("incident_week", "incident_week_r7", "incident_day_r7", "incident_cell_r7", "incident_week_cell", "incident_cell",
         "incident_day", "incident_day_street", "incident_grid_week", "area_cell", "area_cell_count", "patrol_cell_day", "patrol_grid_week")


@pytest.fixture(scope="module")
def city(tmp_path_factory, database_url):
    """The five-tier city, with a facility in each district and one in no grid."""
    empty(database_url)
    folder = tmp_path_factory.mktemp("rls")
    load_city(folder, datetime.now(BEIJING).replace(microsecond=0))
    load_facilities(write_csv(folder / "facilities.csv", [
        ["P1", "police_station", "西派出所", 120.1, 30.1], ["P2", "police_station", "东派出所", 120.3, 30.3],
        ["F1", "fire_station", "东消防站", 120.25, 30.15], ["X1", "school", "城外小学", 120.41, 30.2],
    ], header=("id", "type", "name", "lon", "lat")), source="rls")
    return database_url


@pytest.fixture
def app(city):
    """A connection as shiyu_app, in a transaction of its own (not autocommit)."""
    db.close_pool()
    with db.connect(db.app_database_url()) as connection:
        yield connection


def _as(conn: psycopg.Connection, scope: str | None, query: str, params=None) -> list[tuple]:
    """``query`` in a transaction that sets ``scope`` (None: sets nothing)."""
    with conn.transaction():
        if scope is not None:
            conn.execute(db.SET_SCOPE, (scope,))
        return conn.execute(query, params).fetchall()


def _owner_count(conn, table: str, where: str = "true", params=None) -> int:
    return conn.execute(f"SELECT count(*) FROM shiyu.{table} WHERE {where}", params).fetchone()[0]


def test_app_role_is_not_privileged_and_owns_nothing(app):
    row = app.execute("SELECT current_user, rolsuper, rolbypassrls, rolcreaterole, rolcreatedb FROM pg_roles "
                      "WHERE rolname = current_user").fetchone()
    assert row == ("shiyu_app", False, False, False, False)
    assert app.execute("SELECT count(*) FROM pg_class WHERE relowner = 'shiyu_app'::regrole").fetchone()[0] == 0


@pytest.mark.parametrize("table", PLACED + CUBES)
def test_no_scope_set_reads_no_rows(app, conn, table):
    assert _owner_count(conn, table) > 0
    assert _as(app, None, f"SELECT count(*) FROM shiyu.{table}") == [(0,)]
    assert _as(app, "", f"SELECT count(*) FROM shiyu.{table}") == [(0,)]


@pytest.mark.parametrize("table", PLACED + CUBES)
def test_the_whole_database_reads_every_row(app, conn, table):
    assert _as(app, db.EVERYTHING, f"SELECT count(*) FROM shiyu.{table}") == [(_owner_count(conn, table),)]


@pytest.mark.parametrize("table", ("incident", "facility", "patrol_ping"))
def test_district_scope_reads_exactly_the_rows_under_it(app, conn, table):
    inside = _owner_count(conn, table, "path <@ 'C.C1'")
    assert 0 < inside < _owner_count(conn, table)
    assert _as(app, "C.C1", f"SELECT count(*) FROM shiyu.{table}") == [(inside,)]


def test_areas_are_the_subtree_and_the_chain_above_it_never_a_sibling(app):
    codes = {c for (c,) in _as(app, "C.C1.C11", "SELECT code FROM shiyu.area")}
    assert codes == {"C", "C1", "C11", "C111", "C112", "C1111", "C1112", "C1121", "C1122"}


def test_a_where_clause_cannot_reach_outside_the_scope(app, conn):
    assert _owner_count(conn, "incident", "path <@ 'C.C2'") > 0
    assert _as(app, "C.C1", "SELECT count(*) FROM shiyu.incident WHERE path <@ 'C.C2'") == [(0,)]
    assert _as(app, "C.C1", "SELECT code FROM shiyu.area WHERE code = %s", ("C2",)) == []
    assert _as(app, "C.C1", "SELECT name FROM shiyu.facility WHERE name = %s", ("东派出所",)) == []


@pytest.mark.parametrize("table", ("incident_week", "incident_week_r7", "incident_day_r7", "incident_cell_r7"))
def test_the_cubes_kept_per_district_hold_only_that_district_and_finer_scopes_read_none(app, conn, table):
    assert _as(app, "C.C1", f"SELECT DISTINCT district FROM shiyu.{table}") == [("C1",)]
    assert _as(app, "C.C1", f"SELECT sum(n) FROM shiyu.{table}") == [(_owner_count(conn, "incident", "path <@ 'C.C1'"),)]
    assert _as(app, "C.C1.C11", f"SELECT count(*) FROM shiyu.{table}") == [(0,)]
    assert _as(app, "C", f"SELECT count(*) FROM shiyu.{table}") == [(0,)]


@pytest.mark.parametrize("scope", ("C", "C.C1", "C.C2.C21", "C.C1.C12.C121.C1212"))
def test_the_all_time_cube_reads_as_the_incidents_of_any_scope_do(app, conn, scope):
    inside = _owner_count(conn, "incident", "path <@ %s", (scope,))
    open_inside = _owner_count(conn, "incident", "path <@ %s AND status NOT IN ('verified', 'closed')", (scope,))
    assert inside > 0
    assert _as(app, scope, "SELECT sum(n), sum(n_open), bool_and(path <@ %s) FROM shiyu.incident_cell",
               (scope,)) == [(inside, open_inside, True)]


@pytest.mark.parametrize("scope", ("C.C1", "C.C2.C21", "C.C1.C12.C121.C1212"))
def test_the_day_cube_reads_as_the_incidents_of_any_scope_do(app, conn, scope):
    inside = _owner_count(conn, "incident", "path <@ %s", (scope,))
    assert inside > 0
    assert _as(app, scope, "SELECT sum(n), bool_and(path <@ %s) FROM shiyu.incident_day WHERE category = ''", (scope,)) == [(inside, True)]


def test_cell_tables_hold_only_the_cells_of_grids_in_scope(app, conn):
    grids = {c for (c,) in _as(app, "C.C2", "SELECT DISTINCT code FROM shiyu.area_cell")}
    assert grids and all(code.startswith("C2") for code in grids)
    assert {c for (c,) in _as(app, "C.C2", "SELECT code FROM shiyu.area_cell_count")} == grids
    c1_cells = {c for (c,) in conn.execute("SELECT cell FROM shiyu.area_cell WHERE res = 10 AND code LIKE 'C1%%'")}
    c2_cells = {c for (c,) in conn.execute("SELECT cell FROM shiyu.area_cell WHERE res = 10 AND code LIKE 'C2%%'")}
    visible = {c for (c,) in _as(app, "C.C2", "SELECT h3_r10 FROM shiyu.patrol_cell_day")}
    assert visible and visible <= c2_cells
    assert not visible & (c1_cells - c2_cells)


def test_the_scope_does_not_outlive_its_transaction(app):
    assert _as(app, "C.C1", "SELECT count(*) > 0 FROM shiyu.incident") == [(True,)]
    assert _as(app, None, "SELECT count(*) FROM shiyu.incident") == [(0,)]
    assert _as(app, None, "SELECT current_setting('shiyu.scope', true)") in ([("",)], [(None,)])


def test_the_pool_sets_the_scope_per_transaction_on_the_same_connection(city):
    db.close_pool()
    try:
        with db.scoped(Scope("C.C1")):
            assert db.fetch_all("SELECT current_user AS who, current_setting('shiyu.scope') AS scope") == [
                {"who": "shiyu_app", "scope": "C.C1"}]
        with db.pooled() as conn:
            assert conn.execute("SELECT current_user").fetchone() == ("shiyu",)
        with db.pool(app=True).connection() as conn:  # the same app connection, outside scoped: nothing set
            assert conn.execute("SELECT count(*) FROM shiyu.incident").fetchone() == (0,)
    finally:
        db.close_pool()


def test_calls_side_by_side_keep_the_scope_and_their_order_and_raise_what_failed(city, conn):
    inside = _owner_count(conn, "incident", "path <@ 'C.C1'")
    count = "SELECT count(*) AS n, pg_backend_pid() AS pid FROM shiyu.incident, pg_sleep(0.2)"

    def fail():
        raise InputError("no such area")

    with db.scoped(Scope("C.C1")):
        rows = db.side_by_side(*[lambda: db.fetch_all(count)[0]] * 3, lambda: 7)
        assert [r["n"] for r in rows[:3]] == [inside] * 3 and rows[3] == 7
        assert len({r["pid"] for r in rows[:3]}) == 3  # each on a connection of its own, at once
        with pytest.raises(InputError, match="no such area"):
            db.side_by_side(lambda: db.fetch_all(count), fail)
    assert db.side_by_side(lambda: db.fetch_all(count)[0]["n"]) == [_owner_count(conn, "incident")]  # the owner's


def test_a_malformed_scope_is_an_error_not_an_empty_or_whole_scope(app):
    with pytest.raises(psycopg.errors.SyntaxError):
        _as(app, "C.C1' OR true --", "SELECT count(*) FROM shiyu.incident")


def test_app_role_cannot_write_become_the_owner_or_drop_security(app):
    for statement in ("DELETE FROM shiyu.incident", "UPDATE shiyu.area SET name = 'x'",
                      "INSERT INTO shiyu.app_user (name, role, scope) VALUES ('x', 'admin', '')",
                      "SET ROLE shiyu", "SET ROLE postgres", "ALTER TABLE shiyu.incident DISABLE ROW LEVEL SECURITY",
                      "SET row_security = off; SELECT count(*) FROM shiyu.incident",
                      "SELECT count(*) FROM shiyu.app_user", "SELECT count(*) FROM shiyu.rejected_row",
                      "SELECT detail FROM shiyu.audit_log"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            _as(app, db.EVERYTHING, statement)


def test_the_migration_runs_again_on_a_second_database_of_the_cluster(cluster, city):
    from geodata.migrations import migrate

    second = "shiyu_second"
    with psycopg.connect(cluster.superuser_url(), autocommit=True) as su:
        su.execute(f"CREATE DATABASE {second} OWNER shiyu")
    try:
        with psycopg.connect(cluster.superuser_url().replace("/postgres?", f"/{second}?"), autocommit=True) as su:
            su.execute("CREATE EXTENSION postgis; CREATE EXTENSION ltree")
        with db.connect(db.database_url().replace("/shiyu?", f"/{second}?")) as other:
            assert "0007_row_security" in migrate(other)
    finally:
        with psycopg.connect(cluster.superuser_url(), autocommit=True) as su:
            su.execute(f"DROP DATABASE {second} WITH (FORCE)")


def test_the_pool_refuses_an_app_url_that_bypasses_security(city, monkeypatch):
    from geodata.errors import ShiyuError
    from geodata.settings import reload

    db.close_pool()
    monkeypatch.setenv("SHIYU_APP_DATABASE_URL", city)  # the owner's URL
    reload()
    try:
        with pytest.raises(ShiyuError, match="bypasses row-level security"), db.scoped(Scope("C.C1")):
            db.fetch_all("SELECT 1")
    finally:
        monkeypatch.delenv("SHIYU_APP_DATABASE_URL")
        reload()
        db.close_pool()


def test_the_app_role_finds_a_box_of_incidents_through_the_geometry_index(app):
    """Without a leakproof `&&`, row security keeps the planner from the GiST index: every map box read the table."""
    with app.transaction():
        app.execute(db.SET_SCOPE, ("C.C1",))
        app.execute("SET LOCAL enable_seqscan = off")  # the test city is small enough to scan either way
        plan = "\n".join(r[0] for r in app.execute(
            "EXPLAIN SELECT count(*) FROM shiyu.incident WHERE geom && ST_MakeEnvelope(120.0, 30.0, 120.01, 30.01, 4326)"))
    assert "incident_geom_idx" in plan, plan



def test_the_pools_never_jit_compile_a_query_however_costly_the_policies_make_it(city):
    """Under row-level security the policies' subplans cost the wall's queries past jit_above_cost, and compiling
    them took twice as long as running them (0.9 s against 0.4 s); both pools turn JIT off."""
    db.close_pool()
    query = "EXPLAIN (ANALYZE, FORMAT JSON) SELECT count(*) FROM shiyu.area_cell c WHERE c.res = 10"

    def plan(conn) -> str:
        conn.execute("SET LOCAL jit_above_cost = 0")  # any query would be compiled, were JIT on
        return json.dumps(conn.execute(query).fetchone()[0])

    with db.connect(db.app_database_url()) as direct, direct.transaction():
        assert "JIT" in plan(direct)  # this server compiles when asked: what the pools turn off
    with db.scoped(Scope("C")), db.pooled() as conn:
        assert "JIT" not in plan(conn)
    with db.pooled() as conn:
        assert "JIT" not in plan(conn)
