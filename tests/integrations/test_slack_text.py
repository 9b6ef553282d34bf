"""Slack's request signature (a known answer from Slack's documentation) and the Block Kit
Herald renders: pure, no Slack."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from integrations.slack_client import sign, verify_signature
from integrations.slack_text import incident_message, page_message, thread_line
from routing.incident import AlertState, Incident, PageIntent, TimelineEntry
from tests.integrations.sim_fixture import make_page

# "Verifying requests from Slack" (docs.slack.dev/authentication/verifying-requests-from-slack)
DOC_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
DOC_TIMESTAMP = "1531420618"
DOC_BODY = (b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
            b"&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
            b"&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
            b"&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c")
DOC_SIGNATURE = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
NOW = datetime.now(timezone.utc)


def test_signature_known_answer_from_slacks_documentation():
    at_signing = lambda: float(DOC_TIMESTAMP)  # noqa: E731 - the clock when Slack signed it
    assert sign(DOC_SECRET, DOC_BODY, DOC_TIMESTAMP) == DOC_SIGNATURE
    assert verify_signature(DOC_SECRET, DOC_BODY, DOC_TIMESTAMP, DOC_SIGNATURE, now=at_signing)


def test_signature_is_refused_outside_five_minutes_and_accepted_inside():
    signed_at = float(DOC_TIMESTAMP)
    assert verify_signature(DOC_SECRET, DOC_BODY, DOC_TIMESTAMP, DOC_SIGNATURE, now=lambda: signed_at + 299)
    assert not verify_signature(DOC_SECRET, DOC_BODY, DOC_TIMESTAMP, DOC_SIGNATURE, now=lambda: signed_at + 301)
    assert not verify_signature(DOC_SECRET, DOC_BODY, DOC_TIMESTAMP, DOC_SIGNATURE, now=lambda: signed_at - 301)


def test_signature_is_refused_for_another_body_secret_or_nothing():
    now = lambda: float(DOC_TIMESTAMP)  # noqa: E731
    assert not verify_signature(DOC_SECRET, DOC_BODY.replace(b"roadrunner", b"coyote"), DOC_TIMESTAMP,
                                DOC_SIGNATURE, now=now)
    assert not verify_signature("another-secret", DOC_BODY, DOC_TIMESTAMP, DOC_SIGNATURE, now=now)
    assert not verify_signature(DOC_SECRET, DOC_BODY, None, DOC_SIGNATURE, now=now)
    assert not verify_signature(DOC_SECRET, DOC_BODY, "not-a-number", DOC_SIGNATURE, now=now)
    assert not verify_signature("", DOC_BODY, DOC_TIMESTAMP, DOC_SIGNATURE, now=now)


def _incident(status: str = "triggered", title: str = "DiskFull on db1") -> Incident:
    incident = Incident(id="12", receiver="r", group_key="g", policy="default", status=status, severity="P1",
                        title=title, created_at=NOW - timedelta(minutes=3), round=1, tier_index=0,
                        alerts={"f1": AlertState(fingerprint="f1", status="firing", starts_at=NOW,
                                                 labels={"alertname": "DiskFull", "instance": "db1:9100"},
                                                 annotations={"summary": "Disk 95% full"},
                                                 generator_url="http://prometheus:9090/graph?g0.expr=x")},
                        pages=[PageIntent(round=1, tier="L1", person="alice", channel="sms", at=NOW, state="sent")])
    if status != "triggered":
        incident.acknowledged_by = "bob"
    if status == "resolved":
        incident.resolved_by = "alertmanager"
    return incident


def _buttons(blocks: list[dict]) -> list[str]:
    return [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]]


def test_a_triggered_incident_shows_who_is_paged_its_alert_and_four_buttons():
    text, blocks = incident_message(_incident(), {"alice": "Alice Adams"}, "https://herald.test/ui/incidents/12")
    rendered = str(blocks)
    assert text.startswith("[P1] #12 DiskFull on db1")
    assert "Paging Alice Adams" in rendered and "DiskFull" in rendered and "Disk 95% full" in rendered
    assert "<https://herald.test/ui/incidents/12|Open in Herald>" in rendered
    assert _buttons(blocks) == ["herald_ack", "herald_resolve", "herald_escalate", "herald_take"]
    assert all(e["value"] == "12" for b in blocks if b["type"] == "actions" for e in b["elements"])


def test_an_acknowledged_incident_has_no_ack_button_and_a_resolved_one_no_buttons():
    _, acked = incident_message(_incident("acknowledged"), {"bob": "Bob Brown"}, "https://h/ui/incidents/12")
    assert "Acknowledged by Bob Brown" in str(acked)
    assert _buttons(acked) == ["herald_resolve", "herald_escalate", "herald_take"]
    _, resolved = incident_message(_incident("resolved"), {}, "https://h/ui/incidents/12")
    assert _buttons(resolved) == [] and "Resolved by alertmanager" in str(resolved)


def test_text_from_an_alert_cannot_mention_everyone_or_forge_a_link():
    hostile = "<!channel> <https://evil.example|click> & \u202eevil\nnext"
    _, blocks = incident_message(_incident(title=hostile), {}, "javascript:alert(1)")
    rendered = str(blocks)
    assert "<!channel>" not in rendered and "<https://evil.example" not in rendered
    assert "&lt;!channel&gt;" in rendered and "&amp;" in rendered and "\u202e" not in rendered
    assert "javascript:" not in rendered  # not an http(s) link: left out


def test_a_page_to_a_dm_has_the_buttons_of_its_incident_and_a_bundle_none():
    text, blocks = page_message(make_page(channel="slack", address="ann@example.com"))
    assert text == "Herald: [P1] #12 DiskFull"
    assert _buttons(blocks) == ["herald_ack", "herald_resolve", "herald_escalate", "herald_take"]
    _, bundle = page_message(make_page(channel="slack", code="", ack_url="", title="3 new incidents"))
    assert _buttons(bundle) == []


def test_thread_lines_for_the_entries_that_matter_and_none_for_the_rest():
    names = {"alice": "Alice Adams", "bob": "Bob Brown"}

    def line(kind: str, **details):
        return thread_line(TimelineEntry(at=NOW, kind=kind, details=details), names)

    assert line("paging", tier="L1", people=["alice"]) == "Paging L1: Alice Adams"
    assert line("escalated", tier="L2", people=["bob"]) == "Escalated to L2: Bob Brown"
    assert line("page", person="alice", channel="sms") == "Paged Alice Adams by sms"
    assert line("acknowledged", by="bob", via="slack") == "Acknowledged by Bob Brown via slack"
    assert line("resolved", by="alertmanager", via="alertmanager") == "Resolved by alertmanager via alertmanager"
    assert line("page_retry", person="alice") is None and line("note", text="hi") is None
