"""``/healthz`` (the process answers) and ``/readyz`` (Redis reachable, calendars loaded).

``/readyz`` also reports, without failing on them, whether a worker ran its repair pass recently and
how full Redis is: a warning above ``MEMORY_WARNING`` of its ``maxmemory`` (or with no
``maxmemory`` at all). Every API replica shares the one Redis, so failing readiness on
these would take them all out of service at once — an outage made of a warning."""
from __future__ import annotations

import redis

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
    checks["redis_memory"] = _memory(herald) if checks["redis"] == "ok" else "unknown"
    return JSONResponse({"status": "ready" if ok else "not ready", "checks": checks},
                        status_code=200 if ok else 503)


def _scheduler(herald) -> str:
    """Whether some worker's clock loop finished a repair pass recently."""
    horizon = herald.clock().timestamp() - 3 * herald.settings.sweep_interval - 30
    try:
        alive = herald.status.workers_alive(since=horizon)
    except redis.RedisError as exc:
        return f"unknown: {type(exc).__name__}"
    return "ok" if alive else "no worker has swept recently: pages wait until one runs"


#: Share of Redis's maxmemory above which /readyz warns (the HeraldRedisMemoryHigh alert
#: in deploy/prometheus/herald-rules.yml uses the same 80 %).
MEMORY_WARNING = 0.8


def _mib(size: int) -> str:
    return f"{size / 2**20:.0f} MiB"


def _memory(herald) -> str:
    """"ok", or a warning before Redis (noeviction) starts refusing writes."""
    try:
        used, limit = herald.status.memory()
    except redis.RedisError as exc:  # e.g. a Redis user not allowed INFO
        return f"unknown: {type(exc).__name__}"
    if limit <= 0:
        return ("warning: no maxmemory set: nothing warns before Redis runs out of memory, and it is killed "
                "instead of refusing writes (docs/operating.md#sizing-redis)")
    share = used / limit
    if share <= MEMORY_WARNING:
        return "ok"
    return (f"warning: Redis uses {share:.0%} of its maxmemory ({_mib(used)} of {_mib(limit)}); at 100% it refuses "
            f"writes and every webhook is answered 503 (docs/operating.md#heraldredismemoryhigh)")
