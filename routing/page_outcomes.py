"""Recording what happened to a page, and what follows from it.

A transient failure (timeout, 429, 5xx) keeps the page pending with exponential
backoff, up to ``MAX_ATTEMPTS``; a permanent one (4xx, no address, an undelivered or
bounced message, a call nobody — or only voicemail — answered) moves that person on
to their next channel at once: SMS → voice → email (→ a Slack DM before email when the
configuration makes it a paging channel: ``Policy.fallback``).
"""
from __future__ import annotations

from datetime import datetime, timedelta

from routing.decision import Decision
from routing.incident import (DeliverAt, DeliverPages, DeliveryFailed, EscalateAt, Incident, PageIntent, PageOutcome,
                              PageOutcomes, Reroute)
from routing.policy import FALLBACK_ORDER, Policy, Roster
from routing.severity import SEVERITIES

MAX_ATTEMPTS = 5
BACKOFF_BASE_SECONDS = 5
BACKOFF_MAX_SECONDS = 300
#: Pages of this severity are never held by a person's rate window (service.engine.delivery).
NEVER_HELD = SEVERITIES[0]


def backoff(attempts: int) -> timedelta:
    """5 s, 10 s, 20 s, 40 s … capped at 5 minutes, after ``attempts`` tries."""
    return timedelta(seconds=min(BACKOFF_BASE_SECONDS * 2 ** max(attempts - 1, 0), BACKOFF_MAX_SECONDS))


def _find(incident: Incident, round_: int, person: str, channel: str) -> PageIntent | None:
    for page in incident.pages:
        if (page.round, page.person, page.channel) == (round_, person, channel):
            return page
    return None


def next_channel(incident: Incident, failed: PageIntent, order: tuple[str, ...] = FALLBACK_ORDER) -> str | None:
    """The first channel after the failed one (wrapping) in ``order`` this person has not had this round."""
    if failed.channel not in order:
        return None
    tried = {p.channel for p in incident.pages if p.round == failed.round and p.person == failed.person}
    start = order.index(failed.channel)
    for channel in order[start + 1:] + order[:start]:
        if channel not in tried:
            return channel
    return None


def _fall_back(current: Incident, failed: PageIntent, now: datetime, decision: Decision,
               order: tuple[str, ...] = FALLBACK_ORDER) -> None:
    if current.status != "triggered":
        return
    channel = next_channel(current, failed, order)
    if channel is None:
        current.note(now, "no_channel_left", person=failed.person, round=failed.round, tier=failed.tier)
        return
    current.pages.append(PageIntent(round=failed.round, tier=failed.tier, person=failed.person, channel=channel,
                                    at=now, fallback_from=failed.channel))
    current.note(now, "channel_fallback", person=failed.person, round=failed.round, tier=failed.tier,
                 failed=failed.channel, next=channel)
    decision.effects.append(DeliverPages(incident_id=current.id))


def _window_from(current: Incident, page: PageIntent, start: datetime, policy: Policy,
                 decision: Decision, *, sent: bool) -> dict[str, str]:
    """A tier's window to acknowledge runs from when the round's first page actually left,
    or from when the hold on it ends: the escalation due for the round moves to ``start``
    plus the tier's delay. ``sent``: the page left at ``start`` (it then sets the window,
    earlier than a hold on another of the round's pages may have put it); else the page
    is held until ``start`` (the window cannot begin before). Answers the details for the
    timeline (empty when nothing moved)."""
    if (not policy.tiers or current.status != "triggered" or page.round != current.round
            or current.next_escalation_at is None or current.held_until is not None):
        return {}
    if any(p.state == "sent" and p.round == current.round and p is not page for p in current.pages):
        return {}  # the round's window already began with an earlier page
    due = start + policy.tiers[min(max(current.tier_index, 0), len(policy.tiers) - 1)].delay(current.severity)
    if due == current.next_escalation_at or (not sent and due < current.next_escalation_at):
        return {}
    current.next_escalation_at = due
    decision.effects.append(EscalateAt(incident_id=current.id, round=current.round, at=due))
    return {"escalates_at": due.isoformat()}


