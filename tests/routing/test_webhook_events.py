"""Timeline entries -> outgoing webhook events (routing/webhook_events.py): at most one
event per entry, ids that survive a redelivery, the body receivers parse."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from routing.incident import AlertState, Incident, TimelineEntry
from routing.webhook_events import EVENT_OF, body, event_type, handoff_event, incident_event, incident_event_id

NOW = datetime.now(timezone.utc).replace(microsecond=0)


def incident(*kinds: str) -> Incident:
    found = Incident(id="7", receiver="herald", group_key="g", policy="default", severity="P1", title="Disk full",
                     created_at=NOW, alerts={"f1": AlertState(fingerprint="f1", status="firing",
                                                              labels={"alertname": "DiskFull"}, starts_at=NOW)})
    for n, kind in enumerate(kinds):
        found.timeline.append(TimelineEntry(at=NOW + timedelta(seconds=n), kind=kind, details={"n": n}))
    return found


@pytest.mark.parametrize("kind, expected", [
    ("triggered", "incident.opened"), ("acknowledged", "incident.acknowledged"),
    ("escalated", "incident.escalated"), ("resolved", "incident.resolved"), ("page", "page.sent"),
    ("page_failed", "page.failed"), ("delivery_failed", "page.failed"),
    # entries that come with an ``escalated`` of their own, or are not events at all
    ("paging", None), ("repeat", None), ("reassigned", None), ("escalate_requested", None), ("note", None),
    ("snoozed", None), ("page_retry", None), ("resolved_unseen", None), ("held", None),
])
def test_each_entry_is_at_most_one_event(kind, expected):
    assert event_type(TimelineEntry(at=NOW, kind=kind)) == expected


def test_every_event_type_is_reachable_from_a_timeline_entry():
    from integrations.config.webhooks import EVENT_TYPES

    assert set(EVENT_OF.values()) | {"handoff.created"} == set(EVENT_TYPES)


def test_the_event_of_an_entry_and_its_stable_id():
    found = incident("triggered", "paging", "page", "acknowledged")
    event = incident_event(found, 3, "https://herald.example.com/")
    assert event["type"] == "incident.acknowledged" and event["id"] == incident_event_id("7", 3) == "herald-incident-7-3"
    assert event["timestamp"] == (NOW + timedelta(seconds=3)).isoformat().replace("+00:00", "Z")
    assert event["data"]["entry"] == {"index": 3, "kind": "acknowledged", "at": event["timestamp"],
                                      "details": {"n": 3}}
    summary = event["data"]["incident"]
    assert summary["url"] == "https://herald.example.com/ui/incidents/7" and summary["alertnames"] == ["DiskFull"]
    assert summary["firing_alerts"] == 1 and summary["status"] == "triggered"
    found.timeline.append(TimelineEntry(at=NOW, kind="note"))
    assert incident_event(found, 3, "https://x")["id"] == event["id"]  # the same entry, the same id, later too


def test_an_entry_that_is_no_event_has_none():
    assert incident_event(incident("triggered", "paging"), 1, "https://x") is None


def test_a_timeline_index_out_of_range_is_an_error():
    with pytest.raises(IndexError):
        incident_event(incident("triggered"), 5, "https://x")


def test_the_body_is_compact_json_of_the_event():
    handoff = {"id": "h3", "schedule": "primary", "tier": "L1", "to": "bob", "from": None}
    event = handoff_event(handoff, NOW)
    assert event["id"] == "herald-handoff-h3" and event["type"] == "handoff.created"
    raw = body(event)
    assert json.loads(raw) == event and b" " not in raw.replace(b"handoff.created", b"")
