"""iCalendar export of effective shifts, and its round trip through parse_calendar."""
from __future__ import annotations

import pytest
from icalendar import Calendar

from schedules.calendar import CalendarOptions, parse_calendar
from schedules.feed import export_ics, tier_markers_for
from schedules.model import Handoff, Shift
from schedules.rotation import Rotation
from tests.schedules.helpers import PEOPLE, parse_fixture, utc

BY_ID = {person.id: person for person in PEOPLE}


def effective_shifts() -> list[Shift]:
    parsed = parse_fixture("weekly_dst_handoff.ics", start=utc(2025, 3, 3, 8), end=utc(2025, 4, 28, 7))
    handoffs = [
        Handoff(
            "h-1", "L1", "carol", utc(2025, 3, 28), utc(2025, 4, 1),
            from_person="dave", note="call +1 555 0199",
        ),
        Handoff("h-2", "L2", "bob", utc(2025, 4, 2), utc(2025, 4, 3)),
    ]
    return Rotation.build(parsed.shifts, handoffs).shifts(None, utc(2025, 3, 3, 8), utc(2025, 4, 28, 7))


def test_export_has_one_utc_event_per_shift_with_readable_summary():
    shifts = effective_shifts()
    calendar = Calendar.from_ical(export_ics("Platform on-call", shifts, BY_ID))
    events = calendar.walk("VEVENT")
    assert len(events) == len(shifts)
    assert str(calendar["X-WR-CALNAME"]) == "Platform on-call"
    first = events[0]
    assert str(first["SUMMARY"]) == "On call L1: Alice Adams"
    assert first["DTSTART"].dt == utc(2025, 3, 3, 8)
    assert first["DTSTART"].to_ical() == b"20250303T080000Z"
    assert "On call L2: Bob Brown" in {str(e["SUMMARY"]) for e in events}


def test_export_is_byte_identical_across_runs_and_input_order():
    shifts = effective_shifts()
    assert export_ics("x", shifts, BY_ID) == export_ics("x", list(reversed(shifts)), BY_ID)
    uids = [str(e["UID"]) for e in Calendar.from_ical(export_ics("x", shifts, BY_ID)).walk("VEVENT")]
    assert len(set(uids)) == len(uids)


def test_export_carries_no_contact_details_or_notes():
    data = export_ics("x", effective_shifts(), BY_ID).decode()
    for person in PEOPLE:
        assert person.phone not in data and person.email not in data
    assert "555 0199" not in data  # handoff note


def test_export_of_unknown_person_uses_the_id_and_naive_times_are_refused():
    data = export_ics("x", [Shift("L1", "zed", utc(2025, 1, 1), utc(2025, 1, 2))], BY_ID)
    assert b"On call L1: zed" in data
    with pytest.raises(ValueError, match="naive"):
        naive = utc(2025, 1, 1).replace(tzinfo=None)
        export_ics("x", [Shift("L1", "zed", naive, utc(2025, 1, 2))], BY_ID)


def test_export_round_trips_through_parse_calendar():
    shifts = effective_shifts()
    markers = tier_markers_for(["L1", "L2"])
    options = CalendarOptions(match=("summary",), tier_markers=markers, default_tier="L1")
    parsed = parse_calendar(
        export_ics("Platform on-call", shifts, BY_ID),
        people=PEOPLE,
        options=options,
        window_start=utc(2025, 3, 1),
        window_end=utc(2025, 5, 1),
    )
    assert parsed.problems == ()
    assert sorted((s.tier, s.person, s.start, s.end) for s in parsed.shifts) == sorted(
        (s.tier, s.person, s.start, s.end) for s in shifts
    )
