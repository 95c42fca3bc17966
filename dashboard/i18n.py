"""UI text in zh-CN (default) and en, kept in one table."""

from __future__ import annotations

from geodata.taxonomy import CATEGORIES, STATUSES

LANGUAGES = ("zh-CN", "en")

TEXT: dict[str, dict[str, str]] = {
    "title": {"zh-CN": "市域 · 网格化治理", "en": "Shiyu · Grid governance"},
    "subtitle": {"zh-CN": "事件热力与网格边界", "en": "Incidents and grid boundaries"},
    "legend_incidents": {"zh-CN": "事件数 / 六边形", "en": "Incidents per hexagon"},
    "legend_boundaries": {"zh-CN": "边界", "en": "Boundaries"},
    "layer": {"zh-CN": "图层", "en": "Layer"},
    "layer_hexes": {"zh-CN": "事件数", "en": "Incident counts"},
    "layer_hotspots": {"zh-CN": "热点分析 (Gi*)", "en": "Hot spots (Gi*)"},
    "legend_hotspots": {"zh-CN": "冷热点 (FDR 校正)", "en": "Hot and cold spots (FDR-corrected)"},
    "hot99": {"zh-CN": "热点 99% 置信", "en": "Hot spot, 99 % confidence"},
    "hot95": {"zh-CN": "热点 95% 置信", "en": "Hot spot, 95 % confidence"},
    "hot90": {"zh-CN": "热点 90% 置信", "en": "Hot spot, 90 % confidence"},
    "ns": {"zh-CN": "不显著", "en": "Not significant"},
    "cold90": {"zh-CN": "冷点 90% 置信", "en": "Cold spot, 90 % confidence"},
    "cold95": {"zh-CN": "冷点 95% 置信", "en": "Cold spot, 95 % confidence"},
    "cold99": {"zh-CN": "冷点 99% 置信", "en": "Cold spot, 99 % confidence"},
    "layer_emerging": {"zh-CN": "新兴热点趋势", "en": "Emerging hot spots"},
    "legend_emerging": {"zh-CN": "热点趋势 (近 12 周)", "en": "Hot spot trends (last 12 weeks)"},
    "last_week": {"zh-CN": "最近一周", "en": "last week"},
    "no pattern detected": {"zh-CN": "无明显模式", "en": "No pattern detected"},
    "significant": {"zh-CN": "显著六边形", "en": "significant hexagons"},
    "res_auto": {"zh-CN": "随缩放自动", "en": "Follow the zoom"},
    "city": {"zh-CN": "市", "en": "city"},
    "district": {"zh-CN": "区县", "en": "districts"},
    "street": {"zh-CN": "街道乡镇", "en": "streets"},
    "community": {"zh-CN": "社区村", "en": "communities"},
    "grid": {"zh-CN": "网格", "en": "grids"},
    "resolution": {"zh-CN": "六边形级别 (H3)", "en": "Hexagon size (H3)"},
    "in_view": {"zh-CN": "视野内", "en": "In view"},
    "incidents": {"zh-CN": "事件", "en": "incidents"},
    "cells": {"zh-CN": "六边形", "en": "hexagons"},
    "grids": {"zh-CN": "网格", "en": "grids"},
    "no_data": {"zh-CN": "暂无数据：请先加载网格和事件", "en": "No data yet: load grids and incidents first"},
    "db_down": {"zh-CN": "数据库暂不可用，显示的是最近一次数据", "en": "Database unavailable; showing the last data received"},
    "language": {"zh-CN": "English", "en": "中文"},
    "res_label": {"zh-CN": "r{res} · 约 {km} km²", "en": "r{res} · about {km} km²"},
    "legend_points": {"zh-CN": "事件 (按类型)", "en": "Incidents by category"},
}
# Category and status names are kept with the taxonomy, in both languages.
TEXT.update({code: {"zh-CN": entry.name_zh, "en": entry.name_en} for code, entry in {**CATEGORIES, **STATUSES}.items()})


_PATTERNS_ZH = {"new": "新增", "consecutive": "连续", "intensifying": "加剧", "persistent": "持续",
                "diminishing": "减弱", "sporadic": "零星", "oscillating": "振荡", "historical": "历史"}
TEXT.update({f"{pattern} {side} spot": {"zh-CN": f"{zh}{'热点' if side == 'hot' else '冷点'}",
                                        "en": f"{pattern.capitalize()} {side} spot"}
             for pattern, zh in _PATTERNS_ZH.items() for side in ("hot", "cold")})


def t(key: str, lang: str, **values: object) -> str:
    table = TEXT[key]
    text = table.get(lang) or table["zh-CN"]
    return text.format(**values) if values else text


def pick(lang: str | None, default: str = "zh-CN") -> str:
    return lang if lang in LANGUAGES else default
