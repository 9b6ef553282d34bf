"""Notices: messages to read, not pages to acknowledge (a handoff's note to the incoming
person, the confirmation to the outgoing one). Sent from a worker job on the person's
SMS (or email, or the console), once per (notice, person) however often the job runs."""
from __future__ import annotations

import logging

from integrations.notifier import OutboundPage
from service.engine import people
from service.engine.runtime import Herald

log = logging.getLogger("herald.notices")


def channel_for(herald: Herald, person_id: str) -> tuple[str, str]:
    """(channel, address): SMS where there is a phone that has not opted out, else email
    (the addresses the person is paged at: service/engine/people.py)."""
    person = people.person(herald, person_id)
    if person.phone and not herald.paging.is_opted_out(person.phone):
        return "sms", person.phone
    if person.email:
        return "email", person.email
    return "console", ""


def send_notice(herald: Herald, ref: str, person_id: str, title: str, text: str, link: str = "") -> str:
    """Send one notice; answer the outcome ("sent", "duplicate", "failed", "retry")."""
    if person_id not in herald.config.people:
        return "failed"
    if not herald.notices.claim(ref, person_id):
        return "duplicate"
    channel, address = channel_for(herald, person_id)
    person = herald.config.people[person_id]
    page = OutboundPage(incident_id=ref, code="", round=0, tier="", person_id=person_id, person_name=person.name,
                        channel=channel, address=address, severity="", title=title, summary=text, ack_url=link,
                        kind="notice")
    notifier = herald.notifiers.get(channel) or herald.notifiers["console"]
    try:
        result = notifier.send(page)
    except Exception:  # a notifier bug: let the job be retried
        log.exception("notice %s to %s raised", ref, person_id)
        herald.notices.release(ref, person_id)
        return "retry"
    if result.outcome == "retry":
        herald.notices.release(ref, person_id)  # free the slot for RQ's retry of this job
        raise RuntimeError(f"notice {ref} to {person_id}: {result.detail}")
    herald.notices.record(ref, person_id, result.outcome)
    log.info("notice %s to %s by %s: %s", ref, person_id, channel, result.outcome)
    return result.outcome
