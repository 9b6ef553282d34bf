"""Opsgenie's Alert API (the part tools use) read into :class:`~routing.integration.SourceEvent`.

Pure: a request's JSON body (already decoded) and the integration in, an event out, or
:class:`~routing.errors.Invalid` naming the field and what is wrong (the route answers it
as Opsgenie's 422 ``{"message", "took", "requestId"}``).

Create (``POST /v2/alerts``), field by field:

- ``message`` — required, a non-blank string: the incident's title. Over 130 characters it
  is cut to 130 (Opsgenie's limit; a page must not be lost for a long title).
- ``alias`` — the dedup key: one alias is one incident while it is open, as Opsgenie's
  de-duplication. Up to 512 characters (longer: 422). Herald's dedup keys hold 255, so an
  alias over 255 characters becomes its first 180 characters, ``~`` and the SHA-256 of the
  whole alias in hex (:func:`dedup_key_of`): deterministic, so a later close by the same
  alias finds the incident. Absent: the caller's ``new_alias`` (each create without an
  alias is a new alert, as in Opsgenie).
- ``description`` (≤ 15000, cut there), ``entity`` (≤ 512), ``source`` (≤ 100), ``user``
  (≤ 100), ``note`` (≤ 25000): strings, kept in the alert's details (annotations).
- ``priority`` — ``P1``…``P5`` (default ``P3``), through ``Integration.severity_of``
  (the integration's ``severity`` map, else P1→P1, P2→P2, P3/P4/P5→P3).
- ``tags`` — up to 20 strings of up to 50 characters. A tag ``key:value`` whose key is a
  label name becomes the label ``key=value`` (``team:db`` → ``team="db"``: the route
  tree can match it); every tag, in order, is in the label ``tags`` joined with ``,``.
- ``details`` — a map of string keys to strings (numbers and booleans are written as
  JSON); shown with the alert. A key that Herald's own annotations use (``summary``,
  ``links`` and the fields above) is kept as ``details.<key>``.
- ``actions`` — up to 10 strings, kept as the detail ``actions`` (joined with ``, ``).
- ``responders``, ``visibleTo`` — accepted and ignored: Herald's policies say who is paged.

Labels: the tags' (above), then ``entity``, ``source`` and ``opsgenie_priority`` (the
word as sent: ``P4``) when given; the integration's own labels win over all of them.

Close and acknowledge bodies: ``user``, ``source``, ``note`` (strings, all optional).
"""
from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from routing.errors import Invalid
from routing.integration import MAX_DEDUP_KEY, Integration, SourceEvent

MAX_MESSAGE = 130
MAX_ALIAS = 512
MAX_DESCRIPTION = 15000
MAX_TAGS, MAX_TAG = 20, 50
MAX_ACTIONS, MAX_ACTION = 10, 50
MAX_DETAILS = 8000  # characters of all keys and values together
LIMITS = {"entity": 512, "source": 100, "user": 100, "note": 25000}
PRIORITIES = ("P1", "P2", "P3", "P4", "P5")
DEFAULT_PRIORITY = "P3"
IDENTIFIER_TYPES = ("id", "alias", "tiny")
#: How much of a long alias is kept readable before its digest (180 + 1 + 64 = 245 ≤ 255).
ALIAS_HEAD = 180
#: Annotation names Herald itself writes: an Opsgenie detail of the same name is renamed.
RESERVED_DETAILS = frozenset({"summary", "links", "description", "entity", "source", "user", "note", "actions",
                              "alias", "priority"})
_LABEL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

Action = Literal["close", "acknowledge"]


@dataclass(frozen=True)
class CreateRequest:
    """A create alert request: the event, and the alias as the caller knows it (the one the
    request status answers; the event's dedup key is it, or its digest form)."""

    event: SourceEvent
    alias: str
    priority: str


def dedup_key_of(alias: str) -> str:
    """Herald's dedup key for an Opsgenie alias: the alias itself up to 255 characters,
    else its first ``ALIAS_HEAD`` characters, ``~`` and the SHA-256 of the whole alias."""
    if len(alias) <= MAX_DEDUP_KEY:
        return alias
    return f"{alias[:ALIAS_HEAD]}~{hashlib.sha256(alias.encode()).hexdigest()}"


def _text(body: Mapping[str, Any], name: str, limit: int | None = None, *, cut: bool = False) -> str:
    """The optional string field ``name`` ("" when absent or null); over ``limit``: cut
    there (``cut``) or refused."""
    value = body.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise Invalid(f"{name}: must be a string, not {type(value).__name__}")
    if limit is not None and len(value) > limit:
        if not cut:
            raise Invalid(f"{name}: at most {limit} characters, got {len(value)}")
        value = value[:limit]
    return value


