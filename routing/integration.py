"""Integrations: sources of alerts other than Alertmanager, each with its own key.

Pure. An integration (PagerDuty Events v2, Opsgenie, Grafana Alerting, generic JSON) turns
what its callers send into :class:`SourceEvent` values (the parsers live beside this module,
one per kind); :func:`event_group` turns an event into the same :class:`AlertGroup` an
Alertmanager notification becomes, so every source enters the one ingest flow, the one
``decide()``, the same dedup and escalation.

An event's group is ``(receiver, group_key)`` = ``("<kind>:<integration>", dedup key)``: one
dedup key is one incident per matching policy while it is open, and a trigger after it
resolved opens a new one, as PagerDuty and Opsgenie do. The event's alert is one alert
whose fingerprint is the dedup key; a resolve is an end with no length ("ends what is
open", the episode rule in ``routing.decide``).
"""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from routing.grouping import AlertGroup
from routing.incident import AlertState
from routing.routes import Route, policies_for
from routing.severity import SEVERITIES

KINDS = ("pagerduty", "opsgenie", "grafana", "generic")
Kind = Literal["pagerduty", "opsgenie", "grafana", "generic"]
Action = Literal["trigger", "acknowledge", "resolve"]

#: Events an integration may send a minute before it is answered 429 (PagerDuty documents 120).
DEFAULT_RATE_PER_MINUTE = 120
#: Longest dedup key (PagerDuty's limit) and title kept.
MAX_DEDUP_KEY = 255
MAX_TITLE = 200
#: The annotations an event's alert is given by Herald itself (an event's detail of the same
#: name is kept as ``details.<name>``).
OWN_ANNOTATIONS = ("summary", "source", "links")
#: The label every integration's alerts carry: its name (route trees may match on it).
INTEGRATION_LABEL = "integration"

#: Each kind's severity words -> Herald's P-levels, unless the integration's config says otherwise.
DEFAULT_SEVERITY: dict[str, dict[str, str]] = {
    "pagerduty": {"critical": "P1", "error": "P2", "warning": "P2", "info": "P3"},
    "opsgenie": {"p1": "P1", "p2": "P2", "p3": "P3", "p4": "P3", "p5": "P3"},
    "grafana": {},  # Grafana's alerts carry labels: the file's severity mapping reads them
    "generic": {"critical": "P1", "error": "P2", "warning": "P2", "info": "P3"},
}


@dataclass(frozen=True)
class Integration:
    """One integration: where its events go (``policy``, else the route tree over its
    alerts' labels with ``labels`` added), how its severity words map to P-levels, and how
    many events a minute it may send. ``origin``: "config" (the file) or "api"."""

    name: str
    kind: Kind
    policy: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    severity: Mapping[str, str] = field(default_factory=dict)  # word (lower case) -> P-level
    default_severity: str = "P2"
    rate_per_minute: int = DEFAULT_RATE_PER_MINUTE
    mapping: Mapping[str, str] = field(default_factory=dict)  # generic: field -> JMESPath expression
    sample: Any = None  # generic: a body check-config evaluates the mapping against
    origin: Literal["config", "api"] = "config"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {self.kind!r}")
        bad = [v for v in (*self.severity.values(), self.default_severity) if v not in SEVERITIES]
        if bad:
            raise ValueError(f"severity must map to one of {', '.join(SEVERITIES)}, not {bad[0]!r}")

    @property
    def receiver(self) -> str:
        """The receiver its incidents carry: the source, on the timeline and in the console."""
        return f"{self.kind}:{self.name}"

    def severity_of(self, word: str | None) -> str:
        """``word`` (a PagerDuty severity, an Opsgenie priority …) as a P-level: the
        integration's own map, then its kind's default map, then ``default_severity``."""
        key = (word or "").strip().lower()
        if key.upper() in SEVERITIES and key not in self.severity:
            return key.upper()
        return self.severity.get(key) or DEFAULT_SEVERITY[self.kind].get(key) or self.default_severity


