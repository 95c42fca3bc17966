"""Alert push: one pass (``send_due``) tells each area's webhooks what is new and posts what is due.

A pass first composes, for every live hook, one message of what the hook has not been told of today
(``layers/alert_compose.py``: new early warnings, red lights and escalated supervision orders in its subtree,
each thing once per Beijing day), then posts every message whose attempt is due, oldest first, at most
``MAX_POSTS`` of them: delivered, it is marked sent; not, it is tried again after ``SHIYU_ALERT_BACKOFF_S``
seconds, doubled at each attempt (up to an hour), and given up after ``SHIYU_ALERT_ATTEMPTS``. Attempts and the
next one's time are in the database, so a restarted server goes on where it stopped. Each message sent or given
up is a row of the audit log (``alert_send``). The elected intake worker runs a pass every
``SHIYU_ALERT_EVERY_S`` seconds off its own thread (``shiyu/duties.py``); ``shiyu alerts send`` runs one.
docs/alerts.md.

Examples
--------
>>> send_due()                                               # doctest: +SKIP
{'hooks': 2, 'composed': 1, 'sent': 1, 'retrying': 0, 'failed': 0, 'hooks_failed': []}
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

import orjson

from geodata.db import fetch_all, one_transaction
from geodata.errors import DatabaseUnavailable, NotFound, ShiyuError
from geodata.settings import settings
from layers.alert_compose import beijing_day, compose
from layers.alert_format import render, trial_body
from layers.alert_hooks import mask_url
from layers.alert_send import Outcome, post

log = logging.getLogger(__name__)

MAX_POSTS = 50            # messages posted at most by one pass (the rest wait for the next)
MAX_BACKOFF_S = 3600
KEEP_ITEM_DAYS = 3        # ledger rows kept (de-duplication needs today's; escalations look back two days)

LIVE_HOOKS = """
SELECT h.id, h.area_code, a.name AS area_name, a.path::text AS path, h.format, h.created_at
FROM shiyu.alert_hook h JOIN shiyu.area a ON a.code = h.area_code
WHERE h.removed_at IS NULL AND a.path IS NOT NULL
ORDER BY h.id
"""
# Leased: the next attempt moved past the post's longest time, so another sender leaves these alone meanwhile.
LEASE = """
UPDATE shiyu.alert_message m SET next_attempt_at = %(now)s + make_interval(secs => %(lease_s)s)
FROM shiyu.alert_hook h
WHERE h.id = m.hook_id AND m.id IN (
    SELECT d.id FROM shiyu.alert_message d JOIN shiyu.alert_hook dh ON dh.id = d.hook_id
    WHERE d.status = 'pending' AND d.next_attempt_at <= %(now)s AND dh.removed_at IS NULL
    ORDER BY d.next_attempt_at, d.id LIMIT %(n)s FOR UPDATE OF d SKIP LOCKED)
RETURNING m.id, m.hook_id, m.body, m.counts, m.attempts, h.url, h.format, h.secret, h.area_code
"""
SENT = """
UPDATE shiyu.alert_message SET status = 'sent', attempts = attempts + 1, sent_at = %(now)s, next_attempt_at = NULL,
       last_error = NULL
WHERE id = %(id)s
"""
RETRY = """
UPDATE shiyu.alert_message SET attempts = attempts + 1, last_error = %(error)s,
       status = CASE WHEN %(final)s THEN 'failed' ELSE 'pending' END,
       next_attempt_at = CASE WHEN %(final)s THEN NULL ELSE %(next)s END
