"""Opsgenie's Alert API and heartbeat pings, answered by Herald: a drop-in for tools that
speak Opsgenie (Alertmanager's ``opsgenie_configs``, the ``opsgenie-sdk``, scripts).

- ``POST /v2/alerts`` — create (``routing.opsgenie_alerts.parse_create``): the alias is
  the dedup key, one incident per alias while it is open.
- ``POST /v2/alerts/{identifier}/close`` and ``/acknowledge`` with
  ``?identifierType=id|alias|tiny`` (default ``id``): an *id* (or tiny id) is the alert id
  Herald answered in the request status — the id of the incident the create opened; an
  *alias* is the create's alias. An identifier with no open incident of this integration
  is accepted and ignored (its request status says "Alert does not exist").
- ``GET /v2/alerts/requests/{requestId}`` — the outcome of a request of the same
  integration, kept a day (``integrations/opsgenie_requests.py``); 404 when unknown.
- ``GET|POST /v2/heartbeats/{name}/ping`` — pings Herald's heartbeat ``name``
  (``service.engine.heartbeats.ping``). The heartbeat must exist (made with ``POST
  /api/v1/heartbeats/{name}`` and its timeout, as an Opsgenie heartbeat is made with its
  interval before anything pings it); an unknown one answers 404, so a ping never arms a
  heartbeat with a timeout nobody chose.

Every call needs ``Authorization: GenieKey <key>`` with the key of an ``opsgenie``
integration: none or unknown 401, another kind's 403, over its rate 429 with
``Retry-After``. Alert requests are answered ``202 {"result": "Request will be processed",
"took", "requestId"}`` once Herald has stored them (Herald processes before it answers);
errors in Opsgenie's shape ``{"message", "took", "requestId"}``: 422 for a body that is
wrong (the message names the field), 413 over ``MAX_BODY_BYTES``.
"""
from __future__ import annotations

import json
import re
import time
import uuid
from dataclasses import replace
from datetime import datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from integrations.opsgenie_requests import parse_read, read_call, record_call
from routing.errors import Invalid
from routing.grouping import body_digest
from routing.integration import Integration
from routing.opsgenie_alerts import Action, dedup_key_of, identifier, identifier_type, parse_action, parse_create
from service.api.alertmanager import _driver, read_body
from service.engine import heartbeats
from service.engine.ingest import run
from service.engine.ingest_async import AsyncIngest
from service.engine.sources import Admission, admit_flow, admitted_event_flow, event_flow, file_integration

router = APIRouter(tags=["opsgenie"])

KIND = "opsgenie"
#: Largest body read (PagerDuty's documented limit; Opsgenie documents none).
MAX_BODY_BYTES = 512 * 1024
ACCEPTED = "Request will be processed"
PONG = "PONG - Heartbeat received"
REFUSED = {
    "unknown key": (401, "Could not authenticate: the GenieKey is not the key of any integration"),
    "other kind": (403, "This key is not an opsgenie integration's key; it only opens its own kind's endpoint"),
    "over rate": (429, "You are making too many requests! This integration is over its rate_per_minute"),
}


class Accepted(BaseModel):
    result: str = Field(examples=[ACCEPTED])
    took: float
    requestId: str  # noqa: N815 - Opsgenie's name


class OpsgenieError(BaseModel):
    message: str = Field(description="what is wrong, naming the field")
    took: float
    requestId: str  # noqa: N815 - Opsgenie's name


class RequestStatus(BaseModel):
    data: dict[str, Any] = Field(description="success, action, processedAt, integrationId, isSuccess, status, "
                                             "alertId, alias")
    took: float
    requestId: str  # noqa: N815 - Opsgenie's name


#: What the OpenAPI document says these routes answer: Opsgenie's shapes, not ``{"detail"}``.
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": OpsgenieError, "description": what} for code, what in (
        (401, "no GenieKey, or not the key of any integration"), (403, "the key of another kind's integration"),
        (413, "a body over 512 KB"), (422, "a body or parameter that is wrong"),
        (429, "over the integration's rate_per_minute (Retry-After)"))}
ALERT_ANSWERS = {202: {"model": Accepted, "description": "stored; its outcome at /v2/alerts/requests/{requestId}"},
                 **ERRORS}


PING_ANSWERS = {202: {"model": Accepted, "description": "PONG - Heartbeat received"}, **ERRORS,
                404: {"model": OpsgenieError, "description": "no such heartbeat in Herald"}}


