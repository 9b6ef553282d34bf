"""The operating model's policies, table-driven: P0–P3 against the tiers, repeats, ack
timeouts, business-hours holds across a weekend and DST, holds and manual actions."""
from datetime import datetime, time, timedelta, timezone

import pytest

from routing.business_hours import BusinessHours
from routing.decide import decide
from routing.incident import (
    Acknowledge, AddNote, AlertsReceived, AlertState, Escalate, EscalateNow, Hold, Reassign, Release, Snooze,
)
from routing.policy import Policy, SeverityRule, Tier

UTC = timezone.utc
T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)  # a Wednesday, 11:00 in Berlin
HOURS = BusinessHours(timezone="Europe/Berlin", days=(0, 1, 2, 3, 4), start=time(9), end=time(17))
POLICY = Policy("default", (Tier("L1", schedule="primary"), Tier("L2", schedule="backup"),
                            Tier("engineering", people=("erin",)), Tier("executive", people=("dave",))),
                business_hours=HOURS)
ROSTER = {"L1": ("alice",), "L2": ("bob",), "engineering": ("erin",), "executive": ("dave",)}


def fire(severity, now=T0, policy=POLICY, hold=None, fp="f1"):
    cmd = AlertsReceived(new_id="1", receiver="r", group_key="g", severity=severity, title="t",
                         alerts=[AlertState(fingerprint=fp, status="firing", starts_at=now)])
    return decide(None, cmd, policy, ROSTER, now, hold)


def paged(incident, round_=None):
    return sorted({(p.tier, p.person, p.channel) for p in incident.pages if round_ is None or p.round == round_})


@pytest.mark.parametrize("severity,first_round,delay", [
    ("P0", [("L1", "alice", "sms"), ("L1", "alice", "voice"), ("L2", "bob", "sms"), ("L2", "bob", "voice")], 300),
    ("P1", [("L1", "alice", "sms"), ("L1", "alice", "voice")], 300),
    ("P2", [("L1", "alice", "email"), ("L1", "alice", "sms")], 900),
    ("P3", [("L1", "alice", "email")], 3600),
])
def test_default_severities_against_the_tiers(severity, first_round, delay):
    inc = fire(severity).incident
    assert paged(inc) == first_round
    assert inc.next_escalation_at == T0 + timedelta(seconds=delay)


def climb(inc, policy=POLICY, limit=20):
    """Let every escalation timer fire; return the tiers paged, round by round."""
    rounds = [sorted({p.tier for p in inc.pages if p.round == inc.round})]
    for _ in range(limit):
        if inc.next_escalation_at is None:
            break
        inc = decide(inc, Escalate(round=inc.round), policy, ROSTER, inc.next_escalation_at).incident
        rounds.append(sorted({p.tier for p in inc.pages if p.round == inc.round}))
    return inc, rounds


@pytest.mark.parametrize("severity,repeat,expected_rounds", [
    ("P1", 2, 4 * 3),  # the chain, then starts over twice
    ("P2", 1, 4 * 2),
    ("P0", 3, 3 * 4),  # L1+L2 together, engineering, executive; four times over
])
def test_repeats(severity, repeat, expected_rounds):
    inc, rounds = climb(fire(severity).incident)
    assert len(rounds) == expected_rounds and inc.repeats == repeat and inc.next_escalation_at is None
    assert [e.kind for e in inc.timeline].count("repeat") == repeat


def test_no_repeat_stops_after_the_last_tier():
    policy = Policy("p", POLICY.tiers, rules={"P1": SeverityRule(repeat=0)})
    inc, rounds = climb(fire("P1", policy=policy).incident, policy)
    assert rounds == [["L1"], ["L2"], ["engineering"], ["executive"]]


def test_ack_timeout_retriggers_the_tier_that_acknowledged():
    policy = Policy("p", POLICY.tiers, rules={"P1": SeverityRule(ack_timeout=timedelta(minutes=30))})
    inc = fire("P1", policy=policy).incident
    inc = decide(inc, Escalate(round=1), policy, ROSTER, T0 + timedelta(minutes=5)).incident  # L2 paged
    inc = decide(inc, Acknowledge(by="bob", via="sms"), policy, ROSTER, T0 + timedelta(minutes=6)).incident
    assert inc.next_escalation_at == T0 + timedelta(minutes=36) and inc.due_at() == inc.next_escalation_at
    early = decide(inc, Escalate(round=2), policy, ROSTER, T0 + timedelta(minutes=35))
    assert early.early and early.incident.status == "acknowledged"
    inc = decide(inc, Escalate(round=2), policy, ROSTER, T0 + timedelta(minutes=36)).incident
    assert inc.status == "triggered" and paged(inc, inc.round) == [("L2", "bob", "sms"), ("L2", "bob", "voice")]
    assert inc.timeline[-2].details == {"reason": "acknowledgement timed out"}


def test_ack_timeout_is_off_by_default():
    inc = decide(fire("P1").incident, Acknowledge(by="alice", via="api"), POLICY, ROSTER, T0).incident
    assert inc.next_escalation_at is None and inc.due_at() is None


