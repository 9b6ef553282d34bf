"""Ingest written once: route, read, decide, commit — a generator of the I/O it needs.

The flow never does I/O itself. It yields requests and is sent their replies, the way
httpx writes an auth flow once and drives it from ``sync_auth_flow`` and
``async_auth_flow``:

- :class:`Script` — run a Lua script; the reply is the script's raw reply.
- :class:`CatchUp` — bring the calendars (and handoffs) current at ``now``: the versions
  Redis just named are not the ones in memory, or a file check is due. Reply: None.
- :class:`Pause` — a big payload's work is split here so other requests get the event
  loop in between. Reply: None.

Two small drivers run it: :func:`service.engine.ingest.run` (synchronous: the CLI, heartbeats,
drills, bench) and :class:`service.engine.ingest_async.AsyncIngest` (``redis.asyncio``, for the
webhook). Neither imports anything of the other. The webhook's edge has already taken
Alertmanager's Watchdog alerts out of the payload (``routing.watchdog``): this module
never sees a heartbeat.

Round trips: one for a re-send (``READ_GROUP``), two for a new or changed group (read,
then ``COMMIT`` per policy), one more each to read maintenance windows or personal
rules whose version moved.
"""
from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from integrations.store import GroupRead, GroupIncident, group_read_call, group_writes, parse_group_read, versions_in
from integrations.store_scripts import READ_GROUP
from routing.alertmanager import WebhookPayload
from routing.decide import Decision, decide
from routing.grouping import AlertGroup, group_of, payload_digest, policies_of, snapshots
from routing.incident import AlertsReceived, AlertState, Hold
from routing.maintenance import hold_for
from routing.personal_rules import NO_RULES, Rulebook
from routing.routes import policies_for
from service.engine.runtime import Herald

#: The receiver of the groups Herald raises itself (heartbeats, drills).
SYNTHETIC_RECEIVER = "herald"
#: Past this many alerts in the payload, or this many bytes of stored incidents read, the
#: work yields the event loop between its steps (parse, decide, write).
PAUSE_OVER_ALERTS = 200
PAUSE_OVER_BYTES = 64 * 1024
#: The alerts of a big payload are turned into snapshots this many at a time.
STEP_ALERTS = 500


@dataclass(frozen=True, slots=True)
class Script:
    """Run ``script`` (Lua text) with ``keys`` and ``args``; reply: its raw reply."""
    script: str
    keys: list[str]
    args: list[Any]


@dataclass(frozen=True, slots=True)
class CatchUp:
    """Bring the calendars current at ``now`` (reply: None)."""
    now: datetime


@dataclass(frozen=True, slots=True)
class Pause:
    """Let others run (reply: None)."""


Request = Script | CatchUp | Pause
#: A flow: yields requests, is sent their replies, returns its answer.
Flow = Generator[Request, Any, Any]


def webhook_flow(herald: Herald, payload: WebhookPayload, digest: str | None = None,
                 ) -> Generator[Request, Any, list[dict[str, Any]]]:
    """Store an Alertmanager group durably (one atomic write per matching policy) and
    answer ``{id, status, changed}`` per incident touched.

    A re-send of an open group changes nothing, pages nobody and costs one Redis round
    trip; a group that fires again after it resolved opens a new incident. ``digest``:
    of the body as received (``body_digest``), else worked out from the payload. The
    payload holds no Watchdog alert (the edge took them out).
    """
    digest = digest or payload_digest(payload)
    policies = policies_of(payload, herald.config.route)
    firing = is_firing(payload)
    keys_, args = group_read_call(payload.receiver, payload.group_key, policies, digest, firing)
    reply = yield Script(READ_GROUP, keys_, args)
    if reply[0] == "same":
        return unchanged(parse_group_read(reply, len(policies)))
    big = len(payload.alerts) > PAUSE_OVER_ALERTS or sum(len(part) for part in reply) > PAUSE_OVER_BYTES
    if big:
        yield Pause()
    read = parse_group_read(reply, len(policies))
    alerts: list[AlertState] = []
    for start in range(0, len(payload.alerts), STEP_ALERTS):
        if big:
            yield Pause()
        alerts += snapshots(payload.alerts[start:start + STEP_ALERTS])
    group = group_of(payload, herald.config.route, herald.config.severity, policies, digest, alerts)
    decisions = yield from group_flow(herald, group, read=read, big=big)
    return [ref(d) for d in decisions if d.incident is not None]


def digested_group_flow(herald: Herald, group: AlertGroup) -> Generator[Request, Any, list[dict[str, Any]]]:
    """Store an alert group a source sent whole (``group.digest``: of the body as received,
    ``body_digest``), as ``webhook_flow`` does an Alertmanager payload: a re-send of what
    every policy's incident holds already is answered unchanged in one round trip; anything
    else is decided from that same read. Answers ``{id, status, changed}`` per incident."""
    keys_, args = group_read_call(group.receiver, group.group_key, group.policies, group.digest, is_firing(group))
    read = parse_group_read((yield Script(READ_GROUP, keys_, args)), len(group.policies))
    if read.same is not None:
        return unchanged(read)
    decisions = yield from group_flow(herald, group, read=read)
    return [ref(d) for d in decisions if d.incident is not None]


