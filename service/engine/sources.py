"""Events from integrations (``routing.integration``) into the one ingest flow.

Each source's route (``service/api/``) reads its key and its body, and hands this module
an :class:`~routing.integration.SourceEvent`. From here every source is the same:

- :func:`admit_flow` — the key's integration, its kind checked against the route's, its
  events this minute counted against its rate (one round trip);
- :func:`event_flow` — a *trigger* is the event's alert group through
  ``ingest_flow.group_flow`` (routed, decided, stored like an Alertmanager group); a
  *resolve* ends the alert in the policies whose incident of the key is open; an
  *acknowledge* is ``Acknowledge`` through ``decide()`` on each open incident of the key.
  A resolve or acknowledge for a key with no open incident changes nothing (PagerDuty and
  Opsgenie accept and ignore it).

Both are flows (``service.engine.ingest_flow``): the webhook runs them on the event loop
(``AsyncIngest.run``), the CLI and tests with ``service.engine.ingest.run``.
"""
from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, replace
from typing import Any, Literal

from integrations.config.model import IntegrationSpec
from integrations.integration_store import authenticate_call, parse_authenticated
from integrations.store import GroupIncident, GroupRead, group_read_call, group_writes, parse_group_read
from integrations.store_scripts import READ_GROUP
from routing.decide import Decision, decide
from routing.incident import Acknowledge
from routing.integration import Integration, SourceEvent, event_group
from service.engine.ingest_flow import Request, Script, group_flow, ref, unchanged
from service.engine.runtime import Herald

Refusal = Literal["", "unknown key", "other kind", "over rate"]


@dataclass(frozen=True)
class Admission:
    """``integration`` when the key is let in; else why not (``refusal``) and, over the
    rate, how many seconds until the next minute (``retry_after``)."""

    integration: Integration | None
    refusal: Refusal = ""
    retry_after: int = 0


def integration_of(herald: Herald, name: str, definition: dict | None) -> Integration | None:
    """The integration ``name`` as it is now: made with the API (``definition``), else the
    file's; None if neither has it (removed since its key was made)."""
    if definition is not None:
        return replace(IntegrationSpec.model_validate({**definition, "name": name}).build(), origin="api")
    return herald.config.integrations.get(name)


def admit_flow(herald: Herald, key: str, kind: str) -> Generator[Request, Any, Admission]:
    """Let ``key`` in for a route of ``kind``, counting the event against its integration's
    rate; a key of another kind's integration is refused: a key only opens incidents
    through its own integration."""
    now = herald.clock()
    script, keys_, args = authenticate_call(key, herald.config.integration_keys, now)
    found = parse_authenticated((yield Script(script, keys_, list(args))))
    if found is None:
        return Admission(None, "unknown key")
    integration = integration_of(herald, found.integration, found.definition)
    if integration is None:
        return Admission(None, "unknown key")
    if integration.kind != kind:
        return Admission(None, "other kind")
    if found.count > integration.rate_per_minute:
        return Admission(integration, "over rate", retry_after=max(1, 60 - int(now.timestamp()) % 60))
    return Admission(integration)


def open_incidents_flow(herald: Herald, integration: Integration, dedup_key: str
                        ) -> Generator[Request, Any, tuple[list[str], GroupRead]]:
    """The policies whose incident of ``dedup_key`` is open, and the read restricted to them."""
    policies = list(herald.config.policies)
    keys_, args = group_read_call(integration.receiver, dedup_key, policies, "", True)
    read = parse_group_read((yield Script(READ_GROUP, keys_, list(args))), len(policies))
    chosen = [(name, slot) for name, slot in zip(policies, read.incidents)
              if slot.current is not None and slot.current.is_open]
    return [name for name, _ in chosen], GroupRead(versions=read.versions, incidents=[s for _, s in chosen])


def event_flow(herald: Herald, integration: Integration, event: SourceEvent, digest: str | None = None
               ) -> Generator[Request, Any, list[dict[str, Any]]]:
    """Apply ``event``; answer ``{id, status, changed}`` per incident it touched (none for
    an acknowledge or resolve of a key with no open incident). ``digest`` (a trigger's,
    optional): of the request as received (``routing.grouping.body_digest`` over the
    integration and the body); a trigger equal to the last one applied to its open
    incidents is then answered unchanged in one round trip, as a webhook re-send is."""
    now = herald.clock()
    if event.action == "trigger":
        group = event_group(integration, event, herald.config.route, now)
        read = None
        if digest:
            group = replace(group, digest=digest)
            keys_, args = group_read_call(group.receiver, group.group_key, list(group.policies), digest, True)
            reply = yield Script(READ_GROUP, keys_, list(args))
            read = parse_group_read(reply, len(group.policies))
            if reply[0] == "same":
                return unchanged(read)
        decisions = yield from group_flow(herald, group, read=read, now=now)
        return [ref(d) for d in decisions if d.incident is not None]
    policies, read = yield from open_incidents_flow(herald, integration, event.dedup_key)
    if not policies:
        return []
    if event.action == "resolve":
        group = event_group(integration, event, herald.config.route, now, policies=policies)
        decisions = yield from group_flow(herald, group, read=read, now=now)
        return [ref(d) for d in decisions if d.incident is not None]
    command = Acknowledge(by=integration.name, via=integration.kind)

    def acknowledge(name: str, slot: GroupIncident, _versions: tuple[str, ...]) -> Decision:
        if slot.current is None or not slot.current.is_open:
            return Decision(slot.current)
        return decide(slot.current, command, herald.config.policies[name], {}, now, None)

    decisions = yield from _scripts(group_writes(integration.receiver, event.dedup_key, policies, read, acknowledge,
                                                 herald.store.count, digest="", firing=True))
    return [ref(d) for d in decisions if d.incident is not None]


def _scripts(calls: Generator[tuple[str, list[str], list[Any]], Any, list[Decision]]
             ) -> Generator[Request, Any, list[Decision]]:
    """A store call generator (``group_writes``) as a flow's ``Script`` requests."""
    reply = None
    while True:
        try:
            script, keys_, args = calls.send(reply)
        except StopIteration as done:
            return done.value
        reply = yield Script(script, keys_, args)
