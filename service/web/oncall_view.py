"""Who is on call now and next, per schedule and tier, and per policy tier: the data
behind the "Now" page, computed from the rotations already in memory."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from schedules.model import Person, Shift


LOOKAHEAD = timedelta(days=60)  # how far ahead the next change of person is looked for


@dataclass(frozen=True)
class OnCall:
    person: str
    name: str
    start: datetime
    end: datetime
    handoff: bool = False
    note: str = ""


@dataclass(frozen=True)
class TierNow:
    schedule: str
    tier: str
    current: tuple[OnCall, ...]
    change: datetime | None  # when the current coverage (or the gap) ends
    following: tuple[OnCall, ...] = ()  # who is on after ``change``

    @property
    def gap(self) -> bool:
        return not self.current


@dataclass
class ScheduleNow:
    name: str
    error: str | None
    loaded: bool
    tiers: list[TierNow] = field(default_factory=list)


def _people(shifts: tuple[Shift, ...], people: Mapping[str, Person]) -> tuple[OnCall, ...]:
    return tuple(OnCall(s.person, people[s.person].name if s.person in people else s.person, s.start, s.end,
                        s.source == "handoff", s.note) for s in shifts)


def tier_now(book: Any, schedule: str, tier: str, people: Mapping[str, Person], now: datetime) -> TierNow:
    rotation = book.rotation(schedule)
    if rotation is None:
        return TierNow(schedule, tier, (), None)
    current = rotation.oncall(tier, now)
    change = _handover(rotation, tier, now, {s.person for s in current})
    following = rotation.oncall(tier, change) if change else ()
    return TierNow(schedule, tier, _people(current, people), change, _people(following, people))


def _handover(rotation: Any, tier: str, now: datetime, current: set[str]) -> datetime | None:
    """When the people on ``tier`` next change (one person's back-to-back shifts are one
    stretch); None when they stay the same as far as we look."""
    change = rotation.next_change(tier, now)
    while change is not None and change - now <= LOOKAHEAD:
        if not current or {s.person for s in rotation.oncall(tier, change)} != current:
            return change
        change = rotation.next_change(tier, change)
    return None if current else change


def schedule_tiers(book: Any, schedule: str) -> list[str]:
    rotation = book.rotation(schedule)
    return sorted({*book.tiers(schedule), *(rotation.tiers() if rotation else ())})


def schedules_now(book: Any, names: list[str], people: Mapping[str, Person], now: datetime) -> list[ScheduleNow]:
    out = []
    for name in names:
        status = book.status[name]
        entry = ScheduleNow(name, status.error or status.note, book.parsed(name) is not None)
        entry.tiers = [tier_now(book, name, tier, people, now) for tier in schedule_tiers(book, name)]
        out.append(entry)
    return out


@dataclass(frozen=True)
class PolicyTierNow:
    policy: str
    tier: str
    source: str  # "schedule primary / L1" or "fixed people"
    names: tuple[str, ...]


def policies_now(book: Any, policies: Mapping[str, Any], people: Mapping[str, Person],
                 now: datetime) -> list[PolicyTierNow]:
    """Who each tier of each policy would page at ``now``, in escalation order."""
    out = []
    for policy in policies.values():
        roster = book.roster_at(policy, now)
        for tier in policy.tiers:
            source = (f"schedule {tier.schedule} / {tier.schedule_tier or tier.name}" if tier.schedule
                      else "fixed people")
            names = tuple(people[p].name if p in people else p for p in roster.get(tier.name, ()))
            out.append(PolicyTierNow(policy.name, tier.name, source, names))
    return out
