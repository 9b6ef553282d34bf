"""Time zones of one calendar: resolve each TZID and anchor event times to it.

icalendar 7 resolves TZIDs while parsing, but it caches VTIMEZONE definitions
process-wide by TZID, first one wins: a second calendar defining its own
"Customized Time Zone" (or a wrong "W. Europe Standard Time") gets the first
calendar's offsets. ``ZoneResolver`` therefore re-resolves every TZID per
calendar: IANA names and Windows names (through icalendar's own
``WINDOWS_TO_OLSON`` table) come from tzdata; anything else from this
calendar's own VTIMEZONE; ``anchor_event_times`` then re-attaches the wall-clock
times written in the file to the right zone.
"""
from __future__ import annotations

from datetime import date, datetime, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from icalendar import Component, Timezone
from icalendar.prop import vDDDLists, vDDDTypes
from icalendar.timezone import tzp
from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

TIME_PROPERTIES = ("DTSTART", "DTEND", "RECURRENCE-ID")
TIME_LIST_PROPERTIES = ("RDATE", "EXDATE")


def zone_from_name(name: str) -> ZoneInfo | None:
    """An IANA zone for an IANA name or a Windows zone name, else None."""
    cleaned = name.strip().strip('"').strip("/")
    for candidate in (cleaned, WINDOWS_TO_OLSON.get(cleaned)):
        if not candidate:
            continue
        try:
            return ZoneInfo(candidate)
        except (ZoneInfoNotFoundError, ValueError):
            continue
    return None


class ZoneResolver:
    """Resolves the TZIDs of one calendar, remembering what it had to guess.

    ``custom_zones`` are the VTIMEZONE components that are actually used (their
    recurrence rules are evaluated lazily on every offset lookup, so the caller
    should vet them). ``warnings`` are human-readable notes for lint.
    """

    def __init__(self, calendar: Component) -> None:
        self._definitions: dict[str, Timezone] = {
            str(component["TZID"]): component
            for component in calendar.walk("VTIMEZONE")
            if "TZID" in component
        }
        self._resolved: dict[str, tzinfo | None] = {}
        self.custom_zones: dict[str, Timezone] = {}
        self.warnings: list[str] = []

    def resolve(self, tzid: str) -> tzinfo | None:
        """The zone a TZID names, or None when it cannot be resolved."""
        if tzid not in self._resolved:
            self._resolved[tzid] = self._lookup(tzid)
        return self._resolved[tzid]

    def _lookup(self, tzid: str) -> tzinfo | None:
        zone = zone_from_name(tzid)
        if zone is not None:
            return zone
        definition = self._definitions.get(tzid)
        if definition is not None:
            self.custom_zones[tzid] = definition
            return definition.to_tz(tzp, lookup_tzid=False)
        # A "globally unique" TZID such as /example.org/2025/Europe/Berlin.
        parts = tzid.strip("/").split("/")
        for first in range(1, len(parts)):
            zone = zone_from_name("/".join(parts[first:]))
            if zone is not None:
                self.warnings.append(f"time zone {tzid!r} read as {zone.key!r}")
                return zone
        self.warnings.append(f"unknown time zone {tzid!r} without VTIMEZONE; read as floating")
        return None


def anchor_event_times(event: Component, resolver: ZoneResolver) -> None:
    """Re-attach this event's TZID-qualified times to the resolver's zones, in place."""
    for name in TIME_PROPERTIES:
        prop = event.get(name)
        if isinstance(prop, vDDDTypes) and "TZID" in prop.params:
            zone = resolver.resolve(str(prop.params["TZID"]))
            event[name] = vDDDTypes(_rezone(prop.dt, zone))
    for name in TIME_LIST_PROPERTIES:
        value = event.get(name)
        if value is None:
            continue
        items = value if isinstance(value, list) else [value]
        rezoned = [_rezone_list(item, resolver) for item in items]
        if any(new is not old for new, old in zip(rezoned, items)):
            event[name] = rezoned[0] if len(rezoned) == 1 else rezoned


def _rezone_list(item: object, resolver: ZoneResolver) -> object:
    """An RDATE/EXDATE value with its times moved to the resolver's zone."""
    if not isinstance(item, vDDDLists) or "TZID" not in item.params:
        return item
    zone = resolver.resolve(str(item.params["TZID"]))
    return vDDDLists([_rezone(entry.dt, zone) for entry in item.dts])


def _rezone(value: object, zone: tzinfo | None) -> object:
    """The same wall-clock time(s) in ``zone`` (floating when zone is None).

    Dates stay dates; an RDATE period (start, end or duration) is moved as a whole.
    """
    if isinstance(value, tuple):
        return tuple(_rezone(part, zone) for part in value)
    if isinstance(value, datetime):
        return value.replace(tzinfo=zone)
    return value


def to_utc(value: date | datetime, zone: tzinfo) -> datetime:
    """A UTC datetime; dates are midnight and floating times wall-clock time in ``zone``."""
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return value.astimezone(timezone.utc)
