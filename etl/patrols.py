"""Patrol ping validation: a unit, a time and a point per row (pure)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from etl.coords import wgs84_points
from etl.incidents import ValidatedBatch, _text, required_mapping
from etl.readers import Table
from etl.rejects import RowErrors, reject_rows
from etl.timestamps import parse_timestamps
from geodata.h3cells import latlng_to_cells

CANONICAL = ("unit_id", "ts", "lon", "lat", "wkt")


def validate_patrols(table: Table, *, fields: dict[str, str] | None = None, crs: str | None = None, extent=None,
                     extent_name: str = "the city's extent", now: pd.Timestamp | None = None) -> ValidatedBatch:
    """Check every ping; returns the records to load and the rejects."""
    frame = table.frame
    mapping = required_mapping(list(map(str, frame.columns)), CANONICAL, ("unit_id", "ts"), fields)
    errors = RowErrors(frame.index, table.problems)
    unit = _text(frame, mapping, "unit_id")
    errors.add(unit == "", "unit_id is empty")
    ts, reason = parse_timestamps(_text(frame, mapping, "ts"), now=now, field="ts")
    errors.add(reason.notna(), reason)
    lon, lat = wgs84_points(table, mapping, crs, extent, extent_name, errors)
    g = frame.index[(~errors.rejected).to_numpy()]
    records = pd.DataFrame({"row_no": table.row_numbers[g].astype(np.int64), "unit_id": unit[g], "ts": ts[g],
                            "lon": lon[g], "lat": lat[g]})
    records["h3_r10"] = latlng_to_cells(records["lat"].to_numpy(), records["lon"].to_numpy(), 10)
    return ValidatedBatch(records.reset_index(drop=True), reject_rows(frame, errors, table.row_numbers, table.row_label),
                          len(frame), mapping)
