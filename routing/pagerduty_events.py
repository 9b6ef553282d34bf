"""PagerDuty Events API v2: what a PagerDuty-speaking tool sends, read into a
:class:`~routing.integration.SourceEvent` (alert events, ``POST /v2/enqueue``) or a
:class:`ChangeEvent` (``POST /v2/change/enqueue``).

Pure: the body (already decoded JSON) and, for a trigger without a ``dedup_key``, the key
to give it come in; an event or the list of every problem comes out. The problems are
worded the way PagerDuty words them ("'payload.summary' is missing or blank", "Length of
'dedup_key' is incorrect (should be at most 255 characters)") because the tools log
PagerDuty's answer as it is; the route answers them in PagerDuty's shape (``invalid``).

What becomes what:

- ``payload.severity`` (critical/error/warning/info) is kept as a word here and turned
  into a P-level by the integration (``Integration.severity_of``: its own map, then the
  kind's default, critical=P1, error=P2, warning=P2, info=P3);
- ``payload.source``, ``component``, ``group``, ``class`` and the severity word become
  labels (``source``, ``component``, ``group``, ``class``, ``severity``), so a route tree
  can match on them like on Alertmanager's labels;
- ``payload.custom_details`` (any JSON) becomes details: an object's entries one per
  key, anything else under ``custom_details``; values that are not strings as compact
  JSON; at most ``MAX_DETAILS`` entries of at most ``MAX_DETAIL_VALUE`` characters;
- ``links``, ``images`` (their ``href``, else their ``src``) and ``client_url`` become
  the event's links (at most ``MAX_LINKS``), ``client`` a detail.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from routing.integration import MAX_DEDUP_KEY, Integration, Link, SourceEvent

ACTIONS = ("trigger", "acknowledge", "resolve")
SEVERITY_WORDS = ("critical", "error", "warning", "info")
#: PagerDuty's documented limits: a body of at most 512 KB, a summary of at most 1024 characters.
MAX_BODY_BYTES = 512 * 1024
MAX_SUMMARY = 1024
#: Herald's own bounds on what one event may attach (the rest is left out, not refused).
MAX_DETAILS = 50
MAX_DETAIL_KEY = 100
MAX_DETAIL_VALUE = 1000
MAX_LINKS = 20
MAX_TEXT = 1024  # source, component, group, class, client, link texts
#: Detail names Herald's alert uses itself: a custom detail of that name is kept as ``custom_details.<name>``.
RESERVED_DETAILS = ("summary", "links", "source", "client")

#: PagerDuty's answers, word for word (its Events API v2 reference).
INVALID = {"status": "invalid event", "message": "Event object is invalid"}
UNRECOGNIZED = {"status": "Unrecognized object", "message": "Event object format is unrecognized",
                "errors": ["JSON parse error"]}
INVALID_ROUTING_KEY = "Invalid routing key"


class EventInvalid(ValueError):
    """The body is not a valid event: ``errors`` lists every problem, each naming its field."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors

    def answer(self) -> dict[str, Any]:
        """PagerDuty's 400 body."""
        return {**INVALID, "errors": list(self.errors)}


@dataclass(frozen=True)
class AlertEvent:
    """One alert event as read: ``severity`` still PagerDuty's word; ``generated``: the
    ``dedup_key`` was made here (a trigger that came without one)."""

    routing_key: str
    action: str
    dedup_key: str
    generated: bool = False
    summary: str = ""
    severity: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    details: Mapping[str, str] = field(default_factory=dict)
    links: tuple[Link, ...] = ()
    at: datetime | None = None
    source: str = ""

    def source_event(self, integration: Integration) -> SourceEvent:
        """The event for ``integration``: its severity word as the integration's P-level."""
        severity = integration.severity_of(self.severity) if self.severity else integration.default_severity
        return SourceEvent(action=self.action, dedup_key=self.dedup_key, summary=self.summary,  # type: ignore[arg-type]
                           severity=severity, labels=dict(self.labels), details=dict(self.details),
                           links=self.links, at=self.at, source=self.source)


@dataclass(frozen=True)
class ChangeEvent:
    """A change event: nothing to page; a note on the integration's open incidents."""

    routing_key: str
    summary: str
    source: str = ""
    at: datetime | None = None
    details: Mapping[str, str] = field(default_factory=dict)
    links: tuple[Link, ...] = ()

    def note(self, limit: int = 2000) -> str:
        """The timeline note: the summary, where it came from, its details and links, in at
        most ``limit`` characters."""
        parts = [f"Change: {self.summary}"]
        if self.source:
            parts.append(f"source: {self.source}")
        parts += [f"{name}: {value}" for name, value in self.details.items()]
        parts += [f"{link.text or 'link'}: {link.href}" for link in self.links]
        text = "\n".join(parts)
        return text if len(text) <= limit else text[:limit - 1] + "…"


