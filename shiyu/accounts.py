"""``shiyu users`` and ``shiyu audit``: who may log in to the dashboard, their tokens, and what the audit log holds."""

from __future__ import annotations

import argparse
import json
import sys


def _new_password(from_stdin: bool) -> tuple[str, bool]:
    """(password, generated): the first line of stdin, or a random one the caller prints once."""
    import secrets

    from geodata.errors import InputError

    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise InputError("--password-stdin: stdin held no password")
        return password, False
    return secrets.token_urlsafe(12), True


def _when(moment) -> str:
    from layers.base import BEIJING

    return f"{moment.astimezone(BEIJING):%Y-%m-%d %H:%M:%S}" if moment else "-"


def cmd_users(args: argparse.Namespace) -> int:
    from geodata import users

    if args.action == "add":
        password, generated = _new_password(args.password_stdin)
        user = users.add_user(args.name, args.role, args.scope, password=password)
        print(f"added {user.name}: {user.role} of {user.scope.path or 'the whole database'}")
        if generated:
            print(f"password (shown once): {password}")
    elif args.action == "password":
        password, generated = _new_password(args.password_stdin)
        users.set_password(args.name, password)
        print(f"password of {args.name} set" + (f": {password} (shown once)" if generated else ""))
    elif args.action == "list":
        rows = users.list_users()
        print(f"{'name':<16} {'role':<10} {'scope':<24} {'state':<24} {'last login':<20} tokens")
        for r in rows:
            # Logins are throttled per address, never locked per name (docs/security.md): the count is news only.
            state = ("disabled" if r["disabled"] else
                     f"active, {r['failed_logins']} failed" if r["failed_logins"] else "active")
            print(f"{r['name']:<16} {r['role']:<10} {r['scope'] or 'whole database':<24} {state:<24} "
                  f"{_when(r['last_login']):<20} {r['tokens']}")
    elif args.action == "disable":
        users.disable_user(args.name)
        print(f"disabled {args.name}: logins, sessions and tokens refused from the next request on")
    elif args.action == "token":
        if args.revoke:
            print(f"revoked {users.revoke_tokens(args.name)} token(s) of {args.name}")
            return 0
        token = users.create_token(args.name, display=args.display, label=args.label)
        print(token)
        hint = (f"open /wall?token={token} on the wall screen" if args.display
                else f"send it as 'Authorization: Bearer <token>', or from QGIS and GDAL as the password of HTTP "
                     f"Basic with the name {args.name}")
        print(f"token of {args.name} (shown once; only its hash is kept): {hint}", file=sys.stderr)
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    from geodata import audit
    from geodata.errors import InputError

    if args.n < 1:
        raise InputError(f"-n {args.n}: give a number of rows, 1 or more")
    for r in reversed(audit.recent(args.action, args.n)):
        detail = json.dumps(r["detail"], ensure_ascii=False, separators=(",", ":"))
        print(f"{_when(r['at'])}  {r['action']:<12} {r['user_name'] or '-':<16} {r['remote_addr'] or '-':<15} {detail}")
    return 0


def add_parsers(sub) -> None:
    """The ``users`` and ``audit`` commands, on the ``shiyu`` command's subparsers."""
    p = sub.add_parser("users", help="dashboard users and their API and display tokens",
                       description="Dashboard users: admin, commander (whole city, wall), officer (their scope), planner "
                                   "(exports, no personal data), viewer (read-only, no personal data).")
    users_sub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    q = users_sub.add_parser("add", help="add a user; prints a random password unless --password-stdin")
    q.add_argument("name", help="the login name (1-64 characters, no spaces)")
    q.add_argument("--role", required=True, choices=["admin", "commander", "officer", "planner", "viewer"],
                   help="what the user may do and see")
    q.add_argument("--scope", required=True, metavar="CODE",
                   help="the area code whose subtree the user sees (e.g. 330106), or 'city' for the whole database")
    q.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    q = users_sub.add_parser("password", help="set a user's password (and clear a lockout)")
    q.add_argument("name", help="the login name")
    q.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    users_sub.add_parser("list", help="every user with role, scope, state, last login and live tokens")
    q = users_sub.add_parser("disable", help="refuse the user's logins, sessions and tokens")
    q.add_argument("name", help="the login name")
    q = users_sub.add_parser("token", help="print a new API token for NAME (sent as 'Authorization: Bearer …', or as "
                                                     "the password of HTTP Basic with NAME, as QGIS and GDAL send it)")
    q.add_argument("name", help="the login name the token acts as (same scope, audited as them)")
    q.add_argument("--display", action="store_true",
                   help="a wall-screen token: opens /wall?token=… only, with personal data masked")
    q.add_argument("--label", help="a note on what the token is for (e.g. qgis-planning)")
    q.add_argument("--revoke", action="store_true", help="revoke every token of NAME instead")
    p.set_defaults(func=cmd_users)

    p = sub.add_parser("audit", help="the audit log: logins, failed logins, exports, refused access")
    audit_sub = p.add_subparsers(dest="action_", required=True, metavar="ACTION")
    q = audit_sub.add_parser("tail", help="the newest rows, oldest first")
    q.add_argument("-n", type=int, default=20, help="how many rows (default 20)")
    q.add_argument("--action", help="only this action: login, login_failed, throttled, login_busy, logout, refused, export, token_use")
    p.set_defaults(func=cmd_audit)
