"""Handoffs (overrides) in Redis: one hash of id -> JSON, and a version counter.

Every create or cancel bumps ``keys.HANDOFFS_VERSION`` in the same MULTI/EXEC, so each
process's ``CalendarBook`` notices with one MGET and rebuilds its rotations. Ids are
sequential ("h1", "h2", ...): the rotation applies handoffs in id order, so a later
handoff wins where two overlap.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any

import redis

from integrations import keys
from schedules.model import Handoff


@dataclass(frozen=True, slots=True)
class StoredHandoff:
    id: str
    schedule: str
    tier: str
    to: str
    start: datetime
    end: datetime
    from_person: str | None = None
    note: str = ""
    created_at: datetime | None = None
    created_by: str = ""

    def as_handoff(self) -> Handoff:
        return Handoff(id=self.id, tier=self.tier, to=self.to, start=self.start, end=self.end,
                       from_person=self.from_person, note=self.note)

    @property
    def order(self) -> int:
        return int(self.id[1:]) if self.id[1:].isdigit() else 0

    def to_json(self) -> str:
        return json.dumps({
            "id": self.id, "schedule": self.schedule, "tier": self.tier, "to": self.to,
            "from": self.from_person, "start": self.start.isoformat(), "end": self.end.isoformat(),
            "note": self.note, "created_at": self.created_at.isoformat() if self.created_at else None,
            "created_by": self.created_by,
        })

    @classmethod
    def from_json(cls, raw: str) -> StoredHandoff:
        data: dict[str, Any] = json.loads(raw)
        created = data.get("created_at")
        return cls(id=data["id"], schedule=data["schedule"], tier=data["tier"], to=data["to"],
                   start=datetime.fromisoformat(data["start"]), end=datetime.fromisoformat(data["end"]),
                   from_person=data.get("from"), note=data.get("note") or "",
                   created_at=datetime.fromisoformat(created) if created else None,
                   created_by=data.get("created_by") or "")


class HandoffStore:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client
        #: The followers told of each new handoff (``integrations.followers``), set by the runtime.
        self.followers: tuple[str, ...] = ()

    def create(self, handoff: StoredHandoff) -> StoredHandoff:
        """Store ``handoff`` under a new id (its own id is ignored) and announce it. Each
        follower's due-index entry (``keys.due_handoffs``) is written in the same
        MULTI/EXEC, due now unless it has one; a follower with no cursor yet starts at
        this handoff."""
        number = self.redis.incr(keys.HANDOFF_SEQ)
        stored = replace(handoff, id=f"h{number}")
        at = (stored.created_at or datetime.now(timezone.utc)).timestamp()
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(keys.HANDOFFS, stored.id, stored.to_json())
            pipe.incr(keys.HANDOFFS_VERSION)
            for sink in self.followers:
                pipe.zadd(keys.DUE, {keys.due_handoffs(sink): at}, nx=True)
                pipe.hsetnx(keys.HANDOFFS_FOLLOW, sink, number - 1)
            if self.followers:
                pipe.lpush(keys.DUE_WAKE, "wake")
                pipe.ltrim(keys.DUE_WAKE, 0, 7)
            pipe.execute()
        return stored

    def get(self, handoff_id: str) -> StoredHandoff | None:
        raw = self.redis.hget(keys.HANDOFFS, handoff_id)
        return StoredHandoff.from_json(raw) if raw else None

    def all(self) -> list[StoredHandoff]:
        """Every stored handoff, in the order they were created."""
        found = [StoredHandoff.from_json(raw) for raw in self.redis.hvals(keys.HANDOFFS)]
        return sorted(found, key=lambda h: h.order)

    def cancel(self, handoff_id: str) -> StoredHandoff | None:
        """Remove a handoff (the calendar applies again); None when there is no such one."""
        raw = self.redis.hget(keys.HANDOFFS, handoff_id)
        if raw is None:
            return None
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.hdel(keys.HANDOFFS, handoff_id)
            pipe.incr(keys.HANDOFFS_VERSION)
            removed, _ = pipe.execute()
        return StoredHandoff.from_json(raw) if removed else None

    def prune(self, ended_before: datetime) -> int:
        """Forget handoffs that ended before ``ended_before``; returns how many."""
        old = [h.id for h in self.all() if h.end < ended_before]
        if old:
            with self.redis.pipeline(transaction=True) as pipe:
                pipe.hdel(keys.HANDOFFS, *old)
                pipe.incr(keys.HANDOFFS_VERSION)
                pipe.execute()
        return len(old)
