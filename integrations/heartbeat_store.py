"""Heartbeats in Redis: a zset of deadlines, a hash of details and a hash of the
silences an incident was opened for.

A deadline is kept to the millisecond, and a silence is named by the deadline it
passed (``missing_since``): every sweep that sees the same silence names it the same
way, so the incident it opens is one alert episode however many workers open it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import redis

from integrations import keys

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

# Forget a silence only if it is still the one the caller resolved. KEYS: missing hash.
# ARGV: name, the silence (epoch ms). Returns 1 if it was removed.
_CLEAR = """
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  return redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0
"""

# Record a ping, keeping what the ping does not name. KEYS: details hash, deadlines zset,
# missing hash. ARGV: name, kind, timeout (s) or "" to keep, severity or "" to keep, now
# (ISO 8601), now (epoch ms), the default timeout. Returns the details JSON, the new
# deadline (epoch ms) and the silence an incident is open for ("" if none).
_PING = """
local raw = redis.call('HGET', KEYS[1], ARGV[1])
local old = {}
if raw then old = cjson.decode(raw) end
local timeout = tonumber(ARGV[3]) or tonumber(old['timeout']) or tonumber(ARGV[7])
local severity = ARGV[4]
if severity == '' then severity = old['severity'] or 'P1' end
local details = cjson.encode({kind = ARGV[2], timeout = timeout, severity = severity,
                              created_at = old['created_at'] or ARGV[5], last_ping = ARGV[5]})
local deadline = tonumber(ARGV[6]) + math.floor(timeout * 1000 + 0.5)
redis.call('HSET', KEYS[1], ARGV[1], details)
redis.call('ZADD', KEYS[2], string.format('%.3f', deadline / 1000), ARGV[1])
return {details, string.format('%d', deadline), redis.call('HGET', KEYS[3], ARGV[1]) or ''}
"""


def to_ms(at: datetime) -> int:
    return (at - EPOCH) // timedelta(milliseconds=1)


def from_ms(ms: int) -> datetime:
    return EPOCH + timedelta(milliseconds=ms)


@dataclass(frozen=True)
class Heartbeat:
    name: str
    kind: str  # "heartbeat" (pinged over the API) or "watchdog" (Alertmanager's Watchdog alert)
    timeout: float  # seconds a ping keeps it alive
    severity: str
    created_at: datetime
    last_ping: datetime
    deadline: datetime
    missing_since: datetime | None = None  # the deadline whose silence an incident was opened for

    def late(self, now: datetime) -> bool:
        return now >= self.deadline

    def view(self, now: datetime) -> dict:
        return {"name": self.name, "kind": self.kind, "state": "late" if self.late(now) else "ok",
                "timeout_seconds": self.timeout, "severity": self.severity,
                "created_at": self.created_at.isoformat(), "last_ping": self.last_ping.isoformat(),
                "deadline": self.deadline.isoformat(),
                "paged_since": self.missing_since.isoformat() if self.missing_since else None}


class HeartbeatStore:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client
        self._clear = client.register_script(_CLEAR)
        self._ping = client.register_script(_PING)

    def ping(self, name: str, now: datetime, *, kind: str = "heartbeat", timeout: float | None = None,
             severity: str | None = None, default_timeout: float = 300.0) -> Heartbeat:
        """Record a ping: the deadline moves to ``now + timeout``. A ping without a
        timeout or severity keeps the stored ones (or takes the defaults)."""
        script, keys_, args = self.ping_call(name, now, kind=kind, timeout=timeout, severity=severity,
                                             default_timeout=default_timeout)
        return self.pinged(name, self._ping(keys=keys_, args=args))

    @staticmethod
    def ping_call(name: str, now: datetime, *, kind: str = "heartbeat", timeout: float | None = None,
                  severity: str | None = None, default_timeout: float = 300.0) -> tuple[str, list[str], list[str]]:
        """The script call of ``ping`` (one atomic round trip), for a caller doing its own
        I/O (the webhook's event loop); give its reply to ``pinged``."""
        return _PING, [keys.HEARTBEATS, keys.HEARTBEAT_DEADLINES, keys.HEARTBEATS_MISSING], [
            name, kind, "" if timeout is None else repr(float(timeout)), severity or "", now.isoformat(),
            str(to_ms(now)), repr(float(default_timeout))]

    @classmethod
    def pinged(cls, name: str, reply: list[str]) -> Heartbeat:
        details, deadline, missing = reply
        return cls._build(name, json.loads(details), int(deadline), missing or None)

    @staticmethod
    def clear_call(name: str, since: datetime) -> tuple[str, list[str], list[str]]:
        """The script call of ``clear_missing``."""
        return _CLEAR, [keys.HEARTBEATS_MISSING], [name, str(to_ms(since))]

    def get(self, name: str) -> Heartbeat | None:
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.hget(keys.HEARTBEATS, name)
            pipe.zscore(keys.HEARTBEAT_DEADLINES, name)
            pipe.hget(keys.HEARTBEATS_MISSING, name)
            raw, score, missing = pipe.execute()
        if raw is None or score is None:
            return None
        return self._build(name, json.loads(raw), round(score * 1000), missing)

    def all(self) -> list[Heartbeat]:
        names = sorted(self.redis.hkeys(keys.HEARTBEATS))
        return [hb for hb in (self.get(n) for n in names) if hb is not None]

    def next_deadline_after(self, now: datetime) -> datetime | None:
        """The earliest heartbeat deadline later than ``now``, if any."""
        nearest = self.redis.zrangebyscore(keys.HEARTBEAT_DEADLINES, f"({now.timestamp()}", "+inf",
                                           start=0, num=1, withscores=True)
        return datetime.fromtimestamp(nearest[0][1], timezone.utc) if nearest else None

    def missing(self) -> dict[str, datetime]:
        """Every silence an incident was opened for and not yet resolved."""
        return {name: from_ms(int(ms)) for name, ms in self.redis.hgetall(keys.HEARTBEATS_MISSING).items()}

    def mark_missing(self, name: str, since: datetime) -> None:
        self.redis.hset(keys.HEARTBEATS_MISSING, name, str(to_ms(since)))

    def clear_missing(self, name: str, since: datetime) -> bool:
        _script, keys_, args = self.clear_call(name, since)
        return bool(self._clear(keys=keys_, args=args))

    def delete(self, name: str) -> None:
        """Forget the heartbeat (its silence too: resolve the incident first)."""
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.hdel(keys.HEARTBEATS, name)
            pipe.zrem(keys.HEARTBEAT_DEADLINES, name)
            pipe.hdel(keys.HEARTBEATS_MISSING, name)
            pipe.execute()

    @staticmethod
    def _build(name: str, details: dict, deadline_ms: int, missing: str | None) -> Heartbeat:
        return Heartbeat(name=name, kind=details["kind"], timeout=float(details["timeout"]), severity=details["severity"],
                         created_at=datetime.fromisoformat(details["created_at"]),
                         last_ping=datetime.fromisoformat(details["last_ping"]), deadline=from_ms(deadline_ms),
                         missing_since=from_ms(int(missing)) if missing else None)
