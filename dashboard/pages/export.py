"""Export (``/export``): pick layers, a format and a coordinate system; download them with the map's filters.

The filters come in the URL as the explore page writes them, e.g.
``/export?lang=en&layer=hotspots&res=9&area=330106&since=2026-10-01&until=2026-10-31&cat=dispute,fire_safety
&sev=3,4&status=reported`` (days are Beijing days, ``until`` included; every key optional; the view keys
``lat``, ``lon`` and ``z`` are ignored: an export covers the whole area, not a screen). Every export goes
through ``layers.export`` and so into the audit log. The file itself is fetched by the browser from
``dashboard.downloads`` (``/export/file/<key>``), streamed from disk, never inside the callback's answer.
"""

from __future__ import annotations

import logging
from urllib.parse import urlencode

import dash
import flask
from dash import Input, Output, State, callback, clientside_callback, dcc, html

from dashboard import downloads
from dashboard.access import current_scope, current_user, record
from dashboard.components import account
from dashboard.i18n import pick, t
from dashboard.state import parse
from geodata.errors import InputError, QueryTooSlow, ShiyuError
from geodata.h3cells import RESOLUTIONS
from geodata.settings import settings
from geodata.taxonomy import TIERS
from layers.base import Filters, day_window
from layers.export import FORMATS, export, parse_day
from layers.registry import LAYERS

log = logging.getLogger(__name__)
dash.register_page(__name__, path="/export", title="市域 · 导出")

DEFAULT_RES = 8
CRS_CHOICES = (("wgs84", "WGS-84 · EPSG:4326", "export_crs_wgs84"), ("cgcs2000", "CGCS2000 · EPSG:4490", "export_crs_cgcs2000"),
               ("EPSG:4549", "CGCS2000 / 120°E · EPSG:4549", "export_crs_4549"), ("gcj02", "GCJ-02", "export_crs_gcj02"))
FORMAT_NAMES = {"gpkg": "GeoPackage (.gpkg)", "geojson": "GeoJSON (.geojson)", "shp": "Shapefile (.zip)", "csv": "CSV (.zip)"}


def _listed(value: str | None) -> tuple[str, ...]:
    return tuple(v.strip() for v in (value or "").split(",") if v.strip())


def _query_filters(query: dict) -> dict:
    """The filters of an explore-page query string (``dashboard/state.py`` reads it for both pages), checked, as
    JSON-ready values. A value the explore page would drop is refused here: a filter quietly dropped would widen
    the file."""
    view = parse(query, strict=True)
    tier = query.get("tier")
    parsed = {"res": view.res or DEFAULT_RES, "area": view.area, "since": view.since and view.since.isoformat(),
              "until": view.until and view.until.isoformat(), "categories": list(view.categories),
              "severities": list(view.severities), "statuses": list(view.statuses),
              "tier": tier if tier in TIERS else "grid"}
    _filters(parsed)  # refuse now what the export would refuse later
    return parsed


def _filters(query: dict, tier: str | None = None) -> Filters:
    since, until = day_window(parse_day(query["since"], "since"), parse_day(query["until"], "until"))
    return Filters(res=query["res"], tier=tier or query["tier"], area_code=query["area"], since=since, until=until,
                   categories=tuple(query["categories"]), severities=tuple(query["severities"]),
                   statuses=tuple(query["statuses"]))


def _option(title: str, about: str) -> html.Span:
    return html.Span(className="export-option", children=[html.B(title), html.Small(about)])


def _step(number: int, title: str, *children) -> html.Section:
    return html.Section(className="export-card", children=[
        html.H2([html.Span(str(number), className="export-step"), title]), *children])


def _summary_rows(query: dict | None, lang: str) -> list:
    if query is None:
        return []
    everything, comma = t("export_all", lang), "、" if lang == "zh-CN" else ", "
    days = (f"{query['since'] or '…'} – {query['until'] or '…'}" if query["since"] or query["until"]
            else t("export_default_days", lang))
    rows = (("export_area", query["area"] or t("export_whole_scope", lang)), ("export_days", days),
            ("export_categories", comma.join(t(c, lang) for c in query["categories"]) or everything),
            ("export_severities", ", ".join(map(str, query["severities"])) or everything),
            ("export_statuses", comma.join(t(s, lang) for s in query["statuses"]) or everything),
            ("export_res", f"H3 r{query['res']}"))
    return [html.Div(className="export-filter", children=[html.Dt(t(key, lang)), html.Dd(value)]) for key, value in rows]


