"""What Twilio and SendGrid post back: SMS replies, keypresses, delivery reports.

Every request is checked against the provider's signature (403 otherwise) before it
is read; replies and keypresses become the same commands as the API and the ack link
(acknowledge, resolve) and go through ``decide`` — for the people involved in the
incident only (``routing.responders``). Delivery failures move the person on to their
next channel. Each inbound event acts at most once: its provider id is claimed in Redis
first, and a replay of a signed request is answered 200 with nothing done.
"""
from __future__ import annotations

import logging
from urllib.parse import parse_qsl

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from routing.errors import Invalid
from integrations.provider_callbacks import (
    SENDGRID_SIGNATURE_HEADER,
    SENDGRID_TIMESTAMP_HEADER,
    TWILIO_SIGNATURE_HEADER,
    inbound_message_sid,
    parse_sendgrid_events,
    parse_status,
    verify_sendgrid,
    verify_twilio,
)
from routing.incident import DeliveryFailed
from service.api.alertmanager import read_body
from service.engine.replies import EMPTY_TWIML, handle_keypress, handle_sms, once
from service.engine.people import note_delivery_failure

router = APIRouter(prefix="/webhooks", tags=["provider webhooks"])
log = logging.getLogger("herald.webhooks")
CALLBACK_LIMIT = 64 * 1024
SENDGRID_MAX_AGE_SECONDS = 600  # a signed batch older than this is refused as a replay
TWIML = "application/xml"


async def _twilio_form(request: Request) -> dict[str, str]:
    """The form fields of a Twilio webhook whose X-Twilio-Signature checks out."""
    settings = request.app.state.herald.settings
    body = await read_body(request, CALLBACK_LIMIT)
    params = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    url = settings.public_url.rstrip("/") + request.url.path + (f"?{request.url.query}" if request.url.query else "")
    token = settings.twilio_auth_token.get_secret_value() if settings.twilio_auth_token else ""
    if not token or not verify_twilio(token, url, params, request.headers.get(TWILIO_SIGNATURE_HEADER)):
        raise HTTPException(403, "invalid or missing X-Twilio-Signature")
    return params


@router.post("/twilio/sms")
async def twilio_sms(request: Request) -> Response:
    """An SMS reply: ``4`` / ``ack`` [code] acknowledges, ``6`` / ``resolve`` [code]
    resolves, STOP / START opt out and back in; anything else gets the help text."""
    params = await _twilio_form(request)
    sid = inbound_message_sid(params)
    if not sid:
        raise Invalid("not an inbound SMS: no MessageSid")
    herald = request.app.state.herald
    twiml = await run_in_threadpool(once, herald, "twilio-sms", sid,
                                    lambda: handle_sms(herald, params.get("From", ""), params.get("Body", "")))
    return Response(EMPTY_TWIML if twiml is None else twiml, media_type=TWIML)


@router.post("/twilio/voice")
@router.post("/twilio/voice/gather")
async def twilio_voice(request: Request) -> Response:
    """The paging call's keypress: 4 acknowledges, 6 resolves, 8 escalates, * repeats
    (a keypress that acts, once per call and digit)."""
    params = await _twilio_form(request)
    twiml = await run_in_threadpool(handle_keypress, request.app.state.herald, params.get("CallSid", ""),
                                    params.get("Digits"), request.query_params.get("person", ""))
    return Response(twiml, media_type=TWIML)


def _report_failure(herald, provider_id: str, detail: str, address_failed: bool = False) -> int:
    """Move the message's pages on; ``address_failed`` (an SMS undelivered or failed, an
    email bounced or dropped — not a call nobody answered): the person's contact on that
    channel is marked failing too (docs/people.md)."""
    message = herald.paging.message(provider_id)
    if message is None:
        return 0
    if address_failed:
        note_delivery_failure(herald, message.person, message.channel, detail)
    for incident_id, round_ in message.pages:
        herald.act(incident_id, DeliveryFailed(round=round_, person=message.person, channel=message.channel,
                                               detail=detail))
    return len(message.pages)


@router.post("/twilio/status")
async def twilio_status(request: Request) -> dict:
    """Delivery status of a message or call; undelivered / failed / unanswered moves on.
    Each status of a message counts once (keyed by sid and status)."""
    params = await _twilio_form(request)
    status = parse_status(params)  # Invalid (400, service/api/errors.py) when it is neither
    herald = request.app.state.herald
    detail = f"{status.channel} {status.status}" + (f" ({status.answered_by})" if status.answered_by else "")
    moved = await run_in_threadpool(once, herald, "twilio-status", status.event_id,
                                    lambda: _report_failure(herald, status.provider_id, detail,
                                                            status.channel == "sms" and status.status in (
                                                                "undelivered", "failed")) if status.failed else 0)
    if moved is None:  # this status of this message was reported before
        return {"status": status.status, "pages_moved_on": 0, "replayed": True}
    return {"status": status.status, "pages_moved_on": moved}


@router.post("/sendgrid/events")
async def sendgrid_events(request: Request) -> dict:
    """SendGrid's event webhook (ECDSA-signed); bounces and drops move on, each event
    once (by ``sg_event_id``)."""
    herald = request.app.state.herald
    body = await read_body(request, 1024 * 1024)
    key = herald.settings.sendgrid_webhook_public_key
    stamp = request.headers.get(SENDGRID_TIMESTAMP_HEADER) or ""
    if not key or not verify_sendgrid(key, body, request.headers.get(SENDGRID_SIGNATURE_HEADER), stamp):
        raise HTTPException(403, "invalid or missing SendGrid event webhook signature")
    if not stamp.isdigit() or abs(herald.clock().timestamp() - int(stamp)) > SENDGRID_MAX_AGE_SECONDS:
        raise HTTPException(403, "SendGrid event webhook timestamp too old or in the future (a replay?)")
    events = parse_sendgrid_events(body)  # Invalid (400, service/api/errors.py) when malformed
    moved = replayed = 0
    for event in events:
        if event.failed and event.provider_id:
            detail = f"email {event.event}: {event.reason}".strip(": ")
            done = await run_in_threadpool(once, herald, "sendgrid-event", event.event_id,
                                           lambda e=event, d=detail: _report_failure(
                                               herald, e.provider_id, d, e.event in ("bounce", "dropped")))
            if done is None:
                replayed += 1
            else:
                moved += done
    answer = {"events": len(events), "pages_moved_on": moved}
    return {**answer, "replayed": replayed} if replayed else answer
