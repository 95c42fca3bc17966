"""The incident feeds, written the way the systems that send them write them.

======================  ==========  ========================  =========================================
file                    source      rows                      how it differs
======================  ==========  ========================  =========================================
incidents_grid_app.csv  grid_app    the rest (scales)         clean UTF-8, canonical headers and codes
incidents_amap.csv      amap_feed   5 %, at most 10,000       GCJ-02 coordinates, English labels,
                                                              ISO 8601 times with +08:00, UTF-8 with BOM
incidents_12345.csv     hotline     4 %, at most 8,000        GBK, Chinese headers and labels,
                                                              ``2026/6/1 8:05`` times, CRLF
incidents_ledger.xlsx   ledger      2 %, at most 4,000        a workbook with real datetime cells
======================  ==========  ========================  =========================================

Only the grid-app feed grows with ``incidents``; it is simulated and written
in chunks of :data:`CHUNK` rows, so ten million incidents need no more memory
than a quarter of a million. Every feed carries a few deliberately bad rows
(:mod:`etl.democity.spoil`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from etl.democity import names, places, process, spoil, textio
from etl.democity.process import LOCAL_OFFSET_S
from geodata.crs import from_wgs84
from geodata.taxonomy import CATEGORIES, STATUSES

CHUNK = 250_000
REPORTER_SHARE = 0.7  # the rest came in anonymously or from cameras and patrols

DESCRIPTIONS = {
    "dispute": ("邻里噪音纠纷", "物业费纠纷", "劳资欠薪纠纷", "租房押金纠纷", "装修扰民纠纷", "停车位纠纷"),
    "public_order": ("酒后滋事", "电动车被盗", "可疑人员徘徊", "打架斗殴", "扒窃", "深夜聚众喧哗"),
    "fire_safety": ("电动车楼道充电", "楼道堆放杂物", "消防通道堵塞", "灭火器过期", "私拉电线", "群租房消防隐患"),
    "traffic_safety": ("非机动车逆行", "信号灯故障", "机动车违停占道", "路面坑洼", "轻微剐蹭事故", "行人闯红灯"),
    "food_drug_safety": ("无证经营餐饮", "销售过期食品", "后厨卫生脏乱", "药店违规售药", "外卖食品有异物"),
    "petition": ("来访反映征迁补偿", "反映小区加装电梯", "反映学区划分", "反映社保待遇", "反映企业欠薪"),
    "mass_incident": ("业主聚集维权", "非法集资线索", "投资人聚集", "工程款讨薪聚集"),
    "city_management": ("占道经营", "乱堆乱放", "垃圾满溢", "违章搭建", "共享单车乱停放", "广告牌破损", "油烟扰民"),
    "public_health": ("蚊蝇孳生", "污水外溢", "死禽处置", "公厕脏乱", "二次供水异味"),
    "other": ("井盖缺失", "路灯不亮", "树木倒伏", "流浪犬伤人隐患", "宠物扰民"),
}
# How the hotline's operators label categories: mostly the standard name, sometimes a usual alias.
HOTLINE_LABELS = {
    "dispute": ("矛盾纠纷", "邻里纠纷", "劳资纠纷"), "public_order": ("治安", "治安案件", "社会治安"),
    "fire_safety": ("消防安全", "消防隐患", "火灾隐患"), "traffic_safety": ("交通安全", "交通事故", "交通隐患"),
    "food_drug_safety": ("食药安全", "食品安全", "药品安全"), "petition": ("信访", "上访", "来信来访"),
    "mass_incident": ("涉众型案事件", "涉众", "群体性事件"), "city_management": ("城市管理", "城管", "占道经营"),
    "public_health": ("公共卫生", "环境卫生", "卫生"), "other": ("其他", "其它", "未分类"),
}
STATUS_EN = {"reported": "new", "registered": "acknowledged", "dispatched": "assigned", "handling": "in progress",
             "verified": "checked", "closed": "resolved"}
STATUS_HOTLINE = {"reported": "待受理", "registered": "已受理", "dispatched": "已派遣", "handling": "处置中",
                  "verified": "已核查", "closed": "已办结"}
CHANNELS = ("12345热线", "浙里办", "微信公众号", "市长信箱")
DATETIME_FORMAT = "yyyy-mm-dd hh:mm:ss"


def _parts(t: np.ndarray) -> tuple[np.ndarray, ...]:
    """Year, month, day, hour, minute, second of Beijing wall-clock time."""
    local = (np.asarray(t, dtype=np.int64) + LOCAL_OFFSET_S).astype("datetime64[s]")
    month = local.astype("datetime64[M]")
    sod = (np.asarray(t, dtype=np.int64) + LOCAL_OFFSET_S) % process.DAY_S
    return (local.astype("datetime64[Y]").astype(int) + 1970, month.astype(int) % 12 + 1,
            (local.astype("datetime64[D]") - month).astype(int) + 1, sod // 3600, sod % 3600 // 60, sod % 60)


def _z(values: np.ndarray, width: int = 2) -> np.ndarray:
    return np.strings.zfill(values.astype(str), width).astype(object)


def _plain(values: np.ndarray) -> np.ndarray:
    return values.astype(str).astype(object)


def _iso_text(t: np.ndarray, sep: str = " ", zone: str = "") -> np.ndarray:
    """Epoch seconds as Beijing wall-clock ISO text, e.g. ``2026-06-01 08:05:00`` (vectorised in C)."""
    text = np.datetime_as_string((np.asarray(t, dtype=np.int64) + LOCAL_OFFSET_S).astype("datetime64[s]"), unit="s")
    if sep != "T":
        text = np.strings.replace(text, "T", sep)
    return text.astype(object) + zone


def _iso(y, mo, d, h, mi, s, sep=" ", zone=""):
    return _plain(y) + "-" + _z(mo) + "-" + _z(d) + sep + _z(h) + ":" + _z(mi) + ":" + _z(s) + zone


def _slashed(y, mo, d, h, mi, s):
    return _plain(y) + "/" + _plain(mo) + "/" + _plain(d) + " " + _plain(h) + ":" + _z(mi)


def _impossible(parts: tuple[np.ndarray, ...], rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """The same time with month 13 or more, or day 32 or more."""
    y, mo, d, *rest = parts
    by_month = rng.random(len(y)) < 0.5
    return (y, np.where(by_month, mo + 12, mo), np.where(by_month, d, d + 31), *rest)


@dataclass(frozen=True)
class Style:
    """How one feed writes an incident: headers, labels, times, coordinates and its bad rows."""

    key: str
    file: str
    source: str
    prefix: str
    headers: dict[str, str]                 # canonical -> header, in column order
    time: Callable[[np.ndarray], np.ndarray] | None  # epoch seconds to text; None: native datetimes
    bad_time: Callable[..., np.ndarray] | None       # _parts() of an impossible date to text
    category: Callable[[np.random.Generator, np.ndarray], np.ndarray]
    status: dict[str, str]
    bad: dict[str, int]
    unknown: tuple[str, ...]
    zero: object = "0"
    crs: str | None = None
    encoding: str = "utf-8"
    newline: str = "\n"
    extra: dict[str, tuple[str, ...]] = field(default_factory=dict)
    options: dict = field(default_factory=dict)


def _codes(rng, category):
    return np.array(process.CATEGORY_CODES, dtype=object)[category]


def _english(rng, category):
    return np.array([CATEGORIES[c].name_en for c in process.CATEGORY_CODES], dtype=object)[category]


def _chinese(rng, category):
    return np.array([CATEGORIES[c].name_zh for c in process.CATEGORY_CODES], dtype=object)[category]


def _hotline(rng, category):
    labels = np.array([HOTLINE_LABELS[c] for c in process.CATEGORY_CODES], dtype=object)
    pick = np.where(rng.random(len(category)) < 0.7, 0, rng.integers(1, 3, len(category)))
    return labels[category, pick]


_CANONICAL = ("id", "category", "reported_at", "lon", "lat", "severity", "status", "resolved_at", "description",
              "reporter_name", "reporter_phone")
GRID_APP = Style(
    key="grid_app", file="incidents_grid_app.csv", source="grid_app", prefix="WG",
    headers={c: c for c in _CANONICAL}, time=_iso_text, bad_time=_iso, category=_codes,
    status={c: c for c in STATUSES},
    bad={"zero": 40, "swapped": 30, "unknown_category": 25, "bad_date": 25, "future": 10, "duplicate_id": 20},
    unknown=("UFO", "test_event", "misc_old", "待定"))
AMAP = Style(
    key="amap", file="incidents_amap.csv", source="amap_feed", prefix="AM",
    headers=dict(zip(_CANONICAL, ("event_id", "type", "time", "lng", "lat", "level", "state", "closed_at", "detail",
                                  "reporter", "mobile"))),
    time=lambda t: _iso_text(t, "T", "+08:00"), bad_time=lambda *p: _iso(*p, sep="T", zone="+08:00"),
    category=_english, status=STATUS_EN,
    bad={"zero": 30, "swapped": 10, "unknown_category": 10, "duplicate_id": 10},
    unknown=("UFO sighting", "Test", "Complaint (old)"), crs="gcj02", encoding="utf-8-sig", options={"crs": "gcj02"})
HOTLINE = Style(
    key="hotline", file="incidents_12345.csv", source="hotline_12345", prefix="RX",
    headers=dict(zip(_CANONICAL, ("事件编号", "事件类型", "上报时间", "经度", "纬度", "紧急程度", "状态", "办结时间",
                                  "问题描述", "反映人", "联系电话"))),
    time=lambda t: _slashed(*_parts(t)), bad_time=_slashed, category=_hotline, status=STATUS_HOTLINE,
    bad={"zero": 10, "unknown_category": 25, "bad_date": 20, "duplicate_id": 5},
    unknown=("外星人入侵", "测试工单", "其他问题", "咨询"), extra={"来源渠道": CHANNELS}, encoding="gbk", newline="\r\n")
LEDGER = Style(
    key="ledger", file="incidents_ledger.xlsx", source="zongzhi_ledger", prefix="ZZ",
    headers=dict(zip(_CANONICAL, ("编号", "类别", "发生时间", "经度", "纬度", "等级", "办理状态", "结案时间", "内容",
                                  "上报人", "电话"))),
    time=None, bad_time=None, category=_chinese, status={c: s.name_zh for c, s in STATUSES.items()},
    bad={"zero": 5, "swapped": 5, "bad_date": 10, "future": 10},
    unknown=("治安消防综合", "待分类"), zero=0.0, options={"sheet": "事件台账"})
SIDE_FEEDS = ((AMAP, 0.05, 10_000), (HOTLINE, 0.04, 8_000), (LEDGER, 0.02, 4_000))
FULL_ROWS = {"grid_app": 178_000, "amap": 10_000, "hotline": 8_000, "ledger": 4_000}


def _naive_datetimes(t: np.ndarray) -> np.ndarray:
    return pd.to_datetime(np.asarray(t, dtype=np.int64) + LOCAL_OFFSET_S, unit="s").to_pydatetime()


def _rows(rng: np.random.Generator, style: Style, batch: process.Incidents, first_id: int) -> dict[str, np.ndarray]:
    """The feed's values per canonical name (object arrays), plus ``t``."""
    n = len(batch)
    text = style.time is not None
    fmt = style.time if text else _naive_datetimes
    lon, lat = from_wgs84(batch.lon, batch.lat, style.crs) if style.crs else (batch.lon, batch.lat)
    phrases = np.array([DESCRIPTIONS[c][k % len(DESCRIPTIONS[c])] for c in process.CATEGORY_CODES for k in range(7)],
                       dtype=object).reshape(len(process.CATEGORY_CODES), 7)
    description = phrases[batch.category, rng.integers(0, 7, n)]
    spot_names = np.array([f"{s.name}附近：" for s in places.HOTSPOTS] + [""], dtype=object)
    description = spot_names[batch.spot] + description
    reported = rng.random(n) < REPORTER_SHARE
    rows = {
        "id": np.char.add(style.prefix, np.char.zfill((first_id + np.arange(n)).astype(str), 9)).astype(object),
        "category": style.category(rng, batch.category),
        "reported_at": fmt(batch.t).astype(object),
        "lon": textio.decimals(lon) if text else np.round(lon, 6).astype(object),
        "lat": textio.decimals(lat) if text else np.round(lat, 6).astype(object),
        "severity": _plain(batch.severity) if text else batch.severity.astype(object),
        "status": np.array([style.status[c] for c in process.STATUS_CODES], dtype=object)[batch.status],
        "resolved_at": np.full(n, "" if text else None, dtype=object),
        "description": description,
        "reporter_name": np.where(reported, names.person_names(rng, n), "" if text else None).astype(object),
        "reporter_phone": np.where(reported, names.phones(rng, n), "" if text else None).astype(object),
        "t": batch.t,
    }
    closed = batch.resolved >= 0
    rows["resolved_at"][closed] = fmt(batch.resolved[closed])
    for header, values in style.extra.items():
        rows[header] = np.array(values, dtype=object)[rng.integers(0, len(values), n)]
    return rows


