"""Which column of a file holds which canonical field.

A ``--field canonical=column`` given by the operator wins; otherwise common
Chinese and English headers are recognised. The mapping chosen is printed.
"""

from __future__ import annotations

import unicodedata

from geodata.errors import InputError

# canonical field -> headers seen in real feeds (compared after NFKC, lower case, no spaces/underscores)
ALIASES: dict[str, tuple[str, ...]] = {
    "id": ("id", "eventid", "incidentid", "caseid", "no", "事件编号", "事件id", "案件编号", "编号", "工单号", "序号"),
    "category": ("category", "type", "eventtype", "类别", "事件类型", "事件类别", "案件类型", "类型", "大类"),
    "reported_at": ("reportedat", "reporttime", "time", "datetime", "created", "createdat", "上报时间", "发生时间", "报告时间", "受理时间", "时间"),
    "lon": ("lon", "lng", "long", "longitude", "x", "经度", "东经"),
    "lat": ("lat", "latitude", "y", "纬度", "北纬"),
    "wkt": ("wkt", "geom", "geometry", "shape", "几何"),
    "severity": ("severity", "level", "priority", "等级", "紧急程度", "严重程度", "级别"),
    "status": ("status", "state", "状态", "处置状态", "办理状态"),
    "resolved_at": ("resolvedat", "closedat", "resolvetime", "结案时间", "办结时间", "处置完成时间"),
    "description": ("description", "desc", "detail", "content", "事件描述", "描述", "内容", "问题描述"),
    "reporter_name": ("reportername", "reporter", "上报人", "报告人", "反映人", "姓名"),
    "reporter_phone": ("reporterphone", "phone", "mobile", "tel", "联系电话", "电话", "手机", "手机号"),
    "type": ("type", "facilitytype", "kind", "类型", "设施类型", "类别"),
    "service_radius_m": ("serviceradiusm", "serviceradius", "radius", "radiusm", "服务半径", "半径"),
    "unit_id": ("unitid", "unit", "patrolid", "patrolunit", "device", "deviceid", "巡逻编号", "巡逻单元", "设备号", "设备编号", "人员编号"),
    "ts": ("ts", "timestamp", "time", "gpstime", "locatetime", "定位时间", "时间", "采集时间"),
    "code": ("code", "gridcode", "areacode", "网格编码", "网格编号", "编码", "代码", "区划代码"),
    "name": ("name", "gridname", "名称", "网格名称"),
    "parent_code": ("parentcode", "parent", "上级编码", "上级代码", "所属社区编码"),
    "owner_name": ("ownername", "owner", "gridworker", "网格员", "负责人", "网格长"),
    "owner_phone": ("ownerphone", "ownertel", "网格员电话", "负责人电话"),
}


def _key(header: str) -> str:
    return unicodedata.normalize("NFKC", str(header)).strip().lower().replace(" ", "").replace("_", "").replace("-", "")


def parse_field_options(options: list[str] | None) -> dict[str, str]:
    """``["lon=经度", …]`` as a dict; a malformed option is a usage error."""
    fields: dict[str, str] = {}
    for option in options or []:
        canonical, sep, column = option.partition("=")
        if not sep or not canonical.strip() or not column.strip():
            raise InputError(f"--field takes canonical=column, got '{option}'")
        if canonical.strip() not in ALIASES:
            raise InputError(f"--field: unknown field '{canonical.strip()}'; known: {', '.join(ALIASES)}")
        fields[canonical.strip()] = column.strip()
    return fields


def map_columns(headers: list[str], wanted: tuple[str, ...], given: dict[str, str] | None = None) -> dict[str, str]:
    """Canonical field -> the file's column, for every wanted field found."""
    given = dict(given or {})
    for canonical, column in given.items():
        if column not in headers:
            raise InputError(f"--field {canonical}={column}: the file has no column '{column}' (it has: {', '.join(headers)})")
    mapping = {c: given[c] for c in wanted if c in given}
    taken = set(mapping.values())
    by_key = {}
    for header in headers:
        by_key.setdefault(_key(header), header)
    for canonical in wanted:
        if canonical in mapping:
            continue
        for alias in (canonical, *ALIASES.get(canonical, ())):
            header = by_key.get(_key(alias))
            if header is not None and header not in taken:
                mapping[canonical] = header
                taken.add(header)
                break
    return mapping
