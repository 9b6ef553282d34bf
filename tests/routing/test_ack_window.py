"""A tier's window to acknowledge runs from when the round's first page actually left,
or from when the hold on it (a person's rate window) ends — in every round, the chain
starting over included — and the dry run shows the same (issue 14 item 2)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from routing.decide import decide
from routing.incident import AlertsReceived, AlertState, Escalate, EscalateAt, PageOutcome
from routing.policy import Policy, SeverityRule, Tier
from routing.dry_run import plan

T0 = datetime(2026, 11, 27, 3, 0, tzinfo=timezone.utc)
DELAY = timedelta(seconds=20)
SMS = {s: ("sms",) for s in ("P0", "P1", "P2", "P3")}
POLICY = Policy("default", (
    Tier("L1", schedule="primary", escalate_after={s: DELAY for s in SMS}, channels=SMS),
    Tier("L2", schedule="backup", escalate_after={s: DELAY for s in SMS}, channels=SMS),
    Tier("engineering", people=("erin",), escalate_after={s: DELAY for s in SMS}, channels=SMS),
), rules={"P0": SeverityRule(repeat=5), "P1": SeverityRule(repeat=5)})
ROSTER = {"L1": ("alice",), "L2": ("bob",), "engineering": ("erin",)}


def received(severity="P1"):
    return AlertsReceived(new_id="1", receiver="r", group_key="g", severity=severity, title="t",
                          alerts=[AlertState(fingerprint="f", status="firing", starts_at=T0)])


def opened(**channels):
    policy = POLICY if not channels else Policy("default", tuple(
        Tier(t.name, schedule=t.schedule, people=t.people, escalate_after=t.escalate_after,
             channels={s: channels["channels"] for s in SMS}) for t in POLICY.tiers), rules=POLICY.rules)
    d = decide(None, received(), policy, ROSTER, T0)
    assert d.incident.next_escalation_at == T0 + DELAY
    return d.incident, policy


def outcome(person="alice", channel="sms", round_=1, **kw):
    return PageOutcome(round=round_, person=person, channel=channel, **kw)


def test_a_page_held_by_the_rate_window_moves_the_escalation_to_its_end_plus_the_window():
    inc, _ = opened()
    until = T0 + timedelta(seconds=55)
    d = decide(inc, outcome(outcome="deferred", until=until), POLICY, ROSTER, T0 + timedelta(milliseconds=5))
    assert d.incident.next_escalation_at == until + DELAY
    assert EscalateAt(incident_id="1", round=1, at=until + DELAY) in d.effects
    held = d.incident.timeline[-1]
    assert held.kind == "page_deferred" and held.details["escalates_at"] == (until + DELAY).isoformat()
    # The timer set for the round's start finds nothing due: L2 is not paged before L1's page left.
    early = decide(d.incident, Escalate(round=1), POLICY, ROSTER, T0 + DELAY)
    assert early.early and early.incident.round == 1 and not [p for p in early.incident.pages if p.tier == "L2"]
    sent = decide(d.incident, outcome(outcome="sent"), POLICY, ROSTER, until)
    assert sent.incident.next_escalation_at == until + DELAY
    on_time = decide(sent.incident, Escalate(round=1), POLICY, ROSTER, until + DELAY).incident
    assert [p.person for p in on_time.pages if p.round == 2] == ["bob"]


def test_the_window_starts_when_the_first_page_left():
    inc, _ = opened()
    left = T0 + timedelta(milliseconds=300)  # the provider's API took its time
    d = decide(inc, outcome(outcome="sent", provider_id="SM1"), POLICY, ROSTER, left)
    assert d.incident.next_escalation_at == left + DELAY
    assert d.incident.timeline[-1].details["escalates_at"] == (left + DELAY).isoformat()


def test_the_first_page_out_sets_the_window_even_when_another_is_held_longer():
    inc, policy = opened(channels=("sms", "voice"))
    held = decide(inc, outcome(outcome="deferred", until=T0 + timedelta(seconds=50)), policy, ROSTER, T0).incident
    assert held.next_escalation_at == T0 + timedelta(seconds=50) + DELAY
    call = decide(held, outcome(channel="voice", outcome="sent"), policy, ROSTER, T0 + timedelta(seconds=1))
    assert call.incident.next_escalation_at == T0 + timedelta(seconds=1) + DELAY  # the call reached her
    later = decide(call.incident, outcome(outcome="sent"), policy, ROSTER, T0 + timedelta(seconds=50))
    assert later.incident.next_escalation_at == T0 + timedelta(seconds=1) + DELAY and not later.effects


def test_a_round_that_starts_over_at_l1_gives_l1_its_whole_window():
    """The issue's case: the chain starts over at L1 while L1's window is busy."""
    inc, _ = opened()
    at = T0
    for person, round_ in (("alice", 1), ("bob", 2), ("erin", 3)):
        at += timedelta(seconds=1)
        inc = decide(inc, outcome(person=person, round_=round_, outcome="sent"), POLICY, ROSTER, at).incident
        at = inc.next_escalation_at
        inc = decide(inc, Escalate(round=round_), POLICY, ROSTER, at).incident
    assert inc.round == 4 and [p.person for p in inc.pages if p.round == 4] == ["alice"]
    until = at + timedelta(seconds=55)  # her window from another incident's message
    inc = decide(inc, outcome(round_=4, outcome="deferred", until=until), POLICY, ROSTER, at).incident
    for moment in (at + DELAY, at + 2 * DELAY):  # where the round's start would have put L2 and engineering
        assert decide(inc, Escalate(round=4), POLICY, ROSTER, moment).early
    inc = decide(inc, outcome(round_=4, outcome="sent"), POLICY, ROSTER, until).incident
    assert inc.next_escalation_at == until + DELAY


def test_a_held_page_of_an_earlier_round_moves_nothing():
    inc, _ = opened()
    inc = decide(inc, outcome(outcome="sent"), POLICY, ROSTER, T0).incident
    inc = decide(inc, Escalate(round=1), POLICY, ROSTER, T0 + DELAY).incident
    due = inc.next_escalation_at
    d = decide(inc, outcome(outcome="sent"), POLICY, ROSTER, T0 + DELAY + timedelta(seconds=5))  # round 1, late
    assert d.incident.next_escalation_at == due and not d.effects


def test_a_page_the_provider_keeps_failing_does_not_stop_the_chain():
    inc, _ = opened()
    retried = decide(inc, outcome(outcome="retry", detail="503"), POLICY, ROSTER, T0 + timedelta(seconds=1)).incident
    assert retried.next_escalation_at == T0 + DELAY  # a failing provider must not hold L2 back
    assert [p.person for p in decide(retried, Escalate(round=1), POLICY, ROSTER, T0 + DELAY).incident.pages
            if p.round == 2] == ["bob"]


# -- the dry run ----------------------------------------------------------------------------


def test_the_plan_holds_a_page_inside_the_persons_window_and_moves_the_chain():
    # L1 is paged again in round 4, 60 s after her first page: her 90 s window still runs.
    result = plan(received(), POLICY, T0, lambda t: ROSTER, lambda t: None, max_steps=4,
                  windows={"sms": 90.0})
    steps = [(s.at - T0, s.tier) for s in result.steps]
    assert steps[:4] == [(timedelta(0), "L1"), (DELAY, "L2"), (2 * DELAY, "engineering"), (3 * DELAY, "L1")]
    [held] = [e for e in result.events if e["kind"] == "page_deferred"]
    assert (held["person"], held["round"], held["until"]) == ("alice", 4, (T0 + timedelta(seconds=90)).isoformat())
    assert steps[4] == (timedelta(seconds=90) + DELAY, "L2")  # L2 comes a whole window after the held page


def test_the_plan_starts_with_windows_already_running_and_never_holds_p0():
    busy = {("alice", "sms"): T0 + timedelta(seconds=30)}  # she was texted 30 s before the plan begins
    held = plan(received(), POLICY, T0, lambda t: ROSTER, lambda t: None, max_steps=1, windows={"sms": 60.0},
                busy_until=busy)
    assert held.events[0]["kind"] == "page_deferred" and held.steps[1].at == T0 + timedelta(seconds=30) + DELAY
    urgent = plan(received("P0"), POLICY, T0, lambda t: ROSTER, lambda t: None, max_steps=1, windows={"sms": 60.0},
                  busy_until=busy)
    assert not [e for e in urgent.events if e["kind"] == "page_deferred"] and urgent.steps[1].at == T0 + DELAY


def test_a_window_that_began_after_the_plan_starts_is_not_taken_for_a_running_one():
    later = {("alice", "sms"): T0 + timedelta(seconds=100)}  # a message sent 40 s after the plan's start
    result = plan(received(), POLICY, T0, lambda t: ROSTER, lambda t: None, max_steps=1, windows={"sms": 60.0},
                  busy_until=later)
    assert not [e for e in result.events if e["kind"] == "page_deferred"]


def test_the_plan_sends_a_held_page_to_whoever_is_on_call_when_the_hold_ends():
    handed_over = T0 + timedelta(seconds=40)  # L1 changes hands while alice's page waits
    roster_at = lambda t: {**ROSTER, "L1": ("alice",) if t < handed_over else ("carol",)}  # noqa: E731
    busy = {("alice", "sms"): T0 + timedelta(seconds=50)}
    result = plan(received(), POLICY, T0, roster_at, lambda t: None, max_steps=1, windows={"sms": 60.0},
                  busy_until=busy)
    assert [(s.at - T0, s.tier, s.people) for s in result.steps] == [
        (timedelta(0), "L1", ["alice"]), (timedelta(seconds=50), "L1", ["carol"]),
        (timedelta(seconds=50) + DELAY, "L2", ["bob"])]
    assert [e["kind"] for e in result.events] == ["page_deferred", "rerouted"]
