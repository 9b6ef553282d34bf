"""Recurrence exceptions: moved instances, EXDATE, RDATE, cancellations, COUNT/UNTIL/BYDAY."""
from __future__ import annotations

import pytest

from schedules.calendar import CalendarError, CalendarOptions, parse_calendar
from tests.schedules.helpers import PEOPLE, fixture_bytes, parse_fixture, utc, who

OPTIONS = CalendarOptions(tier_markers={"[L2]": "L2"})


def parsed():
    return parse_fixture("moved_exdate_cancelled.ics", OPTIONS)


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (utc(2025, 5, 5, 8), {"alice"}),  # a plain instance (10:00 CEST)
        (utc(2025, 5, 12, 8), set()),  # moved away from Monday...
        (utc(2025, 5, 13, 8), {"alice"}),  # ...to Tuesday (RECURRENCE-ID)
        (utc(2025, 5, 19, 8), set()),  # EXDATE
        (utc(2025, 5, 26, 8), set()),  # cancelled instance (RECURRENCE-ID + STATUS:CANCELLED)
        (utc(2025, 6, 1, 8), {"alice"}),  # RDATE on a Sunday
        (utc(2025, 6, 9, 8), {"alice"}),  # 6th and last by COUNT
        (utc(2025, 6, 16, 8), set()),  # past COUNT
    ],
)
def test_weekly_series_with_exceptions(at, expected):
    assert who(parsed(), at) == expected


def test_moved_instance_keeps_its_original_instance_id():
    moved = [s for s in parsed().shifts if s.start == utc(2025, 5, 13, 7)]
    assert [s.uid for s in moved] == ["alice-weekly-l1@cloud.example.com/20250512T070000Z"]


def test_uids_are_stable_across_reparses_and_windows():
    first = {s.uid: s for s in parsed().shifts}
    narrow = parse_fixture("moved_exdate_cancelled.ics", OPTIONS, utc(2025, 5, 10), utc(2025, 5, 20))
    assert narrow.shifts and all(first[s.uid] == s for s in narrow.shifts)


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (utc(2025, 5, 28, 10), {"bob"}),  # Wednesday (BYDAY=MO,WE,FR)
        (utc(2025, 5, 29, 10), set()),  # Thursday
        (utc(2025, 5, 28, 16), set()),  # after 17:00 Berlin
        (utc(2025, 6, 2, 10), set()),  # after UNTIL
    ],
)
def test_byday_and_until(at, expected):
    assert who(parsed(), at, tier="L2") == expected


def test_cancelled_single_event_yields_nothing_and_no_problem():
    result = parsed()
    assert who(result, utc(2025, 5, 10, 12)) == set()
    assert result.problems == ()


def test_shift_overlapping_window_start_is_kept_whole():
    result = parse_fixture("moved_exdate_cancelled.ics", OPTIONS, utc(2025, 5, 5, 12), utc(2025, 5, 6))
    assert [(s.person, s.start, s.end) for s in result.shifts if s.tier == "L1"] == [
        ("alice", utc(2025, 5, 5, 7), utc(2025, 5, 6, 7))
    ]


def test_broken_exdate_skips_its_series_and_keeps_the_rest():
    data = fixture_bytes("moved_exdate_cancelled.ics").replace(b"20250519T090000", b"2025-05-19")
    result = parse_calendar(
        data, people=PEOPLE, options=OPTIONS,
        window_start=utc(2025, 5, 1), window_end=utc(2025, 6, 1),
    )
    [skipped] = [p for p in result.problems if p.kind == "skipped_event"]
    assert skipped.message.startswith("alice-weekly-l1@cloud.example.com 'L1 on call: alice': broken EXDATE")
    assert who(result, utc(2025, 5, 5, 8)) == set()  # the weekly series is gone...
    assert who(result, utc(2025, 5, 13, 8)) == {"alice"}  # ...its moved instance is an event of its own
    assert who(result, utc(2025, 5, 7, 8), "L2") == {"bob"}  # the other events stay


def test_a_calendar_whose_only_series_is_broken_is_refused():
    data = fixture_bytes("moved_exdate_cancelled.ics").replace(b"20250519T090000", b"2025-05-19")
    with pytest.raises(CalendarError, match="no usable event: .*broken EXDATE"):
        parse_calendar(
            data.split(b"BEGIN:VEVENT")[0] + b"BEGIN:VEVENT" + data.split(b"BEGIN:VEVENT")[1].split(b"END:VEVENT")[0]
            + b"END:VEVENT\r\nEND:VCALENDAR\r\n",
            people=PEOPLE, options=OPTIONS, window_start=utc(2025, 5, 1), window_end=utc(2025, 6, 1),
        )
