"""The league table (考核排名) as HTML, for the ``/rank`` page and the wall's ``/wall/rank``: rank, its change
against the period before (↑3 / ↓2), the area, the score and each indicator with its CompStat changes.

Written as one HTML string in one ``dcc.Markdown``, not as a Dash component per cell: 190 streets with their
CompStat lines are about 6,000 cells, which dash-renderer took minutes to mount on a loaded machine; the browser
parses the same as HTML at once. Every value from the database (names, codes) is escaped."""

from __future__ import annotations

from html import escape

from dash import dcc

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


def arrow(change: int | None) -> str:
    """↑n (moved up n places), ↓n, – (the same place) or nothing (unranked then or now)."""
    if change is None:
        return '<span class="league-move"></span>'
    if change == 0:
        return '<span class="league-move same">–</span>'
    return (f'<span class="league-move up">↑{change}</span>' if change > 0
            else f'<span class="league-move down">↓{-change}</span>')


def _change(name: str, pct: float | None, label: str) -> str:
    """``label`` and the % change, coloured by whether it is better (blue) or worse (orange) for the indicator."""
    if pct is None:
        return f'<span class="league-change">{label} —</span>'
    good = "" if not pct else ("better" if (pct > 0) == (BY_NAME[name].better == HIGHER) else "worse")
    return f'<span class="league-change {good}">{label} {pct:+.1f}%</span>'


def _header(lang: str, names: tuple[str, ...]) -> str:
    cells = [f"<th>{t('rank_rank', lang)}</th>", f"<th>{t('rank_move', lang)}</th>", f"<th>{t('rank_area', lang)}</th>",
             f'<th class="num">{t("rank_score", lang)}</th>']
    cells += [f'<th class="num">{escape(t(f"ind_{name}", lang))}</th>' for name in names]
    return "<thead><tr>" + "".join(cells) + "</tr></thead>"


def _row(row: dict, lang: str, names: tuple[str, ...], compstat: bool) -> str:
    rank = "—" if row["rank"] is None else str(row["rank"])
    score = "—" if row["score"] is None else f"{row['score']:.2f}"
    cells = [f'<td class="league-rank">{rank}</td>', f"<td>{arrow(row['rank_change'])}</td>",
             f'<td><span class="league-name">{escape(str(row["name"]))}</span>'
             f'<small class="league-code">{escape(str(row["code"]))}</small></td>',
             f'<td class="league-score num">{score}</td>']
    for name in names:
        parts = f'<span class="league-value">{value_text(name, row[name])}</span>'
        if compstat:
            parts += (_change(name, row["change"][name], t("rank_vs_previous", lang))
                      + _change(name, row["change_year"][name], t("rank_vs_year", lang)))
        cells.append(f'<td class="num">{parts}</td>')
    return f'<tr class="league-row">{"".join(cells)}</tr>'


def shown_rows(rows: list[dict], most: int, unranked: bool = True) -> tuple[list[dict], list[dict], int]:
    """(the rows drawn first, the rows drawn after a gap, how many left out between): every ranked row when up to
    ``most``, else the best and the worst ``most // 2`` of them; then (``unranked``) the unranked ones."""
    ranked = [r for r in rows if r["rank"] is not None]
    rest = [r for r in rows if r["rank"] is None] if unranked else []
    if len(ranked) <= most:
        return ranked + rest, [], 0
    half = most // 2
    return ranked[:half], ranked[-half:] + rest, len(ranked) - 2 * half


def table(rows: list[dict], lang: str, names: tuple[str, ...], compstat: bool = True, most: int = 300,
          table_id: str = "league", unranked: bool = True) -> dcc.Markdown:
    """The table of ``rows`` (best first) with the indicators ``names``; ``unranked`` False leaves out the areas
    not ranked (the wall: its rows are for the ranks)."""
    best, worst, left_out = shown_rows(rows, most, unranked)
    body = [_row(r, lang, names, compstat) for r in best]
    if left_out:
        body.append(f'<tr><td colspan="{4 + len(names)}" class="league-gap">'
                    f'{escape(t("rank_left_out", lang, n=f"{left_out:,}"))}</td></tr>')
        body += [_row(r, lang, names, compstat) for r in worst]
    markup = (f'<table id="{table_id}" class="league-table">{_header(lang, names)}<tbody>{"".join(body)}'
              "</tbody></table>")
    return dcc.Markdown(markup, dangerously_allow_html=True, className="league-markup")
