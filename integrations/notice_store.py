"""Notices' send slots in Redis: one key per (notice, person), so a notice goes out once
however often its job runs. The slot is claimed before the send ("sending"), freed when
the send must be retried, and holds the outcome afterwards — for ``ttl`` seconds."""
from __future__ import annotations

import redis

from integrations import keys

NOTICE_TTL_SECONDS = 7 * 86400


class NoticeStore:
    def __init__(self, client: redis.Redis, ttl: int = NOTICE_TTL_SECONDS) -> None:
        self.redis, self.ttl = client, ttl

    def claim(self, ref: str, person: str) -> bool:
        """Take the slot; False when this notice went, or is going, to this person already."""
        return bool(self.redis.set(keys.notice(ref, person), "sending", nx=True, ex=self.ttl))

    def release(self, ref: str, person: str) -> None:
        """Free the slot, so a retry of the job may send the notice."""
        self.redis.delete(keys.notice(ref, person))

    def record(self, ref: str, person: str, outcome: str) -> None:
        """Keep the send's outcome in the slot (it stays taken)."""
        self.redis.set(keys.notice(ref, person), outcome, ex=self.ttl)

    def outcome(self, ref: str, person: str) -> str | None:
        """What the slot holds: "sending", the outcome, or None when free."""
        return self.redis.get(keys.notice(ref, person))
