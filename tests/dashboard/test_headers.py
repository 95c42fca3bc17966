"""Security headers on every answer, and the origin check of cookie-borne requests whatever else they carry
(SHIYU_AUTH=on, served)."""

from __future__ import annotations

import pytest
import requests

from geodata import users
from geodata.errors import InputError
from geodata.settings import reload
from tests.dashboard.test_login import _login, _table
from tests.serving import people_served

SCREENS = "https://screens.example.gov.cn http://10.1.2.3:8080"


@pytest.fixture(scope="module")
def site(database_url, tmp_path_factory):
    with people_served(database_url, tmp_path_factory.mktemp("headers"), {"SHIYU_WALL_FRAME_ANCESTORS": SCREENS}) as url:
        yield url


@pytest.mark.parametrize("header", ["Basic eDp5", "Digest x", "Token abc", "bearer", ""])
def test_a_cookie_borne_post_from_another_site_is_refused_whatever_authorization_it_also_carries(site, header):
    session, _ = _login(site, "ada")
    refused = _table(session, site, headers={"Authorization": header, "Origin": "http://evil.example"})
    assert refused.status_code in (401, 403) and "rowData" not in refused.text
    assert _table(session, site, headers={"Authorization": header, "Origin": site}).status_code in (200, 401)


def test_basic_x_with_the_cookie_from_another_site_is_refused(site):
    """The issue's case: ``Authorization: Basic x`` switched the origin check off while the cookie authenticated.
    Since Basic logins (QGIS, GDAL), a Basic header that is no user and token is refused before the origin is
    looked at (401); either way nothing is answered."""
    session, _ = _login(site, "ada")
    refused = _table(session, site, headers={"Authorization": "Basic x", "Origin": "http://evil.example"})
    assert refused.status_code == 401 and "rowData" not in refused.text
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")  # no browser dialog on a callback


def test_a_post_a_browser_marks_as_another_sites_is_refused_without_an_origin_too(site):
    session, _ = _login(site, "ada")
    for site_header in ("cross-site", "same-site"):
        assert _table(session, site, headers={"Sec-Fetch-Site": site_header}).status_code == 403
    assert _table(session, site, headers={"Sec-Fetch-Site": "same-origin"}).status_code == 200


def _secured(response: requests.Response, framed_by: str | None = None) -> None:
    headers = response.headers
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    if framed_by is None:
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["Content-Security-Policy"] == "frame-ancestors 'none'"
    else:
        assert "X-Frame-Options" not in headers
        assert headers["Content-Security-Policy"] == f"frame-ancestors {framed_by}"


def test_every_answer_says_it_may_not_be_framed_sniffed_or_referred_beyond_its_origin(site):
    session, _ = _login(site, "ada")
    for path in ("/", "/export", "/_dash-layout", "/ogc", "/open311/v2/services.json", "/assets/style.css",
                 "/tiles/incidents/8/213/105.pbf", "/no/such/page"):
        _secured(session.get(f"{site}{path}", timeout=60))
    for path in ("/login", "/", "/_dash-layout", "/ogc"):  # refusals and redirects too
        _secured(requests.get(f"{site}{path}", allow_redirects=False, timeout=60))
    _secured(requests.get(f"{site}/wall", allow_redirects=False, timeout=60), framed_by=SCREENS)
    _secured(_table(session, site))


def test_the_wall_may_be_framed_by_the_configured_origins_only(site):
    session, _ = _login(site, "ada")
    _secured(session.get(f"{site}/wall", timeout=60), framed_by=SCREENS)
    screen = requests.Session()
    assert screen.get(f"{site}/wall?token={users.create_token('cora', display=True)}", timeout=30).status_code == 200
    _secured(screen.get(f"{site}/wall?lang=en", timeout=60), framed_by=SCREENS)
    _secured(session.get(f"{site}/", timeout=60))


@pytest.mark.parametrize("value", ["*", "https://a.example/path", "javascript:x", "'unsafe-inline'", "a.example"])
def test_a_frame_ancestor_that_is_not_an_origin_is_refused_when_the_app_is_built(monkeypatch, database_url, value):
    from dashboard.app import create_app

    monkeypatch.setenv("SHIYU_WALL_FRAME_ANCESTORS", value)
    reload()
    try:
        with pytest.raises(InputError, match="SHIYU_WALL_FRAME_ANCESTORS"):
            create_app()
    finally:
        monkeypatch.undo()
        reload()
