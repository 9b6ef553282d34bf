"""Followers: things outside an incident's state machine that follow every change of it,
in order, at least once, without ever slowing a page (outgoing webhooks, a chat message).

A follower is a *sink* with a name ("webhook:<endpoint>", "slack"). For each (sink,
incident) pair Redis holds a cursor (``keys.follow_cursor``: how many of the incident's
timeline entries the sink has processed; the timeline only ever grows, so an index into
it names one entry for good). The incident commit (``store_scripts.COMMIT``) puts one
due-index entry per sink (``keys.due_follow``) in the index, due now, whenever the
timeline grew (a sink that has an entry keeps it: due already, or backing off after a
failure — a new change does not hammer a dead endpoint) — the same atomic write as the change itself, so no change can be
committed without its followers being told. A worker runs the entry
(``service.engine.followers``): it reads the incident once, hands the sink each entry past
its cursor and advances the cursor after each one the sink is done with. A crash between
the sink's work and the cursor's advance hands the same entry again: at least once.

A sink answers each entry with a :class:`Step`: done (the cursor moves on: delivered,
not wanted, or given up) or not yet (its entry in the due index is re-armed at
``retry_at``; the entries after it wait, so order holds). Each sink has its own entry,
so a slow or dead sink delays nobody else.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

import redis

from integrations import keys
from routing.incident import Incident, TimelineEntry


@dataclass(frozen=True)
class Step:
    """A sink's answer for one timeline entry: ``done`` moves the cursor past it; else it is
    handed again at ``retry_at`` (None: the runner's default backoff)."""
    done: bool
    retry_at: datetime | None = None


DONE = Step(True)


@runtime_checkable
class Sink(Protocol):
    """A follower of every incident. ``handle`` is called once per timeline entry, in
    order, at least once (a redelivery hands the same ``index`` again); it must bound its
    own time (HTTP timeouts): the entry's claim is renewed while it runs, but the entries
    after it wait."""

    name: str

    def handle(self, incident: Incident, index: int, entry: TimelineEntry, now: datetime) -> Step:
        ...


@runtime_checkable
class HandoffSink(Sink, Protocol):
    """A follower that is also told of each handoff created, in the order they were made
    (``handoff``: its stored JSON form, without the note)."""

    def handle_handoff(self, handoff: dict[str, Any], now: datetime) -> Step:
        ...


#: The field of ``keys.follow_cursor`` that holds the timeline's length (written by COMMIT).
TIMELINE_FIELD = "#timeline"

# KEYS: 1 the incident's cursors. ARGV: 1 sink, 2 new cursor. Only ever forward (a job that
# outlived its claim must not move a newer job's cursor back). Returns the cursor now.
_ADVANCE = """
local was = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if tonumber(ARGV[2]) > was then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  return tonumber(ARGV[2])
end
return was
"""


class FollowStore:
    """The followers' cursors, and what the repair pass reads to find a lost entry."""

    def __init__(self, client: redis.Redis) -> None:
        self.redis = client
        self._advance = client.register_script(_ADVANCE)

    def cursor(self, sink: str, incident_id: str) -> int | None:
        """How many timeline entries ``sink`` processed (None: it never followed this incident)."""
        value = self.redis.hget(keys.follow_cursor(incident_id), sink)
        return None if value is None else int(value)

    def advance(self, sink: str, incident_id: str, to: int) -> int:
        """Move the cursor forward to ``to`` (never back); answers the cursor."""
        return int(self._advance(keys=[keys.follow_cursor(incident_id)], args=[sink, to]))

    def cursors(self, incident_ids: Sequence[str], sinks: Sequence[str]) -> list[tuple[int, list[int | None]]]:
        """Per incident, its timeline's length as its last commit left it (0: never written
        with followers) and each sink's cursor (None: none): one round trip, no incident read."""
        if not incident_ids:
            return []
        with self.redis.pipeline(transaction=False) as pipe:
            for incident_id in incident_ids:
                pipe.hmget(keys.follow_cursor(incident_id), [TIMELINE_FIELD, *sinks])
            replies = pipe.execute()
        return [(int(reply[0] or 0), [None if v is None else int(v) for v in reply[1:]]) for reply in replies]

    def resolved_since(self, since: float, limit: int = 10_000) -> list[str]:
        """Ids of the incidents resolved at or after ``since`` (epoch s): their last changes
        may still be on their way to a follower."""
        return [str(i) for i in self.redis.zrangebyscore(keys.INCIDENTS_RESOLVED, since, "+inf", start=0, num=limit)]

    # -- handoffs: one sequence, one cursor per sink (``HandoffStore.create`` wakes the sinks) --
    def handoff_cursor(self, sink: str) -> int | None:
        """The number of the last handoff ``sink`` processed (None: it never followed handoffs)."""
        value = self.redis.hget(keys.HANDOFFS_FOLLOW, sink)
        return None if value is None else int(value)

    def advance_handoffs(self, sink: str, to: int) -> int:
        return int(self._advance(keys=[keys.HANDOFFS_FOLLOW], args=[sink, to]))

    def forget(self, incident_id: str, sink: str) -> None:
        """Drop one sink's cursor (tests: a sink that never saw the incident)."""
        self.redis.hdel(keys.follow_cursor(incident_id), sink)
