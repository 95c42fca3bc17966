"""The league table (考核排名) as HTML, for the ``/rank`` page and the wall's ``/wall/rank``: rank, its change
against the period before (↑3 / ↓2), the area, the score and each indicator with its CompStat changes."""

from __future__ import annotations

from dash import html

from dashboard.i18n import t
from layers.assessment import HIGHER, INDICATORS

# Shown on the page, in this order; the wall shows fewer (``WALL_INDICATORS``).
PAGE_INDICATORS = tuple(i.name for i in INDICATORS)
WALL_INDICATORS = ("on_time_rate", "closure_rate", "overdue_per_1000", "patrol_coverage")
BY_NAME = {i.name: i for i in INDICATORS}


def value_text(name: str, value) -> str:
    """An indicator's value as a person reads it."""
    if value is None:
        return "—"
    unit = BY_NAME[name].unit
    if unit == "share":
        return f"{100 * value:.1f}%"
    if unit == "count":
        return f"{value:,}"
    return f"{value:,.1f}"


def arrow(change: int | None) -> html.Span:
    """↑n (moved up n places), ↓n, – (the same place) or nothing (unranked then or now)."""
    if change is None:
        return html.Span("", className="league-move")
    if change == 0:
        return html.Span("–", className="league-move same")
    return html.Span(f"↑{change}" if change > 0 else f"↓{-change}", className="league-move " + ("up" if change > 0 else "down"))


def _change(name: str, pct: float | None, label: str) -> html.Span:
    """``label`` and the % change, coloured by whether it is better (blue) or worse (orange) for the indicator."""
    if pct is None:
        return html.Span(f"{label} —", className="league-change")
    good = (pct > 0) == (BY_NAME[name].better == HIGHER) if pct else None
    return html.Span(f"{label} {pct:+.1f}%", className="league-change " + {True: "better", False: "worse", None: ""}[good])


def header(lang: str, names: tuple[str, ...], compstat: bool = True) -> html.Thead:
    first = [html.Th(t("rank_rank", lang)), html.Th(t("rank_move", lang)), html.Th(t("rank_area", lang)),
             html.Th(t("rank_score", lang), className="num")]
    return html.Thead(html.Tr(first + [html.Th(t(f"ind_{name}", lang), className="num") for name in names]))


def body_row(row: dict, lang: str, names: tuple[str, ...], compstat: bool = True) -> html.Tr:
    cells = [html.Td(str(row["rank"]) if row["rank"] is not None else "—", className="league-rank"),
             html.Td(arrow(row["rank_change"])),
             html.Td([html.Span(row["name"], className="league-name"), html.Small(row["code"], className="league-code")]),
             html.Td("—" if row["score"] is None else f"{row['score']:.2f}", className="league-score num")]
    for name in names:
        parts = [html.Span(value_text(name, row[name]), className="league-value")]
        if compstat:
            parts += [_change(name, row["change"][name], t("rank_vs_previous", lang)),
                      _change(name, row["change_year"][name], t("rank_vs_year", lang))]
        cells.append(html.Td(parts, className="num"))
    return html.Tr(cells, className=f"league-row rank-{row['rank']}" if row["rank"] else "league-row")


def shown_rows(rows: list[dict], most: int) -> tuple[list[dict], int]:
    """The rows to draw: all up to ``most``, else the best and the worst ``most // 2`` each; and how many left out."""
    if len(rows) <= most:
        return rows, 0
    half = most // 2
    return rows[:half] + rows[-half:], len(rows) - 2 * half


def table(rows: list[dict], lang: str, names: tuple[str, ...], compstat: bool = True, most: int = 300,
          table_id: str | None = None) -> html.Table:
    shown, left_out = shown_rows(rows, most)
    body = [body_row(r, lang, names, compstat) for r in shown[:len(shown) - (most // 2 if left_out else 0)]]
    if left_out:
        body.append(html.Tr(html.Td(t("rank_left_out", lang, n=f"{left_out:,}"), colSpan=4 + len(names),
                                    className="league-gap")))
        body += [body_row(r, lang, names, compstat) for r in shown[len(shown) - most // 2:]]
    return html.Table([header(lang, names, compstat), html.Tbody(body)], className="league-table",
                      **({"id": table_id} if table_id else {}))
