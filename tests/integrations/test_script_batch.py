"""ScriptBatch: the webhook's scripts, the calls of one event-loop turn in one write."""
import asyncio

import pytest
import redis
import redis.asyncio as aioredis

from integrations.script_batch import ScriptBatch

ECHO = "return {KEYS[1], ARGV[1]}"
FAIL_ON_X = "if ARGV[1] == 'x' then return redis.error_reply('no x here') end return ARGV[1]"


def run(coro):
    return asyncio.run(coro)


async def _with_batch(url, body, timeout=5.0):
    client = aioredis.Redis.from_url(url, decode_responses=True)
    try:
        return await body(ScriptBatch(client, timeout), client)
    finally:
        await client.aclose()


def test_concurrent_calls_each_get_their_own_reply_in_one_write(redis_url):
    sync = redis.Redis.from_url(redis_url)
    sync.config_resetstat()

    async def body(batch, client):
        await batch.run(ECHO, ["warm"], ["0"])  # the script loaded
        before = batch.writes
        replies = await asyncio.gather(*(batch.run(ECHO, [f"k{i}"], [str(i)]) for i in range(50)))
        return replies, batch.writes - before

    replies, writes = run(_with_batch(redis_url, body))
    assert replies == [[f"k{i}", str(i)] for i in range(50)]
    assert writes == 1  # all fifty in one write
    stats = sync.info("commandstats")
    assert stats["cmdstat_evalsha"]["calls"] == 1 + 1 + 50  # NOSCRIPT once, then the warm-up and the fifty
    sync.close()


def test_a_flushed_script_cache_is_loaded_again(redis_url):
    async def body(batch, client):
        first = await batch.run(ECHO, ["a"], ["1"])
        await client.script_flush()  # as after a Redis restart
        again = await asyncio.gather(batch.run(ECHO, ["b"], ["2"]), batch.run(ECHO, ["c"], ["3"]))
        return first, again

    assert run(_with_batch(redis_url, body)) == (["a", "1"], [["b", "2"], ["c", "3"]])


def test_an_error_reply_fails_only_its_own_call(redis_url):
    async def body(batch, client):
        return await asyncio.gather(batch.run(FAIL_ON_X, ["k"], ["a"]), batch.run(FAIL_ON_X, ["k"], ["x"]),
                                    batch.run(FAIL_ON_X, ["k"], ["b"]), return_exceptions=True)

    a, x, b = run(_with_batch(redis_url, body))
    assert (a, b) == ("a", "b")
    assert isinstance(x, redis.ResponseError) and "no x here" in str(x)


def test_a_cancelled_caller_leaves_the_others_in_step(redis_url):
    async def body(batch, client):
        doomed = asyncio.ensure_future(batch.run(ECHO, ["gone"], ["0"]))
        kept = asyncio.ensure_future(batch.run(ECHO, ["kept"], ["1"]))
        doomed.cancel()
        later = await batch.run(ECHO, ["later"], ["2"])
        return await kept, later

    assert run(_with_batch(redis_url, body)) == (["kept", "1"], ["later", "2"])


def test_unreachable_redis_fails_every_caller_with_a_redis_error():
    async def body(batch, client):
        return await asyncio.gather(batch.run(ECHO, ["k"], ["1"]), batch.run(ECHO, ["k"], ["2"]),
                                    return_exceptions=True)

    errors = run(_with_batch("redis://127.0.0.1:1/0", body))
    assert all(isinstance(e, redis.ConnectionError) for e in errors)


def test_a_stalled_redis_times_out_and_the_next_call_works(redis_url):
    sync = redis.Redis.from_url(redis_url)

    async def body(batch, client):
        await batch.run(ECHO, ["warm"], ["0"])  # loaded while Redis answers
        sync.execute_command("CLIENT", "PAUSE", "10000", "WRITE")  # scripts wait; CLIENT UNPAUSE still runs
        try:
            with pytest.raises(redis.TimeoutError):
                await batch.run(ECHO, ["k"], ["1"])
        finally:
            sync.execute_command("CLIENT", "UNPAUSE")  # Redis answers again
        return await batch.run(ECHO, ["k"], ["2"])

    assert run(_with_batch(redis_url, body, timeout=0.3)) == ["k", "2"]
    sync.close()
