"""Open311 GeoReport v2 writes over real HTTP to a served app on a real PostGIS, applied by the intake worker.

Every answer's keys are checked against GeoReport v2's field lists (written down below from the specification,
http://wiki.open311.org/GeoReport_v2, and its servicerequestupdates extension); every value asserted is read back
from the incidents themselves.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import requests

from etl import intake
from geodata import feeds
from tests.etl.test_incident_cubes import _assert_cubes_are_the_recount
from tests.serving import intake_city, served_with

IN_C1, IN_C2 = (120.05, 30.05), (120.35, 30.35)
V2 = "/open311/v2"

# GeoReport v2's field lists.
POST_REQUEST_KEYS = {"service_request_id", "service_notice", "account_id"}
POST_REQUEST_QUEUED_KEYS = {"token", "service_notice", "account_id"}
REQUEST_KEYS = {"service_request_id", "status", "status_notes", "service_name", "service_code", "description",
                "agency_responsible", "service_notice", "requested_datetime", "updated_datetime", "expected_datetime",
                "address", "address_id", "zipcode", "lat", "long", "media_url"}
SERVICE_KEYS = {"service_code", "service_name", "description", "metadata", "type", "keywords", "group"}
DEFINITION_KEYS = {"service_code", "attributes"}
ATTRIBUTE_KEYS = {"variable", "code", "datatype", "required", "datatype_description", "order", "description", "values"}
DISCOVERY_KEYS = {"changeset", "contact", "key_service", "endpoints"}
ENDPOINT_KEYS = {"specification", "url", "changeset", "type", "formats"}
ERROR_KEYS = {"code", "description"}
UPDATE_KEYS = {"update_id", "service_request_id", "status", "updated_datetime", "description", "media_url"}
POST_UPDATE_KEYS = {"update_id", "service_request_id", "service_notice", "account_id"}


@pytest.fixture(scope="module")
def city(database_url, tmp_path_factory):
    with intake_city(database_url, tmp_path_factory.mktemp("open311w")) as now:
        yield now


@pytest.fixture(scope="module")
def served(city):
    with served_with({"SHIYU_INTAKE_MAX_KB": "64"}) as url:
        yield url


@pytest.fixture(scope="module")
def tokens(city):
    return {"platform": feeds.add_feed("o311platform"), "c1": feeds.add_feed("o311c1", "C1")}


def _form(now, **more):
    return {"service_code": "fire_safety", "lat": str(IN_C1[1]), "long": str(IN_C1[0]),
            "requested_datetime": (now - timedelta(minutes=20)).isoformat(), "description": "楼道堆放杂物", **more}


def _post(url, path, form, api_key=None):
    return requests.post(f"{url}{V2}/{path}", data={**form, **({"api_key": api_key} if api_key else {})}, timeout=30)


def _errors(answer, status):
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert isinstance(body, list) and len(body) == 1 and set(body[0]) == ERROR_KEYS, body
    assert body[0]["code"] == status and "\n" not in body[0]["description"]
    return body[0]["description"]


def _incident(conn, source, external_id):
    return conn.execute("SELECT category, status, severity, resolved_at, pii, attrs, description FROM shiyu.incident "
                        "WHERE source = %s AND external_id = %s", (source, external_id)).fetchone()


def test_a_request_posted_as_a_georeport_form_is_applied_and_read_back(served, tokens, city, conn):
    form = _form(city, first_name="三丰", last_name="张", phone="13800000009", email="z@example.cn",
                 media_url="http://photos.example.cn/1.jpg", **{"attribute[severity]": "3", "attribute[floor]": "5"})
    answer = _post(served, "requests.json", form, tokens["platform"])
    assert answer.status_code == 200, answer.text
    [posted] = answer.json()
    assert set(posted) == POST_REQUEST_KEYS and posted["account_id"] is None
    source, _, external_id = posted["service_request_id"].partition(":")
    assert source == "o311platform" and external_id.startswith("o311-")
    category, status, severity, _, pii, attrs, description = _incident(conn, source, external_id)
    assert (category, status, severity, description) == ("fire_safety", "reported", 3, "楼道堆放杂物")
    assert pii == {"reporter_name": "张三丰", "reporter_phone": "13800000009"}
    assert attrs == {"email": "z@example.cn", "media_url": "http://photos.example.cn/1.jpg", "attribute[floor]": "5"}
    _assert_cubes_are_the_recount(conn)

    read = requests.get(f"{served}{V2}/requests/{posted['service_request_id']}.json", timeout=30)
    assert read.status_code == 200, read.text
    [request] = read.json()
    assert set(request) == REQUEST_KEYS
    assert (request["service_request_id"], request["status"], request["service_code"]) == (
        posted["service_request_id"], "open", "fire_safety")
    assert abs(request["lat"] - IN_C1[1]) < 1e-6 and abs(request["long"] - IN_C1[0]) < 1e-6
    assert request["description"] is None  # the read side shows no citizen's words (layers/open311.py)


def test_a_status_update_moves_the_incident_and_reads_back_through_the_updates_feed(served, tokens, city, conn):
    [posted] = _post(served, "requests.json", _form(city, phone="13800000010"), tokens["platform"]).json()
    request_id = posted["service_request_id"]
    external_id = request_id.split(":", 1)[1]
    before = _incident(conn, "o311platform", external_id)
    start = datetime.now(timezone.utc).isoformat()  # after the city's load: the changes since are this test's
    closed_at = city - timedelta(minutes=2)
    answer = _post(served, "servicerequestupdates.json", {"service_request_id": request_id, "status": "closed",
                   "updated_datetime": closed_at.isoformat(), "description": "已清理", "update_id": "U-1"}, tokens["platform"])
    assert answer.status_code == 200, answer.text
    [update] = answer.json()
    assert set(update) == POST_UPDATE_KEYS and (update["update_id"], update["service_request_id"]) == ("U-1", request_id)
    category, status, _, resolved_at, pii, attrs, description = _incident(conn, "o311platform", external_id)
    assert (status, category, pii, description) == ("closed", before[0], before[4], before[6])
    assert resolved_at == closed_at and attrs["update_note"] == "已清理"
    _assert_cubes_are_the_recount(conn)

    moved = _post(served, "servicerequestupdates.json", {"service_request_id": request_id, "status": "派遣"},
                  tokens["platform"])
    assert moved.status_code == 200, moved.text
    assert _incident(conn, "o311platform", external_id)[1:4:2] == ("dispatched", None)
    _assert_cubes_are_the_recount(conn)

    listed = requests.get(f"{served}{V2}/servicerequestupdates.json", params={"start_date": start, "page_size": 1000},
                          timeout=30)
    assert listed.status_code == 200, listed.text
    changes = {u["service_request_id"]: u for u in listed.json()}
    assert set(changes[request_id]) == UPDATE_KEYS and changes[request_id]["status"] == "open"
    expected = conn.execute("SELECT count(*) FROM shiyu.incident WHERE updated_at >= %s", (start,)).fetchone()[0]
    assert len(changes) == expected == 1
    one = requests.get(f"{served}{V2}/servicerequestupdates.json", timeout=30,
                       params={"start_date": start, "service_request_id": request_id}).json()
    assert [u["service_request_id"] for u in one] == [request_id]


def test_discovery_services_and_their_definitions_follow_the_taxonomy(served):
    from geodata.taxonomy import CATEGORIES

    discovery = requests.get(f"{served}{V2}/discovery.json", timeout=30).json()
    assert set(discovery) == DISCOVERY_KEYS and set(discovery["endpoints"][0]) == ENDPOINT_KEYS
    assert discovery["endpoints"][0]["url"].endswith(f"{V2}/")
    services = requests.get(f"{served}{V2}/services.json", timeout=30).json()
    assert [s["service_code"] for s in services] == list(CATEGORIES)
    for service in services:
        assert set(service) == SERVICE_KEYS and service["metadata"] is True
        definition = requests.get(f"{served}{V2}/services/{service['service_code']}.json", timeout=30).json()
        assert set(definition) == DEFINITION_KEYS and definition["service_code"] == service["service_code"]
        assert all(set(a) == ATTRIBUTE_KEYS for a in definition["attributes"])
    assert "weather" in _errors(requests.get(f"{served}{V2}/services/weather.json", timeout=30), 404)


def test_errors_come_in_georeport_form_with_their_http_codes(served, tokens, city, conn):
    key = tokens["platform"]
    assert "geocoder" in _errors(_post(served, "requests.json", {"service_code": "dispute", "address_string":
                                                                  "文三路 1 号"}, key), 400)
    _errors(_post(served, "requests.json", _form(city)), 401)
    _errors(_post(served, "requests.json", _form(city), "shiyufeed_not-a-token"), 401)
    _errors(_post(served, "requests.json", _form(city, lat=str(IN_C2[1]), long=str(IN_C2[0])), tokens["c1"]), 403)
    assert "天气" in _errors(_post(served, "requests.json", _form(city, service_code="天气"), key), 422)
    assert "65,536" in _errors(_post(served, "requests.json", _form(city, description="字" * 30_000), key), 413)
    other = _post(served, "servicerequestupdates.json", {"service_request_id": "hotline:H1", "status": "closed"}, key)
    assert "its own requests only" in _errors(other, 403)
    assert conn.execute("SELECT status FROM shiyu.incident WHERE external_id = 'H1'").fetchone()[0] != "closed"
    _errors(_post(served, "servicerequestupdates.json", {"service_request_id": "o311platform:nope", "status": "closed"},
                  key), 404)
    bearer = requests.post(f"{served}{V2}/requests.json", data=_form(city), timeout=30,
                           headers={"Authorization": f"Bearer {key}"})
    assert bearer.status_code == 200 and set(bearer.json()[0]) == POST_REQUEST_KEYS
    assert ".json" in _errors(requests.get(f"{served}{V2}/requests.xml", timeout=30), 406)
    _errors(requests.post(f"{served}{V2}/requests.xml", data=_form(city, api_key=key), timeout=30), 406)
    _errors(requests.get(f"{served}{V2}/no-such-thing", timeout=30), 404)


def test_a_slow_worker_answers_a_token_redeemed_for_the_id_once_applied_and_a_storm_is_throttled(city, tokens, conn):
    with served_with({"SHIYU_INTAKE_WAIT_S": "0", "SHIYU_FEED_RATE_PER_MIN": "4"}) as url:
        answer = _post(url, "requests.json", _form(city), tokens["platform"])
        assert answer.status_code == 202, answer.text
        [queued] = answer.json()
        assert set(queued) == POST_REQUEST_QUEUED_KEYS
        storm = _post(url, "servicerequestupdates.json", {"service_request_id": "o311platform:x", "status": "closed"},
                      tokens["platform"])
        assert "slow down" in _errors(storm, 429) and int(storm.headers["Retry-After"]) > 0
        post_id = int(queued["token"].split(".")[0])
        intake.wait_for(post_id, "o311platform", 10)
        redeemed = requests.get(f"{url}{V2}/tokens/{queued['token']}.json", timeout=30,
                                headers={"Authorization": f"Bearer {tokens['platform']}"}).json()
    [found] = redeemed
    source, _, external_id = found["service_request_id"].partition(":")
    assert source == "o311platform" and _incident(conn, source, external_id) is not None



def test_the_database_down_is_a_503_with_retry_after_in_georeport_form(city, tokens):
    from geodata.cluster import free_port

    dead = f"postgresql://shiyu_app@127.0.0.1:{free_port()}/shiyu"
    with served_with({"SHIYU_APP_DATABASE_URL": dead}) as url:
        answer = _post(url, "requests.json", _form(city), tokens["platform"])
    _errors(answer, 503)
    assert int(answer.headers["Retry-After"]) > 0 and "127.0.0.1" not in answer.text
