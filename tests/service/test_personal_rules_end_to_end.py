"""A person's rules end to end: set through the API, the alert through the webhook, pages
through the Twilio and SendGrid SDKs to the provider simulator, the delayed step made due
by the incident's due entry and run by the clock loop's pass (``due.run_now``), the
acknowledgement through the API. Alice's rule: a call at once, an email 5 minutes later
while nobody has acknowledged."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import httpx

from integrations import keys
from service.worker import due
from tests.herald_env import API_TOKEN
from tests.service.sim_stack import ALICE, sim_stack_factory  # noqa: F401

API = {"Authorization": f"Bearer {API_TOKEN}"}
ALICE_EMAIL = "alice@example.com"
RULES = {"high": [{"channel": "voice", "delay_minutes": 0}, {"channel": "email", "delay_minutes": 5}]}


def start(sim_stack_factory, monkeypatch, group: str):
    stack = sim_stack_factory()
    r = httpx.put(f"{stack.url}/api/v1/people/alice/rules", json=RULES, headers=API, timeout=10)
    assert r.status_code == 200, r.text
    t0 = datetime.now(timezone.utc)
    clock = {"now": t0}
    monkeypatch.setattr(stack.herald, "clock", lambda: clock["now"])
    incident_id = stack.fire(group, priority="P1")
    assert due.run_now(stack.herald) == 1  # the call, now; the email is not due yet
    assert len(stack.pages_to(ALICE, "voice")) == 1 and stack.pages_to(ALICE, "sms") == []
    assert stack.sim.messages_for(to=ALICE_EMAIL, channel="email") == []
    email_at = t0 + timedelta(minutes=5)
    assert stack.herald.store.redis.zscore(keys.DUE, keys.due_incident(incident_id)) == email_at.timestamp()
    return stack, clock, incident_id, t0


def test_the_email_step_goes_out_five_minutes_after_the_call_while_nobody_acknowledges(sim_stack_factory,
                                                                                       monkeypatch):
    stack, clock, incident_id, t0 = start(sim_stack_factory, monkeypatch, "rules-unacked")
    clock["now"] = t0 + timedelta(minutes=5) - timedelta(seconds=1)
    assert due.run_now(stack.herald) == 0  # a second early: nothing
    assert stack.sim.messages_for(to=ALICE_EMAIL, channel="email") == []
    clock["now"] = t0 + timedelta(minutes=5)
    assert due.run_now(stack.herald) == 1
    [email] = stack.sim.messages_for(to=ALICE_EMAIL, channel="email")
    assert f"#{incident_id}" in email.subject + email.text
    states = {p.channel: p.state for p in stack.incident(incident_id).pages}
    assert states == {"voice": "sent", "email": "sent"}
    assert len(stack.pages_to(ALICE, "voice")) == 1  # the call went once


def test_an_acknowledgement_at_two_minutes_stops_the_email(sim_stack_factory, monkeypatch):
    stack, clock, incident_id, t0 = start(sim_stack_factory, monkeypatch, "rules-acked")
    clock["now"] = t0 + timedelta(minutes=2)
    r = httpx.post(f"{stack.url}/api/v1/incidents/{incident_id}/ack", json={"as": "alice"}, headers=API, timeout=10)
    assert r.status_code == 200 and r.json()["status"] == "acknowledged", r.text
    clock["now"] = t0 + timedelta(minutes=6)
    assert due.run_now(stack.herald) == 0
    assert stack.sim.messages_for(to=ALICE_EMAIL, channel="email") == [], "the email step went out after the ack"
    incident = stack.incident(incident_id)
    assert {p.channel: p.state for p in incident.pages} == {"voice": "sent", "email": "cancelled"}
    assert stack.herald.store.redis.zscore(keys.DUE, keys.due_incident(incident_id)) is None
    assert stack.herald.store.redis.zcard(keys.pending("alice", "email")) == 0


def test_an_unanswered_call_falls_back_to_sms_at_once_and_the_email_keeps_its_time(sim_stack_factory,
                                                                                   monkeypatch):
    stack, clock, incident_id, t0 = start(sim_stack_factory, monkeypatch, "rules-no-answer")
    [call] = stack.pages_to(ALICE, "voice")
    clock["now"] = t0 + timedelta(seconds=30)
    entry = stack.control("status", provider_id=call.provider_id, status="no-answer")
    assert entry["status_code"] == 200, entry
    incident = stack.incident(incident_id)
    fallback = [e.details for e in incident.timeline if e.kind == "channel_fallback"]
    assert fallback == [{"person": "alice", "round": 1, "tier": "L1", "failed": "voice", "next": "sms"}]
    assert due.run_now(stack.herald) == 1  # the SMS now (email, the next in line, is already planned)
    assert len(stack.pages_to(ALICE, "sms")) == 1
    assert stack.sim.messages_for(to=ALICE_EMAIL, channel="email") == []
    clock["now"] = t0 + timedelta(minutes=5)
    assert due.run_now(stack.herald) == 1
    assert len(stack.sim.messages_for(to=ALICE_EMAIL, channel="email")) == 1
