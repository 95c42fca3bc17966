"""``shiyu supervise``: supervision orders from the shell (the escalation pass for cron and tests, the lists), and
the periodic duties the intake worker runs (``DUTIES``)."""

from __future__ import annotations

import argparse
import json

from shiyu.accounts import _when

# How often the elected intake worker runs the escalation pass: a reply deadline is hours long, so a minute late
# at most is on time.
ESCALATE_EVERY_S = 60.0


def _sweep():
    from layers import supervision

    return supervision.sweep()


# (name, every_seconds, fn): what ``etl.intake_worker`` runs between micro-batches while it is the elected worker.
DUTIES = (("supervision escalation", ESCALATE_EVERY_S, _sweep),)


def _print(rows: list[dict], as_json: bool) -> None:
    if as_json:
        print(json.dumps(rows, default=str, ensure_ascii=False))
        return
    if not rows:
        print("none")
        return
    print(f"{'order':>6} {'level':<9} {'area':<14} {'incident':<22} {'addressee':<14} {'reply due':<19} "
          f"{'replied':<19} {'esc':>3}")
    for r in rows:
        print(f"{r['id']:>6} {r['level']:<9} {r['area_code']:<14} {(r['incident_id'] or '-'):<22} "
              f"{r['addressee'][:14]:<14} {_when(r['reply_due_at']):<19} {_when(r['replied_at']):<19} "
              f"{r['escalations']:>3}")


def cmd_supervise(args: argparse.Namespace) -> int:
    from geodata.scope import Scope
    from layers import supervision, supervision_reads

    if args.action == "escalate":
        done = supervision.sweep()
        if args.json:
            print(json.dumps(done))
        else:
            print(f"closed {done['closed']} orders whose incident was verified or closed; escalated "
                  f"{done['escalated']} past their reply deadline without a reply")
    elif args.action == "list":
        rows = supervision_reads.orders(Scope.everything(), area=args.area, open_only=not args.all, limit=args.limit)
        _print([{k: v for k, v in r.items() if k != "path"} for r in rows], args.json)
    else:
        rows = supervision_reads.to_supervise(args.area, Scope.everything(), limit=args.limit)
        if args.json:
            print(json.dumps(rows, default=str, ensure_ascii=False))
            return 0
        for n, r in enumerate(rows, 1):
            print(f"{n:>3}. {r['incident_id']:<22} severity {r['severity'] or '-'} {r['hours_overdue']:>8,.1f} h overdue "
                  f"{r['in_grid']:>4} in grid {r['grid_code']} ({r['owner_name'] or 'no owner'})")
    return 0


def add_parsers(sub) -> None:
    p = sub.add_parser("supervise", help="supervision orders (督办): the escalation pass, the open orders, the day's "
                                         "proposed list",
                       description="Supervision orders are issued and replied to on the dashboard; `shiyu serve` "
                                   "runs the escalation pass every minute (docs/supervision.md).")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    q = actions.add_parser("escalate", help="one pass: close orders whose incident is verified or closed, and raise "
                                            "those past their reply deadline without a reply one level")
    q.add_argument("--json", action="store_true", help="print one JSON object: closed, escalated, orders")
    q = actions.add_parser("list", help="the open orders (the highest level and nearest deadline first)")
    q.add_argument("--area", metavar="CODE", help="only those in this area")
    q.add_argument("--all", action="store_true", help="closed ones too")
    q.add_argument("--limit", type=int, default=100, help="at most this many (default 100, at most 500)")
    q.add_argument("--json", action="store_true", help="print a JSON list")
    q = actions.add_parser("propose", help="the day's 'to supervise' list of an area: overdue incidents without an "
                                           "order, the most severe, most repeated in their grid and longest overdue first")
    q.add_argument("--area", metavar="CODE", required=True, help="the area")
    q.add_argument("--limit", type=int, default=20, help="at most this many (default 20)")
    q.add_argument("--json", action="store_true", help="print a JSON list")
    p.set_defaults(func=cmd_supervise)
