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


# The export page.
TEXT.update({
    "export_title": {"zh-CN": "图层导出", "en": "Export layers"},
    "export_subtitle": {"zh-CN": "按当前筛选条件导出为 GIS 文件，可直接在 QGIS 中打开",
                        "en": "The current filters, as files QGIS opens"},
    "export_back": {"zh-CN": "← 返回地图", "en": "← Back to the map"},
    "export_step_layers": {"zh-CN": "选择图层", "en": "Layers"},
    "export_step_format": {"zh-CN": "文件格式", "en": "Format"},
    "export_step_crs": {"zh-CN": "坐标系", "en": "Coordinate system"},
    "export_filters": {"zh-CN": "筛选条件（来自地图链接）", "en": "Filters (from the map's link)"},
    "export_whole_area": {"zh-CN": "导出整个所选区域，而非仅地图视野内", "en": "The whole area chosen is exported, not only the map's view"},
    "export_no_pii": {"zh-CN": "导出文件不含上报人姓名和电话；每次导出均记入审计日志",
                      "en": "Files never hold reporters' names or phones; every export is written to the audit log"},
    "export_download": {"zh-CN": "导出并下载", "en": "Export and download"},
    "export_done": {"zh-CN": "已导出", "en": "Exported"},
    "export_pick_layer": {"zh-CN": "请至少选择一个图层", "en": "Pick at least one layer"},
    "export_failed": {"zh-CN": "导出失败：{reason}", "en": "Export failed: {reason}"},
    "export_db_down": {"zh-CN": "数据库暂不可用，请稍后重试", "en": "The database cannot be reached; please try again later"},
    "export_unexpected": {"zh-CN": "导出时出现意外错误，已记录日志；请稍后重试",
                          "en": "An unexpected error stopped the export; it has been logged. Please try again"},
    "export_bad_link": {"zh-CN": "链接中的筛选条件有误：{reason}", "en": "The link's filters are not understood: {reason}"},
    "export_tier": {"zh-CN": "区域图层的层级", "en": "Tier of the areas layer"},
    "export_area": {"zh-CN": "区域", "en": "Area"},
    "export_days": {"zh-CN": "时间（北京时间，含首尾两天）", "en": "Days (Beijing, both included)"},
    "export_categories": {"zh-CN": "事件类型", "en": "Categories"},
    "export_severities": {"zh-CN": "严重程度", "en": "Severities"},
    "export_statuses": {"zh-CN": "办理状态", "en": "Statuses"},
    "export_res": {"zh-CN": "六边形级别", "en": "Hexagon size"},
    "export_all": {"zh-CN": "全部", "en": "all"},
    "export_whole_scope": {"zh-CN": "全部可见区域", "en": "everything in your scope"},
    "export_default_days": {"zh-CN": "各图层默认时间窗", "en": "each layer's default window"},
    "layer_areas": {"zh-CN": "区域与指标", "en": "Areas and KPIs"},
    "export_about_areas": {"zh-CN": "各级区域边界及事件数、办结率、超期、巡查覆盖等指标",
                           "en": "Area boundaries with incidents, resolved share, overdue, patrol coverage"},
    "export_about_hexes": {"zh-CN": "每个 H3 六边形的事件数（始终为汇总，不含单个事件）",
                           "en": "Incidents per H3 hexagon (always counts, never single incidents)"},
    "export_about_hotspots": {"zh-CN": "研究区内每个六边形的 Gi* z、p、FDR p 与冷热点类别（含不显著）",
                              "en": "Every analysed hexagon with Gi* z, p, FDR p and class, not-significant ones included"},
    "export_about_emerging": {"zh-CN": "近 12 周冷热点趋势类别", "en": "Hot spot trend of the last 12 weeks"},
    "export_about_coverage": {"zh-CN": "网格巡查覆盖率，及无人巡查的热点", "en": "Patrol coverage per grid, and hot cells nobody patrolled"},
    "export_about_facilities": {"zh-CN": "设施及其服务半径，服务盲区六边形", "en": "Facilities with their radius, and blind-spot cells"},
    "export_about_warnings": {"zh-CN": "超出自身基线的网格及原因", "en": "Grids above their own baseline, with the reason"},
    "export_fmt_gpkg": {"zh-CN": "多个图层合为一个文件，附 QGIS 样式（推荐）", "en": "All layers in one file, with QGIS styles (recommended)"},
    "export_fmt_geojson": {"zh-CN": "网页与脚本通用；多个图层打包为 zip", "en": "For the web and scripts; several layers come zipped"},
    "export_fmt_shp": {"zh-CN": "zip 压缩包，含 .prj、.cpg 与字段名对照表 fields.csv",
                       "en": "Zipped, with .prj, .cpg and fields.csv mapping the shortened names"},
    "export_fmt_csv": {"zh-CN": "zip 压缩包，几何为 WKT 列，可用 Excel 打开", "en": "Zipped, geometry as a WKT column; opens in Excel"},
    "export_crs_wgs84": {"zh-CN": "国际通用经纬度，GPS 与多数网络地图", "en": "Longitude and latitude; GPS and most web maps"},
    "export_crs_cgcs2000": {"zh-CN": "国家大地坐标系 2000 经纬度", "en": "China's national geodetic system, in degrees"},
    "export_crs_4549": {"zh-CN": "CGCS2000 3 度带投影（中央经线 120°E，单位米）",
                        "en": "CGCS2000 3-degree Gauss-Kruger, 120° E, in metres"},
    "export_crs_gcj02": {"zh-CN": "高德 / 腾讯地图坐标（文件标注为 EPSG:4326，元数据中注明）",
                         "en": "Amap / Tencent coordinates (labelled EPSG:4326, noted in the metadata)"},
})
