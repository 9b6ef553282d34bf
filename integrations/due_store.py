"""The due index: one sorted set of everything that becomes due, and its claims.

Members name the work (``keys.due_incident``: an incident's escalation, pending pages,
ack timeout, snooze or hold ending; ``keys.due_periodic``: the retention purge,
heartbeat deadlines, shift-start digests); the score is when it is due (epoch seconds).
The incident commit script (``store_scripts.COMMIT``) writes an incident's entry with
the incident itself, and pushes ``keys.DUE_WAKE`` when the entry moved earlier.

A worker's clock loop ``claim``s what is due: each entry moves, in one script, from
``keys.DUE`` to ``keys.DUE_INFLIGHT`` with a lease, so two loops never hand out the same
entry; an entry in flight is skipped by every loop until its job is ``done`` (the job's
own commits may write it back into the index meanwhile). The lease is short and the
running job ``renew``s it; an entry whose lease ran out (the worker died, or its job
still waits behind another in RQ's queue) goes back to the index in the repair pass
(``requeue_expired``), for any worker to take: a second run of the same work is safe.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

import redis

from integrations import keys

# KEYS: 1 due, 2 in flight. ARGV: 1 now (epoch s), 2 lease end (epoch s), 3 at most this many.
# Claims the entries due by now that no live lease holds (an expired lease is claimed over).
# Returns {next, member, score, member, score, …}: ``next`` is the earliest entry left that
# is not in flight ("" if none was seen), ``now`` when the limit stopped the claim.
_CLAIM = """
local now = tonumber(ARGV[1])
local limit = tonumber(ARGV[3])
local out = {''}
local entries = redis.call('ZRANGE', KEYS[1], 0, limit + 49, 'WITHSCORES')
for i = 1, #entries, 2 do
  local member, score = entries[i], tonumber(entries[i + 1])
  local lease = redis.call('ZSCORE', KEYS[2], member)
  if not (lease and tonumber(lease) > now) then
    if score > now then out[1] = entries[i + 1]; break end
    if (#out - 1) / 2 >= limit then out[1] = ARGV[1]; break end
    redis.call('ZREM', KEYS[1], member)
    redis.call('ZADD', KEYS[2], ARGV[2], member)
    out[#out + 1] = member
    out[#out + 1] = entries[i + 1]
  end
end
return out
"""

# KEYS: 1 due, 2 in flight, 3 wake. ARGV: 1 member.
# Ends a claim; if the entry is back in the index (the job's commit wrote it), wake a
# loop: none of them counted on it while it was in flight.
_DONE = """
redis.call('ZREM', KEYS[2], ARGV[1])
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  redis.call('LPUSH', KEYS[3], 'wake')
  redis.call('LTRIM', KEYS[3], 0, 7)
end
return 1
"""

# KEYS: 1 due, 2 wake. ARGV: 1 member, 2 when, 3 "lt" (only ever earlier) or "set".
_ARM = """
local was = redis.call('ZSCORE', KEYS[1], ARGV[1])
if ARGV[3] == 'lt' and was and tonumber(was) <= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
if not was or tonumber(ARGV[2]) < tonumber(was) then
  redis.call('LPUSH', KEYS[2], 'wake')
  redis.call('LTRIM', KEYS[2], 0, 7)
end
return 1
"""

# KEYS: 1 due, 2 in flight, 3 wake. ARGV: (member, when) pairs.
# Adds each entry that is neither in the index nor in flight. Returns the members added.
_ADD_MISSING = """
local out = {}
for i = 1, #ARGV, 2 do
  if not redis.call('ZSCORE', KEYS[1], ARGV[i]) and not redis.call('ZSCORE', KEYS[2], ARGV[i]) then
    redis.call('ZADD', KEYS[1], ARGV[i + 1], ARGV[i])
    out[#out + 1] = ARGV[i]
  end
end
if #out > 0 then
  redis.call('LPUSH', KEYS[3], 'wake')
  redis.call('LTRIM', KEYS[3], 0, 7)
end
return out
"""

# KEYS: 1 due, 2 in flight, 3 wake. ARGV: 1 now. Entries whose lease ran out go back into the
# index, due now (or earlier, if the index has them earlier). Returns the members.
_REQUEUE_EXPIRED = """
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[1])
for _, member in ipairs(expired) do
  redis.call('ZREM', KEYS[2], member)
  redis.call('ZADD', KEYS[1], 'LT', ARGV[1], member)
end
if #expired > 0 then
  redis.call('LPUSH', KEYS[3], 'wake')
  redis.call('LTRIM', KEYS[3], 0, 7)
end
return expired
"""


class DueIndex:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client
        self._claim = client.register_script(_CLAIM)
        self._done = client.register_script(_DONE)
        self._arm = client.register_script(_ARM)
        self._add_missing = client.register_script(_ADD_MISSING)
        self._requeue_expired = client.register_script(_REQUEUE_EXPIRED)

    def claim(self, now: float, lease_until: float, limit: int = 100) -> tuple[list[tuple[str, float]], float | None]:
        """Take the entries due by ``now`` (at most ``limit``) under a lease until
        ``lease_until``; answer them (member, due) and when the next entry left is due."""
        reply = self._claim(keys=[keys.DUE, keys.DUE_INFLIGHT], args=[repr(now), repr(lease_until), limit])
        claimed = [(str(reply[i]), float(reply[i + 1])) for i in range(1, len(reply), 2)]
        return claimed, (float(reply[0]) if reply[0] else None)

    def done(self, member: str) -> None:
        """End the claim on ``member`` (its job finished)."""
        self._done(keys=[keys.DUE, keys.DUE_INFLIGHT, keys.DUE_WAKE], args=[member])

    def renew(self, member: str, lease_until: float) -> bool:
        """Extend a live claim (its job is still running); False if it is no longer claimed."""
        return bool(self.redis.zadd(keys.DUE_INFLIGHT, {member: lease_until}, xx=True, gt=True, ch=True)) or \
            self.redis.zscore(keys.DUE_INFLIGHT, member) is not None

    def arm(self, member: str, at: float, *, only_earlier: bool = True) -> bool:
        """Put ``member`` in the index at ``at`` (``only_earlier``: unless it is there
        earlier already). Wakes a clock loop when the entry moved earlier."""
        return bool(self._arm(keys=[keys.DUE, keys.DUE_WAKE], args=[member, repr(at), "lt" if only_earlier else "set"]))

    def add_missing(self, entries: Iterable[tuple[str, float]]) -> list[str]:
        """Add each (member, due) that is neither in the index nor in flight."""
        args: list[object] = []
        for member, at in entries:
            args += [member, repr(at)]
        if not args:
            return []
        return [str(m) for m in self._add_missing(keys=[keys.DUE, keys.DUE_INFLIGHT, keys.DUE_WAKE], args=args)]

    def requeue_expired(self, now: float) -> list[str]:
        """Put the entries whose lease ran out before ``now`` back in the index, due now."""
        return [str(m) for m in self._requeue_expired(keys=[keys.DUE, keys.DUE_INFLIGHT, keys.DUE_WAKE],
                                                      args=[repr(now)])]

    def wait(self, timeout: float) -> bool:
        """Block until a writer signals an earlier entry or ``timeout`` seconds pass
        (Redis wakes a blocked client on a 100 ms beat: callers wait the last stretch
        themselves). True when a writer signalled."""
        return self.redis.blpop([keys.DUE_WAKE], timeout=max(timeout, 0.01)) is not None

    def members(self) -> tuple[set[str], set[str]]:
        """Every member in the index, and every member in flight."""
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.zrange(keys.DUE, 0, -1)
            pipe.zrange(keys.DUE_INFLIGHT, 0, -1)
            due, inflight = pipe.execute()
        return set(map(str, due)), set(map(str, inflight))

    def drop(self, members: Sequence[str]) -> None:
        if members:
            self.redis.zrem(keys.DUE, *members)

    def score(self, member: str) -> float | None:
        value = self.redis.zscore(keys.DUE, member)
        return None if value is None else float(value)
