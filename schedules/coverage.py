"""Coverage checks for a schedule: gaps, overlaps, and a combined lint report.

``within`` narrows a report to the days asked about and ``lint_line`` words each
problem the way ``herald schedules lint`` and the upload's answer print it.

A gap is a stretch with nobody on call for a tier (handoffs applied). An
overlap is two different people scheduled by the calendar on the same tier at
once, from different events -- usually a forgotten edit. Several attendees of
one event (pairing, shadowing) are deliberate and are not reported.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timezone

from schedules.model import ParsedCalendar, Problem, Shift
from schedules.rotation import Rotation


def _when(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def gaps(rotation: Rotation, tier: str, start: datetime, end: datetime) -> list[Problem]:
    """Stretches of [start, end) where nobody is on call for ``tier``."""
    found: list[Problem] = []
    cursor = start
    for segment in rotation.segments(tier, start, end):
        if segment.start > cursor:
            found.append(_gap(tier, cursor, segment.start))
        cursor = max(cursor, segment.end)
    if cursor < end:
        found.append(_gap(tier, cursor, end))
    return found


def _gap(tier: str, start: datetime, end: datetime) -> Problem:
    message = f"nobody on call for {tier} from {_when(start)} to {_when(end)}"
    return Problem("gap", message, tier, start, end)


def overlaps(
    shifts: Iterable[Shift],
    tier: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[Problem]:
    """Two different people from the calendar on the same tier at once.

    Only ``source == "calendar"`` shifts count; shifts sharing a uid (attendees
    of the same event instance) never overlap each other. ``tier=None`` checks
    every tier separately. With ``start``/``end``, overlaps are clipped to that range.
    """
    by_tier: dict[str, list[Shift]] = {}
    for shift in shifts:
        if shift.source == "calendar" and (tier is None or shift.tier == tier):
            by_tier.setdefault(shift.tier, []).append(shift)
    found: list[Problem] = []
    for name in sorted(by_tier):
        active: list[Shift] = []
        for shift in sorted(by_tier[name], key=lambda s: (s.start, s.end, s.person, s.uid)):
            active = [other for other in active if other.end > shift.start]
            for other in active:
                if other.person == shift.person or other.uid == shift.uid:
                    continue
                lo = max(shift.start, start) if start else shift.start
                hi = min(shift.end, other.end, end) if end else min(shift.end, other.end)
                if lo < hi:
                    message = (
                        f"{other.person} and {shift.person} are both on call for {name} "
                        f"from {_when(lo)} to {_when(hi)} ({other.uid} / {shift.uid})"
                    )
                    found.append(Problem("overlap", message, name, lo, hi))
            active.append(shift)
    return found


def lint(
    parsed: ParsedCalendar,
    rotation: Rotation,
    tiers: Iterable[str],
    start: datetime,
    end: datetime,
) -> list[Problem]:
    """Everything worth telling the schedule's owner about [start, end).

    The parse problems (unknown people, warnings) come first, in parse order,
    then for each tier in ``tiers`` its gaps and overlaps by start time. A
    tier missing from the rotation is one gap over the whole range.
    """
    report = list(parsed.problems)
    for tier in tiers:
        per_tier = gaps(rotation, tier, start, end) + overlaps(parsed.shifts, tier, start, end)
        report.extend(sorted(per_tier, key=lambda p: (p.start or start, p.kind)))
    return report


def within(problems: Iterable[Problem], start: datetime, end: datetime) -> list[Problem]:
    """The problems that concern [start, end), each message once.

    Problems without a time (a skipped event, a parse warning) always concern it;
    the others when they overlap it. The calendar reports an unknown person at every
    occurrence of a recurring event under one message: the first occurrence in the
    range stands for them all.
    """
    return list(distinct([p for p in problems
                          if p.start is None or ((p.end or p.start) > start and p.start < end)]))


def distinct(problems: Iterable[Problem]) -> tuple[Problem, ...]:
    """Each message once, at its first occurrence (the calendar's problems, whatever the dates)."""
    first: dict[tuple[str, str], Problem] = {}
    for problem in problems:
        first.setdefault((problem.kind, problem.message), problem)
    return tuple(first.values())


def lint_line(problem: Problem) -> str:
    """How ``herald schedules lint`` (and the upload's answer) words a problem."""
    return f"{problem.kind}{' ' + problem.tier if problem.tier else ''}: {problem.message}"
