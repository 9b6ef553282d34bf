"""Calendars -> rotations for every schedule, kept current in every process.

Sources: a file (re-read when its mtime changes), a URL (polled every ``poll_interval``
by one process at a time, honouring ETag / Last-Modified), or uploads (``accept_upload``).
A copy is parsed once, when it changes; lookups use the indexed ``Rotation``.

- A calendar that fails to read, fetch or parse never empties its schedule: the last good
  copy stays in force and the failure is in ``status`` and the log.
- Every good copy is saved in Redis (``CalendarCopies``); a schedule whose source is
  unreachable at start-up uses Redis's copy, so the last good rotation survives restarts.
- ``refresh`` makes one MGET of two version keys on every call, so uploads, fetched
  copies and handoffs written by any process are in force before this process's next roster.
- Untrusted bytes (uploads, URLs) are parsed in a child process with a time limit.
"""
from __future__ import annotations

import logging
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import redis

from integrations.calendar_copies import CalendarCopies
from integrations.calendar_sandbox import PARSE_TIME_LIMIT, parse_sandboxed
from integrations.calendar_sources import SourceError, digest, read_file, redact_url
from integrations.calendar_state import CalendarStatus, InForce, Refresher, track_for_fork
from integrations.calendar_sync import SyncMixin, UploadRefused
from routing.policy import Policy, Roster
from schedules.calendar import CalendarError, CalendarOptions, parse_calendar
from schedules.model import ParsedCalendar
from schedules.oncall import on_call
from schedules.rotation import Rotation
from integrations.config.model import HeraldConfig, ScheduleSpec

log = logging.getLogger("herald.calendars")

#: Shifts are expanded over [now - BACK, now + AHEAD] and re-expanded every REFRESH.
BACK = timedelta(days=30)
AHEAD = timedelta(days=400)
REFRESH = timedelta(days=7)

__all__ = ["BACK", "AHEAD", "CalendarBook", "CalendarStatus", "UploadRefused"]


def options_for(spec: ScheduleSpec) -> CalendarOptions:
    return spec.calendar_options()


