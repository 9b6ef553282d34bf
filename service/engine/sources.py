"""Events from integrations (``routing.integration``) into the one ingest flow.

Each source's route (``service/api/``) reads its key and its body, and hands this module
an :class:`~routing.integration.SourceEvent`. From here every source is the same:

- :func:`admit_flow` — the key's integration, its kind checked against the route's, its
  events this minute counted against its rate (one round trip);
- :func:`change_flow` — a change (a PagerDuty change event): ``AddNote`` through
  ``decide()`` on each open incident of the integration; none open, nothing written;
- :func:`event_flow` — a *trigger* is the event's alert group through
  ``ingest_flow.group_flow`` (routed, decided, stored like an Alertmanager group; a
  repeat of the same trigger while its incident is open costs one round trip, as an
  Alertmanager re-send does: ``event_digest``); a *resolve* ends the alert in the
  policies whose incident of the key is open; an *acknowledge* is ``Acknowledge``
  through ``decide()`` on each open incident of the key.
  A resolve or acknowledge for a key with no open incident changes nothing (PagerDuty and
  Opsgenie accept and ignore it);
- :func:`admitted_event_flow` — both, a trigger from a file key in one round trip fewer.

These are flows (``service.engine.ingest_flow``): the webhook runs them on the event loop
(``AsyncIngest.run``), the CLI and tests with ``service.engine.ingest.run``.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal

from integrations.admit_read import authenticate_and_read_call
from integrations.config.model import IntegrationSpec, key_digest
from integrations.integration_store import Authenticated, authenticate_call, parse_authenticated
from integrations.receiver_incidents import open_of_receiver_call, parse_incident, parse_incidents, read_incident_call
from integrations.store import GroupIncident, GroupRead, commit_call, group_read_call, group_writes, parse_group_read
from integrations.store_scripts import COMMIT, READ_GROUP
from routing.decide import Decision, decide
from routing.incident import Acknowledge, AddNote, Incident
from routing.grouping import AlertGroup
from routing.integration import Integration, SourceEvent, event_group, policies_of_event
from service.engine.ingest_flow import Request, Script, group_flow, ref, unchanged
from service.engine.runtime import Herald

Refusal = Literal["", "unknown key", "other kind", "over rate"]
#: The open incidents of one integration a change is noted on, at most (the newest first).
MAX_CHANGE_NOTES = 50


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


def event_digest(event: SourceEvent) -> str:
    """The digest of what a trigger says (not when): the group's stored digest after it
    is applied, so a repeat of the same trigger while its incident is open is answered
    from one round trip (``READ_GROUP``'s re-send check), as an Alertmanager re-send is."""
    said = (event.summary, event.severity, sorted(event.labels.items()), sorted(event.details.items()),
            [(link.href, link.text) for link in event.links], event.source)
    return "e" + hashlib.blake2b(repr(said).encode(), digest_size=12).hexdigest()  # strings and tuples only


def admit_flow(herald: Herald, key: str, kind: str) -> Generator[Request, Any, Admission]:
    """Let ``key`` in for a route of ``kind``, counting the event against its integration's
    rate; a key of another kind's integration is refused: a key only opens incidents
    through its own integration."""
    now = herald.clock()
    script, keys_, args = authenticate_call(key, herald.config.integration_keys, now)
    return _admission(herald, parse_authenticated((yield Script(script, keys_, list(args)))), kind, now)


def _admission(herald: Herald, found: Authenticated | None, kind: str, now: datetime) -> Admission:
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


def file_integration(herald: Herald, key: str, kind: str) -> Integration | None:
    """The integration of ``kind`` whose key the configuration file gives as ``key`` (not
    yet checked against revocation: the admitting flows do that), else None."""
    known = herald.config.integrations.get(herald.config.integration_keys.get(key_digest(key), ""))
    return known if known is not None and known.kind == kind else None


def _admit_and_read(herald: Herald, key: str, known: Integration, group_key: str, policies: Sequence[str],
                    digest: str, firing: bool, now: datetime
                    ) -> Generator[Request, Any, tuple[Admission, Any]]:
    """One script (``integrations.admit_read``): ``key`` checked as the file's key of
    ``known``, its event counted, and the group read with ``digest``. The read's raw reply,
    or None when the key was refused or opened another integration than the file's (one
    made with the API: nothing was read)."""
    read_keys, read_args = group_read_call(known.receiver, group_key, policies, digest, firing)
    script, keys_, args = authenticate_and_read_call(key, herald.config.integration_keys, known.name, now,
                                                     read_keys, read_args)
    reply = yield Script(script, keys_, list(args))
    admission = _admission(herald, parse_authenticated(reply[0]), known.kind, now)
    return admission, (reply[1] if len(reply) > 1 and not admission.refusal else None)


def admitted_event_flow(herald: Herald, key: str, kind: str, make_event: Callable[[Integration], SourceEvent]
                        ) -> Generator[Request, Any, tuple[Admission, list[dict[str, Any]]]]:
    """``admit_flow`` then ``event_flow`` with the event ``make_event`` makes for the
    integration let in (none when it is refused). A trigger from a key the file gives
    costs one round trip less: its integration is known beforehand, so its group is read
    in the same script that authenticates the key (``integrations.admit_read``) — a
    repeat of an open incident's trigger is then answered in one round trip."""
    known = file_integration(herald, key, kind)
    event = make_event(known) if known is not None else None
    if known is None or event is None or event.action != "trigger":
        admission = yield from admit_flow(herald, key, kind)
        if admission.refusal or admission.integration is None:
            return admission, []
        return admission, (yield from event_flow(herald, admission.integration, make_event(admission.integration)))
    now = herald.clock()
    policies, digest = policies_of_event(known, event, herald.config.route), event_digest(event)
    admission, read = yield from _admit_and_read(herald, key, known, event.dedup_key, policies, digest, True, now)
    if admission.refusal or admission.integration is None:
        return admission, []
    if read is None:  # the key opened another integration than the file's: the usual way
        return admission, (yield from event_flow(herald, admission.integration, make_event(admission.integration)))
    group = lambda: replace(event_group(known, event, herald.config.route, now, policies), digest=digest)  # noqa: E731
    return admission, (yield from _trigger(herald, group, len(policies), read, now))


def admitted_group_flow(herald: Herald, key: str, known: Integration, group: AlertGroup
                        ) -> Generator[Request, Any, tuple[Admission, list[dict[str, Any]] | None]]:
    """A whole alert group a source sent (Grafana's notification) from the file's key of
    ``known``, ``group.digest`` of its body: the key checked, its event counted and the group
    read with its digest in one script, so a re-send is answered in one round trip; a key
    that turns out revoked or over its rate is refused with nothing written. ``None`` for
    the incidents: the key opened another integration than the file's (one made with the
    API): nothing was read, the caller goes the usual way with the admission in hand."""
    now = herald.clock()
    admission, reply = yield from _admit_and_read(herald, key, known, group.group_key, group.policies, group.digest,
                                                  any(a.status == "firing" for a in group.alerts), now)
    if admission.refusal or admission.integration is None:
        return admission, []
    if reply is None:
        return admission, None
    read = parse_group_read(reply, len(group.policies))
    if read.same is not None:
        return admission, unchanged(read)
    decisions = yield from group_flow(herald, group, read=read, now=now)
    return admission, [ref(d) for d in decisions if d.incident is not None]


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
    an acknowledge or resolve of a key with no open incident). ``digest`` (a trigger's):
    of the request as received (``routing.grouping.body_digest`` over the integration and
    the body), else of what the event says (``event_digest``); a trigger equal to the last
    one applied to its open incidents is then answered unchanged in one round trip, as a
    webhook re-send is (one applied to an incident since resolved opens a new one)."""
    now = herald.clock()
    if event.action == "trigger":
        group = replace(event_group(integration, event, herald.config.route, now),
                        digest=digest or event_digest(event))
        keys_, args = group_read_call(group.receiver, group.group_key, group.policies, group.digest, True)
        reply = yield Script(READ_GROUP, keys_, list(args))
        return (yield from _trigger(herald, lambda: group, len(group.policies), reply, now))
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
                                                 herald.store.count, digest="", firing=True,
                                                 follow=herald.store.followers))
    return [ref(d) for d in decisions if d.incident is not None]


def _trigger(herald: Herald, group: Callable[[], AlertGroup], policies: int, reply: Any, now: datetime
             ) -> Generator[Request, Any, list[dict[str, Any]]]:
    """A trigger, its ``READ_GROUP`` reply (asked with the event's digest, for ``policies``
    policies) in hand; ``group`` makes its alert group, needed unless the reply says the
    open incidents hold it already."""
    read: GroupRead | None = parse_group_read(reply, policies)
    if read is not None and read.same is not None:
        if all(status != "resolved" for _, status in read.same):
            return unchanged(read)  # a repeat of what the open incident holds: nothing to write
        read = None  # resolved since: this trigger opens a new incident, decided from a full read
    decisions = yield from group_flow(herald, group(), read=read, now=now)
    return [ref(d) for d in decisions if d.incident is not None]


def change_flow(herald: Herald, integration: Integration, text: str
                ) -> Generator[Request, Any, list[dict[str, Any]]]:
    """Note ``text`` on the timeline of each open incident of ``integration`` (the newest
    ``MAX_CHANGE_NOTES``), each an ``AddNote`` through ``decide()`` committed atomically;
    answer ``{id, status, changed}`` per incident noted. An incident whose policy left
    the configuration is skipped; a commit someone else got in first is decided again."""
    now = herald.clock()
    command = AddNote(by=integration.name, via=integration.kind, text=text)
    script, keys_, args = open_of_receiver_call(integration.receiver, MAX_CHANGE_NOTES)
    found = parse_incidents((yield Script(script, keys_, list(args))))
    noted: list[dict[str, Any]] = []
    for incident in found:
        current: Incident | None = incident
        while current is not None and current.is_open:
            policy = herald.config.policies.get(current.policy)
            if policy is None:
                break
            decision = decide(current, command, policy, {}, now, None)
            if not decision.changed or decision.incident is None:
                break
            counts = herald.store.count(current, decision.incident) if herald.store.count is not None else []
            keys_, args = commit_call(decision, current, counts=counts, follow=herald.store.followers)
            if (yield Script(COMMIT, keys_, list(args))) == "ok":
                noted.append(ref(decision))
                break
            script, keys_, args = read_incident_call(current.id)  # someone wrote first: decide again
            current = parse_incident((yield Script(script, keys_, list(args))))
    return noted


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
