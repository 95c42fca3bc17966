"""Supervision orders over HTTP, with logins on: the OGC API's supervision collection in each reader's scope and never
stale after an order is written, the Open311 updates feed carrying the orders' events, the export of the layer,
and the layer on the explore map's callback."""

from __future__ import annotations

import json
from urllib.request import Request, urlopen

import pytest

from geodata import db, users
from geodata.scope import Scope
from layers import supervision
from tests.serving import hotline_city, served_with

READERS = {"cora": ("commander", "city"), "olga": ("officer", "C1")}


@pytest.fixture(scope="module")
def site(database_url, tmp_path_factory):
    hotline_city(database_url, tmp_path_factory.mktemp("supervision-http"))
    for name, (role, scope) in READERS.items():
        users.add_user(name, role, scope, password="a long pass phrase")
    tokens = {name: users.create_token(name, label="case system") for name in READERS}
    with served_with({"SHIYU_AUTH": "on", "SHIYU_SECRET_KEY": "test-secret-key-of-supervision"}) as url:
        yield url, tokens


def _get(url: str, token: str) -> dict | list:
    with urlopen(Request(url, headers={"Authorization": f"Bearer {token}"}), timeout=120) as response:
        assert response.status == 200
        return json.loads(response.read())


def _items(site, name: str) -> list[dict]:
    url, tokens = site
    features, page = [], f"{url}/ogc/collections/supervision/items?limit=1000"
    while page is not None:
        doc = _get(page, tokens[name])
        features += doc["features"]
        page = next((link["href"] for link in doc["links"] if link["rel"] == "next"), None)
    assert len(features) == doc["numberMatched"]
    return features


def _lit(conn, path: str) -> set[str]:
    """Open incidents in a red or yellow light, or under an open order, under ``path``: recounted as the owner."""
    return {r[0] for r in conn.execute(
        "SELECT source || ':' || external_id FROM shiyu.incident i WHERE path <@ %s::ltree "
        "AND status NOT IN ('verified', 'closed') AND (due_at < now() "
        "OR now() >= reported_at + 0.8 * (due_at - reported_at) OR EXISTS (SELECT 1 FROM shiyu.supervision_order o "
        "WHERE o.closed_at IS NULL AND (o.incident_source, o.incident_id) = (i.source, i.external_id)))",
        (path,)).fetchall()}


def test_the_collection_holds_each_readers_scope_and_an_order_is_never_served_stale(site, conn):
    conn.execute("DELETE FROM shiyu.supervision_order")
    everything, officer = _items(site, "cora"), _items(site, "olga")
    assert {f["properties"]["id"] for f in everything} == _lit(conn, "C")
    assert {f["properties"]["id"] for f in officer} == _lit(conn, "C.C1")
    assert all(f["properties"]["order_id"] is None for f in everything)
    target = next(f["properties"]["id"] for f in officer if f["properties"]["light"] == "red")
    with db.scoped(Scope("C.C1")):
        order = supervision.issue(target, Scope("C.C1"), "olga", "officer", level="red_list")
    again = {f["properties"]["id"]: f["properties"] for f in _items(site, "olga")}
    assert (again[target]["order_id"], again[target]["order_level"]) == (order["id"], "red_list")


def test_servicerequestupdates_carry_the_orders_events_in_scope(site, conn):
    url, tokens = site
    conn.execute("DELETE FROM shiyu.supervision_order")
    c1, c2 = (conn.execute("SELECT source || ':' || external_id FROM shiyu.incident WHERE path <@ %s::ltree "
                           "AND status NOT IN ('verified', 'closed') AND due_at < now() LIMIT 1", (p,)).fetchone()[0]
              for p in ("C.C1", "C.C2"))
    with db.scoped(Scope.everything()):
        orders = [supervision.issue(i, Scope.everything(), "cora", "commander") for i in (c1, c2)]
        supervision.reply(orders[0]["id"], Scope.everything(), "olga", "officer", "已处置", "handling")
    mine = _get(f"{url}/open311/v2/servicerequestupdates.json?service_request_id={c1}", tokens["olga"])
    events = [u for u in mine if "@order-event-" in u["update_id"]]
    assert [u["description"].split("已")[1][:2] for u in events] == ["下达", "回复"]
    assert all(set(u) == {"update_id", "service_request_id", "status", "updated_datetime", "description", "media_url"}
               for u in mine)
    assert f"督办单 {orders[0]['id']}" in events[0]["description"] and events[0]["status"] == "open"
    theirs = _get(f"{url}/open311/v2/servicerequestupdates.json?service_request_id={c2}", tokens["olga"])
    assert theirs == []  # district C2's order is not the C1 officer's to read
    english = _get(f"{url}/open311/v2/servicerequestupdates.json?service_request_id={c2}&lang=en", tokens["cora"])
    assert any(u["description"].startswith(f"Supervision order {orders[1]['id']} (Supervision order) issued by cora")
               for u in english)


def _supervise_body(incident: str) -> dict:
    """The explore page's 督办 button for ``incident`` clicked, as dash-renderer posts it."""
    button = {"incident": incident, "type": "supervise-one"}
    return {"output": "supervise-result.children", "outputs": {"id": "supervise-result", "property": "children"},
            "inputs": [[{"id": button, "property": "n_clicks", "value": 1}], []],
            "state": [{"id": "supervise-level", "property": "value", "value": "red_list"},
                      {"id": "supervise-note", "property": "value", "value": "forged"},
                      {"id": "explore-view", "property": "data", "value": None},
                      {"id": "explore-lang", "property": "data", "value": "en"}],
            "changedPropIds": [json.dumps(button, separators=(",", ":"), sort_keys=True) + ".n_clicks"]}


