"""Finding people and tiers in events: attendees, organizer, summary, unknown people."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from schedules.calendar import CalendarOptions, parse_calendar
from schedules.model import Person
from tests.schedules.helpers import PEOPLE, parse_fixture, utc, who

NEW_YORK = CalendarOptions(timezone="America/New_York", tier_markers={"[L2]": "L2", "backup:": "L2"})


def parsed(options: CalendarOptions = NEW_YORK):
    return parse_fixture("attendees_and_unknowns.ics", options, utc(2025, 6, 1), utc(2025, 6, 8))


def test_each_known_attendee_gets_a_shift_and_rooms_are_ignored():
    result = parsed()
    pair = [s for s in result.shifts if s.start == utc(2025, 6, 2, 9)]
    # Folded ATTENDEE lines; MAILTO:BOB@EXAMPLE.COM in capitals; the room is nobody known.
    assert sorted(s.person for s in pair) == ["alice", "bob"]
    assert len({s.uid for s in pair}) == 1


def test_known_attendee_is_enough_when_another_is_unknown():
    assert who(parsed(), utc(2025, 6, 4, 12)) == {"dave"}


def test_event_naming_nobody_known_is_a_problem_not_a_shift():
    result = parsed()
    assert who(result, utc(2025, 6, 3, 12)) == set()
    unknown = [p for p in result.problems if p.kind == "unknown_person"]
    assert [(p.tier, p.start, p.end) for p in unknown] == [
        ("L1", utc(2025, 6, 3, 9), utc(2025, 6, 3, 17)),
        ("L1", utc(2025, 6, 5, 9), utc(2025, 6, 5, 17)),
    ]
    assert "zed@contractor.example.net" in unknown[0].message
    assert "Standby" in unknown[1].message


def test_floating_time_with_duration_uses_configured_zone_and_marker_sets_tier():
    carol = [s for s in parsed().shifts if s.person == "carol"]
    assert [(s.tier, s.start, s.end) for s in carol] == [("L2", utc(2025, 6, 2, 13), utc(2025, 6, 2, 21))]


def test_sources_are_tried_in_order():
    by_organizer = parsed(CalendarOptions(match=("organizer", "summary")))
    assert who(by_organizer, utc(2025, 6, 5, 12)) == {"dave"}  # organizer of "Standby"
    # The pairing event's organizer is a shared mailbox, so summary is tried (and fails).
    assert not [s for s in by_organizer.shifts if s.uid.startswith("pair-shift")]
    assert any(p.message.startswith("pair-shift") for p in by_organizer.problems)


@pytest.mark.parametrize(
    ("summary", "expected"),
    [
        ("On call: alice", {"alice"}),
        ("On call: ALICE ADAMS.", {"alice"}),
        ("On call: alice@example.com", {"alice"}),
        ("alice / Bob Brown", {"alice", "bob"}),
        ("On call: malice", set()),  # not a whole word
        ("On call: alice-b", {"alice-b"}),  # another handle, not alice
        ("On call: alice@other.example", set()),  # someone else's address
    ],
)
def test_summary_matches_whole_words(summary, expected):
    data = (
        "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:x\nBEGIN:VEVENT\nUID:s\nDTSTAMP:20250101T000000Z\n"
        "DTSTART:20250602T090000Z\nDTEND:20250602T170000Z\n"
        f"SUMMARY:{summary}\nEND:VEVENT\nEND:VCALENDAR\n"
    ).encode()
    people = PEOPLE + (Person("alice-b", "Alice Baker"),)
    result = parse_calendar(
        data, people=people, options=CalendarOptions(),
        window_start=utc(2025, 6, 1), window_end=utc(2025, 6, 3),
    )
    assert {s.person for s in result.shifts} == expected


def test_description_matching_and_tier_marker_order():
    data = (
        "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:x\nBEGIN:VEVENT\nUID:d\nDTSTAMP:20250101T000000Z\n"
        "DTSTART:20250602T090000Z\nDTEND:20250602T170000Z\nSUMMARY:Backup: [L1] secondary\n"
        "DESCRIPTION:Covered by\\n Carol\n  Chen this week\nEND:VEVENT\nEND:VCALENDAR\n"
    ).encode()
    options = CalendarOptions(
        match=("summary", "description"), tier_markers={"backup:": "L2", "[L1]": "L1"}
    )
    result = parse_calendar(
        data, people=PEOPLE, options=options,
        window_start=utc(2025, 6, 1), window_end=utc(2025, 6, 3),
    )
    assert [(s.tier, s.person) for s in result.shifts] == [("L2", "carol")]


def test_bad_match_source_is_rejected():
    with pytest.raises(ValueError, match="unknown source"):
        CalendarOptions(match=("attendee", "location"))


def test_a_recurring_event_naming_nobody_is_reported_at_every_occurrence():
    """So that lint, which looks at the days ahead, finds the occurrence running now and
    not only the first one in the parsed window (which began weeks ago)."""
    now = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    first = now - timedelta(days=15, hours=1)
    data = "\r\n".join([
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//t//EN", "BEGIN:VEVENT", "UID:zed", f"DTSTAMP:{first:%Y%m%dT%H%M%SZ}",
        f"DTSTART:{first:%Y%m%dT%H%M%SZ}", f"DTEND:{first + timedelta(days=7):%Y%m%dT%H%M%SZ}", "RRULE:FREQ=WEEKLY;COUNT=4",
        "SUMMARY:On call", "ATTENDEE:mailto:zed@example.com", "END:VEVENT", "END:VCALENDAR", ""]).encode()
    result = parse_calendar(data, people=PEOPLE, options=CalendarOptions(), window_start=now - timedelta(days=30),
                            window_end=now + timedelta(days=30))
    unknown = [p for p in result.problems if p.kind == "unknown_person"]
    assert [p.start for p in unknown] == [first + timedelta(weeks=n) for n in range(4)]
    assert {p.message for p in unknown} == {"zed: nobody known in attendee zed@example.com; summary 'On call'"}
    assert any(p.start <= now < p.end for p in unknown)
