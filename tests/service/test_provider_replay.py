"""Each inbound provider event acts at most once (issue 14, item 5): a captured,
correctly signed request posted again is answered 200 and changes nothing.

The simulator posts every callback signed as Twilio and SendGrid sign them, and
``/_sim/replay`` posts one again byte for byte — signature, timestamp and all — as
someone who captured it would. Herald remembers each event by the provider's id
(MessageSid; CallSid and digits; sid and status; sg_event_id) with one atomic
``SET NX EX`` in Redis.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from integrations import keys
from integrations.paging_store import INBOUND_EVENT_TTL_SECONDS
from service.worker import due
from service.telemetry import metrics
from service.engine.replies import once
from tests.herald_env import weekly_calendar
from tests.service.sim_stack import ALICE, SimStack, sim_stack_factory  # noqa: F401

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response />'
CONFIG = """
people:
  - {id: alice, name: Alice Adams, email: alice@example.com, phone: "+15550100001"}
  - {id: bob, name: Bob Brown, email: bob@example.com, phone: "+15550100002"}
schedules:
  - {name: primary, calendar: primary.ics, default_tier: L1}
policies:
  - name: default
    escalate_after: {P1: 1h, P2: 1h}
    tiers:
      - {name: L1, schedule: primary, channels: {P1: [sms, voice, email], P2: [sms]}}
      - {name: L2, people: [bob], channels: {P1: [sms], P2: [sms]}}
route: {policy: default}
"""


@pytest.fixture
def stack(sim_stack_factory, tmp_path: Path, monkeypatch) -> SimStack:  # noqa: F811
    directory = tmp_path / "replay"
    directory.mkdir()
    (directory / "primary.ics").write_text(weekly_calendar("p1", "alice@example.com", "Alice Adams"), newline="")
    (directory / "herald.yaml").write_text(CONFIG)
    stack = sim_stack_factory(HERALD_CONFIG=str(directory / "herald.yaml"), HERALD_RATE_LIMIT_SMS="0",
                              HERALD_RATE_LIMIT_VOICE="0")
    return stack


def paged(stack: SimStack, group: str) -> str:
    """A new incident whose L1 pages to Alice (an SMS, a call and an email) went out."""
    incident_id = stack.fire(group)
    assert due.run_now(stack.herald) == 3
    return incident_id


def replays(kind: str) -> float:
    return metrics.REGISTRY.get_sample_value("herald_provider_events_replayed_total", {"kind": kind}) or 0.0


def test_a_replayed_sms_reply_does_not_acknowledge_the_newer_incident(stack):
    first = paged(stack, "first")
    assert stack.reply(ALICE, "4") == [f"Herald: #{first} acknowledged"]
    [captured] = [i for i, c in enumerate(stack.sim.callbacks) if c["kind"] == "sms-reply"]
    sid = dict(pair.split("=", 1) for pair in stack.sim.callbacks[captured]["request"]["content"].split("&"))[
        "MessageSid"]
    ttl = stack.herald.paging.redis.ttl(keys.inbound_event("twilio-sms", sid))
    assert 24 * 3600 <= ttl <= INBOUND_EVENT_TTL_SECONDS  # remembered at least a day

    second = paged(stack, "second")  # the newest page to Alice's number is now #second's
    before, counted = stack.incident(second), replays("twilio-sms")
    answer = stack.replay(captured)
    assert (answer["status_code"], answer["body"], answer["replies"]) == (200, EMPTY_TWIML, [])
    assert stack.incident(second) == before and before.status == "triggered"
    assert replays("twilio-sms") == counted + 1

    # Alice herself texting 4 again is a new message (a new MessageSid): it acts.
    assert stack.reply(ALICE, "4") == [f"Herald: #{second} acknowledged"]
    assert stack.incident(second).acknowledged_by == "alice"


def test_a_replayed_keypress_does_not_press_again(stack):
    incident_id = paged(stack, "call")
    [call] = stack.pages_to(ALICE, "voice")
    assert stack.press(call.provider_id, "8") == [f"Herald: incident {incident_id} escalated. Goodbye."]
    escalated = stack.incident(incident_id)
    assert escalated.round == 2
    answer = stack.replay()
    assert (answer["status_code"], answer["body"]) == (200, EMPTY_TWIML)
    assert stack.incident(incident_id) == escalated  # not escalated a second time


def test_a_later_status_of_the_same_message_counts_and_a_replayed_one_does_not(stack):
    incident_id = paged(stack, "status")
    [sms] = stack.pages_to(ALICE)

    def status(value: str) -> dict:
        entry = stack.control("status", provider_id=sms.provider_id, status=value)
        assert entry["status_code"] == 200, entry
        return json.loads(entry["body"])

    assert status("delivered") == {"status": "delivered", "pages_moved_on": 0}
    assert status("undelivered") == {"status": "undelivered", "pages_moved_on": 1}  # same sid, new status: counts
    moved_on = stack.incident(incident_id)
    assert [(p.channel, p.state) for p in moved_on.pages] == [("sms", "failed"), ("voice", "sent"), ("email", "sent")]
    assert [e.details["channel"] for e in moved_on.timeline if e.kind == "delivery_failed"] == ["sms"]

    answer = stack.replay()
    assert answer["status_code"] == 200
    assert json.loads(answer["body"]) == {"status": "undelivered", "pages_moved_on": 0, "replayed": True}
    assert stack.incident(incident_id) == moved_on


def test_a_replayed_sendgrid_event_is_ignored(stack):
    incident_id = paged(stack, "email")
    entry = stack.control("email-event", email="alice@example.com", event="bounce")
    assert (entry["status_code"], json.loads(entry["body"])) == (200, {"events": 1, "pages_moved_on": 1})
    bounced, counted = stack.incident(incident_id), replays("sendgrid-event")
    assert [e.details["channel"] for e in bounced.timeline if e.kind == "delivery_failed"] == ["email"]

    answer = stack.replay()  # within SendGrid's 10-minute timestamp window: only the event id stops it
    assert answer["status_code"] == 200
    assert json.loads(answer["body"]) == {"events": 1, "pages_moved_on": 0, "replayed": 1}
    assert stack.incident(incident_id) == bounced and replays("sendgrid-event") == counted + 1


def test_a_claim_whose_handling_failed_is_given_back_for_the_providers_retry(herald):
    def broken() -> int:
        raise RuntimeError("Redis went away mid-way")

    with pytest.raises(RuntimeError):
        once(herald, "twilio-status", "SM1:undelivered", broken)
    assert once(herald, "twilio-status", "SM1:undelivered", lambda: 1) == 1  # the retry acts ...
    assert once(herald, "twilio-status", "SM1:undelivered", lambda: 2) is None  # ... once
