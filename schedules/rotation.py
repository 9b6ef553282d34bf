"""Who is on call: calendar shifts with handoffs layered on top, indexed for lookups.

``Rotation.build`` does all the work once: per tier it cuts time at every shift
and handoff boundary, applies the handoffs, splits shifts into the pieces that
are actually in effect, and stores sorted, non-overlapping segments (start,
end, effective shifts) with no empty segments (a hole is a gap). A lookup is
then one ``bisect`` and returns a stored tuple: O(log n), nothing allocated.

Handoffs are applied in the order given (a later one wins where they overlap).
One with ``from_person`` replaces only that person's coverage, and only where
that person is on call; one without replaces everyone on the tier for its whole
window. Either way the incoming person appears once, as a Shift with
source="handoff", uid=the handoff id, note=the handoff note, and start/end the
stretch it is actually in effect.
"""
from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import NamedTuple

from routing.errors import Invalid
from schedules.model import Handoff, Shift

_NOBODY: tuple[Shift, ...] = ()


class Segment(NamedTuple):
    """A stretch of time over which the effective shifts of a tier do not change."""

    start: datetime
    end: datetime
    shifts: tuple[Shift, ...]


@dataclass(frozen=True, slots=True)
class _Timeline:
    """One tier's segments as parallel sorted lists, for bisect."""

    starts: list[datetime]
    ends: list[datetime]
    values: list[tuple[Shift, ...]]


class Rotation:
    """Effective on-call coverage per tier; build with ``Rotation.build``."""

    __slots__ = ("_timelines",)

    def __init__(self, timelines: dict[str, _Timeline]) -> None:
        self._timelines = timelines

    @classmethod
    def build(cls, shifts: Iterable[Shift], handoffs: Iterable[Handoff] = ()) -> Rotation:
        """Index shifts and handoffs (empty or inverted windows are ignored)."""
        by_tier: dict[str, tuple[list[Shift], list[Handoff]]] = {}
        for shift in shifts:
            start, end = _utc(shift.start), _utc(shift.end)
            if start < end:
                if start.tzinfo is not shift.start.tzinfo or end.tzinfo is not shift.end.tzinfo:
                    shift = replace(shift, start=start, end=end)
                by_tier.setdefault(shift.tier, ([], []))[0].append(shift)
        for handoff in handoffs:
            if _utc(handoff.start) < _utc(handoff.end):
                handoff = replace(handoff, start=_utc(handoff.start), end=_utc(handoff.end))
                by_tier.setdefault(handoff.tier, ([], []))[1].append(handoff)
        return cls({tier: _build_timeline(tier, *parts) for tier, parts in by_tier.items()})

    def tiers(self) -> tuple[str, ...]:
        """Every tier that has a shift or a handoff, sorted."""
        return tuple(sorted(self._timelines))

    def oncall(self, tier: str, at: datetime) -> tuple[Shift, ...]:
        """The effective shifts of ``tier`` at instant ``at``, by person (empty in a gap)."""
        timeline = self._timelines.get(tier)
        if timeline is None:
            return _NOBODY
        i = bisect_right(timeline.starts, at) - 1
        if i >= 0 and at < timeline.ends[i]:
            return timeline.values[i]
        return _NOBODY

    def next_change(self, tier: str, at: datetime) -> datetime | None:
        """The first instant after ``at`` at which ``oncall(tier, ...)`` changes."""
        timeline = self._timelines.get(tier)
        if timeline is None:
            return None
        i = bisect_right(timeline.starts, at) - 1
        if i >= 0 and at < timeline.ends[i]:
            return timeline.ends[i]
        return timeline.starts[i + 1] if i + 1 < len(timeline.starts) else None

    def segments(self, tier: str, start: datetime, end: datetime) -> list[Segment]:
        """Non-empty segments of ``tier`` overlapping [start, end), clipped to it."""
        timeline = self._timelines.get(tier)
        if timeline is None or not start < end:
            return []
        found = []
        i = bisect_right(timeline.ends, start)
        while i < len(timeline.starts) and timeline.starts[i] < end:
            clipped = max(timeline.starts[i], start), min(timeline.ends[i], end)
            found.append(Segment(*clipped, timeline.values[i]))
            i += 1
        return found

    def shifts(self, tier: str | None, start: datetime, end: datetime) -> list[Shift]:
        """Effective shifts (handoffs applied) overlapping [start, end), unclipped.

        ``tier=None`` means every tier. Sorted by start, tier, person.
        """
        unique: dict[Shift, None] = {}
        for name in self.tiers() if tier is None else (tier,):
            for segment in self.segments(name, start, end):
                unique.update(dict.fromkeys(segment.shifts))
        return sorted(unique, key=lambda s: (s.start, s.tier, s.person, s.end, s.uid))


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise Invalid(f"naive datetime {moment!r}; shifts and handoffs must be timezone-aware")
    return moment if moment.tzinfo is timezone.utc else moment.astimezone(timezone.utc)


