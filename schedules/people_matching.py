"""Who an on-call event is about, and which tier it is for.

A person is found by email in ATTENDEE / ORGANIZER (case-insensitive,
``mailto:`` stripped), or by id, full name or email appearing as a whole word
(case-insensitive) in SUMMARY / DESCRIPTION. Sources are tried in the
configured order and the first one that names somebody known wins.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from icalendar import Component

from schedules.model import Person

# A token must not be glued to word characters or to email/handle punctuation,
# but may be followed by sentence punctuation ("On call: alice.").
_BEFORE = r"(?<![\w@.+-])"
_AFTER = r"(?![\w@+-]|\.\w)"


def _token_pattern(token: str) -> str:
    return r"\s+".join(re.escape(part) for part in token.split())


class PersonMatcher:
    """Finds known people in an event; build once per parse."""

    def __init__(self, people: Sequence[Person]) -> None:
        self._people = tuple(people)
        self._by_email: dict[str, Person] = {}
        self._patterns: list[tuple[re.Pattern[str], Person]] = []
        for person in self._people:
            if person.email:
                self._by_email.setdefault(person.email.strip().lower(), person)
            names = (person.id, person.name, person.email or "")
            tokens = sorted({name.strip() for name in names if name.strip()}, key=len, reverse=True)
            if tokens:
                alternation = "|".join(_token_pattern(token) for token in tokens)
                pattern = re.compile(_BEFORE + "(?:" + alternation + ")" + _AFTER, re.IGNORECASE)
                self._patterns.append((pattern, person))

    def match(self, event: Component, sources: Sequence[str]) -> tuple[tuple[Person, ...], str]:
        """The people the event names (from the first source naming anyone) and
        a short description of what was searched, for an unknown_person report."""
        searched: list[str] = []
        for source in sources:
            if source in ("attendee", "organizer"):
                addresses = _addresses(event, source.upper())
                found = [self._by_email[a] for a in addresses if a in self._by_email]
                if addresses:
                    searched.append(f"{source} {', '.join(addresses)}")
            else:
                text = str(event.get(source.upper(), "") or "")
                found = [person for pattern, person in self._patterns if pattern.search(text)]
                if text.strip():
                    searched.append(f"{source} {text.strip()[:80]!r}")
            if found:
                return tuple(dict.fromkeys(found)), ""
        return (), "; ".join(searched) or "no attendee, organizer, summary or description"


def _addresses(event: Component, name: str) -> list[str]:
    """Lower-cased email addresses of ATTENDEE or ORGANIZER, without ``mailto:``."""
    value = event.get(name)
    if value is None:
        return []
    values = value if isinstance(value, list) else [value]
    addresses = []
    for item in values:
        address = str(item).strip()
        if address.lower().startswith("mailto:"):
            address = address[len("mailto:") :]
        if address:
            addresses.append(address.strip().lower())
    return list(dict.fromkeys(addresses))


def tier_of(summary: str, markers: Mapping[str, str], default: str) -> str:
    """The tier whose marker (first in mapping order) occurs in the summary."""
    lowered = summary.lower()
    for marker, tier in markers.items():
        if marker.lower() in lowered:
            return tier
    return default