class CalendarBook(SyncMixin):
    """Parsed rotations for every schedule of a configuration.

    ``redis_client`` (decoding responses) enables last-good copies, uploads, handoffs and
    cross-process updates; without it the book reads files and URLs only. ``readonly``
    books (the CLI) never write to Redis. ``background`` starts the refresher thread.
    """

    def __init__(self, config: HeraldConfig, redis_client: redis.Redis | None = None, *,
                 check_every: timedelta = timedelta(seconds=5), readonly: bool = False,
                 background: bool = True, parse_time_limit: float = PARSE_TIME_LIMIT) -> None:
        self.config = config
        self.check_every = check_every
        self.readonly = readonly
        self.parse_time_limit = parse_time_limit
        self.redis = redis_client
        self.copies = CalendarCopies(redis_client) if redis_client is not None else None
        self.status: dict[str, CalendarStatus] = {
            name: CalendarStatus(name, spec.source or "file", self._location(spec))
            for name, spec in config.schedules.items()}
        self.generation = 0  # bumped whenever a rotation is rebuilt (for caches)
        self._in_force: dict[str, InForce] = {}
        self._kept: dict[str, str] = {}  # file schedules: sha256 of the copy saved in Redis
        self._rotations: dict[str, Rotation] = {}
        self._window: tuple[datetime, datetime] | None = None
        self._checked_at: datetime | None = None
        self._lock = threading.RLock()
        self._background = background and redis_client is not None and not readonly
        self._refresher: Refresher | None = None
        self._owner = os.getpid()
        self._catch_up_lock = threading.Lock()  # guards the two below, never held while refreshing
        self._catch_up_thread: tuple[int, ThreadPoolExecutor] | None = None  # (pid, its one thread)
        self._catch_up_next: Future[None] | None = None
        self._init_sync(redis_client)
        track_for_fork(self)

    # -- keeping current ------------------------------------------------------------------
    def refresh(self, now: datetime, force: bool = False) -> None:
        """Adopt what changed: files (mtime, every ``check_every``), and on every call the
        uploads, fetched copies and handoffs other processes announced. ``force`` also
        re-reads every file and polls every URL now (start-up, the CLI)."""
        self._start_refresher()
        due = force or self._checked_at is None or not (
            timedelta(0) <= now - self._checked_at < self.check_every)
        with self._lock:
            self._rewindow(now)
            if due:
                self._checked_at = now
                for name, spec in self.config.schedules.items():
                    if spec.source == "file":
                        self._refresh_file(name, spec, now, force)
                    elif name not in self._in_force:
                        self._fall_back(name, now)
            self._sync(now)
        if force:
            for name in self.url_schedules():
                self.poll(name, now, force=True)

    def catch_up(self, now: datetime) -> Future[None]:
        """``refresh(now)`` on this book's own catch-up thread, for the API's event loop,
        which must wait neither on files, Redis nor parsing: it awaits the future instead
        (``service.engine.ingest_async``). Callers arriving while one is queued and not started
        share it (it reads the version keys after they asked). A book without background
        work (no Redis, read-only, closed) refreshes here and answers a done future."""
        with self._catch_up_lock:
            queued = self._catch_up_next
            if queued is not None and not queued.running() and not queued.done():
                return queued
            if not self._background:
                done: Future[None] = Future()
                try:
                    self.refresh(now)
                    done.set_result(None)
                except Exception as exc:
                    done.set_exception(exc)
                return done
            if self._catch_up_thread is None or self._catch_up_thread[0] != os.getpid():
                self._catch_up_thread = (os.getpid(), ThreadPoolExecutor(1, "herald-calendars-catch-up"))
            self._catch_up_next = self._catch_up_thread[1].submit(self.refresh, now)
            return self._catch_up_next

    def close(self) -> None:
        """Stop the refresher thread (the book keeps working on demand)."""
        self._background = False
        if self._refresher is not None:
            self._refresher.stop()
        with self._catch_up_lock:
            if self._catch_up_thread is not None and self._catch_up_thread[0] == os.getpid():
                self._catch_up_thread[1].shutdown(wait=False)
            self._catch_up_thread = None

    def _start_refresher(self) -> None:
        if not self._background or os.getpid() != self._owner:
            return
        if self._refresher is None or not self._refresher.alive():
            polls = [self.config.schedules[n].poll_interval for n in self.url_schedules()]
            interval = max(0.5, min([self.check_every.total_seconds(), *polls]))
            self._refresher = Refresher(self, interval, CalendarBook._tick)

    def _tick(self, now: datetime) -> None:
        self.refresh(now)
        for name in self.url_schedules():
            self.poll(name, now)

    def _rewindow(self, now: datetime) -> None:
        if self._window is not None and timedelta(0) <= now - self._window[0] <= REFRESH + BACK:
            return
        self._window = (now - BACK, now + AHEAD)
        for name, copy in list(self._in_force.items()):
            try:
                parsed = self._parse(name, copy.data, sandboxed=False)
            except CalendarError as exc:
                self._failed(name, now, f"re-expanding for a new window failed: {exc}")
                continue
            self._install(name, replace(copy, parsed=parsed), self.status[name].loaded_at or now, quiet=True)
        self._forget_handoffs()  # re-filter handoffs for the new window

    def _refresh_file(self, name: str, spec: ScheduleSpec, now: datetime, force: bool) -> None:
        path = self.path_of(spec)
        status = self.status[name]
        current = self._in_force.get(name)
        try:
            mtime = path.stat().st_mtime
            if not force and current is not None and status.mtime == mtime:
                return
            data = read_file(path, spec.max_bytes)
            status.mtime = mtime
            if current is not None and digest(data) == current.sha256:
                status.checked_at, status.error, status.error_at = now, None, None
                return
            parsed = self._parse(name, data, sandboxed=False)
        except (OSError, SourceError, CalendarError) as exc:
            reason = f"cannot read {path}: {exc.strerror or exc}" if isinstance(exc, OSError) else str(exc)
            self._failed(name, now, reason)
            if current is None:
                self._fall_back(name, now)
            else:
                self._keep_for_restart(name, current, now)
            return
        version = current.version if current else 0
        if self._kept_copy(name) not in ("", digest(data)):  # Redis keeps an older copy: replace it
            version = self._save(name, data, origin="file", now=now, announce=False)
            self._kept[name] = digest(data)
        self._install(name, InForce(data, digest(data), version, parsed), now)
        status.checked_at, status.error, status.error_at = now, None, None

    def _kept_copy(self, name: str) -> str:
        """sha256 of the copy Redis keeps for a file schedule ("" for none, or no Redis)."""
        if name not in self._kept:
            if self.copies is None or self.readonly:
                return ""
            try:
                self._kept[name] = self.copies.meta(name)["sha256"] or ""
            except redis.RedisError as exc:
                self._redis_down(exc)
                return ""
        return self._kept[name]

    def _keep_for_restart(self, name: str, current: InForce, now: datetime) -> None:
        """The file broke: save the copy in force to Redis, so a restart finds it.

        A good file is not copied to Redis (a restart reads the file itself) unless Redis
        already keeps an older copy of it, which is then replaced.
        """
        if self._kept_copy(name) != current.sha256 and self.copies is not None and not self.readonly:
            self._save(name, current.data, origin="file", now=now, announce=False)
            self._kept[name] = current.sha256

    def _parse(self, name: str, data: bytes, *, sandboxed: bool) -> ParsedCalendar:
        assert self._window is not None
        spec = self.config.schedules[name]
        parse = parse_sandboxed if sandboxed else parse_calendar
        extra = {"time_limit": self.parse_time_limit} if sandboxed else {}
        return parse(data, people=list(self.config.people.values()), options=options_for(spec),
                     window_start=self._window[0], window_end=self._window[1], **extra)

    # -- reading ---------------------------------------------------------------------------
    def rotation(self, schedule: str) -> Rotation | None:
        return self._rotations.get(schedule)

    def parsed(self, schedule: str) -> ParsedCalendar | None:
        copy = self._in_force.get(schedule)
        return copy.parsed if copy else None

    def window(self) -> tuple[datetime, datetime] | None:
        """The span shifts are expanded over; lookups outside it find nobody."""
        return self._window

    def loaded(self) -> bool:
        """Every schedule has a calendar in force (an upload schedule may await its first upload)."""
        return all(name in self._in_force or (s.source == "upload" and not s.error)
                   for name, s in self.status.items())

    def url_schedules(self) -> list[str]:
        return [n for n, s in self.config.schedules.items() if s.source == "url"]

    def path_of(self, spec: ScheduleSpec) -> Path:
        return (self.config.path.parent / (spec.calendar or "")).resolve()

    def _location(self, spec: ScheduleSpec) -> str:
        if spec.source == "url" and spec.url:
            return redact_url(spec.url)
        return str(self.path_of(spec)) if spec.source == "file" else "upload"

    def tiers(self, schedule: str) -> tuple[str, ...]:
        """The tiers a schedule is expected to cover: its default tier, its tier markers'
        tiers and the tiers policies page through it."""
        spec = self.config.schedules[schedule]
        declared = {spec.default_tier, *spec.tier_markers.values()}
        declared.update(t.schedule_tier for p in self.config.policies.values() for t in p.tiers
                        if t.schedule == schedule and t.schedule_tier)
        return tuple(sorted(declared))

    def roster(self, policy: Policy, now: datetime) -> Roster:
        """Who is on call for each tier of ``policy`` at ``now``."""
        self.refresh(now)
        return self.roster_at(policy, now)

    def roster_seen(self, policy: Policy, now: datetime, versions: tuple[str, str]) -> Roster:
        """``roster`` for a caller that read the calendars' and handoffs' version keys
        itself just now (the webhook's one round trip): answered from memory when they
        are the ones this book has adopted and nothing else is due, else as ``roster``."""
        if self.is_current(versions, now):
            return self.roster_at(policy, now)
        return self.roster(policy, now)

    def is_current(self, versions: tuple[str, str], now: datetime) -> bool:
        """Whether memory holds the calendars and handoffs of these version keys and no
        file check or re-expansion is due (then ``roster_seen`` needs no I/O)."""
        seen = tuple("" if v is None else v for v in self._seen)
        return (seen == tuple(versions) and self._checked_at is not None
                and timedelta(0) <= now - self._checked_at < self.check_every
                and self._window is not None and timedelta(0) <= now - self._window[0] <= REFRESH + BACK)

    def roster_at(self, policy: Policy, at: datetime) -> Roster:
        """Who the loaded rotations put on each tier at ``at`` (past or future), no reload."""
        return on_call(policy.tiers, self._rotations, at)
