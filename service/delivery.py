"""The notify pipeline for one incident: dedup -> send -> record.

For each pending page: claim its send-log slot (only while the incident is still
triggered), send it through the channel's notifier, mark the slot sent, and record
the outcome on the incident through ``decide``. A retried or duplicated job finds
the slot taken and sends nothing twice.
"""
from __future__ import annotations

import logging
import os
import socket

from integrations.pages import OutboundPage, SendResult
from routing.incident import Incident, PageIntent, PageOutcome
from service.runtime import Herald

log = logging.getLogger("herald.delivery")
HOLDER = f"{socket.gethostname()}:{os.getpid()}"


def _address(herald: Herald, page: PageIntent) -> str | None:
    person = herald.config.people.get(page.person)
    if person is None:
        return None
    if page.channel in ("sms", "voice"):
        return person.phone
    if page.channel == "email":
        return person.email
    return ""


def _outbound(herald: Herald, incident: Incident, page: PageIntent, address: str, token: str) -> OutboundPage:
    first = next(iter(incident.alerts.values()), None)
    annotations = dict(first.annotations) if first else {}
    base = herald.settings.public_url.rstrip("/")
    person = herald.config.people[page.person]
    return OutboundPage(
        incident_id=incident.id, code=incident.id, step=page.round, tier=page.tier,
        person_id=person.id, person_name=person.name, channel=page.channel, address=address,
        severity=incident.severity, title=incident.title,
        summary=annotations.get("summary") or annotations.get("description") or incident.title,
        ack_url=f"{base}/ack/{token}", resolve_url=f"{base}/ack/{token}#resolve",
        generator_url=first.generator_url if first else "",
        labels=dict(first.labels) if first else {}, annotations=annotations,
    )


def deliver(herald: Herald, incident_id: str) -> int:
    """Send every pending page of the incident that nobody has sent yet. Returns how many."""
    incident = herald.store.get(incident_id)
    if incident is None or incident.status != "triggered":
        return 0
    sent = 0
    for page in incident.pending_pages():
        claim = herald.store.claim_send(incident_id, page.round, page.person, page.channel, HOLDER)
        if claim == "closed":
            return sent  # acknowledged or resolved since: nothing more goes out
        if claim.startswith("sent:"):  # sent before a crash, never recorded: record it now
            herald.act(incident_id, PageOutcome(round=page.round, person=page.person, channel=page.channel,
                                                outcome="sent", provider_id=claim[5:], detail="recovered"))
            continue
        if claim != "ok":
            continue  # another worker holds the lease for this page right now
        result = _send(herald, incident, page)
        if result.outcome == "sent":
            herald.store.record_sent(incident_id, page.round, page.person, page.channel, result.provider_id)
            sent += 1
        elif result.outcome == "retry":
            herald.store.release_send(incident_id, page.round, page.person, page.channel)
        herald.act(incident_id, PageOutcome(round=page.round, person=page.person, channel=page.channel,
                                            outcome=result.outcome, detail=result.detail,
                                            provider_id=result.provider_id))
    return sent


def _send(herald: Herald, incident: Incident, page: PageIntent) -> SendResult:
    address = _address(herald, page)
    if address is None:
        return SendResult("failed", detail=f"{page.person} has no {page.channel} address")
    notifier = herald.notifiers.get(page.channel)
    if notifier is None:
        return SendResult("failed", detail=f"no notifier for channel {page.channel}")
    token = herald.store.create_ack_token(incident.id, page.person, herald.settings.ack_token_ttl)
    try:
        return notifier.send(_outbound(herald, incident, page, address, token))
    except Exception as exc:  # a notifier bug must not lose the page: retry it
        log.exception("notifier %s raised", page.channel)
        return SendResult("retry", detail=f"notifier error: {type(exc).__name__}")
