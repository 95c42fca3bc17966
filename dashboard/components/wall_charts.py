"""The wall's two charts, sized in units of the screen's height (``vh``) so they read the same at 1080p and 4K."""

from __future__ import annotations

import plotly.graph_objects as go

from dashboard.i18n import t

# Okabe–Ito: sky blue for the trend, orange for the bars.
TREND_COLOUR, BAR_COLOUR = "#56B4E9", "#E69F00"
TEXT_COLOUR, GRID_COLOUR = "#dbe4ee", "rgba(219, 228, 238, 0.12)"


def _layout_base(vh: float) -> dict:
    return dict(template="plotly_dark", paper_bgcolor="rgba(0,0,0,0)", plot_bgcolor="rgba(0,0,0,0)",
                font={"size": round(1.6 * vh), "color": TEXT_COLOUR}, showlegend=False,
                margin={"l": round(4.5 * vh), "r": round(1.5 * vh), "t": round(1 * vh), "b": round(3.5 * vh)})


def trend_figure(trend: list, vh: float) -> go.Figure:
    days = [d.isoformat() for d, _ in trend]
    figure = go.Figure(go.Scatter(x=days, y=[n for _, n in trend], mode="lines", fill="tozeroy",
                                  line={"color": TREND_COLOUR, "width": max(2, round(0.35 * vh))},
                                  fillcolor="rgba(86, 180, 233, 0.25)"))
    figure.update_layout(**_layout_base(vh))
    figure.update_xaxes(showgrid=False, tickformat="%m-%d", nticks=5)
    figure.update_yaxes(gridcolor=GRID_COLOUR, rangemode="tozero", nticks=4)
    return figure


def category_figure(breakdown: list, lang: str, vh: float) -> go.Figure:
    rows = breakdown[:7][::-1]  # the largest on top
    figure = go.Figure(go.Bar(x=[n for _, n in rows], y=[t(c, lang) for c, _ in rows], orientation="h",
                              marker={"color": BAR_COLOUR}, text=[f"{n:,}" for _, n in rows], textposition="inside",
                              insidetextanchor="end", textfont={"size": round(1.8 * vh), "color": "#1a1200"}))
    base = _layout_base(vh)
    base["margin"]["l"] = round(1 * vh)
    figure.update_layout(**base, bargap=0.25)
    figure.update_xaxes(visible=False)
    figure.update_yaxes(automargin=True, ticksuffix="  ")
    return figure
