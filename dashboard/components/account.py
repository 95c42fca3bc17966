"""Who is logged in, and the way out, for the top bars."""

from __future__ import annotations

from dash import html

from dashboard.access import current_user
from dashboard.i18n import t


def links(lang: str) -> list:
    """The user's name and role and a logout link; nothing when logins are off."""
    user = current_user()
    if user.name is None:
        return []
    return [html.Span(f"{user.name} · {t('role_' + user.role, lang)}", className="user", id="account-user"),
            html.A(t("logout", lang), href=f"/logout?lang={lang}", id="account-logout", className="nav")]
