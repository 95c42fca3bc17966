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
