from datetime import datetime, timedelta, timezone

import pytest

from routing.decide import decide
from routing.escalation import NOBODY_RETRY_SECONDS
from pydantic import ValidationError

from routing.incident import (
    Acknowledge,
    AddNote,
    AlertsReceived,
    AlertState,
    DeliverPages,
    Escalate,
    EscalateAt,
    PageOutcome,
    Reassign,
    Resolve,
)
from routing.policy import Policy, SeverityRule, Tier

T0 = datetime(2026, 11, 27, 3, 0, tzinfo=timezone.utc)
FIVE = {"P0": timedelta(minutes=5), "P1": timedelta(minutes=5), "P2": timedelta(minutes=15), "P3": timedelta(hours=1)}
POLICY = Policy("default", (
    Tier("L1", schedule="primary", escalate_after=FIVE),
    Tier("L2", schedule="backup", escalate_after=FIVE),
    Tier("engineering", people=("erin",), escalate_after=FIVE),
    Tier("executive", people=("dave",), escalate_after=FIVE),
), rules={s: SeverityRule() for s in ("P0", "P1", "P2", "P3")})  # one tier at a time, no repeats
ROSTER = {"L1": ("alice",), "L2": ("bob",), "engineering": ("erin",), "executive": ("dave",)}


def alert(status="firing", fp="fp1", starts=T0 - timedelta(minutes=1), ends=None, **labels):
    """A copy of alert ``fp`` as Alertmanager sends it; a resolved one ended at ``ends``
    (T0, or a minute after it started when it started later)."""
    if status == "resolved" and ends is None:
        ends = max(T0, starts + timedelta(minutes=1))
    return AlertState(fingerprint=fp, status=status, labels={"alertname": "DiskFull", **labels},
                      starts_at=starts, ends_at=ends if status == "resolved" else None)


def received(*alerts, new_id="1", severity="P1"):
    return AlertsReceived(new_id=new_id, receiver="herald", group_key="{}:{}", severity=severity,
                          title="DiskFull db1", alerts=list(alerts))


def opened(now=T0, roster=ROSTER):
    d = decide(None, received(alert()), POLICY, roster, now)
    assert d.incident is not None
    return d


def test_firing_group_opens_incident_and_pages_l1():
    d = opened()
    inc = d.incident
    assert (inc.id, inc.status, inc.severity, inc.round) == ("1", "triggered", "P1", 1)
    assert {(p.tier, p.person, p.channel) for p in inc.pages} == {("L1", "alice", "voice"), ("L1", "alice", "sms")}
    assert inc.next_escalation_at == T0 + timedelta(minutes=5)
    assert d.effects == [DeliverPages(incident_id="1"),
                         EscalateAt(incident_id="1", round=1, at=T0 + timedelta(minutes=5))]
    assert [e.kind for e in inc.timeline] == ["triggered", "paging"]


def test_resend_of_open_group_changes_nothing_and_pages_nobody():
    inc = opened().incident
    d = decide(inc, received(alert()), POLICY, ROSTER, T0 + timedelta(minutes=1))
    assert not d.changed and d.effects == []
    assert d.incident.pages == inc.pages


def test_new_alert_joining_is_on_the_timeline_without_a_page():
    inc = opened().incident
    d = decide(inc, received(alert(), alert(fp="fp2")), POLICY, ROSTER, T0 + timedelta(minutes=1))
    assert d.changed and d.effects == []
    assert d.incident.timeline[-1].kind == "alert_added"
    assert len(d.incident.pages) == len(inc.pages)


def test_escalation_pages_the_next_tier_at_its_due_time():
    inc = opened().incident
    d = decide(inc, Escalate(round=1), POLICY, ROSTER, T0 + timedelta(minutes=5))
    assert d.changed and d.incident.round == 2
    assert {p.person for p in d.incident.pages if p.round == 2} == {"bob"}
    assert d.incident.next_escalation_at == T0 + timedelta(minutes=10)


def test_escalation_timer_that_fires_early_does_nothing():
    inc = opened().incident
    d = decide(inc, Escalate(round=1), POLICY, ROSTER, T0 + timedelta(minutes=5) - timedelta(milliseconds=1))
    assert d.early and not d.changed and d.incident.round == 1


