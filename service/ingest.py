"""Alertmanager webhook -> incidents: route, then decide per policy, atomically."""
from __future__ import annotations

from redis.client import Pipeline

from routing.alertmanager import WebhookPayload
from routing.decide import Decision, decide
from routing.grouping import group_of
from routing.incident import AlertsReceived, Incident
from service.runtime import Herald


def ingest(herald: Herald, payload: WebhookPayload) -> list[Decision]:
    """Store the group durably (one transaction per matching policy) and dispatch.

    A re-send of an open group changes nothing and pages nobody; a group that fires
    again after it resolved opens a new incident.
    """
    group = group_of(payload, herald.config.route, herald.config.severity)
    now = herald.clock()
    hold = herald.hold(group.alerts, now)
    decisions = []
    for name in group.policies:
        policy = herald.config.policies[name]

        def run(current: Incident | None, _pipe: Pipeline, policy=policy) -> Decision:
            opening = current is None or not current.is_open
            firing = any(a.status == "firing" for a in group.alerts)
            command = AlertsReceived(
                new_id=herald.store.next_incident_id() if opening and firing else (current.id if current else ""),
                receiver=group.receiver, group_key=group.group_key, severity=group.severity,
                title=group.title, alerts=list(group.alerts),
            )
            return decide(current, command, policy, herald.calendars.roster(policy, now), now, hold)

        decisions.append(herald.store.apply_to_group(group.receiver, group.group_key, name, run))
    for decision in decisions:
        herald.dispatch(decision)
    return decisions
