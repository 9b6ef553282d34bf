"""Any JSON: a generic integration's mapping (JMESPath expressions) over a body -> a
:class:`~routing.integration.SourceEvent`.

Pure. The mapping gives, each as one JMESPath expression over the body:

- ``title`` (required): text (a string or a number). Nothing found is an error.
- ``dedup_key``: text, at most 255 characters; nothing found is an error. Without it the
  key is a stable hash of the title: the same title is the same incident while it is open.
- ``severity``: a word mapped by ``Integration.severity_of`` (the integration's ``severity``
  map, then critical/error/warning/info, then a P-level as is, else its default severity).
- ``status``: a word (any case) -> the action: ``STATUS_WORDS`` (resolved, resolve, ok,
  closed, close, inactive, recovered, normal -> resolve; acknowledged, acknowledge, ack ->
  acknowledge); anything else, or nothing found, -> trigger.
- ``details``: an object; each value kept as text (a string as is, anything else as compact
  JSON), at most ``MAX_DETAILS`` entries of ``MAX_DETAIL_CHARS`` characters each.
- ``links``: a list of URLs (strings) or of ``{"href", "text"}`` objects (or one of them),
  at most ``MAX_LINKS``.
- ``source``: text, where the event comes from.

Optional fields that find nothing take their default; a field that finds the wrong
kind of value, or an expression that fails on the body, is a :class:`MappingError` naming
the field and the expression — the route's 400 and ``herald check-config`` say the same.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import jmespath
from jmespath.exceptions import JMESPathError
from jmespath.parser import ParsedResult

from routing.integration import MAX_DEDUP_KEY, Action, Integration, Link, SourceEvent

#: Status words (compared in lower case, trimmed) and the action each asks for.
STATUS_WORDS: dict[str, Action] = {
    **{w: "resolve" for w in ("resolved", "resolve", "ok", "closed", "close", "inactive", "recovered", "normal")},
    **{w: "acknowledge" for w in ("acknowledged", "acknowledge", "ack")},
}
MAX_SUMMARY = 1024
MAX_DETAILS = 50
MAX_DETAIL_CHARS = 1000
MAX_LINKS = 20
MAX_SOURCE = 255
#: The prefix of a dedup key made from the title (no ``dedup_key`` in the mapping).
HASHED_KEY_PREFIX = "title-"


class MappingError(ValueError):
    """A body the mapping cannot read: ``field``, its ``expression`` and what is wrong."""

    def __init__(self, field: str, expression: str, problem: str) -> None:
        self.field, self.expression, self.problem = field, expression, problem
        super().__init__(f"{field}: the expression {expression!r} {problem}")


@lru_cache(maxsize=1024)
def _compiled(expression: str) -> ParsedResult:
    return jmespath.compile(expression)


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", bool: "true or false", str: "a string", int: "a number",
            float: "a number"}.get(type(value), type(value).__name__)


def search(field: str, expression: str, body: Any) -> Any:
    """The expression's value over ``body`` (None: nothing found)."""
    try:
        return _compiled(expression).search(body)
    except JMESPathError as exc:
        raise MappingError(field, expression, f"failed on the body: {' '.join(str(exc).split())}") from None


def _text(field: str, expression: str, value: Any, required: bool) -> str | None:
    if value is None or value == "":
        if required:
            raise MappingError(field, expression, "found nothing in the body")
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise MappingError(field, expression, f"found {_kind(value)}, not text")
    return value if isinstance(value, str) else json.dumps(value)


def status_action(word: str | None) -> Action:
    """A status word -> trigger, acknowledge or resolve (``STATUS_WORDS``; else trigger)."""
    return STATUS_WORDS.get((word or "").strip().lower(), "trigger")


def hashed_key(title: str) -> str:
    """The dedup key of a title, when the mapping gives none: stable across processes."""
    return HASHED_KEY_PREFIX + hashlib.sha256(title.encode()).hexdigest()[:32]


def _details(expression: str, value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise MappingError("details", expression, f"found {_kind(value)}, not an object")
    out: dict[str, str] = {}
    for name, item in list(value.items())[:MAX_DETAILS]:
        text = item if isinstance(item, str) else json.dumps(item, separators=(",", ":"), sort_keys=True)
        out[str(name)[:100]] = text[:MAX_DETAIL_CHARS]
    return out


def _links(expression: str, value: Any) -> list[Link]:
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    links: list[Link] = []
    for number, item in enumerate(items):
        if isinstance(item, str) and item.strip():
            links.append(Link(item.strip()))
        elif isinstance(item, dict) and isinstance(item.get("href"), str) and item["href"].strip():
            text = item.get("text")
            links.append(Link(item["href"].strip(), text if isinstance(text, str) else ""))
        elif item is not None and item != "":
            raise MappingError("links", expression,
                               f"found {_kind(item)} at index {number}, not a URL or an object with href")
    return links[:MAX_LINKS]


def evaluate(mapping: Mapping[str, str], body: Any, integration: Integration) -> SourceEvent:
    """The event ``body`` is, read through ``mapping``; a :class:`MappingError` if it cannot be."""
    if "title" not in mapping:
        raise MappingError("title", "", "is missing: a generic integration maps at least title")

    def found(field: str) -> Any:
        return search(field, mapping[field], body) if field in mapping else None

    title = _text("title", mapping["title"], found("title"), required=True)
    assert title is not None
    title = title.strip()[:MAX_SUMMARY]
    if "dedup_key" in mapping:
        dedup_key = _text("dedup_key", mapping["dedup_key"], found("dedup_key"), required=True)
        assert dedup_key is not None
        if len(dedup_key) > MAX_DEDUP_KEY:
            raise MappingError("dedup_key", mapping["dedup_key"],
                               f"found {len(dedup_key)} characters; a dedup key holds at most {MAX_DEDUP_KEY}")
    else:
        dedup_key = hashed_key(title)
    severity_word = _text("severity", mapping.get("severity", ""), found("severity"), required=False)
    status_word = _text("status", mapping.get("status", ""), found("status"), required=False)
    source = _text("source", mapping.get("source", ""), found("source"), required=False) or ""
    return SourceEvent(action=status_action(status_word), dedup_key=dedup_key, summary=title,
                       severity=integration.severity_of(severity_word),
                       details=_details(mapping.get("details", ""), found("details")),
                       links=tuple(_links(mapping.get("links", ""), found("links"))),
                       source=source.strip()[:MAX_SOURCE])


def event_of(integration: Integration, body: Any) -> SourceEvent:
    """``body`` read through the integration's own mapping."""
    return evaluate(integration.mapping, body, integration)


def preview(event: SourceEvent) -> dict[str, Any]:
    """The event as ``herald check-config`` shows it (and the docs describe it)."""
    return {"action": event.action, "dedup_key": event.dedup_key, "title": event.summary,
            "severity": event.severity, "source": event.source, "details": dict(event.details),
            "links": [{"href": link.href, "text": link.text} for link in event.links]}
