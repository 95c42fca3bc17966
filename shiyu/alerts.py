"""``shiyu alerts``: the webhooks that hear of an area's early warnings, red lights and escalations (docs/alerts.md)."""

from __future__ import annotations

import argparse
import getpass
import json
import sys

from geodata.errors import InputError

from shiyu.accounts import _when


def cmd_alerts(args: argparse.Namespace) -> int:
    from layers import alert_hooks, alerts

    if args.action == "add":
        secret = args.secret
        if args.secret_stdin:
            secret = sys.stdin.readline().strip()
            if not secret:
                raise InputError("--secret-stdin: stdin held no secret")
        hook = alert_hooks.add_hook(args.area, args.url, args.format, secret, by=getpass.getuser())
        signed = ", signed" if hook["signed"] else ""
        print(f"webhook {hook['id']} added: {args.area}'s subtree, {hook['format']}{signed}, "
              f"to {alert_hooks.mask_url(hook['url'])}; the next pass (`shiyu alerts send`, or the server's own "
              f"every SHIYU_ALERT_EVERY_S seconds) tells it what is new today")
    elif args.action == "remove":
        alert_hooks.remove_hook(args.id, by=getpass.getuser())
        print(f"webhook {args.id} removed: nothing more is sent to it; what it was sent stays in the audit log")
    elif args.action == "list":
        rows = alert_hooks.list_hooks(include_removed=args.all)
        if args.json:
            print(json.dumps(rows, default=str, ensure_ascii=False))
            return 0
        print(f"{'id':>4} {'area':<14} {'format':<8} {'last sent':<19} {'today sent':>10} {'failed':>6} "
              f"{'waiting':>7}  url")
        for r in rows:
            state = " (removed)" if r["removed_at"] else (" (signed)" if r["signed"] else "")
            print(f"{r['id']:>4} {r['area_code']:<14} {r['format']:<8} {_when(r['last_sent']):<19} "
                  f"{r['sent_today']:>10,} {r['failed_today']:>6,} {r['pending']:>7,}  {r['url']}{state}")
    elif args.action == "test":
        outcome = alerts.post_test_message(args.id, by=getpass.getuser())
        if not outcome.delivered:
            print(f"webhook {args.id}: not delivered ({outcome.error}); check the URL, the secret, and the robot's "
                  "keywords (a DingTalk robot with 自定义关键词 needs 市域 among them)")
            return 1
        print(f"webhook {args.id}: test message delivered (HTTP {outcome.status})")
    else:
        result = alerts.send_due()
        if args.json:
            print(json.dumps(result))
            return 0
        print(f"{result['hooks']} webhooks: {result['composed']} new messages; posted {result['sent']}, "
              f"{result['retrying']} to retry, {result['failed']} given up"
              + (f"; hooks skipped (see the log): {result['hooks_failed']}" if result["hooks_failed"] else ""))
    return 0


def add_parsers(sub) -> None:
    """The ``alerts`` command, on the ``shiyu`` command's subparsers."""
    p = sub.add_parser("alerts", help="alert push: webhooks per area (DingTalk, WeCom, JSON)",
                       description="Each webhook hears, once a day per thing, of the new early warnings, red-light "
                                   "(overdue) incidents and escalated supervision orders in its area's subtree, "
                                   "batched into one message per pass. docs/alerts.md.")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    q = actions.add_parser("add", help="add a webhook for an area")
    q.add_argument("--area", required=True, metavar="CODE", help="the area code whose subtree the webhook hears of")
    q.add_argument("--url", required=True, help="the webhook's http(s) URL (a robot's URL with its access_token)")
    q.add_argument("--format", choices=["dingtalk", "wecom", "json"], default="json",
                   help="dingtalk or wecom group robot markdown, or the JSON object of docs/alerts.md (default json)")
    secret = q.add_mutually_exclusive_group()
    secret.add_argument("--secret", metavar="S", help="a DingTalk robot's signing secret (SEC…, 加签): each post is "
                                                       "signed with it")
    secret.add_argument("--secret-stdin", action="store_true",
                        help="read the DingTalk secret from the first line of stdin (kept out of the shell's history "
                             "and the process list)")
    q = actions.add_parser("list", help="the webhooks, URLs masked, with today's sent and failed messages")
    q.add_argument("--all", action="store_true", help="removed webhooks too")
    q.add_argument("--json", action="store_true", help="print a JSON list")
    q = actions.add_parser("remove", help="remove a webhook (its waiting messages are given up)")
    q.add_argument("id", type=int, help="the webhook's id, as `shiyu alerts list` shows it")
    q = actions.add_parser("test", help="post a test message to a webhook now and say whether it was delivered")
    q.add_argument("id", type=int, help="the webhook's id, as `shiyu alerts list` shows it")
    q = actions.add_parser("send", help="run one pass now: compose what is new, post what is due (for cron and tests)")
    q.add_argument("--json", action="store_true", help="print the pass's counts as one JSON object")
    p.set_defaults(func=cmd_alerts)