def test_stale_escalation_timer_does_nothing():
    inc = decide(opened().incident, Escalate(round=1), POLICY, ROSTER, T0 + timedelta(minutes=5)).incident
    d = decide(inc, Escalate(round=1), POLICY, ROSTER, T0 + timedelta(minutes=11))
    assert not d.changed and d.incident.round == 2


def test_last_tier_has_no_further_escalation():
    inc = opened().incident
    for n in range(1, 4):
        inc = decide(inc, Escalate(round=n), POLICY, ROSTER, inc.next_escalation_at).incident
    assert inc.round == 4 and inc.tier_index == 3 and inc.next_escalation_at is None
    assert inc.due_at() is not None  # its pages are still pending


def test_acknowledge_stops_escalation_and_cancels_pending_pages():
    inc = opened().incident
    d = decide(inc, Acknowledge(by="alice", via="link"), POLICY, ROSTER, T0 + timedelta(minutes=1))
    assert d.incident.status == "acknowledged" and d.incident.acknowledged_by == "alice"
    assert all(p.state == "cancelled" for p in d.incident.pages)
    assert d.incident.due_at() is None
    later = decide(d.incident, Escalate(round=1), POLICY, ROSTER, T0 + timedelta(minutes=6))
    assert not later.changed and later.incident.round == 1


def test_acknowledging_twice_is_harmless():
    inc = decide(opened().incident, Acknowledge(by="alice", via="link"), POLICY, ROSTER, T0).incident
    again = decide(inc, Acknowledge(by="bob", via="api"), POLICY, ROSTER, T0 + timedelta(minutes=1))
    assert not again.changed and again.incident.acknowledged_by == "alice"


def test_resolve_and_acknowledge_keep_their_note():
    inc = opened().incident
    acked = decide(inc, Acknowledge(by="alice", via="api", note="looking"), POLICY, ROSTER, T0).incident
    assert acked.timeline[-1].kind == "acknowledged"
    assert acked.timeline[-1].details == {"by": "alice", "via": "api", "note": "looking"}
    done = decide(acked, Resolve(by="alice", via="api", note="disk cleaned up"), POLICY, ROSTER, T0).incident
    assert done.status == "resolved" and done.timeline[-1].kind == "resolved"
    assert done.timeline[-1].details == {"by": "alice", "via": "api", "note": "disk cleaned up"}


def test_without_a_note_nothing_extra_is_recorded():
    done = decide(opened().incident, Resolve(by="alice", via="api"), POLICY, ROSTER, T0).incident
    assert done.timeline[-1].details == {"by": "alice", "via": "api"}


def test_a_note_on_a_second_acknowledgement_is_kept_as_a_note():
    acked = decide(opened().incident, Acknowledge(by="alice", via="link"), POLICY, ROSTER, T0).incident
    again = decide(acked, Acknowledge(by="bob", via="api", note="me too"), POLICY, ROSTER, T0 + timedelta(minutes=1))
    assert again.changed and again.incident.acknowledged_by == "alice"
    assert (again.incident.timeline[-1].kind, again.incident.timeline[-1].details) == (
        "note", {"by": "bob", "via": "api", "text": "me too"})


def test_a_resolved_incident_takes_no_resolution_note():
    done = decide(opened().incident, Resolve(by="alice", via="api"), POLICY, ROSTER, T0).incident
    again = decide(done, Resolve(by="bob", via="api", note="late"), POLICY, ROSTER, T0)
    assert not again.changed and again.incident.timeline == done.timeline


def test_a_note_over_2000_characters_is_refused():
    for command in (Acknowledge, Resolve):
        with pytest.raises(ValidationError, match="note"):
            command(by="alice", via="api", note="x" * 2001)


def test_an_action_done_for_a_person_names_the_token_too():
    inc = opened().incident
    acked = decide(inc, Acknowledge(by="alice", via="api", token="ci-bot"), POLICY, ROSTER, T0).incident
    assert acked.acknowledged_by == "alice"
    assert acked.timeline[-1].details == {"by": "alice", "via": "api", "token": "ci-bot"}
    noted = decide(acked, AddNote(by="bob", via="api", token="ci-bot", text="x"), POLICY, ROSTER, T0).incident
    assert noted.timeline[-1].details == {"by": "bob", "via": "api", "token": "ci-bot", "text": "x"}
    moved = decide(noted, Reassign(by="bob", via="api", token="ci-bot", person="erin"), POLICY, ROSTER, T0).incident
    assert next(e for e in moved.timeline if e.kind == "reassigned").details == {
        "by": "bob", "via": "api", "token": "ci-bot", "person": "erin", "tier": None}


