"""Area validation: polygons of any tier in, MultiPolygons in WGS-84 and row errors out (pure)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import shapely

from etl.columns import map_columns
from etl.coords import file_crs, type_names
from etl.incidents import ValidatedBatch, _text, json_column
from etl.readers import Table
from etl.rejects import RowErrors, reject_rows
from geodata import taxonomy
from geodata.crs import normalise_crs, to_wgs84
from geodata.errors import BatchRefused, InputError

CANONICAL = ("code", "name", "parent_code", "owner_name", "owner_phone", "tier")
CODE_PATTERN = re.compile(r"^[A-Za-z0-9_]+$")
REPAIR_AREA_TOLERANCE = 0.01  # a repair may change the area by at most 1 %


def _to_wgs84(geoms: np.ndarray, crs: str) -> np.ndarray:
    if normalise_crs(crs) in ("wgs84", "cgcs2000", "EPSG:4326", "EPSG:4490"):
        return geoms
    return shapely.transform(geoms, lambda xy: np.column_stack(to_wgs84(xy[:, 0], xy[:, 1], crs)))


def _repair(geoms: np.ndarray, errors: RowErrors, index: pd.Index, notes: list[str], label: pd.Series) -> np.ndarray:
    """make_valid where the result is one polygonal piece of nearly the same area; otherwise reject."""
    present = ~shapely.is_missing(geoms)
    invalid = present & ~shapely.is_valid(geoms)
    out = geoms.copy()
    for i in np.flatnonzero(invalid):
        why = shapely.is_valid_reason(geoms[i])
        fixed = shapely.make_valid(geoms[i])
        polys = shapely.get_parts(fixed)
        polys = polys[shapely.get_type_id(polys) == 3]
        merged = shapely.union_all(polys) if len(polys) else None
        before = shapely.area(geoms[i])  # the shoelace area of the rings as drawn
        ok = merged is not None and shapely.get_type_id(merged) == 3 and before > 0 and abs(shapely.area(merged) - before) / before <= REPAIR_AREA_TOLERANCE
        if ok:
            out[i] = merged
            notes.append(f"{label.iloc[i]}: repaired invalid polygon ({why})")
        else:
            mask = pd.Series(False, index=index)
            mask.iloc[i] = True
            errors.add(mask, f"invalid polygon ({why}) that cannot be repaired into one piece of the same area")
    return out


def validate_areas(table: Table, *, tier: str | None, fields: dict[str, str] | None = None, crs: str | None = None) -> ValidatedBatch:
    """Check every feature of an areas file; returns the records to load and the rejects."""
    frame = table.frame
    if "geometry" not in frame.columns:
        raise BatchRefused("the file holds no geometries; areas come as GeoJSON polygons")
    headers = [c for c in frame.columns if c != "geometry"]
    mapping = map_columns(headers, CANONICAL, fields)
    if "code" not in mapping:
        raise BatchRefused(f"the file has no code property (properties: {', '.join(headers)}); name it with --field code=PROPERTY")
    if tier is None and "tier" not in mapping:
        raise InputError("say which tier these areas are with --tier city|district|street|community|grid")
    errors = RowErrors(frame.index, table.problems)
    notes: list[str] = []
    label = table.row_label + " " + table.row_numbers.astype(str)

    code = _text(frame, mapping, "code")
    errors.add(code == "", "code is empty")
    errors.add((code != "") & ~code.str.match(CODE_PATTERN), "code '" + code + "' may hold only letters, digits and _")
    first = table.row_numbers.groupby(code).transform("first")
    errors.add((code != "") & code.duplicated(keep="first"), "duplicate code '" + code + "' (first at " + table.row_label + " " + first.astype(str) + ")")

    tiers = pd.Series(tier, index=frame.index, dtype=object) if tier else _text(frame, mapping, "tier").map(taxonomy.tier_code)
    errors.add(tiers.isna(), "unknown tier")

    geoms = np.asarray(frame.geometry.values, dtype=object)
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    errors.add(missing, "feature has no geometry")
    kind = shapely.get_type_id(geoms)
    not_polygon = ~missing & ~np.isin(kind, [3, 6])
    errors.add(not_polygon, "geometry is a " + type_names(geoms).set_axis(frame.index) + ", expected a Polygon or MultiPolygon")
    geoms = np.where(missing | not_polygon, None, geoms)
    geoms = _repair(geoms, errors, frame.index, notes, label)
    geoms = _to_wgs84(geoms, crs or file_crs(table) or "wgs84")

    good = ~errors.rejected
    g = frame.index[good]
    kept = geoms[good.to_numpy()]
    multi = np.array([shapely.multipolygons([p]) if shapely.get_type_id(p) == 3 else p for p in kept], dtype=object)
    name = _text(frame, mapping, "name")
    mapped = set(mapping.values())
    extra = [c for c in headers if c not in mapped]
    records = pd.DataFrame({
        "code": code[g],
        "tier": tiers[g],
        "parent_code": _text(frame, mapping, "parent_code")[g].replace("", None),
        "name": name[g].where(name[g] != "", code[g]),
        "owner_name": _text(frame, mapping, "owner_name")[g].replace("", None),
        "owner_phone": _text(frame, mapping, "owner_phone")[g].replace("", None),
        "attrs": json_column(frame.loc[g], extra, extra),
        "geom": shapely.to_wkb(shapely.set_srid(multi, 4326), hex=True, include_srid=True) if len(multi) else [],
    })
    return ValidatedBatch(records.reset_index(drop=True), reject_rows(frame, errors, table.row_numbers, table.row_label),
                          len(frame), mapping, notes)
