"""The wall's panels on the five-tier city, checked against the incidents and pings the test wrote itself."""

from datetime import datetime, timedelta

import h3
import numpy as np
import pytest
import shapely
from pyproj import Transformer

from etl.load import load_incidents
from geodata.scope import Scope
from geodata.taxonomy import CATEGORIES
from layers import panels
from layers.base import Filters
from tests.helpers import write_csv
from layers.base import BEIJING
from tests.layers.tiers import CITY

EVERYTHING = Scope.everything()
TO_METRES = Transformer.from_crs("EPSG:4326", "EPSG:32651", always_xy=True).transform  # UTM 51N: Hangzhou's zone

# The newest reports of the city, newer than any of tiers.py's (those are at least an hour old), with reporters.
REPORTERS = [  # (minutes before now, category, lon, lat, name, phone)
    (2, "fire_safety", 120.05, 30.05, "张三丰", "13812341234"),
    (5, "dispute", 120.35, 30.35, "李四", "0571-88881234"),
    (9, "traffic_safety", 120.15, 30.25, "欧阳娜娜", ""),
    (14, "dispute", 120.25, 30.15, "", "15900001111"),
    (20, "city_management", 120.05, 30.35, "王", "110"),
]
MASKED = [("张**", "138****1234"), ("李*", "********1234"), ("欧***", ""), ("", "159****1111"), ("王", "***")]


@pytest.fixture(scope="module")
def wall_city(city, tmp_path_factory):
    """The five-tier city plus five fresh reports carrying a reporter's name and phone."""
    boxes, written, now = city
    folder = tmp_path_factory.mktemp("reporters")
    rows = [[f"R{i}", cat, f"{now - timedelta(minutes=m):%Y-%m-%d %H:%M:%S}", lon, lat, "reported", name, phone]
            for i, (m, cat, lon, lat, name, phone) in enumerate(REPORTERS)]
    before = datetime.now(BEIJING)
    load_incidents(write_csv(folder / "reporters.csv", rows, header=(
        "id", "category", "reported_at", "lon", "lat", "status", "reporter_name", "reporter_phone")), source="hotline")
    after = datetime.now(BEIJING)
    incidents = {
        "reported": np.concatenate([written["reported"], [now - timedelta(minutes=r[0]) for r in REPORTERS]]),
        "status": np.concatenate([written["status"], ["reported"] * len(REPORTERS)]),
        "category": np.concatenate([written["category"], [r[1] for r in REPORTERS]]),
        "lon": np.concatenate([written["lon"], [r[2] for r in REPORTERS]]),
    }
    return boxes, incidents, now, (before, after)


def _metres(geometry):
    return shapely.transform(geometry, lambda xy: np.column_stack(TO_METRES(xy[:, 0], xy[:, 1])))


def _open(status):
    return ~np.isin(status, ["verified", "closed"])


def test_headline_counts_today_open_overdue_and_the_resolved_share_of_thirty_days(wall_city):
    _, inc, now, _ = wall_city
    got = panels.headline(Filters(), EVERYTHING, now=now)
    midnight = now.replace(hour=0, minute=0, second=0)
    due = np.array([r + timedelta(hours=CATEGORIES[c].sla_hours) for r, c in zip(inc["reported"], inc["category"])])
    first = midnight - timedelta(days=29)
    recent = (inc["reported"] >= first) & (inc["reported"] < now)
    assert got["today"] == int(((inc["reported"] >= midnight) & (inc["reported"] < now)).sum())
    assert got["open"] == int(_open(inc["status"]).sum())
    assert got["overdue"] == int((_open(inc["status"]) & (due < now)).sum())
    assert got["recent"] == int(recent.sum())
    assert got["resolved_share"] == pytest.approx((recent & ~_open(inc["status"])).sum() / recent.sum(), abs=5e-5)


