"""Calendar files on disk -> rotations, reloaded when a file changes.

A calendar that fails to read or parse never empties its schedule: the last good
rotation stays in force and the failure is kept in ``status`` for the API and logs.
"""
from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from routing.policy import Policy, Roster
from schedules.calendar import CalendarError, CalendarOptions, parse_calendar
from schedules.model import Problem
from schedules.rotation import Rotation
from service.config import HeraldConfig

log = logging.getLogger("herald.calendars")

#: Shifts are expanded over [now - BACK, now + AHEAD] and re-expanded every REFRESH.
BACK = timedelta(days=30)
AHEAD = timedelta(days=400)
REFRESH = timedelta(days=7)


@dataclass
class CalendarStatus:
    schedule: str
    loaded_at: datetime | None = None
    mtime: float | None = None
    error: str | None = None
    problems: tuple[Problem, ...] = ()
    shifts: int = 0


class CalendarBook:
    """Parsed rotations for every schedule of a configuration."""

    def __init__(self, config: HeraldConfig, check_every: timedelta = timedelta(seconds=5)) -> None:
        self.config = config
        self.check_every = check_every
        self.status: dict[str, CalendarStatus] = {name: CalendarStatus(name) for name in config.schedules}
        self._rotations: dict[str, Rotation] = {}
        self._window_start: datetime | None = None
        self._checked_at: datetime | None = None
        self._lock = threading.Lock()

    def refresh(self, now: datetime, force: bool = False) -> None:
        """Reload calendars whose file changed, and re-expand when the window ages."""
        if not force and self._checked_at and now - self._checked_at < self.check_every:
            return
        with self._lock:
            self._checked_at = now
            rewindow = self._window_start is None or now - self._window_start > REFRESH + BACK
            if rewindow:
                self._window_start = now - BACK
            for name in self.config.schedules:
                self._load(name, now, force=force or rewindow)

    def _load(self, name: str, now: datetime, force: bool) -> None:
        spec = self.config.schedules[name]
        path = self.config.calendar_path(name)
        status = self.status[name]
        try:
            mtime = os.stat(path).st_mtime
            if not force and status.mtime == mtime and name in self._rotations:
                return
            data = path.read_bytes()
            options = CalendarOptions(timezone=spec.timezone, match=tuple(spec.match),
                                      tier_markers=dict(spec.tier_markers), default_tier=spec.default_tier)
            assert self._window_start is not None
            parsed = parse_calendar(data, people=list(self.config.people.values()), options=options,
                                    window_start=self._window_start, window_end=now + AHEAD)
        except (OSError, CalendarError) as exc:
            status.error = f"{type(exc).__name__}: {exc}"
            log.error("calendar %s failed to load, keeping the last good copy: %s", name, status.error)
            return
        self._rotations[name] = Rotation.build(parsed.shifts)
        status.loaded_at, status.mtime, status.error = now, mtime, None
        status.problems, status.shifts = parsed.problems, len(parsed.shifts)
        for problem in parsed.problems:
            log.warning("calendar %s: %s: %s", name, problem.kind, problem.message)

    def rotation(self, schedule: str) -> Rotation | None:
        return self._rotations.get(schedule)

    def loaded(self) -> bool:
        return all(name in self._rotations for name in self.config.schedules)

    def roster(self, policy: Policy, now: datetime) -> Roster:
        """Who is on call for each tier of ``policy`` at ``now``."""
        self.refresh(now)
        out: dict[str, tuple[str, ...]] = {}
        for tier in policy.tiers:
            if tier.schedule:
                rotation = self._rotations.get(tier.schedule)
                shifts = rotation.oncall(tier.schedule_tier or "", now) if rotation else ()
                out[tier.name] = tuple(dict.fromkeys(s.person for s in shifts))
            else:
                out[tier.name] = tier.people
        return out
