"""What a hook has not been told of yet today: new early warnings, red lights and escalations in its subtree.

One hook's part of a sending pass runs as ``shiyu_app`` inside the hook's area (row-level security), with the
area's path bound into every query as well. The candidates of each kind are inserted into the ledger
``shiyu.alert_item`` with ``ON CONFLICT DO NOTHING`` in the same statement that finds them: the rows inserted are
the new things, and only they are counted and listed. Everything of one hook — the ledger rows and the message
that names them — is one transaction, so a pass that fails records nothing and the next pass finds the same
things new again. docs/alerts.md defines each kind.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import orjson

from geodata.db import one_transaction, scoped
from geodata.scope import Scope
from geodata.taxonomy import CLOSED_STATUSES
from layers import early_warning
from layers.base import BEIJING, RED_LIGHT, Filters, beijing_midnight, in_scope_grids

KINDS = ("warning", "red_light", "escalation")
# How many things of each kind a message lists by name (the others are counted): a flood of red lights is one
# readable message. JSON goes to machines and lists more.
LISTED = {"dingtalk": 5, "wecom": 5, "json": 100}
# Escalations older than this are never pushed (a hook hears of those after it was added, within this window);
# ledger rows are kept a day longer, so one is never pushed twice.
ESCALATION_LOOKBACK = timedelta(days=2)

# The hook's last message of the day: the pass that composed it recorded every red light of that moment, so
# after it only an incident that fell due since, or changed since (a load, a status moved back, a late report:
# each sets updated_at), can be a red light not yet told. RED_SETTLE covers a load that began before that pass
# and committed after it. Without a message today, every red light is a candidate: the day's digest.
WATERMARK = """
SELECT max(created_at) AS at FROM shiyu.alert_message WHERE hook_id = %(hook)s AND created_at >= %(day_start)s
"""
RED_SETTLE = timedelta(hours=1)
RED_LIGHTS = """
WITH red AS (
    SELECT source || ':' || external_id AS thing_id, source, external_id, category, severity, due_at, grid_code, path
    FROM shiyu.incident
    WHERE path <@ %(scope)s::ltree AND """ + RED_LIGHT + """<grids>
      AND (%(since)s::timestamptz IS NULL OR due_at >= %(since)s OR updated_at >= %(settled)s)
), ins AS (
    INSERT INTO shiyu.alert_item (hook_id, kind, thing_id, day, path)
    SELECT %(hook)s, 'red_light', thing_id, %(day)s, path FROM red
    ON CONFLICT DO NOTHING
    RETURNING thing_id
), fresh AS (SELECT red.* FROM red JOIN ins USING (thing_id))
SELECT (SELECT count(*) FROM shiyu.incident WHERE path <@ %(scope)s::ltree AND """ + RED_LIGHT + """<grids>) AS total,
       (SELECT count(*) FROM fresh) AS new,
       (SELECT coalesce(jsonb_agg(to_jsonb(t) - 'path' ORDER BY t.severity DESC NULLS LAST, t.due_at, t.thing_id), '[]')
        FROM (SELECT f.*, g.name AS grid_name FROM fresh f LEFT JOIN shiyu.area g ON g.code = f.grid_code
              ORDER BY f.severity DESC NULLS LAST, f.due_at, f.thing_id LIMIT %(listed)s) t) AS listed,
       (SELECT coalesce(jsonb_agg(jsonb_build_object('code', b.code, 'name', a.name, 'count', b.n)
                                  ORDER BY b.n DESC, b.code), '[]')
        FROM (SELECT ltree2text(subpath(path, nlevel(%(scope)s::ltree), 1)) AS code, count(*) AS n
              FROM fresh WHERE nlevel(path) > nlevel(%(scope)s::ltree) GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 5) b
        LEFT JOIN shiyu.area a ON a.code = b.code) AS by_area
"""
ESCALATIONS = """
WITH esc AS (
    SELECT e.id::text AS thing_id, e.at, e.level, e.path, o.id AS order_id, o.incident_source, o.incident_id,
           o.area_code, a.name AS area_name, o.addressee, o.reply_due_at, o.escalations
    FROM shiyu.supervision_event e
    JOIN shiyu.supervision_order o ON o.id = e.order_id
    LEFT JOIN shiyu.area a ON a.code = o.area_code
    WHERE e.action = 'escalated' AND e.path <@ %(scope)s::ltree AND e.at >= %(since)s AND e.at <= %(now)s
), ins AS (
    INSERT INTO shiyu.alert_item (hook_id, kind, thing_id, day, path)
    SELECT %(hook)s, 'escalation', thing_id, (at AT TIME ZONE 'Asia/Shanghai')::date, path FROM esc
    ON CONFLICT DO NOTHING
    RETURNING thing_id
)
SELECT (SELECT count(*) FROM ins) AS new,
       (SELECT coalesce(jsonb_agg(to_jsonb(t) - 'path' ORDER BY t.rank, t.at, t.thing_id), '[]') FROM (
            SELECT esc.*, array_position(ARRAY['red_list', 'order', 'reminder'], esc.level) AS rank
            FROM esc JOIN ins USING (thing_id)
            ORDER BY rank, esc.at, esc.thing_id LIMIT %(listed)s) t) AS listed
