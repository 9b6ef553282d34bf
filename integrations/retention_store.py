"""Retention in Redis: resolved incidents are removed, each in one atomic script, with
every key and index entry that names it, and counted into its month's SLA totals.

Incident state in Redis, and how long each piece lives (``integrations/keys.py``):

- removed with the incident (``PURGE``): the record; the hash of its alerts moved out of
  the record (``keys.incident_alerts``); its followers' cursors (``keys.follow_cursor``);
  its entries in the all, open, resolved, due and drill indexes; its group pointer and
  digest when they still name it (a group that moved on to a newer incident keeps them);
  its send-log slots and its members of each person's pending-page queue.
- a TTL of their own: ack links (``HERALD_ACK_TOKEN_TTL``), provider message records
  and the latest message per number (7 days), inbound provider events (7 days), send
  leases and rate windows (seconds), wrong-token counters (2 minutes), notices (7 days).
- incidents resolved before this index existed (an older Herald wrote them) are found
  by a walk over all incidents, a chunk a sweep, and purged or indexed as they are.
- left alone: an entry a clock loop claimed (``keys.DUE_INFLIGHT``; its job finds nothing
  and drops it) and RQ's jobs (their own result and failure TTLs; a job for a removed
  incident finds nothing and ends).

``PURGE`` refuses (``changed``) an incident written since it was read and does nothing
(``gone``) for one already removed, so a repeated purge never counts twice. Its first
write is a delete: Redis lets a script that has written go on even when ``maxmemory``
is reached, so purging works — and frees memory — while Redis refuses everything else.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import redis

from integrations import keys
from routing.incident import Incident

# KEYS: 1 incident, 2 group pointer, 3 group digest, 4 all, 5 open, 6 resolved, 7 due (member
#       "incident:<id>", keys.due_incident), 8 drills,
#       9 the month's SLA totals, then ARGV[3] keys to delete whole (the send-log slots, the
#       incident's alert hash and its followers' cursors), then pending-page queues.
# ARGV: 1 the version read, 2 id, 3 how many keys to delete whole, 4 how many (field, amount) pairs,
#       then the pairs, then the member ("id:round") to remove from each pending-page queue.
# Returns "purged", "changed" (written since it was read: read again) or "gone".
PURGE = """
local raw = redis.call('GET', KEYS[1])
if not raw then return 'gone' end
local version = string.match(raw, ',"version":(%d+)}$')
if not version then version = tostring(cjson.decode(raw)['version']) end
if version ~= ARGV[1] then return 'changed' end
local id = ARGV[2]
redis.call('DEL', KEYS[1])
if redis.call('GET', KEYS[2]) == id then redis.call('DEL', KEYS[2]) end
local digest = redis.call('GET', KEYS[3])
if digest and string.match(digest, '^[^:]*:([^:]*):') == id then redis.call('DEL', KEYS[3]) end
for _, k in ipairs({4, 5, 6, 8}) do redis.call('ZREM', KEYS[k], id) end
redis.call('ZREM', KEYS[7], 'incident:' .. id)
local slots = tonumber(ARGV[3])
for k = 10, 9 + slots do redis.call('DEL', KEYS[k]) end
local a = 5
for _ = 1, tonumber(ARGV[4]) do
  redis.call('HINCRBY', KEYS[9], ARGV[a], ARGV[a + 1])
  a = a + 2
end
for k = 10 + slots, #KEYS do
  redis.call('ZREM', KEYS[k], ARGV[a])
  a = a + 1
