"""The delivery plan (who, which channel, bundled with what, addressed how) and the
batch of page outcomes one delivery commits per incident — both pure."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from routing.decide import decide
from routing.delivery_plan import (PlannedMessage, Target, address_for, due_targets, plan, plan_message,
                                   policies_to_ask, still_on_call)
from routing.incident import DeliverAt, DeliverPages, PageOutcome, PageOutcomes
from tests.routing.test_decide import POLICY, ROSTER, opened

NOW = datetime.now(timezone.utc)


@dataclass(frozen=True)
class Person:
    phone: str | None = None
    email: str | None = None


PEOPLE = {"alice": Person("+15550100001", "alice@example.com"), "bob": Person(None, "bob@example.com")}


def test_due_targets_are_each_person_and_channel_with_a_page_due():
    incident = opened(now=NOW).incident
    pairs = {(p.person, p.channel) for p in incident.pending_pages()}
    assert [(t.person, t.channel) for t in due_targets(incident, NOW)] == sorted(pairs)
    assert not any(t.urgent for t in due_targets(incident, NOW))
    urgent = incident.model_copy(update={"severity": "P0"})
    assert all(t.urgent for t in due_targets(urgent, NOW))


def test_nothing_is_due_before_its_time_or_once_the_incident_stopped_paging():
    incident = opened(now=NOW).incident
    assert due_targets(incident, NOW - timedelta(seconds=1)) == []
    assert due_targets(incident.model_copy(update={"status": "acknowledged"}), NOW) == []


def test_a_message_bundles_the_pages_and_is_addressed_for_its_channel():
    pages = [("12", 1), ("13", 2), ("12", 2)]
    message = plan_message("alice", "sms", pages, PEOPLE)
    assert message == PlannedMessage("alice", "sms", tuple(pages), "+15550100001")
    assert message.bundled == 3 and message.incident_ids == ("12", "13")
    assert plan_message("alice", "email", pages, PEOPLE).address == "alice@example.com"
    assert address_for(PEOPLE["alice"], "console") == ""


def test_a_message_that_cannot_go_says_why():
    assert plan_message("bob", "sms", [("1", 1)], PEOPLE).reason == "bob has no sms address"
    assert plan_message("zoe", "email", [("1", 1)], PEOPLE).reason == "zoe has no email address"
    stopped = plan_message("alice", "sms", [("1", 1)], PEOPLE, opted_out={"+15550100001"})
    assert stopped.address is None and stopped.reason == "the number replied STOP: SMS opted out"
    assert plan_message("alice", "voice", [("1", 1)], PEOPLE, opted_out={"+15550100001"}).address  # SMS only
    none = plan_message("alice", "voice", [("1", 1)], PEOPLE, channels=["sms"])
    assert none.address is None and none.reason == "no notifier for channel voice"


def test_plan_sends_one_message_per_person_and_channel_with_pages():
    due = {("alice", "sms"): [("1", 1), ("2", 1)], ("bob", "email"): [("1", 1)], ("alice", "voice"): []}
    assert [(m.person, m.channel, m.bundled) for m in plan(due, PEOPLE)] == [("alice", "sms", 2), ("bob", "email", 1)]


def test_a_page_that_waited_for_someone_now_off_call_is_rerouted():
    incident = opened(now=NOW).incident
    held = decide(incident, PageOutcome(round=1, person="alice", channel="sms", outcome="deferred",
                                        until=NOW + timedelta(seconds=30)), POLICY, ROSTER, NOW).incident
    incidents, policies = {held.id: held}, {POLICY.name: POLICY}
    claimed = [(held.id, 1)]
    assert policies_to_ask("alice", "sms", claimed, incidents) == {POLICY.name}
    assert policies_to_ask("alice", "voice", claimed, incidents) == set()  # did not wait: not asked again
    handed_over = {POLICY.name: {**ROSTER, "L1": ("carol",)}}
    assert still_on_call("alice", "sms", claimed, incidents, policies, handed_over) == ([], claimed)
    assert still_on_call("alice", "sms", claimed, incidents, policies, {POLICY.name: ROSTER}) == (claimed, [])
    # Nobody on call for the tier now, or no roster to ask: the page is kept (someone beats no one).
    assert still_on_call("alice", "sms", claimed, incidents, policies,
                         {POLICY.name: {**ROSTER, "L1": ()}}) == (claimed, [])
    unknown = [("404", 1)] + claimed
    assert still_on_call("alice", "sms", unknown, incidents, policies, {}) == (unknown, [])


def test_outcomes_of_one_delivery_are_folded_in_one_decision():
    incident = opened(now=NOW).incident
    later = NOW + timedelta(seconds=1)
    one_by_one = incident
    batch = [PageOutcome(round=1, person="alice", channel="sms", outcome="sent", provider_id="SM1"),
             PageOutcome(round=1, person="alice", channel="voice", outcome="retry", detail="twilio: HTTP 503"),
             PageOutcome(round=1, person="alice", channel="sms", outcome="sent", provider_id="SM1")]  # reported twice
    effects = []
    for outcome in batch:
        step = decide(one_by_one, outcome, POLICY, ROSTER, later)
        one_by_one = step.incident
        effects += [e for e in step.effects if e not in effects]
    folded = decide(incident, PageOutcomes(outcomes=batch), POLICY, ROSTER, later)
    assert folded.changed and folded.incident == one_by_one and folded.effects == effects
    assert {p.channel: p.state for p in folded.incident.pages} == {"sms": "sent", "voice": "pending"}
    assert any(isinstance(e, DeliverAt) for e in folded.effects)


def test_a_failure_in_the_batch_falls_back_and_asks_for_delivery_once():
    incident = opened(now=NOW).incident
    batch = [PageOutcome(round=1, person="alice", channel=c, outcome="failed", detail="twilio: HTTP 400")
             for c in ("sms", "voice")]
    folded = decide(incident, PageOutcomes(outcomes=batch), POLICY, ROSTER, NOW)
    assert folded.effects.count(DeliverPages(incident_id=incident.id)) == 1
    assert [e.kind for e in folded.incident.timeline].count("page_failed") == 2


def test_an_empty_or_stale_batch_changes_nothing():
    incident = opened(now=NOW).incident
    assert not decide(incident, PageOutcomes(outcomes=[]), POLICY, ROSTER, NOW).changed
    stale = PageOutcome(round=9, person="alice", channel="sms", outcome="sent")
    assert not decide(incident, PageOutcomes(outcomes=[stale]), POLICY, ROSTER, NOW).changed
    assert Target("alice", "sms") == Target("alice", "sms", urgent=False)
