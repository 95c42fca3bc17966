"""The brief as A4 pages: HTML and CSS laid out by WeasyPrint, text in Noto Sans CJK (embedded, so
``pdftotext`` reads it back as Chinese), the pictures from ``figures``.

The numbers are formatted as the explore page's area panel formats them (thousands separated, shares as whole
per cent, hours to one decimal), so the brief and the panel read the same."""

from __future__ import annotations

import base64
from datetime import datetime
from html import escape

from geodata.taxonomy import CATEGORIES, STATUSES, TIER_DETAILS
from layers.base import BEIJING
from layers.brief import figures
from layers.brief.content import Brief, RISEN_ROWS, WARNING_ROWS
from layers.brief.orders import LEVEL_NAMES
from layers.stats import CLASS_COLOURS, EMERGING_COLOURS

HOT_NAMES = {"hot99": "热点 99% 置信", "hot95": "热点 95% 置信", "hot90": "热点 90% 置信",
             "cold90": "冷点 90% 置信", "cold95": "冷点 95% 置信", "cold99": "冷点 99% 置信"}
_PATTERNS = {"new": "新增", "consecutive": "连续", "intensifying": "加剧", "persistent": "持续", "diminishing": "减弱",
             "sporadic": "零星", "oscillating": "振荡", "historical": "历史"}
EMERGING_NAMES = {f"{p} {side} spot": f"{zh}{'热点' if side == 'hot' else '冷点'}"
                  for p, zh in _PATTERNS.items() for side in ("hot", "cold")}

CSS = """
@page { size: A4; margin: 14mm 15mm 16mm 15mm;
  @top-left { content: string(area) " · 研判报告"; font-size: 8pt; color: #7b8794; }
  @top-right { content: string(week); font-size: 8pt; color: #7b8794; }
  @bottom-center { content: "第 " counter(page) " 页，共 " counter(pages) " 页"; font-size: 8pt; color: #7b8794; } }
@page :first { @top-left { content: none; } @top-right { content: none; } }
html { font-family: "Noto Sans CJK SC", sans-serif; font-size: 9.5pt; color: #1f2933; line-height: 1.45; }
h1 { font-size: 20pt; margin: 0 0 1mm; string-set: area attr(data-area); }
h2 { font-size: 12.5pt; margin: 5mm 0 2mm; padding-bottom: 1mm; border-bottom: 1.5pt solid #b2182b;
     break-after: avoid; }
.week { font-size: 12pt; margin: 0 0 2mm; string-set: week content(); }
.meta { color: #52606d; font-size: 8.5pt; margin: 0 0 1mm; }
table { width: 100%; border-collapse: collapse; margin: 1mm 0 2mm; }
th, td { padding: 1.1mm 1.6mm; border-bottom: 0.5pt solid #d9dee3; text-align: left; vertical-align: top; }
th { background: #f0f2f4; font-weight: bold; font-size: 8.5pt; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
thead { display: table-header-group; }
tr { break-inside: avoid; }
.up { color: #b2182b; } .down { color: #1b7837; }
.kpis td.n { font-size: 11pt; font-weight: bold; }
.rank { margin: 2mm 0; padding: 2mm 3mm; background: #fff5f0; border-left: 3pt solid #b2182b; font-size: 10.5pt; }
figure { margin: 1mm 0 2mm; break-inside: avoid; }
figure img { width: 100%; }
figcaption { font-size: 8pt; color: #52606d; }
.none { color: #7b8794; }
.summary { margin: 1mm 0 2mm; padding: 2mm 3mm; background: #f5f7fa; border-left: 3pt solid #3e4c59; }
.section { break-inside: avoid; }
ul.reasons { margin: 0; padding-left: 5mm; } ul.reasons li { margin-bottom: 1mm; }
"""


def _e(value) -> str:
    return escape("" if value is None else str(value))


def count(value: int) -> str:
    return f"{value:,}"


def share(value) -> str:
    return "—" if value is None else f"{value:.0%}"


def hours(value) -> str:
    return "—" if value is None else f"{value:,.1f} 小时"


def density(value: float) -> str:
    """As the panel shows incidents per km² (``dashboard/components/detail.py``)."""
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}" if value >= 1 else f"{value:.2g}"


def _moment(value: datetime | None) -> str:
    return "—" if value is None else f"{value.astimezone(BEIJING):%Y-%m-%d %H:%M}"


