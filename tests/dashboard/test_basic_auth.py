"""HTTP Basic as QGIS and GDAL send it from their dialogs: the user's name and one of their API tokens as the
password, beside Bearer, on the OGC API, the tiles and Open311's reads, with the same scope, role, audit and
throttle as every other login (SHIYU_PROXIES=1: X-Forwarded-For names the client's address)."""

from __future__ import annotations

import os
import subprocess

import pytest
import requests

from geodata import users
from tests.serving import PASSWORD, people_served

ITEMS = "/ogc/collections/incidents/items?limit=1000"


@pytest.fixture(scope="module")
def site(database_url, tmp_path_factory):
    with people_served(database_url, tmp_path_factory.mktemp("basic"), {"SHIYU_PROXIES": "1"}) as url:
        yield url


def _get(site: str, path: str, auth=None, address: str = "198.51.100.20", **headers) -> requests.Response:
    return requests.get(f"{site}{path}", auth=auth, headers={"X-Forwarded-For": address, **headers}, timeout=60,
                        allow_redirects=False)


def _count(conn, scope: str | None = None) -> int:
    sql = "SELECT count(*) FROM shiyu.incident" + (" WHERE path <@ %s::ltree" if scope else "")
    return conn.execute(sql, (scope,) if scope else ()).fetchone()[0]


def test_basic_with_a_token_reads_what_bearer_reads_within_the_users_scope(site, conn):
    token = users.create_token("olga")  # an officer of C1
    by_basic = _get(site, ITEMS, ("olga", token))
    by_bearer = _get(site, ITEMS, Authorization=f"Bearer {token}")
    assert by_basic.status_code == by_bearer.status_code == 200
    assert by_basic.json()["numberMatched"] == by_bearer.json()["numberMatched"] == _count(conn, "C.C1") < _count(conn)
    commander = users.create_token("cora")
    assert _get(site, ITEMS, ("cora", commander)).json()["numberMatched"] == _count(conn)


def test_basic_reaches_the_tiles_and_open311_reads_too(site):
    auth = ("cora", users.create_token("cora"))
    assert _get(site, "/tiles/incidents/8/213/105.pbf", auth).status_code == 200
    assert _get(site, "/tiles/incidents/8/213/105.pbf").status_code == 401
    answer = _get(site, "/open311/v2/requests.json", auth)
    assert answer.status_code == 200 and isinstance(answer.json(), list)


@pytest.mark.parametrize("path", ["/ogc/collections", "/tiles/grids/8/213/105.pbf", "/open311/v2/services.json"])
def test_a_machine_path_without_credentials_asks_for_basic(site, path):
    answer = _get(site, path)
    assert answer.status_code == 401
    challenges = answer.raw.headers.getlist("WWW-Authenticate")
    assert 'Basic realm="shiyu", charset="UTF-8"' in challenges and 'Bearer realm="shiyu"' in challenges


def test_the_pages_data_asks_only_for_bearer_so_no_browser_pops_a_dialog(site):
    answer = _get(site, "/_dash-layout")
    assert answer.status_code == 401
    assert answer.raw.headers.getlist("WWW-Authenticate") == ['Bearer realm="shiyu"']


def test_open311_without_a_token_answers_in_georeport_form(site):
    answer = _get(site, "/open311/v2/requests.json")
    assert answer.status_code == 401
    [error] = answer.json()
    assert error["code"] == 401 and "log in first" in error["description"]


@pytest.mark.parametrize(("password", "said"), [
    (PASSWORD, "not your login password"),
    ("shiyu_not-a-token", "unknown or revoked"),
])
def test_a_password_or_an_unknown_token_is_refused_saying_why(site, conn, password, said):
    answer = _get(site, ITEMS, ("vic", password), address="198.51.100.31")
    assert answer.status_code == 401 and said in answer.json()["reason"]
    row = conn.execute("SELECT user_name, detail FROM shiyu.audit_log WHERE action = 'refused' "
                       "ORDER BY id DESC LIMIT 1").fetchone()
    assert row[0] == "vic" and said in row[1]["reason"]


