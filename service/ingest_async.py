"""The webhook's path on the API's event loop, without a thread hop per request.

The same steps as :func:`service.ingest.ingest` — the same scripts, the same
``decide_slot``, the same commit arguments — awaited on a ``redis.asyncio`` client:
one round trip for a re-send (``READ_GROUP``), two for a new or changed group (read,
then ``COMMIT``), and concurrent webhooks share each write to Redis
(``integrations.script_batch``). Whatever would need blocking I/O on the way goes to
the thread pool and the synchronous path instead: a Watchdog alert (a heartbeat ping),
calendars or maintenance windows that changed since this process cached them.
"""
from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis
from starlette.concurrency import run_in_threadpool

from integrations.script_batch import ScriptBatch
from integrations.store import GroupRead, group_read_call, group_writes, parse_group_read, versions_in
from integrations.store_scripts import READ_GROUP
from routing.alertmanager import WebhookPayload
from routing.grouping import group_of, payload_digest, policies_of
from routing.maintenance import hold_for
from service.heartbeats import carries_watchdog
from service.ingest import OFF_LOOP_BYTES, decide_slot, ingest, ingest_group, is_firing, ref, unchanged
from service.runtime import Herald


class AsyncIngest:
    """``await AsyncIngest(herald, client)(payload)`` answers as ``ingest`` does."""

    def __init__(self, herald: Herald, client: aioredis.Redis, timeout: float = 5.0) -> None:
        self.herald, self.client = herald, client
        self.scripts = ScriptBatch(client, timeout)  # concurrent webhooks share each write to Redis

    async def aclose(self) -> None:
        await self.client.aclose()

    async def _read_group(self, payload: WebhookPayload, policies: tuple[str, ...] | list[str], digest: str,
                          firing: bool) -> tuple[GroupRead, bool]:
        """The group as read, and whether its incidents are big (parsed, then decided and
        written, in the thread pool: a large incident's JSON costs milliseconds each way)."""
        keys_, args = group_read_call(payload.receiver, payload.group_key, policies, digest, firing)
        reply = await self.scripts.run(READ_GROUP, keys_, args)
        if sum(len(part) for part in reply) > OFF_LOOP_BYTES:
            return await run_in_threadpool(parse_group_read, reply, len(policies)), True
        return parse_group_read(reply, len(policies)), False

    async def __call__(self, payload: WebhookPayload, digest: str | None = None) -> list[dict[str, Any]]:
        """``digest``: of the body as received (``routing.grouping.body_digest``)."""
        herald = self.herald
        if carries_watchdog(herald, payload):
            return await run_in_threadpool(ingest, herald, payload, digest)
        digest = digest or payload_digest(payload)
        policies, firing = policies_of(payload, herald.config.route), is_firing(payload)
        read, big = await self._read_group(payload, policies, digest, firing)
        if read.same is not None:
            return unchanged(read)
        group = group_of(payload, herald.config.route, herald.config.severity, policies, digest)
        now = herald.clock()
        windows = herald.maintenance.cached_at(read.versions[2])
        if big or windows is None or not herald.calendars.is_current(read.versions[:2], now):
            decisions = await run_in_threadpool(ingest_group, herald, group, False, read)
            return [ref(d) for d in decisions if d.incident is not None]
        hold = hold_for(list(group.alerts), windows, now)
        calls = group_writes(payload.receiver, payload.group_key, policies, read,
                             lambda name, slot, versions: decide_slot(herald, group, name, slot, now, hold, versions),
                             herald.store.count, digest=digest, firing=firing)
        reply = None
        while True:  # the store's own loop (integrations.store.group_writes), driven from here
            try:
                script, keys_, args = calls.send(reply)
            except StopIteration as done:
                return [ref(d) for d in done.value if d.incident is not None]
            reply = await self.scripts.run(script, keys_, args)
            versions = versions_in(reply) if script == READ_GROUP else None
            if versions is not None and not herald.calendars.is_current(versions, now):
                await run_in_threadpool(herald.calendars.refresh, now)  # so deciding again needs no I/O