def layout(lang: str | None = None, layer: str | None = None, **query) -> html.Div:
    lang = pick(lang, settings().lang)
    notice = ""
    try:
        parsed = _query_filters(query)
    except InputError as error:
        parsed, notice = None, t("export_bad_link", lang, reason=error)
    chosen = [name for name in _listed(layer) if name in LAYERS] or ["hotspots"]
    other = "en" if lang == "zh-CN" else "zh-CN"
    kept = {k: v for k, v in query.items() if v is not None}
    back = "/?" + urlencode({"lang": lang, **({"layer": layer} if layer else {}), **kept})
    switch = "/export?" + urlencode({"lang": other, **({"layer": layer} if layer else {}), **kept})
    return html.Div(className="export-page", lang=lang, children=[
        dcc.Store(id="export-lang", data=lang),
        dcc.Store(id="export-query", data=parsed),
        dcc.Store(id="export-file"),  # the URL the browser fetches the file from (dashboard/downloads.py)
        dcc.Store(id="export-fetched"),
        html.Header(className="topbar", children=[
            html.H1(t("title", lang)), html.Span(t("export_title", lang), className="subtitle"),
            html.Span(className="spacer"),
            html.A(t("export_back", lang), href=back, id="export-back"),
            html.A(t("language", lang), href=switch, id="export-lang-switch"),
            *account.links(lang),
        ]),
        html.Main(className="export-main", children=[
            html.Div(className="export-intro", children=[html.H1(t("export_title", lang)),
                                                         html.P(t("export_subtitle", lang))]),
            html.Div(className="export-steps", children=[
                _step(1, t("export_step_layers", lang),
                      dcc.Checklist(id="export-layers", className="export-choices", value=chosen, options=[
                          {"label": _option(t(f"layer_{name}", lang), t(f"export_about_{name}", lang)), "value": name}
                          for name in LAYERS]),
                      html.Div(className="export-tier", children=[
                          html.Label(t("export_tier", lang), htmlFor="export-tier"),
                          dcc.RadioItems(id="export-tier", className="export-inline", inline=True,
                                         value=parsed["tier"] if parsed else "grid",
                                         options=[{"label": t(tier, lang), "value": tier} for tier in TIERS])])),
                _step(2, t("export_step_format", lang),
                      dcc.RadioItems(id="export-format", className="export-choices", value="gpkg", options=[
                          {"label": _option(FORMAT_NAMES[fmt], t(f"export_fmt_{fmt}", lang)), "value": fmt}
                          for fmt in FORMATS])),
                _step(3, t("export_step_crs", lang),
                      dcc.RadioItems(id="export-crs", className="export-choices", value="wgs84", options=[
                          {"label": _option(title, t(about, lang)), "value": value} for value, title, about in CRS_CHOICES])),
            ]),
            html.Aside(className="export-side", children=[
                html.H2(t("export_filters", lang)),
                html.Dl(_summary_rows(parsed, lang), className="export-filters", id="export-summary"),
                html.P(t("export_whole_area", lang), className="export-note"),
                html.Button(t("export_download", lang), id="export-download", className="export-button",
                            disabled=parsed is None),
                html.Div(notice, id="export-message", className="export-message error" if notice else "export-message"),
                html.P(t("export_no_pii", lang), className="export-note export-privacy"),
            ]),
        ]),
    ])


@callback(
    Output("export-file", "data"), Output("export-message", "children"), Output("export-message", "className"),
    Input("export-download", "n_clicks"),
    State("export-layers", "value"), State("export-format", "value"), State("export-crs", "value"),
    State("export-tier", "value"), State("export-query", "data"), State("export-lang", "data"),
    prevent_initial_call=True,
    running=[(Output("export-download", "disabled"), True, False)],
)
def download(_clicks, layers, fmt, crs, tier, query, lang):
    lang = pick(lang)
    if not layers:
        return None, t("export_pick_layer", lang), "export-message error"
    user = current_user()
    if not user.can_export:  # the page is refused to them (dashboard/access.py); this is a callback called directly
        record("refused", user.name, status=403, reason=f"role {user.role} may not export")
        return None, t("refused_text", lang), "export-message error"
    try:
        ordered = [name for name in LAYERS if name in layers]
        file = export(ordered, _filters(query, tier), current_scope(), fmt, crs,
                      user_name=user.name, remote_addr=flask.request.remote_addr, via="web")
    except ShiyuError as error:
        log.warning("export: refused or failed: %s", error, exc_info=error.__cause__ is not None)
        if isinstance(error, (InputError, QueryTooSlow)):
            return None, t("export_failed", lang, reason=error), "export-message error"
        return None, t("export_db_down", lang), "export-message error"
    except Exception:  # a bug: the person gets a sentence, the log gets the traceback
        log.exception("export: unexpected error")
        return None, t("export_unexpected", lang), "export-message error"
    counts = ", ".join(f"{t(f'layer_{name}', lang)} {n:,}" for name, n in file.counts.items())
    message = [t("export_done", lang), html.Code(file.name), html.Span(counts)]
    return downloads.keep(file, user.name), message, "export-message ok"


# The browser fetches the file by a plain GET: an attachment, so the page stays where it is.
clientside_callback(
    "function(url) { if (url) { window.location.assign(url); } return url; }",
    Output("export-fetched", "data"), Input("export-file", "data"), prevent_initial_call=True,
)