def _build_timeline(tier: str, shifts: Sequence[Shift], handoffs: Sequence[Handoff]) -> _Timeline:
    """Sweep the tier's boundaries, apply handoffs, cut shifts into effective pieces."""
    cuts = sorted({t for item in (*shifts, *handoffs) for t in (item.start, item.end)})
    position = {moment: k for k, moment in enumerate(cuts)}
    # Which shifts / handoffs begin and end at each cut, for a single sweep.
    changes: list[tuple[list[int], ...]] = [([], [], [], []) for _ in cuts]
    for i, s in sorted(enumerate(shifts), key=lambda item: (item[1].start, item[0])):
        changes[position[s.start]][0].append(i)
        changes[position[s.end]][1].append(i)
    for j, h in enumerate(handoffs):
        changes[position[h.start]][2].append(j)
        changes[position[h.end]][3].append(j)
    # Membership per elementary interval [cuts[k], cuts[k+1]): person -> key, where a
    # key is ("s", shift index) or ("h", handoff index).
    members_per_interval: list[tuple[tuple[str, int], ...]] = []
    active_shifts: dict[int, None] = {}  # in order of start: the earliest wins a duplicate
    active_handoffs: set[int] = set()
    for k in range(len(cuts) - 1):
        began, ended, handed, returned = changes[k]
        for i in ended:
            active_shifts.pop(i, None)
        active_shifts.update(dict.fromkeys(began))
        active_handoffs.difference_update(returned)
        active_handoffs.update(handed)
        members: dict[str, tuple[str, int]] = {}
        for i in active_shifts:
            members.setdefault(shifts[i].person, ("s", i))
        for j in sorted(active_handoffs):
            h = handoffs[j]
            if h.from_person is None:
                members = {h.to: ("h", j)}
            elif h.from_person in members:
                del members[h.from_person]
                members[h.to] = ("h", j)
        members_per_interval.append(tuple(members.values()))
    pieces_per_interval = _cut_pieces(tier, cuts, members_per_interval, shifts, handoffs)
    starts: list[datetime] = []
    ends: list[datetime] = []
    values: list[tuple[Shift, ...]] = []
    for k, pieces in enumerate(pieces_per_interval):
        if not pieces:
            continue
        value = tuple(sorted(pieces, key=lambda s: (s.person, s.start, s.uid)))
        if ends and ends[-1] == cuts[k] and values[-1] == value:
            ends[-1] = cuts[k + 1]
        else:
            starts.append(cuts[k])
            ends.append(cuts[k + 1])
            values.append(value)
    return _Timeline(starts, ends, values)


def _cut_pieces(
    tier: str,
    cuts: list[datetime],
    members_per_interval: list[tuple[tuple[str, int], ...]],
    shifts: Sequence[Shift],
    handoffs: Sequence[Handoff],
) -> list[list[Shift]]:
    """One Shift per maximal run of consecutive intervals a member is present in."""
    pieces: list[list[Shift]] = [[] for _ in members_per_interval]
    open_runs: dict[tuple[str, int], int] = {}

    def close(key: tuple[str, int], first: int, stop: int) -> None:
        start, end = cuts[first], cuts[stop]
        kind, index = key
        if kind == "s":
            original = shifts[index]
            whole = (original.start, original.end) == (start, end)
            piece = original if whole else replace(original, start=start, end=end)
        else:
            h = handoffs[index]
            piece = Shift(tier, h.to, start, end, source="handoff", uid=h.id, note=h.note)
        for k in range(first, stop):
            pieces[k].append(piece)

    for k, members in enumerate(members_per_interval):
        present = set(members)
        for key in [key for key in open_runs if key not in present]:
            close(key, open_runs.pop(key), k)
        for key in members:
            open_runs.setdefault(key, k)
    for key, first in open_runs.items():
        close(key, first, len(members_per_interval))
    return pieces