def _change(now, before, kind: str, fmt) -> str:
    """This week against the week before, of the values as printed beside it (so "95%" and "95%" are 持平): a
    difference, with the % change of counts, or percentage points of shares."""
    if now is None or before is None:
        return "—"
    if fmt(now) == fmt(before):
        return "持平"
    if kind == "share":
        return f"{round(now * 100) - round(before * 100):+d} 个百分点"
    if kind == "hours":
        return f"{round(now, 1) - round(before, 1):+,.1f} 小时"
    if kind == "density":
        return f"{now - before:+.2g}"
    delta = now - before
    return f"{delta:+,}" + (f"（{delta / before:+.0%}）" if before else "")


KPI_ROWS = (("incidents", "事件数（起）", count, "count"), ("per_km2", "每平方公里事件数", density, "density"),
            ("resolved_share", "结案率", share, "share"), ("median_hours", "办结时长中位数", hours, "hours"),
            ("overdue", "超期未结（起）", count, "count"), ("patrol_share", "巡查覆盖率", share, "share"))


def _kpis(brief: Brief) -> str:
    this, last = brief.area["kpis"], brief.previous
    rows = "".join(f"<tr><td>{label}</td><td class='n'>{fmt(this[key]) if this[key] is not None else '—'}</td>"
                   f"<td class='n'>{fmt(last[key]) if last[key] is not None else '—'}</td>"
                   f"<td class='n'>{_change(this[key], last[key], kind, fmt)}</td></tr>"
                   for key, label, fmt, kind in KPI_ROWS)
    return ("<table class='kpis'><thead><tr><th>指标</th><th class='n'>本周</th><th class='n'>上周</th>"
            f"<th class='n'>变化</th></tr></thead><tbody>{rows}</tbody></table>")


def _risen_rows(brief: Brief) -> list[tuple[str, int, int]]:
    """(category, this week, the week before) of the categories that rose, most first."""
    return sorted(((code, now, before) for code, (now, before) in brief.by_category.items() if now > before),
                  key=lambda r: (-(r[1] - r[2]), r[0]))[:RISEN_ROWS]


def _summary(brief: Brief) -> str:
    """The week in a few sentences, every number one the sections below print."""
    this, last = brief.area["kpis"], brief.previous
    delta = this["incidents"] - last["incidents"]
    moved = ("与上周持平" if not delta else
             f"较上周{'增加' if delta > 0 else '减少'} {abs(delta):,} 起"
             + (f"（{delta / last['incidents']:+.0%}）" if last["incidents"] else ""))
    s = brief.hotspots.summary
    parts = [f"本周报告事件 <b>{this['incidents']:,}</b> 起，{moved}",
             f"结案率 {share(this['resolved_share'])}（上周 {share(last['resolved_share'])}）",
             f"本周报告的事件中至今超期未结 {this['overdue']:,} 起"]
    risen = _risen_rows(brief)
    hot = s["hot99"] + s["hot95"] + s["hot90"]
    second = [f"热点六边形 {hot:,} 个" + (f"，增幅最大的类别为{CATEGORIES[risen[0][0]].name_zh}（{risen[0][1] - risen[0][2]:+,} 起）"
                                     if risen else "")]
    w = brief.warnings.summary
    second.append(f"预警网格最近24小时 {w['flagged_24h']:,} 个、最近7天 {w['flagged_7d']:,} 个")
    second.append(f"未办结督办单 {brief.orders_total:,} 件")
    return f"<p class='summary'><b>本周要点：</b>{'；'.join(parts)}。{'；'.join(second)}。</p>"


def _rank(brief: Brief) -> str:
    if brief.rank is None:
        return ""
    change = brief.rank.get("rank_change")
    moved = ("（与上周持平）" if change == 0 else f"（较上周上升 {change} 位 ↑）" if change and change > 0
             else f"（较上周下降 {-change} 位 ↓）" if change else "（上周未排名）")
    tier = TIER_DETAILS[brief.area["tier"]].name_zh
    return (f"<p class='rank'>考核排名：在 {brief.rank['of']} 个{tier}中列第 <b>{brief.rank['rank']}</b> 位，"
            f"得分 {brief.rank['score']:.1f}{moved}</p>")


def _risen(brief: Brief) -> str:
    rows = _risen_rows(brief)
    if not rows:
        return "<p class='none'>本周没有比上周增加的事件类别。</p>"
    body = "".join(f"<tr><td>{_e(CATEGORIES[code].name_zh)}</td><td class='n'>{now:,}</td><td class='n'>{before:,}</td>"
                   f"<td class='n up'>{now - before:+,}</td>"
                   f"<td class='n up'>{'新出现' if not before else f'{(now - before) / before:+.0%}'}</td></tr>"
                   for code, now, before in rows)
    return ("<table><thead><tr><th>类别</th><th class='n'>本周</th><th class='n'>上周</th><th class='n'>增加</th>"
            f"<th class='n'>增幅</th></tr></thead><tbody>{body}</tbody></table>")


