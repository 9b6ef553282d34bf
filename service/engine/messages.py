"""Incidents -> the ``OutboundPage`` a notifier renders: one incident, or a bundle of
several for the same person (one message per rate-limit window)."""
from __future__ import annotations

from routing.incident import Incident
from routing.severity import most_severe
from integrations.notifier import OutboundPage
from schedules.model import Person

BUNDLE_LISTED = 3  # incidents named in a bundle's text; the rest are counted


def ack_url(base: str, token: str) -> str:
    return f"{base.rstrip('/')}/ack/{token}"


def single_page(incident: Incident, person: Person, channel: str, address: str, round_: int,
                token: str, base: str) -> OutboundPage:
    first = next(iter(incident.alerts.values()), None)
    annotations = dict(first.annotations) if first else {}
    tier = next((p.tier for p in incident.pages if p.round == round_ and p.person == person.id), "")
    return OutboundPage(
        incident_id=incident.id, code=incident.id, round=round_, tier=tier,
        person_id=person.id, person_name=person.name, channel=channel, address=address,
        severity=incident.severity, title=incident.title,
        summary=annotations.get("summary") or annotations.get("description") or incident.title,
        ack_url=ack_url(base, token), resolve_url=ack_url(base, token) + "#resolve",
        generator_url=first.generator_url if first else "",
        labels=dict(first.labels) if first else {}, annotations=annotations, drill=incident.drill,
    )


def bundle_page(incidents: list[Incident], person: Person, channel: str, address: str,
                rounds: dict[str, int], tokens: dict[str, str], base: str) -> OutboundPage:
    """"3 new incidents: #12 P1 DiskFull; … reply 4 to ack all"."""
    ordered = sorted(incidents, key=lambda i: (i.severity, int(i.id) if i.id.isdigit() else 0))
    listed = [f"#{i.id} {i.severity} {'DRILL ' if i.drill else ''}{i.title}" for i in ordered[:BUNDLE_LISTED]]
    more = len(ordered) - len(listed)
    summary = "; ".join(listed) + (f"; and {more} more" if more else "")
    if channel == "email":
        summary += "\n\n" + "\n".join(f"#{i.id} {i.title}: {ack_url(base, tokens[i.id])}" for i in ordered)
    first = ordered[0]
    tier = next((p.tier for p in first.pages if p.round == rounds[first.id] and p.person == person.id), "")
    return OutboundPage(
        incident_id=first.id, code="", round=rounds[first.id], tier=tier,
        person_id=person.id, person_name=person.name, channel=channel, address=address,
        severity=most_severe(i.severity for i in ordered),
        title=f"{len(ordered)} new incidents (reply 4 to ack all)", summary=summary, ack_url="",
        drill=all(i.drill for i in ordered),  # a bundle says DRILL only if every incident in it is one
    )
