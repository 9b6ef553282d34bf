"""The Redis store: incidents and their place in the due index written atomically.

Every change to an incident goes through :meth:`Store.apply` (by id) or
:meth:`Store.apply_to_group` (by Alertmanager group): read the current version, run the
decision function, then write the new version, its indexes and its due time (``keys.DUE``: a commit that
makes an incident due — pages to send now, a timer — is the worker's signal)
with one script (``store_scripts.COMMIT``) that refuses if anyone wrote the incident —
or, for a webhook, moved the group — in between. A refused write is decided again from
a fresh read, so no two writers ever interleave and no update is lost. Two round trips
per change; a webhook re-send is one (``read_group``).
"""
from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import redis

from integrations import keys
from integrations.store_scripts import COMMIT, READ_GROUP
from routing.decide import Decision
from routing.incident import AlertState, Incident

Decider = Callable[[Incident | None], Decision]
#: Decides for a group: (current incident or None, a fresh incident id if one may open).
GroupDecider = Callable[[Incident | None, str], Decision]
#: Metric increments (hash field, amount) a committed change adds, written with it.
Counter = Callable[[Incident | None, Incident], list[tuple[str, float]]]
#: One script call: (script text, KEYS, ARGV).
ScriptCall = tuple[str, list[str], list[Any]]
T = TypeVar("T")

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


@dataclass(frozen=True)
class GroupIncident:
    """One policy's incident for an alert group, as read: the group pointer, the
    incident it points to, and an incident id reserved in case the decision opens one."""
    pointer: str
    current: Incident | None
    new_id: str


@dataclass(frozen=True)
class GroupRead:
    """What ``read_group`` found. ``same``: every policy's incident already holds these
    alerts — (id, status) per policy — and nothing else was read."""
    same: list[tuple[str, str]] | None = None
    versions: tuple[str, str, str, str] = ("", "", "", "")  # calendars, handoffs, maintenance windows, rules
    incidents: list[GroupIncident] = field(default_factory=list)


def parse_group_read(reply: Sequence[str], policies: int) -> GroupRead:
    if reply[0] == "same":
        return GroupRead(same=[tuple(value.split(":", 2)[1:]) for value in reply[1:]])  # type: ignore[misc]
    found = [GroupIncident(reply[i], Incident.model_validate_json(reply[i + 1]) if reply[i + 1] else None, reply[i + 2])
             for i in range(5, 5 + 3 * policies, 3)]
    return GroupRead(versions=(reply[1], reply[2], reply[3], reply[4]), incidents=found)


def group_read_call(receiver: str, group_key: str, policies: Sequence[str], digest: str,
                    firing: bool) -> tuple[list[str], list[str]]:
    """KEYS and ARGV of ``READ_GROUP`` (``digest`` "": skip the re-send check)."""
    return [keys.digest(receiver, group_key, p) for p in policies], [digest, "1" if firing else "0"]


def commit_call(decision: Decision, previous: Incident | None, *, guard: str = "*", digest: str = "",
                counts: Sequence[tuple[str, float]] = (), follow: Sequence[str]) -> tuple[list[str], list[object]]:
    """KEYS and ARGV of ``COMMIT`` for a changed decision (sets the new version number).
    ``guard``: the group pointer a webhook read ("*" for any other write); ``digest``: of
    the payload the decision applied (a webhook's). The incident's due time goes into the
    due index in the same script: every effect (pages now, timers) is a worker's, found there.
    ``follow``: the sinks that follow incidents (``integrations.followers``: ``Store.followers``),
    required, so no writer can leave them out (an incident change they never see); when the
    timeline grew, each gets its due-index entry (due at the first new entry, unless it has
    one: due already, or a sink's retry time) in the same script, and a cursor at the old
    length if it had none."""
    incident = decision.incident
    assert incident is not None
    same = previous is not None and previous.id == incident.id
    expected = previous.version if same and previous is not None else 0
    incident.version = expected + 1
    created = incident.created_at.timestamp()
    due = incident.due_at()
    keys_ = [keys.incident(incident.id), keys.group(incident.receiver, incident.group_key, incident.policy),
             keys.digest(incident.receiver, incident.group_key, incident.policy), keys.INCIDENTS_ALL,
             keys.INCIDENTS_OPEN, keys.DUE, keys.METRICS, keys.DUE_WAKE, keys.incident_alerts(incident.id),
             keys.INCIDENTS_RESOLVED]
    resolved = (incident.resolved_at or incident.created_at).timestamp() if not incident.is_open else ""
    args: list[object] = [expected, guard, incident.id, incident.model_dump_json(), created,
                          "1" if incident.is_open else "0", digest, incident.status,
                          "" if due is None else due.timestamp(), keys.due_incident(incident.id), len(counts), resolved]
    before = len(previous.timeline) if same and previous is not None else 0
    grew = incident.timeline[before:] if follow else []
    if grew:
        args += [len(follow), min(e.at for e in grew).timestamp(), before, len(incident.timeline)]
        for sink in follow:
            args += [keys.due_follow(sink, incident.id), sink]
    else:
        args += [0, "", 0, 0]
    for name, amount in counts:
        args += [name, amount]
    args.append(len(decision.archive))
    for fingerprint, alert in decision.archive.items():
        args += [fingerprint, "" if alert is None else alert.model_dump_json()]
    for page in incident.pages:
        keys_.append(keys.pending(page.person, page.channel))
        live = page.state == "pending" and incident.status == "triggered"
        args += [f"{incident.id}:{page.round}", page.at.timestamp() if live else ""]
    if grew:
        keys_.append(keys.follow_cursor(incident.id))
    return keys_, args


