"""What to send, decided without I/O: the delivery plan.

``service.engine.delivery`` runs the stages that talk to Redis and the providers (rate window,
claim, send under a lease, record); every choice between them is made here, from data:

* ``due_targets``: which (person, channel) an incident has pages due for at ``now`` —
  each gets one message, bundling everything due for that person on that channel
  (a P0 incident's target is ``urgent``: no rate window holds it);
* ``still_on_call``: of the pages claimed for a person, those that waited (a rate
  window, a retry) and whose person has gone off call for their tier meanwhile are
  rerouted instead of sent;
* ``plan_message``: the message itself — who, which channel, bundled with which pages,
  addressed how (the address, or the reason there is none, which fails the pages).
"""
from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from routing.incident import Incident
from routing.page_outcomes import NEVER_HELD, gone_off_call
from routing.policy import Policy, Roster

#: One page in a message: (incident id, round).
PageRef = tuple[str, int]


class Contact(Protocol):
    """Where a person can be reached (``schedules.model.Person`` is one)."""

    @property
    def phone(self) -> str | None: ...

    @property
    def email(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Target:
    """One person on one channel with pages due; ``urgent``: the rate window does not hold it."""

    person: str
    channel: str
    urgent: bool = False


@dataclass(frozen=True, slots=True)
class PlannedMessage:
    """One message to send. ``address`` None: it cannot go, for ``reason`` (the pages it
    carries fail with it, and move on to the person's next channel)."""

    person: str
    channel: str
    pages: tuple[PageRef, ...]
    address: str | None
    reason: str = ""

    @property
    def bundled(self) -> int:
        return len(self.pages)

    @property
    def incident_ids(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(incident_id for incident_id, _ in self.pages))


def due_targets(incident: Incident, now: datetime) -> list[Target]:
    """The (person, channel) pairs with a page of this triggered incident due by ``now``,
    in a stable order."""
    if incident.status != "triggered":
        return []
    urgent = incident.severity == NEVER_HELD
    pairs = sorted({(p.person, p.channel) for p in incident.pending_pages() if p.at <= now})
    return [Target(person, channel, urgent) for person, channel in pairs]


def address_for(contact: Contact | None, channel: str) -> str | None:
    """The person's address on ``channel`` (the console needs none: ""); None: none."""
    if contact is None:
        return None
    if channel in ("sms", "voice"):
        return contact.phone
    return contact.email if channel in ("email", "slack") else ""  # a Slack DM finds the person by email


def policies_to_ask(person: str, channel: str, claimed: Sequence[PageRef],
                    incidents: Mapping[str, Incident]) -> set[str]:
    """The policies whose roster ``still_on_call`` needs: those of claimed pages that waited."""
    out = set()
    for incident_id, round_ in claimed:
        incident = incidents.get(incident_id)
        page = _page(incident, round_, person, channel)
        if page is not None and page.waited and incident is not None:
            out.add(incident.policy)
    return out


def still_on_call(person: str, channel: str, claimed: Sequence[PageRef], incidents: Mapping[str, Incident],
                  policies: Mapping[str, Policy], rosters: Mapping[str, Roster]) -> tuple[list[PageRef], list[PageRef]]:
    """(kept, gone): a claimed page that waited and whose person is no longer on call
    for its tier (someone else is) is ``gone`` — rerouted through ``decide`` to whoever
    is on call now; every other page is kept (an unknown incident or policy too: the
    send decides)."""
    kept: list[PageRef] = []
    gone: list[PageRef] = []
    for ref in claimed:
        incident = incidents.get(ref[0])
        page = _page(incident, ref[1], person, channel)
        policy = policies.get(incident.policy) if incident is not None else None
        roster = rosters.get(policy.name) if policy is not None else None
        if page is None or policy is None or roster is None or not gone_off_call(page, policy, roster):
            kept.append(ref)
        else:
            gone.append(ref)
    return kept, gone


def plan_message(person: str, channel: str, pages: Sequence[PageRef], contacts: Mapping[str, Contact], *,
                 opted_out: Collection[str] = (), channels: Collection[str] | None = None) -> PlannedMessage:
    """The message carrying ``pages`` to ``person`` on ``channel``, addressed from
    ``contacts``; ``opted_out``: numbers that replied STOP; ``channels``: those with a
    notifier (None: any)."""
    refs = tuple(pages)
    address = address_for(contacts.get(person), channel)
    if address is None:
        return PlannedMessage(person, channel, refs, None, f"{person} has no {channel} address")
    if channel == "sms" and address in opted_out:
        return PlannedMessage(person, channel, refs, None, "the number replied STOP: SMS opted out")
    if channels is not None and channel not in channels:
        return PlannedMessage(person, channel, refs, None, f"no notifier for channel {channel}")
    return PlannedMessage(person, channel, refs, address)


def plan(due: Mapping[tuple[str, str], Sequence[PageRef]], contacts: Mapping[str, Contact], *,
         opted_out: Collection[str] = (), channels: Collection[str] | None = None) -> list[PlannedMessage]:
    """One message per (person, channel) with pages (``plan_message`` for each), in
    the order given; a pair with nothing to carry sends nothing."""
    return [plan_message(person, channel, pages, contacts, opted_out=opted_out, channels=channels)
            for (person, channel), pages in due.items() if pages]


def _page(incident: Incident | None, round_: int, person: str, channel: str):
    if incident is None:
        return None
    return next((p for p in incident.pages if (p.round, p.person, p.channel) == (round_, person, channel)), None)
