"""A page that waited goes to whoever is on call for its tier when it is sent
(issue 14 item 3): ``Reroute`` through ``decide``."""
from __future__ import annotations

from datetime import timedelta

from routing.decide import decide
from routing.incident import DeliverPages, PageOutcome, Reassign, Reroute, Resolve
from tests.routing.test_decide import POLICY, ROSTER, T0, opened

HANDED_OVER = {**ROSTER, "L1": ("carol",)}


def held(incident, channel="sms"):
    until = T0 + timedelta(seconds=50)
    return decide(incident, PageOutcome(round=1, person="alice", channel=channel, outcome="deferred", until=until),
                  POLICY, ROSTER, T0).incident


def test_a_held_page_whose_person_went_off_call_goes_to_the_one_on_call():
    inc = held(opened().incident)
    d = decide(inc, Reroute(pages=[(1, "alice", "sms")]), POLICY, HANDED_OVER, T0 + timedelta(seconds=50))
    pages = {(p.person, p.channel): p.state for p in d.incident.pages}
    assert pages == {("alice", "sms"): "cancelled", ("alice", "voice"): "pending", ("carol", "sms"): "pending"}
    assert d.effects == [DeliverPages(incident_id="1")]
    entry = d.incident.timeline[-1]
    assert entry.kind == "rerouted" and entry.details == {"tier": "L1", "round": 1, "channel": "sms",
                                                          "person": "alice", "to": ["carol"]}
    again = decide(d.incident, Reroute(pages=[(1, "alice", "sms")]), POLICY, HANDED_OVER, T0 + timedelta(seconds=51))
    assert not again.changed  # asked twice: moved once


def test_a_page_still_on_call_a_fresh_page_and_a_gap_are_left_as_they_are():
    inc = held(opened().incident)
    for roster in (ROSTER, {**ROSTER, "L1": ()}):  # still on call; nobody on call (someone beats no one)
        assert not decide(inc, Reroute(pages=[(1, "alice", "sms")]), POLICY, roster, T0).changed
    fresh = opened().incident  # decided a moment ago: not asked again
    assert not decide(fresh, Reroute(pages=[(1, "alice", "sms")]), POLICY, HANDED_OVER, T0).changed


def test_a_page_named_by_hand_or_of_a_closed_incident_is_never_moved():
    inc = opened().incident
    moved = decide(inc, Reassign(by="bob", via="api", person="erin"), POLICY, ROSTER, T0).incident
    erin = next(p for p in moved.pages if p.tier == "reassigned:erin")
    waited = decide(moved, PageOutcome(round=erin.round, person="erin", channel=erin.channel, outcome="deferred",
                                       until=T0 + timedelta(seconds=30)), POLICY, ROSTER, T0).incident
    assert not decide(waited, Reroute(pages=[(erin.round, "erin", erin.channel)]), POLICY,
                      {**ROSTER, "engineering": ("dave",)}, T0).changed
    closed = decide(held(opened().incident), Resolve(by="alice", via="api"), POLICY, ROSTER, T0).incident
    assert not decide(closed, Reroute(pages=[(1, "alice", "sms")]), POLICY, HANDED_OVER, T0).changed
