"""The FastAPI application factory."""
from __future__ import annotations

import logging

import redis
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from service import ack_pages, api_alertmanager, api_incidents, api_maintenance, health, provider_webhooks, simulation
from service import api_feeds, api_handoffs, api_oncall, api_schedules
from service.runtime import Herald
from service.settings import Settings

log = logging.getLogger("herald.api")


class BodyLimit:
    """Answer 413 before reading a body whose Content-Length is over the limit."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for name, value in scope["headers"]:
                if name == b"content-length" and value.isdigit() and int(value) > self.limit:
                    response = JSONResponse({"detail": f"request body over {self.limit} bytes"}, status_code=413)
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)


def create_app(settings: Settings | None = None, herald: Herald | None = None) -> FastAPI:
    settings = settings or Settings()
    herald = herald or Herald.from_settings(settings)
    app = FastAPI(title="Herald", version="0.1.0",
                  description="Alert routing and paging for Prometheus Alertmanager.")
    app.state.herald = herald
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)

    @app.exception_handler(redis.RedisError)
    async def _redis_down(_request: Request, exc: redis.RedisError) -> JSONResponse:
        log.error("redis unavailable: %s", type(exc).__name__)
        return JSONResponse({"detail": "storage unavailable, try again"}, status_code=503,
                            headers={"Retry-After": "5"})

    for module in (api_alertmanager, api_incidents, api_maintenance, simulation, ack_pages, health,
                   provider_webhooks):
        app.include_router(module.router)
    for module in (api_schedules, api_feeds, api_oncall, api_handoffs):  # schedules, on call, handoffs
        app.include_router(module.router)
    return app
