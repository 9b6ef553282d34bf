"""Alertmanager webhook -> incidents: route, then decide per policy, atomically."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from integrations.store import GroupRead, GroupSlot, group_writes
from routing.alertmanager import WebhookPayload
from routing.decide import Decision, decide
from routing.grouping import AlertGroup, group_of, payload_digest, policies_of
from routing.incident import AlertsReceived, AlertState, Hold
from routing.routes import policies_for
from service.runtime import Herald

#: A webhook body, or a group's stored incidents, larger than this are parsed, decided and
#: written in the thread pool, never on the API's event loop (``service.ingest_async``).
OFF_LOOP_BYTES = 64 * 1024


def ingest(herald: Herald, payload: WebhookPayload, digest: str | None = None) -> list[dict[str, Any]]:
    """Store the group durably (one atomic write per matching policy) and dispatch;
    answer ``{id, status, changed}`` per incident touched.

    A re-send of an open group changes nothing, pages nobody and costs one Redis round
    trip; a group that fires again after it resolved opens a new incident. ``digest``:
    of the body as received (``body_digest``), else worked out from the payload.
    """
    from service.heartbeats import take_watchdog  # heartbeats open incidents through this module

    received, payload = payload, take_watchdog(herald, payload)  # Watchdog alerts are pings, never incidents
    if payload is None:
        return []
    if digest is None or payload is not received:  # the Watchdog's alerts were taken out
        digest = payload_digest(payload)
    policies = policies_of(payload, herald.config.route)
    read = herald.store.read_group(payload.receiver, payload.group_key, policies, digest=digest,
                                   firing=is_firing(payload))
    if read.same is not None:
        return unchanged(read)
    group = group_of(payload, herald.config.route, herald.config.severity, policies, digest)
    return [ref(d) for d in ingest_group(herald, group, read=read) if d.incident is not None]


def is_firing(group: AlertGroup | WebhookPayload) -> bool:
    return any(a.status == "firing" for a in group.alerts)


def unchanged(read: GroupRead) -> list[dict[str, Any]]:
    """The answer to a re-send: every policy's incident, unchanged."""
    assert read.same is not None
    return [{"id": incident_id, "status": status, "changed": False} for incident_id, status in read.same]


def ref(decision: Decision) -> dict[str, Any]:
    assert decision.incident is not None
    return {"id": decision.incident.id, "status": decision.incident.status, "changed": decision.changed}


def decide_slot(herald: Herald, group: AlertGroup, policy_name: str, slot: GroupSlot, now: datetime,
                hold: Hold | None, versions: tuple[str, str, str], drill: bool = False) -> Decision:
    """The decision for one policy's incident of the group, as read (pure but for the
    calendars, which answer from memory unless ``versions`` say they moved)."""
    policy = herald.config.policies[policy_name]
    command = AlertsReceived(new_id=slot.new_id or (slot.current.id if slot.current else ""),
                             receiver=group.receiver, group_key=group.group_key, severity=group.severity,
                             title=group.title, alerts=list(group.alerts), drill=drill,
                             max_alerts=herald.settings.max_alerts_per_incident, more_firing=group.more_firing)
    roster = herald.calendars.roster_seen(policy, now, versions[:2])
    return decide(slot.current, command, policy, roster, now, hold)


def ingest_group(herald: Herald, group: AlertGroup, drill: bool = False,
                 read: GroupRead | None = None) -> list[Decision]:
    """Decide and store one alert group per matching policy (``read``: the group as the
    caller already read it). Pages and timers travel in the due index, written with the
    incident: a worker's clock loop hands the incident to RQ the moment it is due (see
    ``service.due``); nothing is enqueued here."""
    now = herald.clock()
    firing = is_firing(group)
    if read is None:
        read = herald.store.read_group(group.receiver, group.group_key, group.policies, firing=firing)
    hold = herald.hold(group.alerts, now, read.versions[2])
    return herald.store.run(group_writes(
        group.receiver, group.group_key, group.policies, read,
        lambda name, slot, versions: decide_slot(herald, group, name, slot, now, hold, versions, drill),
        herald.store.count, digest=group.digest, firing=firing))


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
