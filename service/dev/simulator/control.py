"""The simulator's ``/_sim`` endpoints: the dev inbox, reset, failure injection and
acting as a person or as the provider towards Herald (signed callbacks).

GET  /_sim/messages?to=&channel=   recorded messages, oldest first (JSON list)
GET  /_sim/inbox?to=               the same as a small auto-refreshing HTML page
GET  /_sim/callbacks               every callback posted to Herald and its answer
GET  /_sim/sendgrid-public-key     {"public_key": base64 DER} to verify email events
POST /_sim/reset                   forget everything
POST /_sim/fail    {"channel", "mode": 5xx|4xx|429|timeout|undelivered, "count", "seconds"?}
                   (channel "slack": every Slack Web API call; see service.dev.simulator.slack)
GET  /_sim/latency                 {"ms", "in_flight", "max_in_flight"}: the provider API's answer time,
                                   and how many of its calls overlapped (most at once since the reset)
POST /_sim/latency {"ms"}          every Twilio/SendGrid API call takes this long (0..10000)
POST /_sim/reply   {"from", "body", "to"?}  inbound SMS -> {herald}/webhooks/twilio/sms
POST /_sim/press   {"call_sid", "digits"}   keypress -> the call's <Gather> action URL
POST /_sim/status  {"provider_id", "status", "answered_by"?, "error_code"?} -> status_callback
POST /_sim/email-event {"email", "event", "sg_message_id"?, "reason"?} -> {herald}/webhooks/sendgrid/events
POST /_sim/replay  {"index"?}  a logged callback (default: the latest) posted again as it was
                   sent, signature and all: a captured request replayed
POST /_sim/webhooks            a receiver for Herald's outgoing webhooks: verified with the
                   standardwebhooks package (the secret in HERALD_WEBHOOK_DEV_SECRET), kept; 401 if
                   the signature is wrong
GET  /_sim/webhooks            the webhooks received, oldest first (id, type, verified, event)
"""
from __future__ import annotations

import html
import json
from datetime import datetime, timezone
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from standardwebhooks import Webhook, WebhookVerificationError
from pydantic import BaseModel, ConfigDict, Field

from service.dev.simulator.callbacks import (CallbackSender, sendgrid_event_object,
                                              twilio_status_params, twiml_gather_action, twiml_texts)
from service.dev.simulator.state import MAX_HANG_S, MAX_LATENCY_S, SimMessage, SimulatorState, new_sid

_SMS_STATUSES = {"queued", "sending", "sent", "delivered", "undelivered", "failed", "read"}
_CALL_STATUSES = {"queued", "ringing", "in-progress", "completed", "busy", "no-answer", "failed", "canceled"}
_NO_ACCOUNT = "AC" + "0" * 32


class FailRequest(BaseModel):
    channel: Literal["sms", "voice", "email", "slack"]
    mode: Literal["5xx", "4xx", "429", "timeout", "undelivered"]
    count: int = Field(1, ge=1, le=10_000)
    seconds: float = Field(15.0, ge=0, le=MAX_HANG_S)  # how long "timeout" hangs


class LatencyRequest(BaseModel):
    ms: float = Field(ge=0, le=MAX_LATENCY_S * 1000)