def test_resolved_payload_resolves_and_cancels():
    inc = opened().incident
    d = decide(inc, received(alert(status="resolved")), POLICY, ROSTER, T0 + timedelta(minutes=2))
    assert d.incident.status == "resolved" and d.incident.resolved_by == "alertmanager"
    assert d.incident.next_escalation_at is None and d.incident.due_at() is None


def test_partially_resolved_group_stays_open():
    inc = decide(opened().incident, received(alert(), alert(fp="fp2")), POLICY, ROSTER, T0).incident
    d = decide(inc, received(alert(status="resolved"), alert(fp="fp2")), POLICY, ROSTER, T0)
    assert d.incident.status == "triggered"


def test_group_firing_again_after_resolve_opens_new_incident():
    inc = decide(opened().incident, Resolve(by="api", via="api"), POLICY, ROSTER, T0).incident
    refire = alert(starts=T0 + timedelta(minutes=10))
    d = decide(inc, received(refire, new_id="2"), POLICY, ROSTER, T0 + timedelta(minutes=10))
    assert d.incident.id == "2" and d.incident.status == "triggered" and d.incident.round == 1


def test_late_firing_resend_after_resolve_is_ignored():
    inc = decide(opened().incident, received(alert(status="resolved")), POLICY, ROSTER, T0).incident
    d = decide(inc, received(alert(), new_id="2"), POLICY, ROSTER, T0 + timedelta(seconds=5))
    assert not d.changed and d.incident.id == "1" and d.incident.status == "resolved"


def test_late_resolve_of_an_older_episode_does_not_resolve_the_new_one():
    inc = opened().incident
    old = alert(status="resolved", starts=T0 - timedelta(hours=2), ends=T0 - timedelta(minutes=90))
    d = decide(inc, received(old), POLICY, ROSTER, T0 + timedelta(minutes=1))
    assert d.incident.status == "triggered" and not d.changed


def test_resolve_with_an_earlier_starts_at_ends_the_same_episode():
    # Alertmanager merges an HA pair's copies keeping the earliest startsAt: Herald opened
    # on replica A's, the resolve carries replica B's, two minutes earlier.
    inc = opened().incident
    resolved = alert(status="resolved", starts=T0 - timedelta(minutes=3), ends=T0 + timedelta(minutes=1))
    d = decide(inc, received(resolved), POLICY, ROSTER, T0 + timedelta(minutes=1))
    assert d.incident.status == "resolved" and d.incident.resolved_by == "alertmanager"


def test_resolve_ended_by_hand_in_the_past_ends_the_episode():
    # ``amtool alert add … --end=<past>``: the end lies before now but after the start.
    inc = opened().incident
    resolved = alert(status="resolved", starts=T0 - timedelta(minutes=1), ends=T0 - timedelta(seconds=30))
    d = decide(inc, received(resolved), POLICY, ROSTER, T0 + timedelta(minutes=5))
    assert d.incident.status == "resolved"


def test_an_end_given_by_hand_without_a_start_ends_the_episode_whenever_it_lies():
    # ``amtool alert add … --end=<before the alert began>``: Alertmanager starts it at its end.
    inc = opened().incident
    by_hand = T0 - timedelta(minutes=10)
    d = decide(inc, received(alert(status="resolved", starts=by_hand, ends=by_hand)), POLICY, ROSTER, T0)
    assert d.incident.status == "resolved"
    earlier = alert(status="resolved", starts=by_hand - timedelta(minutes=1), ends=by_hand)  # a real older episode
    assert decide(inc, received(earlier), POLICY, ROSTER, T0).incident.status == "triggered"


def test_a_firing_copy_with_an_earlier_starts_at_is_the_same_episode():
    inc = opened().incident
    merged = alert(starts=T0 - timedelta(minutes=3))
    d = decide(inc, received(merged), POLICY, ROSTER, T0 + timedelta(seconds=30))
    assert d.incident.alerts["fp1"].starts_at == merged.starts_at and d.effects == []
    assert d.incident.status == "triggered" and len(d.incident.pages) == len(inc.pages)