def group_flow(herald: Herald, group: AlertGroup, *, drill: bool = False, read: GroupRead | None = None,
               now: datetime | None = None, big: bool = False) -> Generator[Request, Any, list[Decision]]:
    """Decide and store one alert group per matching policy (``read``: the group as the
    caller already read it). Pages and timers travel in the due index, written with the
    incident: a worker's clock loop hands the incident to RQ the moment it is due (see
    ``service.worker.due``); nothing is enqueued here. ``big``: pause between the steps."""
    now = now or herald.clock()
    firing = is_firing(group)
    big = big or len(group.alerts) > PAUSE_OVER_ALERTS
    if big:
        yield Pause()  # after building the group, before deciding
    if read is None:
        keys_, args = group_read_call(group.receiver, group.group_key, group.policies, "", firing)
        read = parse_group_read((yield Script(READ_GROUP, keys_, args)), len(group.policies))
    windows = herald.maintenance.cached_at(read.versions[2])
    if windows is None:  # the windows moved since this process read them
        script, keys_, args = herald.maintenance.read_call()
        windows = herald.maintenance.adopt((yield Script(script, keys_, args)))
    hold = hold_for(list(group.alerts), windows, now)
    # Personal rules, cached under the version the read named: no round trip unless they moved.
    rules = {} if not read.versions[3] else herald.rules.cached_at(read.versions[3])
    if rules is None:
        script, keys_, args = herald.rules.read_call()
        rules = herald.rules.adopt((yield Script(script, keys_, args)))
    book = Rulebook(herald.config.urgency, rules)
    if not herald.calendars.is_current(read.versions[:2], now):
        yield CatchUp(now)
    calls = group_writes(group.receiver, group.group_key, group.policies, read,
                         lambda name, slot, _versions: decide_policy(herald, group, name, slot, now, hold, drill,
                                                                     book),
                         herald.store.count, digest=group.digest, firing=firing, follow=herald.store.followers)
    reply = None
    while True:  # the store's read-decide-commit loop (integrations.store.group_writes)
        try:
            script, keys_, args = calls.send(reply)
        except StopIteration as done:
            return done.value
        if big:
            yield Pause()  # after deciding, before the next policy's (or a re-read's) work
        reply = yield Script(script, keys_, args)
        versions = versions_in(reply) if script == READ_GROUP else None
        if versions is not None and not herald.calendars.is_current(versions, now):
            yield CatchUp(now)  # someone wrote first; deciding again needs current calendars


def synthetic_group(herald: Herald, group_key: str, labels: dict[str, str], annotations: dict[str, str],
                    status: Literal["firing", "resolved"], now: datetime, severity: str | None = None, *,
                    policy: str | None = None, starts_at: datetime | None = None) -> AlertGroup:
    """The group of an alert Herald raises itself: receiver "herald", ``group_key``, one
    alert whose fingerprint is the group key; ``starts_at`` names the episode, so a
    resolve must repeat the opening's. ``policy`` skips the route tree; ``severity``
    overrides the mapping."""
    alert = AlertState(fingerprint=group_key, status=status, labels=dict(labels), annotations=dict(annotations),
                       starts_at=starts_at or now, ends_at=now if status == "resolved" else None)
    policies = (policy,) if policy else tuple(policies_for(herald.config.route, labels))
    return AlertGroup(receiver=SYNTHETIC_RECEIVER, group_key=group_key, policies=policies,
                      severity=severity or herald.config.severity.of(labels),
                      title=(annotations.get("summary") or labels.get("alertname") or group_key)[:200],
                      alerts=(alert,))


def decide_policy(herald: Herald, group: AlertGroup, policy_name: str, slot: GroupIncident, now: datetime,
                hold: Hold | None, drill: bool = False, rules: Rulebook = NO_RULES) -> Decision:
    """The decision for one policy's incident of the group, as read (pure: the rotations
    are in memory, brought current by ``CatchUp`` before; ``rules``: everyone's personal
    rules, read with the group)."""
    policy = herald.config.policies[policy_name]
    command = AlertsReceived(new_id=slot.new_id or (slot.current.id if slot.current else ""),
                             receiver=group.receiver, group_key=group.group_key, severity=group.severity,
                             title=group.title, alerts=list(group.alerts), drill=drill,
                             max_alerts=herald.settings.max_alerts_per_incident, more_firing=group.more_firing,
                             by=group.by, via=group.via)
    return decide(slot.current, command, policy, herald.calendars.roster_at(policy, now), now, hold, rules)


def is_firing(group: AlertGroup | WebhookPayload) -> bool:
    return any(a.status == "firing" for a in group.alerts)


def unchanged(read: GroupRead) -> list[dict[str, Any]]:
    """The answer to a re-send: every policy's incident, unchanged."""
    assert read.same is not None
    return [{"id": incident_id, "status": status, "changed": False} for incident_id, status in read.same]


def ref(decision: Decision) -> dict[str, Any]:
    assert decision.incident is not None
    return {"id": decision.incident.id, "status": decision.incident.status, "changed": decision.changed}
