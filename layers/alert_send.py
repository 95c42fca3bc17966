"""Posting one message to one hook, and what counts as delivered.

A post has a bounded time (``timeout_s`` for connecting and for each read) and reads at most ``MAX_ANSWER``
bytes of the answer. Delivered means an HTTP 2xx and, for the DingTalk and WeCom robots (which answer 200 with
an ``errcode`` when they refuse a message), ``errcode`` 0. A DingTalk hook with a secret is signed at each
attempt: ``timestamp`` (ms) and ``sign`` = base64(HMAC-SHA256(secret, "timestamp\\nsecret")) as query parameters,
as DingTalk's signed robots require (they refuse a timestamp over an hour old, so a retry signs again).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import quote_plus, urlsplit, urlunsplit

import orjson

MAX_ANSWER = 64 * 1024
USER_AGENT = "Shiyu-alerts/1"


@dataclass(frozen=True)
class Outcome:
    delivered: bool
    status: int | None        # the HTTP status, None when no answer came
    error: str | None         # why it was not delivered, in one line


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's signature of a post: base64 of HMAC-SHA256 keyed by the secret over "timestamp\\nsecret"."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def signed_url(url: str, secret: str, timestamp_ms: int) -> str:
    parts = urlsplit(url)
    extra = f"timestamp={timestamp_ms}&sign={quote_plus(dingtalk_sign(secret, timestamp_ms))}"
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


def _robot_refusal(fmt: str, answer: bytes) -> str | None:
    """Why a robot refused a message it answered 200 to, or None if it took it."""
    if fmt not in ("dingtalk", "wecom"):
        return None
    try:
        reply = json.loads(answer.decode("utf-8", "replace") or "{}")
    except ValueError:
        return f"the robot's answer is not JSON: {answer[:80]!r}"
    code = reply.get("errcode") if isinstance(reply, dict) else None
    if code == 0:
        return None
    if code is None:
        return f"the robot's answer has no errcode: {answer[:80]!r}"
    return f"errcode {code}: {str(reply.get('errmsg', ''))[:160]}"


def _read(answer, deadline: float) -> bytes:
    """At most ``MAX_ANSWER`` bytes of the answer, and no later than ``deadline``: a far end that trickles its
    answer a byte at a time holds a post no longer than that."""
    chunks, size = [], 0
    while size < MAX_ANSWER:
        if time.monotonic() > deadline:
            raise TimeoutError("the answer came too slowly")
        chunk = answer.read1(min(8192, MAX_ANSWER - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer, not delivery: followed, a POST would become a GET somewhere else."""

    def redirect_request(self, *args, **kwargs):
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def post(hook: dict, body: dict, timeout_s: float, now_ms: int | None = None) -> Outcome:
    """POST ``body`` as JSON to ``hook`` (url, format, secret); never raises for a failure of the far end."""
    url = hook["url"]
    if hook["format"] == "dingtalk" and hook.get("secret"):
        url = signed_url(url, hook["secret"], now_ms if now_ms is not None else int(time.time() * 1000))
    request = urllib.request.Request(url, data=orjson.dumps(body), method="POST", headers={
        "Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT})
    try:
        with _OPENER.open(request, timeout=timeout_s) as answer:  # http or https only, checked when the hook was added
            status, content = answer.status, _read(answer, time.monotonic() + 2 * timeout_s)
    except urllib.error.HTTPError as error:
        return Outcome(False, error.code, f"HTTP {error.code} {error.reason}")
    except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as error:
        reason = getattr(error, "reason", error)
        return Outcome(False, None, f"no answer: {str(reason)[:160] or type(error).__name__}")
    if not 200 <= status < 300:
        return Outcome(False, status, f"HTTP {status}")
    refusal = _robot_refusal(hook["format"], content)
    return Outcome(refusal is None, status, refusal)
