"""Fixtures of the user and audit tests."""

import pytest

from tests.conftest import empty
from tests.layers.tiers import load_tiers


@pytest.fixture(scope="module")
def areas(database_url, tmp_path_factory):
    """The five tiers of the test city (areas only), once per module: what users' scopes name."""
    empty(database_url)
    load_tiers(tmp_path_factory.mktemp("areas"))
    yield database_url


@pytest.fixture
def fresh(areas, conn):
    """No users, tokens, sessions, login counts or audit rows."""
    conn.execute("TRUNCATE shiyu.app_user, shiyu.api_token, shiyu.login_session, shiyu.login_throttle, shiyu.audit_log, "
                 "shiyu.audit_burst CASCADE")
    yield
