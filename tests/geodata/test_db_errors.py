import pytest

from geodata import db
from geodata.errors import DatabaseUnavailable, QueryTooSlow
from geodata.settings import reload


def test_a_statement_timeout_says_so_and_not_that_the_database_is_gone(database_url, monkeypatch):
    monkeypatch.setenv("SHIYU_STATEMENT_TIMEOUT_MS", "50")
    reload()
    db.close_pool()
    try:
        with pytest.raises(QueryTooSlow, match=r"longer than the 0.05 s limit; zoom in or narrow the filters") as error:
            db.fetch_all("SELECT pg_sleep(1)")
        assert not isinstance(error.value, DatabaseUnavailable)
        assert db.fetch_all("SELECT 1 AS one") == [{"one": 1}]  # the pool is fine afterwards
    finally:
        monkeypatch.delenv("SHIYU_STATEMENT_TIMEOUT_MS")
        reload()
        db.close_pool()
