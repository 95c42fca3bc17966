"""The bodies posted to a hook: DingTalk and WeCom robots' markdown messages, or the documented JSON object.

One Chinese markdown text is made from a hook's news; the three formats wrap it (JSON adds the things
themselves). WeCom refuses markdown over 4,096 bytes and DingTalk over 20,000, so the text is cut to fit at a
line's end, saying so. docs/alerts.md shows each.
"""

from __future__ import annotations

from datetime import datetime

from geodata.taxonomy import CATEGORIES, SEVERITY_NAMES
from layers.base import BEIJING
from layers.supervision import LEVELS

# The most bytes of markdown each robot takes, with room left for the wrapper.
MAX_TEXT_BYTES = {"dingtalk": 19_000, "wecom": 4_000, "json": 60_000}
# Severity and order levels by their Chinese names (geodata.taxonomy, layers.supervision).
SEVERITIES_ZH = {severity: zh for severity, (zh, _) in SEVERITY_NAMES.items()}
LEVELS_ZH = {code: level.name_zh for code, level in LEVELS.items()}
JSON_VERSION = 1


def _category(code: str | None) -> str:
    known = CATEGORIES.get(code) if code else None
    return known.name_zh if known else (code or "未分类")


def _beijing(moment) -> datetime:
    value = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    return value.astimezone(BEIJING)


def _overdue(due_at, now: datetime) -> str:
    hours = max(0.0, (now - _beijing(due_at)).total_seconds() / 3600)
    return f"超期 {hours / 24:.1f} 天" if hours >= 48 else f"超期 {hours:.1f} 小时"


def title(hook: dict, news) -> str:
    parts = []
    if news.escalations_new:
        parts.append(f"督办升级 {news.escalations_new}")
    if news.red_new:
        parts.append(f"红灯 {news.red_new:,}")
    if news.warnings_new:
        parts.append(f"预警 {news.warnings_new}")
    return f"【市域】{hook['area_name']}：" + "，".join(parts)


def markdown(hook: dict, news, now: datetime) -> list[str]:
    """The message as markdown lines, most urgent kind first."""
    lines = [f"### {title(hook, news)}", ""]
    if news.escalations_new:
        lines += [f"**督办升级 {news.escalations_new} 件**（逾期未回复，自动升级）", ""]
        for e in news.escalations:
            what = f"事件 {e['incident_id']}" if e.get("incident_id") else "区域督办"
            lines.append(f"- 督办单 #{e['order_id']} 升级为 **{LEVELS_ZH.get(e['level'], e['level'])}** · "
                         f"{e.get('area_name') or e['area_code']} · {what} · 责任人 {e['addressee']}")
        lines += _more(news.escalations_new, len(news.escalations)) + [""]
    if news.red_new:
        lines += [f"**红灯（超期未结）新增 {news.red_new:,} 起**，辖区现有超期 {news.red_total:,} 起", ""]
        for r in news.red_listed:
            # grid names repeat from one community to the next (第2网格): the code says which one
            grid = (f"{r['grid_name']}（{r['grid_code']}）" if r.get("grid_name") else r.get("grid_code")) or "无网格"
            severity = f"{SEVERITIES_ZH[r['severity']]} · " if r.get("severity") in SEVERITIES_ZH else ""
            lines.append(f"- {severity}{_category(r['category'])} · {r['external_id']} · {grid} · "
                         f"{_overdue(r['due_at'], now)}")
        lines += _more(news.red_new, len(news.red_listed))
        if len(news.red_by_area) > 1:
            lines.append("- 分布：" + "，".join(f"{a.get('name') or a['code']} {a['count']:,}" for a in news.red_by_area))
        lines.append("")
    if news.warnings_new:
        lines += [f"**早期预警 {news.warnings_new} 个**（高于自身基线）", ""]
        lines += [f"- {w['reason_zh']}" for w in news.warnings]
        lines += _more(news.warnings_new, len(news.warnings)) + [""]
    lines.append(f"> {now.astimezone(BEIJING):%Y-%m-%d %H:%M} 北京时间 · 市域 Shiyu")
    return lines


def _more(total: int, shown: int) -> list[str]:
    return [f"- ……另 {total - shown:,} 项"] if total > shown else []


def fit(lines: list[str], limit: int) -> str:
    """The lines joined, cut at a line's end to at most ``limit`` UTF-8 bytes (the last line kept)."""
    text = "\n".join(lines)
    if len(text.encode()) <= limit:
        return text
    note, tail = "- ……（消息过长，已截断）", lines[-1]
    budget = limit - len((note + "\n" + tail).encode()) - 2
    kept, used = [], 0
    for line in lines[:-1]:
        size = len(line.encode()) + 1
        if used + size > budget:
            break
        kept.append(line)
        used += size
    return "\n".join(kept + [note, "", tail])


def _wrap(fmt: str, heading: str, text: str) -> dict | None:
    """The robots' markdown message; None for JSON, which has its own object."""
    if fmt == "dingtalk":
        return {"msgtype": "markdown", "markdown": {"title": heading, "text": text}}
    if fmt == "wecom":
        return {"msgtype": "markdown", "markdown": {"content": text}}
    return None


def trial_body(hook: dict, now: datetime) -> dict:
    """A message that says only that the hook works (``shiyu alerts test``)."""
    heading = f"【市域】{hook['area_name']}：测试消息"
    text = "\n".join([f"### {heading}", "", f"本群将收到 **{hook['area_name']}**（{hook['area_code']}）辖区的早期预警、"
                      "红灯（超期未结）事件和督办升级，每件每天一次。", "",
                      f"> {now.astimezone(BEIJING):%Y-%m-%d %H:%M} 北京时间 · 市域 Shiyu"])
    return _wrap(hook["format"], heading, text) or {
        "type": "shiyu.alerts.test", "version": JSON_VERSION, "hook": hook["id"],
        "area": {"code": hook["area_code"], "name": hook["area_name"]},
        "at": now.astimezone(BEIJING).isoformat(timespec="seconds"), "title": heading, "text": text}


def render(hook: dict, news, now: datetime) -> dict:
    """The body posted to ``hook``, in its format."""
    fmt = hook["format"]
    text = fit(markdown(hook, news, now), MAX_TEXT_BYTES[fmt])
    robot = _wrap(fmt, title(hook, news), text)
    if robot is not None:
        return robot
    return {"type": "shiyu.alerts", "version": JSON_VERSION, "hook": hook["id"],
            "area": {"code": hook["area_code"], "name": hook["area_name"]},
            "at": now.astimezone(BEIJING).isoformat(timespec="seconds"), "counts": news.counts(),
            "warnings": [{k: w.get(k) for k in ("grid_code", "window", "count", "baseline", "upper", "p",
                                                "reason_zh", "reason_en")} for w in news.warnings],
            "red_lights": news.red_listed, "red_lights_by_area": news.red_by_area,
            "escalations": news.escalations, "title": title(hook, news), "text": text}