def _strings(body: Mapping[str, Any], name: str, most: int, longest: int) -> list[str]:
    value = body.get(name)
    if value is None:
        return []
    if not isinstance(value, list):
        raise Invalid(f"{name}: must be a list of strings, not {type(value).__name__}")
    if len(value) > most:
        raise Invalid(f"{name}: at most {most} items, got {len(value)}")
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            raise Invalid(f"{name}[{i}]: must be a non-empty string")
        if len(item) > longest:
            raise Invalid(f"{name}[{i}]: at most {longest} characters, got {len(item)}")
    return [item.strip() for item in value]


def _details(body: Mapping[str, Any]) -> dict[str, str]:
    value = body.get("details")
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Invalid(f"details: must be a map of strings, not {type(value).__name__}")
    details: dict[str, str] = {}
    for key, item in value.items():
        if isinstance(item, (dict, list)):
            raise Invalid(f"details.{key}: must be a string, not {type(item).__name__}")
        text = item if isinstance(item, str) else json.dumps(item)
        details[f"details.{key}" if key in RESERVED_DETAILS else key] = text
    size = sum(len(k) + len(v) for k, v in details.items())
    if size > MAX_DETAILS:
        raise Invalid(f"details: at most {MAX_DETAILS} characters of keys and values, got {size}")
    return details


def _object(body: Any) -> Mapping[str, Any]:
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise Invalid(f"body: must be a JSON object, not {type(body).__name__}")
    return body


def tag_labels(tags: list[str]) -> dict[str, str]:
    """Labels from tags: ``key:value`` with a label-name key -> ``key=value``; all in ``tags``."""
    labels: dict[str, str] = {}
    for tag in tags:
        key, sep, value = tag.partition(":")
        if sep and value.strip() and _LABEL_NAME.match(key.strip()):
            labels[key.strip()] = value.strip()
    if tags:
        labels["tags"] = ",".join(tags)
    return labels


def parse_create(body: Any, integration: Integration, new_alias: str) -> CreateRequest:
    """A create alert body as a trigger of ``integration``; ``new_alias``: the alias of a
    request that gives none (the caller makes one per request)."""
    body = _object(body)
    message = body.get("message")
    if message is None:
        raise Invalid("message: is required")
    if not isinstance(message, str) or not message.strip():
        raise Invalid("message: must be a non-empty string")
    message = message.strip()[:MAX_MESSAGE]
    alias = _text(body, "alias", MAX_ALIAS).strip() or new_alias
    priority = _text(body, "priority") or DEFAULT_PRIORITY
    if priority not in PRIORITIES:
        raise Invalid(f"priority: must be one of {', '.join(PRIORITIES)}, not {priority!r}")
    tags = _strings(body, "tags", MAX_TAGS, MAX_TAG)
    actions = _strings(body, "actions", MAX_ACTIONS, MAX_ACTION)
    for name in ("responders", "visibleTo"):
        if body.get(name) is not None and not isinstance(body[name], list):
            raise Invalid(f"{name}: must be a list, not {type(body[name]).__name__}")
    description = _text(body, "description", MAX_DESCRIPTION, cut=True)
    fields = {name: _text(body, name, limit) for name, limit in LIMITS.items()}
    details = _details(body)
    extra = {"description": description, "entity": fields["entity"], "user": fields["user"],
             "note": fields["note"], "actions": ", ".join(actions), "alias": alias, "priority": priority}
    details.update({k: v for k, v in extra.items() if v})
    labels = tag_labels(tags)
    labels.update({k: fields[k] for k in ("entity", "source") if fields[k]})
    labels["opsgenie_priority"] = priority
    event = SourceEvent("trigger", dedup_key_of(alias), summary=message, severity=integration.severity_of(priority),
                        labels=labels, details=details, source=fields["source"])
    return CreateRequest(event, alias, priority)


def parse_action(body: Any, action: Action, dedup_key: str) -> SourceEvent:
    """A close or acknowledge body (``user``, ``source``, ``note``; all optional) as the
    event on ``dedup_key``."""
    body = _object(body)
    fields = {name: _text(body, name, LIMITS[name]) for name in ("user", "source", "note")}
    details = {k: v for k, v in fields.items() if v and k != "source"}
    return SourceEvent("resolve" if action == "close" else "acknowledge", dedup_key, details=details,
                       source=fields["source"])


def identifier_type(value: str | None) -> Literal["id", "alias", "tiny"]:
    """``identifierType`` of a close or acknowledge: ``id`` (Opsgenie's default), ``alias``
    or ``tiny`` (Herald's alert ids are short already: a tiny id is the same id)."""
    chosen = value or "id"
    if chosen not in IDENTIFIER_TYPES:
        raise Invalid(f"identifierType: must be one of {', '.join(IDENTIFIER_TYPES)}, not {chosen!r}")
    return chosen  # type: ignore[return-value]


def identifier(value: str, kind: str) -> str:
    """The path's identifier, checked: an alias as long as a create allows, an id non-empty."""
    if not value.strip():
        raise Invalid("identifier: must not be empty")
    if kind == "alias" and len(value) > MAX_ALIAS:
        raise Invalid(f"identifier: an alias is at most {MAX_ALIAS} characters, got {len(value)}")
    return value
