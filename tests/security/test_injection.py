"""Alert labels and annotations are attacker-controlled (anyone who can write a
Prometheus rule or push an alert). Posted through the real webhook, paged through
the real worker and SDKs, what the providers receive carries them only as text: no
extra SMS lines, no TwiML verbs, no mail headers, no markup or script. HTML pages
escape them and every HTML answer carries the security headers."""
from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

import httpx
import pytest

from service.dev.local_redis import start_redis
from tests.faults.harness import ALICE, deploy
from tests.herald_env import fixture_payload
from tests.processes import wait_for

pytestmark = pytest.mark.slow
EVIL_TITLE = 'Disk</Say><Dial>+19005550100</Dial><Say>\r\nBcc: victim@example.org\r\n<script>alert(1)</script>'
EVIL_SUMMARY = ("]]></Say><Redirect>http://evil.example/twiml</Redirect>\u202egnp.exe\x1b[31m\x00 "
                "<img src=x onerror=alert(2)>\nSubject: pwned")
CONFIG = """
people:
  - {id: alice, name: "Alice <b>Adams</b>", email: alice@example.com, phone: "+15550100001"}
schedules: []
policies:
  - name: default
    tiers: [{name: L1, people: [alice], channels: {P1: [sms, voice, email]}}]
route: {policy: default}
"""
SECURITY_HEADERS = ("x-content-type-options", "x-frame-options", "referrer-policy")


@pytest.fixture(scope="module")
def paged(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("injection")
    (tmp_path / "herald.yaml").write_text(CONFIG)
    server = start_redis(tmp_path / "redis", appendonly=False)
    stack = deploy(tmp_path, server.url, config=tmp_path / "herald.yaml")
    try:
        yield _page_with_evil_text(stack)
    finally:
        stack.stop()
        server.stop()


def _page_with_evil_text(stack):
    payload = fixture_payload("firing.json")
    payload["commonAnnotations"] = {"summary": EVIL_TITLE, "description": EVIL_SUMMARY}
    alert = payload["alerts"][0]
    alert["annotations"] = {"summary": EVIL_SUMMARY, "runbook": "javascript:alert(3)"}
    alert["labels"]["instance"] = "db1\r\nX-Injected: 1"
    alert["generatorURL"] = "javascript:alert(4)//"
    r = stack.post(payload)
    assert r.status_code == 200, r.text
    wait_for(lambda: all(stack.texts(to, ch) for to, ch in ((ALICE, "sms"), (ALICE, "voice"),
                                                             ("alice@example.com", "email"))),
             30, "the page on all three channels")
    return stack


def test_sms_is_one_clean_line(paged):
    [sms] = paged.texts(ALICE, "sms")
    assert not re.search(r"[\x00-\x1f\x7f\u202a-\u202e\u2066-\u2069]", sms.body)
    assert "/ack/" in sms.body


def test_twiml_has_only_herald_verbs(paged):
    [call] = paged.texts(ALICE, "voice")
    root = ET.fromstring(call.twiml)
    verbs = [element.tag for element in root.iter()]
    assert verbs == ["Response", "Gather", "Say", "Say", "Say", "Redirect"], verbs
    redirect = root.find("Redirect")
    assert redirect is not None and redirect.text.startswith(paged.url + "/webhooks/twilio/voice/gather")
    spoken = " ".join(say.text or "" for say in root.iter("Say"))
    assert "<Dial>" in spoken and "\x1b" not in spoken and "\u202e" not in spoken  # said, as text


def test_email_headers_and_html_carry_no_markup(paged):
    [mail] = paged.texts("alice@example.com", "email")
    assert "\r" not in mail.subject and "\n" not in mail.subject
    assert "<script" not in mail.html and "<img" not in mail.html and "<Dial" not in mail.html
    assert "&lt;script&gt;" in mail.html
    assert not re.search(r'href="(?!https?://)', mail.html)  # javascript: URLs are never links


def test_html_pages_escape_and_send_security_headers(paged):
    [sms] = paged.texts(ALICE, "sms")
    link = re.search(r"(http://\S+/ack/\S+)", sms.body).group(1)
    page = httpx.get(link, timeout=10)
    assert page.status_code == 200, page.text
    assert "<script>alert" not in page.text and "<b>Adams" not in page.text and "&lt;script&gt;" in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]
    for path, status in (("/ack/not-a-token-xxxxxxxxxxxxxxxxxx", 404), ("/ui/login", 200), ("/docs", 200),
                         ("/redoc", 200)):
        r = httpx.get(paged.url + path, timeout=10)
        assert r.status_code == status, f"{path}: {r.status_code} {r.text[:200]}"
        assert "text/html" in r.headers["content-type"], path
        for header in SECURITY_HEADERS:
            assert header in r.headers, f"{path} lacks {header}"
        if not path.startswith(("/docs", "/redoc")):  # (the OpenAPI pages load Swagger UI / ReDoc)
            assert "default-src 'none'" in r.headers["content-security-policy"], path


def test_sms_reply_answers_with_text_only(paged):
    r = httpx.post(f"{paged.sim_thread.url}/_sim/reply", timeout=10,
                   json={"from": ALICE, "body": '4 <Message to="+19005550100">x</Message>'})
    assert r.status_code == 200, r.text
    answer = r.json()
    root = ET.fromstring(answer["body"])
    assert [element.tag for element in root.iter()] == ["Response", "Message"]
    assert json.dumps(answer["replies"]).count("Message") <= 1
