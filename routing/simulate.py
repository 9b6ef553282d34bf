"""The dry run: the full paging plan for a payload, without sending anything.

It replays the very ``decide`` the worker runs — the first page at ``start``, then
every escalation timer at its due time, nobody acknowledging — asking at each step
who the calendars put on call at that future moment and whether a maintenance window
holds it. So the plan agrees with what really happens, by construction.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from routing.decide import decide
from routing.incident import AlertsReceived, Escalate, Hold, Incident, PageOutcome
from routing.policy import Policy, Roster

#: Timeline kinds worth showing in a plan besides the pages themselves.
NOTABLE = ("held", "released", "coverage_gap", "nobody_on_call", "repeat")


@dataclass
class PlanStep:
    at: datetime
    round: int
    tier: str
    people: list[str]
    channels: list[str]


@dataclass
class Plan:
    policy: str
    severity: str
    steps: list[PlanStep] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)  # holds, gaps, repeats, in order
    truncated: bool = False


def _deliver_all(incident: Incident, policy: Policy, now: datetime) -> Incident:
    """Mark every pending page sent, as a healthy delivery pipeline would."""
    for page in [p for p in incident.pages if p.state == "pending"]:
        outcome = PageOutcome(round=page.round, person=page.person, channel=page.channel, outcome="sent")
        incident = decide(incident, outcome, policy, {}, now).incident or incident
    return incident


def _collect(plan: Plan, incident: Incident, seen_pages: int, seen_events: int) -> None:
    for page in incident.pages[seen_pages:]:
        last = plan.steps[-1] if plan.steps else None
        if last and (last.round, last.tier, last.at) == (page.round, page.tier, page.at):
            if page.person not in last.people:
                last.people.append(page.person)
            if page.channel not in last.channels:
                last.channels.append(page.channel)
        else:
            plan.steps.append(PlanStep(page.at, page.round, page.tier, [page.person], [page.channel]))
    for entry in incident.timeline[seen_events:]:
        if entry.kind in NOTABLE:
            plan.events.append({"at": entry.at, "kind": entry.kind, **entry.details})


def plan(command: AlertsReceived, policy: Policy, start: datetime, roster_at: Callable[[datetime], Roster],
         hold_at: Callable[[datetime], Hold | None], max_steps: int = 60) -> Plan:
    result = Plan(policy=policy.name, severity=command.severity)
    incident = decide(None, command, policy, roster_at(start), start, hold_at(start)).incident
    if incident is None:
        return result
    _collect(result, incident, 0, 0)
    for _ in range(max_steps):
        incident = _deliver_all(incident, policy, incident.next_escalation_at or start)
        due = incident.next_escalation_at
        if due is None:
            return result
        seen_pages, seen_events = len(incident.pages), len(incident.timeline)
        hold = hold_at(due) if incident.held_until is not None else None
        incident = decide(incident, Escalate(round=incident.round), policy, roster_at(due), due, hold).incident
        _collect(result, incident, seen_pages, seen_events)
    result.truncated = True
    return result
