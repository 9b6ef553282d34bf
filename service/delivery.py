"""The notify pipeline: dedup -> rate limit -> send -> record.

Pages go out per (person, channel): everything that person has pending on that
channel is bundled into one message, at most one message per rate-limit window
(an alert storm must not send thousands of texts). Each page's send-log slot is
claimed first — only while its incident is still triggered — and marked sent after,
so a retried or duplicated job never sends twice; every outcome is recorded on the
incident through ``decide``.
"""
from __future__ import annotations

import logging
import math
import os
import socket
import time
from datetime import timedelta

import redis

from integrations import keys
from integrations.pages import SendResult
from integrations.paging_store import SentMessage
from routing.incident import Incident, PageOutcome, Reroute
from routing.page_outcomes import NEVER_HELD, gone_off_call
from service import metrics
from service.leases import LeaseKeeper
from service.messages import bundle_page, single_page
from service.runtime import Herald

log = logging.getLogger("herald.delivery")
HOLDER = f"{socket.gethostname()}:{os.getpid()}"
MAX_EARLY_WAIT = 2.0
BUNDLE_LIMIT = 500
#: Seconds between two attempts to record a sent page while Redis does not answer.
RECORD_RETRY_SECONDS = 0.2


def deliver(herald: Herald, incident_id: str, incident: Incident | None = None) -> int:
    """Send the incident's due pages (with anything else due for the same people);
    ``incident``: as the caller read it just now, to save reading it again."""
    incident = incident if incident is not None else herald.store.get(incident_id)
    if incident is None or incident.status != "triggered":
        return 0
    pending = incident.pending_pages()
    if not pending:
        return 0
    wait = (min(p.at for p in pending) - herald.clock()).total_seconds()
    if 0 < wait <= MAX_EARLY_WAIT:  # RQ's scheduler starts jobs up to a second early
        time.sleep(wait)
    now = herald.clock()
    targets = sorted({(p.person, p.channel) for p in pending if p.at <= now})
    urgent = incident.severity == NEVER_HELD
    return sum(deliver_to(herald, person, channel, incident_id, urgent=urgent) for person, channel in targets)


def deliver_to(herald: Herald, person: str, channel: str, for_incident: str, *, urgent: bool = False) -> int:
    """One message to ``person`` on ``channel`` carrying every page due for them.
    ``urgent`` (a P0 page): the person's rate window does not hold it; the message goes
    now, with everything else due for them, and the window runs again from it."""
    now = herald.clock()
    # A P0 message also carries what the window was holding for the person (due later).
    due = herald.paging.pending_for(person, channel, math.inf if urgent else now.timestamp(), limit=BUNDLE_LIMIT)
    if not due:
        return 0
    window, lease = herald.settings.rate_window(channel), herald.settings.send_lease
    # Held as a renewed lease while sending (a dead sender frees it), the full window after.
    wait = herald.paging.take_rate_slot(person, channel, min(window, lease), value=f"claimed:{HOLDER}",
                                        force=urgent)
    if wait:  # someone else's message holds the window: this incident's page waits for it
        until = now + timedelta(seconds=wait)
        for incident_id, round_ in due:
            if incident_id == for_incident:
                herald.act(incident_id, PageOutcome(round=round_, person=person, channel=channel, outcome="deferred",
                                                    until=until, detail=f"rate limit: one {channel} per {window:g}s"))
        return 0
    claimed = _claim(herald, person, channel, due)
    incidents = {i.id: i for i in (herald.store.get(incident_id) for incident_id, _ in claimed) if i is not None}
    claimed = _still_on_call(herald, person, channel, claimed, incidents)
    if not claimed:
        herald.paging.give_back_rate_slot(person, channel)
        return 0
    held = [keys.send_log(i, r, person, channel) for i, r in claimed] + ([keys.rate(person, channel)] if window else [])
    with LeaseKeeper(herald.store, held, f"claimed:{HOLDER}", lease):
        result = _send(herald, person, channel, claimed, incidents)
    metrics.PAGES.labels(channel=channel, outcome=result.outcome).inc()
    if result.outcome == "sent":
        _record_sent(herald, person, channel, claimed, result.provider_id)
    else:
        for incident_id, round_ in claimed:
            herald.store.release_send(incident_id, round_, person, channel)
    if result.outcome == "sent":
        address = _address(herald, person, channel) or ""
        herald.paging.record_message(SentMessage(result.provider_id, person, channel, tuple(claimed)), address)
        herald.paging.hold_rate_slot(person, channel, window)
    else:
        herald.paging.give_back_rate_slot(person, channel)
    for incident_id, round_ in claimed:
        herald.act(incident_id, PageOutcome(round=round_, person=person, channel=channel, outcome=result.outcome,
                                            detail=result.detail, provider_id=result.provider_id,
                                            bundled=len(claimed)))
    return 1 if result.outcome == "sent" else 0