def versions_in(reply: Sequence[str]) -> tuple[str, str] | None:
    """The calendar and handoff version keys in a ``READ_GROUP`` reply that loaded."""
    return (reply[1], reply[2]) if reply[0] == "load" else None


def group_writes(receiver: str, group_key: str, policies: Sequence[str], read: GroupRead,
                 decide: Callable[[str, GroupIncident, tuple[str, str, str]], Decision], count: Counter | None, *,
                 digest: str, firing: bool, follow: Sequence[str]) -> Generator[ScriptCall, Any, list[Decision]]:
    """The read-decide-commit loop of one alert group, one policy after another, without
    I/O: it yields each script call — ``COMMIT``, and ``READ_GROUP`` of one policy after a
    refused commit — takes the script's raw reply back, and returns the decisions. The
    synchronous store (``Store.run``) and the ingest flow (``service.engine.ingest_flow``)
    drive this same loop. ``decide(policy, slot, versions)``; ``follow``: see ``commit_call``."""
    decisions = []
    for name, slot in zip(policies, read.incidents):
        versions = read.versions
        while True:
            decision = decide(name, slot, versions)
            if not decision.changed or decision.incident is None:
                break
            counts = count(slot.current, decision.incident) if count is not None else []
            keys_, args = commit_call(decision, slot.current, guard=slot.pointer, digest=digest, counts=counts,
                                      follow=follow)
            if (yield (COMMIT, keys_, args)) == "ok":
                break
            keys_, args = group_read_call(receiver, group_key, [name], "", firing)  # someone wrote first
            again = parse_group_read((yield (READ_GROUP, keys_, list(args))), 1)
            [slot], versions = again.incidents, again.versions
        decisions.append(decision)
    return decisions


