"""``shiyu feeds`` and ``shiyu intake``: the feeds that post incidents over HTTP, and the worker that applies them."""

from __future__ import annotations

import argparse
import json
import logging
import threading

from shiyu.accounts import _when
from shiyu.stopping import stop_on


def cmd_feeds(args: argparse.Namespace) -> int:
    from geodata import feeds

    if args.action == "add":
        token = feeds.add_feed(args.name, args.scope, replace=args.replace)
        print(f"feed {args.name} ({args.scope}): post with 'Authorization: Bearer <token>' to /api/v1/incidents")
        print(f"token (shown once): {token}")
    elif args.action == "revoke":
        feeds.revoke_feed(args.name)
        print(f"revoked feed {args.name}: its tokens are refused from the next post on; what it posted stays")
    elif args.action == "list":
        rows = feeds.list_feeds()
        if args.json:
            print(json.dumps(rows, default=str, ensure_ascii=False))
            return 0
        print(f"{'feed':<24} {'scope':<14} {'state':<8} {'last post':<19} {'rows today':>10} {'rejects today':>13} "
              f"{'refused':>7}")
        for r in rows:
            print(f"{r['name']:<24} {r['scope_code']:<14} {'revoked' if r['revoked'] else 'active':<8} "
                  f"{_when(r['last_post']):<19} {r['rows_today']:>10,} {r['rejects_today']:>13,} {r['refused_today']:>7,}")
    elif args.action == "prune":
        pruned = feeds.prune_posts(args.days)
        print(f"pruned {pruned:,} applied or refused posts older than "
              f"{'SHIYU_INTAKE_KEEP_DAYS' if args.days is None else f'{args.days:g}'} days; their incidents stay")
    else:
        status = feeds.queue_status()
        if args.json:
            print(json.dumps(status, default=str))
            return 0
        lag = status["lag_s"]
        print(f"queued: {status['queued_posts']:,} posts, {status['queued_rows']:,} rows; lag "
              f"{'none' if lag is None else f'{lag:.1f} s'} (the oldest queued post's wait)")
        since = status["since_last_applied_s"]
        print(f"applied in the last minute: {status['applied_last_minute']:,} posts; last applied "
              f"{'never' if since is None else f'{since:.1f} s ago'}")
        print(f"applied, not yet in the cubes: {status['unfolded_batches']:,} micro-batches "
              "(the worker folds them just after they commit)")
    return 0


def cmd_intake(args: argparse.Namespace) -> int:
    """The intake worker in the foreground until SIGTERM or Ctrl-C (the Procfile's ``worker:``, and the process
    ``shiyu serve`` keeps beside its web workers, ``--quiet``)."""
    from etl import intake_worker
    from shiyu.duties import duties

    stop = threading.Event()
    stop_on(stop)
    if not args.quiet:
        logging.getLogger("etl.intake_worker").setLevel(logging.INFO)
        print("shiyu intake: applying queued posts (one worker is elected; Ctrl-C stops it)", flush=True)
    try:
        intake_worker.run(stop, duties=duties())
    except KeyboardInterrupt:
        pass
    return 0


def add_parsers(sub) -> None:
    """The ``feeds`` and ``intake`` commands, on the ``shiyu`` command's subparsers."""
    p = sub.add_parser("feeds", help="feeds: city platforms that post incidents to /api/v1/incidents",
                       description="A feed is a source (its name is the incidents' source) with its own token, which "
                                   "may post incidents of that source inside its scope and reach nothing else.")
    feeds_sub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    q = feeds_sub.add_parser("add", help="register a feed and print its token (shown once)")
    q.add_argument("name", help="the feed's name, which is its source name (letters, digits, '.', '_', '-')")
    q.add_argument("--scope", default="city", metavar="CODE",
                   help="the area code the feed may post incidents in (default city: the whole database)")
    q.add_argument("--replace", action="store_true", help="an existing feed: new scope and token, old tokens revoked")
    q = feeds_sub.add_parser("revoke", help="refuse the feed's token from its next post on")
    q.add_argument("name", help="the feed's name")
    q = feeds_sub.add_parser("list", help="every feed with its last post, and today's rows, rejects and refused posts")
    q.add_argument("--json", action="store_true", help="print a JSON list")
    q = feeds_sub.add_parser("prune", help="delete applied and refused posts past their keeping (their incidents stay)")
    q.add_argument("--days", type=float, default=None, metavar="N",
                   help="keep the last N days (default SHIYU_INTAKE_KEEP_DAYS, 30); the intake worker prunes daily")
    q = feeds_sub.add_parser("status", help="the queue: posts and rows waiting, and the lag")
    q.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_feeds)

    p = sub.add_parser("intake", help="apply queued posts (the intake worker; `shiyu serve` runs one itself)")
    p.add_argument("--quiet", action="store_true", help="warnings only, no line for each micro-batch")
    p.set_defaults(func=cmd_intake)
