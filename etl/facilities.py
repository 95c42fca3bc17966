"""Facility validation: points with a type from the taxonomy, a name and a service radius (pure)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from etl.coords import wgs84_points
from etl.incidents import ValidatedBatch, _text, json_column, required_mapping
from etl.readers import Table
from etl.rejects import RowErrors, reject_rows
from geodata import taxonomy
from geodata.h3cells import latlng_to_cells

CANONICAL = ("id", "type", "name", "lon", "lat", "wkt", "service_radius_m")
_DEFAULT_RADIUS = {code: t.service_radius_m for code, t in taxonomy.FACILITY_TYPES.items()}
_NAME_ZH = {code: t.name_zh for code, t in taxonomy.FACILITY_TYPES.items()}


def validate_facilities(table: Table, *, fields: dict[str, str] | None = None, crs: str | None = None,
                        extent=None, extent_name: str = "the city's extent") -> ValidatedBatch:
    """Check every row of a facilities table; returns the records to load and the rejects."""
    frame = table.frame
    mapping = required_mapping(list(map(str, frame.columns)), CANONICAL, ("id", "type"), fields)
    errors = RowErrors(frame.index, table.problems)
    external_id = _text(frame, mapping, "id")
    errors.add(external_id == "", "id is empty")
    raw_type = _text(frame, mapping, "type")
    kind = taxonomy.facility_type_codes(raw_type)
    errors.add(kind.isna(), lambda: "unknown facility type '" + raw_type + "'; known: " + ", ".join(taxonomy.FACILITY_TYPES))
    radius_text = _text(frame, mapping, "service_radius_m")
    radius = pd.to_numeric(radius_text.where(radius_text != ""), errors="coerce")
    errors.add((radius_text != "") & ~((radius > 0) & np.isfinite(radius)), lambda: "service radius '" + radius_text + "' is not a positive number of metres")
    lon, lat = wgs84_points(table, mapping, crs, extent, extent_name, errors)

    g = frame.index[(~errors.rejected).to_numpy()]
    name = _text(frame, mapping, "name")[g]
    records = pd.DataFrame({
        "row_no": table.row_numbers[g].astype(np.int64),
        "external_id": external_id[g],
        "type": kind[g],
        "name": name.where(name != "", kind[g].map(_NAME_ZH) + external_id[g]),
        "service_radius_m": radius[g].fillna(kind[g].map(_DEFAULT_RADIUS)).astype(float),
        "lon": lon[g],
        "lat": lat[g],
    })
    records["h3_r9"] = latlng_to_cells(records["lat"].to_numpy(), records["lon"].to_numpy(), 9)
    extra = [c for c in frame.columns if c not in set(mapping.values()) and c != "geometry"]
    records["attrs"] = json_column(frame.loc[g], extra, extra)
    return ValidatedBatch(records.reset_index(drop=True), reject_rows(frame, errors, table.row_numbers, table.row_label),
                          len(frame), mapping)
