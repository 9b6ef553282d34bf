"""Incidents for people: filtering and ordering the list, and the timeline in words.

Every value here ends up in a template, which escapes it; links are only ever taken
from ``safe_link`` (absolute http(s))."""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from routing.incident import Incident, TimelineEntry
from routing.integration import links_of
from schedules.model import Person
from service.web.render import safe_link

STATUSES = ("open", "triggered", "acknowledged", "resolved", "all")
SEVERITIES = ("P0", "P1", "P2", "P3")
_ORDER = {"triggered": 0, "acknowledged": 1, "resolved": 2}
SERVICE_LABELS = ("service", "job")


def services(incident: Incident) -> set[str]:
    """The services an incident's alerts name (label ``service``, else ``job``)."""
    found = set()
    for alert in incident.alerts.values():
        for label in SERVICE_LABELS:
            if alert.labels.get(label):
                found.add(alert.labels[label])
                break
    return found


def select(incidents: Iterable[Incident], status: str, severity: str, service: str) -> list[Incident]:
    """Filter, then order: open ones first (triggered, then acknowledged), newest first."""
    chosen = [i for i in incidents
              if (status in ("all", "") or (i.is_open if status == "open" else i.status == status))
              and (not severity or i.severity == severity)
              and (not service or service in services(i))]
    chosen.sort(key=lambda i: i.created_at, reverse=True)
    chosen.sort(key=lambda i: _ORDER.get(i.status, 3))
    return chosen


@dataclass(frozen=True)
class Line:
    at: Any
    kind: str
    text: str
    bad: bool = False


def _name(people: Mapping[str, Person], person: object) -> str:
    key = str(person or "")
    return people[key].name if key in people else key


def _own_rules(people: Mapping[str, Person], details: Mapping[str, Any]) -> str:
    """"; Alice Adams by their own rules: voice now, email after 5 min" for each person a
    ``paging``/``escalated`` entry paged by personal rules (routing.personal_rules)."""
    out = ""
    for person, steps in (details.get("personal_rules") or {}).items():
        said = ", ".join(f"{s.get('channel', '?')} " + (f"after {s['delay_minutes']} min" if s.get("delay_minutes")
                                                         else "now") for s in steps)
        out += f"; {_name(people, person)} by their own rules: {said}"
    return out


def describe(entry: TimelineEntry, people: Mapping[str, Person]) -> Line:
    """One timeline entry as a sentence; unknown kinds list their details."""
    d, kind = entry.details, entry.kind
    who = _name(people, d.get("person"))
    by = ""
    if "by" in d:  # "Alice Adams via web", or "Alice Adams (via token ci-bot)" for an API call made for her
        by = _name(people, d.get("by")) + (f" (via token {d['token']})" if d.get("token")
                                           else f" via {d.get('via', '?')}")
    said = f": {d['note']}" if d.get("note") else ""
    page = f"{d.get('channel', '')} to {who} ({d.get('tier', '')}, round {d.get('round', '')})"
    texts = {
        "triggered": f"Triggered: {d.get('severity', '')}, policy {d.get('policy', '')}"
                     + (" — drill" if d.get("drill") else ""),
        "paging": f"Paging {d.get('tier', '')}: {', '.join(_name(people, p) for p in d.get('people', []))}"
                  f" by {', '.join(d.get('channels', []))}" + _own_rules(people, d),
        "escalated": f"Escalated to {d.get('tier', '')} (round {d.get('round', '')}): "
                     f"{', '.join(_name(people, p) for p in d.get('people', []))}"
                     f" by {', '.join(d.get('channels', []))}" + _own_rules(people, d),
        "page": f"Page sent: {page}" + (f", {d['bundled']} incidents in one message" if d.get("bundled", 1) > 1
                                         else "") + (" (after the stop)" if d.get("after_stop") else ""),
        "page_retry": f"Page failed, will retry: {page} — {d.get('detail', '')}",
        "page_deferred": f"Page held by the rate limit: {page}"
                         + (f"; {d.get('tier', '')} has until {d['escalates_at']} to acknowledge" if d.get("escalates_at")
                            else ""),
        "rerouted": f"{_name(people, d.get('person'))} is no longer on call for {d.get('tier', '')}: the waiting "
                    f"{d.get('channel', '')} page goes to {', '.join(_name(people, p) for p in d.get('to', [])) or 'whoever was paged already'}",
        "page_failed": f"Page failed: {page} — {d.get('detail', '')}",
        "delivery_failed": f"Not delivered: {page} — {d.get('detail', '')}",
        "channel_fallback": f"Trying {d.get('next', '')} for {who} after {d.get('failed', '')} failed",
        "no_channel_left": f"No channel left for {who}",
        "coverage_gap": f"Nobody on call for {d.get('tier', '')}: falls through",
        "nobody_on_call": f"Nobody on call from {d.get('from_tier', '')} on; retrying",
        "acknowledged": f"Acknowledged by {by}{said}",
        "resolved": f"Resolved by {by}{said}",
        "note": f"Note by {by}: {d.get('text', '')}",
        "snoozed": f"Snoozed {d.get('minutes', '')} min by {by}",
        "escalate_requested": f"Escalation requested by {by}",
        "reassigned": f"Reassigned by {by} to {_name(people, d.get('person')) or d.get('tier', '')}",
        "retriggered": f"Triggered again: {d.get('reason', '')}",
        "severity_raised": f"Severity raised {d.get('old', '')} → {d.get('new', '')}",
        "alert_added": f"Alert joined: {d.get('alertname', '')}",
        "alert_resolved": f"Alert resolved: {d.get('alertname', '')}",
        "alert_firing": f"Alert firing again: {d.get('alertname', '')}",
        "held": f"Held ({d.get('reason', '')}) until {d.get('until', '')}",
        "released": f"Released: {d.get('reason', '')}",
        "repeat": f"Starting the chain over (repeat {d.get('repeat', '')})",
    }
    text = texts.get(kind) or f"{kind}: " + ", ".join(f"{k}={v}" for k, v in sorted(d.items()))
    bad = kind in ("page_failed", "delivery_failed", "no_channel_left", "coverage_gap", "nobody_on_call", "page_retry")
    return Line(entry.at, kind, text, bad)


def links(incident: Incident) -> list[tuple[str, str]]:
    """(label, url) for every http(s) link: the alerts' own links (the ``links`` annotation
    an integration writes: Grafana's dashboard, panel, silence …), generator URLs and
    *_url / link annotations; each URL once."""
    found: dict[str, str] = {}
    many = len(incident.alerts) > 1
    for alert in incident.alerts.values():
        name = alert.labels.get("alertname", "")
        for link in links_of(alert.annotations):
            if url := safe_link(link.href):
                text = link.text or "link"
                found.setdefault(url, f"{name}: {text}" if many and name else text)
    for alert in incident.alerts.values():
        if url := safe_link(alert.generator_url):
            found.setdefault(url, f"{alert.labels.get('alertname', 'alert')} in Prometheus")
        for key, value in alert.annotations.items():
            if (key.endswith("_url") or key in ("link", "runbook", "dashboard")) and (url := safe_link(value)):
                found.setdefault(url, key.removesuffix("_url").replace("_", " "))
    return [(label, url) for url, label in found.items()]


def paged_people(incident: Incident, people: Mapping[str, Person]) -> list[tuple[str, str, str]]:
    """(name, channel, state) of every page, newest round first."""
    return [(_name(people, p.person), p.channel, p.state)
            for p in sorted(incident.pages, key=lambda p: -p.round)]