def test_headline_patrol_share_is_the_visited_part_of_the_whole_city_area(wall_city):
    _, _, now, _ = wall_city
    rng = np.random.default_rng(11)  # tiers.write_pings' own seed and draws: the pings the city fixture loaded
    n = 400
    lon = np.concatenate([rng.uniform(120.01, 120.09, n), rng.uniform(120.31, 120.39, n // 4)])
    lat = np.concatenate([rng.uniform(30.01, 30.39, n), rng.uniform(30.31, 30.39, n // 4)])
    cells = {h3.latlng_to_cell(round(y, 6), round(x, 6), 10) for x, y in zip(lon, lat)}
    visited = shapely.union_all([shapely.Polygon([(x, y) for y, x in h3.cell_to_boundary(c)]) for c in cells])
    city = shapely.box(*CITY)
    expected = _metres(visited.intersection(city)).area / _metres(city).area
    got = panels.headline(Filters(), EVERYTHING, now=now)["patrol_share"]
    assert got == pytest.approx(expected, abs=2e-4)
    assert got > 0


def test_headline_of_a_district_counts_only_the_incidents_inside_it(wall_city):
    boxes, inc, now, _ = wall_city
    west, _, east, _ = boxes["district"]["C1"]
    inside = (inc["lon"] >= west) & (inc["lon"] < east)
    got = panels.headline(Filters(area_code="C1"), EVERYTHING, now=now)
    assert got["open"] == int((inside & _open(inc["status"])).sum())
    assert got["open"] < panels.headline(Filters(), EVERYTHING, now=now)["open"]


def test_daily_trend_counts_every_beijing_day_of_the_window_quiet_days_included(wall_city):
    _, inc, now, _ = wall_city
    trend = panels.daily_trend(Filters(), EVERYTHING, days=30, now=now)
    days = [now.date() - timedelta(days=29 - k) for k in range(30)]
    assert [d for d, _ in trend] == days
    beijing_days = np.array([r.astimezone(BEIJING).date() for r in inc["reported"]])
    assert [n for _, n in trend] == [int((beijing_days == d).sum()) for d in days]
    # A window reaching back before the first incident reports those days as zero, not missing.
    long = panels.daily_trend(Filters(), EVERYTHING, days=40, now=now)
    assert len(long) == 40 and [n for _, n in long[:9]] == [0] * 9


def test_category_breakdown_counts_the_same_days_largest_first(wall_city):
    _, inc, now, _ = wall_city
    got = panels.category_breakdown(Filters(), EVERYTHING, days=30, now=now)
    first = now.replace(hour=0, minute=0, second=0) - timedelta(days=29)
    keep = inc["reported"] >= first
    codes, counts = np.unique(inc["category"][keep], return_counts=True)
    assert sorted(got) == sorted(zip(codes.tolist(), counts.tolist()))
    assert [n for _, n in got] == sorted((n for _, n in got), reverse=True)
    narrowed = panels.category_breakdown(Filters(categories=("dispute",)), EVERYTHING, days=30, now=now)
    assert narrowed == [("dispute", int((inc["category"][keep] == "dispute").sum()))]


def test_latest_incidents_come_newest_first_with_the_reporter_masked(wall_city):
    boxes, inc, now, _ = wall_city
    latest = panels.latest_incidents(Filters(), EVERYTHING, n=8, now=now)
    assert len(latest) == 8
    assert [r["id"] for r in latest[:5]] == [f"hotline:R{i}" for i in range(5)]
    assert [(r["reporter"], r["phone"]) for r in latest[:5]] == MASKED
    grid_of = {i: next(code for code, (w, s, e, n) in boxes["grid"].items() if w <= lon < e and s <= lat < n)
               for i, (_, _, lon, lat, _, _) in enumerate(REPORTERS)}
    assert [(r["grid_code"], r["grid_name"]) for r in latest[:5]] == [(grid_of[i], f"区域{grid_of[i]}") for i in range(5)]
    assert [r["reported_at"] for r in latest] == sorted(inc["reported"], reverse=True)[:8]
    text = repr(latest)
    for _, _, _, _, name, phone in REPORTERS:
        assert (len(name) < 2 or name not in text) and (len(phone) < 5 or phone not in text)


def test_latest_incidents_follow_the_chosen_area(wall_city):
    boxes, _, now, _ = wall_city
    latest = panels.latest_incidents(Filters(area_code="C2"), EVERYTHING, n=3, now=now)
    assert [r["id"] for r in latest[:2]] == ["hotline:R1", "hotline:R3"]
    assert all(r["grid_code"].startswith("C2") for r in latest)


def test_data_as_of_is_the_newest_load_that_went_through(wall_city, conn):
    _, _, _, (before, after) = wall_city
    assert before <= panels.data_as_of() <= after
    # A refused batch and one still running say nothing about how fresh the data is.
    conn.execute("INSERT INTO shiyu.load_batch (kind, source, file_name, file_sha256, status, finished_at) VALUES "
                 "('incidents', 't', 'bad.csv', 'x', 'refused', now() + interval '1 hour'), "
                 "('incidents', 't', 'running.csv', 'y', 'loaded', NULL)")
    try:
        assert before <= panels.data_as_of() <= after
    finally:
        conn.execute("DELETE FROM shiyu.load_batch WHERE source = 't'")


def test_the_open_tiles_read_the_partial_index_of_open_incidents_and_its_predicate_is_the_taxonomys(wall_city, conn):
    """Migrations 0009 and 0013 write the closed statuses out; if the taxonomy changes, the indexes must change too."""
    from geodata.taxonomy import CLOSED_STATUSES

    for index in ("incident_open_idx", "incident_open_grid_idx"):
        predicate = conn.execute("SELECT pg_get_expr(x.indpred, x.indrelid) FROM pg_index x "
                                 "WHERE x.indexrelid = %s::regclass", (f"shiyu.{index}",)).fetchone()[0]
        assert sorted(predicate.split("'")[1::2]) == sorted(s for s in CLOSED_STATUSES)
    with conn.transaction():
        conn.execute("SET LOCAL enable_seqscan = off")
        plan = "\n".join(r[0] for r in conn.execute(
            "EXPLAIN " + panels.HEADLINE_OPEN,
            {"closed": list(CLOSED_STATUSES), "now": datetime.now(BEIJING), "scope": None, "since": None, "until": None,
             "categories": [], "severities": [], "statuses": []}))
    assert "incident_open_idx" in plan or "incident_open_grid_idx" in plan, plan  # either: their predicate matched


def test_the_open_count_reads_the_street_roll_ups_rows_of_every_category_from_their_own_index(wall_city, conn):
    """Migration 0020: the open tile sums every day's rows of category '' of shiyu.incident_day_street."""
    from geodata.taxonomy import CLOSED_STATUSES

    with conn.transaction(force_rollback=True):
        conn.execute("SET LOCAL enable_seqscan = off")
        conn.execute("ALTER TABLE shiyu.incident_day_street DROP CONSTRAINT incident_day_street_pkey")
        plan = "\n".join(r[0] for r in conn.execute(
            "EXPLAIN " + panels.OPEN_BY_DAY, {"closed": list(CLOSED_STATUSES), "scope": None, "categories": [],
                                              "cube_categories": [""]}))
    assert "incident_day_street_all_idx" in plan, plan


def test_arrivals_are_the_recent_reports_of_the_batches_applied_since_and_not_old_reports_changed(wall_city, conn,
                                                                                                   tmp_path):
    """Last in this module: it adds a report and changes two (the wall marks what arrives, dashboard/pages/wall.py)."""
    before = panels.data_as_of()
    assert panels.arrivals(Filters(), EVERYTHING, seconds=3600, after=before) == []
    old = conn.execute("SELECT external_id, category, reported_at, ST_X(geom), ST_Y(geom) FROM shiyu.incident "
                       "WHERE source = 'tiers' AND status = 'reported' AND reported_at < now() - interval '2 days' "
                       "ORDER BY external_id LIMIT 1").fetchone()
    header = ("id", "category", "reported_at", "lon", "lat", "status")
    stamp = lambda moment: f"{moment.astimezone(BEIJING):%Y-%m-%d %H:%M:%S}"  # noqa: E731
    load_incidents(write_csv(tmp_path / "old.csv", [[old[0], old[1], stamp(old[2]), old[3], old[4], "registered"]],
                             header=header), source="tiers")
    _, category, lon, lat = REPORTERS[0][:4]
    load_incidents(write_csv(tmp_path / "new.csv", [
        ["R0", category, stamp(wall_city[2] - timedelta(minutes=REPORTERS[0][0])), lon, lat, "registered"],
        ["N1", "public_order", stamp(datetime.now(BEIJING) - timedelta(minutes=1)), 120.35, 30.35, "reported"],
    ], header=header), source="hotline")

    arrived = panels.arrivals(Filters(), EVERYTHING, seconds=3600, after=before)
    # The new report and the recent one whose status moved; the two-day-old one changed too, but is no arrival.
    assert [a["id"] for a in arrived] == ["hotline:N1", "hotline:R0"]
    assert arrived[0]["category"] == "public_order" and (arrived[0]["lon"], arrived[0]["lat"]) == (120.35, 30.35)
    assert all(0 <= a["age_s"] < 3600 for a in arrived)
    assert [a["id"] for a in panels.arrivals(Filters(area_code="C2"), EVERYTHING, seconds=3600, after=before)] == \
        ["hotline:N1"]
    assert panels.arrivals(Filters(), EVERYTHING, seconds=3600, after=panels.data_as_of()) == []
