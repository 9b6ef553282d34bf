"""The delivery executor: an incident's due pages go out as messages, through named
stages composed in one place (``deliver_target``):

    rate window -> claim -> send under a lease -> record

Pages go out per (person, channel): everything that person has pending on that
channel is bundled into one message, at most one message per rate-limit window (an
alert storm must not send thousands of texts). Each page's send-log slot is claimed
first — only while its incident is still triggered — and marked sent after, so a
retried or duplicated job never sends twice. What to send (who, which channel,
bundled with what, addressed how) is decided without I/O by ``routing.delivery_plan``.

The targets of one incident are delivered concurrently: each channel has a pool of
``HERALD_SEND_CONCURRENCY`` threads (the providers' SDKs are synchronous), so a tier
of 40 people is paged in about one provider round trip, not 40. Every guarantee is
per target and unchanged: the claim before the send, the lease renewed during it, the
rate window per person. The outcomes are committed once per incident, not once per
page: one ``PageOutcomes`` through ``decide``, one atomic store write.
"""
from __future__ import annotations

import logging
import math
import os
import socket
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta

import redis

from integrations import keys
from integrations.notifier import SendResult
from integrations.paging_store import SentMessage
from routing.delivery_plan import PageRef, PlannedMessage, Target, due_targets, plan_message, policies_to_ask, \
    still_on_call
from routing.incident import Incident, PageOutcome, PageOutcomes, Reroute
from service.telemetry import metrics
from service.engine.leases import LeaseKeeper
from service.engine.messages import bundle_page, single_page
from service.engine import people
from service.engine.runtime import Herald
from schedules.contacts import PersonRecord
from schedules.model import Person

log = logging.getLogger("herald.delivery")
HOLDER = f"{socket.gethostname()}:{os.getpid()}"
MAX_EARLY_WAIT = 2.0
BUNDLE_LIMIT = 500
#: Seconds between two attempts to record a sent page while Redis does not answer.
RECORD_RETRY_SECONDS = 0.2


@dataclass
class Delivered:
    """What one target's stages did: the outcomes to record, per page, and whether a
    message left."""

    outcomes: list[tuple[str, PageOutcome]] = field(default_factory=list)
    sent: int = 0

    def add(self, incident_id: str, outcome: PageOutcome) -> None:
        self.outcomes.append((incident_id, outcome))


def deliver(herald: Herald, incident_id: str, incident: Incident | None = None) -> int:
    """Send the incident's due pages (with anything else due for the same people);
    ``incident``: as the caller read it just now, to save reading it again. Answers
    how many messages left."""
    incident = incident if incident is not None else herald.store.get(incident_id)
    if incident is None or incident.status != "triggered":
        return 0
    pending = incident.pending_pages()
    if not pending:
        return 0
    wait = (min(p.at for p in pending) - herald.clock()).total_seconds()
    if 0 < wait <= MAX_EARLY_WAIT:  # RQ's scheduler starts jobs up to a second early
        time.sleep(wait)
    targets = due_targets(incident, herald.clock())
    done, failure = run_targets(herald, targets, incident_id)
    commit_outcomes(herald, [outcome for d in done for outcome in d.outcomes])
    if failure is not None:  # committed what the others did; the job is retried for the rest
        raise failure
    return sum(d.sent for d in done)


# -- the pipeline of one target, composed in one place ----------------------------------------

def deliver_target(herald: Herald, target: Target, for_incident: str) -> Delivered:
    """One message to ``target.person`` on ``target.channel`` carrying every page due
    for them. ``urgent`` (a P0 page): the person's rate window does not hold it; the
    message goes now, with everything else due for them, and the window runs again
    from it."""
    done = Delivered()
    due = collect(herald, target)
    if not due or rate_window(herald, target, due, for_incident, done):
        return done
    claimed = claim(herald, target, due, done)
    incidents = read_incidents(herald, claimed)
    claimed = reroute_gone(herald, target, claimed, incidents)
    if not claimed:
        herald.paging.give_back_rate_window(target.person, target.channel)
        return done
    # Where the person is paged: the people store's addresses (verified, or seeded from
    # the file), not the file's (service/engine/people.py).
    person, contacts = people.paging_view(herald, target.person)
    directory = {person.id: person} if person is not None else {}
    message = plan_message(target.person, target.channel, claimed, directory,
                           opted_out=opted_out(target, person, contacts), channels=herald.notifiers.keys())
    result = send_under_lease(herald, message, incidents, person)
    record(herald, message, result, done)
    if contacts is not None and message.address:
        people.note_send(herald, target.person, message.address, result, contacts)
    return done


