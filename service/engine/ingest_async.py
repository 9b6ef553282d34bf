"""The asynchronous driver of the ingest flow (``service.engine.ingest_flow``), for the webhook.

It answers the flow's requests without blocking the API's event loop and without the
thread pool: script calls are awaited on a ``redis.asyncio`` client, and concurrent
webhooks share each write to Redis (``integrations.script_batch``); a calendar catch-up
is awaited from the calendars' own catch-up thread (``CalendarBook.catch_up``); a pause
yields the loop. One round trip for a re-send, two for a new or changed group. The
synchronous driver of the same flow is ``service.engine.ingest.run``.
"""
from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis.asyncio as aioredis

from integrations.script_batch import ScriptBatch
from routing.alertmanager import WebhookPayload
from routing.decide import Decision
from routing.grouping import AlertGroup
from service.engine.ingest_flow import CatchUp, Flow, Pause, Script, group_flow, webhook_flow
from service.engine.runtime import Herald


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection during one step of a flow (it runs without awaiting):
    a step allocates thousands of acyclic objects (alerts, incidents), which would trigger
    collection after collection in the middle of it, each walking what it built; after
    the step one collection takes what is garbage. Measured in docs/performance.md."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


class AsyncIngest:
    """``await AsyncIngest(herald, client)(payload)`` answers as ``service.engine.ingest.ingest`` does."""

    def __init__(self, herald: Herald, client: aioredis.Redis, timeout: float = 5.0) -> None:
        self.herald, self.client = herald, client
        self.scripts = ScriptBatch(client, timeout)  # concurrent webhooks share each write to Redis

    async def aclose(self) -> None:
        await self.client.aclose()

    async def run(self, flow: Flow) -> Any:
        """Answer ``flow``'s requests, awaiting each, until it returns; answer what it returns."""
        reply: Any = None
        while True:
            try:
                with gc_paused():
                    request = flow.send(reply)
            except StopIteration as done:
                return done.value
            if isinstance(request, Script):
                reply = await self.scripts.run(request.script, request.keys, request.args)
            elif isinstance(request, CatchUp):
                reply = await asyncio.wrap_future(self.herald.calendars.catch_up(request.now))
            elif isinstance(request, Pause):
                reply = await asyncio.sleep(0)
            else:  # pragma: no cover - a request this driver does not know is a bug
                raise TypeError(f"unknown ingest request {request!r}")

    async def __call__(self, payload: WebhookPayload, digest: str | None = None) -> list[dict[str, Any]]:
        """Store an Alertmanager group (no Watchdog alert in it: the route took them out);
        ``digest``: of the body as received (``routing.grouping.body_digest``)."""
        return await self.run(webhook_flow(self.herald, payload, digest))

    async def group(self, group: AlertGroup, drill: bool = False) -> list[Decision]:
        """Decide and store one alert group Herald raised itself (a heartbeat's)."""
        return await self.run(group_flow(self.herald, group, drill=drill))