class Refused(Exception):
    """An answer in Opsgenie's error shape, raised from anywhere in a route."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


class Call:
    """One request: its id and when it began (``took``)."""

    def __init__(self) -> None:
        self.id, self.started = str(uuid.uuid4()), time.perf_counter()

    def took(self) -> float:
        return round(time.perf_counter() - self.started, 3)

    def answer(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> JSONResponse:
        return JSONResponse({**body, "took": self.took(), "requestId": self.id}, status_code=status, headers=headers)

    def refused(self, refusal: Refused) -> JSONResponse:
        return self.answer(refusal.status, {"message": refusal.message}, refusal.headers)


def genie_key(request: Request) -> str:
    """The key of ``Authorization: GenieKey <key>`` (401 without one)."""
    scheme, _, key = request.headers.get("authorization", "").strip().partition(" ")
    if scheme.lower() != "geniekey" or not key.strip():
        raise Refused(401, "Could not authenticate: send the header 'Authorization: GenieKey <integration key>'")
    return key.strip()


def admitted(admission: Admission) -> Integration:
    if admission.refusal:
        status, message = REFUSED[admission.refusal]
        headers = {"Retry-After": str(admission.retry_after)} if admission.refusal == "over rate" else None
        raise Refused(status, message, headers)
    assert admission.integration is not None
    return admission.integration


async def _raw_body(request: Request) -> bytes:
    try:
        return await read_body(request, MAX_BODY_BYTES)
    except HTTPException as exc:
        raise Refused(exc.status_code, str(exc.detail)) from None


def _json(raw: bytes) -> Any:
    """The JSON body (None when empty); 422 when it is not JSON."""
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise Refused(422, f"body: not valid JSON: {exc}") from None


async def _body(request: Request) -> Any:
    """The JSON body (None when empty); 413 over the limit, 422 when it is not JSON."""
    return _json(await _raw_body(request))


def create_digest(integration: Integration, raw: bytes) -> str:
    """A create's digest: the integration as configured now and the body exactly as
    received. An equal one on the alias's open incident is a re-send: answered unchanged
    in one round trip (a changed severity map, labels or policy is a different digest)."""
    return body_digest(repr(integration).encode() + b"\0" + raw)


def _status(call: Call, integration: Integration, action: str, now: datetime, touched: list[dict[str, Any]],
            alias: str, done: str, missing: str) -> dict[str, Any]:
    ok = bool(touched)
    return {"integration": integration.name,
            "data": {"success": ok, "action": action, "processedAt": now.isoformat(), "integrationId": integration.name,
                     "isSuccess": ok, "status": done if ok else missing,
                     "alertId": touched[0]["id"] if ok else "", "alias": alias}}


async def _record(ingest: AsyncIngest, call: Call, record: dict[str, Any]) -> None:
    await ingest.scripts.run(*record_call(call.id, record))


@router.post("/v2/alerts", status_code=202, responses=ALERT_ANSWERS)
async def create_alert(request: Request) -> JSONResponse:
    """Create an alert (Opsgenie's create alert request): open or update the incident of its alias."""
    herald, call = request.app.state.herald, Call()
    try:
        key = genie_key(request)
        async with _driver(request) as ingest:
            known = file_integration(herald, key, KIND)
            if known is not None:
                # The file's key: checked in the same round trip as the alias's read.
                raw = await _raw_body(request)
                try:
                    parsed = parse_create(_json(raw), known, new_alias=call.id)
                except (Invalid, Refused) as exc:
                    admitted(await ingest.run(admit_flow(herald, key, KIND)))  # a revoked key is a 401 first
                    raise exc if isinstance(exc, Refused) else Refused(422, exc.message) from None
                admission, touched = await ingest.run(
                    admitted_event_flow(herald, key, KIND, lambda _integration: parsed.event))
                integration = admitted(admission)
            else:
                integration = admitted(await ingest.run(admit_flow(herald, key, KIND)))
                raw = await _raw_body(request)
                try:
                    parsed = parse_create(_json(raw), integration, new_alias=call.id)
                except Invalid as exc:
                    raise Refused(422, exc.message) from None
                touched = await ingest.run(event_flow(herald, integration, parsed.event,
                                                      create_digest(integration, raw)))
            await _record(ingest, call, _status(call, integration, "Create", herald.clock(), touched, parsed.alias,
                                                "Created alert", "No policy takes the alert: the route tree sent it nowhere"))
    except Refused as refused:
        return call.refused(refused)
    return call.answer(202, {"result": ACCEPTED})


async def _act(request: Request, raw_identifier: str, action: Action) -> JSONResponse:
    herald, call = request.app.state.herald, Call()
    try:
        key = genie_key(request)
        async with _driver(request) as ingest:
            integration = admitted(await ingest.run(admit_flow(herald, key, KIND)))
            body = await _body(request)
            try:
                kind = identifier_type(request.query_params.get("identifierType"))
                named = identifier(raw_identifier, kind)
                event = parse_action(body, action, "-")  # the body checked before anything is read
            except Invalid as exc:
                raise Refused(422, exc.message) from None
            dedup_key = await _dedup_key(herald, integration, named, kind)
            touched = [] if dedup_key is None else await ingest.run(
                event_flow(herald, integration, replace(event, dedup_key=dedup_key)))
            done = "Closed alert" if action == "close" else "Acknowledged alert"
            alias = named if kind == "alias" else (dedup_key or "")
            await _record(ingest, call, _status(call, integration, action.capitalize(), herald.clock(), touched, alias,
                                                done, "Alert does not exist"))
    except Refused as refused:
        return call.refused(refused)
    return call.answer(202, {"result": ACCEPTED})


async def _dedup_key(herald: Any, integration: Integration, named: str, kind: str) -> str | None:
    """The dedup key the identifier names: an alias's own; an id's incident's, when that
    incident is this integration's and open (None: nothing to act on)."""
    if kind == "alias":
        return dedup_key_of(named)
    if len(named) > 64:
        return None
    incident = await run_in_threadpool(herald.store.get, named)
    if incident is None or incident.receiver != integration.receiver or not incident.is_open:
        return None
    return incident.group_key


@router.post("/v2/alerts/{identifier:path}/close", status_code=202, responses=ALERT_ANSWERS)
async def close_alert(identifier: str, request: Request) -> JSONResponse:
    """Close an alert: resolve the open incidents of its alias (or of the incident its id names)."""
    return await _act(request, identifier, "close")


@router.post("/v2/alerts/{identifier:path}/acknowledge", status_code=202, responses=ALERT_ANSWERS)
async def acknowledge_alert(identifier: str, request: Request) -> JSONResponse:
    """Acknowledge an alert: acknowledge the open incidents of its alias (or id): paging stops."""
    return await _act(request, identifier, "acknowledge")


@router.get("/v2/alerts/requests/{request_id}", responses={200: {"model": RequestStatus}, **ERRORS,
                                                             404: {"model": OpsgenieError, "description": "unknown"}})
async def request_status(request_id: str, request: Request) -> JSONResponse:
    """The outcome of an alert request of the same integration (kept a day)."""
    herald, call = request.app.state.herald, Call()
    try:
        key = genie_key(request)
        async with _driver(request) as ingest:
            integration = admitted(await ingest.run(admit_flow(herald, key, KIND)))
            found = None if len(request_id) > 64 else parse_read(await ingest.scripts.run(*read_call(request_id)))
        if found is None or found.get("integration") != integration.name:
            raise Refused(404, f"Request not found: no request {request_id[:64]!r} of this integration "
                               "in the last 24 hours")
    except Refused as refused:
        return call.refused(refused)
    return call.answer(200, {"data": found["data"]})


@router.get("/v2/heartbeats/{name}/ping", status_code=202, operation_id="opsgenie_heartbeat_ping", responses=PING_ANSWERS)
@router.post("/v2/heartbeats/{name}/ping", status_code=202, operation_id="opsgenie_heartbeat_ping_post",
             responses=PING_ANSWERS)
def ping_heartbeat(name: str, request: Request) -> JSONResponse:
    """Ping Herald's heartbeat ``name`` (made beforehand with ``POST /api/v1/heartbeats/{name}``)."""
    herald, call = request.app.state.herald, Call()
    try:
        integration = admitted(run(herald, admit_flow(herald, genie_key(request), KIND)))
        del integration  # any opsgenie integration's key may ping any heartbeat, as in Opsgenie
        if not re.fullmatch(heartbeats.NAME_PATTERN, name) or name == heartbeats.WATCHDOG:
            raise Refused(422, "name: a heartbeat name is 1-64 letters, digits, '_', '.' or '-', and not 'watchdog'")
        beat = heartbeats.heartbeat_store(herald).get(name)
        if beat is None or beat.kind != "heartbeat":
            raise Refused(404, f"Heartbeat with name [{name}] does not exist: make it in Herald first with "
                               f"POST /api/v1/heartbeats/{name} and its timeout")
        heartbeats.ping(herald, name)
    except Refused as refused:
        return call.refused(refused)
    return call.answer(202, {"result": PONG})