def _record_sent(herald: Herald, person: str, channel: str, claimed: list[tuple[str, int]],
                 provider_id: str) -> None:
    """Mark the claimed pages sent. The provider has taken the message, so a record given
    up on is a page sent twice (the claim runs out and the sweep sends it again). Redis
    may be away for seconds — a Sentinel failover has no master until a replica is
    promoted — so keep trying while the claim still keeps everyone else from sending it:
    for two thirds of the send lease (the lease keeper renewed it at most a third ago)."""
    deadline = time.monotonic() + herald.settings.send_lease * 2 / 3
    for incident_id, round_ in claimed:
        while True:
            try:
                herald.store.record_sent(incident_id, round_, person, channel, provider_id)
                break
            except (redis.ConnectionError, redis.TimeoutError, redis.ReadOnlyError) as exc:
                if time.monotonic() >= deadline:
                    raise
                log.warning("sent %s but could not record it yet (%s); trying again", provider_id,
                            type(exc).__name__)
                time.sleep(RECORD_RETRY_SECONDS)


def _claim(herald: Herald, person: str, channel: str, due: list[tuple[str, int]]) -> list[tuple[str, int]]:
    claimed = []
    for incident_id, round_ in due:
        claim = herald.store.claim_send(incident_id, round_, person, channel, HOLDER,
                                       lease_seconds=math.ceil(herald.settings.send_lease))
        if claim == "ok":
            claimed.append((incident_id, round_))
        elif claim.startswith("sent:"):  # sent before a crash, never recorded: record it now
            herald.act(incident_id, PageOutcome(round=round_, person=person, channel=channel, outcome="sent",
                                                provider_id=claim[5:], detail="recovered after a crash"))
    return claimed


def _still_on_call(herald: Herald, person: str, channel: str, claimed: list[tuple[str, int]],
                   incidents: dict[str, Incident]) -> list[tuple[str, int]]:
    """The claimed pages that still go to ``person``. A page that waited (a rate window, a
    retry) whose person has gone off call for its tier meanwhile is given back and
    rerouted through ``decide`` to whoever is on call now (who gets their own message)."""
    now, rosters, kept = herald.clock(), {}, []
    for incident_id, round_ in claimed:
        incident = incidents.get(incident_id)
        page = next((p for p in incident.pages if (p.round, p.person, p.channel) == (round_, person, channel)),
                    None) if incident is not None else None
        policy = herald.config.policies.get(incident.policy) if incident is not None else None
        if page is None or policy is None or not page.waited:
            kept.append((incident_id, round_))
            continue
        if policy.name not in rosters:
            rosters[policy.name] = herald.calendars.roster(policy, now)
        if not gone_off_call(page, policy, rosters[policy.name]):
            kept.append((incident_id, round_))
            continue
        herald.store.release_send(incident_id, round_, person, channel)
        herald.act(incident_id, Reroute(pages=[(round_, person, channel)]))
    return kept


def _address(herald: Herald, person_id: str, channel: str) -> str | None:
    person = herald.config.people.get(person_id)
    if person is None:
        return None
    if channel in ("sms", "voice"):
        return person.phone
    return person.email if channel == "email" else ""


def _send(herald: Herald, person_id: str, channel: str, claimed: list[tuple[str, int]],
          read: dict[str, Incident]) -> SendResult:
    address = _address(herald, person_id, channel)
    if address is None:
        return SendResult("failed", detail=f"{person_id} has no {channel} address")
    if channel == "sms" and herald.paging.is_opted_out(address):
        return SendResult("failed", detail="the number replied STOP: SMS opted out")
    notifier = herald.notifiers.get(channel)
    if notifier is None:
        return SendResult("failed", detail=f"no notifier for channel {channel}")
    incidents = [read[incident_id] for incident_id, _ in claimed if incident_id in read]
    rounds = dict(claimed)
    ttl = herald.settings.ack_token_ttl
    tokens = {i.id: herald.store.create_ack_token(i.id, person_id, ttl) for i in incidents}
    person = herald.config.people[person_id]
    base = herald.settings.public_url
    if len(incidents) == 1:
        page = single_page(incidents[0], person, channel, address, rounds[incidents[0].id], tokens[incidents[0].id], base)
    else:
        page = bundle_page(incidents, person, channel, address, rounds, tokens, base)
    try:
        return notifier.send(page)
    except Exception as exc:  # a notifier bug must not lose the page: retry it
        log.exception("notifier %s raised", channel)
        return SendResult("retry", detail=f"notifier error: {type(exc).__name__}")
