"""The dry run: the full paging plan for a payload, without sending anything.

It replays the very ``decide`` the worker runs — the first page at ``start``, each
page delivered when it is due (held, like the real pipeline, while the person's rate
window on that channel runs, which moves the round's escalation), then every
escalation timer at its due time, nobody acknowledging — asking at each step who the
calendars put on call at that future moment and whether a maintenance window holds
it. So the plan agrees with what really happens, by construction.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from routing.decide import decide
from routing.delivery_plan import due_targets
from routing.incident import AlertsReceived, Escalate, Hold, Incident, PageOutcome, PageOutcomes, Reroute
from routing.personal_rules import NO_RULES, Rulebook
from routing.policy import Policy, Roster

#: Timeline kinds worth showing in a plan besides the pages themselves.
NOTABLE = ("held", "released", "coverage_gap", "nobody_on_call", "repeat", "page_deferred", "rerouted")


@dataclass
class PlanStep:
    at: datetime
    round: int
    tier: str
    people: list[str]
    channels: list[str]
    #: Of ``people``, those paged by their personal notification rules (not the policy's channels).
    personal: list[str] = field(default_factory=list)


@dataclass
class Plan:
    policy: str
    severity: str
    steps: list[PlanStep] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)  # holds, gaps, repeats, in order
    truncated: bool = False


def _deliver_due(incident: Incident, policy: Policy, now: datetime, windows: Mapping[str, float],
                 frees: dict[tuple[str, str], datetime], roster_at: Callable[[datetime], Roster]) -> Incident:
    """Deliver the pages due at ``now`` as a healthy pipeline would (service.engine.delivery):
    a page that waited goes to whoever is on call for its tier now; then one message per
    due target (``routing.delivery_plan``), held while that person's rate window on the
    channel runs (``frees``: when each window ends) unless it is urgent (P0)."""
    waited = [(p.round, p.person, p.channel) for p in incident.pages
              if p.state == "pending" and p.at <= now and p.waited]
    if waited:
        incident = decide(incident, Reroute(pages=waited), policy, roster_at(now), now).incident or incident
    due = [p for p in incident.pages if p.state == "pending" and p.at <= now]
    outcomes = []
    for target in due_targets(incident, now):
        person, channel = target.person, target.channel
        window = windows.get(channel, 0.0)
        free = frees.get((person, channel))
        held = window > 0 and free is not None and free > now and not target.urgent
        if not held and window > 0:
            frees[(person, channel)] = now + timedelta(seconds=window)
        for page in [p for p in due if (p.person, p.channel) == (person, channel)]:
            outcomes.append(PageOutcome(round=page.round, person=person, channel=channel, outcome="deferred",
                                        until=free) if held
                            else PageOutcome(round=page.round, person=person, channel=channel, outcome="sent"))
    if not outcomes:
        return incident
    # One delivery's outcomes, committed together as the executor commits them.
    return decide(incident, PageOutcomes(outcomes=outcomes), policy, {}, now).incident or incident


def _collect(plan: Plan, incident: Incident, seen_pages: int, seen_events: int,
             rules: Rulebook = NO_RULES) -> None:
    for page in incident.pages[seen_pages:]:
        personal = bool(rules.steps(page.person, incident.severity)) and not page.fallback_from
        last = next((s for s in reversed(plan.steps) if (s.round, s.tier, s.at) == (page.round, page.tier, page.at)),
                    None) if plan.steps and plan.steps[-1].round == page.round else None
        if last is not None:
            if page.person not in last.people:
                last.people.append(page.person)
            if page.channel not in last.channels:
                last.channels.append(page.channel)
        else:
            last = PlanStep(page.at, page.round, page.tier, [page.person], [page.channel])
            plan.steps.append(last)
        if personal and page.person not in last.personal:
            last.personal.append(page.person)
    for entry in incident.timeline[seen_events:]:
        if entry.kind in NOTABLE:
            plan.events.append({"at": entry.at, "kind": entry.kind, **entry.details})


def plan(command: AlertsReceived, policy: Policy, start: datetime, roster_at: Callable[[datetime], Roster],
         hold_at: Callable[[datetime], Hold | None], max_steps: int = 60,
         windows: Mapping[str, float] | None = None,
         busy_until: Mapping[tuple[str, str], datetime] | None = None, rules: Rulebook = NO_RULES) -> Plan:
    """``windows``: each channel's per-person rate window in seconds (none: no limit);
    ``busy_until``: (person, channel) windows already running at ``start``, and when
    they end (messages sent before the plan begins); ``rules``: personal notification
    rules, followed as ``decide`` follows them (a delayed step is a step of its own, at
    its time; nobody acknowledges, so every step is in the plan)."""
    windows = windows or {}
    frees = {(person, channel): end for (person, channel), end in (busy_until or {}).items()
             if end - timedelta(seconds=windows.get(channel, 0.0)) <= start < end}  # begun by then, not over
    result = Plan(policy=policy.name, severity=command.severity)
    incident = decide(None, command, policy, roster_at(start), start, hold_at(start), rules).incident
    if incident is None:
        return result
    _collect(result, incident, 0, 0, rules)
    now, escalations = start, 0
    for _ in range(100 * (max_steps + 1)):  # each pass delivers or escalates; a bound all the same
        seen_pages, seen_events = len(incident.pages), len(incident.timeline)
        incident = _deliver_due(incident, policy, now, windows, frees, roster_at)
        _collect(result, incident, seen_pages, seen_events, rules)
        pages_due = [p.at for p in incident.pages if p.state == "pending"]
        due = incident.next_escalation_at
        if pages_due and (due is None or min(pages_due) < due):
            now = max(now, min(pages_due))  # a held page goes out before anything escalates
            continue
        if due is None:
            return result
        if escalations == max_steps:
            result.truncated = True
            return result
        escalations += 1
        now = due
        seen_pages, seen_events = len(incident.pages), len(incident.timeline)
        hold = hold_at(due) if incident.held_until is not None else None
        incident = decide(incident, Escalate(round=incident.round), policy, roster_at(due), due, hold,
                          rules).incident
        _collect(result, incident, seen_pages, seen_events, rules)
    result.truncated = True
    return result
