"""Provider simulator: the slice of Twilio's and SendGrid's HTTP APIs that Herald's
notifiers use, served locally so the *real* SDKs can be pointed at it.

* ``POST /2010-04-01/Accounts/{sid}/Messages.json`` and ``/Calls.json`` (form,
  basic auth ``sid:auth_token``) -> 201 with Twilio-shaped JSON ("SM…"/"CA…", queued)
* ``POST /v3/mail/send`` (JSON, ``Authorization: Bearer …``) -> 202 + ``X-Message-Id``
* Slack's Web API under ``/api/`` (``slack_sdk.WebClient(base_url=<simulator>/api/)``) and
  Slack's clicks and slash commands towards Herald: see ``service.dev.simulator.slack``.
* ``/_sim/*`` control and inspection endpoints: see ``service.dev.simulator.control``.

Each of those API calls can be made to take a while, like the real providers' (Twilio
answers in a few hundred ms): ``latency_ms`` / ``HERALD_SIM_LATENCY_MS`` / ``herald sim
--latency-ms``, or ``POST /_sim/latency`` at run time. The wait is asynchronous, so
calls made at once are answered at once: ``SimulatorState.max_in_flight`` says how many
overlapped.

``run_simulator()`` / ``main(argv)`` run it in the foreground (``herald sim``);
``service.dev.simulator.server.ServerThread`` runs it in a background thread.

Every accepted request is recorded in a ``SimulatorState`` (the dev inbox). Callbacks
to Herald are signed like the real providers' (``service.dev.simulator.callbacks``).
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import math
import os
import re
import time
from collections.abc import Sequence
from email.utils import formatdate
from typing import Any, Iterable

import uvicorn

from fastapi import APIRouter, BackgroundTasks, FastAPI, Request, Response
from fastapi.responses import JSONResponse

from integrations.message_text import gsm7_septets
from service.dev.simulator.callbacks import (LOOPBACK_HOSTS, CallbackSender, load_signing_key,
                                              public_key_b64, sendgrid_event_object,
                                              twilio_status_params, twiml_gather_action)
from service.dev.simulator.control import control_router
from service.dev.simulator.slack import (DEFAULT_SLACK_SIGNING_SECRET, DEFAULT_SLACK_TOKEN, SlackWorkspace,
                                          slack_api_router, slack_control_router)
from service.dev.simulator.state import SimMessage, SimulatorState, new_sendgrid_id, new_sid

DEFAULT_TWILIO_AUTH_TOKEN = "sim-twilio-auth-token"
DEFAULT_PORT = 8765
API_VERSION = "2010-04-01"
_E164 = re.compile(r"^\+[1-9]\d{1,14}$")
_RECORDED_PARAMS = {"To", "From", "Body", "Twiml", "Url", "StatusCallback"}
_FAIL_STATUS = {"5xx": 500, "4xx": 400, "429": 429, "timeout": 504}
_TWILIO_ERRORS = {400: (21211, "Invalid 'To' Phone Number"), 401: (20003, "Authenticate"),
                  429: (20429, "Too Many Requests"), 500: (20500, "Internal Server Error"),
                  504: (20504, "Gateway Timeout")}
_SENDGRID_ERRORS = {400: "Does not contain a valid address.", 401: "The provided authorization grant is invalid, expired, or revoked",
                    429: "too many requests", 500: "internal server error", 504: "gateway timeout"}


def twilio_error(status: int, code: int | None = None, message: str | None = None) -> JSONResponse:
    """A Twilio-style error document."""
    default_code, default_message = _TWILIO_ERRORS.get(status, (20500, "Error"))
    code = code or default_code
    return JSONResponse({"code": code, "message": message or default_message, "status": status,
                         "more_info": f"https://www.twilio.com/docs/errors/{code}"}, status_code=status)


def sendgrid_error(status: int, message: str | None = None, field: str | None = None) -> JSONResponse:
    """A SendGrid-style error document."""
    text = message or _SENDGRID_ERRORS.get(status, "error")
    return JSONResponse({"errors": [{"message": text, "field": field, "help": None}]}, status_code=status)


def _segments(body: str) -> int:
    septets = gsm7_septets(body)
    if septets is not None:
        return 1 if septets <= 160 else math.ceil(septets / 153)
    return 1 if len(body) <= 70 else math.ceil(len(body) / 67)


async def _latency(state: SimulatorState) -> None:
    """The provider's own answer time (interruptible by a reset or a stop)."""
    if state.latency <= 0:
        return
    generation, deadline = state.generation, time.monotonic() + state.latency
    while state.generation == generation and not state.stopping.is_set():
        left = deadline - time.monotonic()
        if left <= 0:
            return
        await asyncio.sleep(min(left, 0.05))


