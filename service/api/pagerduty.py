"""PagerDuty's Events API v2, served by Herald: ``POST /v2/enqueue`` (alert events) and
``POST /v2/change/enqueue`` (change events), so a tool that speaks PagerDuty moves to
Herald by changing its URL and its key.

The key is the ``routing_key`` in the body (or, as PagerDuty's older clients sent it, an
``X-Routing-Key`` header) and must be the key of a ``pagerduty`` integration. Answers are
PagerDuty's, in its JSON shape, since the tools parse them:

- 202 ``{"status": "success", "message": "Event processed", "dedup_key": …}`` once the
  event is durably in Redis (a trigger without a ``dedup_key`` gets one, answered here);
  an acknowledge or resolve of a key with no open incident is answered the same and
  changes nothing, as PagerDuty does;
- 400 ``{"status": "invalid event", "message": "Event object is invalid", "errors": […]}``
  listing every problem, each naming its field; a key Herald does not know, or a key of
  another kind of integration: ``errors: ["Invalid routing key"]``; a body that is not a
  JSON object: ``{"status": "Unrecognized object", … "errors": ["JSON parse error"]}``;
- 429 (with ``Retry-After``) over the integration's ``rate_per_minute`` (120 by default,
  PagerDuty's documented limit); 413 over 512 KB (PagerDuty's limit);
- 503 while Redis is unavailable (Herald's own answer: the tools retry 5xx).

A change event changes no incident's state and pages nobody: it is noted on the
timeline of each open incident of its integration (``service.engine.sources.change_flow``).
"""
from __future__ import annotations

import logging
import uuid
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse

from routing.integration import Integration
from routing.pagerduty_events import (INVALID, INVALID_ROUTING_KEY, MAX_BODY_BYTES, UNRECOGNIZED, EventInvalid,
                                      decode, parse_alert, parse_change)
from service.api.alertmanager import _driver, read_body
from service.engine.ingest_async import AsyncIngest
from service.engine.sources import Admission, admit_flow, admitted_event_flow, change_flow

router = APIRouter(tags=["pagerduty"])
log = logging.getLogger("herald.api")
KIND = "pagerduty"
PROCESSED = {"status": "success", "message": "Event processed"}
#: What the OpenAPI document says besides 202 (the bodies are PagerDuty's: see docs/pagerduty.md).
RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "Invalid event, or invalid routing key: "
                         '{"status": "invalid event", "message": "Event object is invalid", "errors": [...]}'},
    413: {"description": "The body is over 512 KB."},
    429: {"description": "The integration is over its rate; see Retry-After."},
}


class Refused(Exception):
    """An answer other than 202, in PagerDuty's shape."""

    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        super().__init__(body.get("message", ""))
        self.status, self.body, self.headers = status, body, headers or {}

    def response(self) -> JSONResponse:
        return JSONResponse(self.body, status_code=self.status, headers=self.headers)


async def _data(request: Request) -> dict[str, Any]:
    """The body as a JSON object, at most 512 KB."""
    try:
        body = await read_body(request, MAX_BODY_BYTES, "event")
    except HTTPException as exc:
        if exc.status_code != 413:
            raise
        raise Refused(413, {"status": "invalid event", "message": "Event object is too large",
                            "errors": [f"the request body is over {MAX_BODY_BYTES} bytes (512 KB)"]}) from None
    try:
        return decode(body)
    except EventInvalid:
        raise Refused(400, dict(UNRECOGNIZED)) from None


async def _admit(ingest: AsyncIngest, request: Request, key: str) -> Integration:
    """The ``pagerduty`` integration of ``key``, its event counted against its rate."""
    return _refuse(await ingest.run(admit_flow(request.app.state.herald, key, KIND)))


def _refuse(admission: Admission) -> Integration:
    """The integration let in; ``Refused`` in PagerDuty's words when it was not."""
    if admission.refusal in ("unknown key", "other kind"):
        raise Refused(400, {**INVALID, "errors": [INVALID_ROUTING_KEY]})
    if admission.refusal == "over rate":
        assert admission.integration is not None
        rate = admission.integration.rate_per_minute
        raise Refused(429, {"status": "throttle event", "message": "Request Limit Exceeded",
                            "errors": [f"integration {admission.integration.name!r} is over its rate of {rate} "
                                       f"events a minute; retry after {admission.retry_after} s"]},
                      {"Retry-After": str(admission.retry_after)})
    assert admission.integration is not None
    return admission.integration


@router.post("/v2/enqueue", status_code=202, responses=RESPONSES)
async def enqueue(request: Request) -> JSONResponse:
    """Receive one PagerDuty Events API v2 alert event (trigger, acknowledge or resolve)."""
    herald = request.app.state.herald
    try:
        data = await _data(request)
        try:
            event = parse_alert(data, uuid.uuid4().hex, request.headers.get("x-routing-key"))
        except EventInvalid as exc:
            raise Refused(400, exc.answer()) from None
        async with _driver(request) as ingest:
            admission, touched = await ingest.run(
                admitted_event_flow(herald, event.routing_key, KIND, event.source_event))
            _refuse(admission)
    except Refused as refused:
        return refused.response()
    log.debug("pagerduty %s: incidents %s", event.action, [t["id"] for t in touched])
    return JSONResponse({**PROCESSED, "dedup_key": event.dedup_key}, status_code=202)


@router.post("/v2/change/enqueue", status_code=202, responses=RESPONSES)
async def change_enqueue(request: Request) -> JSONResponse:
    """Receive one PagerDuty change event: a note on the integration's open incidents."""
    herald = request.app.state.herald
    try:
        data = await _data(request)
        try:
            change = parse_change(data, request.headers.get("x-routing-key"))
        except EventInvalid as exc:
            raise Refused(400, exc.answer()) from None
        async with _driver(request) as ingest:
            integration = await _admit(ingest, request, change.routing_key)
            await ingest.run(change_flow(herald, integration, change.note()))
    except Refused as refused:
        return refused.response()
    return JSONResponse(dict(PROCESSED), status_code=202)