@pytest.mark.parametrize("fired_at,opens_at", [
    (datetime(2026, 11, 27, 17, 30, tzinfo=UTC), datetime(2026, 11, 30, 8, 0, tzinfo=UTC)),  # Fri evening -> Mon 09:00 CET
    (datetime(2026, 3, 28, 12, 0, tzinfo=UTC), datetime(2026, 3, 30, 7, 0, tzinfo=UTC)),  # weekend into CEST
    (datetime(2026, 10, 23, 16, 0, tzinfo=UTC), datetime(2026, 10, 26, 8, 0, tzinfo=UTC)),  # weekend into CET
    (datetime(2026, 11, 25, 5, 0, tzinfo=UTC), datetime(2026, 11, 25, 8, 0, tzinfo=UTC)),  # before opening
])
def test_business_hours_only_holds_until_they_start(fired_at, opens_at):
    d = fire("P3", now=fired_at)
    inc = d.incident
    assert inc.pages == [] and inc.held_until == opens_at and inc.timeline[-1].kind == "held"
    inc = decide(inc, Escalate(round=0), POLICY, ROSTER, opens_at).incident
    assert inc.held_until is None and paged(inc) == [("L1", "alice", "email")]


def test_business_hours_only_pages_at_once_inside_hours_and_p1_never_waits():
    assert fire("P3").incident.pages
    assert fire("P1", now=datetime(2026, 11, 28, 3, 0, tzinfo=UTC)).incident.pages  # Saturday night


def test_raised_severity_breaks_a_business_hours_hold():
    night = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
    inc = fire("P3", now=night).incident
    raised = AlertsReceived(new_id="", receiver="r", group_key="g", severity="P1", title="t",
                            alerts=[AlertState(fingerprint="f1", status="firing", starts_at=night),
                                    AlertState(fingerprint="f2", status="firing", starts_at=night)])
    inc = decide(inc, raised, POLICY, ROSTER, night + timedelta(minutes=1)).incident
    assert inc.held_until is None and ("L1", "alice", "voice") in paged(inc)


def test_maintenance_hold_pages_when_it_ends_or_is_released():
    until = T0 + timedelta(hours=1)
    inc = fire("P1", hold=Hold(reason="maintenance: db upgrade", until=until)).incident
    assert inc.pages == [] and inc.hold_reason == "maintenance: db upgrade"
    longer = Hold(reason="maintenance: db upgrade", until=until + timedelta(hours=1))
    extended = decide(inc, Escalate(round=0), POLICY, ROSTER, until, longer)
    assert extended.incident.pages == [] and extended.incident.held_until == until + timedelta(hours=1)
    released = decide(inc, Release(reason="window ended early"), POLICY, ROSTER, T0 + timedelta(minutes=10))
    assert paged(released.incident) == [("L1", "alice", "sms"), ("L1", "alice", "voice")]
    assert decide(released.incident, Release(reason="again"), POLICY, ROSTER, T0).changed is False


def test_escalate_now_pages_the_next_tier():
    inc = decide(fire("P1").incident, EscalateNow(by="alice", via="sms"), POLICY, ROSTER, T0).incident
    assert paged(inc, inc.round) == [("L2", "bob", "sms"), ("L2", "bob", "voice")]
    assert all(p.state == "cancelled" for p in inc.pages if p.round == 1)


def test_reassign_to_a_person_or_a_tier():
    inc = decide(fire("P1").incident, Reassign(by="alice", via="api", person="erin"), POLICY, ROSTER, T0).incident
    assert paged(inc, inc.round) == [("reassigned:erin", "erin", "sms"), ("reassigned:erin", "erin", "voice")]
    inc = decide(inc, Reassign(by="alice", via="api", tier="executive"), POLICY, ROSTER, T0).incident
    assert {p[0] for p in paged(inc, inc.round)} == {"executive"}
    with pytest.raises(ValueError, match="no tier 'nope'"):
        decide(inc, Reassign(by="alice", via="api", tier="nope"), POLICY, ROSTER, T0)


def test_snooze_quiets_then_pages_again():
    inc = decide(fire("P1").incident, Snooze(by="alice", via="sms", minutes=20), POLICY, ROSTER, T0).incident
    assert inc.status == "acknowledged" and inc.next_escalation_at == T0 + timedelta(minutes=20)
    inc = decide(inc, Escalate(round=1), POLICY, ROSTER, T0 + timedelta(minutes=20)).incident
    assert inc.status == "triggered" and inc.timeline[-2].details == {"reason": "snooze ended"}
    assert paged(inc, inc.round) == [("L1", "alice", "sms"), ("L1", "alice", "voice")]


def test_notes_go_on_the_timeline_and_resolved_incidents_take_no_actions():
    inc = decide(fire("P1").incident, AddNote(by="alice", via="api", text="looking"), POLICY, ROSTER, T0).incident
    assert inc.timeline[-1].kind == "note" and inc.timeline[-1].details["text"] == "looking"
    from routing.incident import Resolve

    done = decide(inc, Resolve(by="alice", via="api"), POLICY, ROSTER, T0).incident
    for cmd in (EscalateNow(by="a", via="api"), Snooze(by="a", via="api", minutes=5), Acknowledge(by="a", via="api")):
        assert decide(done, cmd, POLICY, ROSTER, T0).changed is False


@pytest.mark.parametrize("kwargs,message", [
    ({"days": ()}, "at least one weekday"), ({"start": time(17), "end": time(9)}, "end after"),
])
def test_bad_business_hours(kwargs, message):
    with pytest.raises(ValueError, match=message):
        BusinessHours(**kwargs)


@pytest.mark.parametrize("kwargs", [{"page_tiers": 0}, {"repeat": -1}, {"ack_timeout": timedelta(0)}])
def test_bad_rules(kwargs):
    with pytest.raises(ValueError):
        SeverityRule(**kwargs)
