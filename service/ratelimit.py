"""Rate limits on guessing credentials, kept in Redis so every API replica shares them.

Acknowledgement links carry 144-bit tokens, so guessing one is hopeless; the limit is
defence in depth and keeps a scanner from turning link lookups into Redis load. Only
*wrong* tokens count: a client address that tried ``per_ip`` wrong tokens in the
current minute gets 429 until the minute ends, and once all clients together tried
``overall`` wrong tokens every lookup gets 429 for the rest of the minute (a
distributed scan). Right tokens never count, so people acknowledging are not slowed
by each other — only by a scan in progress, which the log reports.

The client address is the TCP peer: behind a reverse proxy every request comes from
the proxy, so size ``per_ip`` for it (or let the proxy limit per client).
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis

from integrations import keys

log = logging.getLogger("herald.ratelimit")
WINDOW_SECONDS = 60


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after: int = 0
    reason: str = ""


class FailureLimiter:
    def __init__(self, client: redis.Redis, kind: str, per_ip: int, overall: int,
                 clock: Callable[[], float] | None = None) -> None:
        self.redis, self.kind = client, kind
        self.per_ip, self.overall = per_ip, overall
        self._clock = clock or time.time

    def _window(self) -> tuple[int, int]:
        now = self._clock()
        window = int(now // WINDOW_SECONDS)
        return window, max(1, int((window + 1) * WINDOW_SECONDS - now) + 1)

    def check(self, ip: str) -> Verdict:
        """May ``ip`` try a credential now? (One MGET; Redis errors propagate as 503.)"""
        window, left = self._window()
        mine, everyone = self.redis.mget([keys.failed_attempts(self.kind, f"ip:{ip}", window),
                                          keys.failed_attempts(self.kind, "all", window)])
        if int(mine or 0) >= self.per_ip:
            return Verdict(False, left, "too many wrong links from this address")
        if int(everyone or 0) >= self.overall:
            return Verdict(False, left, "too many wrong links, try again shortly")
        return Verdict(True)

    def failed(self, ip: str) -> None:
        """Count one wrong credential from ``ip``."""
        window, _ = self._window()
        mine = keys.failed_attempts(self.kind, f"ip:{ip}", window)
        everyone = keys.failed_attempts(self.kind, "all", window)
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.incr(mine)
            pipe.expire(mine, 2 * WINDOW_SECONDS)
            pipe.incr(everyone)
            pipe.expire(everyone, 2 * WINDOW_SECONDS)
            counts = pipe.execute()
        if counts[0] == self.per_ip or counts[2] == self.overall:
            log.warning("%s: wrong-credential limit reached (%s from this address, %s overall this minute)",
                        self.kind, counts[0], counts[2])