@dataclass(frozen=True)
class Link:
    href: str
    text: str = ""


@dataclass(frozen=True)
class SourceEvent:
    """What one call of a source asks: open or update (``trigger``), acknowledge or resolve
    the incident of ``dedup_key``. ``severity`` is already a P-level; ``details`` are shown
    with the alert; ``at``: when the source says it happened (kept, not trusted for order)."""

    action: Action
    dedup_key: str
    summary: str = ""
    severity: str = "P2"
    labels: Mapping[str, str] = field(default_factory=dict)
    details: Mapping[str, str] = field(default_factory=dict)
    links: Sequence[Link] = ()
    at: datetime | None = None
    source: str = ""

    def __post_init__(self) -> None:
        if not self.dedup_key or len(self.dedup_key) > MAX_DEDUP_KEY:
            raise ValueError(f"dedup key must be 1 to {MAX_DEDUP_KEY} characters")
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {', '.join(SEVERITIES)}, not {self.severity!r}")


def event_labels(integration: Integration, event: SourceEvent) -> dict[str, str]:
    """The labels the route tree matches on: the event's, then the integration's (which
    win: the integration's config decides where its alerts go), then its name."""
    return {**event.labels, **integration.labels, INTEGRATION_LABEL: integration.name}


def policies_of_event(integration: Integration, event: SourceEvent, route: Route) -> tuple[str, ...]:
    if integration.policy:
        return (integration.policy,)
    return tuple(policies_for(route, event_labels(integration, event)))


def links_annotation(links: Sequence[Link]) -> str:
    """Links as the ``links`` annotation: a JSON list of ``{"href", "text"}``."""
    return json.dumps([{"href": link.href, "text": link.text} for link in links], separators=(",", ":"))


def links_of(annotations: Mapping[str, str]) -> list[Link]:
    """The links an alert's ``links`` annotation holds (none when it is absent or unreadable)."""
    try:
        raw = json.loads(annotations.get("links") or "[]")
    except ValueError:
        return []
    if not isinstance(raw, list):
        return []
    return [Link(str(item.get("href", "")), str(item.get("text", ""))) for item in raw
            if isinstance(item, dict) and item.get("href")]


def event_group(integration: Integration, event: SourceEvent, route: Route, now: datetime,
                policies: Sequence[str] | None = None) -> AlertGroup:
    """The alert group of ``event``: one alert, fingerprint = dedup key, starting ``now``
    (a trigger) or ending now with no length (a resolve: it ends what is open).
    ``policies``: the caller's (an acknowledge or resolve goes to the policies whose
    incident of the key is open, whatever the route tree says now); else routed."""
    if event.action == "acknowledge":
        raise ValueError("an acknowledgement is a command on the open incidents, not an alert")
    # A detail never takes the place of what Herald itself writes: it is kept as details.<key>.
    annotations = {(f"details.{k}" if k in OWN_ANNOTATIONS else k): v for k, v in event.details.items()}
    annotations["summary"] = event.summary
    if event.source:
        annotations["source"] = event.source
    if event.links:
        annotations["links"] = links_annotation(event.links)
    resolved = event.action == "resolve"
    alert = AlertState(fingerprint=event.dedup_key, status="resolved" if resolved else "firing",
                       labels=event_labels(integration, event), annotations=annotations,
                       starts_at=now, ends_at=now if resolved else None,
                       generator_url=event.links[0].href if event.links else "")
    chosen = tuple(policies) if policies is not None else policies_of_event(integration, event, route)
    title = (event.summary.strip() or event.dedup_key)[:MAX_TITLE]
    return AlertGroup(receiver=integration.receiver, group_key=event.dedup_key, policies=chosen,
                      severity=event.severity, title=title, alerts=(alert,), by=integration.name,
                      via=integration.kind)