def collect(herald: Herald, target: Target) -> list[PageRef]:
    """Everything due for the person on the channel (a P0 message also carries what the
    window was holding for them, due later)."""
    until = math.inf if target.urgent else herald.clock().timestamp()
    return herald.paging.pending_for(target.person, target.channel, until, limit=BUNDLE_LIMIT)


def rate_window(herald: Herald, target: Target, due: list[PageRef], for_incident: str, done: Delivered) -> bool:
    """Stage 1: take the person's window on the channel — held as a renewed lease while
    sending (a dead sender frees it), the full window after. True: someone else's
    message holds it, and this incident's pages wait for it (deferred)."""
    window, lease = herald.settings.rate_window(target.channel), herald.settings.send_lease
    wait = herald.paging.take_rate_window(target.person, target.channel, min(window, lease),
                                        value=f"claimed:{HOLDER}", force=target.urgent)
    if not wait:
        return False
    until = herald.clock() + timedelta(seconds=wait)
    for incident_id, round_ in due:
        if incident_id == for_incident:
            done.add(incident_id, PageOutcome(round=round_, person=target.person, channel=target.channel,
                                              outcome="deferred", until=until,
                                              detail=f"rate limit: one {target.channel} per {window:g}s"))
    return True


def claim(herald: Herald, target: Target, due: list[PageRef], done: Delivered) -> list[PageRef]:
    """Stage 2: each page's send-log slot, taken only while its incident is triggered.
    A slot that says sent (sent before a crash, never recorded) is recorded now."""
    claimed = []
    for incident_id, round_ in due:
        slot = herald.store.claim_send(incident_id, round_, target.person, target.channel, HOLDER,
                                       lease_seconds=math.ceil(herald.settings.send_lease))
        if slot == "ok":
            claimed.append((incident_id, round_))
        elif slot.startswith("sent:"):
            done.add(incident_id, PageOutcome(round=round_, person=target.person, channel=target.channel,
                                              outcome="sent", provider_id=slot[5:],
                                              detail="recovered after a crash"))
    return claimed


def read_incidents(herald: Herald, claimed: list[PageRef]) -> dict[str, Incident]:
    ids = list(dict.fromkeys(incident_id for incident_id, _ in claimed))
    return {i.id: i for i in (herald.store.get(incident_id) for incident_id in ids) if i is not None}


def reroute_gone(herald: Herald, target: Target, claimed: list[PageRef],
                 incidents: dict[str, Incident]) -> list[PageRef]:
    """The claimed pages that still go to the person. A page that waited (a rate window,
    a retry) whose person has gone off call for its tier meanwhile is given back and
    rerouted through ``decide`` to whoever is on call now (who gets their own message)."""
    names = policies_to_ask(target.person, target.channel, claimed, incidents)
    if not names:
        return claimed
    now, policies = herald.clock(), herald.config.policies
    rosters = {name: herald.calendars.roster(policies[name], now) for name in names if name in policies}
    kept, gone = still_on_call(target.person, target.channel, claimed, incidents, policies, rosters)
    for incident_id, round_ in gone:
        herald.store.release_send(incident_id, round_, target.person, target.channel)
        herald.act(incident_id, Reroute(pages=[(round_, target.person, target.channel)]))
    return kept


def opted_out(target: Target, person: Person | None, contacts: PersonRecord | None) -> frozenset[str]:
    """The person's number, if it replied STOP (only SMS asks; the people store read the
    opt-outs with the contacts)."""
    phone = person.phone if person is not None else None
    if target.channel != "sms" or not phone or contacts is None:
        return frozenset()
    return frozenset(c.address for c in contacts.contacts if c.address == phone and c.opted_out)


def send_under_lease(herald: Herald, message: PlannedMessage, incidents: dict[str, Incident],
                     person: Person | None = None) -> SendResult:
    """Stage 3: the provider call, while a thread renews the claims (every page's
    send-log slot, and the rate window) so a live sender keeps them however slow the
    provider is."""
    window = herald.settings.rate_window(message.channel)
    held = [keys.send_log(i, r, message.person, message.channel) for i, r in message.pages]
    held += [keys.rate(message.person, message.channel)] if window else []
    with LeaseKeeper(herald.store, held, f"claimed:{HOLDER}", herald.settings.send_lease):
        return send(herald, message, incidents, person)


