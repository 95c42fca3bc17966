"""The data's version (geodata/version.py, 0022_data_version.sql): it moves when a batch commits and not otherwise,
whatever order concurrent batches commit in."""

from __future__ import annotations

import psycopg
import pytest

from etl.load import load_incidents
from geodata import db
from geodata.errors import BatchRefused
from geodata.scope import Scope
from geodata.version import data_version
from tests.conftest import SAMPLES
from tests.helpers import write_csv

START = ("INSERT INTO shiyu.load_batch (kind, source, file_name, file_sha256, status) "
         "VALUES ('incidents', %s, 'f.csv', 'x', 'loaded') RETURNING id")
FINISH = "UPDATE shiyu.load_batch SET finished_at = clock_timestamp() WHERE id = %s"
MAX_ID = "SELECT max(id) FROM shiyu.load_batch WHERE finished_at IS NOT NULL"


def test_a_committed_load_moves_the_version_by_one_and_reading_does_not(empty_db, tmp_path):
    from etl.load import load_areas

    before = data_version()
    assert data_version() == before  # reading moves nothing
    load_areas(SAMPLES / "sample_grids.geojson", tier="grid", source="sample")
    assert data_version() == before + 1
    rows = [["V1", "纠纷", "2026-10-01 08:00:00", 120.16, 30.27]]
    load_incidents(write_csv(tmp_path / "one.csv", rows), source="v", reject_file=tmp_path / "r.csv")
    assert data_version() == before + 2


def test_a_dry_run_and_a_refused_load_leave_the_version_where_it_was(empty_db, tmp_path):
    from etl.load import load_areas

    load_areas(SAMPLES / "sample_grids.geojson", tier="grid", source="sample")
    before = data_version()
    rows = [["V1", "纠纷", "2026-10-01 08:00:00", 120.16, 30.27]]
    dry = load_incidents(write_csv(tmp_path / "one.csv", rows), source="v", dry_run=True,
                         reject_file=tmp_path / "r.csv")
    assert dry.status == "dry-run" and data_version() == before
    bad = [["V2", "纠纷", "not a time", 120.16, 30.27]]
    with pytest.raises(BatchRefused):
        load_incidents(write_csv(tmp_path / "bad.csv", bad), source="v", reject_file=tmp_path / "r.csv")
    assert data_version() == before


def test_batches_committing_out_of_id_order_each_move_the_version(empty_db, database_url):
    """Two loads at once: the one that started first (smaller id) commits last. max(id) would not see its commit."""
    before = data_version()
    with psycopg.connect(database_url) as first, psycopg.connect(database_url) as second:
        first_id = first.execute(START, ("first",)).fetchone()[0]
        second_id = second.execute(START, ("second",)).fetchone()[0]
        assert first_id < second_id
        second.execute(FINISH, (second_id,))
        second.commit()
        assert data_version() == before + 1
        max_id_before = db.fetch_value(MAX_ID)
        first.execute(FINISH, (first_id,))
        assert data_version() == before + 1  # not yet committed: nobody sees it
        first.commit()
        assert db.fetch_value(MAX_ID) == max_id_before == second_id  # what a max(id) probe would have missed
        assert data_version() == before + 2


def test_a_rolled_back_batch_leaves_it_and_the_app_role_may_read_it(empty_db, database_url):
    before = data_version()
    with psycopg.connect(database_url) as conn:
        batch = conn.execute(START, ("gone",)).fetchone()[0]
        conn.execute(FINISH, (batch,))
        conn.rollback()
    assert data_version() == before
    with db.scoped(Scope("C.C1")):
        assert data_version() == before


@pytest.mark.parametrize("statement", ["TRUNCATE shiyu.load_batch CASCADE", "DELETE FROM shiyu.load_batch"])
def test_emptying_the_batches_moves_it(empty_db, conn, statement):
    before = data_version()
    conn.execute(statement)
    assert data_version() > before
