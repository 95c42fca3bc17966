"""The brief's pictures, drawn with matplotlib from the layers' own features (never a screenshot of a page):
the area's map with its hexagons, outlines, legend, scale and north arrow, and the weekly trend. PNG at print
resolution, so every PDF viewer and printer shows them the same."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence

from functools import lru_cache

from shapely.geometry import shape

FONT = "Noto Sans CJK SC"
DPI = 200
MM = 1 / 25.4  # inches
INK, MUTED, EDGE = "#1f2933", "#7b8794", "#3e4c59"
THIS_WEEK, OTHER_WEEKS = "#b2182b", "#9fb3c8"
_M_PER_DEGREE = 111_320.0



@lru_cache(maxsize=1)
def _pyplot():
    """matplotlib's pyplot, set up for print on first use: importing it at start-up would cost every process of the
    server its time and memory (and its font cache) for a brief few of them make."""
    import matplotlib

    matplotlib.use("Agg")  # no display: the server and the CLI draw into files
    from matplotlib import pyplot

    pyplot.rcParams.update({"font.family": [FONT, "DejaVu Sans"], "font.size": 8, "axes.unicode_minus": False})
    return pyplot


def _rings(geometry: dict) -> list[list]:
    """The outer and inner rings of a GeoJSON Polygon or MultiPolygon, as [lon, lat] lists."""
    if geometry["type"] == "Polygon":
        return list(geometry["coordinates"])
    if geometry["type"] == "MultiPolygon":
        return [ring for polygon in geometry["coordinates"] for ring in polygon]
    return []


def _png(figure) -> bytes:
    out = io.BytesIO()
    figure.savefig(out, format="png", dpi=DPI, facecolor="white")
    _pyplot().close(figure)
    return out.getvalue()


def _nice_length(metres: float) -> float:
    """The largest 1, 2 or 5 × 10ⁿ metres not above ``metres``."""
    power = 10 ** math.floor(math.log10(max(metres, 1e-3)))
    return max(step * power for step in (1, 2, 5) if step * power <= metres)


def _scale_bar(axes, west: float, south: float, east: float, north: float) -> None:
    """A bar of a round length at the lower left, and a north arrow at the upper right."""
    middle = math.radians((south + north) / 2)
    metres_per_degree = _M_PER_DEGREE * math.cos(middle)
    length = _nice_length((east - west) * metres_per_degree / 5)
    x0, y0 = west + (east - west) * 0.04, south + (north - south) * 0.05
    x1 = x0 + length / metres_per_degree
    tick = (north - south) * 0.012
    axes.plot([x0, x1], [y0, y0], color=INK, linewidth=2.2, solid_capstyle="butt", zorder=6)
    for x in (x0, x1):
        axes.plot([x, x], [y0 - tick, y0 + tick], color=INK, linewidth=1, zorder=6)
    label = f"{length / 1000:g} 公里" if length >= 1000 else f"{length:g} 米"
    axes.text((x0 + x1) / 2, y0 + tick * 1.6, label, ha="center", va="bottom", fontsize=7, color=INK, zorder=6)
    nx, ny = east - (east - west) * 0.04, north - (north - south) * 0.06
    axes.annotate("北", xy=(nx, ny), xytext=(nx, ny - (north - south) * 0.08), ha="center", va="center", fontsize=8,
                  color=INK, arrowprops={"arrowstyle": "-|>", "color": INK, "linewidth": 1}, zorder=6)


def _framed(bbox: tuple, width_mm: float, tallest_mm: float, lowest_mm: float) -> tuple[tuple, float]:
    """The map's box (the area's, padded, widened along one axis to fill the frame) and its height in mm: the
    area's own shape decides the height, within ``lowest_mm`` and ``tallest_mm``."""
    west, south, east, north = bbox
    squash = math.cos(math.radians((south + north) / 2))  # a degree of longitude is this much of one of latitude
    wide, tall = max(east - west, 1e-4) * squash * 1.06, max(north - south, 1e-4) * 1.06
    height_mm = min(tallest_mm, max(lowest_mm, width_mm * tall / wide))
    ratio = height_mm / width_mm
    wide, tall = max(wide, tall / ratio), max(tall, wide * ratio)
    x, y = (west + east) / 2, (south + north) / 2
    return (x - wide / squash / 2, y - tall / 2, x + wide / squash / 2, y + tall / 2), height_mm


