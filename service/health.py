"""``/healthz`` (the process answers) and ``/readyz`` (Redis reachable, calendars loaded)."""
from __future__ import annotations

import redis

from integrations import keys
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
def readyz(request: Request) -> JSONResponse:
    herald = request.app.state.herald
    checks: dict[str, str] = {}
    try:
        herald.store.ping()
        checks["redis"] = "ok"
    except redis.RedisError as exc:
        checks["redis"] = f"unreachable: {type(exc).__name__}"
    checks["calendars"] = "ok" if herald.calendars.loaded() else "not loaded: " + ", ".join(
        f"{s.schedule}: {s.error}" for s in herald.calendars.status.values() if s.error)
    ok = all(v == "ok" for v in checks.values())
    # Reported, but not a reason to stop taking webhooks: they are stored durably and
    # any worker that comes back pages them (the HeraldNoWorker alert covers this).
    checks["scheduler"] = _scheduler(herald) if checks["redis"] == "ok" else "unknown"
    return JSONResponse({"status": "ready" if ok else "not ready", "checks": checks},
                        status_code=200 if ok else 503)


def _scheduler(herald) -> str:
    """Whether some worker (RQ scheduler + sweep) finished a sweep recently."""
    horizon = herald.clock().timestamp() - 3 * herald.settings.sweep_interval - 30
    try:
        alive = herald.store.redis.zcount(keys.WORKER_HEARTBEAT, horizon, "+inf")
    except redis.RedisError as exc:
        return f"unknown: {type(exc).__name__}"
    return "ok" if alive else "no worker has swept recently: pages wait until one runs"