def _children(brief: Brief) -> str:
    children = brief.area["children"]
    if not children:
        return ""
    body = "".join(f"<tr><td>{_e(c['name'])}</td><td>{_e(c.get('owner_name') or '—')}</td>"
                   f"<td class='n'>{c['kpis']['incidents']:,}</td><td class='n'>{share(c['kpis']['resolved_share'])}</td>"
                   f"<td class='n'>{c['kpis']['overdue']:,}</td><td class='n'>{share(c['kpis']['patrol_share'])}</td></tr>"
                   for c in children[:30])
    more = f"<p class='meta'>另有 {len(children) - 30} 个下级区域未列出。</p>" if len(children) > 30 else ""
    return ("<div class='section'><h2>九、下级区域（本周，按事件数）</h2><table><thead><tr><th>区域</th><th>负责人</th>"
            "<th class='n'>事件数</th><th class='n'>结案率</th><th class='n'>超期未结</th><th class='n'>巡查覆盖率</th>"
            f"</tr></thead><tbody>{body}</tbody></table>{more}</div>")


def _warnings(brief: Brief) -> str:
    summary, features = brief.warnings.summary, brief.warnings.features
    head = (f"<p class='meta'>截至 {_moment(datetime.fromisoformat(summary['reference_time']))}：最近24小时预警 "
            f"{summary['flagged_24h']:,} 个网格，最近7天预警 {summary['flagged_7d']:,} 个网格"
            "（各网格与自身前8周同期相比，泊松上界 α=0.001）。</p>")
    if not features:
        return head + "<p class='none'>没有网格超出自身基线。</p>"
    items = "".join(f"<li><b>{_e(brief.grid_names.get(f['properties']['grid_code'], ''))}</b> "
                    f"{_e(f['properties']['reason_zh'])}</li>" for f in features[:WARNING_ROWS])
    more = f"<p class='meta'>另有 {len(features) - WARNING_ROWS} 条预警未列出。</p>" if len(features) > WARNING_ROWS else ""
    return head + f"<ul class='reasons'>{items}</ul>{more}"


def _overdue(brief: Brief) -> str:
    backlog = brief.backlog
    since = backlog["since"]
    head = (f"<p class='meta'>{since.month}月{since.day}日以来报告、至今超期未结 <b>{backlog['overdue_total']:,}</b> 起"
            f"（列出超期最久的 {len(backlog['overdue'])} 起）。</p>")
    if not backlog["overdue"]:
        return head
    body = "".join(f"<tr><td>{_e(o['id'])}</td><td>{o['reported_at']:%m-%d %H:%M}</td><td>{_e(CATEGORIES[o['category']].name_zh)}</td>"
                   f"<td>{_e(STATUSES[o['status']].name_zh)}</td><td class='n'>{o['hours_overdue']:,.0f} 小时</td>"
                   f"<td>{_e(o.get('grid_name') or o.get('grid_code') or '—')}</td></tr>" for o in backlog["overdue"])
    return head + ("<table><thead><tr><th>编号</th><th>上报时间</th><th>类别</th><th>状态</th><th class='n'>已超期</th>"
                   f"<th>网格</th></tr></thead><tbody>{body}</tbody></table>")


def _progress(order: dict) -> str:
    said = "已回复" if order["replied_at"] else "未回复"
    return said + (f"，升级 {order['escalations']} 次" if order["escalations"] else "")


def _orders(brief: Brief) -> str:
    head = f"<p class='meta'>未办结的督办单 <b>{brief.orders_total:,}</b> 件。</p>"
    if not brief.orders:
        return head
    body = "".join(
        f"<tr><td>{o['id']}</td><td>{_e(LEVEL_NAMES.get(o['level'], o['level']))}</td><td>{_e(o['addressee'])}</td>"
        f"<td>{_e(o['incident_id'] or o['area_code'])}</td><td>{_moment(o['issued_at'])}</td><td>{_moment(o['reply_due_at'])}</td>"
        f"<td>{_progress(o)}</td>"
        f"<td>{_e((o['note'] or '')[:60])}</td></tr>" for o in brief.orders)
    return head + ("<table><thead><tr><th>单号</th><th>级别</th><th>责任人</th><th>事件/区域</th><th>下发</th>"
                   f"<th>回复期限</th><th>进展</th><th>说明</th></tr></thead><tbody>{body}</tbody></table>")


