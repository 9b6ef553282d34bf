"""Who may act on an incident by SMS reply or keypress. Pure: data in, data out.

Incident codes are short and sequential, so knowing one proves nothing. A person may
acknowledge, resolve, escalate or snooze an incident from their phone only if they are
involved in it:

* ``paged`` — a page to them for this incident left Herald (its send log: a page
  recorded as sent, or one sent and later reported undelivered);
* ``on_call`` — the roster at ``now`` puts them on one of the policy's tiers (a tier of
  fixed ``people`` counts: they are always on it);
* ``responder`` — the policy names them in ``responders``.

Anyone else is ``not_involved``. The ack link, the console and the API authenticate
their callers in their own ways and do not ask this.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from routing.incident import Incident
from routing.policy import Policy, Roster

Standing = Literal["paged", "on_call", "responder", "not_involved"]


@dataclass(frozen=True, slots=True)
class Involvement:
    """Why ``person`` may act on the incident, or that they may not."""

    person: str
    incident_id: str
    standing: Standing

    @property
    def allowed(self) -> bool:
        return self.standing != "not_involved"


def was_paged(incident: Incident, person: str) -> bool:
    """A page to ``person`` for this incident left Herald (sent, or sent and reported
    undelivered later: it carries the provider's id)."""
    return any(p.person == person and (p.state == "sent" or p.provider_id) for p in incident.pages)


def involvement(incident: Incident, person: str, policy: Policy | None, roster: Roster) -> Involvement:
    """How ``person`` is involved in ``incident``. ``policy``: the incident's policy as
    configured now (None when it was removed: only the send log counts); ``roster``: who
    is on call for each of its tiers at now."""

    def standing() -> Standing:
        if was_paged(incident, person):
            return "paged"
        if policy is None:
            return "not_involved"
        if any(person in roster.get(tier.name, ()) for tier in policy.tiers):
            return "on_call"
        if person in policy.responders:
            return "responder"
        return "not_involved"

    return Involvement(person=person, incident_id=incident.id, standing=standing())
