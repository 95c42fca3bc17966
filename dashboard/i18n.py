"""UI text in zh-CN (default) and en, kept in one table."""

from __future__ import annotations

from geodata.taxonomy import CATEGORIES, FACILITY_TYPES, STATUSES

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
    "wall_title": {"zh-CN": "市域社会治理 · 指挥中心", "en": "Shiyu · Command centre"},
    "wall_today": {"zh-CN": "今日事件", "en": "Incidents today"},
    "wall_open": {"zh-CN": "在办事件", "en": "Open"},
    "wall_overdue": {"zh-CN": "超期督办", "en": "Overdue"},
    "wall_resolved": {"zh-CN": "{days}日办结率", "en": "Resolved, {days} d"},
    "wall_patrol": {"zh-CN": "7日巡查覆盖", "en": "Patrolled, 7 d"},
    "wall_trend": {"zh-CN": "近{days}日事件趋势", "en": "Incidents, last {days} days"},
    "wall_categories": {"zh-CN": "事件类型分布 (近{days}日)", "en": "By category ({days} days)"},
    "wall_alerts": {"zh-CN": "预警", "en": "Early warnings"},
    "wall_no_alerts": {"zh-CN": "暂无预警", "en": "No warnings"},
    "wall_latest": {"zh-CN": "最新上报", "en": "Latest reports"},
    "wall_no_latest": {"zh-CN": "暂无事件", "en": "No incidents yet"},
    "wall_as_of": {"zh-CN": "数据截至 {time}", "en": "Data as of {time}"},
    "wall_never_loaded": {"zh-CN": "尚未加载数据", "en": "No data loaded yet"},
    "wall_stale_old": {"zh-CN": "数据已过期：最近一次加载在 {time}，已超过 {minutes} 分钟",
                       "en": "Stale data: the newest load finished at {time}, more than {minutes} min ago"},
    "wall_stale_down": {"zh-CN": "数据库无法连接：显示的是 {time} 的数据",
                        "en": "Database unreachable: showing the data of {time}"},
    "wall_legend_density": {"zh-CN": "区县事件密度 (起/km²)", "en": "Incidents per km² by district"},
    "wall_legend_hot": {"zh-CN": "热点", "en": "Hot spot"},
    "wall_legend_cold": {"zh-CN": "冷点", "en": "Cold spot"},
    "wall_legend_below": {"zh-CN": "巡查覆盖不足网格", "en": "Grid below patrol threshold"},
    "wall_district": {"zh-CN": "当前区县：{name}", "en": "District: {name}"},
    "wall_overdue_tag": {"zh-CN": "超期", "en": "overdue"},
}
# Category, status and facility-type names are kept with the taxonomy, in both languages.
TEXT.update({code: {"zh-CN": entry.name_zh, "en": entry.name_en}
             for code, entry in {**CATEGORIES, **STATUSES, **FACILITY_TYPES}.items()})
TEXT.update({
    "layer_coverage": {"zh-CN": "巡查覆盖", "en": "Patrol coverage"},
    "layer_facilities": {"zh-CN": "设施服务范围", "en": "Facility reach"},
    "layer_warnings": {"zh-CN": "预警", "en": "Early warnings"},
    "legend_coverage": {"zh-CN": "网格巡查覆盖率 (近7天)", "en": "Share of each grid patrolled (7 days)"},
    "legend_facilities": {"zh-CN": "设施与服务盲区", "en": "Facilities and blind spots"},
    "legend_warnings": {"zh-CN": "超出自身基线的网格", "en": "Grids above their own baseline"},
    "hot but unpatrolled": {"zh-CN": "热点但未巡查", "en": "Hot but unpatrolled"},
    "no r10 cells": {"zh-CN": "无 r10 单元", "en": "No r10 cells"},
    "blind_spot": {"zh-CN": "服务盲区", "en": "Blind spot"},
    "24 h": {"zh-CN": "近24小时", "en": "Last 24 h"},
    "7 d": {"zh-CN": "近7天", "en": "Last 7 days"},
    "patrolled": {"zh-CN": "巡查覆盖", "en": "patrolled"},
    "last_visit": {"zh-CN": "最近巡查", "en": "last visit"},
    "never": {"zh-CN": "窗口内无", "en": "none in the window"},
    "uncovered": {"zh-CN": "未覆盖", "en": "not reached by"},
    "facilities": {"zh-CN": "设施", "en": "facilities"},
    "flagged": {"zh-CN": "预警", "en": "flagged"},
})

