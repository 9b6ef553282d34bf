"""Recording what happened to a page, and what follows from it.

A transient failure (timeout, 429, 5xx) keeps the page pending with exponential
backoff, up to ``MAX_ATTEMPTS``; a permanent one (4xx, no address, an undelivered or
bounced message, a call nobody — or only voicemail — answered) moves that person on
to their next channel at once: SMS → voice → email.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from routing.decision import Decision
from routing.incident import DeliverAt, DeliverPages, DeliveryFailed, Incident, PageIntent, PageOutcome

FALLBACK_ORDER = ("sms", "voice", "email")
MAX_ATTEMPTS = 5
BACKOFF_BASE_SECONDS = 5
BACKOFF_MAX_SECONDS = 300


def backoff(attempts: int) -> timedelta:
    """5 s, 10 s, 20 s, 40 s … capped at 5 minutes, after ``attempts`` tries."""
    return timedelta(seconds=min(BACKOFF_BASE_SECONDS * 2 ** max(attempts - 1, 0), BACKOFF_MAX_SECONDS))


def _find(incident: Incident, round_: int, person: str, channel: str) -> PageIntent | None:
    for page in incident.pages:
        if (page.round, page.person, page.channel) == (round_, person, channel):
            return page
    return None


def next_channel(incident: Incident, failed: PageIntent) -> str | None:
    """The first channel after the failed one (wrapping) this person has not had this round."""
    if failed.channel not in FALLBACK_ORDER:
        return None
    tried = {p.channel for p in incident.pages if p.round == failed.round and p.person == failed.person}
    start = FALLBACK_ORDER.index(failed.channel)
    for channel in FALLBACK_ORDER[start + 1:] + FALLBACK_ORDER[:start]:
        if channel not in tried:
            return channel
    return None


def _fall_back(current: Incident, failed: PageIntent, now: datetime, decision: Decision) -> None:
    if current.status != "triggered":
        return
    channel = next_channel(current, failed)
    if channel is None:
        current.note(now, "no_channel_left", person=failed.person, round=failed.round, tier=failed.tier)
        return
    current.pages.append(PageIntent(round=failed.round, tier=failed.tier, person=failed.person, channel=channel,
                                    at=now, fallback_from=failed.channel))
    current.note(now, "channel_fallback", person=failed.person, round=failed.round, tier=failed.tier,
                 failed=failed.channel, next=channel)
    decision.effects.append(DeliverPages(incident_id=current.id))


def page_outcome(current: Incident, cmd: PageOutcome, now: datetime) -> Decision:
    page = _find(current, cmd.round, cmd.person, cmd.channel)
    if page is None or page.state in ("sent", "failed"):
        return Decision(current)  # already recorded: a retried job reporting twice
    details = dict(person=cmd.person, channel=cmd.channel, tier=page.tier, round=cmd.round, detail=cmd.detail)
    if page.state == "cancelled":  # claimed before an ack or resolve landed: record a send, nothing more
        if cmd.outcome != "sent":
            return Decision(current)
        page.state, page.provider_id, page.attempts = "sent", cmd.provider_id, page.attempts + 1
        current.note(now, "page", **details, provider_id=cmd.provider_id, bundled=cmd.bundled,
                     after_stop=True)
        return Decision(current, changed=True)
    decision = Decision(current, changed=True)
    if cmd.outcome == "sent":
        page.state, page.provider_id, page.detail = "sent", cmd.provider_id, cmd.detail
        page.attempts += 1
        current.note(now, "page", **details, provider_id=cmd.provider_id, bundled=cmd.bundled)
    elif cmd.outcome == "deferred":
        page.at = cmd.until or now
        current.note(now, "page_deferred", **details, until=page.at.isoformat())
        decision.effects.append(DeliverAt(incident_id=current.id, at=page.at))
    elif cmd.outcome == "retry" and page.attempts + 1 < MAX_ATTEMPTS:
        page.attempts += 1
        page.at = now + backoff(page.attempts)
        page.detail = cmd.detail
        current.note(now, "page_retry", **details, attempt=page.attempts, next_try=page.at.isoformat())
        decision.effects.append(DeliverAt(incident_id=current.id, at=page.at))
    else:  # failed, or retried too often
        page.attempts += 1
        page.state, page.detail = "failed", cmd.detail
        current.note(now, "page_failed", **details, attempts=page.attempts)
        _fall_back(current, page, now, decision)
    return decision


def delivery_failed(current: Incident, cmd: DeliveryFailed, now: datetime) -> Decision:
    page = _find(current, cmd.round, cmd.person, cmd.channel)
    if page is None or page.state == "failed":
        return Decision(current)
    page.state, page.detail = "failed", cmd.detail
    current.note(now, "delivery_failed", person=cmd.person, channel=cmd.channel, tier=page.tier,
                 round=cmd.round, detail=cmd.detail)
    decision = Decision(current, changed=True)
    _fall_back(current, page, now, decision)
    return decision