def send(herald: Herald, message: PlannedMessage, read: dict[str, Incident], person: Person | None = None) -> SendResult:
    if message.address is None:
        return SendResult("failed", detail=message.reason)
    notifier = herald.notifiers[message.channel]
    incidents = [read[incident_id] for incident_id in message.incident_ids if incident_id in read]
    rounds = dict(message.pages)
    ttl = herald.settings.ack_token_ttl
    tokens = {i.id: herald.store.create_ack_token(i.id, message.person, ttl) for i in incidents}
    person = person if person is not None else people.person(herald, message.person)
    base = herald.settings.public_url
    if len(incidents) == 1:
        first = incidents[0]
        page = single_page(first, person, message.channel, message.address, rounds[first.id], tokens[first.id], base)
    else:
        page = bundle_page(incidents, person, message.channel, message.address, rounds, tokens, base)
    try:
        return notifier.send(page)
    except Exception as exc:  # a notifier bug must not lose the page: retry it
        log.exception("notifier %s raised", message.channel)
        return SendResult("retry", detail=f"notifier error: {type(exc).__name__}")


def record(herald: Herald, message: PlannedMessage, result: SendResult, done: Delivered) -> None:
    """Stage 4: the send-log says sent (or frees the slots for a retry), the message is
    remembered for replies and delivery reports, the window runs its full length from
    now (or is given back); each page's outcome is kept for the incident's commit."""
    person, channel = message.person, message.channel
    metrics.PAGES.labels(channel=channel, outcome=result.outcome).inc()
    if result.outcome == "sent":
        record_sent(herald, person, channel, message.pages, result.provider_id)
    else:
        for incident_id, round_ in message.pages:
            herald.store.release_send(incident_id, round_, person, channel)
    if result.outcome == "sent":
        herald.paging.record_message(SentMessage(result.provider_id, person, channel, message.pages),
                                     message.address or "")
        herald.paging.hold_rate_window(person, channel, herald.settings.rate_window(channel))
        done.sent = 1
    else:
        herald.paging.give_back_rate_window(person, channel)
    for incident_id, round_ in message.pages:
        done.add(incident_id, PageOutcome(round=round_, person=person, channel=channel, outcome=result.outcome,
                                          detail=result.detail, provider_id=result.provider_id,
                                          bundled=message.bundled))


def record_sent(herald: Herald, person: str, channel: str, claimed: list[PageRef],
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


# -- committing: once per incident ------------------------------------------------------------

def commit_outcomes(herald: Herald, outcomes: list[tuple[str, PageOutcome]]) -> None:
    """Every page outcome of one delivery, one ``PageOutcomes`` per incident (one write
    each, through ``decide``). One incident that cannot be written does not keep the
    others' outcomes from theirs; its error is raised after."""
    by_incident: dict[str, list[PageOutcome]] = {}
    for incident_id, outcome in outcomes:
        by_incident.setdefault(incident_id, []).append(outcome)
    failure: Exception | None = None
    for incident_id, batch in by_incident.items():
        try:
            herald.act(incident_id, PageOutcomes(outcomes=batch))
        except Exception as exc:
            log.exception("could not record %d page outcome(s) on incident %s", len(batch), incident_id)
            failure = failure or exc
    if failure is not None:
        raise failure


# -- running targets side by side ------------------------------------------------------------

_pools: dict[tuple[str, int], ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()


def _forget_pools() -> None:
    """In a forked child: the parent's sender threads do not exist there (a pool
    inherited without them would queue sends nobody runs); the child makes its own."""
    global _pools_lock
    _pools.clear()
    _pools_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_pools)


def pool(channel: str, size: int) -> ThreadPoolExecutor:
    """The channel's sender threads (one pool per channel and size, made on first use)."""
    with _pools_lock:
        found = _pools.get((channel, size))
        if found is None:
            found = _pools[(channel, size)] = ThreadPoolExecutor(size, thread_name_prefix=f"herald-send-{channel}")
        return found


def run_targets(herald: Herald, targets: list[Target], for_incident: str) -> tuple[list[Delivered], Exception | None]:
    """Each target's pipeline, at most ``HERALD_SEND_CONCURRENCY`` at once per channel
    (here, one after another when that is 1 or there is one target). Answers what each
    did and the first error one raised (the others still finish)."""
    size = herald.settings.send_concurrency
    if size <= 1 or len(targets) <= 1:
        done, failure = [], None
        for target in targets:
            try:
                done.append(deliver_target(herald, target, for_incident))
            except Exception as exc:
                log.exception("delivery to %s on %s failed", target.person, target.channel)
                failure = failure or exc
        return done, failure
    futures: list[Future[Delivered]] = [pool(t.channel, size).submit(deliver_target, herald, t, for_incident)
                                        for t in targets]
    done, failure = [], None
    for target, future in zip(targets, futures):
        try:
            done.append(future.result())
        except Exception as exc:
            log.exception("delivery to %s on %s failed", target.person, target.channel)
            failure = failure or exc
    return done, failure
