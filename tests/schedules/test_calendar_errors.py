"""Malformed and hostile calendars: clear CalendarErrors, bounded work, warnings kept."""
from __future__ import annotations

import pytest

from schedules.calendar import CalendarError, CalendarOptions, parse_calendar
from tests.schedules.helpers import PEOPLE, fixture_bytes, utc


def parse(data: bytes, options=None, start=utc(2025, 1, 1), end=utc(2025, 1, 8)):
    return parse_calendar(
        data, people=PEOPLE, options=options or CalendarOptions(), window_start=start, window_end=end
    )


ONE_DAY = ("DTSTART:20250102T000000Z", "DTEND:20250103T000000Z")
DAILY = ("DTSTART:20250101T090000Z", "DTEND:20250101T170000Z", "RRULE:FREQ=DAILY")


def calendar(*event_lines: str, extra: str = "") -> bytes:
    event = "\n".join(("BEGIN:VEVENT", "UID:e1", "DTSTAMP:20250101T000000Z", *event_lines, "END:VEVENT"))
    return f"BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:test\n{extra}{event}\nEND:VCALENDAR\n".encode()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "not a readable"),
        (b"<html><body>Sign in to continue</body></html>", "not a readable"),
        (b"BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:x\n", "not a readable"),  # truncated download
        (b"BEGIN:VEVENT\nUID:x\nDTSTART:20250101T000000Z\nEND:VEVENT\n", "expected a VCALENDAR"),
        (calendar("DTSTART:tomorrow", "SUMMARY:alice"), "broken DTSTART"),
        (calendar("SUMMARY:alice"), "without DTSTART"),
        (calendar("DTSTART:20250101T000000Z", "RRULE:FREQ=FORTNIGHTLY", "SUMMARY:alice"), "RRULE"),
    ],
)
def test_malformed_input_is_a_calendar_error(data, message):
    with pytest.raises(CalendarError, match=message):
        parse(data)


def test_calendar_error_is_a_value_error():
    assert issubclass(CalendarError, ValueError)


def test_broken_non_timing_property_is_a_warning_not_an_error():
    result = parse(calendar(*ONE_DAY, "GEO:north", "SUMMARY:alice"))
    assert [s.person for s in result.shifts] == ["alice"]
    assert [p.kind for p in result.problems] == ["parse_warning"]
    assert "GEO" in result.problems[0].message


def test_missing_uid_gets_a_stable_substitute_and_a_warning():
    data = calendar(*ONE_DAY, "SUMMARY:alice").replace(b"UID:e1\n", b"")
    first, second = parse(data), parse(data)
    assert first.shifts == second.shifts and first.shifts[0].uid.startswith("no-uid-")
    assert any("no UID" in p.message for p in first.problems)


def test_zero_length_event_is_reported_not_turned_into_a_shift():
    result = parse(calendar("DTSTART:20250102T090000Z", "SUMMARY:alice"))
    assert result.shifts == ()
    assert [p.kind for p in result.problems] == ["parse_warning"]


def test_endless_minutely_rule_is_refused_not_expanded():
    with pytest.raises(CalendarError, match="limit"):
        parse(fixture_bytes("endless_rrule.ics"), start=utc(2025, 1, 1), end=utc(2026, 1, 1))


def test_endless_rule_is_bounded_by_the_window():
    data = calendar(*DAILY, "SUMMARY:alice")
    assert len(parse(data, start=utc(2030, 6, 1), end=utc(2030, 6, 8)).shifts) == 7


def test_huge_count_is_bounded_by_the_window():
    data = calendar(
        "DTSTART:20250101T000000Z", "DURATION:PT1H", "RRULE:FREQ=HOURLY;COUNT=999999999", "SUMMARY:alice"
    )
    assert len(parse(data, start=utc(2025, 1, 1), end=utc(2025, 1, 3)).shifts) == 48


def test_more_occurrences_than_max_shifts_is_an_error():
    data = calendar(*DAILY, "SUMMARY:alice")
    with pytest.raises(CalendarError, match="limit is 5"):
        parse(data, CalendarOptions(max_shifts=5), start=utc(2025, 1, 1), end=utc(2025, 2, 1))


def test_dense_rule_started_long_ago_is_refused_even_for_a_short_window():
    # dateutil walks every minute since 1990 to reach the window.
    data = calendar("DTSTART:19900101T000000Z", "DURATION:PT1M", "RRULE:FREQ=MINUTELY", "SUMMARY:alice")
    with pytest.raises(CalendarError, match="recurrences"):
        parse(data, CalendarOptions(max_recurrence_steps=10_000), utc(2025, 1, 1), utc(2025, 1, 2))


def test_vtimezone_with_absurd_transition_rule_is_refused():
    zone = (
        "BEGIN:VTIMEZONE\nTZID:Evil Time\nBEGIN:STANDARD\nDTSTART:16010101T000000\n"
        "RRULE:FREQ=DAILY\nTZOFFSETFROM:+0100\nTZOFFSETTO:+0000\nEND:STANDARD\nEND:VTIMEZONE\n"
    )
    data = calendar(
        "DTSTART;TZID=Evil Time:20250102T090000", "DTEND;TZID=Evil Time:20250102T170000", "SUMMARY:alice",
        extra=zone,
    )
    with pytest.raises(CalendarError, match="transitions"):
        parse(data)


def test_event_ending_before_it_starts_is_read_as_its_span_with_a_warning():
    # recurring-ical-events swaps such a DTSTART/DTEND pair; the swap is reported.
    result = parse(calendar("DTSTART:20250103T000000Z", "DTEND:20250102T000000Z", "SUMMARY:alice"))
    assert [(s.start, s.end) for s in result.shifts] == [(utc(2025, 1, 2), utc(2025, 1, 3))]
    assert "DTEND is before DTSTART" in result.problems[0].message


def test_error_message_stays_short_for_a_large_bad_input():
    with pytest.raises(CalendarError) as caught:
        parse(b"BEGIN:VCALENDAR\n" + b"X-JUNK:" + b"a" * 100_000 + b"\n")
    assert len(str(caught.value)) < 300
