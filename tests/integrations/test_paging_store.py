"""The per-person rate window in Redis: taken, held, forced by a P0 page."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import redis

from integrations import keys
from integrations.paging_store import PagingStore


def store(redis_url: str) -> PagingStore:
    return PagingStore(redis.Redis.from_url(redis_url, decode_responses=True))


def test_a_window_held_by_a_past_message_makes_the_next_one_wait(redis_url):
    paging = store(redis_url)
    assert paging.take_rate_window("alice", "sms", 60, value="claimed:a") == 0
    paging.hold_rate_window("alice", "sms", 60)
    assert 59 < paging.take_rate_window("alice", "sms", 60, value="claimed:b") <= 60


def test_force_takes_a_past_messages_window_but_never_a_live_senders_lease(redis_url):
    paging = store(redis_url)
    paging.hold_rate_window("alice", "sms", 60)
    assert paging.take_rate_window("alice", "sms", 30, value="claimed:p0", force=True) == 0
    assert paging.redis.get(keys.rate("alice", "sms")) == "claimed:p0"
    # Now a sender is sending to alice (its lease): a forced take waits for that message.
    assert paging.take_rate_window("alice", "sms", 30, value="claimed:other", force=True) > 0
    assert paging.redis.get(keys.rate("alice", "sms")) == "claimed:p0"


def test_windows_running_says_when_each_ends_and_skips_the_free(redis_url):
    paging = store(redis_url)
    now = datetime.now(timezone.utc)
    paging.hold_rate_window("alice", "sms", 60)
    running = paging.windows_running(["alice", "bob"], ["sms", "voice"], now)
    assert set(running) == {("alice", "sms")}
    assert now + timedelta(seconds=59) < running[("alice", "sms")] <= now + timedelta(seconds=60)
    assert paging.windows_running([], ["sms"], now) == {}