def _spoil(rng: np.random.Generator, style: Style, rows: dict, counts: dict[str, int], end: int) -> None:
    text = style.time is not None

    def bad(t: np.ndarray, r: np.random.Generator) -> np.ndarray:
        parts = _impossible(_parts(t), r)
        if text:
            return style.bad_time(*parts)
        # A workbook's impossible date can only be text: a date cell cannot hold month 13.
        return _plain(parts[0]) + "年" + _plain(parts[1]) + "月" + _plain(parts[2]) + "日"

    spoil.spoil(rng, rows, counts, end=end, zero=style.zero, unknown=style.unknown, bad_time=bad,
                time_text=style.time if text else _naive_datetimes, open_status=style.status["reported"],
                no_time="" if text else None)


def _columns(style: Style, rows: dict) -> list[np.ndarray]:
    return [rows[c] for c in style.headers] + [rows[h] for h in style.extra]


def feed_sizes(incidents: int) -> dict[str, int]:
    """Rows per feed for ``incidents`` in all; only the grid-app feed takes the growth."""
    sizes = {style.key: min(cap, int(share * incidents)) for style, share, cap in SIDE_FEEDS}
    return {"grid_app": incidents - sum(sizes.values()), **sizes}


def _write_bulk(seed: np.random.SeedSequence, path: Path, rows: int, raster: places.Raster, city, end: int,
                neglect) -> dict:
    """The grid-app feed, simulated and written chunk by chunk; returns its bad-row counts."""
    chunks = [min(CHUNK, rows - start) for start in range(0, rows, CHUNK)]
    counts = spoil.budget(GRID_APP.bad, rows, FULL_ROWS[GRID_APP.key])
    # A chunk's draws depend on its number only, so no chunk's content depends on another's.
    chunk_seeds = seed.spawn(len(chunks))
    with textio.CsvWriter(path, _header(GRID_APP), encoding=GRID_APP.encoding, newline=GRID_APP.newline) as writer:
        for k, (size, bad) in enumerate(zip(chunks, spoil.split(counts, chunks))):
            rng = np.random.default_rng(chunk_seeds[k])
            values = _rows(rng, GRID_APP, process.simulate(rng, size, raster, city, end, neglect),
                           1 + k * CHUNK)
            _spoil(rng, GRID_APP, values, bad, end)
            writer.write(_columns(GRID_APP, values))
    return counts


