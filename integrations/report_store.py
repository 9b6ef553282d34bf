"""What the SLA report reads from Redis: incidents by creation time (``keys.INCIDENTS_ALL``)
and the monthly totals kept for incidents removed after their retention."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

import redis

from integrations import keys
from integrations.retention_store import RetentionStore
from routing.incident import Incident

BATCH = 500  # incidents read per MGET


class ReportStore:
    def __init__(self, client: redis.Redis, batch: int = BATCH) -> None:
        self.redis, self.batch = client, batch
        self.retention = RetentionStore(client)

    def created_between(self, start: datetime, end: datetime) -> list[Incident]:
        """Every stored incident created in [start, end), from the creation-time index
        (an id whose incident is gone, purged meanwhile, is skipped)."""
        ids = self.redis.zrangebyscore(keys.INCIDENTS_ALL, start.timestamp(), f"({end.timestamp()}")
        found: list[Incident] = []
        for at in range(0, len(ids), self.batch):
            raws = self.redis.mget([keys.incident(i) for i in ids[at:at + self.batch]])
            found.extend(Incident.model_validate_json(r) for r in raws if r)
        return found

    def archived(self, months: Sequence[str]) -> list[Mapping[str, str]]:
        """The archived totals of each month in ``months`` (empty: none purged)."""
        return self.retention.archived(list(months))