end
return 'purged'
"""

class RetentionStore:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client
        self._purge = client.register_script(PURGE)

    # -- incidents stored before the resolved-time index existed -------------------------------
    def unindexed(self, chunk: int) -> tuple[list[str], str | None]:
        """The next ``chunk`` incidents (by creation time) after the walk's cursor that are
        resolved but not in the resolved-time index — stored before it existed — and the
        cursor to go on from; ``([], None)`` once the walk is done. Reads only."""
        cursor = self.redis.get(keys.RESOLVED_INDEX_BACKFILL)
        if cursor == "done":
            return [], None
        found = self.redis.zrangebyscore(keys.INCIDENTS_ALL, cursor or "-inf", "+inf", start=0, num=chunk,
                                         withscores=True)
        if not found:
            return [], "done"
        with self.redis.pipeline(transaction=False) as pipe:
            for incident_id, _ in found:
                pipe.zscore(keys.INCIDENTS_OPEN, incident_id)
                pipe.zscore(keys.INCIDENTS_RESOLVED, incident_id)
            scores = pipe.execute()
        legacy = [i for n, (i, _) in enumerate(found) if scores[2 * n] is None and scores[2 * n + 1] is None]
        first, last = found[0][1], found[-1][1]
        if len(found) < chunk:
            return legacy, "done"
        # Inclusive: incidents created in the same instant as the last one are read again
        # (harmless). A whole chunk created in one instant would never move it: step past.
        return legacy, repr(last if last > first else math.nextafter(last, math.inf))

    def walked(self, cursor: str) -> None:
        self.redis.set(keys.RESOLVED_INDEX_BACKFILL, cursor)

    def candidates(self, resolved_before: float, limit: int) -> list[str]:
        """Ids of incidents resolved before ``resolved_before`` (epoch s), oldest first."""
        return list(self.redis.zrangebyscore(keys.INCIDENTS_RESOLVED, "-inf", resolved_before, start=0, num=limit))

    def read(self, ids: Sequence[str]) -> list[Incident | None]:
        raws = self.redis.mget([keys.incident(i) for i in ids]) if ids else []
        return [Incident.model_validate_json(raw) if raw else None for raw in raws]

    def reindex(self, incident_id: str, resolved_at: float | None) -> None:
        """Correct a candidate's entry: its real resolution time, or none (not stored, not resolved)."""
        if resolved_at is None:
            self.redis.zrem(keys.INCIDENTS_RESOLVED, incident_id)
        else:
            self.redis.zadd(keys.INCIDENTS_RESOLVED, {incident_id: resolved_at})

    def purge(self, incident: Incident, month: str, totals: Sequence[tuple[str, int]]) -> str:
        """Remove ``incident`` as read (its version) with everything that names it, and add
        ``totals`` to ``month``'s SLA totals in the same script: "purged", "changed", "gone"."""
        pointer = keys.group(incident.receiver, incident.group_key, incident.policy)
        digest = keys.digest(incident.receiver, incident.group_key, incident.policy)
        pages = {(p.round, p.person, p.channel) for p in incident.pages}
        queues = sorted({(p.person, p.channel, f"{incident.id}:{p.round}") for p in incident.pages})
        keys_ = [keys.incident(incident.id), pointer, digest, keys.INCIDENTS_ALL, keys.INCIDENTS_OPEN,
                 keys.INCIDENTS_RESOLVED, keys.DUE, keys.DRILLS, keys.sla_month(month)]
        # Deleted whole: each send-log slot, the hash of its alerts moved out of the record,
        # and its followers' cursors.
        deleted = [keys.send_log(incident.id, *page) for page in sorted(pages)] + [
            keys.incident_alerts(incident.id), keys.follow_cursor(incident.id)]
        keys_ += deleted
        keys_ += [keys.pending(person, channel) for person, channel, _ in queues]
        args: list[object] = [incident.version, incident.id, len(deleted), len(totals)]
        for name, amount in totals:
            args += [name, amount]
        args += [member for _, _, member in queues]
        return str(self._purge(keys=keys_, args=args))

    def archived(self, months: Sequence[str]) -> list[Mapping[str, str]]:
        """The SLA totals of these months' purged incidents (one round trip)."""
        if not months:
            return []
        with self.redis.pipeline(transaction=False) as pipe:
            for month in months:
                pipe.hgetall(keys.sla_month(month))
            return list(pipe.execute())

    def forget_workers(self, last_seen_before: float) -> int:
        """Drop the heartbeats of workers not seen since ``last_seen_before`` (every RQ
        worker has a new random name, so each restart would add one for good)."""
        return int(self.redis.zremrangebyscore(keys.WORKER_HEARTBEAT, "-inf", f"({last_seen_before}"))