def test_a_resolve_that_ended_exactly_when_the_episode_began_is_not_stale():
    inc = opened().incident
    edge = alert(status="resolved", starts=T0 - timedelta(minutes=5), ends=T0 - timedelta(minutes=1))
    assert decide(inc, received(edge), POLICY, ROSTER, T0).incident.status == "resolved"


def test_late_firing_copy_from_the_other_replica_after_the_resolve_pages_nobody():
    # Resolved with the merged (earliest) startsAt; the other Alertmanager of an HA pair then
    # delivers its firing copy, which carries a later startsAt that is still before the end.
    inc = opened().incident
    closed = decide(inc, received(alert(status="resolved", starts=T0 - timedelta(minutes=3),
                                        ends=T0 + timedelta(minutes=1))), POLICY, ROSTER, T0 + timedelta(minutes=1))
    assert closed.incident.status == "resolved"
    late = decide(closed.incident, received(alert(starts=T0 - timedelta(seconds=30)), new_id="2"), POLICY, ROSTER,
                  T0 + timedelta(minutes=2))
    assert late.incident.id == "1" and late.incident.status == "resolved" and late.effects == [] and not late.changed
    again = decide(closed.incident, received(alert(starts=T0 + timedelta(minutes=1)), new_id="3"), POLICY, ROSTER,
                   T0 + timedelta(minutes=3))
    assert again.incident.id == "3" and again.incident.status == "triggered"  # began at the end: a new episode


def test_late_firing_copy_of_an_alert_resolved_within_an_open_incident_is_stale():
    inc = decide(opened().incident, received(alert(), alert(fp="fp2")), POLICY, ROSTER, T0).incident
    part = decide(inc, received(alert(status="resolved", ends=T0 + timedelta(minutes=1)), alert(fp="fp2")),
                  POLICY, ROSTER, T0 + timedelta(minutes=1)).incident
    assert part.alerts["fp1"].status == "resolved"
    late = decide(part, received(alert(starts=T0 - timedelta(seconds=20)), alert(fp="fp2")), POLICY, ROSTER,
                  T0 + timedelta(minutes=2))
    assert late.incident.alerts["fp1"].status == "resolved" and not late.changed
    refire = decide(part, received(alert(starts=T0 + timedelta(minutes=2)), alert(fp="fp2")), POLICY, ROSTER,
                    T0 + timedelta(minutes=2))
    assert refire.incident.alerts["fp1"].status == "firing"
    assert refire.incident.timeline[-1].kind == "alert_firing"


def test_the_end_of_an_alert_reaching_an_incident_resolved_by_hand_is_remembered():
    by_hand = decide(opened().incident, Resolve(by="alice", via="api"), POLICY, ROSTER, T0).incident
    ended = decide(by_hand, received(alert(status="resolved", starts=T0 - timedelta(minutes=4),
                                           ends=T0 + timedelta(minutes=1))), POLICY, ROSTER, T0 + timedelta(minutes=1))
    assert ended.changed and ended.incident.alerts["fp1"].status == "resolved"
    assert ended.incident.timeline[-1].kind == "alert_resolved" and ended.effects == []
    late = decide(ended.incident, received(alert(starts=T0), new_id="2"), POLICY, ROSTER, T0 + timedelta(minutes=2))
    assert late.incident.id == "1" and late.effects == []


def test_resolve_for_unknown_group_pages_nobody_and_its_late_firing_neither():
    d = decide(None, received(alert(status="resolved")), POLICY, ROSTER, T0)
    assert d.incident is not None and d.incident.status == "resolved" and d.changed
    assert d.effects == [] and d.incident.pages == [] and d.incident.timeline[-1].kind == "resolved_unseen"
    late = decide(d.incident, received(alert(), new_id="2"), POLICY, ROSTER, T0 + timedelta(seconds=5))
    assert late.incident.id == "1" and late.incident.status == "resolved" and not late.changed
    assert decide(None, received(alert(status="resolved"), new_id=""), POLICY, ROSTER, T0).incident is None


def test_late_firing_of_an_episode_seen_only_resolved_on_a_closed_incident():
    closed = decide(opened().incident, received(alert(status="resolved")), POLICY, ROSTER, T0).incident
    episode = alert(status="resolved", starts=T0 + timedelta(minutes=5))
    remembered = decide(closed, received(episode), POLICY, ROSTER, T0 + timedelta(minutes=6))
    assert remembered.changed and remembered.incident.alerts["fp1"].starts_at == episode.starts_at
    late = decide(remembered.incident, received(alert(starts=episode.starts_at), new_id="2"), POLICY, ROSTER,
                  T0 + timedelta(minutes=7))
    assert late.incident.id == "1" and not late.changed and late.effects == []


