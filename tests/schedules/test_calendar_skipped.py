"""One unusable event is skipped and reported; the rest of the calendar is in force.

A rota generator's single bad line (an event without DTSTART, a broken or impossible
RRULE, a period that ends before it starts) used to refuse the whole calendar, so the
schedule stayed on an older copy. Only a calendar with no usable event at all is
refused -- and the guards against hostile calendars still refuse the whole calendar,
since they are about its cost, not one event. Dates are relative to now."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from schedules.calendar import CalendarError, CalendarOptions, parse_calendar
from schedules.model import Person

PEOPLE = (Person("alice", "Alice Adams", "alice@example.com"), Person("bob", "Bob Brown", "bob@example.com"))
NOW = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
OPTIONS = CalendarOptions(tier_markers={"backup": "L2"})


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%SZ")


def event(uid: str, *lines: str, summary: str | None = "On call Alice Adams") -> str:
    body = ["BEGIN:VEVENT", f"UID:{uid}", f"DTSTAMP:{stamp(NOW)}", *lines]
    if summary is not None:
        body.append(f"SUMMARY:{summary}")
    return "\r\n".join([*body, "END:VEVENT"])


def timed(start: timedelta, hours: int = 24) -> tuple[str, str]:
    return f"DTSTART:{stamp(NOW + start)}", f"DTEND:{stamp(NOW + start + timedelta(hours=hours))}"


def calendar(*events: str) -> bytes:
    return "\r\n".join(["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//t//EN", *events, "END:VCALENDAR", ""]).encode()


def parse(data: bytes, options: CalendarOptions = OPTIONS, days: int = 30):
    return parse_calendar(data, people=PEOPLE, options=options, window_start=NOW - timedelta(days=days),
                          window_end=NOW + timedelta(days=days))


GOOD = event("good", *timed(timedelta(hours=-2)))


def skipped(parsed) -> list[str]:
    return [p.message for p in parsed.problems if p.kind == "skipped_event"]


def test_an_event_without_dtstart_is_skipped_and_the_rest_is_kept():
    parsed = parse(calendar(GOOD, event("bad", f"DTEND:{stamp(NOW)}", summary="On call Bob Brown")))
    assert [(s.person, s.uid.split("/")[0]) for s in parsed.shifts] == [("alice", "good")]
    assert skipped(parsed) == ["bad 'On call Bob Brown': VEVENT without DTSTART"]
    [problem] = [p for p in parsed.problems if p.kind == "skipped_event"]
    assert (problem.tier, problem.start, problem.end) == ("L1", None, None)  # reported whatever the dates


@pytest.mark.parametrize("lines, reason", [
    (("DTSTART:tomorrow",), "broken DTSTART"),
    ((*timed(timedelta(0)), "RRULE:FREQ=FORTNIGHTLY"), "broken RRULE"),
    ((*timed(timedelta(0)), "RRULE:FREQ=DAILY;BYHOUR=25"), "unusable RRULE: hour must be in 0..23"),
    ((*timed(timedelta(0)), "RRULE:FREQ=WEEKLY;INTERVAL=0"), "unusable RRULE: INTERVAL must be at least 1"),
    ((*timed(timedelta(0), 1),
      f"RDATE;VALUE=PERIOD:{stamp(NOW + timedelta(days=3))}/{stamp(NOW + timedelta(days=2))}"), "cannot expand"),
], ids=["broken-dtstart", "unknown-freq", "impossible-byhour", "interval-0", "period-ends-before-it-starts"])
def test_each_kind_of_unusable_event_is_skipped_with_its_reason(lines, reason):
    parsed = parse(calendar(GOOD, event("bad", *lines, summary="backup: Bob Brown")))
    assert {s.person for s in parsed.shifts} == {"alice"}
    [message] = skipped(parsed)
    assert message.startswith("bad 'backup: Bob Brown': ") and reason in message, message
    assert [p.tier for p in parsed.problems if p.kind == "skipped_event"] == ["L2"]  # the marker's tier


def test_a_broken_moved_instance_skips_only_itself():
    series = event("series", *timed(timedelta(days=-3)), "RRULE:FREQ=DAILY;COUNT=5")
    moved = event("series", f"RECURRENCE-ID:{stamp(NOW - timedelta(days=1))}", "DTSTART:garbage")
    parsed = parse(calendar(series, moved))
    assert len(parsed.shifts) == 5
    [message] = skipped(parsed)
    assert message.startswith("series 'On call Alice Adams': broken DTSTART: "), message


def test_an_event_without_uid_or_summary_is_named_by_its_position():
    parsed = parse(calendar(GOOD, event("", "DTSTART:never", summary=None).replace("UID:\r\n", "")))
    [message] = skipped(parsed)
    assert message.startswith("event #2 (no SUMMARY): broken DTSTART: "), message


def test_a_calendar_without_events_is_not_refused():
    assert parse(calendar()).shifts == ()
    assert parse(calendar()).problems == ()


def test_a_calendar_with_no_usable_event_is_refused():
    with pytest.raises(CalendarError) as caught:
        parse(calendar(event("a", "DTSTART:never"), event("b", *timed(timedelta(0)), "RRULE:FREQ=FORTNIGHTLY")))
    message = str(caught.value)
    assert message.startswith("no usable event: a 'On call Alice Adams': broken DTSTART"), message
    assert "b 'On call Alice Adams': broken RRULE" in message


def test_the_refusal_stays_short_for_many_bad_events():
    with pytest.raises(CalendarError) as caught:
        parse(calendar(*[event(f"e{n}", f"DTEND:{stamp(NOW)}") for n in range(500)]))
    assert "(and 497 more)" in str(caught.value) and len(str(caught.value)) < 400


def test_a_hostile_rule_still_refuses_the_whole_calendar():
    endless = event("evil", f"DTSTART:{stamp(NOW - timedelta(days=3000))}", "DURATION:PT1S", "RRULE:FREQ=SECONDLY")
    with pytest.raises(CalendarError, match="refusing an endless or too dense RRULE"):
        parse(calendar(GOOD, endless))
    too_many = event("many", *timed(timedelta(days=-20), 1), "RRULE:FREQ=HOURLY")
    with pytest.raises(CalendarError, match="the limit is 100"):
        parse(calendar(GOOD, too_many), CalendarOptions(max_shifts=100))


def with_x_wr_timezone(*events: str) -> bytes:
    return calendar(*events).replace(b"PRODID:-//t//EN\r\n", b"PRODID:-//t//EN\r\nX-WR-TIMEZONE:Europe/Berlin\r\n")


PERIOD_BACKWARDS = event("bad", *timed(timedelta(0), 1),
                         f"RDATE;VALUE=PERIOD:{stamp(NOW + timedelta(days=3))}/{stamp(NOW + timedelta(days=2))}")


def test_a_series_the_library_cannot_expand_is_skipped_in_a_google_style_calendar_too():
    """X-WR-TIMEZONE calendars are rewritten before expansion: the skip reaches the copy expanded."""
    parsed = parse(with_x_wr_timezone(GOOD, PERIOD_BACKWARDS))
    assert {s.person for s in parsed.shifts} == {"alice"}
    assert [m.split(": ")[1] for m in skipped(parsed)] == ["cannot expand"]
    with pytest.raises(CalendarError, match="no usable event: bad 'On call Alice Adams': cannot expand"):
        parse(with_x_wr_timezone(PERIOD_BACKWARDS))
