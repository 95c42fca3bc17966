from datetime import datetime

import pytest

from tests.conftest import empty
from layers.base import BEIJING
from tests.layers.tiers import load_city


@pytest.fixture(scope="module")
def city(tmp_path_factory, database_url):
    """The five-tier city of ``tiers.py`` with random incidents and pings, loaded once per test module."""
    empty(database_url)
    now = datetime.now(BEIJING).replace(microsecond=0)
    boxes, written = load_city(tmp_path_factory.mktemp("tiers"), now)
    return boxes, written, now
