"""``shiyu feeds add|list|status|revoke`` as an operator runs them: a token printed once and kept only as its hash,
today's counts read from the posts, the queue's depth and lag, and revocation."""

import json

from geodata.users import token_sha256
from tests.helpers import shiyu


def _token(out: str) -> str:
    return next(line.split(": ", 1)[1] for line in out.splitlines() if line.startswith("token (shown once)"))


def test_feeds_are_added_listed_counted_and_revoked(empty_db, conn):
    import pandas as pd

    from geodata.feeds import Feed, queue_post

    added = shiyu("feeds", "add", "hotline12345")
    assert added.returncode == 0, added.stderr
    token = _token(added.stdout)
    assert conn.execute("SELECT feed_name FROM shiyu.feed_token WHERE token_sha256 = %s",
                        (token_sha256(token),)).fetchone() == ("hotline12345",)
    assert token not in str(conn.execute("SELECT * FROM shiyu.feed_token").fetchall())
    again = shiyu("feeds", "add", "hotline12345")
    assert again.returncode == 1 and "exists already" in again.stderr
    assert shiyu("feeds", "add", "bad name").returncode == 2
    assert shiyu("feeds", "add", "x", "--scope", "nowhere").returncode == 2

    queue_post(Feed("hotline12345", None), 5, [{"row": 2, "reason": "r"}], pd.DataFrame(columns=[]))  # queued, no rows
    queue_post(Feed("hotline12345", None), 3, [{"row": 1, "reason": "r"}] * 2, None)  # refused
    listed = json.loads(shiyu("feeds", "list", "--json").stdout)
    assert [(f["name"], f["rows_today"], f["rejects_today"], f["refused_today"]) for f in listed] == [
        ("hotline12345", 4, 3, 1)]
    status = json.loads(shiyu("feeds", "status", "--json").stdout)
    assert status["queued_posts"] == 1 and status["lag_s"] >= 0
    assert "queued: 1 posts" in shiyu("feeds", "status").stdout

    assert shiyu("feeds", "revoke", "hotline12345").returncode == 0
    assert conn.execute("SELECT count(*) FROM shiyu.feed_token WHERE revoked_at IS NULL").fetchone()[0] == 0
    assert shiyu("feeds", "revoke", "hotline12345").returncode == 1
    replaced = shiyu("feeds", "add", "hotline12345", "--replace")
    assert replaced.returncode == 0 and _token(replaced.stdout) != token
    actions = [r[0] for r in conn.execute("SELECT action FROM shiyu.audit_log ORDER BY id").fetchall()]
    assert actions == ["feed_add", "feed_revoke", "feed_add"]


def test_prune_deletes_only_applied_and_refused_posts_past_their_keeping(empty_db, conn):
    import pandas as pd

    from geodata.feeds import Feed, queue_post

    assert shiyu("feeds", "add", "grid-app").returncode == 0
    feed = Feed("grid-app", None)
    ids = {name: queue_post(feed, 1, [], None if name.startswith("refused") else pd.DataFrame(columns=[]))
           for name in ("applied old", "applied new", "queued old", "refused old", "refused new")}
    conn.execute("UPDATE shiyu.intake_post SET status = 'applied', applied_at = now() WHERE id = ANY(%s)",
                 ([ids["applied old"], ids["applied new"]],))
    conn.execute("UPDATE shiyu.intake_post SET received_at = now() - interval '31 days', "
                 "applied_at = applied_at - interval '31 days' WHERE id = ANY(%s)",
                 ([ids["applied old"], ids["queued old"], ids["refused old"]],))
    conn.commit()

    pruned = shiyu("feeds", "prune")
    assert pruned.returncode == 0, pruned.stderr
    assert "pruned 2 applied or refused posts" in pruned.stdout
    left = {r[0] for r in conn.execute("SELECT id FROM shiyu.intake_post").fetchall()}
    assert left == {ids["applied new"], ids["queued old"], ids["refused new"]}
    assert shiyu("feeds", "prune", "--days", "0").stdout.startswith("pruned 2 ")  # the new applied and refused ones
    assert {r[0] for r in conn.execute("SELECT id FROM shiyu.intake_post").fetchall()} == {ids["queued old"]}
    assert shiyu("feeds", "prune", "--days", "-1").returncode == 2
    assert [r[0] for r in conn.execute("SELECT detail->>'posts' FROM shiyu.audit_log WHERE action = 'feed_prune' "
                                       "ORDER BY id").fetchall()] == ["2", "2"]
