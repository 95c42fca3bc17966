"""Logins on the served dashboard (SHIYU_AUTH=on): the form, its CSRF token, where it goes next, sessions, Bearer and display
tokens, who sees personal data, and the audit log of it all. Callbacks are posted as dash-renderer posts them."""

from __future__ import annotations

import re

import pytest
import requests

from geodata import users
from geodata.settings import reload
from geodata.version import data_version
from tests.serving import PASSWORD, people_served
from tests.dashboard.test_access import _body, _view

@pytest.fixture(scope="module")
def site(database_url, tmp_path_factory):
    """The five-tier city with two named reporters (张三丰 in C1, 李四 in C2) and a user of each role, served with logins on."""
    with people_served(database_url, tmp_path_factory.mktemp("login")) as url:
        yield url


def _csrf(session: requests.Session, base: str) -> str:
    page = session.get(f"{base}/login", timeout=30)
    return re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)


def _login(base: str, name: str, password: str = PASSWORD) -> tuple[requests.Session, requests.Response]:
    session = requests.Session()
    response = session.post(f"{base}/login", data={"csrf": _csrf(session, base), "name": name, "password": password},
                            allow_redirects=False, timeout=30)
    return session, response


def _table(session, base: str, area_code: str | None = None, **kwargs) -> requests.Response:
    return session.post(f"{base}/_dash-update-component", timeout=60, json=_body(
        [("explore-table", "getRowsResponse"), ("explore-table-count", "children")],
        [("explore-table", "getRowsRequest", {"startRow": 0, "endRow": 500})],
        [("explore-view", "data", _view(area_code)), ("explore-lang", "data", "en")]), **kwargs)


def _rows(response: requests.Response) -> list[dict]:
    assert response.status_code == 200, response.text[:300]
    return response.json()["response"]["explore-table"]["getRowsResponse"]["rowData"]


def _audit(conn, action: str) -> tuple:
    return conn.execute("SELECT user_name, detail, remote_addr FROM shiyu.audit_log WHERE action = %s "
                        "ORDER BY id DESC LIMIT 1", (action,)).fetchone()


def test_without_a_session_pages_go_to_the_login_and_callbacks_get_401(site, conn):
    page = requests.get(f"{site}/wall?lang=en", allow_redirects=False, timeout=30)
    assert page.status_code == 302 and page.headers["Location"] == "/login?next=%2Fwall%3Flang%3Den"
    assert requests.get(f"{site}/", allow_redirects=False, timeout=30).headers["Location"] == "/login"
    refused = _table(requests, site)
    assert refused.status_code == 401 and refused.json()["error"] == "log in first"
    assert "rowData" not in refused.text
    user, detail, remote = _audit(conn, "refused")
    assert user is None and detail["status"] == 401 and detail["path"] == "/_dash-update-component"
    assert remote == "127.0.0.1"
    assert requests.get(f"{site}/_dash-layout", timeout=30).status_code == 401
    assert requests.get(f"{site}/assets/style.css", timeout=30).status_code == 200


