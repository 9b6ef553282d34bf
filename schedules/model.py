"""The data the schedule calculators work on: people, shifts, handoffs, problems.

All datetimes are timezone-aware UTC. Nothing here reads the clock.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Person:
    """Someone who can be paged. ``id`` is the stable handle used everywhere else."""

    id: str
    name: str
    email: str | None = None
    phone: str | None = None


@dataclass(frozen=True, slots=True)
class Shift:
    """One person on call for one tier of one schedule over [start, end)."""

    tier: str
    person: str
    start: datetime
    end: datetime
    source: str = "calendar"  # "calendar" | "handoff"
    uid: str = ""  # the calendar event UID (and recurrence instance), or the handoff id
    note: str = ""


@dataclass(frozen=True, slots=True)
class Handoff:
    """An override: ``to`` is on call for ``tier`` over [start, end).

    With ``from_person`` set, only that person's coverage is replaced; without it, the
    incoming person replaces everyone on the tier for the window.
    """

    id: str
    tier: str
    to: str
    start: datetime
    end: datetime
    from_person: str | None = None
    note: str = ""


@dataclass(frozen=True, slots=True)
class Problem:
    """Something lint reports: skipped_event, unknown_person, parse_warning, gap, overlap.

    A skipped_event (an event the parser could not use) has no times: it concerns every day.
    """

    kind: str
    message: str
    tier: str | None = None
    start: datetime | None = None
    end: datetime | None = None


@dataclass(frozen=True, slots=True)
class ParsedCalendar:
    shifts: tuple[Shift, ...]
    problems: tuple[Problem, ...] = field(default_factory=tuple)
