"""``/login`` and ``/logout``: a plain HTML form, served by Flask, that works without JavaScript.

The form carries a CSRF token (kept in the session, compared in constant time) and is refused from another
origin. A failed login says the same thing whatever went wrong (unknown name, wrong password, disabled), so a
name cannot be probed; the audit log says which (``geodata.users.authenticate``; docs/security.md). Too many
failures from the client's address are refused with a 429 and ``Retry-After`` before any password is hashed,
and at most ``PASSWORD_CHECKS`` passwords are hashed at once in a process (a hash is about a second of a core):
one more is refused at once with a 429 rather than queued, so logins cannot starve everyone else's requests.
"""

from __future__ import annotations

import hmac
import math
import secrets
import threading
from urllib.parse import urlencode

import flask

from dashboard import access
from dashboard.i18n import pick, t
from geodata import users
from geodata.errors import DatabaseUnavailable
from geodata.settings import settings

MAX_FIELD = 200
PASSWORD_CHECKS = 2  # hashed at once per process: the machine's cores
BUSY_RETRY_S = 1
_checking = threading.BoundedSemaphore(PASSWORD_CHECKS)

PAGE = """<!DOCTYPE html>
<html lang="{{ lang }}">
<head>
<meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ t("login_title") }} · 市域 Shiyu</title>
<link rel="icon" href="/_favicon.ico"><link rel="stylesheet" href="/assets/style.css"><link rel="stylesheet" href="/assets/login.css">
</head>
<body class="login-page">
<header class="topbar login-topbar">
  <h1>{{ t("title") }}</h1><span class="spacer"></span>
  <a href="{{ switch }}" id="login-lang-switch">{{ t("language") }}</a>
</header>
<main class="login-main">
  <section class="login-intro">
    <h2>{{ t("login_welcome") }}</h2>
    <p>{{ t("login_about") }}</p>
    <ul class="login-tiers">{% for tier in tiers %}<li style="margin-left: {{ loop.index0 * 18 }}px">{{ tier }}</li>{% endfor %}</ul>
  </section>
  {% if form %}
  <form class="login-card" method="post" action="/login?{{ query }}" autocomplete="on">
    <h2>{{ t("login_title") }}</h2>
    {% if message %}<div class="login-error" role="alert">{{ message }}</div>{% endif %}
    <input type="hidden" name="csrf" value="{{ csrf }}">
    <input type="hidden" name="next" value="{{ next }}">
    <label for="login-name">{{ t("login_name") }}</label>
    <input id="login-name" name="name" value="{{ name }}" autocomplete="username" required autofocus maxlength="64">
    <label for="login-password">{{ t("login_password") }}</label>
    <input id="login-password" name="password" type="password" autocomplete="current-password" required>
    <button type="submit" id="login-submit">{{ t("login_submit") }}</button>
    <p class="login-note">{{ t("login_note") }}</p>
  </form>
  {% else %}
  <div class="login-card"><h2>{{ t("refused_title") }}</h2><p>{{ message }}</p>
    <a class="login-back" href="/?lang={{ lang }}">{{ t("refused_back") }}</a> <a class="login-back" href="/logout">{{ t("logout") }}</a></div>
  {% endif %}
</main>
</body>
</html>
"""


def _lang() -> str:
    return pick(flask.request.args.get("lang"), settings().lang)


def _render(status: int, *, form: bool = True, message: str = "", name: str = "", target: str = "/"):
    lang = _lang()
    session = flask.session
    if form and not isinstance(session.get("csrf"), str):
        session["csrf"] = secrets.token_urlsafe(32)
    other = "en" if lang == "zh-CN" else "zh-CN"
    keep = {"next": target} if target != "/" else {}
    html = flask.render_template_string(
        PAGE, lang=lang, t=lambda key, **values: t(key, lang, **values), form=form, message=message, name=name,
        csrf=session.get("csrf", ""), next=target, query=urlencode({"lang": lang, **keep}),
        switch=flask.request.path + "?" + urlencode({"lang": other, **keep}),
        tiers=[t(f"{tier}_one", lang) for tier in ("city", "district", "street", "community", "grid")])
    response = flask.make_response(html, status)
    response.headers["Cache-Control"] = "no-store"
    return response


def refused_page(status: int):
    """A page-shaped 401/403 in the product's look."""
    return _render(status, form=False, message=t("refused_text", _lang()))


def _field(name: str) -> str:
    value = flask.request.form.get(name, "")
    return value[:MAX_FIELD] if isinstance(value, str) else ""


def _login():
    target = access.safe_next(flask.request.values.get("next"))
    if flask.request.method == "GET":
        return _render(200, target=target)
    expected, given = flask.session.get("csrf"), _field("csrf")
    if not (isinstance(expected, str) and given and hmac.compare_digest(expected.encode(), given.encode())) \
            or not access.same_origin():
        access.record_refusal("refused", None, "login form without a valid CSRF token", status=403)
        return _render(403, message=t("login_csrf", _lang()), target=target)
    name, password = _field("name").strip(), _field("password")
    if not _checking.acquire(blocking=False):
        access.record_refusal("login_busy", None, "password checks busy")
        return _wait(BUSY_RETRY_S, t("login_busy", _lang()), name, target)
    try:
        user = users.authenticate(name, password, access.remote_addr())
        started = access.start_session(user)
    except users.LoginRefused as refused:
        if refused.reason == "throttled":
            seconds = max(1, math.ceil(refused.retry_after.total_seconds()))
            access.record_refusal("throttled", name or None, "throttled", retry_after_s=seconds)
            return _wait(seconds, t("login_wait", _lang(), seconds=seconds), name, target)
        access.record_refusal("login_failed", name or None, refused.reason)
        return _render(401, message=t("login_failed", _lang()), name=name, target=target)
    except DatabaseUnavailable:
        return _render(503, message=t("db_down", _lang()), name=name, target=target)
    finally:
        _checking.release()
    if not started:  # disabled between the password check and the session
        access.record_refusal("login_failed", name, "disabled")
        return _render(401, message=t("login_failed", _lang()), name=name, target=target)
    access.record("login", user.name, via="password")
    return flask.redirect(target)


def _wait(seconds: int, message: str, name: str, target: str):
    response = _render(429, message=message, name=name, target=target)
    response.headers["Retry-After"] = str(seconds)
    return response


def _logout():
    name = access.end_session()
    if name is not None:
        access.record("logout", name)
    return flask.redirect("/login?" + urlencode({"lang": _lang()}))


def register(server: flask.Flask) -> None:
    """Add the two routes to ``server``; they run as ``shiyu_app`` with no scope (``access.install``)."""
    server.add_url_rule("/login", "shiyu_login", _login, methods=["GET", "POST"])
    server.add_url_rule("/logout", "shiyu_logout", _logout, methods=["GET", "POST"])
