"""The Redis store: incidents and their outbox written atomically.

Every change to an incident goes through :meth:`Store.transact`: WATCH the keys,
read, run the decision function, then MULTI/EXEC the new version, its indexes and
its due time in one go. A concurrent writer makes EXEC fail and the whole
read-decide-write runs again, so no two writers ever interleave.
"""
from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import redis
from redis.client import Pipeline

from integrations import keys
from routing.decide import Decision
from routing.grouping import alerts_digest
from routing.incident import Incident

Decider = Callable[[Incident | None, Pipeline], Decision]

# Claim a send-log slot only while the incident is still triggered. KEYS: incident,
# sendlog. ARGV: claim value, lease seconds. Returns "closed", "sent:…",
# "claimed:…" (someone else holds the lease) or "ok".
_CLAIM = """
local raw = redis.call('GET', KEYS[1])
if not raw then return 'closed' end
if cjson.decode(raw)['status'] ~= 'triggered' then return 'closed' end
local held = redis.call('GET', KEYS[2])
if held then return held end
redis.call('SET', KEYS[2], ARGV[1], 'EX', ARGV[2])
return 'ok'
"""

# Extend the leases a live sender still holds. KEYS: send-log slots, rate windows.
# ARGV: the holder's claim value, lease in ms. A key that changed hands (sent, expired
# and re-claimed) is left alone. Returns how many were renewed.
_RENEW = """
local held = 0
for _, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then
    redis.call('PEXPIRE', key, ARGV[2])
    held = held + 1
  end
end
return held
"""


@dataclass(frozen=True)
class AckGrant:
    incident_id: str
    person: str


