"""Read an on-call calendar (iCalendar bytes) into shifts for a time window.

Recurrence expansion is recurring-ical-events' (RRULE, RDATE, EXDATE,
RECURRENCE-ID), X-WR-TIMEZONE is x-wr-timezone's and parsing is icalendar's;
this module adds per-calendar time zone resolution (see ``timezones``), a
budget against hostile rules (see ``recurrence_limits``), and the mapping of
events to people and tiers (see ``people_matching``).

An event that cannot be used (no DTSTART, a broken time or rule, a period that
ends before it starts) is skipped and reported as a ``skipped_event`` Problem:
one bad line from a rota generator must not freeze the whole rota on an older
copy. Only a calendar with no usable event at all is refused, and so is one
that trips a guard (too many occurrences or recurrences): that is about the
whole calendar's cost.

Pure: bytes in, ``ParsedCalendar`` out; the window is an argument, never "now".
"""
from __future__ import annotations

import hashlib
import warnings
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta, tzinfo

import recurring_ical_events
import x_wr_timezone
from icalendar import Calendar, Component

from routing.errors import Invalid
from schedules.calendar_options import CalendarError, CalendarOptions
from schedules.model import ParsedCalendar, Person, Problem, Shift
from schedules.people_matching import PersonMatcher, tier_of
from schedules.recurrence_limits import check_recurrence_budget, rule_problem
from schedules.timezones import ZoneResolver, anchor_event_times, to_utc, zone_from_name

__all__ = ["CalendarError", "CalendarOptions", "parse_calendar"]

# A broken value in one of these makes the event's times unknowable.
TIMING_PROPERTIES = frozenset(
    {"DTSTART", "DTEND", "DURATION", "RRULE", "RDATE", "EXDATE", "RECURRENCE-ID"}
)
# Floating and all-day times are compared with the window only after they are
# placed in a zone, so the library is asked for a little more than the window.
_QUERY_SLACK = timedelta(days=1)
# What recurring-ical-events raises for an event it cannot expand (InvalidCalendar,
# BadRuleStringFormat and PeriodEndBeforeStart are ValueErrors).
_EXPANSION_ERRORS = (ValueError, TypeError, KeyError, AttributeError)
# How many skipped events a refusal names.
_NAMED_IN_REFUSAL = 3

#: Reports the components of one unusable event (a series and its moved instances) and why.
Skip = Callable[[list[Component], str], None]


def parse_calendar(
    data: bytes,
    *,
    people: Sequence[Person],
    options: CalendarOptions,
    window_start: datetime,
    window_end: datetime,
) -> ParsedCalendar:
    """Shifts of every event occurrence overlapping [window_start, window_end).

    Each known person an occurrence names gets a Shift (UTC, source "calendar",
    uid "<UID>/<instance start>"). Each occurrence naming nobody known is reported
    as an ``unknown_person`` Problem instead (one message, each occurrence's times);
    an event that cannot be used is left out and reported as a ``skipped_event``
    Problem (its UID, SUMMARY and the reason; no times). Raises CalendarError when the
    calendar is unreadable, is not a VCALENDAR, has events but none usable, or expands
    beyond ``options.max_shifts`` / ``options.max_recurrence_steps``.
    """
    if window_start.tzinfo is None or window_end.tzinfo is None:
        raise Invalid("window_start and window_end must be timezone-aware", field="window_start")
    if window_end <= window_start:
        raise Invalid("window_end must be after window_start", field="window_end")
    problems: list[Problem] = []
    skipped: list[Problem] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        calendar = _read(data)
        skip = _reporter(calendar, options, skipped)
        had_events = bool(calendar.walk("VEVENT"))
        _vet_events(calendar, problems, skip)
        resolver = ZoneResolver(calendar)
        for event in calendar.walk("VEVENT"):
            try:
                anchor_event_times(event, resolver)
            except Exception as error:  # dateutil/icalendar on a broken VTIMEZONE
                skip([event], f"unusable time zone or time: {_brief(error)}")
                _drop(calendar, [event])
        _refuse_without_events(calendar, had_events, skipped)
        calendar = _apply_x_wr_timezone(calendar, problems)
        check_recurrence_budget(
            calendar.walk("VEVENT"),
            resolver.custom_zones.values(),
            window_end,
            options.max_recurrence_steps,
        )
        occurrences = _expand(calendar, window_start, window_end, options.max_shifts, skip)
        _refuse_without_events(calendar, had_events, skipped)
        shifts = _shifts(occurrences, people, options, window_start, window_end, problems)
    problems = skipped + problems
    problems.extend(Problem("parse_warning", note) for note in resolver.warnings)
    problems.extend(Problem("parse_warning", str(w.message)) for w in caught)
    return ParsedCalendar(shifts=tuple(shifts), problems=tuple(dict.fromkeys(problems)))


