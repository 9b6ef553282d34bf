"""Bounds on how much work a calendar's recurrence rules may cause.

dateutil (which recurring-ical-events and icalendar use) always iterates a rule
from its DTSTART and materialises every occurrence in the queried span, so an
endless ``FREQ=SECONDLY`` rule, a huge COUNT or a minutely rule started decades
ago would hang or exhaust memory. Before expanding, ``check_recurrence_budget``
walks each rule lazily (no list is built) up to the window end and stops with a
``CalendarError`` as soon as the budget is spent. The same applies to the
transition rules of custom VTIMEZONEs, which dateutil re-walks on every offset
lookup.

An event whose rule dateutil cannot build at all (``BYHOUR=25``, ``INTERVAL=0``) is not
a cost but a mistake: ``rule_problem`` names it, and the parser skips that one event.

Known limit: a rule that never matches at all (``BYMONTH=2;BYMONTHDAY=30``)
makes dateutil step to year 9999 without yielding; that costs seconds per
series and cannot be interrupted from outside dateutil.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta

from dateutil.rrule import rrulestr
from icalendar import Component
from icalendar.prop import vRecur

from schedules.calendar_options import CalendarError

# A real VTIMEZONE has one yearly rule per STANDARD/DAYLIGHT part: ~430 since 1601.
MAX_ZONE_TRANSITIONS = 1_000
_MARGIN = timedelta(days=2)  # covers UTC offsets and moved instances near the end


def check_recurrence_budget(
    events: Iterable[Component],
    zones: Iterable[Component],
    window_end: datetime,
    max_steps: int,
) -> int:
    """Raise CalendarError when expansion up to ``window_end`` would exceed the limits.

    Returns the number of steps counted (every VEVENT counts one, each recurrence
    of its RRULEs one more).
    """
    bound = window_end.replace(tzinfo=None) + _MARGIN
    steps = 0
    for event in events:
        steps += 1
        for rule in _rules(event):
            steps += _count(event, rule, bound, max_steps - steps + 1)
            if steps > max_steps:
                raise CalendarError(
                    f"event {event.get('UID', '?')!s} expands past the limit of "
                    f"{max_steps} recurrences before the window end; "
                    "refusing an endless or too dense RRULE"
                )
    for zone in zones:
        for part in zone.subcomponents:
            for rule in _rules(part):
                if _count(part, rule, bound, MAX_ZONE_TRANSITIONS + 1) > MAX_ZONE_TRANSITIONS:
                    raise CalendarError(
                        f"VTIMEZONE {zone.get('TZID', '?')!s} has more than "
                        f"{MAX_ZONE_TRANSITIONS} transitions; refusing it"
                    )
    return steps


def rule_problem(event: Component) -> str | None:
    """Why the event's RRULEs cannot be expanded (a value out of range, INTERVAL=0), or
    None. Such an event is unusable on its own; the rest of its calendar is not."""
    start_prop = event.get("DTSTART")
    if start_prop is None or not hasattr(start_prop, "dt"):
        return "VEVENT without DTSTART"
    for rule in _rules(event):
        if any(not isinstance(n, int) or n < 1 for n in rule.get("INTERVAL", [])):
            return "unusable RRULE: INTERVAL must be at least 1"
        try:
            _recurrences(start_prop.dt, rule)
        except (ValueError, TypeError) as error:
            return f"unusable RRULE: {error}"
    return None


def _rules(component: Component) -> list[vRecur]:
    value = component.get("RRULE")
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _recurrences(start: date | datetime, rule: vRecur) -> Iterable[datetime]:
    """dateutil's iterator over the rule from ``start`` (wall-clock, without UNTIL)."""
    text = vRecur({key: value for key, value in rule.items() if key != "UNTIL"}).to_ical()
    return rrulestr(text.decode(), dtstart=_naive(start))


def _count(component: Component, rule: vRecur, bound: datetime, limit: int) -> int:
    """How many recurrences the rule yields up to ``bound``, stopping at ``limit``."""
    start_prop = component.get("DTSTART")
    if start_prop is None or not hasattr(start_prop, "dt"):
        raise CalendarError(f"component {component.get('UID', component.name)!s} has no DTSTART")
    until = rule.get("UNTIL")
    if until:
        bound = min(bound, _naive(until[0]) + _MARGIN)
    try:
        recurrences = _recurrences(start_prop.dt, rule)
    except (ValueError, TypeError) as error:
        raise CalendarError(
            f"component {component.get('UID', component.name)!s} has an unusable RRULE: {error}"
        ) from error
    count = 0
    for recurrence in recurrences:
        if recurrence > bound:
            break
        count += 1
        if count >= limit:
            break
    return count


def _naive(value: date | datetime) -> datetime:
    """Wall-clock time of a date or datetime, without zone (good enough for a budget)."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    return datetime(value.year, value.month, value.day)