"""
WARNINGS = """
INSERT INTO shiyu.alert_item (hook_id, kind, thing_id, day, path)
SELECT %(hook)s, 'warning', w.grid || ':' || w.win, %(day)s, a.path
FROM unnest(%(grids)s::text[], %(windows)s::text[]) AS w(grid, win)
JOIN shiyu.area a ON a.code = w.grid AND a.path <@ %(scope)s::ltree
ON CONFLICT DO NOTHING
RETURNING thing_id
"""
ADD_MESSAGE = """
INSERT INTO shiyu.alert_message (hook_id, path, created_at, counts, body, next_attempt_at)
VALUES (%(hook)s, %(scope)s::ltree, %(now)s, %(counts)s::jsonb, %(body)s::jsonb, %(now)s)
RETURNING id
"""
CLAIM_ITEMS = "UPDATE shiyu.alert_item SET message_id = %(message)s WHERE hook_id = %(hook)s AND message_id IS NULL"


@dataclass
class News:
    """What one hook has not been told of: each kind's new things, counted, and the first ``LISTED`` of them."""

    warnings: list[dict] = field(default_factory=list)
    warnings_new: int = 0
    red_new: int = 0
    red_total: int = 0
    red_listed: list[dict] = field(default_factory=list)
    red_by_area: list[dict] = field(default_factory=list)
    escalations_new: int = 0
    escalations: list[dict] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.warnings_new or self.red_new or self.escalations_new)

    def counts(self) -> dict:
        return {"warnings": self.warnings_new, "red_lights": self.red_new, "red_lights_total": self.red_total,
                "escalations": self.escalations_new}


def beijing_day(now: datetime):
    return now.astimezone(BEIJING).date()


def _warnings(path: str, now: datetime) -> list[dict]:
    """The early-warning layer's flags in the subtree at ``now``, most improbable first (the layer's order)."""
    result = early_warning.build(Filters(until=now), Scope(path), unit="grid")
    return [f["properties"] for f in result.features if f["properties"].get("grid_code")]


def compose(hook: dict, now: datetime, render) -> int | None:
    """Record what ``hook`` (id, path, format, area name) has not been told of today and queue one message naming it
    (``render(hook, news, now)`` makes its body); the message's id, or None when there was nothing new."""
    path, listed = hook["path"], LISTED[hook["format"]]
    day = beijing_day(now)
    params = {"hook": hook["id"], "scope": path, "day": day, "now": now, "listed": listed,
              "closed": list(CLOSED_STATUSES)}
    with scoped(Scope(path)):
        flags = _warnings(path, now)
        with one_transaction() as run:
            news = News()
            since = run(WATERMARK, {**params, "day_start": beijing_midnight(day)})[0]["at"]
            red = run(in_scope_grids(RED_LIGHTS, params), {
                **params, "since": since, "settled": since - RED_SETTLE if since else None})[0]
            news.red_new, news.red_total, news.red_listed = red["new"], red["total"], red["listed"]
            news.red_by_area = red["by_area"]
            esc = run(ESCALATIONS, {**params, "since": max(hook["created_at"], now - ESCALATION_LOOKBACK)})[0]
            news.escalations_new, news.escalations = esc["new"], esc["listed"]
            if flags:
                fresh = {r["thing_id"] for r in run(WARNINGS, {**params, "grids": [f["grid_code"] for f in flags],
                                                                "windows": [f["window"] for f in flags]})}
                new_flags = [f for f in flags if f"{f['grid_code']}:{f['window']}" in fresh]
                news.warnings_new, news.warnings = len(new_flags), new_flags[:listed]
            if not news:
                return None
            body = render(hook, news, now)
            message = run(ADD_MESSAGE, {**params, "counts": orjson.dumps(news.counts()).decode(),
                                        "body": orjson.dumps(body).decode()})[0]["id"]
            run(CLAIM_ITEMS, {"message": message, "hook": hook["id"]})
            return message
