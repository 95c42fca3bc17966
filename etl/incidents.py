"""Incident validation: rows of a file in, typed records and row errors out (pure, no database)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import orjson
import pandas as pd

from etl.columns import map_columns
from etl.readers import Table
from etl.rejects import RowErrors, reject_rows
from etl.timestamps import parse_timestamps
from geodata import taxonomy
from geodata.crs import to_wgs84
from geodata.errors import BatchRefused
from geodata.h3cells import lonlat_to_cell_columns

CANONICAL = ("id", "category", "reported_at", "lon", "lat", "severity", "status", "resolved_at",
             "description", "reporter_name", "reporter_phone")
PII_FIELDS = ("reporter_name", "reporter_phone")
CHINA_EXTENT = (73.4, 18.1, 135.1, 53.6)  # lon_min, lat_min, lon_max, lat_max

RECORD_COLUMNS = ("external_id", "category", "severity", "status", "reported_at", "resolved_at", "due_at",
                  "description", "lon", "lat", "h3_r7", "h3_r8", "h3_r9", "h3_r10", "attrs", "pii")


@dataclass
class ValidatedBatch:
    """What validation made of a file: the records to load and the rows rejected."""

    records: pd.DataFrame
    rejects: pd.DataFrame
    read: int
    mapping: dict[str, str]
    notes: list[str] = field(default_factory=list)


def _text(frame: pd.DataFrame, mapping: dict[str, str], name: str) -> pd.Series:
    if name not in mapping:
        return pd.Series("", index=frame.index, dtype=object)
    return frame[mapping[name]].fillna("").astype(str).str.strip()


def check_coordinates(lon: pd.Series, lat: pd.Series, raw: str | pd.Series,
                      extent: tuple[float, float, float, float], extent_name: str, errors: RowErrors) -> None:
    """Reject non-numbers, (0, 0), swapped axes and points outside the extent; ``raw`` quotes the input."""
    missing = lon.isna() | lat.isna()
    errors.add(missing, "coordinates " + raw + " are not numbers")
    x0, y0, x1, y1 = extent
    zero = ~missing & (lon.abs() < 1e-9) & (lat.abs() < 1e-9)
    errors.add(zero, "coordinates are (0, 0): the point was never geocoded")
    inside = lon.between(x0, x1) & lat.between(y0, y1)
    swapped = ~missing & ~zero & ~inside & lat.between(x0, x1) & lon.between(y0, y1)
    errors.add(swapped, "latitude and longitude look swapped in " + raw
               + "; swap the columns or map them with --field lon=… --field lat=…")
    outside = ~missing & ~zero & ~inside & ~swapped
    errors.add(outside, "point " + raw + f" is outside {extent_name} (lon {x0:.3f} to {x1:.3f}, lat {y0:.3f} to {y1:.3f})")


def _severity(text: pd.Series, errors: RowErrors) -> pd.Series:
    value = pd.to_numeric(text.where(text != ""), errors="coerce")
    bad = (text != "") & ~value.isin([1, 2, 3, 4])
    errors.add(bad, "severity '" + text + "' is not one of 1, 2, 3, 4")
    return value.where(~bad).astype("Int16")


def _json_column(frame: pd.DataFrame, columns: list[str], names: list[str]) -> list[str]:
    if not columns:
        return ["{}"] * len(frame)
    values = frame[columns].astype(str).to_numpy()
    return [orjson.dumps({k: v for k, v in zip(names, row) if v != ""}).decode() for row in values]


def validate_incidents(
    table: Table,
    *,
    fields: dict[str, str] | None = None,
    crs: str = "wgs84",
    extent: tuple[float, float, float, float] | None = None,
    extent_name: str = "the city's extent",
    now: pd.Timestamp | None = None,
    allow_other: bool = False,
) -> ValidatedBatch:
    """Check every row of an incidents table; returns the records to load and the rejects."""
    frame = table.frame
    mapping = map_columns(list(frame.columns), CANONICAL, fields)
    missing = [c for c in ("id", "category", "reported_at", "lon", "lat") if c not in mapping]
    if missing:
        raise BatchRefused(
            f"the file has no column for {', '.join(missing)} (columns: {', '.join(map(str, frame.columns))}); "
            "name them with --field " + " ".join(f"{c}=COLUMN" for c in missing)
        )
    errors = RowErrors(frame.index)

    external_id = _text(frame, mapping, "id")
    errors.add(external_id == "", "id is empty")
    first_line = table.row_numbers.groupby(external_id).transform("first")
    dup = (external_id != "") & external_id.duplicated(keep="first")
    errors.add(dup, "duplicate id '" + external_id + "' (first at " + table.row_label + " " + first_line.astype(str) + ")")

    raw_category = _text(frame, mapping, "category")
    category = taxonomy.category_codes(raw_category)
    unknown = category.isna()
    if allow_other:
        category = category.fillna("other")
    else:
        errors.add(unknown, "unknown category '" + raw_category + "'; use a taxonomy code or name, or load with --allow-other")

    reported_at, reason = parse_timestamps(_text(frame, mapping, "reported_at"), now=now, field="reported_at")
    errors.add(reason.notna(), reason)
    resolved_text = _text(frame, mapping, "resolved_at")
    resolved_at, reason = parse_timestamps(resolved_text.where(resolved_text != ""), now=now, field="resolved_at")
    errors.add(reason.notna() & (resolved_text != ""), reason)

    raw_status = _text(frame, mapping, "status")
    status = taxonomy.status_codes(raw_status).where(raw_status != "", "reported")
    errors.add(status.isna(), "unknown status '" + raw_status + "'")

    raw_lon, raw_lat = _text(frame, mapping, "lon"), _text(frame, mapping, "lat")
    lon_in = pd.to_numeric(raw_lon, errors="coerce").to_numpy(dtype=float)
    lat_in = pd.to_numeric(raw_lat, errors="coerce").to_numpy(dtype=float)
    lon_w, lat_w = to_wgs84(lon_in, lat_in, crs)
    lon = pd.Series(lon_w, index=frame.index)
    lat = pd.Series(lat_w, index=frame.index)
    check_coordinates(lon, lat, "(" + raw_lon + ", " + raw_lat + ")", extent or CHINA_EXTENT,
                      extent_name if extent else "China", errors)

    severity = _severity(_text(frame, mapping, "severity"), errors)

    good = ~errors.rejected
    g = frame.index[good]
    sla = category[good].map({c: cat.sla_hours for c, cat in taxonomy.CATEGORIES.items()})
    records = pd.DataFrame({
        "external_id": external_id[g],
        "category": category[g],
        "severity": severity[g],
        "status": status[g],
        "reported_at": reported_at[g],
        "resolved_at": resolved_at[g],
        "due_at": reported_at[g] + pd.to_timedelta(sla.astype(float), unit="h"),
        "description": _text(frame, mapping, "description")[g].replace("", None),
        "lon": lon[g],
        "lat": lat[g],
    })
    for name, cells in lonlat_to_cell_columns(records["lon"].to_numpy(), records["lat"].to_numpy()).items():
        records[name] = cells
    mapped = set(mapping.values())
    extra = [c for c in frame.columns if c not in mapped and c != "geometry"]
    records["attrs"] = _json_column(frame.loc[g], extra, extra)
    pii_cols = [mapping[p] for p in PII_FIELDS if p in mapping]
    records["pii"] = _json_column(frame.loc[g], pii_cols, [p for p in PII_FIELDS if p in mapping])
    return ValidatedBatch(
        records=records.reset_index(drop=True),
        rejects=reject_rows(frame, errors, table.row_numbers, table.row_label),
        read=len(frame),
        mapping=mapping,
    )