def _read(data: bytes) -> Calendar:
    """Parse the bytes into a VCALENDAR (CalendarError for anything else)."""
    if not isinstance(data, (bytes, bytearray)):
        raise TypeError("calendar data must be bytes")
    try:
        calendar = Calendar.from_ical(bytes(data))
    except Exception as error:  # icalendar raises many kinds on junk input
        raise CalendarError(f"not a readable iCalendar file: {_brief(error)}") from error
    if not isinstance(calendar, Calendar) or calendar.name != "VCALENDAR":
        found = getattr(calendar, "name", type(calendar).__name__)
        raise CalendarError(f"expected a VCALENDAR, found {found}")
    return calendar


def _vet_events(calendar: Calendar, problems: list[Problem], skip: Skip) -> None:
    """Skip events with unusable times or rules; warn about what is only odd, and give
    an event without UID a stable one."""
    for index, event in enumerate(calendar.walk("VEVENT")):
        label = str(event.get("UID") or f"event #{index + 1}")
        broken = [(name, message) for name, message in getattr(event, "errors", ())
                  if name.upper() in TIMING_PROPERTIES]
        reason = f"broken {broken[0][0]}: {broken[0][1]}" if broken else rule_problem(event)
        if reason:
            skip([event], reason)
            _drop(calendar, [event])
            continue
        for name, message in getattr(event, "errors", ()):
            problems.append(Problem("parse_warning", f"{label}: ignored broken {name}: {message}"))
        end = getattr(event.get("DTEND"), "dt", None)
        if _before(end, event["DTSTART"].dt):
            note = f"{label}: DTEND is before DTSTART; read as the span between them"
            problems.append(Problem("parse_warning", note))
        if not event.get("UID"):
            digest = hashlib.sha256(event.to_ical()).hexdigest()[:16]
            event["UID"] = f"no-uid-{digest}"
            problems.append(Problem("parse_warning", f"{label} has no UID; using {event['UID']}"))


def _reporter(calendar: Calendar, options: CalendarOptions, skipped: list[Problem]) -> Skip:
    """A function that reports unusable events in ``skipped`` (an event without UID by
    its position among ``calendar``'s events); the caller takes them out (``_drop``)."""
    positions = {id(event): n for n, event in enumerate(calendar.walk("VEVENT"), start=1)}

    def skip(events: list[Component], reason: str) -> None:
        first = events[0]
        uid = str(first.get("UID") or f"event #{positions.get(id(first), '?')}")
        summary = str(first.get("SUMMARY", "") or "")
        shown = repr(summary) if summary else "(no SUMMARY)"
        tier = tier_of(summary, options.tier_markers, options.default_tier)
        skipped.append(Problem("skipped_event", f"{uid} {shown}: {reason}", tier))

    return skip


def _drop(calendar: Calendar, events: list[Component]) -> None:
    """Take these components out of the calendar (by identity: duplicates may be equal)."""
    calendar.subcomponents = [c for c in calendar.subcomponents if all(c is not e for e in events)]


def _refuse_without_events(calendar: Calendar, had_events: bool, skipped: list[Problem]) -> None:
    """A calendar whose every event was skipped is refused: its copy in force stays."""
    if not had_events or calendar.walk("VEVENT"):
        return
    named = "; ".join(p.message for p in skipped[:_NAMED_IN_REFUSAL])
    more = len(skipped) - _NAMED_IN_REFUSAL
    raise CalendarError(f"no usable event: {named}" + (f" (and {more} more)" if more > 0 else ""))


def _brief(error: Exception) -> str:
    """The error's text, cut short: icalendar quotes whole inputs in its messages."""
    text = str(error)
    return text if len(text) <= 200 else text[:200] + "..."


def _before(end: object, start: object) -> bool:
    """Whether ``end`` is earlier than ``start`` (False when they do not compare)."""
    try:
        return end is not None and type(end) is type(start) and end < start  # type: ignore
    except TypeError:  # floating vs. zoned
        return False


