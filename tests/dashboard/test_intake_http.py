"""POST /api/v1/incidents over real HTTP to a served app on a real PostGIS, applied by the intake worker.

The worker runs on a thread of the test process (as it does in each of ``shiyu serve``'s workers); every count
asserted is read back from the incidents and the cubes, which must equal their recount after every change.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
import requests

from geodata import feeds
from tests.etl.test_incident_cubes import _assert_cubes_are_the_recount
from tests.serving import intake_city, served_with

IN_C1, IN_C2 = (120.05, 30.05), (120.35, 30.35)  # district C1 is the west half of the city, C2 the east


@pytest.fixture(scope="module")
def city(database_url, tmp_path_factory):
    with intake_city(database_url, tmp_path_factory.mktemp("intake")) as now:
        yield now


@pytest.fixture(scope="module")
def served(city):
    with served_with({"SHIYU_INTAKE_MAX_KB": "64"}) as url:
        yield url


@pytest.fixture(scope="module")
def tokens(city):
    return {"platform": feeds.add_feed("platform"), "c1": feeds.add_feed("c1app", "C1")}


def _when(now: datetime, minutes: int) -> str:
    return f"{now - timedelta(minutes=minutes):%Y-%m-%d %H:%M:%S}"


def _post(url, token, body, content_type="application/json", **params):
    data = json.dumps(body, ensure_ascii=False).encode() if not isinstance(body, (bytes, str)) else body
    headers = {"Content-Type": content_type}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return requests.post(f"{url}/api/v1/incidents", data=data, headers=headers, params=params, timeout=30)


def _incident(conn, source, external_id):
    return conn.execute("SELECT status, category, resolved_at, grid_code, pii, attrs FROM shiyu.incident "
                        "WHERE source = %s AND external_id = %s", (source, external_id)).fetchone()


def _row(now, i, minutes=5, **more):
    return {"id": f"P{i}", "category": "消防", "reported_at": _when(now, minutes), "lon": IN_C1[0] + (i % 50) * 0.001,
            "lat": IN_C1[1], **more}


def test_the_answer_waits_on_the_micro_batch_notices_not_on_polling(served, tokens, city, conn):
    """The served app hears each micro-batch's commit (NOTIFY shiyu_applied) and looks at its waiting posts then:
    two posts move its count of heard commits by at least two, and it is listening."""
    from tests.etl.test_kill import wait_for

    notices = feeds.applied_notices
    notices.watch()  # as the first waiting answer starts it
    wait_for(lambda: notices.listening, 20, "the app to listen for the micro-batches' commits")
    before = notices.generation
    for i in (41, 42):
        assert _post(served, tokens["platform"], [_row(city, i)]).status_code == 200
    assert notices.listening and notices.generation >= before + 2


def test_a_json_post_is_validated_applied_and_answered_with_its_counts(served, tokens, city, conn):
    rows = [_row(city, 1, reporter_phone="13800000001", channel="app"), _row(city, 2), _row(city, 3, severity=2)]
    answer = _post(served, tokens["platform"], rows)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert {k: body[k] for k in ("read", "loaded", "updated", "unchanged", "rejected", "rejects", "status")} == {
        "read": 3, "loaded": 3, "updated": 0, "unchanged": 0, "rejected": 0, "rejects": [], "status": "applied"}
    status, category, _, grid, pii, attrs = _incident(conn, "platform", "P1")
    assert (status, category, pii, attrs) == ("reported", "fire_safety", {"reporter_phone": "13800000001"}, {"channel": "app"})
    assert grid is not None
    assert conn.execute("SELECT count(*) FROM shiyu.intake_row").fetchone()[0] == 0
    _assert_cubes_are_the_recount(conn)  # once the micro-batch is folded into the cubes, which finishes its batch
    batch = conn.execute("SELECT batch_id FROM shiyu.intake_post WHERE id = %s", (body["post_id"],)).fetchone()[0]
    assert conn.execute("SELECT source, loaded_count, finished_at IS NOT NULL FROM shiyu.load_batch WHERE id = %s",
                        (batch,)).fetchone() == ("platform", 3, True)
    assert conn.execute("SELECT count(*) FROM shiyu.cube_delta").fetchone()[0] == 0

    again = _post(served, tokens["platform"], rows).json()
    assert (again["loaded"], again["updated"], again["unchanged"]) == (0, 0, 3)
    outcome = requests.get(f"{served}/api/v1/posts/{again['post_id']}", timeout=10,
                           headers={"Authorization": f"Bearer {tokens['platform']}"}).json()
    assert (outcome["status"], outcome["unchanged"], outcome["read"]) == ("applied", 3, 3)


def test_ndjson_and_csv_posts_reject_bad_rows_with_their_line_and_reason(served, tokens, city, conn):
    lines = [json.dumps(_row(city, 100 + i), ensure_ascii=False) for i in range(19)]
    lines.insert(4, json.dumps({**_row(city, 200), "category": "天气"}, ensure_ascii=False))
    answer = _post(served, tokens["platform"], "\n".join(lines) + "\n", "application/x-ndjson")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["read"], body["loaded"], body["rejected"]) == (20, 19, 1)
    assert body["rejects"][0]["row"] == 5 and "unknown category '天气'" in body["rejects"][0]["reason"]
    assert _incident(conn, "platform", "P200") is None

    csv = "id,category,reported_at,lon,lat,status\n" + "".join(
        f"Q{i},纠纷,{_when(city, 9)},{IN_C1[0]},{IN_C1[1] + i * 0.001},立案\n" for i in range(12)) + \
        f"Q1,纠纷,{_when(city, 9)},{IN_C1[0]},{IN_C1[1]},立案\n"
    body = _post(served, tokens["platform"], csv.encode("utf-8"), "text/csv; charset=utf-8").json()
    assert (body["read"], body["loaded"], body["rejected"]) == (13, 12, 1)
    assert body["rejects"] == [{"row": 14, "reason": "duplicate id 'Q1' (first at line 3)"}]
    assert _incident(conn, "platform", "Q5")[0] == "registered"
    _assert_cubes_are_the_recount(conn)


def test_later_posts_move_an_incident_through_the_status_chain_and_the_cubes_follow(served, tokens, city, conn):
    report = _row(city, 300, minutes=90)
    chain = [("上报", None), ("立案", None), ("派遣", None), ("处置中", None), ("结案", _when(city, 10))]
    for status, resolved in chain:
        body = _post(served, tokens["platform"], [{**report, "status": status, "resolved_at": resolved or ""}]).json()
        assert body["rejected"] == 0, body
        _assert_cubes_are_the_recount(conn)
    assert _incident(conn, "platform", "P300")[0] == "closed"
    assert body["updated"] == 1
    assert conn.execute("SELECT count(*) FROM shiyu.incident WHERE source = 'platform' AND external_id = 'P300'"
                        ).fetchone()[0] == 1


def test_a_post_over_the_reject_ratio_is_refused_whole(served, tokens, city, conn):
    rows = [_row(city, 400), {**_row(city, 401), "lon": "not a number"}, {**_row(city, 402), "reported_at": "yesterday-ish"}]
    answer = _post(served, tokens["platform"], rows)
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert (body["read"], body["rejected"], body["loaded"], body["status"]) == (3, 2, 0, "refused")
    assert [r["row"] for r in body["rejects"]] == [2, 3]
    assert _incident(conn, "platform", "P400") is None
    assert conn.execute("SELECT status FROM shiyu.intake_post WHERE id = %s", (body["post_id"],)).fetchone()[0] == "refused"


def test_gcj02_coordinates_are_converted_and_swapped_ones_rejected(served, tokens, city, conn):
    rows = [_row(city, 500)] + [_row(city, 501 + i) for i in range(10)] + [{**_row(city, 520), "lon": IN_C1[1], "lat": IN_C1[0]}]
    body = _post(served, tokens["platform"], rows, crs="gcj02").json()
    assert (body["loaded"], body["rejected"]) == (11, 1)
    assert "swap" in body["rejects"][0]["reason"] or "lat" in body["rejects"][0]["reason"]
    lon = conn.execute("SELECT ST_X(geom) FROM shiyu.incident WHERE source = 'platform' AND external_id = 'P500'").fetchone()[0]
    assert 0.003 < IN_C1[0] + 0.5 - lon - 0.5 < 0.007  # GCJ-02 lies ~500 m east of WGS-84 here


def test_tokens_sources_and_scopes_are_enforced(served, tokens, city, conn):
    row = _row(city, 600)
    assert _post(served, None, [row]).status_code == 401
    assert _post(served, "shiyufeed_not-a-token", [row]).status_code == 401
    assert _post(served, "shiyu_an-api-token", [row]).status_code == 401
    outside = _post(served, tokens["c1"], [row, {**_row(city, 601), "lon": IN_C2[0], "lat": IN_C2[1]}])
    assert outside.status_code == 403 and "outside feed 'c1app'" in outside.json()["error"]
    other = _post(served, tokens["c1"], [{**row, "source": "platform"}])
    assert other.status_code == 403 and "writes its own source only" in other.json()["error"]
    assert _incident(conn, "c1app", "P600") is None and _incident(conn, "platform", "P600") is None
    assert _post(served, tokens["c1"], [row]).status_code == 200
    assert _incident(conn, "c1app", "P600") is not None
    token = feeds.add_feed("shortlived")
    assert _post(served, token, [_row(city, 602)]).status_code == 200
    feeds.revoke_feed("shortlived")
    assert _post(served, token, [_row(city, 603)]).status_code == 401
    assert conn.execute("SELECT count(*) FROM shiyu.audit_log WHERE action IN ('refused', 'intake_refused')").fetchone()[0] >= 3
    assert conn.execute("SELECT count(*) FROM shiyu.audit_log WHERE action IN ('feed_add', 'feed_revoke')").fetchone()[0] >= 4


def test_bodies_that_are_too_large_or_unparseable_are_refused_in_one_line(served, tokens, city):
    big = _post(served, tokens["platform"], b"[" + b" " * (70 << 10) + b"]")
    assert big.status_code == 413 and "at most 65,536" in big.json()["error"]
    chunked = requests.post(f"{served}/api/v1/incidents", data=iter([b"[", b" " * (70 << 10), b"]"]), timeout=30,
                            headers={"Authorization": f"Bearer {tokens['platform']}", "Content-Type": "application/json"})
    assert chunked.status_code == 413
    for body, kind in ((b"{not json", "application/json"), (b'{"id": 1}', "application/json"),
                       (b"[]", "application/json"), (b"a,b\n1,2\n", "text/csv"), (b"[]", "text/plain")):
        answer = _post(served, tokens["platform"], body, kind)
        assert answer.status_code == 400 and "\n" not in answer.json()["error"], (body, answer.text)


def test_a_storm_from_one_feed_is_throttled_and_a_slow_worker_answers_202(city, tokens, conn):
    with served_with({"SHIYU_FEED_RATE_PER_MIN": "4", "SHIYU_INTAKE_WAIT_S": "0"}) as url:
        first = _post(url, tokens["platform"], [_row(city, 700)])
        assert first.status_code == 202 and first.json()["status"] == "queued", first.text
        storm = _post(url, tokens["platform"], [_row(city, 701)])
        assert storm.status_code == 429 and int(storm.headers["Retry-After"]) > 0
    post_id = first.json()["post_id"]
    applied = intake_worker_outcome(conn, post_id)
    assert applied == ("applied", 1)


def intake_worker_outcome(conn, post_id, timeout=10.0):
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = conn.execute("SELECT status, loaded_count FROM shiyu.intake_post WHERE id = %s", (post_id,)).fetchone()
        if row[0] == "applied":
            return row
        time.sleep(0.05)
    return row


def test_the_database_down_is_a_503_with_retry_after(city, tokens):
    from geodata.cluster import free_port

    dead = f"postgresql://shiyu_app@127.0.0.1:{free_port()}/shiyu"
    with served_with({"SHIYU_APP_DATABASE_URL": dead}) as url:
        answer = _post(url, tokens["platform"], [_row(city, 800)])
    assert answer.status_code == 503 and int(answer.headers["Retry-After"]) > 0
    assert "127.0.0.1" not in answer.text
