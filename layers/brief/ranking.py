"""The area's place in the league table (考核排名) of its tier for the brief's week: ``layers.assessment.league``
over the tier as far as the scope reaches, as the /rank page shows it. None for a city (no tier to be ranked in)
and for an area the league lists unranked (too few reports in the week)."""

from __future__ import annotations

import logging

from geodata.errors import InputError
from geodata.scope import Scope
from layers.assessment import league
from layers.brief.weeks import Week

log = logging.getLogger(__name__)


def area_rank(area: dict, week: Week, scope: Scope) -> dict | None:
    """{rank, of, score, rank_change} of ``area`` (``code``, ``tier``) among its tier in ``week``, or None."""
    if area["tier"] == "city":
        return None
    try:
        rows = league(area["tier"], week.label, scope)
    except InputError as error:  # a league the period cannot have: the brief goes out without the line
        log.warning("brief: no rank of %s for %s: %s", area["code"], week.label, error)
        return None
    mine = next((r for r in rows if r["code"] == area["code"]), None)
    if mine is None or mine["rank"] is None:
        return None
    return {"rank": mine["rank"], "of": sum(1 for r in rows if r["rank"] is not None), "score": mine["score"],
            "rank_change": mine.get("rank_change")}
