"""The next weeks of one schedule tier as a calendar grid: for each day (in the
schedule's time zone) the stretches of coverage, handoffs marked, and the gaps."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from schedules.model import Person
from schedules.rotation import Rotation

DAYS = 28


@dataclass(frozen=True)
class Piece:
    start: datetime  # local time of the schedule
    end: datetime
    names: tuple[str, ...] = ()
    handoff: bool = False
    note: str = ""

    @property
    def gap(self) -> bool:
        return not self.names

    @property
    def whole_day(self) -> bool:
        return self.start.time() == time(0) and self.end - self.start >= timedelta(hours=23)

    def label(self) -> str:
        """``09:00–17:00`` (``24:00`` for midnight at the end of the day)."""
        end = "24:00" if self.end.time() == time(0) and self.end > self.start else self.end.strftime("%H:%M")
        return f"{self.start:%H:%M}–{end}"


@dataclass
class Day:
    day: date
    today: bool
    past: bool
    pieces: list[Piece] = field(default_factory=list)

    @property
    def has_gap(self) -> bool:
        return any(p.gap for p in self.pieces)


def zone(name: str) -> ZoneInfo | timezone:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return timezone.utc


def _day_pieces(rotation: Rotation | None, tier: str, lo: datetime, hi: datetime, tz, people) -> list[Piece]:
    pieces: list[Piece] = []
    cursor = lo
    for seg in rotation.segments(tier, lo, hi) if rotation else []:
        if seg.start > cursor:
            pieces.append(Piece(cursor.astimezone(tz), seg.start.astimezone(tz)))
        names = tuple(people[s.person].name if s.person in people else s.person for s in seg.shifts)
        handoffs = [s for s in seg.shifts if s.source == "handoff"]
        note = "; ".join(s.note for s in handoffs if s.note)
        pieces.append(Piece(seg.start.astimezone(tz), seg.end.astimezone(tz), names, bool(handoffs), note))
        cursor = seg.end
    if cursor < hi:
        pieces.append(Piece(cursor.astimezone(tz), hi.astimezone(tz)))
    return _merged(pieces)


def _merged(pieces: list[Piece]) -> list[Piece]:
    """Join neighbours that look the same (one shift ending as the same person's next begins)."""
    out: list[Piece] = []
    for piece in pieces:
        last = out[-1] if out else None
        if last and last.end == piece.start and (last.names, last.handoff, last.note) == (
                piece.names, piece.handoff, piece.note):
            out[-1] = Piece(last.start, piece.end, last.names, last.handoff, last.note)
        else:
            out.append(piece)
    return out


def weeks(rotation: Rotation | None, tier: str, tz_name: str, people: Mapping[str, Person],
          now: datetime, days: int = DAYS) -> list[list[Day]]:
    """Rows of seven days (Monday first) covering today and the next ``days`` - 1 days."""
    tz = zone(tz_name)
    today = now.astimezone(tz).date()
    first = today - timedelta(days=today.weekday())
    count = -(-(today.weekday() + days) // 7) * 7
    out: list[list[Day]] = []
    for n in range(count):
        day = first + timedelta(days=n)
        lo = datetime.combine(day, time(0), tz).astimezone(timezone.utc)
        hi = datetime.combine(day + timedelta(days=1), time(0), tz).astimezone(timezone.utc)
        cell = Day(day, day == today, day < today, _day_pieces(rotation, tier, lo, hi, tz, people))
        if n % 7 == 0:
            out.append([])
        out[-1].append(cell)
    return out
