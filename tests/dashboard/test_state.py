"""A view's state read from and written to its URL."""

import re
from datetime import date, datetime, timedelta, timezone

import pytest

from dashboard.state import ViewState, parse
from geodata.errors import InputError
from geodata.taxonomy import CATEGORIES, STATUSES
from layers.base import BEIJING, Filters

FULL = ("?lang=en&layer=hotspots&res=9&area=330106&since=2026-10-01&until=2026-10-31&cat=dispute,fire_safety"
        "&sev=3,4&status=reported&lat=30.25&lon=120.15&z=13")
FULL_STATE = ViewState(lang="en", layer="hotspots", res=9, area="330106", since=date(2026, 10, 1),
                       until=date(2026, 10, 31), categories=("dispute", "fire_safety"), severities=(3, 4),
                       statuses=("reported",), lat=30.25, lon=120.15, zoom=13.0)


def test_a_full_query_string_sets_every_part_of_the_view():
    assert parse(FULL) == FULL_STATE
    assert parse(FULL.lstrip("?")) == FULL_STATE


def test_dashs_page_arguments_set_the_same_view_and_the_last_of_a_repeated_key_wins():
    # Dash passes each key's value as a string, or a list of strings when the key is repeated.
    arguments = {"lang": "en", "layer": "hotspots", "res": "9", "area": "330106", "since": "2026-10-01",
                 "until": "2026-10-31", "cat": "dispute,fire_safety", "sev": ["1", "3,4"], "status": "reported",
                 "lat": " 30.25 ", "lon": "120.15", "z": "13"}
    assert parse(arguments) == FULL_STATE
    assert parse(f"{FULL}&layer=coverage").layer == "coverage"


@pytest.mark.parametrize("empty", ["", "?", {}, "?unknown=1&utm_source=wechat", {"layer": "", "cat": ""}, {"sev": []}])
def test_an_empty_query_is_the_default_view(empty):
    assert parse(empty) == ViewState()
    assert ViewState().query() == ""


ROUND_TRIPS = [
    ViewState(),
    FULL_STATE,
    ViewState(lang="zh-CN"),
    ViewState(layer="warnings", res=10),
    ViewState(layer="areas", area="C1212"),
    ViewState(area="330106_001", since=date(2026, 2, 28), until=date(2026, 3, 1)),
    ViewState(since=date(2025, 12, 31)),
    ViewState(until=date(2026, 1, 1)),
    ViewState(since=date(2026, 5, 5), until=date(2026, 5, 5)),
    ViewState(categories=("petition", "dispute", "other"), severities=(4, 1), statuses=("closed", "registered")),
    ViewState(layer="facilities", lat=30.27415, lon=120.15515, zoom=15.5),
    ViewState(lat=0.0, lon=0.0, zoom=0.0),
    ViewState(lat=-33.86785, lon=151.20732, zoom=22.0),
    ViewState(layer="emerging", res=7, lat=90.0, lon=-180.0, zoom=3.25),
]


@pytest.mark.parametrize("state", ROUND_TRIPS, ids=lambda s: s.query() or "default")
def test_a_state_read_back_from_its_own_query_is_the_same_state(state):
    assert parse(state.query()) == state


def test_query_applies_changes_and_leaves_defaults_out():
    assert FULL_STATE.query(layer="hexes", res=None, lat=None, lon=None, zoom=None, categories=(), severities=()) == (
        "?lang=en&area=330106&since=2026-10-01&until=2026-10-31&status=reported")
    assert parse(FULL_STATE.query(layer="coverage")) == ViewState(**{**FULL_STATE.__dict__, "layer": "coverage"})
    assert ViewState().query(area="C1") == "?area=C1"
    assert ViewState(layer="hexes").query() == ""


@pytest.mark.parametrize("query, expected", [
    ("?layer=nope", ViewState()),
    ("?layer=HEXES&lang=fr", ViewState()),
    ("?lang=EN", ViewState()),
    ("?cat=dispute,nope,fire_safety,dispute", ViewState(categories=("dispute", "fire_safety"))),
    ("?cat=Dispute,消防,", ViewState()),
    ("?status=unknown,closed,,closed", ViewState(statuses=("closed",))),
    ("?sev=0,5,-1,x,3,3,2.0", ViewState(severities=(3,))),
    ("?sev=²,³", ViewState()),  # digits to Unicode, but not numbers to int()
    ("?res=6", ViewState()),
    ("?res=11", ViewState()),
    ("?res=9.0&layer=hotspots", ViewState(layer="hotspots")),
    ("?res=auto", ViewState()),
    ("?since=2026-13-01&until=2026-02-30", ViewState()),
    ("?since=yesterday&until=2026-10-31", ViewState(until=date(2026, 10, 31))),
    ("?since=2026-10-01T08:00:00", ViewState()),
    ("?lat=30.25", ViewState()),
    ("?lon=120.15&z=12", ViewState()),
    ("?lat=30.25&lon=200&z=12", ViewState()),
    ("?lat=-91&lon=120.15", ViewState()),
    ("?lat=nan&lon=120.15", ViewState()),
    ("?lat=30.25&lon=inf", ViewState()),
    ("?lat=30.25&lon=120.15&z=23", ViewState(lat=30.25, lon=120.15)),
    ("?lat=30.25&lon=120.15&z=-1", ViewState(lat=30.25, lon=120.15)),
    ("?lat=30.25&lon=120.15&z=close", ViewState(lat=30.25, lon=120.15)),
    ("?area=330106'%20OR%20'1'='1", ViewState()),
    ("?area=330106;DROP%20TABLE%20shiyu.area", ViewState()),
    ("?area=330106--", ViewState()),
    ("?area=" + "3" * 65, ViewState()),
    ("?since=2026-10-31&until=2026-10-01", ViewState(since=date(2026, 10, 1), until=date(2026, 10, 31))),
    # a day the window cannot end after: the midnight following it does not exist
    ("?until=9999-12-31", ViewState()),
])
def test_values_the_page_cannot_use_are_dropped_not_errors(query, expected):
    state = parse(query)
    assert state == expected
    Filters(**state.filter_args())  # and what is left always makes valid filters


