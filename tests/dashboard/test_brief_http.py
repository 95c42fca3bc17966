"""The weekly brief over HTTP with logins on: the area panel's link downloads the PDF of the officer's own area,
an area outside their subtree is a 404 (audited as refused), a brief made is audited with who asked, a wall
screen's token and no credential are refused, a bad week is a 400 in one line, and a brief counts as an export
against the user's limits."""

from __future__ import annotations

import subprocess

import flask
import pytest
import requests

from dashboard.components.detail import area_panel
from geodata import users
from geodata.scope import Scope
from layers import brief, detail
from layers.base import Filters
from tests.dashboard.test_login import _login
from tests.serving import people_served


@pytest.fixture(scope="module")
def site(database_url, tmp_path_factory):
    with people_served(database_url, tmp_path_factory.mktemp("brief")) as base:
        yield base


def _hrefs(component) -> list[str]:
    """Every link's address in a Dash component tree."""
    found = []
    if isinstance(component, (list, tuple)):
        for child in component:
            found += _hrefs(child)
        return found
    if getattr(component, "href", None):
        found.append(component.href)
    children = getattr(component, "children", None)
    return found + (_hrefs(children) if children is not None and not isinstance(children, str) else [])


def _latest(conn, action: str) -> tuple:
    return conn.execute("SELECT user_name, detail FROM shiyu.audit_log WHERE action = %s ORDER BY id DESC LIMIT 1",
                        (action,)).fetchone()


def test_the_panels_link_downloads_the_officers_brief_and_it_is_audited(site, conn, tmp_path):
    found = detail.area_detail("C1", Filters(), Scope("C.C1"))
    links = [h for h in _hrefs(area_panel(found, "zh-CN")) if h.startswith("/brief/")]
    week = brief.last_complete_week(found["until"])
    assert links[0] == f"/brief/C1.pdf?week={week.label}"
    session, _ = _login(site, "olga")
    response = session.get(site + links[0], timeout=120)
    assert response.status_code == 200, response.text[:300]
    assert response.headers["Content-Type"] == "application/pdf" and response.content.startswith(b"%PDF")
    assert response.headers["Content-Disposition"] == f"attachment; filename=brief-C1-{week.label}.pdf"
    path = tmp_path / "brief.pdf"
    path.write_bytes(response.content)
    text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout
    assert "区域C1 社会治理研判报告" in text
    user, about = _latest(conn, "brief")
    assert user == "olga" and about["via"] == "web" and about["area"] == "C1" and about["week"] == week.label


def test_an_officer_cannot_brief_an_area_outside_their_subtree(site, conn):
    session, _ = _login(site, "olga")
    week = brief.parse_week("2026-W40")
    inside = session.get(f"{site}/brief/C11.pdf?week={week.label}", timeout=120)
    assert inside.status_code == 200 and inside.content.startswith(b"%PDF")
    outside = session.get(f"{site}/brief/C2.pdf?week={week.label}", timeout=120)
    assert outside.status_code == 404 and outside.json() == {"error": "there is no area 'C2' in your scope"}
    user, about = _latest(conn, "refused")
    assert user == "olga" and about["reason"] == "brief of an area outside the scope" and about["path"] == "/brief/C2.pdf"


def test_a_bad_week_is_one_line_and_screens_and_strangers_are_refused(site):
    session, _ = _login(site, "cora")
    bad = session.get(f"{site}/brief/C1.pdf?week=2026-W99", timeout=60)
    assert bad.status_code == 400 and bad.json() == {"error": "week '2026-W99': 2026 has no week 99"}
    assert requests.get(f"{site}/brief/C1.pdf", timeout=60).status_code == 401
    screen = {"Authorization": f"Bearer {users.create_token('cora', display=True)}"}
    refused = requests.get(f"{site}/brief/C1.pdf", headers=screen, timeout=60)
    assert refused.status_code == 403 and refused.json()["reason"] == "a brief is not reached with a display token"
    api = {"Authorization": f"Bearer {users.create_token('cora')}"}
    assert requests.get(f"{site}/brief/C2.pdf?week=2026-W40", headers=api, timeout=120).status_code == 200


def test_a_brief_counts_as_an_export_against_the_users_limits():
    from dashboard import limits

    app = flask.Flask(__name__)
    with app.test_request_context("/brief/C1.pdf?week=2026-W40"):
        assert limits.kind_of(flask.request) == "export"
