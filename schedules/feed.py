"""Export effective shifts as an iCalendar feed people can subscribe to.

One VEVENT per shift, UTC times, SUMMARY "On call <tier>: <name>". UIDs are
derived from the shift's uid, tier, person and start, and DTSTAMP is the
shift's start, so the same shifts always export to the same bytes. The feed
carries names only: no phone numbers, emails or notes.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone

from icalendar import Calendar, Event

from routing.errors import Invalid
from schedules.model import Person, Shift

PRODID = "-//Herald//On-call schedule//EN"
SUMMARY_PREFIX = "On call"


def summary_for(shift: Shift, people: Mapping[str, Person]) -> str:
    """ "On call L1: Alice Adams" (the person id when the person is unknown)."""
    person = people.get(shift.person)
    return f"{SUMMARY_PREFIX} {shift.tier}: {person.name if person else shift.person}"


def feed_uid(shift: Shift) -> str:
    """A stable event UID: the same shift always gets the same one."""
    key = "\x1f".join((shift.uid, shift.tier, shift.person, _utc(shift.start).isoformat()))
    return f"{hashlib.sha256(key.encode()).hexdigest()[:32]}@herald"


def tier_markers_for(tiers: Iterable[str]) -> dict[str, str]:
    """Tier markers that read this feed's summaries back (for ``CalendarOptions``)."""
    return {f"{SUMMARY_PREFIX} {tier}:": tier for tier in tiers}


def export_ics(name: str, shifts: Iterable[Shift], people: Mapping[str, Person]) -> bytes:
    """A VCALENDAR named ``name`` with one VEVENT per shift, in a stable order."""
    calendar = Calendar()
    calendar.add("PRODID", PRODID)
    calendar.add("VERSION", "2.0")
    calendar.add("CALSCALE", "GREGORIAN")
    calendar.add("METHOD", "PUBLISH")
    calendar.add("NAME", name)
    calendar.add("X-WR-CALNAME", name)
    ordered = sorted(
        set(shifts), key=lambda s: (_utc(s.start), s.tier, s.person, _utc(s.end), s.uid)
    )
    for shift in ordered:
        event = Event()
        event.add("UID", feed_uid(shift))
        event.add("DTSTAMP", _utc(shift.start))
        event.add("DTSTART", _utc(shift.start))
        event.add("DTEND", _utc(shift.end))
        event.add("SUMMARY", summary_for(shift, people))
        event.add("TRANSP", "TRANSPARENT")
        event.add("CATEGORIES", [shift.tier])
        calendar.add_component(event)
    return calendar.to_ical()


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise Invalid(f"naive datetime {moment!r} in a shift; shifts must be timezone-aware")
    return moment.astimezone(timezone.utc)
