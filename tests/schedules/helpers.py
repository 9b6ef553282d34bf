"""Shared people, fixture loading and time helpers for the schedules tests."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from schedules.calendar import CalendarOptions, parse_calendar
from schedules.model import ParsedCalendar, Person

CALENDARS = Path(__file__).resolve().parent.parent / "fixtures" / "calendars"

PEOPLE = (
    Person("alice", "Alice Adams", "alice@example.com", "+15550100"),
    Person("bob", "Bob Brown", "bob@example.com", "+15550101"),
    Person("carol", "Carol Chen", "carol@example.com", "+15550102"),
    Person("dave", "Dave Diaz", "dave@example.com", "+15550103"),
)


def utc(*parts: int) -> datetime:
    """A UTC datetime: utc(2025, 3, 31, 7, 30)."""
    return datetime(*parts, tzinfo=timezone.utc)


def fixture_bytes(name: str) -> bytes:
    return (CALENDARS / name).read_bytes()


def parse_fixture(
    name: str,
    options: CalendarOptions | None = None,
    start: datetime = utc(2025, 3, 1),
    end: datetime = utc(2025, 7, 1),
) -> ParsedCalendar:
    return parse_calendar(
        fixture_bytes(name),
        people=PEOPLE,
        options=options or CalendarOptions(),
        window_start=start,
        window_end=end,
    )


def who(parsed: ParsedCalendar, at: datetime, tier: str = "L1") -> set[str]:
    """People whose parsed shifts on ``tier`` cover ``at`` (no rotation involved)."""
    return {s.person for s in parsed.shifts if s.tier == tier and s.start <= at < s.end}

