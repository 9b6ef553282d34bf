"""Only people involved in an incident act on it by SMS reply or keypress (issue 14,
item 4): the person paged for it, whoever is on call now for one of its policy's tiers,
and the policy's ``responders``. Anyone else — here Mallory, who is in the
configuration and on call for another team's policy — is told "you were not paged
for #N" and nothing changes.

Through the real path: pages go out through the Twilio SDK to the provider simulator,
which answers as the person, signed as Twilio signs (tests/service/sim_stack.py).
"""
from __future__ import annotations

import logging
from pathlib import Path

import pytest

from integrations.paging_store import SentMessage
from service.worker import due
from service.telemetry import metrics
from tests.herald_env import weekly_calendar
from tests.service.sim_stack import ALICE, SimStack, sim_stack_factory  # noqa: F401

BOB, RITA, MALLORY = "+15550100002", "+15550100006", "+15550100007"
CONFIG = """
people:
  - {id: alice, name: Alice Adams, email: alice@example.com, phone: "+15550100001"}
  - {id: bob, name: Bob Brown, email: bob@example.com, phone: "+15550100002"}
  - {id: erin, name: Erin Engel, email: erin@example.com, phone: "+15550100004"}
  - {id: rita, name: Rita Ruiz, email: rita@example.com, phone: "+15550100006"}
  - {id: mallory, name: Mallory Moss, email: mallory@example.com, phone: "+15550100007"}
schedules:
  - {name: primary, calendar: primary.ics, default_tier: L1}
  - {name: backup, calendar: backup.ics, default_tier: L2}
policies:
  - name: default
    escalate_after: {P1: 1h, P2: 1h}
    responders: [rita]
    tiers:
      - {name: L1, schedule: primary, channels: {P1: [sms, voice], P2: [sms]}}
      - {name: L2, schedule: backup, channels: {P1: [sms], P2: [sms]}}
      - {name: engineering, people: [erin], channels: {P1: [sms], P2: [sms]}}
  - name: payments
    tiers:
      - {name: L1, people: [mallory], channels: {P1: [sms], P2: [sms]}}
route: {policy: default}
"""


def write_config(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "primary.ics").write_text(weekly_calendar("p1", "alice@example.com", "Alice Adams"), newline="")
    (directory / "backup.ics").write_text(weekly_calendar("b1", "bob@example.com", "Bob Brown"), newline="")
    path = directory / "herald.yaml"
    path.write_text(CONFIG)
    return path


@pytest.fixture
def stack(sim_stack_factory, tmp_path, monkeypatch) -> SimStack:  # noqa: F811
    stack = sim_stack_factory(HERALD_CONFIG=str(write_config(tmp_path / "acting")),
                              HERALD_RATE_LIMIT_SMS="0", HERALD_RATE_LIMIT_VOICE="0")
    return stack


def paged(stack: SimStack, group: str) -> str:
    """A new incident whose L1 pages (Alice: an SMS and a call) went out."""
    incident_id = stack.fire(group)
    assert due.run_now(stack.herald) == 2
    assert [(p.person, p.channel, p.state) for p in stack.incident(incident_id).pages] == [
        ("alice", "sms", "sent"), ("alice", "voice", "sent")]
    return incident_id


def refused(channel: str) -> float:
    return metrics.REGISTRY.get_sample_value("herald_replies_refused_total", {"channel": channel}) or 0.0


def test_someone_never_paged_cannot_act_by_sms_and_is_told_so(stack, caplog):
    incident_id = paged(stack, "stranger")
    before, counted = stack.incident(incident_id), refused("sms")
    with caplog.at_level(logging.WARNING, logger="herald.replies"):
        for body in (f"4 {incident_id}", f"ack #{incident_id}", f"6 {incident_id}", f"8 {incident_id}",
                     f"snooze 30 {incident_id}"):
            assert stack.reply(MALLORY, body) == [f"Herald: you were not paged for #{incident_id}"], body
    after = stack.incident(incident_id)
    assert after == before  # not acknowledged, resolved, escalated or snoozed; no timeline entry, same version
    assert (after.status, after.round, after.version) == ("triggered", 1, before.version)
    assert refused("sms") == counted + 5
    assert [r.getMessage() for r in caplog.records].count(
        f"sms ack of #{incident_id} by mallory refused: not paged for it, not on call for policy default, "
        "not a responder") == 2
    assert not [m for m in stack.pages_to(MALLORY)]  # and Herald never paged her for it


def test_the_paged_person_acts_by_replying_to_the_page(stack):
    incident_id = paged(stack, "paged")
    assert stack.reply(ALICE, "4") == [f"Herald: #{incident_id} acknowledged"]
    incident = stack.incident(incident_id)
    assert (incident.status, incident.acknowledged_by) == ("acknowledged", "alice")
    assert incident.timeline[-1].details == {"by": "alice", "via": "sms"}


def test_who_is_on_call_now_for_a_tier_may_act_without_having_been_paged(stack):
    incident_id = paged(stack, "backup")
    assert {p.person for p in stack.incident(incident_id).pages} == {"alice"}  # Bob (L2) was never paged
    assert stack.reply(BOB, f"4 {incident_id}") == [f"Herald: #{incident_id} acknowledged"]
    assert stack.incident(incident_id).acknowledged_by == "bob"


def test_a_configured_responder_may_act_and_a_mixed_answer_refuses_only_what_is_not_theirs(stack):
    """Rita is on no tier and was never paged; the policy names her in ``responders``.
    For Mallory, a message record saying an SMS carried the incident to her is not
    enough: the incident's own send log never paged her."""
    incident_id = paged(stack, "responder")
    assert stack.reply(RITA, f"6 {incident_id}") == [f"Herald: #{incident_id} resolved"]
    incident = stack.incident(incident_id)
    assert (incident.status, incident.resolved_by) == ("resolved", "rita")

    other = paged(stack, "other")
    stack.herald.paging.record_message(SentMessage("SMpayments", "mallory", "sms", ((other, 1),)), MALLORY)
    assert stack.reply(MALLORY, "4") == [f"Herald: you were not paged for #{other}"]  # a record alone proves nothing
    assert stack.incident(other).status == "triggered"


def test_a_keypress_acts_for_the_person_called_and_refuses_anyone_else(stack):
    first = paged(stack, "call")
    [call] = stack.pages_to(ALICE, "voice")
    assert stack.press(call.provider_id, "*")[0].startswith("Herald page")  # a repeat acts on nothing
    assert stack.press(call.provider_id, "4") == [f"Herald: incident {first} acknowledged. Goodbye."]
    assert stack.incident(first).acknowledged_by == "alice"

    # A call whose record names someone the incident never paged (a stale or forged
    # record): the incident's own send log decides, and the keypress changes nothing.
    second = paged(stack, "call-2")
    [_, call] = stack.pages_to(ALICE, "voice")
    stack.herald.paging.record_message(SentMessage(call.provider_id, "mallory", "voice", ((second, 1),)), "")
    before, counted = stack.incident(second), refused("voice")
    assert stack.press(call.provider_id, "4") == [f"Herald: you were not paged for incident {second}. Goodbye."]
    assert stack.incident(second) == before and refused("voice") == counted + 1