class ReplyRequest(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    from_: str = Field(alias="from", min_length=1)
    body: str
    to: str | None = None  # default: the number that last texted this person


class PressRequest(BaseModel):
    call_sid: str
    digits: str = Field(max_length=32)


class StatusRequest(BaseModel):
    provider_id: str
    status: str
    answered_by: str | None = None
    error_code: str | None = None


class ReplayRequest(BaseModel):
    index: int = -1  # into GET /_sim/callbacks; negative counts from the end


class EmailEventRequest(BaseModel):
    email: str
    event: Literal["bounce", "dropped", "delivered", "deferred", "processed", "open", "click"]
    sg_message_id: str | None = None
    reason: str | None = None


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def inbox_html(messages: list[SimMessage]) -> str:
    """The dev inbox page: newest first, every value HTML-escaped."""
    e = html.escape
    rows = []
    for m in reversed(messages):
        when = datetime.fromtimestamp(m.time, timezone.utc).strftime("%H:%M:%S")
        content = m.body or m.subject or " / ".join(twiml_texts(m.twiml, "Say")) or m.twiml
        extra = "<br><small>" + e(" | ".join(m.transcript)) + "</small>" if m.transcript else ""
        rows.append(f"<tr><td>{when}</td><td>{e(m.channel)} {e(m.direction)}</td><td>{e(m.from_)}</td>"
                    f"<td>{e(m.to)}</td><td>{e(m.status)}</td><td><code>{e(m.provider_id)}</code></td>"
                    f"<td>{e(content)}{extra}</td></tr>")
    return ("<!doctype html><html><head><meta charset='utf-8'><meta http-equiv='refresh' content='5'>"
            "<title>Herald simulator inbox</title></head><body><h1>Simulator inbox</h1>"
            "<table border='1' cellpadding='4'><tr><th>UTC</th><th>channel</th><th>from</th><th>to</th>"
            "<th>status</th><th>id</th><th>content</th></tr>" + "".join(rows) + "</table></body></html>")


def control_router(state: SimulatorState, sender: CallbackSender, public_key: str,
                   webhook_secret: str | None = None) -> APIRouter:
    """The ``/_sim`` router bound to one state and callback sender (``webhook_secret``: the
    Standard Webhooks secret Herald's outgoing webhooks are signed with)."""
    router = APIRouter(prefix="/_sim")

    @router.post("/webhooks")
    async def webhook(request: Request) -> Response:
        body = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        entry: dict[str, Any] = {"id": headers.get("webhook-id", ""), "verified": False, "event": None}
        try:
            if webhook_secret:
                entry["event"] = Webhook(webhook_secret).verify(body, headers)
                entry["verified"] = True
            else:
                entry["event"], entry["error"] = json.loads(body), "no secret configured: not verified"
        except WebhookVerificationError as exc:
            entry["error"] = f"signature refused: {exc}"
        except ValueError:
            entry["error"] = "not JSON"
        entry["type"] = (entry["event"] or {}).get("type", "") if isinstance(entry["event"], dict) else ""
        state.record_webhook(entry)
        return Response(status_code=401 if webhook_secret and not entry["verified"] else 204)

    @router.get("/webhooks")
    async def webhooks() -> list[dict[str, Any]]:
        return list(state.webhooks)

    @router.get("/messages")
    async def messages(to: str | None = None, channel: str | None = None) -> list[dict[str, Any]]:
        return [m.to_json() for m in state.messages_for(to, channel)]

    @router.get("/inbox", response_class=HTMLResponse)
    async def inbox(to: str | None = None) -> str:
        return inbox_html(state.messages_for(to))

    @router.get("/callbacks")
    async def callbacks() -> list[dict[str, Any]]:
        return list(state.callbacks)

    @router.get("/sendgrid-public-key")
    async def sendgrid_public_key() -> dict[str, str]:
        return {"public_key": public_key}

    @router.post("/reset")
    async def reset() -> dict[str, bool]:
        state.reset()
        return {"ok": True}

    @router.post("/fail")
    async def fail(req: FailRequest) -> dict[str, Any]:
        state.inject(req.channel, req.mode, req.count, req.seconds)
        return {"ok": True, "channel": req.channel, "mode": req.mode, "count": req.count}

    @router.get("/latency")
    async def latency() -> dict[str, Any]:
        return {"ms": state.latency * 1000, "in_flight": state.in_flight, "max_in_flight": state.max_in_flight}

    @router.post("/latency")
    async def set_latency(req: LatencyRequest) -> dict[str, Any]:
        state.set_latency(req.ms / 1000)
        return {"ok": True, "ms": req.ms}

    @router.post("/reply")
    async def reply(req: ReplyRequest) -> JSONResponse:
        if not sender.herald_url:
            return _error(409, "herald_url is not configured")
        last = state.latest_to(req.from_, "sms")
        to = req.to or (last.from_ if last else "")
        if not to:
            return _error(400, "no message was sent to this number; give 'to'")
        account = last.account_sid if last else _NO_ACCOUNT
        inbound = state.record(SimMessage(channel="sms", direction="inbound", to=to, from_=req.from_,
                                          provider_id=new_sid("SM"), body=req.body,
                                          status="received", account_sid=account))
        params = {"MessageSid": inbound.provider_id, "SmsSid": inbound.provider_id,
                  "SmsMessageSid": inbound.provider_id, "AccountSid": account, "From": req.from_,
                  "To": to, "Body": req.body, "NumMedia": "0", "NumSegments": "1",
                  "SmsStatus": "received", "ApiVersion": "2010-04-01"}
        entry = await sender.post_twilio("sms-reply", f"{sender.herald_url}/webhooks/twilio/sms", params)
        texts = twiml_texts(entry["body"], "Message") if entry["status_code"] == 200 else []
        for text in texts:  # Twilio sends a TwiML <Message> answer back to the person
            state.record(SimMessage(channel="sms", to=req.from_, from_=to, provider_id=new_sid("SM"),
                                    body=text, status="delivered", account_sid=account))
        return JSONResponse({**entry, "message_sid": inbound.provider_id, "replies": texts})

    @router.post("/press")
    async def press(req: PressRequest) -> JSONResponse:
        call = state.find(req.call_sid)
        if call is None or call.channel != "voice":
            return _error(404, "no such call")
        if not call.gather_url:
            return _error(409, "the call has no <Gather> action URL")
        params = {"CallSid": call.provider_id, "AccountSid": call.account_sid, "From": call.from_,
                  "To": call.to, "Digits": req.digits, "FinishedOnKey": "", "CallStatus": "in-progress",
                  "Direction": "outbound-api", "ApiVersion": "2010-04-01"}
        entry = await sender.post_twilio("gather", call.gather_url, params)
        says = twiml_texts(entry["body"], "Say") if entry["status_code"] == 200 else []
        next_action = twiml_gather_action(entry["body"]) if entry["status_code"] == 200 else None
        state.update(call, status="in-progress", gather_url=next_action or call.gather_url,
                     transcript=[*call.transcript, f"pressed {req.digits}", *(f"said: {s}" for s in says)])
        return JSONResponse({**entry, "says": says})

    @router.post("/status")
    async def status(req: StatusRequest) -> JSONResponse:
        message = state.find(req.provider_id)
        if message is None or message.channel == "email":
            return _error(404, "no such message or call")
        allowed = _CALL_STATUSES if message.channel == "voice" else _SMS_STATUSES
        if req.status not in allowed:
            return _error(400, f"status must be one of {sorted(allowed)}")
        if not message.status_callback:
            return _error(409, "the message was created without a StatusCallback")
        state.update(message, status=req.status)
        params = twilio_status_params(message, req.status, req.answered_by, req.error_code)
        return JSONResponse(await sender.post_twilio("status", message.status_callback, params))

    @router.post("/email-event")
    async def email_event(req: EmailEventRequest) -> JSONResponse:
        msg_id = req.sg_message_id.split(".", 1)[0] if req.sg_message_id else None
        message = state.find(msg_id) if msg_id else state.latest_to(req.email, "email")
        if message is None or message.channel != "email":
            return _error(404, "no such email")
        state.update(message, status=req.event)
        event = sendgrid_event_object(message, req.event, req.sg_message_id, req.reason)
        event["email"] = req.email
        return JSONResponse(await sender.post_sendgrid_events([event]))

    @router.post("/replay")
    async def replay(req: ReplayRequest) -> JSONResponse:
        logged = list(state.callbacks)
        if not -len(logged) <= req.index < len(logged):
            return _error(404, "no such callback")
        entry = logged[req.index]
        if "request" not in entry:
            return _error(409, "that callback was never sent")
        answer = await sender.replay(entry)
        texts = twiml_texts(answer["body"], "Message") if answer["status_code"] == 200 else []
        return JSONResponse({**answer, "replies": texts})

    return router
