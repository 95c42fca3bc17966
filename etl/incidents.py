"""Incident validation: rows of a file in, typed records and row errors out (pure, no database).

Duplicate ids are found later, in the staging table, because they span chunks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import orjson
import pandas as pd

from etl.columns import map_columns
from etl.coords import wgs84_points
from etl.readers import Table
from etl.rejects import RowErrors, reject_rows
from etl.timestamps import parse_timestamps
from geodata import taxonomy
from geodata.bulk import NUL, without_nul
from geodata.errors import BatchRefused
from geodata.h3cells import lonlat_to_cell_columns

CANONICAL = ("id", "category", "reported_at", "lon", "lat", "wkt", "severity", "status", "resolved_at",
             "description", "reporter_name", "reporter_phone")
PII_FIELDS = ("reporter_name", "reporter_phone")
_SLA_HOURS = {code: category.sla_hours for code, category in taxonomy.CATEGORIES.items()}


@dataclass
class ValidatedBatch:
    """What validation made of (a chunk of) a file: the records to load and the rows rejected."""

    records: pd.DataFrame
    rejects: pd.DataFrame
    read: int
    mapping: dict[str, str]
    notes: list[str] = field(default_factory=list)


def _text(frame: pd.DataFrame, mapping: dict[str, str], name: str) -> pd.Series:
    if name not in mapping:
        return pd.Series("", index=frame.index, dtype=object)
    return frame[mapping[name]].fillna("").astype(str).str.strip()


def _severity(text: pd.Series, errors: RowErrors) -> pd.Series:
    value = pd.to_numeric(text.where(text != ""), errors="coerce")
    bad = (text != "") & ~value.isin([1, 2, 3, 4])
    errors.add(bad, "severity '" + text + "' is not one of 1, 2, 3, 4")
    return value.where(~bad).astype("Int16")


def json_column(frame: pd.DataFrame, columns: list[str], names: list[str]) -> list[str] | str:
    """One JSON object per row of the given columns, empty values left out."""
    if not columns:
        return "{}"
    values = frame[columns].fillna("").astype(str).to_numpy()
    if NUL in "".join(values.ravel().tolist()):  # one C-speed scan; jsonb refuses \u0000
        values = np.vectorize(without_nul, otypes=[object])(values)
    return [orjson.dumps({k: v for k, v in zip(names, row) if v != ""}).decode() for row in values]


def required_mapping(headers: list[str], canonical: tuple[str, ...], required: tuple[str, ...],
                     fields: dict[str, str] | None) -> dict[str, str]:
    """The column of each canonical field; a file without a required field or without coordinates is refused."""
    mapping = map_columns([h for h in headers if h != "geometry"], canonical, fields)
    has_coordinates = ("lon" in mapping and "lat" in mapping) or "wkt" in mapping or "geometry" in headers
    missing = [c for c in required if c not in mapping]
    if not has_coordinates:
        missing += [c for c in ("lon", "lat") if c not in mapping]
    if missing:
        raise BatchRefused(
            f"the file has no column for {', '.join(missing)} (columns: {', '.join(h for h in headers if h != 'geometry')}); "
            "name them with --field " + " ".join(f"{c}=COLUMN" for c in missing)
        )
    if "lon" in mapping and "lat" not in mapping or "lat" in mapping and "lon" not in mapping:
        mapping.pop("lon", None), mapping.pop("lat", None)
    return mapping


def validate_incidents(
    table: Table,
    *,
    fields: dict[str, str] | None = None,
    crs: str | None = None,
    extent: tuple[float, float, float, float] | None = None,
    extent_name: str = "the city's extent",
    now: pd.Timestamp | None = None,
    allow_other: bool = False,
) -> ValidatedBatch:
    """Check every row of an incidents table; returns the records to load and the rejects."""
    frame = table.frame
    mapping = required_mapping(list(map(str, frame.columns)), CANONICAL, ("id", "category", "reported_at"), fields)
    errors = RowErrors(frame.index, table.problems)

    external_id = _text(frame, mapping, "id")
    errors.add(external_id == "", "id is empty")

    raw_category = _text(frame, mapping, "category")
    category = taxonomy.category_codes(raw_category)
    if allow_other:
        category = category.fillna("other")
    else:
        errors.add(category.isna(), "unknown category '" + raw_category + "'; use a taxonomy code or name, or load with --allow-other")

    reported_at, reason = parse_timestamps(_text(frame, mapping, "reported_at"), now=now, field="reported_at")
    errors.add(reason.notna(), reason)
    resolved_text = _text(frame, mapping, "resolved_at")
    resolved_at, reason = parse_timestamps(resolved_text, now=now, field="resolved_at")
    errors.add(reason.notna() & (resolved_text != ""), reason)

    reported_text = _text(frame, mapping, "reported_at")
    errors.add(resolved_at.notna() & reported_at.notna() & (resolved_at < reported_at),
               lambda: "resolved_at '" + resolved_text + "' is before reported_at '" + reported_text
               + "': an incident is resolved after it is reported; check both times")

    raw_status = _text(frame, mapping, "status")
    status = taxonomy.status_codes(raw_status).where(raw_status != "", "reported")
    errors.add(status.isna(), "unknown status '" + raw_status + "'")

    lon, lat = wgs84_points(table, mapping, crs, extent, extent_name, errors)
    severity = _severity(_text(frame, mapping, "severity"), errors)

    good = (~errors.rejected).to_numpy()
    g = frame.index[good]
    records = pd.DataFrame({
        "row_no": table.row_numbers[g].astype(np.int64),
        "external_id": external_id[g],
        "category": category[g],
        "severity": severity[g],
        "status": status[g],
        "reported_at": reported_at[g],
        "resolved_at": resolved_at[g],
        "due_at": reported_at[g] + pd.to_timedelta(category[g].map(_SLA_HOURS).astype(float), unit="h"),
        "description": _text(frame, mapping, "description")[g].replace("", None),
        "lon": lon[g],
        "lat": lat[g],
    })
    for name, cells in lonlat_to_cell_columns(records["lon"].to_numpy(), records["lat"].to_numpy()).items():
        records[name] = cells
    mapped = set(mapping.values())
    extra = [c for c in frame.columns if c not in mapped and c != "geometry"]
    records["attrs"] = json_column(frame.loc[g], extra, extra)
    present = [p for p in PII_FIELDS if p in mapping]
    records["pii"] = json_column(frame.loc[g], [mapping[p] for p in present], present)
    return ValidatedBatch(records.reset_index(drop=True), reject_rows(frame, errors, table.row_numbers, table.row_label),
                          len(frame), mapping)
