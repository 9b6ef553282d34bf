"""Settings for reading one on-call calendar, and the error raised for bad input.

``CalendarOptions`` says how events in a calendar turn into shifts: which zone
floating and all-day times are in, where to look for the person, how to tell
tiers apart, and how much expansion a calendar may ask for before it is
rejected as hostile. ``CalendarError`` is what ``parse_calendar`` raises for a
calendar that cannot be used at all; callers keep their last good copy.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from routing.errors import Invalid
from schedules.timezones import zone_from_name

MATCH_SOURCES = ("attendee", "organizer", "summary", "description")


class CalendarError(Invalid):
    """The calendar is malformed or hostile and produced no usable shifts (an ``Invalid``)."""


@dataclass(frozen=True)
class CalendarOptions:
    """How to turn the events of one calendar into shifts.

    timezone: IANA zone (or Windows zone name) for floating times and all-day shifts.
    match: where to look for the person, tried in order; the first source naming
        someone known wins. Any of ``MATCH_SOURCES``.
    tier_markers: marker text -> tier, found case-insensitively in SUMMARY; the
        first marker (in mapping order) found decides the tier.
    default_tier: tier of an event whose summary has no marker.
    max_shifts: most occurrences the window may expand to; more is a CalendarError.
    max_recurrence_steps: most recurrences all RRULEs together may generate from
        their DTSTART up to the window end (the expansion cost, including
        occurrences before the window); more is a CalendarError.
    """

    timezone: str = "UTC"
    match: tuple[str, ...] = ("attendee", "summary")
    tier_markers: Mapping[str, str] = field(default_factory=dict)
    default_tier: str = "L1"
    max_shifts: int = 50_000
    max_recurrence_steps: int = 250_000

    def __post_init__(self) -> None:
        if not self.match:
            raise Invalid("CalendarOptions.match needs at least one source", field="match")
        unknown = [source for source in self.match if source not in MATCH_SOURCES]
        if unknown:
            raise Invalid(
                f"CalendarOptions.match has unknown source(s) {unknown}; "
                f"use any of {MATCH_SOURCES}", field="match"
            )
        if not self.default_tier:
            raise Invalid("CalendarOptions.default_tier must not be empty", field="default_tier")
        if self.max_shifts < 1 or self.max_recurrence_steps < 1:
            raise Invalid("CalendarOptions limits must be positive", field="max_shifts")
        # A private copy: the options are frozen, the caller's dict is not.
        object.__setattr__(self, "tier_markers", dict(self.tier_markers))
        if any(not marker for marker in self.tier_markers):
            raise Invalid("CalendarOptions.tier_markers has an empty marker", field="tier_markers")
        if zone_from_name(self.timezone) is None:
            raise Invalid(f"CalendarOptions.timezone {self.timezone!r} is not a known zone", field="timezone")

    def zone(self) -> ZoneInfo:
        """The zone for floating times and all-day shifts."""
        zone = zone_from_name(self.timezone)
        if zone is None:  # pragma: no cover - rejected in __post_init__
            raise ZoneInfoNotFoundError(self.timezone)
        return zone
