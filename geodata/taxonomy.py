"""One place for the shared vocabulary: categories, statuses, facility types, tiers.

Feeds name the same thing many ways (``消防``, ``火灾隐患``, ``Fire``,
``ｆｉｒｅ``); every loader, layer and page resolves them here to one stable
code. Lookups are exact after normalisation — NFKC (so full-width Latin and
digits equal half-width), case folding, and dropping spaces, ``_`` and ``-`` —
never fuzzy: an unknown word resolves to ``None`` and the caller rejects the
row with a reason.

Examples
--------
>>> category_code(" 火灾隐患 ")
'fire_safety'
>>> category_code("Public Order")
'public_order'
>>> CATEGORIES[category_code("上访")].sla_hours
360
>>> status_code("已办结")
'closed'
>>> facility_type_code("微型消防站")
'mini_fire_station'
>>> tier_code("街道")
'street'
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "CATEGORIES",
    "CLOSED_STATUSES",
    "FACILITY_TYPES",
    "OPEN_STATUSES",
    "STATUSES",
    "TIERS",
    "TIER_DETAILS",
    "Category",
    "FacilityType",
    "Status",
    "Tier",
    "category_code",
    "category_codes",
    "facility_type_code",
    "facility_type_codes",
    "lookup_key",
    "status_code",
    "status_codes",
    "tier_code",
]


@dataclass(frozen=True)
class Category:
    """An incident category; ``sla_hours`` sets ``due_at`` (past it and not closed = 超期)."""

    code: str
    name_zh: str
    name_en: str
    sla_hours: int
    colour: str
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Status:
    """A step of the closed loop 发现 → 立案 → 派遣 → 处置 → 核查 → 结案."""

    code: str
    name_zh: str
    name_en: str
    open311: str
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class FacilityType:
    """A kind of facility and the radius it is taken to serve by default."""

    code: str
    name_zh: str
    name_en: str
    service_radius_m: int
    colour: str
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Tier:
    """A level of the grid-management hierarchy; ``level`` 0 is the city."""

    code: str
    name_zh: str
    name_en: str
    level: int
    aliases: tuple[str, ...] = ()


# Paul Tol's "muted" qualitative scheme (nine hues) plus a neutral grey for
# "other": distinguishable under the common colour-vision deficiencies.
CATEGORIES: dict[str, Category] = {
    c.code: c
    for c in (
        Category("dispute", "矛盾纠纷", "Dispute", 72, "#DDCC77", (
            "纠纷", "矛盾", "邻里纠纷", "家庭纠纷", "婚姻家庭纠纷", "劳资纠纷", "物业纠纷",
            "土地纠纷", "矛盾纠纷调解", "disputes", "conflict", "neighbour dispute",
            "neighbor dispute")),
        Category("public_order", "治安", "Public order", 24, "#332288", (
            "治安案件", "社会治安", "治安隐患", "治安问题", "治安事件", "公共秩序",
            "public security", "law and order")),
        Category("fire_safety", "消防安全", "Fire safety", 24, "#CC6677", (
            "消防", "火灾隐患", "消防隐患", "火灾", "火警", "消防通道堵塞", "消防通道占用",
            "fire", "fire hazard")),
        Category("traffic_safety", "交通安全", "Traffic safety", 24, "#999933", (
            "交通", "交通事故", "道路交通安全", "交通隐患", "交通违法", "道路安全",
            "traffic", "road safety", "traffic accident")),
        Category("food_drug_safety", "食药安全", "Food and drug safety", 48, "#117733", (
            "食品安全", "药品安全", "食品药品安全", "食药", "food safety", "drug safety",
            "food and drug")),
        # 信访条例 art. 22: a petition must be acknowledged within 15 days.
        Category("petition", "信访", "Petition", 360, "#AA4499", (
            "上访", "信访件", "信访事项", "来信来访", "petitions", "letters and visits")),
        Category("mass_incident", "涉众型案事件", "Mass incident", 12, "#882255", (
            "涉众", "涉众型", "涉众案事件", "涉众型案件", "涉众型事件", "群体性事件",
            "非法集资", "mass incidents", "collective incident")),
        Category("city_management", "城市管理", "City management", 48, "#44AA99", (
            "城管", "市容", "市容环境", "市容环卫", "环境卫生", "占道经营", "违章搭建",
            "违法建设", "乱堆乱放", "urban management", "city appearance")),
        Category("public_health", "公共卫生", "Public health", 24, "#88CCEE", (
            "疫情", "卫生", "疫情防控", "传染病", "公共卫生事件", "health", "epidemic")),
        Category("other", "其他", "Other", 72, "#BBBBBB", (
            "其它", "其他事件", "未分类", "others", "misc", "miscellaneous", "unclassified")),
    )
}

# Aliases follow one rule: "已X" is the step just done, "待X" the step before
# X (待立案 = reported, not yet registered).
STATUSES: dict[str, Status] = {
    s.code: s
    for s in (
        Status("reported", "发现/上报", "Reported", "open", (
            "发现", "上报", "已上报", "已发现", "待立案", "新建", "待受理", "new", "open",
            "submitted", "received")),
        Status("registered", "立案", "Registered", "open", (
            "已立案", "已受理", "受理", "待派遣", "待分派", "accepted", "acknowledged")),
        Status("dispatched", "派遣", "Dispatched", "open", (
            "已派遣", "已派单", "派单", "已分派", "待处置", "待办理", "assigned")),
        Status("handling", "处置", "Handling", "open", (
            "处置中", "办理中", "处理中", "已处置", "已处理", "待核查", "in progress",
            "processing")),
        Status("verified", "核查", "Verified", "closed", (
            "已核查", "核查通过", "待结案", "checked")),
        Status("closed", "结案", "Closed", "closed", (
            "已结案", "已办结", "办结", "已完成", "完成", "已关闭", "关闭", "resolved",
            "done", "completed", "finished")),
    )
}

#: Open311 reports these as ``open``; the rest are ``closed``.
OPEN_STATUSES: tuple[str, ...] = tuple(c for c, s in STATUSES.items() if s.open311 == "open")
# Severity 1..4 by name (zh-CN, en), as China's emergency scale names them: a bare "4级" would read as Ⅳ级, the
# least severe level of that scale, where 4 is the most severe here.
SEVERITY_NAMES: dict[int, tuple[str, str]] = {1: ("一般", "minor"), 2: ("较大", "moderate"), 3: ("重大", "serious"),
                                              4: ("特别重大", "critical")}

CLOSED_STATUSES: tuple[str, ...] = tuple(c for c, s in STATUSES.items() if s.open311 == "closed")

# Okabe–Ito (eight hues, black included) plus Tol's olive for the ninth.
FACILITY_TYPES: dict[str, FacilityType] = {
    f.code: f
    for f in (
        FacilityType("police_station", "派出所", "Police station", 3000, "#0072B2", (
            "公安派出所", "警务室", "社区警务室", "police")),
        FacilityType("safety_kiosk", "平安岗亭", "Safety kiosk", 500, "#56B4E9", (
            "岗亭", "治安岗亭", "警务岗亭", "平安岗", "kiosk", "police kiosk", "police box")),
        # The 5-minute standard: a fire station covers about 5 km² of built-up area.
        FacilityType("fire_station", "消防站", "Fire station", 5000, "#D55E00", (
            "消防救援站", "消防队", "消防中队", "fire brigade")),
        FacilityType("mini_fire_station", "微型消防站", "Mini fire station", 1000, "#E69F00", (
            "微型站", "微站", "社区微型消防站", "micro fire station")),
        FacilityType("governance_centre", "综治中心", "Governance centre", 2000, "#000000", (
            "综合治理中心", "社会治安综合治理中心", "综治工作中心", "社会治理中心",
            "governance center", "comprehensive governance centre")),
        FacilityType("mediation_room", "调解室", "Mediation room", 1000, "#999933", (
            "人民调解室", "调解委员会", "人民调解委员会", "调委会", "mediation")),
        FacilityType("community_service", "社区服务中心", "Community service centre", 1000,
                     "#009E73", (
            "社区服务站", "党群服务中心", "便民服务中心", "community centre",
            "community center", "community service center")),
        FacilityType("school", "学校", "School", 1000, "#F0E442", (
            "小学", "中学", "初中", "高中", "中小学", "幼儿园", "kindergarten")),
        FacilityType("hospital", "医院", "Hospital", 5000, "#CC79A7", (
            "卫生院", "社区卫生服务中心", "clinic")),
    )
}

TIER_DETAILS: dict[str, Tier] = {
    t.code: t
    for t in (
        Tier("city", "市", "City", 0, ("地级市", "市级", "城市", "municipality", "prefecture")),
        Tier("district", "区县", "District", 1, ("区", "县", "县级市", "区县级", "county")),
        Tier("street", "街道乡镇", "Street", 2, (
            "街道", "乡镇", "街镇", "镇", "乡", "subdistrict", "town", "township")),
        Tier("community", "社区村", "Community", 3, (
            "社区", "村", "村居", "居委会", "村委会", "village", "neighbourhood",
            "neighborhood")),
        Tier("grid", "网格", "Grid", 4, ("单元网格", "网格单元", "grid cell")),
    )
}

#: Tier codes, coarsest first.
TIERS: tuple[str, ...] = tuple(TIER_DETAILS)

_Entry = Category | Status | FacilityType | Tier
_SEPARATORS = re.compile(r"[\s_\-]+")


def lookup_key(text: object) -> str | None:
    """Return the form a label is compared in, or ``None`` for a missing value.

    >>> lookup_key(" Ｆｉｒｅ_Safety ")
    'firesafety'
    """
    if text is None or text is pd.NA or text is pd.NaT:
        return None
    if isinstance(text, float) and math.isnan(text):
        return None
    key = _SEPARATORS.sub("", unicodedata.normalize("NFKC", str(text)).casefold())
    return key or None


def _index(entries: Mapping[str, _Entry]) -> dict[str, str]:
    """Map every code, name and alias key to its code; refuse a key claimed twice."""
    index: dict[str, str] = {}
    for code, entry in entries.items():
        labels: Iterable[str] = (code, entry.name_zh, entry.name_en, *entry.aliases)
        for label in labels:
            key = lookup_key(label)
            if index.setdefault(key, code) != code:
                raise ValueError(f"{label!r} names both {index[key]!r} and {code!r}")
    return index


_CATEGORY_INDEX = _index(CATEGORIES)
_STATUS_INDEX = _index(STATUSES)
_FACILITY_INDEX = _index(FACILITY_TYPES)
_TIER_INDEX = _index(TIER_DETAILS)


def _resolve(index: dict[str, str], text: object) -> str | None:
    key = lookup_key(text)
    if key is None:
        return None
    code = index.get(key)
    # Feeds often suffix a class marker: 治安类, 消防安全类.
    if code is None and key.endswith("类"):
        code = index.get(key[:-1])
    return code


def _resolve_series(index: dict[str, str], values: pd.Series) -> pd.Series:
    # Resolve each distinct label once; a million rows hold a few dozen labels.
    positions, uniques = pd.factorize(values, use_na_sentinel=True)
    resolved = np.array([_resolve(index, u) for u in uniques] + [None], dtype=object)
    return pd.Series(resolved[positions], index=values.index, name=values.name, dtype=object)


def category_code(text: object) -> str | None:
    """Return the category code a code, name or alias stands for, else ``None``."""
    return _resolve(_CATEGORY_INDEX, text)


def category_codes(values: pd.Series) -> pd.Series:
    """Vectorised :func:`category_code`: an object series of codes and ``None``."""
    return _resolve_series(_CATEGORY_INDEX, values)


def status_code(text: object) -> str | None:
    """Return the status code a code, name or alias stands for, else ``None``."""
    return _resolve(_STATUS_INDEX, text)


def status_codes(values: pd.Series) -> pd.Series:
    """Vectorised :func:`status_code`: an object series of codes and ``None``."""
    return _resolve_series(_STATUS_INDEX, values)


def facility_type_code(text: object) -> str | None:
    """Return the facility type code a code, name or alias stands for, else ``None``."""
    return _resolve(_FACILITY_INDEX, text)


def facility_type_codes(values: pd.Series) -> pd.Series:
    """Vectorised :func:`facility_type_code`: an object series of codes and ``None``."""
    return _resolve_series(_FACILITY_INDEX, values)


def tier_code(text: object) -> str | None:
    """Return the tier code a code, name or alias stands for, else ``None``."""
    return _resolve(_TIER_INDEX, text)