def test_the_login_page_speaks_chinese_first_and_english_on_request_and_sets_a_guarded_cookie(site):
    zh = requests.get(f"{site}/login", timeout=30)
    assert zh.status_code == 200 and "用户名" in zh.text and 'lang="zh-CN"' in zh.text
    assert "Log in" in requests.get(f"{site}/login?lang=en", timeout=30).text
    cookie = zh.headers["Set-Cookie"]
    assert cookie.startswith("shiyu_session=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # SHIYU_COOKIE_SECURE=1 adds it, for TLS in front


def test_the_secure_flag_follows_the_setting(monkeypatch, database_url):
    from dashboard.app import create_app

    monkeypatch.setenv("SHIYU_AUTH", "on")
    monkeypatch.setenv("SHIYU_COOKIE_SECURE", "1")
    reload()
    try:
        assert create_app().server.config["SESSION_COOKIE_SECURE"] is True
    finally:
        monkeypatch.undo()
        reload()


def test_a_login_form_without_its_csrf_token_or_with_a_wrong_one_is_refused(site, conn):
    for data in ({"name": "olga", "password": PASSWORD}, {"csrf": "forged", "name": "olga", "password": PASSWORD},
                 {"csrf": "伪造的令牌", "name": "olga", "password": PASSWORD}):
        session = requests.Session()
        _csrf(session, site)
        response = session.post(f"{site}/login", data=data, allow_redirects=False, timeout=30)
        assert response.status_code == 403
        assert session.get(f"{site}/", allow_redirects=False, timeout=30).status_code == 302  # still not logged in
    assert _audit(conn, "refused")[1]["reason"] == "login form without a valid CSRF token"
    session = requests.Session()
    token = _csrf(session, site)
    other_site = session.post(f"{site}/login", data={"csrf": token, "name": "olga", "password": PASSWORD},
                              headers={"Origin": "http://evil.example"}, allow_redirects=False, timeout=30)
    assert other_site.status_code == 403


def test_a_wrong_password_is_refused_in_words_and_audited_with_who_and_from_where(site, conn):
    session, response = _login(site, "pia", "not the password")
    assert response.status_code == 401 and "登录失败" in response.text and "not the password" not in response.text
    user, detail, remote = _audit(conn, "login_failed")
    assert (user, detail["reason"], remote) == ("pia", "bad_password", "127.0.0.1")
    _, unknown = _login(site, "nobody", "whatever it is")
    assert unknown.text.count("登录失败") == 1 and _audit(conn, "login_failed")[1]["reason"] == "unknown"
    session, response = _login(site, "pia")
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert _audit(conn, "login")[:2] == ("pia", {"path": "/login", "via": "password"})


@pytest.mark.parametrize("asked", ["/\t/evil.example", "/\n/evil.example", "/\r\n/evil.example", "//evil.example",
                                   "/\\evil.example", "\\\\evil.example", "https://evil.example/", " //evil.example",
                                   "/\x00/evil.example", "javascript:alert(1)", "/\x7f/evil.example", "evil.example"])
def test_after_logging_in_a_next_that_a_browser_could_read_as_another_host_goes_home(site, asked):
    session = requests.Session()
    response = session.post(f"{site}/login", data={"csrf": _csrf(session, site), "name": "ada", "password": PASSWORD,
                                                   "next": asked}, allow_redirects=False, timeout=30)
    assert response.status_code == 302 and response.headers["Location"] == "/"
    form = requests.get(f"{site}/login", params={"next": asked}, timeout=30)
    if "\x00" in asked:  # a NUL byte in an address is refused before any page reads it (dashboard/failures.py)
        assert form.status_code == 400 and "NUL" in form.json()["error"]
    else:
        assert form.status_code == 200 and 'name="next" value="/"' in form.text


def test_after_logging_in_a_next_on_this_site_is_kept(site):
    for asked, kept in (("/wall?lang=en", "/wall?lang=en"), ("/?area=C1&res=8", "/?area=C1&res=8"), ("/export", "/export"),
                        ("/%2F%2Fevil.example", "/%2F%2Fevil.example"), ("/导出?x=一", "/%E5%AF%BC%E5%87%BA?x=%E4%B8%80")):
        session = requests.Session()
        response = session.post(f"{site}/login", data={"csrf": _csrf(session, site), "name": "ada", "password": PASSWORD,
                                                       "next": asked}, allow_redirects=False, timeout=30)
        assert response.status_code == 302 and response.headers["Location"] == kept


def test_the_open_redirect_of_the_issue_goes_home(site):
    """``next=%2F%09%2Fevil.example`` answered ``Location: //evil.example``; a newline in it answered 500."""
    for query in ("next=%2F%09%2Fevil.example", "next=%2F%0A%2Fevil.example", "next=%0D%0ASet-Cookie:%20x=1"):
        session = requests.Session()
        response = session.post(f"{site}/login?{query}", data={"csrf": _csrf(session, site), "name": "ada",
                                                               "password": PASSWORD}, allow_redirects=False, timeout=30)
        assert response.status_code == 302 and response.headers["Location"] == "/", query
        assert "Set-Cookie: x" not in str(response.headers)


def test_a_page_asked_for_without_a_session_is_the_next_after_login_as_asked(site):
    response = requests.get(f"{site}/wall?lang=en&refresh=2", allow_redirects=False, timeout=30)
    assert response.headers["Location"] == "/login?next=%2Fwall%3Flang%3Den%26refresh%3D2"


def test_an_officer_of_c1_sees_only_c1_and_the_reporters_unmasked(site, conn):
    session, response = _login(site, "olga", PASSWORD)
    assert response.status_code == 302
    rows = _rows(_table(session, site))
    assert rows and all(r["grid_code"].startswith("C1") for r in rows)
    assert len(rows) < conn.execute("SELECT count(*) FROM shiyu.incident").fetchone()[0]
    h1 = next(r for r in rows if r["id"] == "hotline:H1")
    assert (h1["reporter"], h1["phone"]) == ("张三丰", "13812341234")
    assert not any(r["id"] == "hotline:H2" for r in rows)
    tampered = _table(session, site, "C2").json()["response"]
    assert tampered["explore-table"]["getRowsResponse"]["rowData"] == []
    page = session.get(f"{site}/", timeout=30)
    assert page.status_code == 200


def test_a_viewer_and_a_commander_see_reporters_masked_and_a_viewer_may_not_export(site, conn):
    for name in ("vic", "cora"):
        session, _ = _login(site, name)
        rows = {r["id"]: (r["reporter"], r["phone"]) for r in _rows(_table(session, site))}
        assert rows["hotline:H1"] == ("张**", "138****1234") and rows["hotline:H2"] == ("李*", "139****4321")
    session, _ = _login(site, "vic")
    refused = session.get(f"{site}/export", allow_redirects=False, timeout=30)
    assert refused.status_code == 403 and "无权访问" in refused.text
    assert _audit(conn, "refused")[:2] == ("vic", {"path": "/export", "status": 403, "method": "GET",
                                                    "reason": "role viewer may not export", "count": 1})


def test_a_web_export_is_audited_with_the_user_who_made_it(site, conn):
    session, _ = _login(site, "pia")
    query = {"res": 8, "area": None, "since": None, "until": None, "categories": [], "severities": [],
             "statuses": [], "tier": "grid"}
    response = session.post(f"{site}/_dash-update-component", timeout=120, json=_body(
        [("export-file", "data"), ("export-message", "children"), ("export-message", "className")],
        [("export-download", "n_clicks", 1)],
        [("export-layers", "value", ["hexes"]), ("export-format", "value", "geojson"), ("export-crs", "value", "wgs84"),
         ("export-tier", "value", "grid"), ("export-query", "data", query), ("export-lang", "data", "en")]))
    assert response.status_code == 200 and response.json()["response"]["export-message"]["className"] == "export-message ok"
    user, detail, remote = _audit(conn, "export")
    assert (user, detail["via"], remote) == ("pia", "web", "127.0.0.1")


def test_a_bearer_token_answers_a_callback_as_its_user_and_is_audited(site, conn):
    token = users.create_token("olga", label="grafana")
    rows = _rows(_table(requests, site, headers={"Authorization": f"Bearer {token}"}))
    assert rows and all(r["grid_code"].startswith("C1") for r in rows)
    user, detail, remote = _audit(conn, "token_use")
    assert (user, detail["display"], remote) == ("olga", False, "127.0.0.1")
    before = conn.execute("SELECT count(*) FROM shiyu.audit_log WHERE action = 'token_use'").fetchone()[0]
    _rows(_table(requests, site, headers={"Authorization": f"Bearer {token}"}))
    assert conn.execute("SELECT count(*) FROM shiyu.audit_log WHERE action = 'token_use'").fetchone()[0] == before
    assert _table(requests, site, headers={"Authorization": "Bearer shiyu_forged"}).status_code == 401


def test_a_disabled_user_cannot_log_in_and_their_open_session_ends(site, conn):
    session, response = _login(site, "dan")
    assert response.status_code == 302 and _table(session, site).status_code == 200
    users.disable_user("dan")
    assert _table(session, site).status_code == 401
    assert _login(site, "dan")[1].status_code == 401
    assert _audit(conn, "login_failed")[:2] == ("dan", {"path": "/login", "reason": "disabled", "count": 1})


WALL_OUTPUTS = [("wall-kpi-today", "children"), ("wall-kpi-open", "children"), ("wall-kpi-overdue", "children"),
                ("wall-kpi-resolved", "children"), ("wall-kpi-patrol", "children"), ("wall-ticker", "children"),
                ("wall-new", "data"), ("wall-shown", "data"), ("wall-last-good", "data"), ("wall-since", "data"),
                ("wall-status", "children"), ("wall-status", "className"), ("wall-updated", "children")]


def test_a_display_token_opens_the_wall_only_with_personal_data_masked(site, conn):
    token = users.create_token("cora", display=True)
    screen = requests.Session()
    response = screen.get(f"{site}/wall?token={token}&lang=en", allow_redirects=False, timeout=30)
    assert response.status_code == 302 and response.headers["Location"] == "/wall?lang=en"  # the token leaves the URL
    user, detail, _ = _audit(conn, "login")
    assert (user, detail["via"], detail["path"]) == ("cora", "display_token", "/wall")
    assert screen.get(f"{site}/wall?lang=en", timeout=30).status_code == 200
    assert screen.get(f"{site}/", allow_redirects=False, timeout=30).headers["Location"] == "/wall"
    wall = screen.post(f"{site}/_dash-update-component", timeout=60, json=_body(
        WALL_OUTPUTS, [("wall-changed", "data", {"tick": 1, "version": None})],
        [("wall-lang", "data", "en"), ("wall-extent", "data", [120.0, 30.0, 120.4, 30.4]), ("wall-last-good", "data", None),
         ("wall-since", "data", None)]))
    assert wall.status_code == 200, wall.text[:300]
    ticker = str(wall.json()["response"]["wall-ticker"]["children"])
    assert "张**" in ticker and "138****1234" in ticker and "张三丰" not in ticker and "13812341234" not in ticker
    # The wall's data-version probe is one of its callbacks: the screen reaches it (a version past the one shown).
    probe = screen.post(f"{site}/_dash-update-component", timeout=60, json={
        "output": "wall-changed.data", "outputs": {"id": "wall-changed", "property": "data"},
        "inputs": [{"id": "wall-interval", "property": "n_intervals", "value": 1},
                   {"id": "wall-probe", "property": "n_intervals", "value": 1}],
        "state": [{"id": "wall-shown", "property": "data", "value": 0},
                  {"id": "wall-changed", "property": "data", "value": None}],
        "changedPropIds": ["wall-probe.n_intervals"]})
    assert probe.status_code == 200, probe.text[:300]
    assert probe.json()["response"]["wall-changed"]["data"]["version"] == data_version()
    assert _table(screen, site).status_code == 403
    api_token = users.create_token("cora")
    assert requests.get(f"{site}/wall?token={api_token}", allow_redirects=False, timeout=30).status_code == 403


def test_an_unknown_or_revoked_display_token_is_refused_in_place_and_never_carried_on(site, conn):
    token = users.create_token("cora", display=True)
    users.revoke_tokens("cora")
    for presented in (token, "shiyu_never_issued"):
        response = requests.get(f"{site}/wall?token={presented}&lang=en", allow_redirects=False, timeout=30)
        assert response.status_code == 401 and "Location" not in response.headers and presented not in response.text
        assert _audit(conn, "refused")[1]["reason"] == "unknown or revoked display token"


def test_a_cross_origin_callback_with_the_cookie_is_refused(site):
    session, _ = _login(site, "ada")
    assert _table(session, site, headers={"Origin": site}).status_code == 200
    assert _table(session, site, headers={"Origin": "http://evil.example"}).status_code == 403


def test_logging_out_ends_the_session_and_is_audited(site, conn):
    session, _ = _login(site, "ada")
    assert session.get(f"{site}/logout", allow_redirects=False, timeout=30).status_code == 302
    assert _audit(conn, "logout")[0] == "ada"
    assert session.get(f"{site}/", allow_redirects=False, timeout=30).status_code == 302
    assert _table(session, site).status_code == 401


def test_the_ogc_api_and_open311_want_a_token_and_then_hold_to_its_scope(site, conn):
    bare = requests.get(f"{site}/ogc/collections/incidents/items?limit=1000", timeout=60, allow_redirects=False)
    assert bare.status_code == 401 and bare.json()["error"] == "log in first"
    assert requests.get(f"{site}/open311/v2/requests.json", timeout=60, allow_redirects=False).status_code == 401
    token = users.create_token("olga", label="qgis")  # the officer of C1
    answer = requests.get(f"{site}/ogc/collections/incidents/items?limit=1000", timeout=60,
                          headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200
    in_c1 = conn.execute("SELECT count(*) FROM shiyu.incident WHERE path <@ 'C.C1'").fetchone()[0]
    assert answer.json()["numberMatched"] == in_c1
