"""ASGI guards around every route: a request-body limit and baseline security headers.

``BodyLimit`` answers 413 before reading a body whose Content-Length is over the limit,
and — for bodies without one (chunked transfer encoding) — counts the bytes as the
route reads them and stops at the limit, so no route, whatever it parses (JSON, forms,
calendars), ever buffers more than ``limit`` bytes.

``SecurityHeaders`` adds ``X-Content-Type-Options: nosniff``, ``X-Frame-Options: DENY``
and ``Referrer-Policy: no-referrer`` to every response that does not set its own, and
``Cache-Control: no-store`` to API answers (they carry incident details and, for
tokens allowed to see them, phone numbers).
"""
from __future__ import annotations

from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

BASELINE = {b"x-content-type-options": b"nosniff", b"x-frame-options": b"DENY",
            b"referrer-policy": b"no-referrer"}


class BodyLimit:
    """413 for request bodies over ``limit`` bytes, declared or streamed. Calendar
    uploads (``PUT /api/v1/schedules/…``) are exempt: that route enforces each
    schedule's own ``max_bytes`` while it streams the body."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (scope.get("method") == "PUT"
                                       and scope.get("path", "").startswith("/api/v1/schedules/")):
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > self.limit:
                response = JSONResponse({"detail": f"request body over {self.limit} bytes"}, status_code=413)
                await response(scope, receive, send)
                return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise HTTPException(413, f"request body over {self.limit} bytes")
            return message

        await self.app(scope, limited, send)


class SecurityHeaders:
    """Baseline security headers on every response (a route's own headers win)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        api = scope.get("path", "").startswith("/api/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                extra = dict(BASELINE)
                if api:
                    extra[b"cache-control"] = b"no-store"
                headers += [(name, value) for name, value in extra.items() if name not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)
