"""``shiyu brief``: the weekly analysis brief (研判报告) of one area as a PDF, as the dashboard's button makes it."""

from __future__ import annotations

import argparse
import getpass
import logging
from pathlib import Path


def cmd_brief(args: argparse.Namespace) -> int:
    from datetime import datetime

    from geodata.errors import InputError
    from geodata.scope import Scope
    from layers import brief

    logging.getLogger("psycopg.pool").setLevel(logging.ERROR)  # a database that cannot be reached is said once
    out = Path(args.output)
    if out.suffix.lower() != ".pdf":
        raise InputError(f"a brief is a PDF: name the output …{out.stem}.pdf, not {out.name}")
    if not out.parent.is_dir():
        raise InputError(f"there is no folder {out.parent} to write {out.name} into")
    if out.exists() and not out.is_file():
        raise InputError(f"{out} is not a regular file; name a file to write the brief to")
    week = brief.parse_week(args.week, "--week") if args.week else brief.last_complete_week(datetime.now().astimezone())
    made = brief.make(args.area, week, Scope.everything(), user_name=getpass.getuser(), remote_addr=None, via="cli")
    partial = out.with_name(out.name + ".partial")
    partial.write_bytes(made.data)
    partial.replace(out)  # a file at OUT is always whole
    print(f"wrote {out} ({len(made.data):,} bytes): brief of {args.area} for {week.label}")
    return 0


def add_parsers(sub) -> None:
    p = sub.add_parser("brief", help="the weekly analysis brief (研判报告) of an area as an A4 PDF in Chinese",
                       description="Write the weekly analysis brief of one area: its map with the week's hot spots "
                                   "and emerging hot spots, its KPIs against the week before (and its rank), the "
                                   "weekly trend, the categories that rose most, its early warnings, its overdue "
                                   "incidents and open supervision orders. Recorded in the audit log.")
    p.add_argument("--area", required=True, metavar="CODE", help="the area's code (a district, street, community or grid; "
                                                                 "the city's code for the whole city)")
    p.add_argument("--week", metavar="YYYY-Www", help="the ISO week, Monday to Sunday in Beijing time, e.g. 2026-W49 "
                                                      "(default: the last complete week)")
    p.add_argument("-o", "--output", required=True, metavar="FILE.pdf", help="the PDF to write")
    p.set_defaults(func=cmd_brief)
