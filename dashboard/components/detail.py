"""The panel beside the explore map: what a click found. An area shows its KPIs, owner, sub-areas and
overdue list, with buttons to drill up or down; a hexagon shows its counts, trend, Gi* class and the
grid (and so the person) accountable for it."""

from __future__ import annotations

import plotly.graph_objects as go
from dash import dcc, html

from dashboard.components import supervise
from dashboard.i18n import t

MAX_CHILDREN = 12
MAX_OVERDUE = 20


def _drill(code: str, label: str, class_name: str = "drill") -> html.Button:
    return html.Button(label, id={"type": "explore-drill", "code": code}, className=class_name, n_clicks=0)


def _tile(label: str, value: str, warn: bool = False) -> html.Div:
    return html.Div([html.Span(label), html.B(value)], className="kpi warn" if warn else "kpi")


def _share(value) -> str:
    return "—" if value is None else f"{value:.0%}"


def _density(value: float) -> str:
    """Incidents per km², with two significant figures when few: a large street's 0.04 is not 0.0."""
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}" if value >= 1 else f"{value:.2g}"


def _hours(value) -> str:
    return "—" if value is None else f"{value:,.1f} h"


def hint(lang: str) -> list:
    return [html.H2(t("detail", lang)), html.P(t("detail_hint", lang), className="hint")]


def _crumbs(chain: list[dict], lang: str) -> html.Div:
    parts = []
    for area in chain[:-1]:
        parts += [_drill(area["code"], area["name"], "crumb"), html.Span("›", className="crumb-sep")]
    return html.Div([*parts, html.Span(chain[-1]["name"], className="crumb here")] if chain else [],
                    className="crumbs")


def _contact(found: dict, lang: str) -> list:
    owner = found.get("owner_name")
    phone = found.get("owner_phone")
    # Every grid must have someone accountable (a gap, in red); a street or district may be run without a named one.
    missing = not owner and found.get("tier", "grid") == "grid"
    text = owner or (t("no_owner", lang) if missing else "—")
    return [html.Div([html.Span(t("owner", lang)), html.B(text + (f" · {phone}" if phone else ""))],
                     className="owner" + (" missing" if missing else ""))]


def area_panel(found: dict, lang: str) -> list:
    kpis = found["kpis"]
    children = found.get("children") or []
    child_rows = [html.Tr([html.Td(_drill(c["code"], c["name"])), html.Td(f"{c['kpis']['incidents']:,}"),
                           html.Td(f"{c['kpis']['overdue']:,}", className="bad" if c["kpis"]["overdue"] else ""),
                           html.Td(_share(c["kpis"].get("patrol_share")))])
                  for c in children[:MAX_CHILDREN]]
    orders, acting = found.get("orders", {}), found.get("may_supervise", False)
    overdue_rows = [html.Tr([html.Td(f"{o['reported_at']:%m-%d %H:%M}"), html.Td(t(o["category"], lang)),
                             html.Td(f"{o['hours_overdue']:,.0f} h", className="bad"),
                             html.Td(o.get("grid_name") or o.get("grid_code") or "—"),
                             *([html.Td([supervise.badge(orders.get(o["id"]), lang),
                                         supervise.row_button(o["id"], lang)])] if acting else [])])
                    for o in found.get("overdue", [])[:MAX_OVERDUE]]
    return [
        _crumbs(found["chain"], lang),
        html.H3([found["name"], html.Small(f" {t(found['tier'] + '_one', lang)} · {found['code']}")]),
        *_contact(found, lang),
        html.Div(className="kpis", children=[
            _tile(t("incidents", lang), f"{kpis['incidents']:,}"),
            _tile(t("per_km2", lang), _density(kpis["per_km2"])),
            _tile(t("resolved_share", lang), _share(kpis["resolved_share"])),
            _tile(t("median_hours", lang), _hours(kpis["median_hours"])),
            _tile(t("overdue", lang), f"{kpis['overdue']:,}", warn=kpis["overdue"] > 0),
            _tile(t("patrolled", lang), _share(kpis["patrol_share"])),
        ]),
        *([html.H4(t("children", lang)),
           html.Table([html.Thead(html.Tr([html.Th(t("name", lang)), html.Th(t("incidents", lang)),
                                           html.Th(t("overdue", lang)), html.Th(t("patrolled", lang))])),
                       html.Tbody(child_rows)], className="mini")] if child_rows else []),
        html.H4(t("overdue_list", lang, n=f"{found.get('overdue_total', 0):,}")),
        *(supervise.controls(found["code"], found.get("overdue_total", 0), lang) if acting else []),
        html.Table([html.Thead(html.Tr([html.Th(t("col_reported", lang)), html.Th(t("category", lang)),
                                        html.Th(t("hours_over", lang)), html.Th(t("col_grid", lang)),
                                        *([html.Th(t("supervise", lang))] if acting else [])])),
                    html.Tbody(overdue_rows)], className="mini") if overdue_rows
        else html.P(t("none_overdue", lang), className="hint"),
    ]


def _trend(trend: list, lang: str) -> dcc.Graph:
    days = [str(day) for day, _ in trend]
    counts = [n for _, n in trend]
    figure = go.Figure(go.Bar(x=days, y=counts, marker_color="#2c7fb8",
                              hovertemplate="%{x}: %{y}<extra></extra>"))
    figure.update_layout(height=120, margin={"l": 28, "r": 6, "t": 6, "b": 22}, bargap=0.15,
                         paper_bgcolor="rgba(0,0,0,0)", plot_bgcolor="rgba(0,0,0,0)",
                         xaxis={"showgrid": False, "tickformat": "%m-%d", "nticks": 4, "tickfont": {"size": 10}},
                         yaxis={"gridcolor": "#e4e7eb", "tickfont": {"size": 10}, "rangemode": "tozero"})
    return dcc.Graph(figure=figure, config={"displayModeBar": False}, className="trend")


def cell_panel(found: dict, lang: str) -> list:
    counts = found["counts"]
    gi = found.get("gi")
    accountable = found.get("accountable")
    categories = sorted(counts.get("by_category", {}).items(), key=lambda kv: -kv[1])
    gi_line = (html.Div([html.Span("Gi*"), html.B(f"{t(gi['class'], lang)} · z = {gi['z']:.2f} · p(FDR) = {gi['p_fdr']:.3f}")],
                        className="gi " + gi["class"]) if gi else html.Div(t("gi_none", lang), className="hint"))
    grids = [html.Tr([html.Td(_drill(g["code"], g["name"])), html.Td(f"{g['share']:.0%}"),
                      html.Td(g.get("owner_name") or "—")]) for g in found.get("grids", [])[:6]]
    return [
        html.H3([t("cell", lang), html.Small(f" H3 r{found['res']} · {found['h3']}")]),
        gi_line,
        html.Div(className="kpis", children=[
            _tile(t("incidents", lang), f"{counts['total']:,}"),
            _tile(t("overdue", lang), f"{counts.get('overdue', 0):,}", warn=counts.get("overdue", 0) > 0),
        ]),
        _trend(found.get("trend", []), lang),
        html.Div([html.Span(f"{t(code, lang)} {n:,}", className="chip") for code, n in categories], className="chips-row"),
        html.H4(t("accountable", lang)),
        *(_contact(accountable, lang) if accountable
          else [html.P(t("no_grid", lang), className="hint")]),
        *([html.Table([html.Thead(html.Tr([html.Th(t("col_grid", lang)), html.Th(t("share", lang)),
                                           html.Th(t("owner", lang))])), html.Tbody(grids)], className="mini")]
          if grids else []),
    ]