async def _failure(state: SimulatorState, channel: str) -> tuple[str | None, int]:
    """Consume an injected failure: (mode or None, HTTP status to answer or 0)."""
    failure = state.take_failure(channel)
    if failure is None or failure.mode == "undelivered":
        return (failure.mode if failure else None), 0
    if failure.mode == "timeout":  # hang past the client's timeout, bounded, interruptible
        generation, deadline = state.generation, time.monotonic() + failure.seconds
        while (time.monotonic() < deadline and state.generation == generation
               and not state.stopping.is_set()):
            await asyncio.sleep(0.05)
    return failure.mode, _FAIL_STATUS[failure.mode]


def _twilio_auth_ok(request: Request, sid: str, token: str) -> bool:
    header = request.headers.get("authorization", "")
    if not header.startswith("Basic "):
        return False
    try:
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    except ValueError:
        return False
    return user == sid and password == token


def _twilio_resource(m: SimMessage, kind: str) -> dict[str, Any]:
    now = formatdate(usegmt=True)
    uri = f"/{API_VERSION}/Accounts/{m.account_sid}/{kind}/{m.provider_id}"
    common = {"sid": m.provider_id, "account_sid": m.account_sid, "api_version": API_VERSION,
              "to": m.to, "from": m.from_, "status": "queued", "direction": "outbound-api",
              "date_created": now, "date_updated": now, "price": None, "price_unit": "USD",
              "uri": uri + ".json"}
    if kind == "Messages":
        return {**common, "body": m.body, "date_sent": None, "error_code": None, "error_message": None,
                "messaging_service_sid": None, "num_media": "0", "num_segments": str(_segments(m.body)),
                "subresource_uris": {"media": uri + "/Media.json"}}
    return {**common, "answered_by": None, "caller_name": None, "duration": None, "end_time": None,
            "start_time": None, "parent_call_sid": None, "phone_number_sid": None, "queue_time": "0",
            "to_formatted": m.to, "from_formatted": m.from_,
            "subresource_uris": {"recordings": uri + "/Recordings.json"}}