def test_only_the_bad_value_is_dropped_the_rest_of_the_view_stays():
    state = parse(FULL.replace("res=9", "res=11").replace("sev=3,4", "sev=3,9").replace("area=330106", "area=33;0106"))
    assert state == ViewState(**{**FULL_STATE.__dict__, "res": None, "severities": (3,), "area": None})


def test_filter_args_are_beijing_midnights_with_until_inclusive():
    args = FULL_STATE.filter_args()
    assert args == {"area_code": "330106", "since": datetime(2026, 10, 1, tzinfo=BEIJING),
                    "until": datetime(2026, 11, 1, tzinfo=BEIJING), "categories": ("dispute", "fire_safety"),
                    "severities": (3, 4), "statuses": ("reported",)}
    assert args["since"] == datetime(2026, 9, 30, 16, tzinfo=timezone.utc)
    assert args["until"] == datetime(2026, 10, 31, 16, tzinfo=timezone.utc)  # the midnight after the last day
    filters = Filters(bbox=(120.0, 30.0, 120.4, 30.4), **args)
    assert (filters.since, filters.until, filters.area_code) == (args["since"], args["until"], "330106")
    assert filters.until - filters.since == timedelta(days=31)


def test_one_day_is_a_window_of_24_hours_and_open_ends_stay_open():
    one_day = ViewState(since=date(2026, 3, 1), until=date(2026, 3, 1)).filter_args()
    assert (one_day["since"], one_day["until"]) == (datetime(2026, 3, 1, tzinfo=BEIJING), datetime(2026, 3, 2, tzinfo=BEIJING))
    assert Filters(**one_day).until - Filters(**one_day).since == timedelta(hours=24)
    leap = ViewState(until=date(2028, 2, 28)).filter_args()
    assert (leap["since"], leap["until"]) == (None, datetime(2028, 2, 29, tzinfo=BEIJING))
    assert ViewState().filter_args() == {"area_code": None, "since": None, "until": None, "categories": (),
                                         "severities": (), "statuses": ()}
    assert Filters(**ViewState().filter_args()) == Filters()


@pytest.mark.parametrize("state", ROUND_TRIPS, ids=lambda s: s.query() or "default")
def test_every_parsed_state_builds_valid_filters(state):
    filters = Filters(**parse(state.query()).filter_args())
    assert filters.categories == state.categories and filters.severities == state.severities
    assert filters.since is None or filters.since.utcoffset() == timedelta(hours=8)
    assert filters.until is None or (filters.until.time(), filters.until.utcoffset()) == (datetime.min.time(), timedelta(hours=8))


@pytest.mark.parametrize("query, message", [
    ("?cat=dispute,nope,fire_safety", "unknown category nope; known: "),
    ("?sev=0,5,x,3,2.0", "unknown severity 0, 5, x, 2.0; known: 1, 2, 3, 4"),
    ("?sev=²", "unknown severity ²"),
    ("?status=unknown,closed", "unknown status unknown; known: "),
    ("?res=11", "H3 resolution 11 is not one of 7, 8, 9, 10"),
    ("?area=330106--", "area '330106--' is not an area code"),
    ("?since=yesterday&until=2026-10-31", "since 'yesterday' is not a day like 2026-10-01"),
    ("?until=9999-12-31", "until 9999-12-31 is outside the days Shiyu holds, 1900-01-01 to 2200-12-31"),
    ("?since=0001-01-01", "since 0001-01-01 is outside the days Shiyu holds"),
])
def test_strict_refuses_a_filter_value_the_page_would_drop(query, message):
    with pytest.raises(InputError, match=re.escape(message)):
        parse(query, strict=True)


def test_strict_names_every_bad_value_at_once():
    with pytest.raises(InputError) as refused:
        parse("?res=6&cat=nope&status=open&since=2026-02-30", strict=True)
    assert str(refused.value) == ("H3 resolution 6 is not one of 7, 8, 9, 10; since '2026-02-30' is not a day like "
                                  "2026-10-01; unknown category nope; known: " + ", ".join(CATEGORIES)
                                  + "; unknown status open; known: " + ", ".join(STATUSES))


@pytest.mark.parametrize("query", [FULL, "", "?layer=nope&lang=fr&lat=91&lon=120.15&z=close",
                                   "?since=2026-10-31&until=2026-10-01", "?cat=dispute,dispute&sev=3,3"])
def test_strict_reads_what_the_page_reads_when_no_filter_value_is_bad(query):
    assert parse(query, strict=True) == parse(query)
