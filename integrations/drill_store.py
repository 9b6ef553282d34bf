"""Drills in Redis: the index of drill incidents (``keys.DRILLS``, a zset of incident id
-> creation time). The incidents themselves are ordinary incidents in the main store."""
from __future__ import annotations

from collections.abc import Iterable

import redis

from integrations import keys
from routing.incident import Incident


class DrillStore:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    def add(self, incidents: Iterable[Incident]) -> None:
        """Index these incidents as drills (by creation time; adding one twice is harmless)."""
        scores = {i.id: i.created_at.timestamp() for i in incidents}
        if scores:
            self.redis.zadd(keys.DRILLS, scores)

    def newest(self, limit: int) -> list[str]:
        """The ids of the ``limit`` newest drills, newest first."""
        return list(self.redis.zrevrange(keys.DRILLS, 0, limit - 1))