def provider_router(state: SimulatorState, sender: CallbackSender, auth_token: str,
                    sendgrid_api_key: str | None) -> APIRouter:
    """The Twilio and SendGrid API endpoints."""
    router = APIRouter()

    async def twilio_create(sid: str, request: Request, tasks: BackgroundTasks, channel: str) -> Response:
        state.call_started()
        try:
            await _latency(state)
            return await _twilio_create(sid, request, tasks, channel)
        finally:
            state.call_ended()

    async def _twilio_create(sid: str, request: Request, tasks: BackgroundTasks, channel: str) -> Response:
        if not _twilio_auth_ok(request, sid, auth_token):
            return twilio_error(401)
        params = {k: str(v) for k, v in (await request.form()).items()}
        mode, status = await _failure(state, channel)
        if status:
            return twilio_error(status)
        to, from_ = params.get("To", ""), params.get("From", "")
        if not to:
            return twilio_error(400, 21604, "A 'To' phone number is required.")
        if not _E164.match(to):
            return twilio_error(400, 21211, f"Invalid 'To' Phone Number: {to[:32]}")
        if not _E164.match(from_):
            return twilio_error(400, 21212, "Invalid From Number (caller ID)")
        if channel == "sms" and not params.get("Body"):
            return twilio_error(400, 21602, "Message body is required.")
        twiml = params.get("Twiml", "")
        if channel == "voice" and not (twiml or params.get("Url")):
            return twilio_error(400, 21205, "Url parameter is required.")
        message = state.record(SimMessage(
            channel=channel, to=to, from_=from_, provider_id=new_sid("SM" if channel == "sms" else "CA"),
            body=params.get("Body", "") if channel == "sms" else params.get("Url", ""), twiml=twiml,
            status_callback=params.get("StatusCallback", ""), account_sid=sid,
            options={k: v for k, v in params.items() if k not in _RECORDED_PARAMS},
            gather_url=(twiml_gather_action(twiml) or "") if twiml else ""))
        if mode == "undelivered":
            final = "undelivered" if channel == "sms" else "no-answer"
            state.update(message, status=final)
            if message.status_callback:
                tasks.add_task(sender.post_twilio, "status", message.status_callback,
                               twilio_status_params(message, final))
        kind = "Messages" if channel == "sms" else "Calls"
        return JSONResponse(_twilio_resource(message, kind), status_code=201)

    @router.post(f"/{API_VERSION}/Accounts/{{sid}}/Messages.json")
    async def create_message(sid: str, request: Request, tasks: BackgroundTasks) -> Response:
        return await twilio_create(sid, request, tasks, "sms")

    @router.post(f"/{API_VERSION}/Accounts/{{sid}}/Calls.json")
    async def create_call(sid: str, request: Request, tasks: BackgroundTasks) -> Response:
        return await twilio_create(sid, request, tasks, "voice")

    @router.post("/v3/mail/send")
    async def mail_send(request: Request, tasks: BackgroundTasks) -> Response:
        state.call_started()
        try:
            await _latency(state)
            return await _mail_send(request, tasks)
        finally:
            state.call_ended()

    async def _mail_send(request: Request, tasks: BackgroundTasks) -> Response:
        auth = request.headers.get("authorization", "")
        key = auth[7:] if auth.startswith("Bearer ") else ""
        if not key or (sendgrid_api_key is not None and key != sendgrid_api_key):
            return sendgrid_error(401)
        try:
            body = await request.json()
        except ValueError:
            return sendgrid_error(400, "Bad Request")
        mode, status = await _failure(state, "email")
        if status:
            return sendgrid_error(status)
        if not isinstance(body, dict) or not isinstance(body.get("personalizations"), list):
            return sendgrid_error(400, "The personalizations field is required.", "personalizations")
        from_ = (body.get("from") or {}).get("email", "")
        if "@" not in from_:
            return sendgrid_error(400, "The from email does not contain a valid address.", "from.email")
        content = {c.get("type"): c.get("value", "") for c in body.get("content") or [] if isinstance(c, dict)}
        msg_id, recipients = new_sendgrid_id(), []
        for p in body["personalizations"]:
            for to in (p.get("to") or []) if isinstance(p, dict) else []:
                address = str(to.get("email", "")) if isinstance(to, dict) else ""
                if "@" not in address:
                    return sendgrid_error(400, None, "personalizations.0.to.0.email")
                custom = {**(body.get("custom_args") or {}), **(p.get("custom_args") or {})}
                recipients.append(SimMessage(
                    channel="email", to=address, from_=from_, provider_id=msg_id,
                    subject=str(p.get("subject") or body.get("subject") or ""),
                    text=content.get("text/plain", ""), html=content.get("text/html", ""),
                    custom_args={str(k): str(v) for k, v in custom.items()}))
        if not recipients:
            return sendgrid_error(400, "The to array is required for all personalization objects.",
                                  "personalizations.0.to")
        for message in recipients:
            state.record(message)
            if mode == "undelivered":
                state.update(message, status="bounce")
                tasks.add_task(sender.post_sendgrid_events, [sendgrid_event_object(message, "bounce")])
        return Response(status_code=202, headers={"X-Message-Id": msg_id})

    return router