def _apply_x_wr_timezone(calendar: Calendar, problems: list[Problem]) -> Calendar:
    """Google's X-WR-TIMEZONE: UTC and floating times are meant in that zone."""
    name = calendar.get("X-WR-TIMEZONE")
    if name is None:
        return calendar
    zone = zone_from_name(str(name))
    if zone is None:
        problems.append(Problem("parse_warning", f"unknown X-WR-TIMEZONE {str(name)!r} ignored"))
    else:
        calendar = x_wr_timezone.to_standard(calendar, timezone=zone)
    calendar.pop("X-WR-TIMEZONE", None)  # applied; keep the library from re-reading it
    return calendar


def _expand(
    calendar: Calendar, window_start: datetime, window_end: datetime, max_shifts: int, skip: Skip
) -> list[Component]:
    """Occurrences near the window, through recurring-ical-events.

    When the library refuses the calendar, each series (the events sharing a UID) is
    expanded on its own, and the series it refuses are skipped.
    """
    start, end = window_start - _QUERY_SLACK, window_end + _QUERY_SLACK
    try:
        occurrences = recurring_ical_events.of(calendar).between(start, end)
    except _EXPANSION_ERRORS:
        occurrences = []
        for series in _series(calendar):
            part = Calendar()
            for key, value in calendar.items():
                part[key] = value
            part.subcomponents = [c for c in calendar.subcomponents if c.name != "VEVENT"] + series
            try:
                occurrences += recurring_ical_events.of(part).between(start, end)
            except _EXPANSION_ERRORS as error:
                skip(series, f"cannot expand: {_brief(error)}")
                _drop(calendar, series)
    if len(occurrences) > max_shifts:
        raise CalendarError(
            f"calendar expands to {len(occurrences)} occurrences in the window; "
            f"the limit is {max_shifts}"
        )
    return occurrences


def _series(calendar: Calendar) -> list[list[Component]]:
    """The calendar's events grouped by UID, in order of first appearance."""
    grouped: dict[str, list[Component]] = {}
    for event in calendar.walk("VEVENT"):
        grouped.setdefault(str(event.get("UID")), []).append(event)
    return list(grouped.values())


def _shifts(
    occurrences: list[Component],
    people: Sequence[Person],
    options: CalendarOptions,
    window_start: datetime,
    window_end: datetime,
    problems: list[Problem],
) -> list[Shift]:
    zone = options.zone()
    matcher = PersonMatcher(people)
    reported: set[tuple[str, str]] = set()
    shifts: set[Shift] = set()
    for occurrence in occurrences:
        if str(occurrence.get("STATUS", "")).upper() == "CANCELLED":
            continue
        uid = str(occurrence["UID"])
        start = to_utc(occurrence["DTSTART"].dt, zone)
        end = to_utc(occurrence["DTEND"].dt, zone) if "DTEND" in occurrence else start
        if end < window_start or start >= window_end:
            continue
        if end <= start:
            if (uid, "empty") not in reported:
                reported.add((uid, "empty"))
                message = f"{uid}: event has no duration; ignored"
                problems.append(Problem("parse_warning", message, None, start, end))
            continue
        if end <= window_start:
            continue
        summary = str(occurrence.get("SUMMARY", "") or "")
        tier = tier_of(summary, options.tier_markers, options.default_tier)
        found, searched = matcher.match(occurrence, options.match)
        if not found:  # every occurrence: lint looks at the days ahead, not the window's first
            message = f"{uid}: nobody known in {searched}"
            problems.append(Problem("unknown_person", message, tier, start, end))
            continue
        instance = _instance_key(occurrence.get("RECURRENCE-ID"), start, zone)
        for person in found:
            shifts.add(Shift(tier, person.id, start, end, "calendar", f"{uid}/{instance}"))
    return sorted(shifts, key=lambda s: (s.start, s.tier, s.person, s.end, s.uid))


def _instance_key(recurrence_id: object, start: datetime, zone: tzinfo) -> str:
    """The instance's original start: a date as YYYYMMDD, a time in UTC."""
    value = getattr(recurrence_id, "dt", None)
    if isinstance(value, date) and not isinstance(value, datetime):
        return value.strftime("%Y%m%d")
    moment = to_utc(value, zone) if isinstance(value, datetime) else start
    return moment.strftime("%Y%m%dT%H%M%SZ")
