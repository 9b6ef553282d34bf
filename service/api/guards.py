"""ASGI guards around every route: request-body limits and baseline security headers.

``BodyLimit`` answers 413 before reading a body whose Content-Length is over the limit,
and — for bodies without one (chunked transfer encoding) — counts the bytes as the
route reads them and stops at the limit, so no route, whatever it parses (JSON, forms,
calendars), ever buffers more than ``limit`` bytes. It also cuts off a body that
trickles: the route's wait for the next part of it ends ``timeout`` seconds after the
request head, plus one second for every ``min_rate`` bytes received so far (Apache's
mod_reqtimeout ``body=20,MinRate=500`` rule), with 408 and ``Connection: close``. The
wait is the route's own; no other request waits with it.

``SecurityHeaders`` adds ``X-Content-Type-Options: nosniff``, ``X-Frame-Options: DENY``
and ``Referrer-Policy: no-referrer`` to every response that does not set its own, and
``Cache-Control: no-store`` to API answers (they carry incident details and, for
tokens allowed to see them, phone numbers).
"""
from __future__ import annotations

import asyncio
import logging

from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.refusals import REFUSALS, Refusals, client_key

log = logging.getLogger("herald.http")

BASELINE = {b"x-content-type-options": b"nosniff", b"x-frame-options": b"DENY",
            b"referrer-policy": b"no-referrer"}


class BodyLimit:
    """413 for request bodies over ``limit`` bytes, declared or streamed; 408 for a body
    slower than ``timeout`` seconds plus one second per ``min_rate`` bytes (0: no such
    credit; ``timeout`` None: no time limit). Calendar uploads (``PUT
    /api/v1/schedules/…``) are exempt from the size limit only: that route enforces each
    schedule's own ``max_bytes`` while it streams the body."""

    def __init__(self, app: ASGIApp, limit: int, timeout: float | None = None, min_rate: int = 0,
                 refusals: Refusals = REFUSALS) -> None:
        self.app, self.limit, self.timeout, self.min_rate, self.refusals = app, limit, timeout, min_rate, refusals

    def too_slow(self) -> str:
        credit = f", plus 1 s for every {self.min_rate} bytes" if self.min_rate else ""
        return f"request body too slow: send it within {self.timeout:g} s{credit}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sized = not (scope.get("method") == "PUT" and scope.get("path", "").startswith("/api/v1/schedules/"))
        for name, value in scope["headers"] if sized else ():
            if name == b"content-length" and value.isdigit() and int(value) > self.limit:
                response = JSONResponse({"detail": f"request body over {self.limit} bytes"}, status_code=413)
                await response(scope, receive, send)
                return
        loop = asyncio.get_running_loop()
        started, received, finished = loop.time(), 0, False

        async def next_part() -> Message:
            if finished or self.timeout is None:
                return await receive()
            deadline = started + self.timeout + (received / self.min_rate if self.min_rate else 0.0)
            try:
                async with asyncio.timeout_at(deadline):
                    return await receive()
            except TimeoutError:
                self.refusals.count("body_timeout", client_key(scope.get("client")))
                raise HTTPException(408, self.too_slow(), headers={"Connection": "close"}) from None

        left = False  # the client went away before its body was complete

        async def limited() -> Message:
            nonlocal received, finished, left
            message = await next_part()
            if message["type"] != "http.request":
                left, finished = left or not finished, True
                return message
            received += len(message.get("body", b""))
            finished = finished or not message.get("more_body", False)
            if sized and received > self.limit:
                raise HTTPException(413, f"request body over {self.limit} bytes")
            return message

        try:
            await self.app(scope, limited, send)
        except ClientDisconnect:
            if not left:
                raise
            # Nobody to answer: not an error of ours, and no traceback per connection.
            log.debug("client left before sending its whole request body")


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
