"""CQL2 filters (OGC API – Features Part 3, Basic CQL2 with ``S_INTERSECTS``): parsed by pygeofilter, checked
against a collection's declared fields, then either translated into **bound** SQL (the incidents, filtered in the
database) or into a predicate over features (the layer-built collections, filtered on their one computation).

The SQL text is put together from this module's constants and the column expressions its caller allow-lists, and
nothing else: every literal of the filter is a bound parameter (``%(cql_0)s`` …), never text of the query.

Examples
--------
>>> fields = {"severity": Field(INTEGER, "severity"), "category": Field(STRING, "category")}
>>> f = parse("severity >= 3 AND category IN ('dispute', 'petition')", "cql2-text", fields)
>>> to_sql(f, {"severity": "i.severity", "category": "i.category"}, "i.geom")
('((i.severity >= %(cql_0)s) AND (i.category IN (%(cql_1)s, %(cql_2)s)))', {'cql_0': 3, 'cql_1': 'dispute', 'cql_2': 'petition'})
>>> predicate(f)({"properties": {"severity": 4, "category": "petition"}, "geometry": None})
True
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

import orjson
import shapely
from pygeofilter import ast, values
from pygeofilter.parsers.cql2_json import parse as parse_json
from pygeofilter.parsers.cql2_text import parser as text_parser

from geodata.errors import InputError
from layers.base import BEIJING
from layers.ogc.catalogue import BOOLEAN, DATE_TIME, INTEGER, NUMBER, STRING, Field

LANGS = ("cql2-text", "cql2-json")
# The draft's name for the text encoding, which GDAL 3.6 sends (and looks for among filter-lang's values before it
# sends a filter at all): read as cql2-text, whose basic comparisons it writes the same way.
DRAFT_TEXT = "cql-text"
GEOMETRY = "geometry"  # the name a filter calls a feature's geometry by (the queryables say so)
MAX_FILTER = 20_000  # characters: a polygon of a few hundred vertices, far past any hand-written filter
MAX_NODES = 500
_COMPARE = {ast.Equal: "=", ast.NotEqual: "<>", ast.LessThan: "<", ast.LessEqual: "<=", ast.GreaterThan: ">",
            ast.GreaterEqual: ">="}
_PYTHON = {"=": lambda a, b: a == b, "<>": lambda a, b: a != b, "<": lambda a, b: a < b, "<=": lambda a, b: a <= b,
           ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}
_NUMBERS = (int, float)


@dataclass(frozen=True)
class Filter:
    """A checked filter: its tree, and one spelling of it (cql2-json) that names it in cache keys."""

    node: object
    key: str
    fields: Mapping[str, Field] = field(default_factory=dict, compare=False, hash=False, repr=False)


def _json_boxes(node):
    """cql2-json's ``{"bbox": [w, s, e, n]}`` as a polygon: pygeofilter 0.4 reads the four numbers in another order."""
    if isinstance(node, dict):
        if set(node) == {"bbox"} and isinstance(node["bbox"], list) and len(node["bbox"]) in (4, 6):
            box = node["bbox"] if len(node["bbox"]) == 4 else [node["bbox"][i] for i in (0, 1, 3, 4)]
            return {"type": "Polygon", "coordinates": [_ring(*box)]}
        return {k: _json_boxes(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_json_boxes(v) for v in node]
    return node


# Three mends to pygeofilter 0.4's cql2-text grammar, where it is narrower than CQL2: NOT takes only a bare
# predicate, so ``NOT (a = 1 AND b = 2)`` and QGIS's own ``(NOT ((a = 1)))`` do not parse; a property needs two
# characters or more, so the hot spots' ``z`` and ``p`` could be named only in double quotes; and a quote written
# twice inside a string (as CQL2, QGIS and GDAL write one) ends the string instead.
_GRAMMAR_MENDS = ((r'\|\s*"NOT"i\s*"\("\s*predicate\s*"\)"\s*->\s*not_', '| "NOT"i "(" condition ")" -> not_'),
                  (r"attribute: /\[a-zA-Z\]\[a-zA-Z_:0-9.\]\+/", "attribute: /[a-zA-Z][a-zA-Z_:0-9.]*/"),
                  (r"SINGLE_QUOTED: \"'\" /\.\*\?/ \"'\"", "SINGLE_QUOTED: /'(?:[^']|'')*'/"),
                  (r'DOUBLE_QUOTED: "\\"" /\.\*\?/ "\\""', 'DOUBLE_QUOTED: /"(?:[^"]|"")*"/'))


class _Transformer(text_parser.CQLTransformer):
    """pygeofilter's, reading a quote written twice inside a string or a name as one."""

    def SINGLE_QUOTED(self, token):  # noqa: N802 - lark calls a terminal's callback by the terminal's name
        return token[1:-1].replace("''", "'")

    def DOUBLE_QUOTED(self, token):  # noqa: N802
        return token[1:-1].replace('""', '"')


@functools.lru_cache(maxsize=1)
def _text_parser():
    """pygeofilter's cql2-text parser, its grammar mended where the mends still apply (else as it comes)."""
    from lark import Lark

    folder = os.path.dirname(text_parser.__file__)
    with open(os.path.join(folder, "grammar.lark"), encoding="utf-8") as grammar:
        text = grammar.read()
    for pattern, mended in _GRAMMAR_MENDS:
        text = re.sub(pattern, lambda _: mended, text)
    return Lark(text, parser="lalr", maybe_placeholders=False, transformer=_Transformer(),
                import_paths=[os.path.dirname(folder)])


def _ring(west, south, east, north) -> list[list[float]]:
    return [[west, south], [east, south], [east, north], [west, north], [west, south]]


def parse(text: str, lang: str | None, fields: Mapping[str, Field]) -> Filter:
    """The filter ``text`` in ``lang`` (default cql2-text), every property a filterable field and every literal of
    its type; an ``InputError`` naming what is wrong otherwise."""
    lang = "cql2-text" if lang in (None, DRAFT_TEXT) else lang
    if lang not in LANGS:
        raise InputError(f"filter-lang '{lang[:40]}' is not offered; use one of {', '.join(LANGS)}")
    if len(text) > MAX_FILTER:
        raise InputError(f"the filter is longer than {MAX_FILTER:,} characters")
    try:
        node = _text_parser().parse(text) if lang == "cql2-text" else parse_json(_json_boxes(orjson.loads(text)))
    except (orjson.JSONDecodeError, TypeError) as exc:
        raise InputError(f"the cql2-json filter is not JSON: {str(exc)[:80]}") from None
    except Exception as exc:  # lark's and pygeofilter's own errors: the first line says where
        raise InputError(f"the {lang} filter does not parse: {str(exc).splitlines()[0][:160]}") from None
    _check(node, fields, [0])
    return Filter(node, orjson.dumps(_canonical(node)).decode(), dict(fields))


def _canonical(node):
    """A JSON-able spelling of the tree, equal for equal filters."""
    if isinstance(node, ast.Node):
        return [type(node).__name__, *(_canonical(v) for v in vars(node).values())]
    if isinstance(node, (list, tuple)):
        return [_canonical(v) for v in node]
    if isinstance(node, (values.Geometry, values.Envelope)):
        return _shape(node).wkt
    if isinstance(node, (datetime, date)):
        return node.isoformat()
    return node


def _name(node: ast.Attribute, fields: Mapping[str, Field]) -> str:
    name = node.name
    if name != GEOMETRY and (name not in fields or not fields[name].filterable):
        offered = ", ".join([GEOMETRY, *(k for k, f in fields.items() if f.filterable)])
        raise InputError(f"the filter names the property '{name[:60]}', which this collection does not have; "
                         f"queryables: {offered}")
    return name


def _check(node, fields: Mapping[str, Field], count: list[int]) -> None:
    count[0] += 1
    if count[0] > MAX_NODES:
        raise InputError(f"the filter has more than {MAX_NODES} terms")
    if isinstance(node, (ast.And, ast.Or)):
        _check(node.lhs, fields, count)
        _check(node.rhs, fields, count)
    elif isinstance(node, ast.Not):
        _check(node.sub_node, fields, count)
    elif isinstance(node, ast.GeometryIntersects):
        if not isinstance(node.lhs, ast.Attribute) or _name(node.lhs, fields) != GEOMETRY:
            raise InputError(f"S_INTERSECTS compares the feature's '{GEOMETRY}' with a BBOX or a geometry")
        _shape(node.rhs)
    elif isinstance(node, (*_COMPARE, ast.Between, ast.Like, ast.In, ast.IsNull)):
        if not isinstance(node.lhs, ast.Attribute):
            raise InputError("a comparison in the filter must have a property on its left")
        field = fields.get(_name(node.lhs, fields))
        if field is None:
            raise InputError(f"'{GEOMETRY}' is compared only with S_INTERSECTS")
        for value in _literals(node):
            _value(value, field, node.lhs.name)
    else:
        raise InputError(f"the filter uses {type(node).__name__}, which Basic CQL2 here does not offer: comparisons, "
                         "AND, OR, NOT, IN, BETWEEN, LIKE, IS NULL and S_INTERSECTS")


def _literals(node) -> list:
    if isinstance(node, ast.Between):
        return [node.low, node.high]
    if isinstance(node, ast.In):
        return list(node.sub_nodes)
    if isinstance(node, ast.Like):
        return [node.pattern]
    if isinstance(node, ast.IsNull):
        return []
    return [node.rhs]


def _value(value, field: Field, name: str):
    """``value`` as the field's type holds it (a time as an aware datetime), or an ``InputError`` naming ``name``."""
    kind = field.type
    if kind == DATE_TIME:
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                pass
        if isinstance(value, datetime):
            return value if value.tzinfo else value.replace(tzinfo=BEIJING)
        if isinstance(value, date):
            return datetime(value.year, value.month, value.day, tzinfo=BEIJING)
    elif kind == BOOLEAN and isinstance(value, bool):
        return value
    elif kind == INTEGER and isinstance(value, _NUMBERS) and not isinstance(value, bool):
        return value
    elif kind == NUMBER and isinstance(value, _NUMBERS) and not isinstance(value, bool):
        return float(value)
    elif kind == STRING and isinstance(value, str):
        return value
    raise InputError(f"the filter compares '{name}' ({kind}) with {str(value)[:40]!r}, which is not of that type")


def _shape(node) -> shapely.Geometry:
    if isinstance(node, ast.Function) and node.name.lower() == "bbox" and len(node.arguments) in (4, 6):
        box = node.arguments if len(node.arguments) == 4 else [node.arguments[i] for i in (0, 1, 3, 4)]
        if all(isinstance(v, _NUMBERS) for v in box):
            return shapely.box(*box)
    if isinstance(node, values.Envelope):
        return shapely.box(min(node.x1, node.x2), min(node.y1, node.y2), max(node.x1, node.x2), max(node.y1, node.y2))
    if isinstance(node, values.Geometry):
        try:
            shape = shapely.geometry.shape(node.geometry)
        except Exception:
            shape = None
        if shape is not None and shape.is_valid and not shape.is_empty:
            return shape
    raise InputError("S_INTERSECTS takes a BBOX(west, south, east, north) or a valid geometry in CRS84")


def to_sql(found: Filter, columns: Mapping[str, str], geometry: str) -> tuple[str, dict]:
    """The filter as a boolean SQL expression over ``columns`` (field name -> column expression, allow-listed by the
    caller) and the ``geometry`` column (SRID 4326), with its literals as bound parameters."""
    params: dict = {}

    def bind(value) -> str:
        name = f"cql_{len(params)}"
        params[name] = value
        return f"%({name})s"

    def sql(node) -> str:
        if isinstance(node, ast.And):
            return f"({sql(node.lhs)} AND {sql(node.rhs)})"
        if isinstance(node, ast.Or):
            return f"({sql(node.lhs)} OR {sql(node.rhs)})"
        if isinstance(node, ast.Not):
            return f"(NOT {sql(node.sub_node)})"
        if isinstance(node, ast.GeometryIntersects):
            return f"ST_Intersects({geometry}, ST_GeomFromText({bind(_shape(node.rhs).wkt)}, 4326))"
        column = columns[node.lhs.name]
        negate = "NOT " if getattr(node, "not_", False) else ""
        typed = _typed(node, found.fields)
        if isinstance(node, ast.IsNull):
            return f"({column} IS {negate}NULL)"
        if isinstance(node, ast.Between):
            return f"({column} {negate}BETWEEN {bind(typed[0])} AND {bind(typed[1])})"
        if isinstance(node, ast.In):
            return f"({column} {negate}IN ({', '.join(bind(v) for v in typed)}))"
        if isinstance(node, ast.Like):
            return f"({column} {negate}LIKE {bind(typed[0])})"
        return f"({column} {_COMPARE[type(node)]} {bind(typed[0])})"

    return sql(found.node), params


def _typed(node, fields: Mapping[str, Field]) -> list:
    """The literals of a comparison, each as its field's type holds it."""
    return [_value(v, fields[node.lhs.name], node.lhs.name) for v in _literals(node)]


def _like(pattern: str) -> re.Pattern:
    """A CQL2 LIKE pattern (``%`` any run, ``_`` one character, ``\\`` escaping either) as a regular expression."""
    out, escaped = [], False
    for ch in pattern:
        if escaped:
            out.append(re.escape(ch))
            escaped = False
        elif ch == "\\":
            escaped = True
        else:
            out.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
    return re.compile("".join(out), re.DOTALL)


def predicate(found: Filter) -> Callable[[dict], bool]:
    """Whether a GeoJSON feature (CRS84) passes the filter, with SQL's rule for NULL: a comparison with a missing
    value is unknown, NOT of unknown is unknown, and only a true filter keeps the feature."""

    def compile_(node) -> Callable[[dict, list], bool | None]:
        if isinstance(node, (ast.And, ast.Or)):
            lhs, rhs, both = compile_(node.lhs), compile_(node.rhs), isinstance(node, ast.And)

            def logic(f, shape):
                a, b = lhs(f, shape), rhs(f, shape)
                if both:
                    return False if a is False or b is False else (None if a is None or b is None else True)
                return True if a is True or b is True else (None if a is None or b is None else False)
            return logic
        if isinstance(node, ast.Not):
            sub = compile_(node.sub_node)
            return lambda f, shape: None if (v := sub(f, shape)) is None else not v
        if isinstance(node, ast.GeometryIntersects):
            area = _shape(node.rhs)
            shapely.prepare(area)

            def meets(f, shape):
                if not shape:
                    shape.append(shapely.geometry.shape(f["geometry"]) if f.get("geometry") else None)
                return None if shape[0] is None else bool(area.intersects(shape[0]))
            return meets
        name, negate = node.lhs.name, bool(getattr(node, "not_", False))
        kind = found.fields[name]
        typed = _typed(node, found.fields)

        def read(f):
            value = f["properties"].get(name)
            if value is not None and kind.type == DATE_TIME:
                return _value(value, kind, name)
            return value

        if isinstance(node, ast.IsNull):
            return lambda f, shape: (read(f) is None) != negate
        if isinstance(node, ast.Between):
            test = lambda v: typed[0] <= v <= typed[1]  # noqa: E731
        elif isinstance(node, ast.In):
            test = lambda v: v in typed  # noqa: E731
        elif isinstance(node, ast.Like):
            pattern = _like(typed[0])
            test = lambda v: pattern.fullmatch(str(v)) is not None  # noqa: E731
        else:
            compare, right = _PYTHON[_COMPARE[type(node)]], typed[0]
            test = lambda v: compare(v, right)  # noqa: E731

        def compared(f, shape):
            value = read(f)
            return None if value is None else test(value) != negate
        return compared

    compiled = compile_(found.node)
    return lambda feature: compiled(feature, []) is True