class Store:
    def __init__(self, client: redis.Redis, count: Counter | None = None) -> None:
        self.redis = client
        self.count = count  # e.g. metrics: what a committed change did, counted in the same write
        #: The sinks following every incident change (``integrations.followers``), set by the runtime.
        self.followers: tuple[str, ...] = ()
        self._claim = client.register_script(_CLAIM)
        self._renew = client.register_script(_RENEW)
        self._commit = client.register_script(COMMIT)
        self._read_group = client.register_script(READ_GROUP)
        self._scripts = {COMMIT: self._commit, READ_GROUP: self._read_group}  # by Lua text (``script``)

    # -- reading ------------------------------------------------------------------------
    def get(self, incident_id: str) -> Incident | None:
        raw = self.redis.get(keys.incident(incident_id))
        return Incident.model_validate_json(raw) if raw else None

    def moved_out_alerts(self, incident: Incident) -> list[AlertState]:
        """The whole resolved alerts that left ``incident``'s hot record (those its
        ``ended`` map still names; at most the cap's worth)."""
        if not incident.ended:
            return []
        raws = self.redis.hmget(keys.incident_alerts(incident.id), list(incident.ended))
        out = []
        for fingerprint, raw in zip(incident.ended, raws):
            if raw:
                out.append(AlertState.model_validate_json(raw))
            else:  # written before the hash existed: what the incident still knows of it
                starts, ends = incident.ended[fingerprint]
                out.append(AlertState(fingerprint=fingerprint, status="resolved", starts_at=starts, ends_at=ends))
        return out

    def list(self, *, open_only: bool = False, limit: int = 100) -> list[Incident]:
        index = keys.INCIDENTS_OPEN if open_only else keys.INCIDENTS_ALL
        ids = self.redis.zrevrange(index, 0, limit - 1)
        if not ids:
            return []
        raws = self.redis.mget([keys.incident(i) for i in ids])
        return [Incident.model_validate_json(r) for r in raws if r]

    def open_ids(self) -> list[str]:
        """Every open incident's id."""
        return [str(i) for i in self.redis.zrange(keys.INCIDENTS_OPEN, 0, -1)]

    def get_many(self, incident_ids: Sequence[str]) -> list[Incident | None]:
        """The incidents of ``incident_ids``, in order (None where one is gone): one round trip."""
        if not incident_ids:
            return []
        raws = self.redis.mget([keys.incident(i) for i in incident_ids])
        return [Incident.model_validate_json(r) if r else None for r in raws]

    def due(self, until: float, limit: int = 500) -> list[str]:
        """Ids of the incidents whose entry in the due index is due by ``until`` (epoch s;
        those claimed by a clock loop right now are in flight, not listed)."""
        prefix = keys.due_incident("")
        members = self.redis.zrangebyscore(keys.DUE, "-inf", until, start=0, num=limit)
        return [m[len(prefix):] for m in members if m.startswith(prefix)]

    def read_group(self, receiver: str, group_key: str, policies: Sequence[str], *, digest: str = "",
                   firing: bool = True) -> GroupRead:
        """One round trip: the re-send check, else each policy's incident (see ``READ_GROUP``)."""
        keys_, args = group_read_call(receiver, group_key, policies, digest, firing)
        return parse_group_read(self._read_group(keys=keys_, args=args), len(policies))

    def ping(self) -> bool:
        return bool(self.redis.ping())

    # -- writing ------------------------------------------------------------------------
    def next_incident_id(self) -> str:
        return str(self.redis.incr(keys.INCIDENT_SEQ))

    def commit(self, decision: Decision, previous: Incident | None, *, guard: str = "*", digest: str = "") -> bool:
        """Write a changed decision unless someone wrote first (False: read and decide again)."""
        assert decision.incident is not None
        counts = self.count(previous, decision.incident) if self.count is not None else []
        keys_, args = commit_call(decision, previous, guard=guard, digest=digest, counts=counts,
                                  follow=self.followers)
        return self._commit(keys=keys_, args=args) == "ok"

    def apply(self, incident_id: str, decide: Decider) -> Decision:
        """Read, decide, write one incident; decided again if another writer came first."""
        while True:
            current = self.get(incident_id)
            decision = decide(current)
            if not decision.changed or decision.incident is None or self.commit(decision, current):
                return decision

    def run(self, calls: Generator[ScriptCall, Any, T]) -> T:
        """Make the script calls ``calls`` yields (``group_writes``) and answer its result."""
        reply = None
        while True:
            try:
                script, keys_, args = calls.send(reply)
            except StopIteration as done:
                return done.value
            reply = self.script(script)(keys=keys_, args=args)

    def script(self, text: str) -> Any:
        """The callable script of this Lua text, registered once (EVALSHA, loaded on demand)."""
        found = self._scripts.get(text)
        if found is None:
            found = self._scripts[text] = self.redis.register_script(text)
        return found

    def apply_to_group(self, receiver: str, group_key: str, policy: str, decide: GroupDecider, *,
                       firing: bool = True, digest: str = "-") -> Decision:
        """The same for one policy's incident of an Alertmanager group (``digest``: of the
        payload ``decide`` applies)."""
        read = self.read_group(receiver, group_key, [policy], firing=firing)
        [decision] = self.run(group_writes(receiver, group_key, [policy], read,
                                           lambda _policy, slot, _versions: decide(slot.current, slot.new_id),
                                           self.count, digest=digest, firing=firing, follow=self.followers))
        return decision

    # -- sending ------------------------------------------------------------------------
    def claim_send(self, incident_id: str, round_: int, person: str, channel: str,
                   holder: str, lease_seconds: int = 120) -> str:
        """Reserve the send-log slot for one page, only while the incident is triggered."""
        result = self._claim(keys=[keys.incident(incident_id), keys.send_log(incident_id, round_, person, channel)],
                             args=[f"claimed:{holder}", lease_seconds])
        return str(result)

    def renew_leases(self, claimed: Sequence[str], value: str, lease_ms: int) -> int:
        """Extend the claims in ``claimed`` that still hold ``value`` (see service.engine.leases)."""
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
