"""Coverage checks: gaps, overlaps and the combined lint report."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from schedules.calendar import CalendarOptions
from schedules.coverage import gaps, lint, lint_line, overlaps, within
from schedules.model import Handoff, ParsedCalendar, Problem, Shift
from schedules.rotation import Rotation
from tests.schedules.helpers import parse_fixture, utc


def may(day: int, hour: int = 0):
    return utc(2025, 5, day, hour)


def shift(person: str, first: int, last: int, tier="L1", uid=None, source="calendar") -> Shift:
    """A shift from May ``first`` to May ``last`` (midnight UTC)."""
    return Shift(tier, person, may(first), may(last), source, uid or f"{person}-{first}")


def spans(problems) -> list[tuple]:
    return [(p.kind, p.tier, p.start, p.end) for p in problems]


# --- gaps ----------------------------------------------------------------------------


def test_gap_between_two_shifts_is_reported():
    rotation = Rotation.build([shift("alice", 1, 2), shift("bob", 3, 4)])
    found = gaps(rotation, "L1", may(1), may(4))
    assert spans(found) == [("gap", "L1", may(2), may(3))]
    assert "2025-05-02 00:00 UTC" in found[0].message


def test_touching_shifts_leave_no_gap_but_range_edges_can():
    rotation = Rotation.build([shift("alice", 1, 2), shift("bob", 2, 3)])
    assert gaps(rotation, "L1", may(1), may(3)) == []
    assert spans(gaps(rotation, "L1", utc(2025, 4, 30), may(4))) == [
        ("gap", "L1", utc(2025, 4, 30), may(1)),
        ("gap", "L1", may(3), may(4)),
    ]


def test_handoff_fills_a_gap_and_unknown_tier_is_one_big_gap():
    rotation = Rotation.build([shift("alice", 1, 2)], [Handoff("h", "L1", "bob", may(2), may(3))])
    assert gaps(rotation, "L1", may(1), may(3)) == []
    assert spans(gaps(rotation, "L9", may(1), may(3))) == [("gap", "L9", may(1), may(3))]


# --- overlaps ------------------------------------------------------------------------


def test_two_people_from_different_events_overlapping_is_reported():
    found = overlaps([shift("alice", 1, 3), shift("bob", 2, 4)])
    assert spans(found) == [("overlap", "L1", may(2), may(3))]
    assert "alice" in found[0].message and "bob" in found[0].message


def test_not_overlaps_same_event_attendees_touching_same_person_handoffs_other_tiers():
    same_event = [shift("alice", 1, 2, uid="e/1"), shift("bob", 1, 2, uid="e/1")]
    touching = [shift("carol", 2, 3), shift("dave", 3, 4)]
    same_person = [shift("erin", 5, 7), shift("erin", 6, 8)]
    handoff = [shift("frank", 6, 7, source="handoff")]
    other_tier = [shift("gina", 1, 2, tier="L2")]
    assert overlaps(same_event + touching + same_person + handoff + other_tier) == []


def test_overlaps_filter_by_tier_and_clip_to_range():
    shifts = [
        shift("alice", 1, 10, tier="L2"),
        shift("bob", 2, 9, tier="L2"),
        shift("carol", 1, 10),
        shift("dave", 1, 10),
    ]
    assert spans(overlaps(shifts, "L2", may(5), may(6))) == [("overlap", "L2", may(5), may(6))]
    assert overlaps(shifts, "L2", may(20), may(21)) == []


# --- lint ----------------------------------------------------------------------------


def test_lint_reports_the_gap_in_a_calendar_and_an_unstaffed_tier():
    options = CalendarOptions(timezone="America/New_York")
    start, end = utc(2025, 3, 3, 5), utc(2025, 3, 31, 4)
    parsed = parse_fixture("all_day_shifts.ics", options, start=start, end=end)
    report = lint(parsed, Rotation.build(parsed.shifts), ["L1", "L2"], start, end)
    assert [(p.kind, p.tier, p.start, p.end) for p in report] == [
        ("gap", "L1", utc(2025, 3, 20, 4), utc(2025, 3, 24, 4)),  # after bob's two days
        ("gap", "L2", utc(2025, 3, 3, 5), utc(2025, 3, 31, 4)),
    ]


def test_lint_of_a_clean_calendar_is_empty():
    parsed = parse_fixture("weekly_dst_handoff.ics", start=utc(2025, 3, 3, 8), end=utc(2025, 6, 1))
    assert lint(parsed, Rotation.build(parsed.shifts), ["L1"], utc(2025, 3, 3, 8), utc(2025, 6, 1)) == []


def test_lint_puts_parse_problems_first_then_gaps_and_overlaps():
    options = CalendarOptions(timezone="America/New_York", tier_markers={"[L2]": "L2"})
    parsed = parse_fixture("attendees_and_unknowns.ics", options, utc(2025, 6, 2), utc(2025, 6, 6))
    start, end = utc(2025, 6, 2, 9), utc(2025, 6, 2, 17)
    report = lint(parsed, Rotation.build(parsed.shifts), ["L1"], start, end)
    assert [p.kind for p in report] == ["unknown_person", "unknown_person"]  # the pair is no overlap
    extra = Shift("L1", "carol", utc(2025, 6, 2, 16), utc(2025, 6, 2, 18), uid="other")
    with_extra = ParsedCalendar(parsed.shifts + (extra,), parsed.problems)
    report = lint(with_extra, Rotation.build(with_extra.shifts), ["L1"], start, end)
    assert [p.kind for p in report] == ["unknown_person", "unknown_person", "overlap", "overlap"]


# --- the problems of a range, in lint's words ---------------------------------------------
def test_within_keeps_what_touches_the_range_each_message_once_at_its_first_occurrence():
    now = datetime.now(timezone.utc)

    def unknown(first_day: float, message: str = "zed: nobody known in attendee zed@example.com") -> Problem:
        return Problem("unknown_person", message, "L1", now + timedelta(days=first_day),
                       now + timedelta(days=first_day + 7))

    weekly = [unknown(d) for d in (-24, -17, -3, 4, 11)]  # one event, every week: one running now
    skipped = Problem("skipped_event", "bad 'On call': VEVENT without DTSTART", "L1")  # no dates: always
    gone = unknown(-20, "old: nobody known in summary 'Old rota'")  # ended before the range
    later = unknown(40, "new: nobody known in summary 'New rota'")  # starts after it
    found = within([*weekly, skipped, gone, later], now, now + timedelta(days=30))
    assert found == [weekly[2], skipped]


def test_within_an_empty_list_and_a_range_touching_only_an_end():
    now = datetime.now(timezone.utc)
    ended = Problem("overlap", "a and b", "L1", now - timedelta(days=1), now)
    assert within([], now, now + timedelta(days=1)) == []
    assert within([ended], now, now + timedelta(days=1)) == []  # [start, end): it ended as the range began


def test_lint_line_is_kind_tier_and_message():
    assert lint_line(Problem("gap", "nobody on call", "L2")) == "gap L2: nobody on call"
    assert lint_line(Problem("parse_warning", "x has no UID")) == "parse_warning: x has no UID"