def page_outcome(current: Incident, cmd: PageOutcome, now: datetime, policy: Policy) -> Decision:
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
        moved = _window_from(current, page, now, policy, decision, sent=True)
        page.state, page.provider_id, page.detail = "sent", cmd.provider_id, cmd.detail
        page.attempts += 1
        current.note(now, "page", **details, provider_id=cmd.provider_id, bundled=cmd.bundled, **moved)
    elif cmd.outcome == "deferred":
        page.at, page.waited = cmd.until or now, True
        moved = _window_from(current, page, page.at, policy, decision, sent=False)
        current.note(now, "page_deferred", **details, until=page.at.isoformat(), **moved)
        decision.effects.append(DeliverAt(incident_id=current.id, at=page.at))
    elif cmd.outcome == "retry" and page.attempts + 1 < MAX_ATTEMPTS:
        page.attempts += 1
        page.at, page.waited = now + backoff(page.attempts), True
        page.detail = cmd.detail
        current.note(now, "page_retry", **details, attempt=page.attempts, next_try=page.at.isoformat())
        decision.effects.append(DeliverAt(incident_id=current.id, at=page.at))
    else:  # failed, or retried too often
        page.attempts += 1
        page.state, page.detail = "failed", cmd.detail
        current.note(now, "page_failed", **details, attempts=page.attempts)
        _fall_back(current, page, now, decision, policy.fallback)
    return decision


def page_outcomes(current: Incident, cmd: PageOutcomes, now: datetime, policy: Policy) -> Decision:
    """Each outcome recorded in turn on the same incident (what one ``PageOutcome``
    after another would do, in one write); the effects of all, each once."""
    decision = Decision(current)
    for one in cmd.outcomes:
        step = page_outcome(current, one, now, policy)
        decision.changed = decision.changed or step.changed
        decision.effects += [e for e in step.effects if e not in decision.effects]
    return decision


def gone_off_call(page: PageIntent, policy: Policy, roster: Roster) -> bool:
    """The page waited, and its person is no longer on call for its tier while someone
    else is (the question ``reroute`` answers for each page it is asked about)."""
    if not page.waited or page.tier not in {t.name for t in policy.tiers}:
        return False
    on_call = roster.get(page.tier, ())
    return bool(on_call) and page.person not in on_call


def reroute(current: Incident, cmd: Reroute, policy: Policy, roster: Roster, now: datetime) -> Decision:
    """Each named page that waited, of an incident still paging, whose person is no longer
    on call for its tier (a handoff, a shift change) is cancelled, and whoever is on call
    for that tier now is paged on its channel in the same round instead. A tier with
    nobody on call keeps its page (someone is better than no one), and so does a page to
    a person named by hand (``reassigned:…``)."""
    if current.status != "triggered":
        return Decision(current)
    named = set(cmd.pages)
    decision = Decision(current)
    for page in list(current.pages):
        if (page.round, page.person, page.channel) not in named or page.state != "pending" \
                or not gone_off_call(page, policy, roster):
            continue
        on_call = roster[page.tier]
        page.state = "cancelled"
        to = [p for p in on_call if not any((q.round, q.person, q.channel) == (page.round, p, page.channel)
                                            for q in current.pages)]
        for person in to:
            current.pages.append(PageIntent(round=page.round, tier=page.tier, person=person, channel=page.channel,
                                            at=now))
        current.note(now, "rerouted", tier=page.tier, round=page.round, channel=page.channel, person=page.person,
                     to=to)
        decision.changed = True
    if decision.changed:
        decision.effects.append(DeliverPages(incident_id=current.id))
    return decision


def delivery_failed(current: Incident, cmd: DeliveryFailed, now: datetime,
                    order: tuple[str, ...] = FALLBACK_ORDER) -> Decision:
    page = _find(current, cmd.round, cmd.person, cmd.channel)
    if page is None or page.state == "failed":
        return Decision(current)
    page.state, page.detail = "failed", cmd.detail
    current.note(now, "delivery_failed", person=cmd.person, channel=cmd.channel, tier=page.tier,
                 round=cmd.round, detail=cmd.detail)
    decision = Decision(current, changed=True)
    _fall_back(current, page, now, decision, order)
    return decision
