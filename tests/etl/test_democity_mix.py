"""The demo city's handling mix, recounted from the generated rows as the loader reads them.

Most cases close within their SLA, a backlog of recent reports is still being
handled, well under half of the open cases are overdue, and the streets of
neglect named in the manifest are the ones where overdue cases pile up.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

import geopandas
import pandas as pd
import pytest
import shapely

from etl import democity
from etl.incidents import validate_incidents
from etl.readers import read_table
from geodata import taxonomy

NOW = datetime(2026, 11, 22, 9, 0, tzinfo=timezone.utc)
# The full city's 10,000 grids (so streets have their real size), a third of its incidents.
CITY = {"grids": 10_000, "incidents": 60_000, "patrol_units": 1}


def recount(files, now: datetime) -> pd.DataFrame:
    """Every incident the loader would keep (first of each id per source), with due_at and its street."""
    frames = []
    for f in files:
        if f.kind == "incidents":
            table = read_table(f.path, sheet=f.options.get("sheet"))
            records = validate_incidents(table, crs=f.options.get("crs"), now=pd.Timestamp(now)).records
            frames.append(records.drop_duplicates("external_id").assign(source=f.options["source"]))
    rows = pd.concat(frames, ignore_index=True)
    streets = next(f.path for f in files if f.options.get("tier") == "street")
    street = geopandas.read_file(streets)
    index, where = shapely.STRtree(street.geometry.values.to_numpy()).query(
        shapely.points(rows["lon"], rows["lat"]), predicate="within")
    rows["street"] = None
    rows.loc[index, "street"] = street["code"].to_numpy()[where]
    return rows


def mix(rows: pd.DataFrame, now: datetime) -> dict:
    """On-time closure, open cases, overdue ones, and overdue cases per street (most first)."""
    closed = rows["status"].isin(taxonomy.CLOSED_STATUSES)
    open_ = rows["status"].isin(taxonomy.OPEN_STATUSES)
    overdue = open_ & (rows["due_at"] < pd.Timestamp(now))
    on_time = (rows.loc[closed, "resolved_at"] <= rows.loc[closed, "due_at"]).mean()
    return {"on_time": float(on_time), "open": int(open_.sum()), "overdue": int(overdue.sum()),
            "per_street": rows.loc[overdue, "street"].value_counts()}


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    out = tmp_path_factory.mktemp("democity_mix")
    files = democity.generate(out, now=NOW, **CITY)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    rows = recount(files, NOW)
    return files, manifest, mix(rows, NOW), rows


def test_most_cases_close_within_their_sla(city):
    assert 0.85 <= city[2]["on_time"] <= 0.95
    rows = city[3]
    closed = rows["status"].isin(taxonomy.CLOSED_STATUSES)
    assert closed.mean() > 0.95
    assert (rows.loc[closed, "resolved_at"] >= rows.loc[closed, "reported_at"]).all()
    assert rows.loc[~closed, "resolved_at"].isna().all()


def test_well_under_half_of_the_open_cases_are_overdue(city):
    counts = city[2]
    assert counts["overdue"] < 0.4 * counts["open"]


def test_recent_reports_are_still_being_handled(city):
    rows = city[3]
    recent = rows["reported_at"] >= pd.Timestamp(NOW) - pd.Timedelta(hours=6)
    assert recent.sum() > 20
    assert rows.loc[recent, "status"].isin(taxonomy.OPEN_STATUSES).mean() > 0.8
    # The backlog moves along the chain: every open step holds cases.
    assert set(rows.loc[rows["status"].isin(taxonomy.OPEN_STATUSES), "status"]) == set(taxonomy.OPEN_STATUSES)


def test_overdue_cases_pile_up_in_the_neglected_streets(city):
    _, manifest, counts, _ = city
    neglected = {s["code"] for s in manifest["neglected_streets"]}
    assert 2 <= len(neglected) <= 4
    per_street = counts["per_street"]
    top = per_street.index[: len(neglected)]
    assert set(top) == neglected
    # Each stands out: at least twice the overdue cases of any street that is not neglected.
    assert per_street[top].min() >= 2 * per_street.drop(top).max()
    assert per_street[top].sum() < counts["overdue"]  # neglect adds to the city's overdue, it is not all of it
