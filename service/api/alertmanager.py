"""``POST /api/v1/alertmanager`` — Alertmanager's webhook receiver.

Answers 200 only once the incident is durably in Redis; 503 while Redis is
unavailable (Alertmanager retries 5xx); 400 for a body that is not a version-4
payload; 401 for missing or wrong credentials; 413 over the size limit.

Everything runs on the event loop, whatever the body's size, and nothing here needs the
thread pool: the body is parsed (a big one in steps), the Watchdog's alerts
are split off and ping their heartbeat, and the rest goes through the ingest flow's
asynchronous driver (``service.engine.ingest_async``), which yields the loop between the steps
of a big payload.
"""
from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import TypeAdapter, ValidationError

from routing.alertmanager import AlertIn, WebhookPayload
from routing.grafana import is_grafana_body
from routing.grouping import body_digest
from service.engine import heartbeats
from service.telemetry import metrics
from service.api.auth import check_alertmanager
from service.engine.ingest_async import AsyncIngest, gc_paused
from service.redis_clients import connect_async

router = APIRouter()

#: A body over this many bytes is parsed in steps (``parse_in_steps``), this many alerts a step.
STEP_BYTES = 64 * 1024
STEP_ALERTS = 250
MAX_ALERTS = next(m.max_length for m in WebhookPayload.model_fields["alerts"].metadata if hasattr(m, "max_length"))
_ALERTS = TypeAdapter(list[AlertIn])


async def read_body(request: Request, limit: int, what: str = "request body") -> bytes:
    """The request body, refusing (413) to buffer more than ``limit`` bytes."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, f"{what} over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _explain(exc: ValidationError, at: tuple[str | int, ...] = (), what: str = "an Alertmanager webhook payload"
             ) -> str:
    """The first problem, named by where it is (``at``: where the validated part sits), in
    a body that is not ``what``."""
    first = exc.errors()[0]
    loc = (*at[:-1], at[-1] + first["loc"][0], *first["loc"][1:]) if at and first["loc"] else (*at, *first["loc"])
    where = ".".join(str(p) for p in loc) or "body"
    more = f" (and {exc.error_count() - 1} more problems)" if exc.error_count() > 1 else ""
    return f"not {what}: {where}: {first['msg']}{more}"


GRAFANA_HINT = ("this is Grafana Alerting's webhook (version \"1\"), not Alertmanager's: post it to "
                "/api/v1/grafana with the key of a kind: grafana integration (docs/grafana.md)")


def _refusal(exc: ValidationError, data: object) -> HTTPException:
    """The 400 for a body that is not Alertmanager's; Grafana's is told where to go."""
    return HTTPException(400, GRAFANA_HINT if is_grafana_body(data) else _explain(exc))


def _parse(body: bytes) -> WebhookPayload:
    try:
        return WebhookPayload.model_validate_json(body)
    except ValidationError as exc:
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):
            data = None
        raise _refusal(exc, data) from None


async def parse_in_steps(body: bytes) -> WebhookPayload:
    """The payload of ``body``, as ``_parse`` answers it; a body over ``STEP_BYTES`` is
    decoded first and its alerts validated ``STEP_ALERTS`` at a time, the event loop
    served in between (one pass over 4,000 alerts holds it for tens of milliseconds)."""
    if len(body) <= STEP_BYTES:
        return _parse(body)
    try:
        with gc_paused():
            data = json.loads(body)
    except (ValueError, RecursionError):  # not JSON, or nested too deeply: pydantic words the 400
        data = None
    alerts = data.get("alerts") if isinstance(data, dict) else None
    if not isinstance(alerts, list) or not 0 < len(alerts) <= MAX_ALERTS:
        return _parse(body)  # not JSON, or no alerts to step through: pydantic names the problem
    await asyncio.sleep(0)
    try:
        envelope = WebhookPayload.model_validate({**data, "alerts": alerts[:1]})
    except ValidationError as exc:
        raise _refusal(exc, data) from None
    parsed: list[AlertIn] = []
    for start in range(0, len(alerts), STEP_ALERTS):
        await asyncio.sleep(0)
        try:
            with gc_paused():
                parsed += _ALERTS.validate_python(alerts[start:start + STEP_ALERTS])
        except ValidationError as exc:
            raise HTTPException(400, _explain(exc, ("alerts", start))) from None
    return envelope.model_copy(update={"alerts": parsed})


@asynccontextmanager
async def _driver(request: Request) -> AsyncIterator[AsyncIngest]:
    """The ingest flow's event-loop driver the app's lifespan set up; an app served
    without its lifespan (a bare test client) gets one for this request."""
    ingest = getattr(request.app.state, "ingest", None)
    if ingest is not None:
        yield ingest
        return
    herald = request.app.state.herald
    own = AsyncIngest(herald, connect_async(herald.settings, socket_timeout=None), timeout=5)
    try:
        yield own
    finally:
        await own.aclose()


@router.post("/api/v1/alertmanager", tags=["alertmanager"])
async def receive_alertmanager(request: Request) -> dict:
    """Receive one Alertmanager webhook notification (payload version 4)."""
    herald = request.app.state.herald
    metrics.WEBHOOKS.inc()
    try:
        check_alertmanager(request, herald.settings)
        body = await read_body(request, herald.settings.max_body_bytes)
        payload = await parse_in_steps(body)
        split = heartbeats.split(herald, payload)  # Watchdog alerts are pings, never incidents
        async with _driver(request) as ingest:
            if split.ping:
                await heartbeats.ping_watchdog_async(herald, ingest)
            digest = body_digest(body) if split.rest is payload else None  # a re-send is the same body again
            incidents = [] if split.rest is None else await ingest(split.rest, digest)
    except HTTPException as exc:
        reason = {401: "unauthorized", 413: "too_large"}.get(exc.status_code, "invalid_payload")
        metrics.WEBHOOKS_REJECTED.labels(reason=reason).inc()
        raise
    except redis.RedisError:
        metrics.WEBHOOKS_REJECTED.labels(reason="storage_unavailable").inc()
        raise
    return JSONResponse({"status": "stored", "incidents": incidents})  # ready: nothing for FastAPI to re-validate
