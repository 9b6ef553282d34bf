"""Contact details out of API output for callers that may not see them.

Incident JSON names people by id, but phone numbers and email addresses can still
turn up inside it — a provider's error text ("Invalid 'To' Phone Number: +1555…"), a
timeline detail, a label — or a handoff's note ("call me on +1555…"), which the
handoff, on-call and shift answers carry. For a ``read`` token every configured person's
phone number and email address is replaced wherever it occurs, at any depth
(``shown_to``): every route that answers a read token with data people wrote passes it
through here.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

REDACTED = "[contact hidden]"


def _addresses(people: Mapping[str, Any]) -> list[str]:
    found: set[str] = set()
    for person in people.values():
        for attr in ("phone", "email"):
            value = getattr(person, attr, None)
            if value:
                found.add(str(value))
                if attr == "phone":
                    found.add(str(value).lstrip("+"))  # providers sometimes drop the plus
    return sorted(found, key=len, reverse=True)


def _pattern(addresses: Iterable[str]) -> re.Pattern[str] | None:
    alternatives = [re.escape(a) for a in addresses]
    return re.compile("|".join(alternatives), re.IGNORECASE) if alternatives else None


def redact_contacts(data: Any, people: Mapping[str, Any]) -> Any:
    """A copy of ``data`` (JSON-like) with every person's phone and email replaced."""
    pattern = _pattern(_addresses(people))
    if pattern is None:
        return data
    return _walk(data, pattern)


def shown_to(caller: Any, people: Mapping[str, Any] | Callable[[], Mapping[str, Any]], data: Any) -> Any:
    """``data`` as the caller may see it: whole with ``contacts:read`` (write, admin), else
    with every person's phone number and email address hidden. ``people``: the people
    whose addresses to hide, or a function answering them (called only when hiding:
    ``service.engine.people.contact_book`` reads every contact, added ones too)."""
    if caller.can("contacts:read"):
        return data
    return redact_contacts(data, people() if callable(people) else people)


def _walk(value: Any, pattern: re.Pattern[str]) -> Any:
    if isinstance(value, str):
        return pattern.sub(REDACTED, value)
    if isinstance(value, dict):
        return {_walk(k, pattern): _walk(v, pattern) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_walk(v, pattern) for v in value]
    return value
