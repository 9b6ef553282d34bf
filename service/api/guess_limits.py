"""Limits on guessing credentials, kept in Redis so every API replica shares them.

Only *wrong* guesses are limited. A route checks the credential first and counts it
here only when it is wrong: a right acknowledgement link or a right console credential
always works, from any address, however many wrong ones came before — behind a reverse
proxy every client shares one address, and a scan must not lock the people it is not
aimed at out. Checking first is safe because what can be presented cannot be
enumerated: ack tokens carry 144 random bits; ``HERALD_API_TOKENS`` entries and the
console password have at least 16 characters (``HERALD_API_TOKEN`` should be as long).

Wrong guesses are counted per clock minute, per client address and per target (the ack
links, the console login: each has its own counts). Past ``per_client`` wrong guesses
from one address in the minute, or ``per_target`` from all addresses together (a
distributed scan), a wrong guess is answered 429 with ``Retry-After`` instead of "not
valid" until the minute ends. What this buys is a scanner slowed and reported (the log
says when a limit is reached) and the lookups it causes bounded, not secrecy: that is
the credentials' length.

The client address is the TCP peer: behind a reverse proxy it is the proxy's.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Request

from integrations.attempt_store import AttemptStore

log = logging.getLogger("herald.ratelimit")
WINDOW_SECONDS = 60


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after: int = 0
    reason: str = ""


ALLOWED = Verdict(True)


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


class FailureLimiter:
    def __init__(self, attempts: AttemptStore, target: str, per_client: int, per_target: int,
                 clock: Callable[[], float] | None = None) -> None:
        self.attempts, self.target = attempts, target
        self.per_client, self.per_target = per_client, per_target
        self._clock = clock or time.time

    def failed(self, ip: str) -> Verdict:
        """Count one wrong guess from ``ip``: refused once it is over either limit (one
        round trip; Redis errors propagate as 503)."""
        now = self._clock()
        window = int(now // WINDOW_SECONDS)
        from_ip, from_all = self.attempts.count_failure(self.target, f"ip:{ip}", window, ttl=2 * WINDOW_SECONDS)
        if from_ip == self.per_client + 1 or from_all == self.per_target + 1:
            log.warning("%s: wrong-guess limit reached (%s from this address, %s from all this minute)",
                        self.target, from_ip, from_all)
        left = max(1, int((window + 1) * WINDOW_SECONDS - now) + 1)
        if from_ip > self.per_client:
            return Verdict(False, left, "too many wrong tries from this address")
        if from_all > self.per_target:
            return Verdict(False, left, "too many wrong tries, try again shortly")
        return ALLOWED
