"""SMS replies and keypresses -> the same commands every other path uses."""
from __future__ import annotations

import re

from integrations.message_text import clean_text, voice_twiml
from integrations.provider_callbacks import help_twiml, message_twiml, parse_keypress, parse_sms_reply
from routing.incident import Acknowledge, EscalateNow, Resolve, Snooze
from service.runtime import Herald
from twilio.twiml.voice_response import VoiceResponse


def _person_by_phone(herald: Herald, phone: str):
    return next((p for p in herald.config.people.values() if p.phone and p.phone == phone), None)


# Manual actions beyond ack/resolve: "8 [code]" / "esc [code]", "snooze <minutes> [code]".
_ESCALATE = re.compile(r"^(?:8|esc|escalate)(?:(?:\s+#?|\s*#)\s*([a-z0-9-]{1,16}))?$")
_SNOOZE = re.compile(r"^snooze\s+(\d{1,4})(?:(?:\s+#?|\s*#)\s*([a-z0-9-]{1,16}))?$")


def _command(action: str, person: str, via: str, minutes: int = 0):
    if action == "ack":
        return Acknowledge(by=person, via=via)
    if action == "resolve":
        return Resolve(by=person, via=via)
    if action == "escalate":
        return EscalateNow(by=person, via=via)
    return Snooze(by=person, via=via, minutes=minutes)


def _manual_reply(body: str) -> tuple[str, str | None, int] | None:
    text = clean_text(body).casefold().strip(" .!")
    if found := _ESCALATE.match(text):
        return "escalate", found.group(1), 0
    if (found := _SNOOZE.match(text)) and 1 <= int(found.group(1)) <= 24 * 60:
        return "snooze", found.group(2), int(found.group(1))
    return None


def _apply(herald: Herald, incident_ids: list[str], action: str, person: str, via: str,
           minutes: int = 0) -> list[str]:
    """Apply one action to each incident; return a line per incident for the answer."""
    lines = []
    for incident_id in incident_ids:
        command = _command(action, person, via, minutes)
        decision = herald.act(incident_id, command)
        if decision.incident is None:
            lines.append(f"#{incident_id} not found")
        else:
            done = {"escalate": "escalated", "snooze": f"snoozed {minutes} min"}.get(action, decision.incident.status)
            state = done if decision.changed else f"already {decision.incident.status}"
            lines.append(f"#{incident_id} {state}")
    return lines


def handle_sms(herald: Herald, sender: str, body: str) -> str:
    """Answer an inbound SMS (TwiML)."""
    manual = _manual_reply(body)
    reply = parse_sms_reply(body)
    if manual is not None:
        action, code, minutes = manual
    else:
        action, code, minutes = reply.action, reply.code, 0
    if reply.action == "stop":
        herald.paging.set_opted_out(sender, True)
        return message_twiml("Herald: SMS pages stopped for this number; you will be called or emailed instead. "
                             "Reply START to resume.")
    if reply.action == "start":
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
    key = "escalate" if (digits or "").strip() == "8" else parse_keypress(digits)
    response = VoiceResponse()
    if message is None:
        response.say("This page is no longer known to Herald. Goodbye.")
        response.hangup()
        return str(response)
    targets = list(dict.fromkeys(incident_id for incident_id, _ in message.pages))
    if key in ("ack", "resolve", "escalate"):
        lines = _apply(herald, targets, key, message.person, "voice")
        response.say(clean_text("Herald: " + ". ".join(lines).replace("#", "incident ")) + ". Goodbye.")
        response.hangup()
        return str(response)
    if key == "repeat":
        incident = herald.store.get(targets[0])
        if incident is not None:
            from service.messages import single_page

            person = herald.config.people.get(message.person)
            if person is not None:
                page = single_page(incident, person, "voice", person.phone or "", message.pages[0][1], "", "")
                return voice_twiml(page, f"{herald.settings.public_url.rstrip('/')}/webhooks/twilio/voice/gather")
    response.say("No key was pressed. This page is not acknowledged. Goodbye.")
    response.hangup()
    return str(response)
