"""Maintenance windows in Redis (one hash), read once per decision that needs them.

Every write bumps ``keys.MAINTENANCE_VERSION`` in the same transaction, so a process that
learns the version some other way (the webhook's one read) reuses its cached windows
until the version moves (``at_version``)."""
from __future__ import annotations

from datetime import datetime, timedelta

import redis

from integrations import keys
from routing.maintenance import MaintenanceWindow

#: Windows that ended longer ago than this are dropped from the hash.
KEEP_ENDED = timedelta(days=30)

# The version and every window, in one atomic read. KEYS: version, windows hash.
READ_WINDOWS = """
local out = {redis.call('GET', KEYS[1]) or ''}
for _, raw in ipairs(redis.call('HVALS', KEYS[2])) do out[#out + 1] = raw end
return out
"""


class MaintenanceStore:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client
        self._cached: tuple[str, list[MaintenanceWindow]] | None = None

    def _save(self, window: MaintenanceWindow) -> None:
        with self.redis.pipeline() as pipe:  # MULTI: the window and the version move together
            pipe.hset(keys.MAINTENANCE, window.id, window.model_dump_json())
            pipe.incr(keys.MAINTENANCE_VERSION)
            pipe.execute()

    def create(self, window: MaintenanceWindow) -> MaintenanceWindow:
        saved = window.model_copy(update={"id": str(self.redis.incr(keys.MAINTENANCE_SEQ))})
        self._save(saved)
        return saved

    def all(self) -> list[MaintenanceWindow]:
        with self.redis.pipeline() as pipe:
            pipe.get(keys.MAINTENANCE_VERSION)
            pipe.hvals(keys.MAINTENANCE)
            version, raws = pipe.execute()
        windows = sorted((MaintenanceWindow.model_validate_json(r) for r in raws), key=lambda w: w.start)
        self._cached = (version or "", windows)
        return list(windows)

    def read_call(self) -> tuple[str, list[str], list[str]]:
        """The script call that reads the windows (for a caller doing its own I/O, as the
        webhook's flow does); give its reply to ``adopt``."""
        return READ_WINDOWS, [keys.MAINTENANCE_VERSION, keys.MAINTENANCE], []

    def adopt(self, reply: list[str]) -> list[MaintenanceWindow]:
        """The windows a ``read_call`` reply holds, cached under its version."""
        windows = sorted((MaintenanceWindow.model_validate_json(r) for r in reply[1:]), key=lambda w: w.start)
        self._cached = (reply[0] or "", windows)
        return list(windows)

    def cached_at(self, version: str) -> list[MaintenanceWindow] | None:
        """The cached windows if they are ``version``'s, else None (no I/O)."""
        cached = self._cached
        return list(cached[1]) if cached is not None and cached[0] == version else None

    def at_version(self, version: str) -> list[MaintenanceWindow]:
        """The windows as of ``version`` (read from ``keys.MAINTENANCE_VERSION`` just now):
        the cached list when it is that version, else a fresh read."""
        cached = self.cached_at(version)
        return self.all() if cached is None else cached

    def get(self, window_id: str) -> MaintenanceWindow | None:
        raw = self.redis.hget(keys.MAINTENANCE, window_id)
        return MaintenanceWindow.model_validate_json(raw) if raw else None

    def end_early(self, window_id: str, now: datetime) -> MaintenanceWindow | None:
        window = self.get(window_id)
        if window is None:
            return None
        if window.effective_end > now:
            window = window.model_copy(update={"ended_early_at": max(now, window.start)})
            self._save(window)
        return window

    def prune(self, now: datetime) -> int:
        old = [w.id for w in self.all() if w.effective_end < now - KEEP_ENDED]
        if old:
            with self.redis.pipeline() as pipe:
                pipe.hdel(keys.MAINTENANCE, *old)
                pipe.incr(keys.MAINTENANCE_VERSION)
                pipe.execute()
        return len(old)