def create_simulator_app(state: SimulatorState | None = None, *, herald_url: str | None = None,
                         twilio_auth_token: str = DEFAULT_TWILIO_AUTH_TOKEN,
                         sendgrid_private_key_pem: str | None = None,
                         sendgrid_api_key: str | None = None,
                         callback_hosts: Iterable[str] = LOOPBACK_HOSTS,
                         latency_ms: float | None = None, slack_token: str = DEFAULT_SLACK_TOKEN,
                         slack_signing_secret: str = DEFAULT_SLACK_SIGNING_SECRET,
                         slack_users: Iterable[tuple[str, str]] = (), webhook_secret: str | None = None) -> FastAPI:
    """Build the simulator. ``herald_url``: where replies/events are posted
    (``{herald_url}/webhooks/...``). ``twilio_auth_token``: expected basic-auth
    password and callback signing key. ``sendgrid_private_key_pem``: P-256 event
    signing key (generated if None). ``sendgrid_api_key``: enforced if set.
    ``callback_hosts``: hosts callbacks may go to (loopback only by default).
    ``latency_ms``: how long each provider API call takes (None: ``HERALD_SIM_LATENCY_MS``,
    else as ``state`` has it). ``slack_token``: the bot token Slack calls must carry;
    ``slack_signing_secret``: signs the clicks and commands posted to Herald; ``slack_users``:
    (name, email) of the simulated workspace's users. ``webhook_secret``: verifies Herald's outgoing webhooks at
    ``/_sim/webhooks`` (None: ``HERALD_WEBHOOK_DEV_SECRET``, else they are kept unverified)."""
    state = state if state is not None else SimulatorState()
    if latency_ms is None and os.environ.get("HERALD_SIM_LATENCY_MS"):
        latency_ms = float(os.environ["HERALD_SIM_LATENCY_MS"])
    if latency_ms is not None:
        state.set_latency(latency_ms / 1000)
    signing_key = load_signing_key(sendgrid_private_key_pem)
    sender = CallbackSender(state, twilio_auth_token, signing_key, herald_url, callback_hosts)
    app = FastAPI(title="Herald provider simulator", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.simulator = state
    app.state.callback_sender = sender
    app.state.sendgrid_public_key = public_key_b64(signing_key)
    app.include_router(provider_router(state, sender, twilio_auth_token, sendgrid_api_key))
    secret = webhook_secret if webhook_secret is not None else os.environ.get("HERALD_WEBHOOK_DEV_SECRET")
    app.include_router(control_router(state, sender, app.state.sendgrid_public_key, secret))
    workspace = SlackWorkspace(slack_users)
    app.state.slack = workspace
    app.include_router(slack_api_router(state, workspace, slack_token))
    app.include_router(slack_control_router(state, workspace, sender, slack_signing_secret))
    return app


def run_simulator(host: str = "127.0.0.1", port: int = DEFAULT_PORT, *, herald_url: str | None = None,
                  twilio_auth_token: str = DEFAULT_TWILIO_AUTH_TOKEN,
                  sendgrid_private_key_pem: str | None = None,
                  sendgrid_api_key: str | None = None, callback_hosts: Iterable[str] = (),
                  latency_ms: float | None = None, slack_token: str = DEFAULT_SLACK_TOKEN,
                  slack_signing_secret: str = DEFAULT_SLACK_SIGNING_SECRET,
                  slack_users: Iterable[tuple[str, str]] = ()) -> None:
    """Run the simulator in the foreground until interrupted."""
    app = create_simulator_app(herald_url=herald_url, twilio_auth_token=twilio_auth_token,
                               sendgrid_private_key_pem=sendgrid_private_key_pem,
                               sendgrid_api_key=sendgrid_api_key,
                               callback_hosts=LOOPBACK_HOSTS | frozenset(callback_hosts), latency_ms=latency_ms,
                               slack_token=slack_token, slack_signing_secret=slack_signing_secret,
                               slack_users=slack_users)
    print(f"Herald provider simulator on http://{host}:{port}  inbox: http://{host}:{port}/_sim/inbox")
    print(f"SendGrid event-webhook public key: {app.state.sendgrid_public_key}")
    uvicorn.run(app, host=host, port=port, log_level="info", lifespan="off")


def slack_users_from(config_path: str | None) -> list[tuple[str, str]]:
    """(name, email) of each person with an email in a Herald configuration file (none
    when there is no file or it does not load: the simulator still starts)."""
    if not config_path:
        return []
    from integrations.config.model import ConfigError, load_config

    try:
        config = load_config(config_path)
    except ConfigError as exc:
        print(f"herald sim: no Slack users: {exc}")
        return []
    return [(p.name, p.email) for p in config.people.values() if p.email]


def main(argv: Sequence[str] | None = None) -> int:
    """``herald sim`` entry point: parse ``argv`` and run the simulator."""
    parser = argparse.ArgumentParser(prog="herald sim", description="Local Twilio/SendGrid simulator.")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--herald-url", default=os.environ.get("HERALD_SIM_HERALD_URL"),
                        help="Herald's base URL for replies/callbacks, e.g. http://127.0.0.1:8080")
    parser.add_argument("--twilio-auth-token", default=os.environ.get(
        "HERALD_SIM_TWILIO_AUTH_TOKEN", DEFAULT_TWILIO_AUTH_TOKEN),
        help="auth token the SDK must use; also signs webhooks (env HERALD_SIM_TWILIO_AUTH_TOKEN)")
    parser.add_argument("--sendgrid-key-file", help="PEM EC P-256 private key for event signing "
                        "(default: a fresh key each start)")
    parser.add_argument("--callback-host", action="append", default=[],
                        help="a host besides loopback that callbacks may go to (e.g. api in docker compose)")
    parser.add_argument("--sendgrid-api-key", default=os.environ.get("HERALD_SIM_SENDGRID_API_KEY"),
                        help="if set, require this API key (env HERALD_SIM_SENDGRID_API_KEY)")
    parser.add_argument("--latency-ms", type=float, default=None,
                        help="milliseconds each Twilio/SendGrid API call takes (env HERALD_SIM_LATENCY_MS; default 0)")
    parser.add_argument("--slack-token", default=os.environ.get("HERALD_SIM_SLACK_TOKEN", DEFAULT_SLACK_TOKEN),
                        help="bot token Slack calls must carry (env HERALD_SIM_SLACK_TOKEN)")
    parser.add_argument("--slack-signing-secret", default=os.environ.get(
        "HERALD_SIM_SLACK_SIGNING_SECRET", DEFAULT_SLACK_SIGNING_SECRET),
        help="signs the clicks and commands posted to Herald (env HERALD_SIM_SLACK_SIGNING_SECRET)")
    parser.add_argument("--slack-users-from", default=os.environ.get("HERALD_CONFIG"),
                        help="a Herald configuration file: one Slack user per person with an email (env HERALD_CONFIG)")
    args = parser.parse_args(list(argv) if argv is not None else None)
    pem = None
    if args.sendgrid_key_file:
        with open(args.sendgrid_key_file, encoding="utf-8") as handle:
            pem = handle.read()
    run_simulator(args.host, args.port, herald_url=args.herald_url,
                  twilio_auth_token=args.twilio_auth_token, sendgrid_private_key_pem=pem,
                  sendgrid_api_key=args.sendgrid_api_key, callback_hosts=args.callback_host,
                  latency_ms=args.latency_ms, slack_token=args.slack_token,
                  slack_signing_secret=args.slack_signing_secret, slack_users=slack_users_from(args.slack_users_from))
    return 0
