"""The one decision function: ``decide(incident, command, policy, roster, now)``.

Every way an incident changes — webhook, timer, ack link, SMS reply, keypress, UI,
API — comes here and leaves with the new incident and the effects to carry out. It is
pure: no clock, no I/O; ``roster`` says who is on call for each tier at ``now``.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from routing.incident import (
    Acknowledge,
    AlertsReceived,
    AlertState,
    Command,
    DeliverPages,
    DeliveryFailed,
    Effect,
    Escalate,
    EscalateAt,
    Incident,
    PageIntent,
    PageOutcome,
    Resolve,
)
from routing.decision import Decision
from routing.page_outcomes import delivery_failed, page_outcome
from routing.policy import Policy, Roster
from routing.severity import most_severe

#: How long to wait before trying again when no tier has anyone on call.
NOBODY_RETRY_SECONDS = 60


def decide(
    incident: Incident | None, command: Command, policy: Policy, roster: Roster, now: datetime
) -> Decision:
    if isinstance(command, AlertsReceived):
        return _alerts(incident, command, policy, roster, now)
    if incident is None:
        return Decision(None)
    current = incident.model_copy(deep=True)
    if isinstance(command, Escalate):
        return _escalate(current, command, policy, roster, now)
    if isinstance(command, Acknowledge):
        return _acknowledge(current, command, now)
    if isinstance(command, Resolve):
        return _resolve(current, command.by, command.via, now)
    if isinstance(command, PageOutcome):
        return page_outcome(current, command, now)
    if isinstance(command, DeliveryFailed):
        return delivery_failed(current, command, now)
    raise TypeError(f"unknown command {command!r}")


def _alerts(
    incident: Incident | None, cmd: AlertsReceived, policy: Policy, roster: Roster, now: datetime
) -> Decision:
    if incident is not None and not incident.is_open:
        if _is_stale_refire(incident, cmd.alerts):
            return Decision(incident)
        incident = None
    if incident is None:
        if all(a.status == "resolved" for a in cmd.alerts):
            return Decision(None)  # a resolve for a group we never saw open: nothing to do
        opened = Incident(
            id=cmd.new_id, receiver=cmd.receiver, group_key=cmd.group_key, policy=policy.name,
            severity=cmd.severity, title=cmd.title, created_at=now,
            alerts={a.fingerprint: a for a in cmd.alerts},
        )
        opened.note(now, "triggered", severity=cmd.severity, policy=policy.name,
                    alerts=len([a for a in cmd.alerts if a.status == "firing"]))
        return _page_next_tier(opened, policy, roster, now, changed=True)

    current = incident.model_copy(deep=True)
    changed = False
    for alert in cmd.alerts:
        known = current.alerts.get(alert.fingerprint)
        if known is not None and alert.starts_at < known.starts_at:
            continue  # an older episode of this alert delivered late
        if known is None:
            if alert.status == "firing":
                current.note(now, "alert_added", fingerprint=alert.fingerprint,
                             alertname=alert.labels.get("alertname", ""))
            current.alerts[alert.fingerprint] = alert
            changed = True
        elif known != alert:
            if known.status != alert.status:
                current.note(now, f"alert_{alert.status}", fingerprint=alert.fingerprint,
                             alertname=alert.labels.get("alertname", ""))
            current.alerts[alert.fingerprint] = alert
            changed = True
    if cmd.severity != current.severity and most_severe([cmd.severity, current.severity]) == cmd.severity:
        current.note(now, "severity_raised", old=current.severity, new=cmd.severity)
        current.severity = cmd.severity
        changed = True
    if current.alerts and all(a.status == "resolved" for a in current.alerts.values()):
        return _resolve(current, "alertmanager", "alertmanager", now)
    return Decision(current, changed=changed)


def _is_stale_refire(resolved: Incident, alerts: list[AlertState]) -> bool:
    """A firing re-send of alerts this incident already saw resolve (delivered late)."""
    firing = [a for a in alerts if a.status == "firing"]
    if not firing:
        return True
    for alert in firing:
        known = resolved.alerts.get(alert.fingerprint)
        if known is None or alert.starts_at > known.starts_at:
            return False
    return True


def _escalate(current: Incident, cmd: Escalate, policy: Policy, roster: Roster, now: datetime) -> Decision:
    if current.status != "triggered" or cmd.round != current.round or current.next_escalation_at is None:
        return Decision(current)
    if now < current.next_escalation_at:
        return Decision(current, early=True)
    return _page_next_tier(current, policy, roster, now, changed=True)


def _page_next_tier(
    current: Incident, policy: Policy, roster: Roster, now: datetime, *, changed: bool
) -> Decision:
    """Page the next tier that has someone on call; a gap falls through, never drops."""
    start = current.next_tier_index
    for index in range(start, len(policy.tiers)):
        tier = policy.tiers[index]
        people = roster.get(tier.name, ())
        if not people:
            current.note(now, "coverage_gap", tier=tier.name)
            continue
        current.round += 1
        current.tier_index = index
        channels = tier.channels_for(current.severity)
        for person in people:
            for channel in channels:
                current.pages.append(PageIntent(round=current.round, tier=tier.name, person=person,
                                                 channel=channel, at=now))
        current.note(now, "escalated" if current.round > 1 else "paging", tier=tier.name,
                     round=current.round, people=list(people), channels=list(channels))
        effects: list[Effect] = [DeliverPages(incident_id=current.id)]
        if index + 1 < len(policy.tiers):
            current.next_tier_index = index + 1
            current.next_escalation_at = now + tier.delay(current.severity)
            effects.append(EscalateAt(incident_id=current.id, round=current.round, at=current.next_escalation_at))
        else:
            current.next_tier_index = len(policy.tiers)
            current.next_escalation_at = None
        return Decision(current, effects, changed=True)
    # Nobody on any remaining tier: keep the incident due and try the same tiers again.
    current.note(now, "nobody_on_call", from_tier=policy.tiers[start].name if start < len(policy.tiers) else None,
                 retry_in_seconds=NOBODY_RETRY_SECONDS)
    if start >= len(policy.tiers):
        current.next_escalation_at = None
        return Decision(current, changed=True)
    current.next_escalation_at = now + timedelta(seconds=NOBODY_RETRY_SECONDS)
    return Decision(current, [EscalateAt(incident_id=current.id, round=current.round,
                                         at=current.next_escalation_at)], changed=True)


def _stop_paging(current: Incident) -> None:
    current.next_escalation_at = None
    for page in current.pages:
        if page.state == "pending":
            page.state = "cancelled"


def _acknowledge(current: Incident, cmd: Acknowledge, now: datetime) -> Decision:
    if current.status != "triggered":
        return Decision(current)  # acknowledging twice (or after resolve) is harmless
    current.status = "acknowledged"
    current.acknowledged_at = now
    current.acknowledged_by = cmd.by
    _stop_paging(current)
    current.note(now, "acknowledged", by=cmd.by, via=cmd.via)
    return Decision(current, changed=True)


def _resolve(current: Incident, by: str, via: str, now: datetime) -> Decision:
    if current.status == "resolved":
        return Decision(current)
    current.status = "resolved"
    current.resolved_at = now
    current.resolved_by = by
    _stop_paging(current)
    current.note(now, "resolved", by=by, via=via)
    return Decision(current, changed=True)
