"""The pieces of alert push that need no database: URLs checked and masked, texts cut to the robots' limits,
DingTalk's signature."""

import base64
import hashlib
import hmac
from datetime import datetime, timezone
from urllib.parse import parse_qs, urlsplit

import pytest

from geodata.errors import InputError
from layers.alert_compose import News
from layers.alert_format import MAX_TEXT_BYTES, fit, render
from layers.alert_hooks import check_url, mask_url
from layers.alert_send import dingtalk_sign, signed_url


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/hook", "https://oapi.dingtalk.com/robot/send?access_token=x",
                                 "http://[::1]:9/x", "https://10.1.2.3/relay"])
def test_http_and_https_urls_are_taken_private_ones_too(url):
    assert check_url(url) == url


@pytest.mark.parametrize("url", ["javascript:alert(1)", "file:///etc/passwd", "ftp://h/x", "http://", "https://h:99999/",
                                 "http://a b/", "https://user:pw@h/x", "http://h/" + "x" * 2001, ""])
def test_other_urls_are_refused(url):
    with pytest.raises(InputError):
        check_url(url)


def test_credentials_in_a_url_are_masked():
    masked = mask_url("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa&x=1")
    assert "693a91f6" not in masked and "5aaa" in masked and "x=1" in masked
    assert "SECRETTOKEN" not in mask_url("https://oapi.dingtalk.com/robot/send?access_token=SECRETTOKENabcd")


def test_the_dingtalk_signature_is_hmac_sha256_of_timestamp_and_secret():
    secret, ts = "SEC000example", 1700000000000
    expected = base64.b64encode(hmac.new(secret.encode(), f"{ts}\n{secret}".encode(), hashlib.sha256).digest()).decode()
    assert dingtalk_sign(secret, ts) == expected
    query = parse_qs(urlsplit(signed_url("https://oapi.dingtalk.com/robot/send?access_token=T", secret, ts)).query)
    assert query == {"access_token": ["T"], "timestamp": [str(ts)], "sign": [expected]}


def test_a_long_text_is_cut_at_a_line_under_the_limit_keeping_its_footer():
    lines = ["### title"] + [f"- 第{i}行 " + "很长" * 40 for i in range(400)] + ["> footer"]
    text = fit(lines, MAX_TEXT_BYTES["wecom"])
    assert len(text.encode()) <= MAX_TEXT_BYTES["wecom"]
    assert text.startswith("### title") and text.endswith("> footer") and "已截断" in text
    assert all(line in lines or line in ("", "- ……（消息过长，已截断）") for line in text.splitlines())


def test_every_format_carries_the_same_text():
    now = datetime(2026, 12, 7, 1, 30, tzinfo=timezone.utc)
    news = News(red_new=2, red_total=9, red_listed=[
        {"thing_id": "s:A1", "source": "s", "external_id": "A1", "category": "fire_safety", "severity": 4,
         "due_at": "2026-12-05T01:30:00+00:00", "grid_code": "G1", "grid_name": "一号网格"}])
    hook = {"id": 1, "area_code": "330106", "area_name": "西湖区"}
    bodies = {fmt: render({**hook, "format": fmt}, news, now) for fmt in ("dingtalk", "wecom", "json")}
    text = bodies["json"]["text"]
    assert bodies["dingtalk"]["markdown"]["text"] == bodies["wecom"]["markdown"]["content"] == text
    assert bodies["dingtalk"]["markdown"]["title"] == "【市域】西湖区：红灯 2"
    assert "- 特别重大 · 消防安全 · A1 · 一号网格（G1） · 超期 2.0 天" in text and "另 1 项" in text
    assert "2026-12-07 09:30 北京时间" in text
