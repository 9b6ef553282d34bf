"""The last good copy of each calendar, kept in Redis (``keys.calendar(name)``).

Every process holding a ``CalendarBook`` writes here when it has a new good copy and
reads from here at start-up when its source is unreachable, so the last good rotation
survives restarts. Uploads and fetched URL copies also bump ``keys.CALENDARS_VERSION``:
other processes see the new version with one MGET and adopt the copy without fetching.
The hash also records the last fetch or upload outcome, shared by every process.
"""
from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime

import redis

from integrations import keys
from integrations.calendar_sources import digest

_META = ("sha256", "version", "origin", "loaded_at", "etag", "last_modified", "checked_at", "error", "error_at")


@dataclass(frozen=True, slots=True)
class StoredCopy:
    data: bytes
    sha256: str
    version: int
    origin: str  # "file" | "url" | "upload"
    loaded_at: datetime | None
    etag: str | None
    last_modified: str | None


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


class CalendarCopies:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    def read(self, schedule: str) -> StoredCopy | None:
        raw = self.redis.hmget(keys.calendar(schedule), ["data", "sha256", "version", "origin", "loaded_at",
                                                         "etag", "last_modified"])
        data, sha, version, origin, loaded_at, etag, last_modified = raw
        if not data:
            return None
        return StoredCopy(base64.b64decode(data), sha or "", int(version or 0), origin or "",
                          _time(loaded_at), etag or None, last_modified or None)

    def meta(self, schedule: str) -> dict[str, str | None]:
        """Everything but the data: version, load time, last check and last error."""
        return dict(zip(_META, self.redis.hmget(keys.calendar(schedule), list(_META)), strict=True))

    def save(self, schedule: str, data: bytes, *, origin: str, now: datetime, etag: str | None = None,
             last_modified: str | None = None, announce: bool = True) -> int:
        """Store a new good copy and clear the last error; returns its version.

        ``announce`` bumps CALENDARS_VERSION so every process adopts it (uploads, URLs);
        file copies are kept only as a fallback: each host reads its own file.
        """
        key = keys.calendar(schedule)
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping={"data": base64.b64encode(data).decode(), "sha256": digest(data),
                                    "origin": origin, "loaded_at": now.isoformat(), "checked_at": now.isoformat(),
                                    "etag": etag or "", "last_modified": last_modified or ""})
            pipe.hdel(key, "error", "error_at")
            pipe.hincrby(key, "version", 1)
            if announce:
                pipe.incr(keys.CALENDARS_VERSION)
            return int(pipe.execute()[2])

    def checked(self, schedule: str, now: datetime, etag: str | None, last_modified: str | None) -> None:
        """The source answered and the copy in force is current (304, or the same bytes)."""
        key = keys.calendar(schedule)
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping={"checked_at": now.isoformat(), "etag": etag or "",
                                    "last_modified": last_modified or ""})
            pipe.hdel(key, "error", "error_at")
            pipe.execute()

    def failed(self, schedule: str, now: datetime, error: str) -> None:
        self.redis.hset(keys.calendar(schedule), mapping={"error": error, "error_at": now.isoformat()})

    def claim_poll(self, schedule: str, holder: str, seconds: float) -> bool:
        """True for the one process that polls this schedule's URL in this interval
        (and again for that process when it polls early, e.g. at a forced refresh)."""
        key, ttl = keys.calendar_poll(schedule), max(1, int(seconds * 1000))
        if self.redis.set(key, holder, nx=True, px=ttl):
            return True
        if self.redis.get(key) == holder:
            self.redis.set(key, holder, px=ttl)
            return True
        return False
