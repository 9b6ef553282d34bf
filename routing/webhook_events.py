"""Outgoing webhook events from incident timelines and handoffs. Pure.

Each timeline entry maps to at most one event (``EVENT_OF``); the event id is derived
from (incident id, timeline index), so a redelivery carries the same id and a receiver
can drop the copy. The body (docs/webhooks.md)::

    {"type": "incident.acknowledged", "id": "herald-incident-42-5",
     "timestamp": "2026-...Z",                      # the timeline entry's time
     "data": {"incident": {...summary...}, "entry": {"index": 5, "kind": "acknowledged", "at": ..., "details": {...}}}}
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from routing.incident import Incident, TimelineEntry

#: Timeline entry kind -> event type. An escalation is the ``escalated`` entry of each round
#: after the first (a repeat of the chain, "escalate now" and a reassignment write one too, so
#: their own entries map to nothing: one event per escalation).
EVENT_OF: dict[str, str] = {
    "triggered": "incident.opened",
    "acknowledged": "incident.acknowledged",
    "escalated": "incident.escalated",
    "resolved": "incident.resolved",
    "page": "page.sent",
    "page_failed": "page.failed",
    "delivery_failed": "page.failed",
}


def event_type(entry: TimelineEntry) -> str | None:
    """The event a timeline entry is, or None (it is not one)."""
    return EVENT_OF.get(entry.kind)


def incident_event_id(incident_id: str, index: int) -> str:
    return f"herald-incident-{incident_id}-{index}"


def handoff_event_id(handoff_id: str) -> str:
    return f"herald-handoff-{handoff_id}"


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def incident_summary(incident: Incident, public_url: str) -> dict[str, Any]:
    """What a receiver needs to know of the incident as it is now."""
    firing = sorted(a.labels.get("alertname", "") for a in incident.alerts.values() if a.status == "firing")
    return {
        "id": incident.id, "title": incident.title, "status": incident.status, "severity": incident.severity,
        "policy": incident.policy, "receiver": incident.receiver, "group_key": incident.group_key,
        "drill": incident.drill, "created_at": _iso(incident.created_at),
        "acknowledged_at": _iso(incident.acknowledged_at), "acknowledged_by": incident.acknowledged_by,
        "resolved_at": _iso(incident.resolved_at), "resolved_by": incident.resolved_by,
        "firing_alerts": len(firing) + incident.untracked_alerts, "alertnames": list(dict.fromkeys(firing))[:20],
        "url": f"{public_url.rstrip('/')}/ui/incidents/{incident.id}",
    }


def incident_event(incident: Incident, index: int, public_url: str) -> dict[str, Any] | None:
    """The event of timeline entry ``index`` of ``incident`` (None: the entry is not one)."""
    entry = incident.timeline[index]
    kind = event_type(entry)
    if kind is None:
        return None
    return {"type": kind, "id": incident_event_id(incident.id, index), "timestamp": _iso(entry.at),
            "data": {"incident": incident_summary(incident, public_url),
                     "entry": {"index": index, "kind": entry.kind, "at": _iso(entry.at),
                               "details": entry.details}}}


def handoff_event(handoff: dict[str, Any], at: datetime) -> dict[str, Any]:
    """The ``handoff.created`` event of a handoff (its stored JSON form)."""
    return {"type": "handoff.created", "id": handoff_event_id(str(handoff["id"])), "timestamp": _iso(at),
            "data": {"handoff": handoff}}


def body(event: dict[str, Any]) -> bytes:
    """The bytes sent and signed: compact JSON, keys in a fixed order."""
    return json.dumps(event, separators=(",", ":"), default=str).encode()
