"""Business hours of a policy: when "business hours only" severities may page.

Pure: takes ``now`` and answers in UTC; the time zone rules come from tzdata, so a
weekend or a DST change moves the opening hour the way a wall clock does.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class BusinessHours:
    timezone: str = "UTC"
    days: tuple[int, ...] = (0, 1, 2, 3, 4)  # Monday = 0
    start: time = time(9, 0)
    end: time = time(17, 0)

    def __post_init__(self) -> None:
        ZoneInfo(self.timezone)  # raises for an unknown zone
        if not self.days or any(d not in range(7) for d in self.days):
            raise ValueError("business hours need at least one weekday (mon..sun)")
        if self.end <= self.start:
            raise ValueError("business hours must end after they start")

    def is_open(self, now: datetime) -> bool:
        local = now.astimezone(ZoneInfo(self.timezone))
        return local.weekday() in self.days and self.start <= local.time() < self.end

    def next_open(self, now: datetime) -> datetime:
        """``now`` if open, else the next opening instant (UTC)."""
        if self.is_open(now):
            return now
        zone = ZoneInfo(self.timezone)
        local = now.astimezone(zone)
        for offset in range(8):
            day = local.date() + timedelta(days=offset)
            if day.weekday() not in self.days:
                continue
            opening = datetime.combine(day, self.start, tzinfo=zone)
            if opening > local:
                return opening.astimezone(timezone.utc)
        raise AssertionError("unreachable: some weekday is always within 8 days")
