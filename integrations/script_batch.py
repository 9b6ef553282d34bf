"""Lua scripts for the API's event loop, the calls of one loop turn sent as one batch.

Under load many webhooks wait on Redis at once. Each ``await ScriptBatch.run(...)``
queues its EVALSHA; the first in a loop turn schedules a flush, which writes every
queued call to one pooled connection in one go and reads the replies in order — one
socket write and one wake-up for the lot instead of one each (auto-pipelining, as
ioredis and Lettuce offer it; redis-py's asyncio client does not). Each script still
runs atomically in Redis; the batch only shares the wire, never a transaction.

Per call: an error reply is that call's exception; NOSCRIPT (Redis restarted, scripts
flushed) loads the script and runs the call again. Per batch: one deadline
(``timeout``) for the write and every reply; a dropped connection is retried once on
a fresh one, which is safe for Herald's scripts (a repeated read only reads, a repeated
commit is refused by its own first write and the caller decides again).
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from hashlib import sha1
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

#: Calls sent in one write at most (the rest go in the next flush).
MAX_BATCH = 64


@dataclass
class _Call:
    script: str
    sha: str
    keys: list[str]
    args: list[Any]
    future: asyncio.Future = field(repr=False, default=None)  # type: ignore[assignment]


class ScriptBatch:
    def __init__(self, client: aioredis.Redis, timeout: float = 5.0) -> None:
        self.client, self.timeout = client, timeout
        self._queue: list[_Call] = []
        self._flushing = False
        self._shas: dict[str, str] = {}
        self._tasks: set[asyncio.Task] = set()  # flushes in flight (the loop keeps only weak references)
        self.writes = 0  # batches written so far (what the batching saves shows in tests and bench/)

    async def run(self, script: str, keys: list[str], args: list[Any]) -> Any:
        """EVALSHA ``script`` (loaded on demand) and answer its reply."""
        sha = self._shas.get(script) or self._shas.setdefault(script, sha1(script.encode()).hexdigest())
        call = _Call(script, sha, keys, args, asyncio.get_running_loop().create_future())
        self._queue.append(call)
        if not self._flushing:
            self._flushing = True
            asyncio.get_running_loop().call_soon(self._start_flush)
        return await call.future

    def _start_flush(self) -> None:
        self._flushing = False
        while self._queue:
            batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
            task = asyncio.ensure_future(self._flush(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _flush(self, batch: list[_Call]) -> None:
        for attempt in range(2):
            try:
                await self._send(batch)
                return
            except RedisConnectionError as exc:
                if attempt:
                    _fail(batch, exc)
            except Exception as exc:  # a timeout, or anything unforeseen: every caller hears of it
                _fail(batch, exc)
                return

    async def _send(self, batch: list[_Call]) -> None:
        pool = self.client.connection_pool
        conn = await pool.get_connection()
        try:
            async with asyncio.timeout(self.timeout):
                sent = [c for c in batch if not c.future.done()]  # (a caller may have been cancelled)
                if not sent:
                    return
                self.writes += 1
                await conn.send_packed_command(conn.pack_commands(
                    [("EVALSHA", c.sha, len(c.keys), *c.keys, *c.args) for c in sent]))
                missing = []
                for call in sent:  # exactly one reply per call sent, in order
                    try:
                        reply = await conn.read_response()
                    except NoScriptError:
                        missing.append(call)
                        continue
                    except ResponseError as exc:  # an error reply: that call's alone
                        if not call.future.done():
                            call.future.set_exception(exc)
                        continue
                    _settle(call, reply)
                for script in {c.script for c in missing}:
                    await conn.send_command("SCRIPT", "LOAD", script)
                    await conn.read_response()
                for call in missing:
                    await conn.send_command("EVALSHA", call.sha, len(call.keys), *call.keys, *call.args)
                    try:
                        _settle(call, await conn.read_response())
                    except ResponseError as exc:
                        if not call.future.done():
                            call.future.set_exception(exc)
        except TimeoutError:  # half a batch may be on the wire: this connection is done
            await conn.disconnect(nowait=True)
            raise RedisTimeoutError(f"no answer from Redis within {self.timeout:g}s") from None
        except BaseException:  # a dropped connection, a garbled reply: replies may be out of step
            await conn.disconnect(nowait=True)
            raise
        finally:
            await pool.release(conn)


def _settle(call: _Call, reply: Any) -> None:
    if not call.future.done():
        call.future.set_result(reply)


def _fail(batch: list[_Call], exc: BaseException) -> None:
    for call in batch:
        if not call.future.done():
            call.future.set_exception(exc)
