"""``POST /api/v1/alertmanager`` — Alertmanager's webhook receiver.

Answers 200 only once the incident is durably in Redis; 503 while Redis is
unavailable (Alertmanager retries 5xx); 400 for a body that is not a version-4
payload; 401 for missing or wrong credentials; 413 over the size limit.
"""
from __future__ import annotations

import redis
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from routing.alertmanager import WebhookPayload
from routing.grouping import body_digest
from service import metrics
from service.auth import check_alertmanager
from service.ingest import OFF_LOOP_BYTES, ingest  # a larger body is parsed and decided off the event loop

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


@router.post("/api/v1/alertmanager", tags=["alertmanager"])
async def receive_alertmanager(request: Request) -> dict:
    """Receive one Alertmanager webhook notification (payload version 4)."""
    herald = request.app.state.herald
    metrics.WEBHOOKS.inc()
    try:
        check_alertmanager(request, herald.settings)
        body = await read_body(request, herald.settings.max_body_bytes)
        big = len(body) > OFF_LOOP_BYTES
        payload = await run_in_threadpool(_parse, body) if big else _parse(body)
        # The event-loop path while the app runs; deciding and writing a big body is the thread pool's work.
        fast = None if big else getattr(request.app.state, "ingest", None)
        digest = body_digest(body)  # a re-send is the same body again
        incidents = await (fast(payload, digest) if fast is not None
                           else run_in_threadpool(ingest, herald, payload, digest))
    except HTTPException as exc:
        reason = {401: "unauthorized", 413: "too_large"}.get(exc.status_code, "invalid_payload")
        metrics.WEBHOOKS_REJECTED.labels(reason=reason).inc()
        raise
    except redis.RedisError:
        metrics.WEBHOOKS_REJECTED.labels(reason="storage_unavailable").inc()
        raise
    return JSONResponse({"status": "stored", "incidents": incidents})  # ready: nothing for FastAPI to re-validate
