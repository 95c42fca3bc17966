"""QGIS styles (QML) for exported layers, built from the same legend colours the map uses.

A GeoPackage carries them in the ``layer_styles`` table QGIS itself writes and
reads, so a layer dragged into QGIS opens looking as it does on the map.
"""

from __future__ import annotations

from xml.sax.saxutils import quoteattr

from layers.base import LayerResult

QML_HEAD = "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n<qgis version=\"3.28.0\" styleCategories=\"Symbology\">\n"
QML_TAIL = "</qgis>\n"
OUTLINE = "255,255,255,160"


def _rgba(colour: str) -> str:
    colour = colour.lstrip("#")
    return ",".join(str(int(colour[i:i + 2], 16)) for i in (0, 2, 4)) + ",255"


def _fill(name: str, colour: str) -> str:
    options = {"color": _rgba(colour), "outline_color": OUTLINE, "outline_width": "0.1", "outline_width_unit": "MM",
               "style": "solid", "outline_style": "solid"}
    values = "".join(f'<Option name="{k}" type="QString" value="{v}"/>' for k, v in options.items())
    return (f'<symbol type="fill" name="{name}" alpha="0.85" clip_to_extent="1" force_rhr="0">'
            f'<layer class="SimpleFill" enabled="1" locked="0" pass="0"><Option type="Map">{values}</Option></layer></symbol>')


def _categorized(prop: str, classes: dict[str, str], labels: dict[str, str]) -> str:
    categories = "".join(f'<category value={quoteattr(value)} label={quoteattr(labels.get(value, value))} symbol="{i}" '
                         'render="true"/>' for i, value in enumerate(classes))
    symbols = "".join(_fill(str(i), colour) for i, colour in enumerate(classes.values()))
    return (f'<renderer-v2 type="categorizedSymbol" attr={quoteattr(prop)} symbollevels="0" enableorderby="0" '
            f'forceraster="0"><categories>{categories}</categories><symbols>{symbols}</symbols></renderer-v2>\n')


def _graduated(prop: str, edges: list[float], colours: list[str]) -> str:
    ranges = "".join(f'<range lower="{low:g}" upper="{high:g}" label="{low:g} – {high:g}" symbol="{i}" render="true"/>'
                     for i, (low, high) in enumerate(zip(edges, edges[1:])))
    symbols = "".join(_fill(str(i), colour) for i, colour in enumerate(colours))
    return (f'<renderer-v2 type="graduatedSymbol" attr={quoteattr(prop)} graduatedMethod="GraduatedColor" '
            f'symbollevels="0" enableorderby="0" forceraster="0"><ranges>{ranges}</ranges><symbols>{symbols}</symbols>'
            '</renderer-v2>\n')


def _field(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _ruled(style: dict, edges: list[float], colours: list[str]) -> str:
    """A rule-based renderer for a layer of two kinds of feature (coverage: grids by their share, and hot cells
    nobody patrolled, whose share is empty): a graduated renderer on the share would leave the hot cells undrawn."""
    kind, prop = _field(style["kind_property"]), _field(style["property"])
    rules = [(f"{kind} = 'hot_unpatrolled'", "hot but unpatrolled", style["hot_unpatrolled"])]
    if style.get("missing"):
        rules.append((f"{kind} <> 'hot_unpatrolled' AND {prop} IS NULL", "no r10 cells", style["missing"]))
    last = len(edges) - 2  # the last class is open above: no value is left undrawn by a bound of the data seen
    rules += [(f"{prop} >= {low:g}" + ("" if i == last else f" AND {prop} < {high:g}"),
               f"≥ {low:g}" if i == last else f"{low:g} – {high:g}", colour)
              for i, ((low, high), colour) in enumerate(zip(zip(edges, edges[1:]), colours))]
    body = "".join(f'<rule key="r{i}" filter={quoteattr(expression)} label={quoteattr(label)} symbol="{i}"/>'
                   for i, (expression, label, _) in enumerate(rules))
    symbols = "".join(_fill(str(i), colour) for i, (_, _, colour) in enumerate(rules))
    return (f'<renderer-v2 type="RuleRenderer" symbollevels="0" enableorderby="0" forceraster="0">'
            f'<rules key="root">{body}</rules><symbols>{symbols}</symbols></renderer-v2>\n')


def layer_qml(result: LayerResult, polygons_only: bool) -> str | None:
    """The QML of a layer drawn by one property, or None when there is no simple one.

    Only polygon layers are styled: a layer mixing points and polygons (facilities) opens in QGIS as one
    sub-layer per geometry type, and a fill symbol on the points would draw nothing.
    """
    style = result.style
    prop = style.get("property")
    if not polygons_only or not prop:
        return None
    labels = {entry.label: entry.label for entry in result.legend}
    classes = style.get("classes") or (style.get("colours") if isinstance(style.get("colours"), dict) else None)
    if classes:
        return QML_HEAD + _categorized(prop, dict(classes), labels) + QML_TAIL
    breaks, colours = style.get("breaks"), style.get("colours")
    if not breaks or not colours:
        return None
    values = [f["properties"].get(prop) for f in result.features]
    top = max([float(v) for v in values if isinstance(v, (int, float))] + [float(breaks[-1])])
    # Either the breaks are upper bounds, one per colour, or inner thresholds between colours.
    edges = [0.0, *map(float, breaks)] if len(breaks) == len(colours) else [0.0, *map(float, breaks), top]
    if style.get("kind_property") and style.get("hot_unpatrolled"):
        return QML_HEAD + _ruled(style, edges, list(colours)[: len(edges) - 1]) + QML_TAIL
    return QML_HEAD + _graduated(prop, edges, list(colours)[: len(edges) - 1]) + QML_TAIL
