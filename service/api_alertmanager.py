"""``POST /api/v1/alertmanager`` — Alertmanager's webhook receiver.

Answers 200 only once the incident is durably in Redis; 503 while Redis is
unavailable (Alertmanager retries 5xx); 400 for a body that is not a version-4
payload; 401 for missing or wrong credentials; 413 over the size limit.

Everything runs on the event loop, whatever the body's size, and nothing here needs the
thread pool: the body is parsed once (pydantic, from the bytes), the Watchdog's alerts
are split off and ping their heartbeat, and the rest goes through the ingest flow's
asynchronous driver (``service.ingest_async``), which yields the loop between the steps
of a big payload.
"""
from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from routing.alertmanager import WebhookPayload
from routing.grouping import body_digest
from service import heartbeats, metrics
from service.auth import check_alertmanager
from service.ingest_async import AsyncIngest
from service.redis_clients import connect_async

router = APIRouter()


async def read_body(request: Request, limit: int, what: str = "request body") -> bytes:
    """The request body, refusing (413) to buffer more than ``limit`` bytes."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, f"{what} over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _explain(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "body"
    more = f" (and {exc.error_count() - 1} more problems)" if exc.error_count() > 1 else ""
    return f"not an Alertmanager webhook payload: {where}: {first['msg']}{more}"


def _parse(body: bytes) -> WebhookPayload:
    try:
        return WebhookPayload.model_validate_json(body)
    except ValidationError as exc:
        raise HTTPException(400, _explain(exc)) from None


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
        payload = _parse(body)
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