def _write_side(rng: np.random.Generator, style: Style, path: Path, rows: int, raster: places.Raster, city,
                end: int, now: datetime, neglect) -> dict:
    """One of the small feeds, whole; returns its bad-row counts."""
    values = _rows(rng, style, process.simulate(rng, rows, raster, city, end, neglect), 1)
    counts = spoil.budget(style.bad, rows, FULL_ROWS[style.key])
    _spoil(rng, style, values, counts, end)
    columns = _columns(style, values)
    if style.time is None:
        dates = {i for i, c in enumerate(style.headers) if c in ("reported_at", "resolved_at")}
        textio.write_xlsx(path, style.options["sheet"], _header(style), zip(*columns), now,
                          dict.fromkeys(dates, DATETIME_FORMAT))
    else:
        with textio.CsvWriter(path, _header(style), encoding=style.encoding, newline=style.newline) as writer:
            writer.write(columns)
    return counts


def write_feeds(seed: np.random.SeedSequence, out_dir: Path, incidents: int, raster: places.Raster, city,
                end: int, now: datetime, neglect=None) -> tuple[list[tuple[Style, Path]], dict]:
    """Simulate and write every incident feed; returns (style, path) in load order and what each holds.

    Parameters
    ----------
    seed : numpy.random.SeedSequence
        Each feed, and each chunk of the grid-app feed, draws from its own child.
    out_dir : Path
    incidents : int
        All rows over all feeds, bad ones included.
    raster, city
        The population surface and the city outline.
    end : int
        ``now`` as epoch seconds.
    now : datetime
        Stamped into the workbook.
    neglect : shapely.Geometry, optional
        The streets of neglect, where cases stall.

    Returns
    -------
    list of (Style, Path), dict
        The feeds in load order, and per feed key its file, rows and bad-row counts by kind.
    """
    sizes = feed_sizes(incidents)
    bulk_seed, *side_seeds = seed.spawn(1 + len(SIDE_FEEDS))
    written = [(GRID_APP, out_dir / GRID_APP.file)]
    bad = {GRID_APP.key: _write_bulk(bulk_seed, written[0][1], sizes[GRID_APP.key], raster, city, end, neglect)}
    for side_seed, (style, _, _) in zip(side_seeds, SIDE_FEEDS):
        written.append((style, out_dir / style.file))
        bad[style.key] = _write_side(np.random.default_rng(side_seed), style, written[-1][1], sizes[style.key],
                                     raster, city, end, now, neglect)
    return written, {style.key: {"file": style.file, "rows": sizes[style.key], "bad": bad[style.key]}
                     for style, _ in written}


def _header(style: Style) -> list[str]:
    return list(style.headers.values()) + list(style.extra)
