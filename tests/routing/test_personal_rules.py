"""Personal notification rules (routing/personal_rules.py) and how ``decide`` follows them:
each step is a page on its channel due at the tier's page plus its delay, through the same
pages, fallback and acknowledgement as the policy's channels."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from routing.decide import decide
from routing.dry_run import plan
from routing.incident import (Acknowledge, AlertsReceived, AlertState, DeliverAt, DeliverPages, Escalate, PageOutcome,
                              Reassign)
from routing.personal_rules import NO_RULES, PersonalRules, Rulebook, RuleStep, Urgencies
from routing.policy import Policy, SeverityRule, Tier

T0 = datetime.now(timezone.utc).replace(microsecond=0)
FIVE = {s: timedelta(minutes=5) for s in ("P0", "P1", "P2", "P3")}
POLICY = Policy("default", (
    Tier("L1", schedule="primary", escalate_after=FIVE, channels={"P1": ("sms",), "P2": ("sms",), "P3": ("email",)}),
    Tier("L2", schedule="backup", escalate_after=FIVE),
), rules={s: SeverityRule() for s in ("P0", "P1", "P2", "P3")})
ROSTER = {"L1": ("alice", "bob"), "L2": ("carol",)}
VOICE_THEN_EMAIL = PersonalRules.model_validate(
    {"high": [{"channel": "email", "delay_minutes": 5}, {"channel": "voice", "delay_minutes": 0}]})
BOOK = Rulebook(Urgencies(), {"alice": VOICE_THEN_EMAIL})


def received(severity: str = "P1") -> AlertsReceived:
    return AlertsReceived(new_id="1", receiver="herald", group_key="g", severity=severity, title="DiskFull",
                          alerts=[AlertState(fingerprint="f", status="firing", starts_at=T0 - timedelta(minutes=1))])


def pages(incident):
    return sorted((p.person, p.channel, p.at - T0, p.state) for p in incident.pages)


# -- the model ------------------------------------------------------------------------------
def test_steps_are_kept_in_the_order_they_fire():
    assert [(s.channel, s.delay_minutes) for s in VOICE_THEN_EMAIL.high] == [("voice", 0), ("email", 5)]
    assert VOICE_THEN_EMAIL.steps("low") == () and not VOICE_THEN_EMAIL.empty


def test_the_edges_of_a_step_are_accepted():
    rules = PersonalRules.model_validate({"low": [{"channel": "sms"}, {"channel": "email", "delay_minutes": 1440}]})
    assert [(s.channel, s.delay) for s in rules.low] == [("sms", timedelta(0)), ("email", timedelta(days=1))]
    assert PersonalRules().empty and PersonalRules(high=[], low=[]).empty


@pytest.mark.parametrize("body, where", [
    ({"high": [{"channel": "sms"}, {"channel": "sms", "delay_minutes": 3}]}, "appears twice"),
    ({"high": [{"channel": "pager"}]}, "channel"),
    ({"high": [{"channel": "console"}]}, "channel"),
    ({"low": [{"channel": "sms", "delay_minutes": -1}]}, "delay_minutes"),
    ({"low": [{"channel": "sms", "delay_minutes": 1441}]}, "delay_minutes"),
    ({"urgent": []}, "urgent"),
    ({"high": [{"channel": "sms", "delay": 3}]}, "delay"),
])
def test_a_wrong_rule_is_refused_naming_what_is_wrong(body, where):
    with pytest.raises(ValidationError) as caught:
        PersonalRules.model_validate(body)
    assert where in str(caught.value)


def test_urgency_defaults_and_a_custom_mapping():
    assert [Urgencies().of(s) for s in ("P0", "P1", "P2", "P3")] == ["high", "high", "low", "low"]
    custom = Urgencies(high=("P0",), low=("P1", "P2", "P3"))
    assert custom.of("P1") == "low"
    assert Rulebook(custom, {"alice": VOICE_THEN_EMAIL}).steps("alice", "P1") == ()


@pytest.mark.parametrize("high, low, message", [
    (("P0", "P1"), ("P1", "P2", "P3"), "P1 is in both"),
    (("P0",), ("P2", "P3"), "P1 is in neither"),
    (("P0", "P1", "P9"), ("P2", "P3"), "unknown severity 'P9'"),
])
def test_an_urgency_mapping_must_cover_each_severity_once(high, low, message):
    with pytest.raises(ValueError, match=message):
        Urgencies(high=high, low=low)


# -- decide follows them ---------------------------------------------------------------------
def test_a_person_with_rules_is_paged_by_them_and_the_others_by_the_policy():
    d = decide(None, received(), POLICY, ROSTER, T0, rules=BOOK)
    assert pages(d.incident) == [("alice", "email", timedelta(minutes=5), "pending"),
                                 ("alice", "voice", timedelta(0), "pending"),
                                 ("bob", "sms", timedelta(0), "pending")]
    assert d.incident.due_at() == T0  # the pages due now first
    assert DeliverPages(incident_id="1") in d.effects and DeliverAt(incident_id="1", at=T0 + timedelta(minutes=5)) \
        in d.effects
    [paging] = [e for e in d.incident.timeline if e.kind == "paging"]
    assert paging.details["personal_rules"] == {"alice": [{"channel": "voice", "delay_minutes": 0},
                                                          {"channel": "email", "delay_minutes": 5}]}


def test_without_rules_for_the_urgency_the_policy_channels_stay():
    low = decide(None, received("P2"), POLICY, ROSTER, T0, rules=BOOK)  # alice has only high-urgency rules
    assert pages(low.incident) == [("alice", "sms", timedelta(0), "pending"), ("bob", "sms", timedelta(0), "pending")]
    nobody = decide(None, received(), POLICY, ROSTER, T0, rules=NO_RULES)
    assert pages(nobody.incident) == pages(low.incident)
    assert "personal_rules" not in next(e for e in nobody.incident.timeline if e.kind == "paging").details


def test_a_delayed_step_is_due_when_the_earlier_ones_went_out():
    incident = decide(None, received(), POLICY, {"L1": ("alice",), "L2": ("carol",)}, T0, rules=BOOK).incident
    sent = decide(incident, PageOutcome(round=1, person="alice", channel="voice", outcome="sent"), POLICY, {},
                  T0 + timedelta(seconds=1)).incident
    assert sent.due_at() == T0 + timedelta(minutes=5)  # the email step (the escalation is later: 5 min after the call)
    assert sent.next_escalation_at == T0 + timedelta(minutes=5, seconds=1)


def test_an_acknowledgement_cancels_the_steps_still_to_come():
    incident = decide(None, received(), POLICY, ROSTER, T0, rules=BOOK).incident
    acked = decide(incident, Acknowledge(by="alice", via="voice"), POLICY, {}, T0 + timedelta(minutes=2)).incident
    assert [(p.person, p.channel, p.state) for p in acked.pages if p.channel == "email"] == [
        ("alice", "email", "cancelled")]
    assert acked.due_at() is None  # no ack timeout in this policy: nothing more is due


def test_a_failed_step_falls_back_as_a_policy_page_would_and_later_steps_keep_their_time():
    incident = decide(None, received(), POLICY, {"L1": ("alice",), "L2": ("carol",)}, T0, rules=BOOK).incident
    failed = decide(incident, PageOutcome(round=1, person="alice", channel="voice", outcome="failed",
                                          detail="busy"), POLICY, {}, T0).incident
    assert pages(failed) == [("alice", "email", timedelta(minutes=5), "pending"),
                             ("alice", "sms", timedelta(0), "pending"),  # voice -> email is planned -> sms
                             ("alice", "voice", timedelta(0), "failed")]


def test_escalation_and_reassignment_follow_the_rules_of_whoever_they_page():
    book = Rulebook(Urgencies(), {"carol": PersonalRules(high=[RuleStep(channel="email")]),
                                  "dave": PersonalRules(high=[RuleStep(channel="sms", delay_minutes=2)])})
    incident = decide(None, received(), POLICY, ROSTER, T0, rules=book).incident
    later = T0 + timedelta(minutes=5)
    escalated = decide(incident, Escalate(round=1), POLICY, ROSTER, later, rules=book).incident
    assert [(p.person, p.channel, p.at) for p in escalated.pages if p.round == 2] == [("carol", "email", later)]
    reassigned = decide(escalated, Reassign(by="api", via="api", person="dave"), POLICY, ROSTER, later,
                        rules=book).incident
    assert [(p.person, p.channel, p.at) for p in reassigned.pages if p.round == 3] == [
        ("dave", "sms", later + timedelta(minutes=2))]


# -- the dry run shows them ------------------------------------------------------------------
def test_the_dry_run_shows_each_step_at_its_time_and_whose_rules_they_are():
    result = plan(received(), POLICY, T0, lambda t: ROSTER, lambda t: None, rules=BOOK)
    first = [(s.at - T0, s.tier, s.people, s.channels, s.personal) for s in result.steps if s.round == 1]
    assert first == [(timedelta(0), "L1", ["alice", "bob"], ["voice", "sms"], ["alice"]),
                     (timedelta(minutes=5), "L1", ["alice"], ["email"], ["alice"])]
    without = plan(received(), POLICY, T0, lambda t: ROSTER, lambda t: None)
    assert [(s.at - T0, s.channels, s.personal) for s in without.steps if s.round == 1] == [
        (timedelta(0), ["sms"], [])]
