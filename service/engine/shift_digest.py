"""The shift-start digest: when a shift begins on a schedule with ``digest: true``,
the incoming on-call gets a notice with the open incidents of the policies that page
through that schedule and the handoff notes of the last day.

Run as a periodic task of the due index (service/worker/due.py); each (schedule, tier, shift
start, person) is sent once (service/engine/notices.py deduplicates), so several workers and
repeated passes are safe.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from integrations.handoff_store import StoredHandoff
from routing.incident import Incident
from service.engine.handoff_messages import relevant_incidents
from service.engine.notices import send_notice
from service.engine.runtime import Herald

log = logging.getLogger("herald.digest")
#: A shift that started longer ago than this gets no digest (Herald was down, or it is old news).
FRESH = timedelta(minutes=15)
LISTED = 10


def digest_text(schedule: str, tier: str, start: datetime, incidents: Sequence[Incident],
                notes: Sequence[StoredHandoff]) -> str:
    """"Your shift on primary L1 started at 09:00 UTC. Open incidents (2): #12 …. Handoff notes: …"."""
    text = f"Your shift on {schedule} {tier} started at {start.strftime('%Y-%m-%d %H:%M UTC')}."
    if incidents:
        listed = [f"#{i.id} {i.status} {i.severity} {i.title}" for i in incidents[:LISTED]]
        more = len(incidents) - len(listed)
        text += f" Open incidents ({len(incidents)}): " + "; ".join(listed) + (f"; and {more} more" if more else "")
    else:
        text += " No open incidents."
    kept = [h for h in notes if h.note.strip()]
    if kept:
        text += " Handoff notes: " + "; ".join(f"{h.to}: {' '.join(h.note.split())[:200]}" for h in kept[-5:])
    return text


def send_digests(herald: Herald, now: datetime) -> int:
    """Send the digest for every shift that started within FRESH on a digest schedule."""
    sent = 0
    for name, spec in herald.config.schedules.items():
        rotation = herald.calendars.rotation(name) if spec.digest else None
        if rotation is None:
            continue
        handoffs = [h for h in herald.handoffs.all()
                    if h.schedule == name and h.created_at and h.created_at > now - timedelta(days=1)]
        incidents = None
        for tier in rotation.tiers():
            for shift in rotation.oncall(tier, now):
                if not now - FRESH <= shift.start <= now:
                    continue
                if incidents is None:
                    incidents = relevant_incidents(herald.store.list(open_only=True, limit=200),
                                                   herald.config.policies, name)
                text = digest_text(name, tier, shift.start, incidents, [h for h in handoffs if h.tier == tier])
                ref = f"shift-{name}-{tier}-{int(shift.start.timestamp())}"
                if send_notice(herald, ref, shift.person, f"Herald: your {name} {tier} shift", text) == "sent":
                    sent += 1
    return sent
