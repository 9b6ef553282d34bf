"""Counts of wrong credential guesses in Redis, per clock-minute window, shared by every
API replica (the policy — what is too many — is ``service/api/guess_limits.py``'s)."""
from __future__ import annotations

import redis

from integrations import keys


class AttemptStore:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    def count_failure(self, target: str, who: str, window: int, ttl: int) -> tuple[int, int]:
        """Count one wrong guess at ``target`` from ``who`` in ``window``: (this one's count,
        everyone's count) in the window, after it (one round trip; kept ``ttl`` seconds)."""
        mine = keys.failed_attempts(target, who, window)
        everyone = keys.failed_attempts(target, "all", window)
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.incr(mine)
            pipe.expire(mine, ttl)
            pipe.incr(everyone)
            pipe.expire(everyone, ttl)
            from_me, from_all = pipe.execute()[::2]
        return int(from_me), int(from_all)