# The explore page's filters, drill-down panel and incident table.
TEXT.update({
    "layer_areas": {"zh-CN": "区域指标 (点击下钻)", "en": "Areas by KPI (click to drill down)"},
    "legend_areas": {"zh-CN": "事件密度 (起/km²)", "en": "Incidents per km²"},
    "area": {"zh-CN": "区域", "en": "Area"},
    "all_district": {"zh-CN": "全部区县", "en": "All districts"},
    "all_street": {"zh-CN": "全部街道乡镇", "en": "All streets"},
    "all_community": {"zh-CN": "全部社区村", "en": "All communities"},
    "all_grid": {"zh-CN": "全部网格", "en": "All grids"},
    "days": {"zh-CN": "时间范围", "en": "Days"},
    "last_days": {"zh-CN": "近{days}天", "en": "{days} d"},
    "all_time": {"zh-CN": "全部", "en": "All"},
    "from": {"zh-CN": "开始日期", "en": "From"},
    "to": {"zh-CN": "结束日期", "en": "To"},
    "category": {"zh-CN": "事件类型", "en": "Category"},
    "all_categories": {"zh-CN": "全部类型", "en": "All categories"},
    "severity": {"zh-CN": "严重程度", "en": "Severity"},
    "severity_names": {"zh-CN": "一般|较大|重大|特别重大", "en": "minor|moderate|serious|critical"},
    "status": {"zh-CN": "处置状态", "en": "Status"},
    "all_statuses": {"zh-CN": "全部状态", "en": "All statuses"},
    "nav_wall": {"zh-CN": "指挥大屏", "en": "Wall"},
    "nav_export": {"zh-CN": "导出图层", "en": "Export"},
    "detail": {"zh-CN": "详情", "en": "Details"},
    "detail_hint": {"zh-CN": "在左侧选择区域，或点击地图上的区域、六边形，查看指标、责任人和超期事件。",
                    "en": "Pick an area on the left, or click an area or a hexagon on the map, to see its KPIs, "
                          "who is accountable and what is overdue."},
    "owner": {"zh-CN": "责任人", "en": "Accountable"},
    "no_owner": {"zh-CN": "未指定责任人", "en": "No one assigned"},
    "per_km2": {"zh-CN": "每平方公里", "en": "per km²"},
    "resolved_share": {"zh-CN": "办结率", "en": "resolved"},
    "median_hours": {"zh-CN": "办结时长中位数", "en": "median time to resolve"},
    "overdue": {"zh-CN": "超期", "en": "overdue"},
    "children": {"zh-CN": "下级区域", "en": "Sub-areas"},
    "name": {"zh-CN": "名称", "en": "Name"},
    "overdue_list": {"zh-CN": "超期督办 ({n} 起)", "en": "Overdue ({n})"},
    "hours_over": {"zh-CN": "已超期", "en": "over by"},
    "none_overdue": {"zh-CN": "没有超期事件", "en": "Nothing overdue"},
    "cell": {"zh-CN": "六边形单元", "en": "Hexagon"},
    "gi_none": {"zh-CN": "该单元不在当前视野的热点分析范围内", "en": "This cell is outside the hot spot analysis of the view"},
    "accountable": {"zh-CN": "责任网格", "en": "Accountable grid"},
    "no_grid": {"zh-CN": "该单元不属于任何网格", "en": "This cell lies in no grid"},
    "share": {"zh-CN": "面积占比", "en": "share"},
    "click_drill": {"zh-CN": "点击下钻", "en": "click to drill down"},
    "city_one": {"zh-CN": "市", "en": "city"},
    "district_one": {"zh-CN": "区县", "en": "district"},
    "street_one": {"zh-CN": "街道乡镇", "en": "street"},
    "community_one": {"zh-CN": "社区村", "en": "community"},
    "grid_one": {"zh-CN": "网格", "en": "grid"},
    "table_title": {"zh-CN": "视野内的事件", "en": "Incidents in view"},
    "table_count": {"zh-CN": "共 {n} 起", "en": "{n} incidents"},
    "table_count_capped": {"zh-CN": "超过 {n} 起：请缩小范围", "en": "more than {n}: narrow the view"},
    "col_reported": {"zh-CN": "上报时间", "en": "Reported"},
    "col_due": {"zh-CN": "办理时限", "en": "Due"},
    "col_reporter": {"zh-CN": "上报人", "en": "Reporter"},
    "col_phone": {"zh-CN": "电话", "en": "Phone"},
    "col_description": {"zh-CN": "描述", "en": "Description"},
    "col_id": {"zh-CN": "编号", "en": "ID"},
    "col_grid": {"zh-CN": "网格", "en": "Grid"},
    "loading": {"zh-CN": "加载中…", "en": "Loading…"},
    "no_rows": {"zh-CN": "视野内没有事件", "en": "No incidents in view"},
})


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
