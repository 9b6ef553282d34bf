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
from integrations.store import OUTBOX_EFFECTS, GroupRead, commit_call, group_read_call, parse_group_read
from integrations.store_scripts import COMMIT, READ_GROUP
from routing.alertmanager import WebhookPayload
from routing.decide import Decision
from routing.grouping import group_of, payload_digest, policies_of
from routing.maintenance import hold_for
from service.heartbeats import carries_watchdog
from service.ingest import decide_slot, ingest, ingest_group, is_firing, ref, unchanged
from service.runtime import Herald


class AsyncIngest:
    """``await AsyncIngest(herald, client)(payload)`` answers as ``ingest`` does."""

    def __init__(self, herald: Herald, client: aioredis.Redis, timeout: float = 5.0) -> None:
        self.herald, self.client = herald, client
        self.scripts = ScriptBatch(client, timeout)  # concurrent webhooks share each write to Redis

    async def aclose(self) -> None:
        await self.client.aclose()

    async def _read_group(self, payload: WebhookPayload, policies: tuple[str, ...] | list[str], digest: str,
                          firing: bool) -> GroupRead:
        keys_, args = group_read_call(payload.receiver, payload.group_key, policies, digest, firing)
        return parse_group_read(await self.scripts.run(READ_GROUP, keys_, args), len(policies))

    async def __call__(self, payload: WebhookPayload, digest: str | None = None) -> list[dict[str, Any]]:
        """``digest``: of the body as received (``routing.grouping.body_digest``)."""
        herald = self.herald
        if carries_watchdog(herald, payload):
            return await run_in_threadpool(ingest, herald, payload, digest)
        digest = digest or payload_digest(payload)
        policies, firing = policies_of(payload, herald.config.route), is_firing(payload)
        read = await self._read_group(payload, policies, digest, firing)
        if read.same is not None:
            return unchanged(read)
        group = group_of(payload, herald.config.route, herald.config.severity, policies, digest)
        now = herald.clock()
        windows = herald.maintenance.cached_at(read.versions[2])
        if windows is None or not herald.calendars.is_current(read.versions[:2], now):
            decisions = await run_in_threadpool(ingest_group, herald, group, False, read)
            return [ref(d) for d in decisions if d.incident is not None]
        hold = hold_for(list(group.alerts), windows, now)
        decisions: list[Decision] = []
        for name, slot in zip(group.policies, read.slots):
            versions = read.versions
            while True:
                decision = decide_slot(herald, group, name, slot, now, hold, versions)
                if not decision.changed or decision.incident is None:
                    break
                counts = herald.store.count(slot.current, decision.incident) if herald.store.count else []
                keys_, args = commit_call(decision, slot.current, guard=slot.pointer, digest=digest, counts=counts,
                                          outbox=True)
                if await self.scripts.run(COMMIT, keys_, args) == "ok":
                    break
                again = await self._read_group(payload, [name], "", firing)  # another writer came first
                [slot], versions = again.slots, again.versions
                if not herald.calendars.is_current(versions[:2], now):
                    await run_in_threadpool(herald.calendars.refresh, now)
            decisions.append(decision)
        rest = [d for d in decisions if d.changed and any(not isinstance(e, OUTBOX_EFFECTS) for e in d.effects)]
        for decision in rest:  # every effect today travels in the outbox; anything else is enqueued here
            await run_in_threadpool(herald.dispatch, decision, OUTBOX_EFFECTS)
        return [ref(d) for d in decisions if d.incident is not None]
