"""SMS replies and keypresses -> the same commands every other path uses.

Only people involved in an incident act on it this way (``routing.responders``: paged
for it, on call for one of its policy's tiers now, or one of the policy's
``responders``); anyone else is told "you were not paged for #N" and nothing changes.
``once`` runs the handling of one inbound provider event the first time it arrives.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from routing.errors import Conflict
from integrations.message_text import clean_text, voice_twiml
from integrations.provider_callbacks import help_twiml, message_twiml
from routing.incident import Acknowledge, EscalateNow, Incident, Resolve, Snooze
from routing.reply_grammar import parse_keypress, parse_sms
from routing.responders import Involvement, involvement
from service.telemetry import metrics
from service.engine.runtime import Herald
from twilio.twiml.voice_response import VoiceResponse

log = logging.getLogger("herald.replies")
T = TypeVar("T")
#: The answer to a replayed Twilio request: nothing said, nothing sent, nothing changed.
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response />'


def once(herald: Herald, kind: str, event_id: str, work: Callable[[], T]) -> T | None:
    """``work()`` for the first delivery of the inbound event ``kind``/``event_id``;
    None, doing nothing, when it was claimed before (a replay, or the provider sending
    it again). A claim whose work raised is given back, so that a retry can act."""
    if not herald.paging.claim_event(kind, event_id):
        metrics.EVENTS_REPLAYED.labels(kind=kind).inc()
        log.warning("%s %s was handled before (a replay?): ignored", kind, event_id[:80])
        return None
    try:
        return work()
    except BaseException:
        herald.paging.release_event(kind, event_id)
        raise


def _involvement(herald: Herald, incident: Incident, person: str) -> Involvement:
    policy = herald.config.policies.get(incident.policy)
    roster = herald.calendars.roster(policy, herald.clock()) if policy is not None else {}
    return involvement(incident, person, policy, roster)


def _person_by_phone(herald: Herald, phone: str):
    """Whose paged number this is (the people store's contacts, not just the file's)."""
    from service.engine.people import person_by_phone

    return person_by_phone(herald, phone)


def _command(action: str, person: str, via: str, minutes: int = 0):
    if action == "ack":
        return Acknowledge(by=person, via=via)
    if action == "resolve":
        return Resolve(by=person, via=via)
    if action == "escalate":
        return EscalateNow(by=person, via=via)
    return Snooze(by=person, via=via, minutes=minutes)


def _apply(herald: Herald, incident_ids: list[str], action: str, person: str, via: str,
           minutes: int = 0) -> list[str]:
    """Apply one action to each incident the person is involved in; return a line per
    incident for the answer."""
    lines = []
    for incident_id in incident_ids:
        incident = herald.store.get(incident_id)
        if incident is None:
            lines.append(f"#{incident_id} not found")
            continue
        standing = _involvement(herald, incident, person)
        if not standing.allowed:
            metrics.REPLIES_REFUSED.labels(channel=via).inc()
            log.warning("%s %s of #%s by %s refused: not paged for it, not on call for policy %s, not a responder",
                        via, action, incident_id, person, incident.policy)
            lines.append(f"you were not paged for #{incident_id}")
            continue
        command = _command(action, person, via, minutes)
        try:
            decision = herald.act(incident_id, command)
        except Conflict:  # its policy was removed from the configuration: nothing changed
            lines.append(f"#{incident_id} not changed: its policy is no longer configured")
            continue
        if decision.incident is None:
            lines.append(f"#{incident_id} not found")
        else:
            done = {"escalate": "escalated", "snooze": f"snoozed {minutes} min"}.get(action, decision.incident.status)
            state = done if decision.changed else f"already {decision.incident.status}"
            lines.append(f"#{incident_id} {state}")
    return lines


def handle_sms(herald: Herald, sender: str, body: str) -> str:
    """Answer an inbound SMS (TwiML)."""
    reply = parse_sms(body)
    action, code, minutes = reply.action, reply.code, reply.minutes
    if action == "stop":
        herald.paging.set_opted_out(sender, True)
        return message_twiml("Herald: SMS pages stopped for this number; you will be called or emailed instead. "
                             "Reply START to resume.")
    if action == "start":
        herald.paging.set_opted_out(sender, False)
        return message_twiml("Herald: SMS pages resumed for this number.")
    person = _person_by_phone(herald, sender)
    if action == "help" or person is None:
        return help_twiml()
    if code is not None:
        targets = [code]
    else:
        last = herald.paging.last_message_to(sender)
        if last is None:
            return message_twiml("Herald: no recent page to this number. Reply 4 <code> with the incident code.")
        targets = list(dict.fromkeys(incident_id for incident_id, _ in last.pages))
    lines = _apply(herald, targets, action, person.id, "sms", minutes)
    return message_twiml("Herald: " + "; ".join(lines))


def handle_keypress(herald: Herald, call_sid: str, digits: str | None, person_hint: str) -> str:
    """Answer a gather callback (TwiML): 4 acks, 6 resolves, * repeats, nothing hangs up."""
    message = herald.paging.message(call_sid)
    key = parse_keypress(digits)
    response = VoiceResponse()
    if message is None:
        response.say("This page is no longer known to Herald. Goodbye.")
        response.hangup()
        return str(response)
    targets = list(dict.fromkeys(incident_id for incident_id, _ in message.pages))
    if key in ("ack", "resolve", "escalate"):
        # Once per call and digit: a replay of this signed request is not a second press.
        lines = once(herald, "twilio-keypress", f"{call_sid}:{(digits or '').strip()}",
                     lambda: _apply(herald, targets, key, message.person, "voice"))
        if lines is None:
            return EMPTY_TWIML
        response.say(clean_text("Herald: " + ". ".join(lines).replace("#", "incident ")) + ". Goodbye.")
        response.hangup()
        return str(response)
    if key == "repeat":
        incident = herald.store.get(targets[0])
        if incident is not None:
            from service.engine.messages import single_page

            from service.engine.people import paging_view

            person, _ = paging_view(herald, message.person)
            if person is not None:
                page = single_page(incident, person, "voice", person.phone or "", message.pages[0][1], "", "")
                return voice_twiml(page, f"{herald.settings.public_url.rstrip('/')}/webhooks/twilio/voice/gather")
    response.say("No key was pressed. This page is not acknowledged. Goodbye.")
    response.hangup()
    return str(response)