WHERE id = %(id)s
"""
AUDIT = """
INSERT INTO shiyu.audit_log (user_name, action, detail) VALUES ('system', 'alert_send', %(detail)s::jsonb)
"""
PRUNE = "DELETE FROM shiyu.alert_item WHERE day < %(before)s"
HOOK = """
SELECT h.id, h.url, h.format, h.secret, h.area_code, a.name AS area_name
FROM shiyu.alert_hook h JOIN shiyu.area a ON a.code = h.area_code
WHERE h.id = %(id)s AND h.removed_at IS NULL
"""
AUDIT_TEST = """
INSERT INTO shiyu.audit_log (user_name, action, detail) VALUES (%(by)s, 'alert_test', %(detail)s::jsonb)
"""


def _execute(query: str, params: dict) -> None:
    with one_transaction() as run:
        run(query, params)


def backoff_s(attempts: int) -> float:
    """The wait after the ``attempts``-th failed attempt: the base, doubled at each further one, up to an hour."""
    return min(MAX_BACKOFF_S, settings().alert_backoff_s * 2 ** max(0, attempts - 1))


def _audit(message: dict, outcome: Outcome, attempts: int) -> None:
    detail = {"hook": message["hook_id"], "area": message["area_code"], "url": mask_url(message["url"]),
              "format": message["format"], "message": message["id"], "status": "sent" if outcome.delivered else "failed",
              "attempts": attempts, "counts": message["counts"], "http_status": outcome.status, "error": outcome.error}
    _execute(AUDIT, {"detail": orjson.dumps(detail).decode()})


def deliver(now: datetime) -> dict:
    """Post the messages due at ``now``; how many were sent, left to retry, and given up."""
    s = settings()
    done = {"sent": 0, "retrying": 0, "failed": 0}
    due = fetch_all(LEASE, {"now": now, "n": MAX_POSTS, "lease_s": 2 * s.alert_timeout_s + 60})
    for message in due:
        outcome = post(message, message["body"], s.alert_timeout_s)
        attempts = message["attempts"] + 1
        if outcome.delivered:
            _execute(SENT, {"id": message["id"], "now": now})
            _audit(message, outcome, attempts)
            done["sent"] += 1
            continue
        final = attempts >= s.alert_attempts
        _execute(RETRY, {"id": message["id"], "error": outcome.error, "final": final,
                          "next": now + timedelta(seconds=backoff_s(attempts))})
        log.warning("alerts: message %s to hook %s not delivered (attempt %d of %d): %s", message["id"],
                    message["hook_id"], attempts, s.alert_attempts, outcome.error)
        if final:
            _audit(message, outcome, attempts)
        done["failed" if final else "retrying"] += 1
    return done


def post_test_message(hook_id: int, *, by: str | None = None) -> Outcome:
    """Post a message that says only that the hook works, once, now (no retry, no ledger); audited."""
    rows = fetch_all(HOOK, {"id": hook_id})
    if not rows:
        raise NotFound(f"there is no webhook {hook_id} that is not removed; `shiyu alerts list` shows them")
    hook = rows[0]
    outcome = post(hook, trial_body(hook, datetime.now(timezone.utc)), settings().alert_timeout_s)
    _execute(AUDIT_TEST, {"by": by, "detail": orjson.dumps({
        "hook": hook_id, "area": hook["area_code"], "url": mask_url(hook["url"]), "format": hook["format"],
        "status": "sent" if outcome.delivered else "failed", "http_status": outcome.status,
        "error": outcome.error}).decode()})
    return outcome


def send_due(now: datetime | None = None) -> dict:
    """One pass at ``now`` (default: the clock): compose each live hook's news, post what is due, forget ledger
    rows no longer needed. A hook whose news could not be read is skipped (logged) and tried at the next pass."""
    now = now or datetime.now(timezone.utc)
    hooks = fetch_all(LIVE_HOOKS)
    composed, hooks_failed = 0, []
    for hook in hooks:
        try:
            composed += compose(hook, now, render) is not None
        except DatabaseUnavailable:
            raise
        except ShiyuError as error:  # too slow, say: this hook waits for the next pass, the others go on
            log.warning("alerts: hook %s (%s) skipped this pass: %s", hook["id"], hook["area_code"], error)
            hooks_failed.append(hook["id"])
    done = deliver(now)
    _execute(PRUNE, {"before": beijing_day(now) - timedelta(days=KEEP_ITEM_DAYS)})
    return {"hooks": len(hooks), "composed": composed, **done, "hooks_failed": hooks_failed}
