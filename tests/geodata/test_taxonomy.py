import re

import numpy as np
import pandas as pd
import pytest

from geodata import taxonomy
from geodata.taxonomy import (
    CATEGORIES,
    CLOSED_STATUSES,
    FACILITY_TYPES,
    OPEN_STATUSES,
    STATUSES,
    TIER_DETAILS,
    TIERS,
    category_code,
    category_codes,
    facility_type_code,
    facility_type_codes,
    status_code,
    status_codes,
    tier_code,
)

RESOLVERS = [
    (CATEGORIES, category_code),
    (STATUSES, status_code),
    (FACILITY_TYPES, facility_type_code),
    (TIER_DETAILS, tier_code),
]


def _labels():
    for table, resolve in RESOLVERS:
        for code, entry in table.items():
            for label in (code, entry.name_zh, entry.name_en, *entry.aliases):
                yield pytest.param(resolve, label, code, id=f"{code}:{label}")


@pytest.mark.parametrize(("resolve", "label", "code"), list(_labels()))
def test_every_code_name_and_alias_resolves_to_its_code(resolve, label, code):
    assert resolve(label) == code


def test_categories_are_the_design_codes_in_order_with_their_chinese_names():
    assert [(c.code, c.name_zh) for c in CATEGORIES.values()] == [
        ("dispute", "矛盾纠纷"),
        ("public_order", "治安"),
        ("fire_safety", "消防安全"),
        ("traffic_safety", "交通安全"),
        ("food_drug_safety", "食药安全"),
        ("petition", "信访"),
        ("mass_incident", "涉众型案事件"),
        ("city_management", "城市管理"),
        ("public_health", "公共卫生"),
        ("other", "其他"),
    ]


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("ＦＩＲＥ", "fire_safety"),  # full-width Latin
        ("Fire Safety", "fire_safety"),
        ("FIRE_SAFETY", "fire_safety"),
        (" public-order ", "public_order"),
        ("Public Order", "public_order"),
        ("\u3000消防\u3000", "fire_safety"),  # ideographic spaces around
        ("矛盾 纠纷", "dispute"),
        ("治安类", "public_order"),  # class suffix feeds add
        ("消防安全类", "fire_safety"),
        ("城管", "city_management"),
        ("占道经营", "city_management"),
        ("上访", "petition"),
        ("疫情", "public_health"),
    ],
)
def test_category_lookup_ignores_width_case_spacing_and_class_suffix(text, code):
    assert category_code(text) == code


@pytest.mark.parametrize("text", ["火星", "unknown", "fire!", "类", "", "   ", None, float("nan"), pd.NA])
def test_unknown_or_missing_labels_resolve_to_none(text):
    assert category_code(text) is None
    assert status_code(text) is None
    assert facility_type_code(text) is None
    assert tier_code(text) is None


def test_sla_hours_are_positive_and_match_the_service_promises():
    assert all(isinstance(c.sla_hours, int) and c.sla_hours > 0 for c in CATEGORIES.values())
    assert CATEGORIES["fire_safety"].sla_hours == 24
    assert CATEGORIES["public_order"].sla_hours == 24
    assert CATEGORIES["dispute"].sla_hours == 72
    assert CATEGORIES["petition"].sla_hours == 15 * 24
    assert CATEGORIES["city_management"].sla_hours == 48


@pytest.mark.parametrize("table", [CATEGORIES, FACILITY_TYPES], ids=["categories", "facility_types"])
def test_colours_are_distinct_hex_colours(table):
    colours = [entry.colour.upper() for entry in table.values()]
    assert all(re.fullmatch(r"#[0-9A-F]{6}", c) for c in colours)
    assert len(set(colours)) == len(colours)


def test_category_colours_come_from_colour_blind_safe_palettes():
    okabe_ito = {"#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#000000"}
    tol_muted = {"#CC6677", "#332288", "#DDCC77", "#117733", "#88CCEE", "#882255", "#44AA99",
                 "#999933", "#AA4499", "#DDDDDD", "#BBBBBB"}
    for table in (CATEGORIES, FACILITY_TYPES):
        assert {e.colour for e in table.values()} <= okabe_ito | tol_muted