def test_another_users_token_revoked_or_display_tokens_get_nothing(site):
    cora = users.create_token("cora")
    assert _get(site, ITEMS, ("olga", cora), address="198.51.100.32").status_code == 401
    display = users.create_token("dan", display=True)
    assert _get(site, ITEMS, ("dan", display), address="198.51.100.32").status_code == 403
    dan = users.create_token("dan")
    assert _get(site, ITEMS, ("dan", dan), address="198.51.100.32").status_code == 200
    users.revoke_tokens("dan")
    assert _get(site, ITEMS, ("dan", dan), address="198.51.100.32").status_code == 401


def test_a_malformed_basic_header_is_a_401_not_a_failure(site):
    for header in ("Basic", "Basic !!!", "Basic bm9jb2xvbg==", "Basic " + "A" * 5000):  # the last: no colon
        answer = _get(site, ITEMS, Authorization=header, address="198.51.100.33")
        assert answer.status_code == 401, header


def test_failed_basic_logins_are_throttled_as_password_logins_are_but_a_right_token_still_answers(site, conn):
    address = "203.0.113.40"
    for attempt in range(5):
        assert _get(site, ITEMS, ("pia", f"shiyu_guess{attempt}"), address=address).status_code == 401
    conn.execute("UPDATE shiyu.login_throttle SET not_before = now() + interval '10 minutes' "
                 "WHERE addr = %s AND not_before IS NOT NULL", (address,))
    refused = _get(site, ITEMS, ("pia", "shiyu_guess6"), address=address)
    assert refused.status_code == 429 and 590 <= int(refused.headers["Retry-After"]) <= 600
    assert _get(site, ITEMS, ("pia", users.create_token("pia")), address=address).status_code == 200
    throttled = conn.execute("SELECT user_name, remote_addr FROM shiyu.audit_log WHERE action = 'throttled' "
                             "ORDER BY id DESC LIMIT 1").fetchone()
    assert throttled == ("pia", address)


def test_a_basic_login_is_audited_once_per_client_not_per_request(site, conn):
    token = users.create_token("ada")
    before = conn.execute("SELECT count(*) FROM shiyu.audit_log WHERE action = 'token_use' AND user_name = 'ada'"
                          ).fetchone()[0]
    for _ in range(3):
        assert _get(site, "/ogc/collections", ("ada", token), address="198.51.100.50").status_code == 200
    rows = conn.execute("SELECT detail FROM shiyu.audit_log WHERE action = 'token_use' AND user_name = 'ada' "
                        "ORDER BY id").fetchall()
    assert len(rows) == before + 1 and rows[-1][0]["via"] == "basic"


def test_gdal_reads_the_ogc_api_by_basic_with_its_defaults(site, conn):
    """GDAL's OAPIF driver as a planner runs it: the name and token in GDAL_HTTP_USERPWD, never in the URL."""
    env = {**os.environ, "GDAL_HTTP_AUTH": "BASIC", "GDAL_HTTP_USERPWD": f"olga:{users.create_token('olga')}"}
    done = subprocess.run(["ogrinfo", "-ro", "-so", f"OAPIF:{site}/ogc", "incidents"], capture_output=True,
                          text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"Feature Count: {_count(conn, 'C.C1')}" in done.stdout
    refused = subprocess.run(["ogrinfo", "-ro", "-so", f"OAPIF:{site}/ogc", "incidents"], capture_output=True,
                             text=True, env={**env, "GDAL_HTTP_USERPWD": "olga:shiyu_wrong"}, timeout=600)
    assert refused.returncode != 0 and "401" in refused.stderr


def test_an_unsafe_request_by_basic_from_another_site_is_refused_as_a_cookies_is(site):
    """A browser that was once given the token in its Basic dialog sends it by itself, to any site's form."""
    body = {"output": "x.children", "outputs": {"id": "x", "property": "children"}, "inputs": [], "changedPropIds": []}
    auth = ("cora", users.create_token("cora"))
    answer = requests.post(f"{site}/_dash-update-component", json=body, auth=auth, timeout=30,
                           headers={"Origin": "https://evil.example", "X-Forwarded-For": "198.51.100.60"})
    assert answer.status_code == 403 and answer.json()["reason"] == "cross-origin request"
    bearer = requests.post(f"{site}/_dash-update-component", json=body, timeout=30,
                           headers={"Origin": "https://evil.example", "Authorization": f"Bearer {auth[1]}"})
    assert bearer.status_code != 403  # a script's Bearer is no browser's doing
