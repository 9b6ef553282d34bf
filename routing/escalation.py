"""Climbing the policy: paging tiers, repeats, holds, re-triggers and manual actions.

Pure functions over an incident the caller has already copied; each returns the
``Decision``. Who is on each tier at ``now`` comes in as the roster; a hold
(maintenance window) comes in from the caller, business hours come from the policy.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from routing.decision import Decision
from routing.incident import DeliverAt, DeliverPages, Effect, EscalateAt, Hold, Incident, PageIntent
from routing.personal_rules import NO_RULES, Rulebook
from routing.policy import Policy, Roster

#: How long to wait before trying again when no tier has anyone on call.
NOBODY_RETRY_SECONDS = 60


def business_hold(policy: Policy, severity: str, now: datetime) -> Hold | None:
    hours = policy.business_hours
    if hours is None or not policy.rule(severity).business_hours_only or hours.is_open(now):
        return None
    return Hold(reason="outside business hours", until=hours.next_open(now))


def _hold(current: Incident, hold: Hold, now: datetime) -> Decision:
    renewed = current.held_until is not None
    current.held_until, current.hold_reason = hold.until, hold.reason
    current.next_escalation_at = hold.until
    current.note(now, "held", reason=hold.reason, until=hold.until.isoformat(), renewed=renewed)
    return Decision(current, [EscalateAt(incident_id=current.id, round=current.round, at=hold.until)], changed=True)


def start(current: Incident, policy: Policy, roster: Roster, now: datetime, hold: Hold | None,
          rules: Rulebook = NO_RULES) -> Decision:
    """Page the first tiers of a new (or released) incident, unless something holds it."""
    hold = hold or business_hold(policy, current.severity, now)
    if hold is not None:
        return _hold(current, hold, now)
    if current.held_until is not None:
        current.note(now, "released", reason=current.hold_reason)
        current.held_until, current.hold_reason = None, ""
    current.next_tier_index = 0
    return page_next(current, policy, roster, now, policy.rule(current.severity).page_tiers, rules)


def page_next(current: Incident, policy: Policy, roster: Roster, now: datetime, count: int = 1,
              rules: Rulebook = NO_RULES) -> Decision:
    """Page the next ``count`` tiers that have someone on call; a gap falls through.
    ``rules``: the personal rules of the people it may page (``routing.personal_rules``)."""
    tiers = policy.tiers
    if current.next_tier_index >= len(tiers):  # the chain ran out: start over if allowed
        if current.repeats >= policy.rule(current.severity).repeat:
            current.next_escalation_at = None
            return Decision(current, changed=True)
        current.repeats += 1
        current.next_tier_index = 0
        current.note(now, "repeat", repeat=current.repeats)
        count = policy.rule(current.severity).page_tiers
    first = current.next_tier_index
    paged: list[int] = []
    index = first
    while index < len(tiers) and len(paged) < count:
        if roster.get(tiers[index].name):
            paged.append(index)
        else:
            current.note(now, "coverage_gap", tier=tiers[index].name)
        index += 1
    if not paged:  # nobody on any remaining tier: keep the incident due and try again
        current.note(now, "nobody_on_call", from_tier=tiers[first].name, retry_in_seconds=NOBODY_RETRY_SECONDS)
        current.next_escalation_at = now + timedelta(seconds=NOBODY_RETRY_SECONDS)
        return Decision(current, [EscalateAt(incident_id=current.id, round=current.round,
                                             at=current.next_escalation_at)], changed=True)
    current.round += 1
    later: set[datetime] = set()
    for i in paged:
        later |= _page_tier(current, policy, i, roster[tiers[i].name], now, rules=rules)
    current.tier_index, current.next_tier_index = paged[-1], index
    effects: list[Effect] = [DeliverPages(incident_id=current.id)]
    effects += [DeliverAt(incident_id=current.id, at=at) for at in sorted(later)]
    more = index < len(tiers) or current.repeats < policy.rule(current.severity).repeat
    current.next_escalation_at = now + tiers[paged[-1]].delay(current.severity) if more else None
    if current.next_escalation_at is not None:
        effects.append(EscalateAt(incident_id=current.id, round=current.round, at=current.next_escalation_at))
    return Decision(current, effects, changed=True)


def _page_tier(current: Incident, policy: Policy, index: int, people: tuple[str, ...], now: datetime,
               tier_name: str | None = None, rules: Rulebook = NO_RULES) -> set[datetime]:
    """Page ``people`` for tier ``index``: on the tier's channels, or — for a person with
    personal rules for the incident's urgency — on each step's channel at ``now`` plus its
    delay. Answers the later times a step is due at (nothing to do before them)."""
    tier = policy.tiers[index]
    channels = tier.channels_for(current.severity)
    personal: dict[str, list[dict[str, object]]] = {}
    later: set[datetime] = set()
    for person in people:
        steps = rules.steps(person, current.severity)
        if steps:
            personal[person] = [{"channel": s.channel, "delay_minutes": s.delay_minutes} for s in steps]
        for channel, delay in ([(s.channel, s.delay) for s in steps] if steps else [(c, timedelta(0)) for c in channels]):
            current.pages.append(PageIntent(round=current.round, tier=tier_name or tier.name, person=person,
                                            channel=channel, at=now + delay))
            if delay:
                later.add(now + delay)
    current.note(now, "paging" if current.round == 1 else "escalated", tier=tier_name or tier.name,
                 round=current.round, people=list(people), channels=list(channels),
                 **({"personal_rules": personal} if personal else {}))
    return later


def retrigger(current: Incident, why: str, now: datetime) -> None:
    """Back to triggered (an ack timeout or a snooze ran out, or a manual escalation)."""
    current.status = "triggered"
    current.note(now, "retriggered", reason=why)


def stop_paging(current: Incident) -> None:
    current.next_escalation_at = None
    for page in current.pages:
        if page.state == "pending":
            page.state = "cancelled"


def reassign_person(current: Incident, policy: Policy, person: str, now: datetime,
                    rules: Rulebook = NO_RULES) -> Decision:
    """Page one named person now, with the current tier's channels (or their personal
    rules); escalation goes on after."""
    index = max(current.tier_index, 0)
    current.round += 1
    later = _page_tier(current, policy, index, (person,), now, tier_name=f"reassigned:{person}", rules=rules)
    current.next_escalation_at = now + policy.tiers[index].delay(current.severity)
    return Decision(current, [DeliverPages(incident_id=current.id),
                              *[DeliverAt(incident_id=current.id, at=at) for at in sorted(later)],
                              EscalateAt(incident_id=current.id, round=current.round,
                                         at=current.next_escalation_at)], changed=True)
