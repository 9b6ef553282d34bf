"""Pure parsing and signature checks for what Twilio and SendGrid post back to Herald
(what a person's reply or keypress *means* is ``routing.reply_grammar``'s).

No web framework here: the HTTP layer hands in the full request URL, the form
parameters / raw body and the signature headers, and gets plain values back.
Signature checks never raise: any malformed input is simply "not valid".
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Mapping

from sendgrid.helpers.eventwebhook import EventWebhook
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from routing.errors import Invalid
from integrations.message_text import clean_text
from routing.reply_grammar import HELP_TEXT

TWILIO_SIGNATURE_HEADER = "X-Twilio-Signature"
SENDGRID_SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
SENDGRID_TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"

_TWILIO_FAILED = {"undelivered", "failed", "busy", "no-answer", "canceled"}
_SENDGRID_FAILED = {"bounce", "dropped", "blocked"}


@dataclass(frozen=True, slots=True)
class DeliveryStatus:
    """A Twilio message/call status callback. ``failed`` means "move on to the next
    channel": undelivered/failed/busy/no-answer/canceled, or a call answered by a
    machine (voicemail is not a person)."""

    provider_id: str
    status: str
    failed: bool
    channel: str = "sms"  # "sms" | "voice"
    error_code: str = ""
    answered_by: str = ""

    @property
    def event_id(self) -> str:
        """One status of one message or call: a later, different status of the same sid
        is another event, the same status posted again is not."""
        return f"{self.provider_id}:{self.status}" + (f":{self.answered_by}" if self.answered_by else "")


@dataclass(frozen=True, slots=True)
class EmailEvent:
    """One SendGrid event. ``provider_id`` is the X-Message-Id returned at send time
    (the prefix of ``sg_message_id``); bounce/dropped/blocked are ``failed``.
    ``event_id``: SendGrid's ``sg_event_id``, unique per event (for an event without
    one, a digest of the event object: a replay of the same bytes has the same)."""

    provider_id: str
    email: str
    event: str
    failed: bool
    reason: str = ""
    timestamp: int = 0
    custom_args: dict[str, str] | None = None
    event_id: str = ""


def verify_twilio(auth_token: str, url: str, params: Mapping[str, str], signature: str | None) -> bool:
    """True iff ``signature`` (X-Twilio-Signature) is Twilio's HMAC of ``url`` (the
    full URL Twilio requested, query included) and the POST ``params``."""
    if not auth_token or not signature or not isinstance(signature, str) or not url:
        return False
    try:
        return bool(RequestValidator(auth_token).validate(url, dict(params), signature))
    except Exception:  # malformed input is "not valid", never an error
        return False


def verify_sendgrid(public_key_b64: str, payload: bytes, signature: str | None,
                    timestamp: str | None) -> bool:
    """True iff ``signature`` is a valid ECDSA P-256/SHA-256 signature by the key
    SendGrid shows (base64 DER) over ``timestamp + payload``."""
    if not public_key_b64 or not signature or not timestamp:
        return False
    try:
        text = payload.decode("utf-8")
        hook = EventWebhook(public_key_b64)
        return bool(hook.verify_signature(text, signature, timestamp))
    except Exception:  # bad key, bad base64, bad DER, non-UTF-8 body...
        return False


def inbound_message_sid(params: Mapping[str, str]) -> str:
    """The id of an inbound SMS (``MessageSid``; older webhooks also ``SmsSid`` /
    ``SmsMessageSid``, the same value); "" when there is none."""
    return params.get("MessageSid") or params.get("SmsSid") or params.get("SmsMessageSid") or ""


def parse_status(params: Mapping[str, str]) -> DeliveryStatus:
    """Parse a Twilio message or call status callback; ``Invalid`` (a ValueError) if it is neither."""
    call_sid, msg_sid = params.get("CallSid", ""), params.get("MessageSid") or params.get("SmsSid", "")
    call_status = params.get("CallStatus", "")
    msg_status = params.get("MessageStatus") or params.get("SmsStatus", "")
    if call_sid and call_status:
        answered_by = params.get("AnsweredBy", "").lower()
        status = call_status.lower()
        machine = answered_by.startswith("machine") or answered_by == "fax"
        return DeliveryStatus(call_sid, status, status in _TWILIO_FAILED or machine, "voice",
                              params.get("ErrorCode", ""), answered_by)
    if msg_sid and msg_status:
        status = msg_status.lower()
        return DeliveryStatus(msg_sid, status, status in _TWILIO_FAILED, "sms", params.get("ErrorCode", ""))
    raise Invalid("not a Twilio message or call status callback")


def parse_sendgrid_events(payload: bytes) -> list[EmailEvent]:
    """Parse a SendGrid event-webhook batch (a JSON array); ``Invalid`` (a ValueError) if malformed.
    Entries that are not objects or lack ``event`` are skipped."""
    try:
        data = json.loads(payload)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
        raise Invalid("SendGrid event payload is not JSON") from exc
    if not isinstance(data, list):
        raise Invalid("SendGrid event payload is not a JSON array")
    events = []
    for item in data:
        if not isinstance(item, dict) or not isinstance(item.get("event"), str):
            continue
        event = item["event"].lower()
        sg_id = str(item.get("sg_message_id") or "")
        known = {"email", "timestamp", "event", "sg_message_id", "sg_event_id", "smtp-id",
                 "reason", "status", "type", "category", "response", "attempt", "bounce_classification"}
        custom = {k: str(v) for k, v in item.items() if k not in known and isinstance(v, (str, int))}
        ts = item.get("timestamp")
        event_id = item.get("sg_event_id")
        if not isinstance(event_id, str) or not event_id:
            canonical = json.dumps(item, sort_keys=True, separators=(",", ":"), default=str)
            event_id = "digest-" + hashlib.sha256(canonical.encode()).hexdigest()
        events.append(EmailEvent(
            provider_id=sg_id.split(".", 1)[0], email=str(item.get("email") or ""),
            event=event, failed=event in _SENDGRID_FAILED,
            reason=clean_text(item.get("reason") or item.get("response") or "", 300),
            timestamp=ts if isinstance(ts, int) else 0, custom_args=custom or None, event_id=event_id))
    return events


def message_twiml(text: str) -> str:
    """TwiML that answers an inbound SMS with one message (text cleaned, escaped)."""
    resp = MessagingResponse()
    resp.message(clean_text(text, 1000))
    return str(resp)


def help_twiml() -> str:
    """TwiML answering an unrecognised SMS with the usage line."""
    return message_twiml(HELP_TEXT)
