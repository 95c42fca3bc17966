"""The audit log: every login, export and denied access, one row each (``shiyu.audit_log``).

Examples
--------
>>> record("export", None, {"layers": ["hotspots"], "format": "gpkg"}, "127.0.0.1")  # doctest: +SKIP
42
"""

from __future__ import annotations

import orjson

from geodata.db import fetch_all

RECORD = """
INSERT INTO shiyu.audit_log (user_name, action, detail, remote_addr)
VALUES (%(user_name)s, %(action)s, %(detail)s::jsonb, %(remote_addr)s)
RETURNING id
"""

REFUSAL = "SELECT shiyu.audit_refusal(%(action)s, %(user_name)s, %(remote_addr)s, %(reason)s, %(detail)s::jsonb) AS id"

RECENT = """
SELECT id, at, user_name, action, detail, remote_addr
FROM shiyu.audit_log
WHERE (%(action)s::text IS NULL OR action = %(action)s)
ORDER BY id DESC
LIMIT %(limit)s
"""


def record(action: str, user_name: str | None, detail: dict, remote_addr: str | None) -> int:
    """Write one row and return its id; ``detail`` is anything JSON can hold (dates as ISO text)."""
    rows = fetch_all(RECORD, {"user_name": user_name, "action": action, "remote_addr": remote_addr,
                              "detail": orjson.dumps(detail, option=orjson.OPT_NON_STR_KEYS).decode()})
    return rows[0]["id"]


def record_refusal(action: str, user_name: str | None, reason: str, detail: dict, remote_addr: str | None) -> int:
    """A refusal, written at most once a minute per (action, user, address, reason): the minute's first writes the
    row (``detail`` with ``count`` 1), the others raise its ``count``, so a flood costs a row a minute and loses
    nothing from the count (``0021_sessions_and_throttle.sql``). Returns the row's id."""
    rows = fetch_all(REFUSAL, {"action": action, "user_name": user_name, "reason": reason, "remote_addr": remote_addr,
                               "detail": orjson.dumps({**detail, "reason": reason}, option=orjson.OPT_NON_STR_KEYS).decode()})
    return rows[0]["id"]


def recent(action: str | None = None, limit: int = 20) -> list[dict]:
    """The newest rows, newest first, of one action or of all."""
    return fetch_all(RECENT, {"action": action, "limit": limit})
