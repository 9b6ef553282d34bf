"""Maintenance windows in Redis (one hash), read once per decision that needs them."""
from __future__ import annotations

from datetime import datetime, timedelta

import redis

from integrations import keys
from routing.maintenance import MaintenanceWindow

#: Windows that ended longer ago than this are dropped from the hash.
KEEP_ENDED = timedelta(days=30)


class MaintenanceStore:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    def create(self, window: MaintenanceWindow) -> MaintenanceWindow:
        saved = window.model_copy(update={"id": str(self.redis.incr(keys.MAINTENANCE_SEQ))})
        self.redis.hset(keys.MAINTENANCE, saved.id, saved.model_dump_json())
        return saved

    def all(self) -> list[MaintenanceWindow]:
        raws = self.redis.hvals(keys.MAINTENANCE)
        return sorted((MaintenanceWindow.model_validate_json(r) for r in raws), key=lambda w: w.start)

    def get(self, window_id: str) -> MaintenanceWindow | None:
        raw = self.redis.hget(keys.MAINTENANCE, window_id)
        return MaintenanceWindow.model_validate_json(raw) if raw else None

    def end_early(self, window_id: str, now: datetime) -> MaintenanceWindow | None:
        window = self.get(window_id)
        if window is None:
            return None
        if window.effective_end > now:
            window = window.model_copy(update={"ended_early_at": max(now, window.start)})
            self.redis.hset(keys.MAINTENANCE, window_id, window.model_dump_json())
        return window

    def prune(self, now: datetime) -> int:
        old = [w.id for w in self.all() if w.effective_end < now - KEEP_ENDED]
        if old:
            self.redis.hdel(keys.MAINTENANCE, *old)
        return len(old)
