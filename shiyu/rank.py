"""``shiyu rank``: the assessment league table (考核排名) of a tier for a month or a week, printed, as JSON or as
an XLSX workbook; ``shiyu rank weights [--set NAME=VALUE …]`` shows or changes the indicators' weights."""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import shutil
from pathlib import Path

TIERS = ("district", "street", "community", "grid")


def _arrow(change: int | None) -> str:
    return "" if change is None else ("–" if change == 0 else (f"↑{change}" if change > 0 else f"↓{-change}"))


def _pct(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.1f}%"


def _period(args: argparse.Namespace) -> str:
    from datetime import datetime

    from layers.base import BEIJING
    from layers.periods import last_complete

    return args.week or args.month or last_complete("month", datetime.now(BEIJING).date()).label


def _weights(args: argparse.Namespace) -> int:
    from geodata.errors import InputError
    from layers import assessment

    if args.set:
        changes = {}
        for item in args.set:
            name, _, value = item.partition("=")
            try:
                changes[name.strip()] = float(value)
            except ValueError:
                raise InputError(f"--set takes NAME=NUMBER, e.g. on_time_rate=0.4, not {item!r}") from None
        assessment.set_weights(changes, getpass.getuser(), via="cli")
    rows = assessment.weight_rows()
    if args.json:
        print(json.dumps(rows, ensure_ascii=False))
        return 0
    print(f"{'indicator':<22} {'weight':>7}  {'better':<7} label")
    for r in rows:
        print(f"{r['indicator']:<22} {r['weight']:>7g}  {r['better']:<7} {r['zh']} / {r['en']}")
    return 0


def cmd_rank(args: argparse.Namespace) -> int:
    from geodata.errors import InputError
    from geodata.scope import Scope
    from layers import assessment

    logging.getLogger("psycopg.pool").setLevel(logging.ERROR)
    if args.action == "weights":
        return _weights(args)
    period = _period(args)
    if args.output:
        from layers.assessment_xlsx import league_workbook

        out = Path(args.output)
        if out.suffix.lower() != ".xlsx":
            raise InputError(f"the league is written as an Excel workbook: name the output …xlsx, not {out.name}")
        if not out.parent.is_dir():
            raise InputError(f"there is no folder {out.parent} to write {out.name} into")
        file = league_workbook(period, Scope.everything(), getpass.getuser(), via="cli", area=args.area)
        partial = out.with_name(out.name + ".partial")
        with file:
            shutil.copyfile(file.path, partial)
        partial.replace(out)
        counts = ", ".join(f"{tier} {n:,}" for tier, n in file.counts.items())
        print(f"wrote {out} ({file.size:,} bytes): {period}, areas per sheet: {counts}")
        return 0
    rows = assessment.league(args.tier, period, Scope.everything(), area=args.area)
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, default=str))
        return 0
    print(f"{args.tier} league {period}: {len(rows)} areas (rank 1 = highest score; change against the period before)")
    print(f"{'rank':>5} {'chg':>4}  {'code':<14} {'score':>6} {'reports':>8} {'closed':>7} {'on time':>7} "
          f"{'late/1k':>8} {'med h':>6} {'patrol':>7}  name")
    for r in rows:
        print(f"{r['rank'] if r['rank'] is not None else '-':>5} {_arrow(r['rank_change']):>4}  {r['code']:<14} "
              f"{'' if r['score'] is None else format(r['score'], '.2f'):>6} {r['reports']:>8,} "
              f"{_pct(r['closure_rate']):>7} {_pct(r['on_time_rate']):>7} "
              f"{'' if r['overdue_per_1000'] is None else format(r['overdue_per_1000'], '.1f'):>8} "
              f"{'' if r['median_hours'] is None else format(r['median_hours'], '.1f'):>6} "
              f"{_pct(r['patrol_coverage']):>7}  {r['name']}")
    return 0


def add_parsers(sub) -> None:
    """The ``rank`` command, on the ``shiyu`` command's subparsers."""
    p = sub.add_parser("rank", help="the assessment league table (考核排名) of a tier for a month or week",
                       description="Rank every area of a tier by a weighted score of its indicators (docs/assessment.md)"
                                   ", with the change against the period before and the same period a year before.")
    p.add_argument("action", nargs="?", choices=["table", "weights"], default="table",
                   help="table (default): the league; weights: show the weights, or change them with --set")
    p.add_argument("--tier", choices=TIERS, default="street", help="the tier to rank (default street)")
    p.add_argument("--month", metavar="YYYY-MM", help="the month, Beijing time (default: the last complete month)")
    p.add_argument("--week", metavar="YYYY-Www", help="an ISO week instead, e.g. 2026-W49 (wins over --month)")
    p.add_argument("--area", metavar="CODE", help="rank only the areas inside this one (e.g. the streets of a district)")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print a JSON list of rows, best first")
    out.add_argument("-o", "--output", metavar="FILE.xlsx",
                     help="write an Excel workbook with one sheet per tier (district, street, community, grid)")
    p.add_argument("--set", action="append", metavar="NAME=VALUE",
                   help="with weights: set an indicator's weight (0-100; 0 shows it without scoring it); repeatable")
    p.set_defaults(func=cmd_rank)
