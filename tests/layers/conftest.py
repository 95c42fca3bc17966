from datetime import datetime

import pytest

from tests.layers.tiers import BEIJING, N_INCIDENTS, load_tiers, write_incidents, write_pings


@pytest.fixture(scope="module")
def city(tmp_path_factory, database_url):
    """The five-tier city of ``tiers.py`` with random incidents, loaded once per test module."""
    from geodata import db
    from tests.conftest import DATA_TABLES

    db.close_pool()
    with db.connect(database_url, autocommit=True) as conn:
        conn.execute("TRUNCATE " + ", ".join(f"shiyu.{t}" for t in DATA_TABLES) + " RESTART IDENTITY CASCADE")
    folder = tmp_path_factory.mktemp("tiers")
    now = datetime.now(BEIJING).replace(microsecond=0)
    boxes = load_tiers(folder)
    written = write_incidents(folder, N_INCIDENTS, now)
    write_pings(folder, now)
    return boxes, written, now