def test_statuses_follow_the_closed_loop_in_order():
    assert list(STATUSES) == ["reported", "registered", "dispatched", "handling", "verified", "closed"]
    assert [s.name_zh for s in STATUSES.values()] == ["发现/上报", "立案", "派遣", "处置", "核查", "结案"]


def test_open311_open_is_the_first_four_statuses_and_closed_the_rest():
    assert OPEN_STATUSES == ("reported", "registered", "dispatched", "handling")
    assert CLOSED_STATUSES == ("verified", "closed")
    assert OPEN_STATUSES + CLOSED_STATUSES == tuple(STATUSES)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("已上报", "reported"),
        ("待立案", "reported"),
        ("上报", "reported"),
        ("open", "reported"),
        ("已立案", "registered"),
        ("已派遣", "dispatched"),
        ("处置中", "handling"),
        ("办理中", "handling"),
        ("In Progress", "handling"),
        ("已核查", "verified"),
        ("已结案", "closed"),
        ("已办结", "closed"),
        ("办结", "closed"),
        ("Resolved", "closed"),
        ("CLOSED", "closed"),
    ],
)
def test_status_words_from_feeds_resolve_to_the_loop_step(text, code):
    assert status_code(text) == code


def test_facility_types_have_their_default_service_radii():
    assert {code: f.service_radius_m for code, f in FACILITY_TYPES.items()} == {
        "police_station": 3000,
        "safety_kiosk": 500,
        "fire_station": 5000,
        "mini_fire_station": 1000,
        "governance_centre": 2000,
        "mediation_room": 1000,
        "community_service": 1000,
        "school": 1000,
        "hospital": 5000,
    }
    assert facility_type_code("平安岗亭") == "safety_kiosk"
    assert facility_type_code("Governance Center") == "governance_centre"


def test_tiers_run_from_city_to_grid_with_chinese_names():
    assert TIERS == ("city", "district", "street", "community", "grid")
    assert [TIER_DETAILS[t].name_zh for t in TIERS] == ["市", "区县", "街道乡镇", "社区村", "网格"]
    assert [TIER_DETAILS[t].level for t in TIERS] == [0, 1, 2, 3, 4]
    assert (tier_code("街道"), tier_code("县"), tier_code("Grid"), tier_code("村")) == (
        "street", "district", "grid", "community")


def test_category_codes_maps_a_series_and_keeps_its_index_and_name():
    values = pd.Series(["消防", None, "ｔｒａｆｆｉｃ", "消防", "火星", np.nan], index=list("abcdef"), name="category")
    codes = category_codes(values)
    assert codes.tolist() == ["fire_safety", None, "traffic_safety", "fire_safety", None, None]
    assert codes.index.tolist() == list("abcdef")
    assert codes.name == "category"
    assert codes.dtype == object


def test_vectorised_lookups_resolve_each_distinct_label_once(monkeypatch):
    calls = []
    resolve = taxonomy._resolve
    monkeypatch.setattr(taxonomy, "_resolve", lambda index, text: calls.append(text) or resolve(index, text))
    codes = status_codes(pd.Series(["已结案", "办理中"] * 50_000))
    assert sorted(calls) == sorted(["已结案", "办理中"])
    assert codes.value_counts().to_dict() == {"closed": 50_000, "handling": 50_000}


def test_vectorised_lookup_of_an_empty_or_string_dtype_series():
    assert category_codes(pd.Series([], dtype=object)).tolist() == []
    assert facility_type_codes(pd.Series(["派出所", None], dtype="string")).tolist() == ["police_station", None]


def test_a_label_claimed_by_two_codes_is_refused_when_the_table_is_built():
    clash = {
        "a": taxonomy.Tier("a", "甲", "A", 0, ("same",)),
        "b": taxonomy.Tier("b", "乙", "B", 1, ("SAME",)),
    }
    with pytest.raises(ValueError, match="names both 'a' and 'b'"):
        taxonomy._index(clash)
