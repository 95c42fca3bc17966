"""Alert webhooks per area: added, listed and removed by the owner (``shiyu alerts``); docs/alerts.md.

A hook's URL is where its messages are posted: a DingTalk or WeCom group robot (its access token is in the URL's
query, so the URL is shown and audited masked) or any endpoint taking the documented JSON object. Only http and
https are taken; private and loopback addresses are allowed, as command centres run their robots' relays on
their own networks.

Examples
--------
>>> hook = add_hook("330106", "https://oapi.dingtalk.com/robot/send?access_token=…", "dingtalk", "SEC…")  # doctest: +SKIP
>>> [h["id"] for h in list_hooks()]                                                                        # doctest: +SKIP
[1]
"""

from __future__ import annotations

import re
from datetime import datetime
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson

from geodata.db import fetch_all
from geodata.errors import InputError, NotFound
from layers.base import BEIJING, beijing_midnight

FORMATS = ("dingtalk", "wecom", "json")
MAX_URL = 2000
MAX_SECRET = 200
# Query parameters that are credentials: shown by their last four characters only.
_SECRET_PARAMS = re.compile(r"(token|key|secret|sign)", re.IGNORECASE)

ADD = """
INSERT INTO shiyu.alert_hook (area_code, url, format, secret, created_by)
SELECT %(area)s, %(url)s, %(format)s, %(secret)s, %(by)s FROM shiyu.area WHERE code = %(area)s
RETURNING id, area_code, url, format, secret IS NOT NULL AS signed, created_at
"""
REMOVE = """
UPDATE shiyu.alert_hook SET removed_at = now(), removed_by = %(by)s
WHERE id = %(id)s AND removed_at IS NULL
RETURNING id, area_code, url, format
"""
# A removed hook's messages still waiting are given up: nobody wants them posted after it is gone.
GIVE_UP_PENDING = """
UPDATE shiyu.alert_message SET status = 'failed', next_attempt_at = NULL, last_error = 'hook removed'
WHERE hook_id = %(id)s AND status = 'pending'
RETURNING id
"""
AUDIT = """
INSERT INTO shiyu.audit_log (user_name, action, detail) VALUES (%(by)s, %(action)s, %(detail)s::jsonb) RETURNING id
"""
LIST = """
SELECT h.id, h.area_code, a.name AS area_name, a.path::text AS path, h.url, h.format, h.secret IS NOT NULL AS signed,
       h.created_at, h.created_by, h.removed_at,
       last.sent_at AS last_sent, coalesce(m.pending, 0) AS pending, coalesce(m.failed_today, 0) AS failed_today,
       coalesce(m.sent_today, 0) AS sent_today
FROM shiyu.alert_hook h
JOIN shiyu.area a ON a.code = h.area_code
LEFT JOIN LATERAL (SELECT max(sent_at) AS sent_at FROM shiyu.alert_message WHERE hook_id = h.id) last ON true
LEFT JOIN LATERAL (
    SELECT count(*) FILTER (WHERE status = 'pending') AS pending,
           count(*) FILTER (WHERE status = 'failed' AND created_at >= %(today)s) AS failed_today,
           count(*) FILTER (WHERE status = 'sent' AND created_at >= %(today)s) AS sent_today
    FROM shiyu.alert_message WHERE hook_id = h.id AND (status = 'pending' OR created_at >= %(today)s)) m ON true
WHERE %(all)s OR h.removed_at IS NULL
ORDER BY h.id
"""


def check_url(url: str) -> str:
    """``url`` if it is an http(s) URL with a host, else an ``InputError`` saying why."""
    if not isinstance(url, str) or not url.strip():
        raise InputError("give the webhook's URL, e.g. https://oapi.dingtalk.com/robot/send?access_token=…")
    url = url.strip()
    if len(url) > MAX_URL:
        raise InputError(f"the webhook URL is {len(url)} characters long; at most {MAX_URL} are taken")
    if any(c.isspace() or ord(c) < 32 for c in url):
        raise InputError("the webhook URL holds spaces or control characters")
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        raise InputError(f"a webhook URL starts with http:// or https://, not {parts.scheme or url[:12]!r}")
    try:
        host = parts.hostname if parts.port is None or parts.port > 0 else None  # .port raises when out of range
    except ValueError as exc:
        raise InputError(f"the webhook URL's address is not valid ({exc})") from None
    if not host or not re.match(r"^[A-Za-z0-9.\-:\[\]_]+$", parts.netloc.rsplit("@", 1)[-1]):
        raise InputError("the webhook URL names no valid host")
    if parts.username or parts.password:
        raise InputError("put no user or password in the webhook URL; DingTalk robots sign with --secret")
    return url


def mask_url(url: str) -> str:
    """``url`` with the values of credential-like query parameters cut to their last four characters."""
    parts = urlsplit(url)
    query = [(k, ("…" + v[-4:]) if _SECRET_PARAMS.search(k) and v else v)
             for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query, safe="…"), ""))


def _audit(action: str, by: str | None, detail: dict) -> None:
    fetch_all(AUDIT, {"by": by, "action": action, "detail": orjson.dumps(detail).decode()})


def add_hook(area_code: str, url: str, fmt: str = "json", secret: str | None = None, *, by: str | None = None) -> dict:
    """Add a webhook for ``area_code``'s subtree; returns it (``id``, ``area_code``, ``url``, ``format``, ``signed``)."""
    url = check_url(url)
    if fmt not in FORMATS:
        raise InputError(f"format {fmt!r} is not one of {', '.join(FORMATS)}")
    if secret is not None:
        secret = secret.strip()
        if fmt != "dingtalk":
            raise InputError("--secret signs DingTalk robots' posts only; give --format dingtalk, or no secret")
        if not 0 < len(secret) <= MAX_SECRET:
            raise InputError(f"a DingTalk secret is 1 to {MAX_SECRET} characters (it starts with SEC)")
    rows = fetch_all(ADD, {"area": area_code, "url": url, "format": fmt, "secret": secret, "by": by})
    if not rows:
        raise NotFound(f"there is no area with code {area_code!r}; `shiyu alerts add --area` takes an area code")
    hook = rows[0]
    _audit("alert_hook_add", by, {"hook": hook["id"], "area": area_code, "url": mask_url(url), "format": fmt,
                                  "signed": hook["signed"]})
    return hook


def remove_hook(hook_id: int, *, by: str | None = None) -> dict:
    """Remove a webhook: nothing more is composed for it and its waiting messages are given up; its history stays."""
    rows = fetch_all(REMOVE, {"id": hook_id, "by": by})
    if not rows:
        raise NotFound(f"there is no webhook {hook_id} that is not removed already; `shiyu alerts list` shows them")
    given_up = fetch_all(GIVE_UP_PENDING, {"id": hook_id})
    hook = rows[0]
    _audit("alert_hook_remove", by, {"hook": hook_id, "area": hook["area_code"], "url": mask_url(hook["url"]),
                                     "messages_given_up": len(given_up)})
    return hook


def list_hooks(*, include_removed: bool = False) -> list[dict]:
    """Every hook (URL masked) with its area, its last send, waiting messages, and today's (Beijing) sent and failed
    messages."""
    today = beijing_midnight(datetime.now(BEIJING).date())
    rows = fetch_all(LIST, {"all": include_removed, "today": today})
    for row in rows:
        row["url"] = mask_url(row["url"])
    return rows
