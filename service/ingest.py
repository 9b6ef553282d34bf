"""Alertmanager webhook -> incidents: route, then decide per policy, atomically."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from redis.client import Pipeline

from routing.alertmanager import WebhookPayload
from routing.decide import Decision, decide
from routing.grouping import AlertGroup, alerts_digest, group_of
from routing.incident import AlertsReceived, AlertState, Incident
from routing.routes import policies_for
from service.runtime import Herald


def ingest(herald: Herald, payload: WebhookPayload) -> list[dict[str, Any]]:
    """Store the group durably (one transaction per matching policy) and dispatch;
    answer ``{id, status, changed}`` per incident touched.

    A re-send of an open group changes nothing and pages nobody; a group that fires
    again after it resolved opens a new incident.
    """
    from service.heartbeats import take_watchdog  # heartbeats open incidents through this module

    payload = take_watchdog(herald, payload)  # Watchdog alerts are pings, never incidents
    if payload is None:
        return []
    group = group_of(payload, herald.config.route, herald.config.severity)
    resent = _unchanged(herald, group)
    if resent is not None:
        return resent
    return [_ref(d) for d in ingest_group(herald, group) if d.incident is not None]


def _ref(decision: Decision) -> dict[str, Any]:
    assert decision.incident is not None
    return {"id": decision.incident.id, "status": decision.incident.status, "changed": decision.changed}


def _unchanged(herald: Herald, group: AlertGroup) -> list[dict[str, Any]] | None:
    """The fast path for Alertmanager's re-sends: one MGET shows every policy's
    incident already holds exactly these alerts, so nothing would change."""
    digest = alerts_digest(group.alerts)
    stored = herald.store.digests([(group.receiver, group.group_key, name) for name in group.policies])
    refs = []
    for value in stored:
        if value is None or not value.startswith(digest + ":"):
            return None
        _, incident_id, status = value.split(":", 2)
        refs.append({"id": incident_id, "status": status, "changed": False})
    return refs


def ingest_group(herald: Herald, group: AlertGroup, drill: bool = False) -> list[Decision]:
    """Decide and store one alert group per matching policy, then dispatch the effects."""
    now = herald.clock()
    hold = herald.hold(group.alerts, now)
    decisions = []
    for name in group.policies:
        policy = herald.config.policies[name]

        def run(current: Incident | None, _pipe: Pipeline, policy=policy) -> Decision:
            opening = current is None or not current.is_open
            firing = any(a.status == "firing" for a in group.alerts)
            command = AlertsReceived(
                new_id=(herald.store.next_incident_id() if (opening and firing) or current is None
                        else (current.id if current else "")),
                receiver=group.receiver, group_key=group.group_key, severity=group.severity,
                title=group.title, alerts=list(group.alerts), drill=drill,
            )
            return decide(current, command, policy, herald.calendars.roster(policy, now), now, hold)

        decisions.append(herald.store.apply_to_group(group.receiver, group.group_key, name, run))
    for decision in decisions:
        herald.dispatch(decision)
    return decisions


SYNTHETIC_RECEIVER = "herald"


def ingest_synthetic(herald: Herald, group_key: str, labels: dict[str, str], annotations: dict[str, str],
                     status: Literal["firing", "resolved"], severity: str | None = None, drill: bool = False, *,
                     policy: str | None = None, starts_at: datetime | None = None) -> list[Decision]:
    """Open or resolve an alert group Herald raises itself (a heartbeat gone silent, a
    drill) through the webhook's own path: route, decide, store, dispatch.

    The group is (receiver "herald", ``group_key``) with one alert whose fingerprint is
    the group key; ``starts_at`` names the episode, so a resolve must repeat the
    opening's. ``policy`` skips the route tree; ``severity`` overrides the mapping.
    """
    now = herald.clock()
    alert = AlertState(fingerprint=group_key, status=status, labels=dict(labels), annotations=dict(annotations),
                       starts_at=starts_at or now, ends_at=now if status == "resolved" else None)
    policies = (policy,) if policy else tuple(policies_for(herald.config.route, labels))
    group = AlertGroup(receiver=SYNTHETIC_RECEIVER, group_key=group_key, policies=policies,
                       severity=severity or herald.config.severity.of(labels),
                       title=(annotations.get("summary") or labels.get("alertname") or group_key)[:200],
                       alerts=(alert,))
    return ingest_group(herald, group, drill=drill)
