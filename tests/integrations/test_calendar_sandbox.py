"""Parsing untrusted calendars in a child process: the same answer as in-process, the
parser's message on bad input, and a hard time limit."""
from __future__ import annotations

import signal

import pytest

from integrations.calendar_sandbox import ParseTimeout, parse_sandboxed
from schedules.calendar import CalendarError, CalendarOptions, parse_calendar
from schedules.model import Person
from tests.calendar_env import calendar, event, record_children, utc

PEOPLE = [Person("alice", "Alice Adams", "alice@example.com"), Person("bob", "Bob Brown", "bob@example.com")]
OPTIONS = CalendarOptions(tier_markers={"[L2]": "L2"}, timezone="Europe/Berlin")
WINDOW = {"window_start": utc(2026, 1, 1), "window_end": utc(2026, 12, 31)}


def test_the_sandbox_answers_what_the_parser_answers_in_process():
    data = calendar(event("a", "alice@example.com", utc(2026, 3, 1), utc(2026, 3, 8)),
                    event("b", "bob@example.com", utc(2026, 3, 1), utc(2026, 3, 8), "[L2] backup"),
                    event("c", "nobody@example.com", utc(2026, 3, 8), utc(2026, 3, 9)))
    inside = parse_calendar(data, people=PEOPLE, options=OPTIONS, **WINDOW)
    sandboxed = parse_sandboxed(data, people=PEOPLE, options=OPTIONS, **WINDOW)
    assert sandboxed == inside
    assert {(s.tier, s.person) for s in sandboxed.shifts} == {("L1", "alice"), ("L2", "bob")}
    assert [p.kind for p in sandboxed.problems] == ["unknown_person"]


def test_bytes_that_are_not_utf8_survive_the_trip():
    data = calendar(event("a", "alice@example.com", utc(2026, 3, 1), utc(2026, 3, 8), "Caf\xe9"))
    data = data.replace("Café".encode(), b"Caf\xe9")  # Latin-1, as some exporters write
    assert parse_sandboxed(data, people=PEOPLE, options=OPTIONS, **WINDOW) == \
        parse_calendar(data, people=PEOPLE, options=OPTIONS, **WINDOW)


def test_the_parsers_message_comes_back_for_a_broken_calendar():
    with pytest.raises(CalendarError, match="VEVENT without DTSTART"):
        parse_sandboxed(b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:x\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
                        people=PEOPLE, options=OPTIONS, **WINDOW)


def test_a_calendar_that_never_finishes_expanding_is_stopped_at_the_limit(monkeypatch):
    never = [f"BEGIN:VEVENT\r\nUID:n{i}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260105T080000Z\r\n"
             f"DTEND:20260106T080000Z\r\nRRULE:FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30\r\nSUMMARY:alice\r\nEND:VEVENT"
             for i in range(20)]
    children = record_children(monkeypatch)
    with pytest.raises(ParseTimeout, match="took over 0.5s"):
        parse_sandboxed(calendar(*never), people=PEOPLE, options=OPTIONS, time_limit=0.5, **WINDOW)
    assert [c.returncode for c in children] == [-signal.SIGKILL]  # killed at the limit, not waited for