def test_coverage_gap_falls_through_to_the_next_tier():
    d = opened(roster={**ROSTER, "L1": ()})
    inc = d.incident
    assert {p.person for p in inc.pages} == {"bob"} and inc.tier_index == 1
    assert [e.kind for e in inc.timeline] == ["triggered", "coverage_gap", "paging"]
    assert inc.timeline[1].details["tier"] == "L1"


def test_nobody_on_call_anywhere_retries_instead_of_dropping():
    d = opened(roster={"L1": (), "L2": (), "engineering": (), "executive": ()})
    inc = d.incident
    assert inc.pages == [] and inc.timeline[-1].kind == "nobody_on_call"
    assert inc.next_escalation_at == T0 + timedelta(seconds=NOBODY_RETRY_SECONDS)
    retry = decide(inc, Escalate(round=0), POLICY, ROSTER, inc.next_escalation_at)
    assert {p.person for p in retry.incident.pages} == {"alice"}


def test_page_outcome_is_recorded_once():
    inc = opened().incident
    outcome = PageOutcome(round=1, person="alice", channel="sms", outcome="sent", provider_id="SM1")
    d = decide(inc, outcome, POLICY, ROSTER, T0)
    entry = d.incident.timeline[-1]
    assert entry.kind == "page" and entry.details["person"] == "alice" and entry.details["tier"] == "L1"
    again = decide(d.incident, outcome, POLICY, ROSTER, T0)
    assert not again.changed


def test_higher_severity_alert_raises_the_incident():
    inc = opened().incident
    d = decide(inc, received(alert(), alert(fp="fp2"), severity="P0"), POLICY, ROSTER, T0)
    assert d.incident.severity == "P0" and d.incident.timeline[-1].kind == "severity_raised"


def test_unknown_command_is_an_error():
    with pytest.raises(TypeError):
        decide(opened().incident, object(), POLICY, ROSTER, T0)  # type: ignore[arg-type]


def test_decide_never_mutates_its_input():
    inc = opened().incident
    before = inc.model_dump()
    decide(inc, Acknowledge(by="alice", via="api"), POLICY, ROSTER, T0)
    assert inc.model_dump() == before


# -- the per-incident cap (issue 16.1): structure, not time ------------------------------

def capped(*alerts, cap=2, more_firing=False):
    return received(*alerts).model_copy(update={"max_alerts": cap, "more_firing": more_firing})


def test_alerts_beyond_the_cap_are_counted_not_kept_and_noted_once():
    inc = decide(None, capped(*(alert(fp=f"fp{n}") for n in range(5))), POLICY, ROSTER, T0).incident
    assert sorted(inc.alerts) == ["fp0", "fp1"] and inc.untracked_alerts == 3
    later = decide(inc, capped(*(alert(fp=f"fp{n}") for n in range(7))), POLICY, ROSTER, T0 + timedelta(minutes=1))
    assert later.changed and later.effects == [] and later.incident.untracked_alerts == 5
    assert [e.kind for e in later.incident.timeline].count("alert_cap_reached") == 1


def test_a_truncated_firing_notification_does_not_resolve():
    """Alertmanager left firing alerts out (truncatedAlerts): every listed alert resolved
    is not the group resolved; the next, complete notification resolves it."""
    inc = opened().incident
    d = decide(inc, capped(alert("resolved"), more_firing=True), POLICY, ROSTER, T0 + timedelta(minutes=2))
    assert d.incident.status == "triggered"
    d = decide(d.incident, capped(alert("resolved")), POLICY, ROSTER, T0 + timedelta(minutes=3))
    assert d.incident.status == "resolved"


def test_many_changes_in_one_notification_are_summed_up_on_the_timeline():
    inc = opened().incident
    d = decide(inc, capped(*(alert(fp=f"n{n}") for n in range(30)), cap=100), POLICY, ROSTER, T0)
    kinds = [e.kind for e in d.incident.timeline]
    assert kinds.count("alert_added") == 10 and kinds[-1] == "alerts_added"
    assert d.incident.timeline[-1].details["count"] == 20