def area_map(shapes: dict[str, dict], area_code: str, labels: dict[str, str], features: Sequence[dict],
             colours: dict[str, str], names: dict[str, str], legend_title: str, bbox: tuple,
             width_mm: float = 178, tallest_mm: float = 118, lowest_mm: float = 80) -> bytes:
    """The area's outline over its children's, the hexagons of ``features`` coloured by their ``class``
    (``colours``; classes absent from it are not drawn), a legend of the classes drawn (``names``), children
    labelled (``labels``: code → name), a scale bar and a north arrow; PNG bytes."""
    from matplotlib.collections import PolyCollection
    from matplotlib.patches import Patch

    (west, south, east, north), height_mm = _framed(bbox, width_mm, tallest_mm, lowest_mm)
    figure, axes = _pyplot().subplots(figsize=(width_mm * MM, height_mm * MM))
    figure.subplots_adjust(left=0.005, right=0.995, top=0.995, bottom=0.005)
    drawn = [f for f in features if f["properties"].get("class") in colours]
    if drawn:
        axes.add_collection(PolyCollection(
            [f["geometry"]["coordinates"][0] for f in drawn],
            facecolors=[colours[f["properties"]["class"]] for f in drawn], edgecolors="white", linewidths=0.2,
            zorder=2))
    children = [code for code in shapes if code != area_code]
    for code in children:
        for ring in _rings(shapes[code]):
            xs, ys = zip(*ring)
            axes.plot(xs, ys, color=MUTED, linewidth=0.5, zorder=3)
    if len(children) <= 30:
        for code in children:
            point = shape(shapes[code]).representative_point()
            axes.text(point.x, point.y, labels.get(code, code), ha="center", va="center", fontsize=6.5,
                      color=EDGE, zorder=5, bbox={"boxstyle": "round,pad=0.15", "facecolor": "white",
                                                  "edgecolor": "none", "alpha": 0.7})
    for ring in _rings(shapes.get(area_code, {"type": "None"})):
        xs, ys = zip(*ring)
        axes.plot(xs, ys, color=INK, linewidth=1.4, zorder=4)
    axes.set_xlim(west, east)
    axes.set_ylim(south, north)
    axes.set_aspect(1 / math.cos(math.radians((south + north) / 2)), adjustable="box")
    axes.set_xticks([])
    axes.set_yticks([])
    for side in axes.spines.values():
        side.set_color("#cbd2d9")
    present = [c for c in colours if any(f["properties"]["class"] == c for f in drawn)]
    handles = [Patch(facecolor=colours[c], edgecolor="#9aa5b1", linewidth=0.4, label=names.get(c, c)) for c in present]
    handles.append(Patch(facecolor="none", edgecolor=INK, linewidth=1.2, label="本区域边界"))
    if children:
        handles.append(Patch(facecolor="none", edgecolor=MUTED, linewidth=0.6, label="下级区域边界"))
    axes.legend(handles=handles, title=legend_title, loc="upper left", fontsize=6.5, title_fontsize=7,
                frameon=True, framealpha=0.9, edgecolor="#cbd2d9")
    _scale_bar(axes, west, south, east, north)
    return _png(figure)


def trend_chart(weeks: Sequence[str], counts: Sequence[int], width_mm: float = 178, height_mm: float = 52) -> bytes:
    """Bars of incidents per week, the last (the brief's week) in red, each with its count; PNG bytes."""
    figure, axes = _pyplot().subplots(figsize=(width_mm * MM, height_mm * MM))
    figure.subplots_adjust(left=0.06, right=0.995, top=0.9, bottom=0.2)
    colours = [OTHER_WEEKS] * (len(counts) - 1) + [THIS_WEEK]
    bars = axes.bar(range(len(counts)), counts, color=colours, width=0.7)
    top = max(counts) if counts and max(counts) else 1
    for bar, n in zip(bars, counts):
        axes.text(bar.get_x() + bar.get_width() / 2, bar.get_height() + top * 0.02, f"{n:,}", ha="center",
                  va="bottom", fontsize=6.5, color=INK)
    axes.set_xticks(range(len(weeks)), weeks, fontsize=6.5)
    axes.set_ylim(0, top * 1.18)
    axes.yaxis.set_major_formatter(lambda value, _: f"{value:,.0f}")
    axes.tick_params(axis="y", labelsize=6.5)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    axes.grid(axis="y", color="#e4e7eb", linewidth=0.5)
    axes.set_axisbelow(True)
    return _png(figure)