class Store:
    def __init__(self, client: redis.Redis,
                 on_commit: Callable[[Incident | None, Incident], None] | None = None) -> None:
        self.redis = client
        self.on_commit = on_commit  # e.g. metrics: what a committed change did
        self._claim = client.register_script(_CLAIM)
        self._renew = client.register_script(_RENEW)

    # -- reading ------------------------------------------------------------------------
    def get(self, incident_id: str) -> Incident | None:
        raw = self.redis.get(keys.incident(incident_id))
        return Incident.model_validate_json(raw) if raw else None

    def list(self, *, open_only: bool = False, limit: int = 100) -> list[Incident]:
        index = keys.INCIDENTS_OPEN if open_only else keys.INCIDENTS_ALL
        ids = self.redis.zrevrange(index, 0, limit - 1)
        if not ids:
            return []
        raws = self.redis.mget([keys.incident(i) for i in ids])
        return [Incident.model_validate_json(r) for r in raws if r]

    def due(self, until: float, limit: int = 500) -> list[str]:
        return list(self.redis.zrangebyscore(keys.DUE, "-inf", until, start=0, num=limit))

    def digests(self, refs: Sequence[tuple[str, str, str]]) -> list[str | None]:
        """The stored "<digest>:<id>:<status>" of each (receiver, group key, policy)."""
        return list(self.redis.mget([keys.digest(*ref) for ref in refs]))

    def ping(self) -> bool:
        return bool(self.redis.ping())

    # -- writing ------------------------------------------------------------------------
    def next_incident_id(self) -> str:
        return str(self.redis.incr(keys.INCIDENT_SEQ))

    def transact(self, watch: Sequence[str], load: Callable[[Pipeline], Incident | None],
                 decide: Decider) -> Decision:
        """WATCH ``watch``, ``load`` the current incident, decide, write atomically."""
        with self.redis.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(*watch)
                    current = load(pipe)
                    decision = decide(current, pipe)
                    if not decision.changed or decision.incident is None:
                        pipe.reset()
                        return decision
                    pipe.multi()
                    self._write(pipe, decision.incident, previous=current)
                    pipe.execute()
                    if self.on_commit is not None:  # once per commit, never per retry
                        self.on_commit(current, decision.incident)
                    return decision
                except redis.WatchError:
                    continue

    def apply(self, incident_id: str, decide: Decider) -> Decision:
        key = keys.incident(incident_id)

        def load(pipe: Pipeline) -> Incident | None:
            raw = pipe.get(key)
            return Incident.model_validate_json(raw) if raw else None

        return self.transact([key], load, decide)

    def apply_to_group(self, receiver: str, group_key: str, policy: str, decide: Decider) -> Decision:
        gkey = keys.group(receiver, group_key, policy)

        def load(pipe: Pipeline) -> Incident | None:
            incident_id = pipe.get(gkey)
            if not incident_id:
                return None
            pipe.watch(keys.incident(incident_id))
            raw = pipe.get(keys.incident(incident_id))
            return Incident.model_validate_json(raw) if raw else None

        return self.transact([gkey], load, decide)

    def _write(self, pipe: Pipeline, incident: Incident, previous: Incident | None) -> None:
        incident.version = (previous.version if previous and previous.id == incident.id else 0) + 1
        created = incident.created_at.timestamp()
        pipe.set(keys.incident(incident.id), incident.model_dump_json())
        pipe.set(keys.group(incident.receiver, incident.group_key, incident.policy), incident.id)
        pipe.set(keys.digest(incident.receiver, incident.group_key, incident.policy),
                 f"{alerts_digest(incident.alerts.values())}:{incident.id}:{incident.status}")
        pipe.zadd(keys.INCIDENTS_ALL, {incident.id: created})
        if incident.is_open:
            pipe.zadd(keys.INCIDENTS_OPEN, {incident.id: created})
        else:
            pipe.zrem(keys.INCIDENTS_OPEN, incident.id)
        for page in incident.pages:
            member = f"{incident.id}:{page.round}"
            if page.state == "pending" and incident.status == "triggered":
                pipe.zadd(keys.pending(page.person, page.channel), {member: page.at.timestamp()})
            else:
                pipe.zrem(keys.pending(page.person, page.channel), member)
        due = incident.due_at()
        if due is None:
            pipe.zrem(keys.DUE, incident.id)
        else:
            pipe.zadd(keys.DUE, {incident.id: due.timestamp()})

    # -- sending ------------------------------------------------------------------------
    def claim_send(self, incident_id: str, round_: int, person: str, channel: str,
                   holder: str, lease_seconds: int = 120) -> str:
        """Reserve the send-log slot for one page, only while the incident is triggered."""
        result = self._claim(keys=[keys.incident(incident_id), keys.send_log(incident_id, round_, person, channel)],
                             args=[f"claimed:{holder}", lease_seconds])
        return str(result)

    def renew_leases(self, claimed: Sequence[str], value: str, lease_ms: int) -> int:
        """Extend the claims in ``claimed`` that still hold ``value`` (see service.leases)."""
        return int(self._renew(keys=list(claimed), args=[value, lease_ms])) if claimed else 0

    def record_sent(self, incident_id: str, round_: int, person: str, channel: str, provider_id: str) -> None:
        self.redis.set(keys.send_log(incident_id, round_, person, channel), f"sent:{provider_id}")

    def release_send(self, incident_id: str, round_: int, person: str, channel: str) -> None:
        self.redis.delete(keys.send_log(incident_id, round_, person, channel))

    # -- ack links ----------------------------------------------------------------------
    def create_ack_token(self, incident_id: str, person: str, ttl_seconds: int) -> str:
        token = secrets.token_urlsafe(18)  # 144 bits
        self.redis.set(keys.ack_token(token), json.dumps({"incident": incident_id, "person": person}),
                       ex=ttl_seconds)
        return token

    def read_ack_token(self, token: str) -> AckGrant | None:
        if not token or len(token) > 64:
            return None
        raw = self.redis.get(keys.ack_token(token))
        if not raw:
            return None
        data = json.loads(raw)
        return AckGrant(incident_id=data["incident"], person=data["person"])