def decode(body: bytes) -> dict[str, Any]:
    """The JSON object of ``body``; ``EventInvalid`` with PagerDuty's "JSON parse error"
    when it is not JSON or not an object (the route answers ``UNRECOGNIZED``)."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise EventInvalid(["JSON parse error"]) from None
    if not isinstance(data, dict):
        raise EventInvalid(["JSON parse error"])
    return data


def routing_key_of(data: Mapping[str, Any], header: str | None = None) -> str:
    """The integration key: the body's ``routing_key``, else the ``X-Routing-Key`` header
    (PagerDuty's older clients sent it there); "" when neither has one."""
    key = data.get("routing_key")
    if isinstance(key, str) and key.strip():
        return key.strip()
    return (header or "").strip()


def parse_alert(data: Mapping[str, Any], new_dedup_key: str, header_key: str | None = None) -> AlertEvent:
    """Read an alert event (``POST /v2/enqueue``). ``new_dedup_key``: the key a trigger
    without one gets (answered to the caller, as PagerDuty does). ``EventInvalid`` lists
    every problem."""
    errors: list[str] = []
    routing_key = _routing_key(data, header_key, errors)
    action = data.get("event_action")
    if _blank(action):
        errors.append("'event_action' is missing or blank")
        action = ""
    elif action not in ACTIONS:
        errors.append(f"'event_action' is invalid (must be one of: {', '.join(ACTIONS)})")
        action = ""
    dedup_key, generated = _dedup_key(data.get("dedup_key"), action, new_dedup_key, errors)
    payload = data.get("payload")
    if action == "trigger" and not isinstance(payload, dict):
        errors.append("'payload' is missing or not an object" if payload is None else "'payload' must be an object")
    required = action == "trigger" and isinstance(payload, dict)  # no payload: said once, not per field
    payload = payload if isinstance(payload, dict) else {}
    summary = _text(payload, "summary", "payload.summary", errors, required=required, limit=MAX_SUMMARY)
    source = _text(payload, "source", "payload.source", errors, required=required, limit=MAX_TEXT)
    severity = payload.get("severity")
    if _blank(severity):
        if required:
            errors.append("'payload.severity' is missing or blank")
        severity = ""
    elif severity not in SEVERITY_WORDS:
        errors.append(f"'payload.severity' is invalid (must be one of: {', '.join(SEVERITY_WORDS)})")
        severity = ""
    labels = {"severity": severity} if severity else {}
    if source:
        labels["source"] = source
    for name in ("component", "group", "class"):
        value = _text(payload, name, f"payload.{name}", errors, required=False, limit=MAX_TEXT, cut=True)
        if value:
            labels[name] = value
    at = _timestamp(payload.get("timestamp"), "payload.timestamp", errors)
    details = _details(payload.get("custom_details"))
    client = _text(data, "client", "client", errors, required=False, limit=MAX_TEXT, cut=True)
    if client:
        details["client"] = client
    links = _links(data.get("links"), "links", "href", "text", errors)
    links += _links(data.get("images"), "images", "src", "alt", errors, image=True)
    client_url = _text(data, "client_url", "client_url", errors, required=False, limit=MAX_DETAIL_VALUE)
    if client_url:
        links.append(Link(client_url, f"View in {client}" if client else "client"))
    if errors:
        raise EventInvalid(errors)
    return AlertEvent(routing_key=routing_key, action=action, dedup_key=dedup_key, generated=generated,
                      summary=summary, severity=severity, labels=labels, details=details,
                      links=tuple(links[:MAX_LINKS]), at=at, source=source)


def parse_change(data: Mapping[str, Any], header_key: str | None = None) -> ChangeEvent:
    """Read a change event (``POST /v2/change/enqueue``): ``routing_key`` and
    ``payload.summary`` required; ``source``, ``timestamp``, ``custom_details``, ``links``."""
    errors: list[str] = []
    routing_key = _routing_key(data, header_key, errors)
    payload = data.get("payload")
    required = isinstance(payload, dict)  # no payload: said once, not per field
    if not isinstance(payload, dict):
        errors.append("'payload' is missing or not an object" if payload is None else "'payload' must be an object")
        payload = {}
    summary = _text(payload, "summary", "payload.summary", errors, required=required, limit=MAX_SUMMARY)
    source = _text(payload, "source", "payload.source", errors, required=False, limit=MAX_TEXT, cut=True)
    at = _timestamp(payload.get("timestamp"), "payload.timestamp", errors)
    details = _details(payload.get("custom_details"))
    links = _links(data.get("links"), "links", "href", "text", errors)
    if errors:
        raise EventInvalid(errors)
    return ChangeEvent(routing_key=routing_key, summary=summary, source=source, at=at, details=details,
                       links=tuple(links[:MAX_LINKS]))


# -- fields ----------------------------------------------------------------------------------

def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _routing_key(data: Mapping[str, Any], header: str | None, errors: list[str]) -> str:
    raw = data.get("routing_key")
    if raw is not None and not isinstance(raw, str):
        errors.append("'routing_key' must be a string")
        return ""
    key = routing_key_of(data, header)
    if not key:
        errors.append("'routing_key' is missing or blank")
    return key


def _dedup_key(raw: Any, action: str, new_key: str, errors: list[str]) -> tuple[str, bool]:
    if raw is not None and not isinstance(raw, str):
        errors.append("'dedup_key' must be a string")
        return "", False
    if _blank(raw):
        if action == "trigger":
            return new_key, True
        if action:
            errors.append(f"'dedup_key' is missing or blank (it is required to {action})")
        return "", False
    if len(raw) > MAX_DEDUP_KEY:
        errors.append(f"Length of 'dedup_key' is incorrect (should be at most {MAX_DEDUP_KEY} characters)")
        return "", False
    return raw, False


def _text(data: Mapping[str, Any], name: str, where: str, errors: list[str], *, required: bool, limit: int,
          cut: bool = False) -> str:
    """A string field: missing or blank is a problem when ``required``; over ``limit``
    characters a problem, or cut to it (``cut``)."""
    value = data.get(name)
    if _blank(value):
        if required:
            errors.append(f"'{where}' is missing or blank")
        return ""
    if not isinstance(value, str):
        errors.append(f"'{where}' must be a string")
        return ""
    if len(value) > limit:
        if not cut:
            errors.append(f"Length of '{where}' is incorrect (should be at most {limit} characters)")
            return ""
        value = value[:limit]
    return value.strip()


def _timestamp(raw: Any, where: str, errors: list[str]) -> datetime | None:
    """An ISO 8601 time (``2015-07-17T08:42:58.315+0000``, ``…Z``); a time with no offset is UTC."""
    if _blank(raw):
        return None
    if not isinstance(raw, str):
        errors.append(f"'{where}' must be an ISO 8601 timestamp string")
        return None
    text = raw.strip()
    if text.endswith("Z") and ("+" in text[10:-1] or text[10:-1].count("-")):
        text = text[:-1]  # "…+00:00Z": an offset and a Z, as some clients write it
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        errors.append(f"'{where}' is not a valid ISO 8601 timestamp: {raw[:40]!r}")
        return None
    return at if at.tzinfo is not None else at.replace(tzinfo=timezone.utc)


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        text = value
    else:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
    return text if len(text) <= MAX_DETAIL_VALUE else text[:MAX_DETAIL_VALUE - 1] + "…"


def _details(raw: Any) -> dict[str, str]:
    """``custom_details`` as details (strings), bounded; reserved names prefixed."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        return {"custom_details": _as_text(raw)}
    out: dict[str, str] = {}
    for name, value in raw.items():
        if len(out) >= MAX_DETAILS:
            break
        key = str(name)[:MAX_DETAIL_KEY]
        if key in RESERVED_DETAILS:
            key = f"custom_details.{key}"
        out[key] = _as_text(value)
    return out


def _links(raw: Any, where: str, url: str, label: str, errors: list[str], image: bool = False) -> list[Link]:
    """``links`` ({href, text}) or ``images`` ({src, href, alt}: the image's ``href`` if it
    has one, else its ``src``) as links; an entry without its URL is a problem."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        errors.append(f"'{where}' must be an array")
        return []
    out: list[Link] = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            errors.append(f"'{where}[{i}]' must be an object")
            continue
        target = item.get(url)
        if _blank(target) or not isinstance(target, str):
            errors.append(f"'{where}[{i}].{url}' is missing or blank")
            continue
        href = item.get("href") if image and isinstance(item.get("href"), str) and item["href"].strip() else target
        text = item.get(label)
        text = text[:MAX_TEXT] if isinstance(text, str) else ""
        if len(out) < MAX_LINKS:
            out.append(Link(href.strip()[:MAX_DETAIL_VALUE], text or ("image" if image else "")))
    return out