def test_a_forged_button_outside_the_officers_district_writes_nothing(site, conn):
    import requests

    url, tokens = site
    conn.execute("DELETE FROM shiyu.supervision_order")
    outside, inside = (conn.execute("SELECT source || ':' || external_id FROM shiyu.incident WHERE path <@ %s::ltree "
                                    "AND status NOT IN ('verified', 'closed') AND due_at < now() LIMIT 1",
                                    (p,)).fetchone()[0] for p in ("C.C2", "C.C1"))
    headers = {"Authorization": f"Bearer {tokens['olga']}"}
    before = conn.execute("SELECT coalesce(max(id), 0) FROM shiyu.audit_log").fetchone()[0]
    refused = requests.post(f"{url}/_dash-update-component", json=_supervise_body(outside), headers=headers, timeout=60)
    assert refused.status_code == 200 and f"there is no open incident {outside}" in refused.text
    assert conn.execute("SELECT count(*) FROM shiyu.supervision_order").fetchone()[0] == 0
    issued = requests.post(f"{url}/_dash-update-component", json=_supervise_body(inside), headers=headers, timeout=60)
    assert issued.status_code == 200 and "issued to" in issued.text
    assert conn.execute("SELECT issued_by, level, note FROM shiyu.supervision_order").fetchall() == [
        ("olga", "red_list", "forged")]
    assert conn.execute("SELECT array_agg(user_name || ' ' || (detail ->> 'incident')) FROM shiyu.audit_log "
                        "WHERE action = 'supervision_issue' AND id > %s", (before,)).fetchone()[0] == [f"olga {inside}"]


def _reply_body(order_id: int, text: str) -> dict:
    """The /orders page's reply button of ``order_id`` clicked, as dash-renderer posts it."""
    ids = {kind: {"order": order_id, "type": kind} for kind in ("orders-reply", "orders-text", "orders-status")}
    return {"output": "..orders-message.children...orders-list.children..",
            "outputs": [{"id": "orders-message", "property": "children"}, {"id": "orders-list", "property": "children"}],
            "inputs": [[{"id": ids["orders-reply"], "property": "n_clicks", "value": 1}], [], []],
            "state": [[{"id": ids["orders-text"], "property": "value", "value": text}],
                      [{"id": ids["orders-status"], "property": "value", "value": "handling"}],
                      [{"id": ids["orders-text"], "property": "id", "value": ids["orders-text"]}],
                      {"id": "orders-lang", "property": "data", "value": "en"}],
            "changedPropIds": [json.dumps(ids["orders-reply"], separators=(",", ":"), sort_keys=True) + ".n_clicks"]}


def test_an_officer_replies_to_their_own_districts_order_only(site, conn):
    import requests

    url, tokens = site
    conn.execute("DELETE FROM shiyu.supervision_order")
    c1, c2 = (conn.execute("SELECT source || ':' || external_id FROM shiyu.incident WHERE path <@ %s::ltree "
                           "AND status NOT IN ('verified', 'closed') AND due_at < now() LIMIT 1", (p,)).fetchone()[0]
              for p in ("C.C1", "C.C2"))
    with db.scoped(Scope.everything()):
        mine, theirs = (supervision.issue(i, Scope.everything(), "cora", "commander")["id"] for i in (c1, c2))
    headers = {"Authorization": f"Bearer {tokens['olga']}"}
    refused = requests.post(f"{url}/_dash-update-component", json=_reply_body(theirs, "not mine"), headers=headers,
                            timeout=60)
    assert refused.status_code == 200 and f"there is no open supervision order {theirs}" in refused.text
    done = requests.post(f"{url}/_dash-update-component", json=_reply_body(mine, "已处置"), headers=headers, timeout=60)
    assert done.status_code == 200 and f"Reply to order {mine} sent" in done.text
    assert conn.execute("SELECT id, replied_by, reply_text FROM shiyu.supervision_order WHERE replied_at IS NOT NULL"
                        ).fetchall() == [(mine, "olga", "已处置")]


def test_ordering_a_whole_list_orders_what_the_panel_counts(site, conn):
    import requests

    from layers import detail
    from layers.base import Filters

    url, tokens = site
    conn.execute("DELETE FROM shiyu.supervision_order")
    view = {"layer": "hexes", "bbox": [120.0, 30.0, 120.4, 30.4], "zoom": 12, "res": 8, "tier": "grid",
            "area_code": "C1121", "since": None, "until": None, "categories": [], "severities": [], "statuses": []}
    with db.scoped(Scope("C.C1")):
        shown = detail.area_detail("C1121", Filters(area_code="C1121"), Scope("C.C1"))["overdue_total"]
    button = {"code": "C1121", "type": "supervise-area"}
    body = {"output": "supervise-result.children", "outputs": {"id": "supervise-result", "property": "children"},
            "inputs": [[], [{"id": button, "property": "n_clicks", "value": 1}]],
            "state": [{"id": "supervise-level", "property": "value", "value": "reminder"},
                      {"id": "supervise-note", "property": "value", "value": "集中督办"},
                      {"id": "explore-view", "property": "data", "value": view},
                      {"id": "explore-lang", "property": "data", "value": "zh-CN"}],
            "changedPropIds": [json.dumps(button, separators=(",", ":"), sort_keys=True) + ".n_clicks"]}
    answer = requests.post(f"{url}/_dash-update-component", json=body, timeout=60,
                           headers={"Authorization": f"Bearer {tokens['olga']}"})
    assert answer.status_code == 200 and f"已下达或升级 {shown} 张督办单" in answer.text
    assert conn.execute("SELECT count(*), array_agg(DISTINCT level) FROM shiyu.supervision_order").fetchone() == (
        shown, ["reminder"])