def _img(png: bytes, alt: str) -> str:
    return f"<img alt='{_e(alt)}' src='data:image/png;base64,{base64.b64encode(png).decode()}'>"


def _maps(brief: Brief) -> tuple[str, str]:
    area = brief.area
    labels = {c["code"]: c["name"] for c in area["children"]}
    hot = figures.area_map(brief.shapes, area["code"], labels, brief.hotspots.features,
                           {c: CLASS_COLOURS[c] for c in HOT_NAMES}, HOT_NAMES, "本周冷热点（Gi*，FDR 校正）",
                           area["bbox"])
    emerging = figures.area_map(brief.shapes, area["code"], labels, brief.emerging.features,
                                {c: EMERGING_COLOURS[c] for c in EMERGING_NAMES}, EMERGING_NAMES,
                                f"新兴热点（近 {brief.emerging.summary['weeks']} 周趋势）", area["bbox"])
    s = brief.hotspots.summary
    hot_caption = (f"H3 r{brief.res} 六边形 {s['cells']:,} 个，本周事件 {s['incidents']:,} 起；"
                   f"热点 {s['hot99'] + s['hot95'] + s['hot90']:,} 个（99% 置信 {s['hot99']:,}），"
                   f"冷点 {s['cold99'] + s['cold95'] + s['cold90']:,} 个。")
    e = brief.emerging
    trends: dict[str, int] = {}
    for f in e.features:
        trends[f["properties"]["class"]] = trends.get(f["properties"]["class"], 0) + 1
    named = "，".join(f"{EMERGING_NAMES[c]} {trends[c]:,}" for c in EMERGING_NAMES if trends.get(c))
    emerging_caption = (f"截至本周的 {e.summary['weeks']} 周，逐周 Gi* 的 Mann–Kendall 趋势：" + (named or "无明显模式") + "。")
    return (f"<figure>{_img(hot, '本周冷热点地图')}<figcaption>{hot_caption}</figcaption></figure>",
            f"<figure>{_img(emerging, '新兴热点地图')}<figcaption>{emerging_caption}</figcaption></figure>")


def html(brief: Brief) -> str:
    """The brief as one HTML document."""
    area, week = brief.area, brief.week
    chain = " › ".join(_e(c["name"]) for c in area["chain"])
    tier = TIER_DETAILS[area["tier"]].name_zh
    owner = area.get("owner_name") or "—"
    hot_map, emerging_map = _maps(brief)
    trend = figures.trend_chart([w.label[5:] for w, _ in brief.trend], [n for _, n in brief.trend])
    first, last = brief.trend[0][0], brief.trend[-1][0]
    return f"""<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>{_e(area['name'])} 研判报告 {week.label}</title>
<meta name="author" content="市域 Shiyu"><meta name="description" content="{_e(area['name'])}（{_e(area['code'])}）{week.title_zh()}研判报告">
<style>{CSS}</style></head><body>
<h1 data-area="{_e(area['name'])}">{_e(area['name'])} 社会治理研判报告</h1>
<p class="week">{week.title_zh()} · {week.label}</p>
<p class="meta">{tier} · 编码 {_e(area['code'])} · {chain} · 负责人 {_e(owner)}{' · ' + _e(area['owner_phone']) if area.get('owner_phone') else ''}</p>
<p class="meta">数据截至 {_moment(brief.as_of)} · 报告生成于 {_moment(brief.now)} · 超期按生成时计</p>
<h2>一、本周概况</h2>
{_summary(brief)}
{_kpis(brief)}
{_rank(brief)}
<h2>二、本周冷热点</h2>
{hot_map}
<h2>三、新兴热点</h2>
{emerging_map}
<div class="section"><h2>四、事件趋势（{first.label} 至 {last.label}，每周）</h2>
<figure>{_img(trend, '每周事件数')}<figcaption>每周一至周日（北京时间）报告的事件数；红色为本周。</figcaption></figure></div>
<div class="section"><h2>五、增幅最大的事件类别（本周对上周）</h2>
{_risen(brief)}</div>
<div class="section"><h2>六、预警</h2>
{_warnings(brief)}</div>
<h2>七、超期未结事件</h2>
{_overdue(brief)}
<h2>八、督办事项</h2>
{_orders(brief)}
{_children(brief)}
</body></html>"""


def pdf(brief: Brief) -> bytes:
    """The brief as PDF bytes (fonts embedded)."""
    from weasyprint import HTML  # a second or so to import: only when a brief is made

    return HTML(string=html(brief)).write_pdf()
