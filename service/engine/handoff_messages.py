"""The messages a handoff sends: the incoming person learns what they take over, the
outgoing person gets a confirmation.

The texts are pure functions (tested on their own). ``send_handoff_messages`` queues
them as notices (service/engine/notices.py: the person's SMS, else email, once each); the
handoff's answer says who will be told what.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from integrations import keys
from integrations.handoff_store import StoredHandoff
from routing.incident import Incident
from schedules.model import Person

log = logging.getLogger("herald.handoffs")
LISTED_INCIDENTS = 10
NOTE_LIMIT = 500


def _clean(text: str) -> str:
    """One line of printable text: no newlines or control characters from the note."""
    return " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())


def _when(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _name(people: Mapping[str, Person], person_id: str | None) -> str:
    person = people.get(person_id or "")
    return person.name if person else (person_id or "nobody")


def incoming_text(handoff: StoredHandoff, people: Mapping[str, Person], open_incidents: Sequence[Incident],
                  outgoing: Iterable[str] = ()) -> str:
    """"Handoff from Bob Brown: you are on call for backup L2 from … to …. Note: …
    Open incidents (2): #12 triggered P1 Disk full; #9 acknowledged P2 Latency."""
    givers = [_name(people, p) for p in dict.fromkeys(outgoing)] or ["the rotation"]
    text = (f"Handoff from {', '.join(givers)}: you are on call for {handoff.schedule} {handoff.tier} "
            f"from {_when(handoff.start)} to {_when(handoff.end)}.")
    note = _clean(handoff.note)
    if note:
        text += f" Note: {note[:NOTE_LIMIT]}{'…' if len(note) > NOTE_LIMIT else ''}"
    if open_incidents:
        listed = [f"#{i.id} {i.status} {i.severity} {_clean(i.title)}" for i in open_incidents[:LISTED_INCIDENTS]]
        more = len(open_incidents) - len(listed)
        text += f" Open incidents ({len(open_incidents)}): " + "; ".join(listed)
        text += f"; and {more} more" if more else ""
    else:
        text += " No open incidents."
    return text


def outgoing_text(handoff: StoredHandoff, people: Mapping[str, Person]) -> str:
    """"Handoff confirmed: Erin Engel is on call for backup L2 instead of you from … to …."""
    return (f"Handoff confirmed: {_name(people, handoff.to)} is on call for {handoff.schedule} {handoff.tier} "
            f"instead of you from {_when(handoff.start)} to {_when(handoff.end)}.")


def relevant_incidents(incidents: Iterable[Incident], policies: Mapping[str, Any], schedule: str) -> list[Incident]:
    """Open incidents whose policy pages through ``schedule``, most severe first."""
    uses = {name for name, policy in policies.items() if any(t.schedule == schedule for t in policy.tiers)}
    return sorted((i for i in incidents if i.policy in uses and i.is_open), key=lambda i: (i.severity, i.created_at))


def send_handoff_messages(herald: Any, handoff: StoredHandoff, outgoing: Sequence[str]) -> list[dict[str, Any]]:
    """Tell the incoming and the outgoing people; returns what was sent to whom."""
    people = herald.config.people
    incidents = relevant_incidents(herald.store.list(open_only=True, limit=200), herald.config.policies,
                                   handoff.schedule)
    messages = [("incoming", handoff.to, incoming_text(handoff, people, incidents, outgoing))]
    messages += [("outgoing", p, outgoing_text(handoff, people)) for p in dict.fromkeys(outgoing) if p != handoff.to]
    from rq import Callback

    link = f"{herald.settings.public_url.rstrip('/')}/ui/schedules"  # the console, readable on a phone
    sent = []
    for kind, person_id, text in messages:
        title = f"Herald handoff: {handoff.schedule} {handoff.tier}"
        outcome = "failed"
        if person_id in people:
            try:  # sent from a worker on the person's SMS or email, once, retried if the provider fails
                # its retries, after 5 s, 15 s, 1 min, 5 min and 15 min, come from the due index
                herald.queue.enqueue("service.worker.jobs.notice", f"handoff-{handoff.id}-{kind}", person_id, title, text,
                                     link, job_id=keys.job_id("notice", "handoff", handoff.id, kind, person_id),
                                     on_failure=Callback("service.worker.due.retry_later"), result_ttl=3600,
                                     failure_ttl=86400)
                outcome = "queued"
            except Exception:  # a message must never fail the handoff itself
                log.exception("handoff %s: the %s message could not be queued", handoff.id, kind)
        sent.append({"kind": kind, "person": person_id, "outcome": outcome, "text": text})
    return sent
