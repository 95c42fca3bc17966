"""``shiyu alerts add|list|remove|send`` as an operator runs them."""

import json
from datetime import datetime, timedelta

import subprocess
import sys

import pytest

from etl.load import load_incidents
from layers.base import BEIJING
from tests.helpers import ROOT, shiyu, write_csv
from tests.layers.receiver import Receiver
from tests.layers.tiers import load_tiers


def shiyu_stdin(text, *args):
    return subprocess.run([sys.executable, "-m", "shiyu", *args], input=text, capture_output=True, text=True,
                          cwd=ROOT, timeout=180)


@pytest.fixture
def areas(empty_db, tmp_path):
    load_tiers(tmp_path)
    overdue = datetime.now(BEIJING) - timedelta(days=10)
    load_incidents(write_csv(tmp_path / "one.csv", [["X1", "fire_safety", f"{overdue:%Y-%m-%d %H:%M:%S}", "120.05",
                                                    "30.05"]]), source="cli")
    return empty_db


@pytest.mark.parametrize("args, says", [
    (["--area", "C11", "--url", "ftp://example.org/hook"], "starts with http:// or https://"),
    (["--area", "C11", "--url", "http://"], "names no valid host"),
    (["--area", "C11", "--url", "https://u:p@example.org/hook"], "no user or password"),
    (["--area", "NOPE", "--url", "https://example.org/hook"], "there is no area with code 'NOPE'"),
    (["--area", "C11", "--url", "https://example.org/hook", "--format", "wecom", "--secret", "S"], "DingTalk"),
    (["--area", "C11", "--url", "https://example.org/hook", "--format", "dingtalk", "--secret-stdin"], "no secret"),
])
def test_a_bad_webhook_is_refused_in_one_line(areas, args, says):
    result = shiyu("alerts", "add", *args)
    assert result.returncode == 2, result.stderr
    assert says in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_add_list_send_and_remove(areas, conn):
    with Receiver(secret="SECcli") as receiver:
        added = shiyu_stdin("SECcli\n", "alerts", "add", "--area", "C1", "--url", receiver.url, "--format",
                            "dingtalk", "--secret-stdin")
        assert added.returncode == 0, added.stderr
        assert "webhook 1 added" in added.stdout and "tok3n" not in added.stdout
        listed = json.loads(shiyu("alerts", "list", "--json").stdout)
        assert [(h["id"], h["area_code"], h["format"], h["signed"]) for h in listed] == [(1, "C1", "dingtalk", True)]
        assert "tok3n" not in listed[0]["url"] and "ok3n" in listed[0]["url"]
        tried = shiyu("alerts", "test", "1")
        assert tried.returncode == 0 and "delivered" in tried.stdout, tried.stdout + tried.stderr
        assert receiver.posts.pop().body["markdown"]["title"] == "【市域】区域C1：测试消息"
        sent = shiyu("alerts", "send", "--json")
        assert sent.returncode == 0, sent.stderr
        assert json.loads(sent.stdout) == {"hooks": 1, "composed": 1, "sent": 1, "retrying": 0, "failed": 0,
                                           "hooks_failed": []}
        assert len(receiver.posts) == 1 and receiver.posts[0].signature_ok
        assert "X1" in receiver.posts[0].body["markdown"]["text"]
        assert json.loads(shiyu("alerts", "send", "--json").stdout)["composed"] == 0
    assert shiyu("alerts", "list").stdout.splitlines()[1].split()[:3] == ["1", "C1", "dingtalk"]
    removed = shiyu("alerts", "remove", "1")
    assert removed.returncode == 0, removed.stderr
    failed = shiyu("alerts", "add", "--area", "C2", "--url", "http://127.0.0.1:9/nobody-listens", "--format", "wecom")
    assert failed.returncode == 0
    tried = shiyu("alerts", "test", "2")
    assert tried.returncode == 1 and "not delivered (no answer" in tried.stdout
    assert shiyu("alerts", "remove", "2").returncode == 0
    again = shiyu("alerts", "remove", "1")
    assert again.returncode == 2 and "no webhook 1" in again.stderr
    assert json.loads(shiyu("alerts", "list", "--json").stdout) == []
    assert "(removed)" in shiyu("alerts", "list", "--all").stdout
    actions = [r[0] for r in conn.execute("SELECT action FROM shiyu.audit_log WHERE action LIKE 'alert%' ORDER BY id")]
    assert actions == ["alert_hook_add", "alert_test", "alert_send", "alert_hook_remove", "alert_hook_add",
                       "alert_test", "alert_hook_remove"]
