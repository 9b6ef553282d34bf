"""The Redis-shared half of ``CalendarBook``: last good copies, URL polls, uploads, handoffs.

Kept apart from ``calendars`` only to keep modules small; ``CalendarBook`` mixes it in
and provides ``config``, ``status``, ``copies``, ``redis``, ``readonly``, ``_lock``,
``_in_force``, ``_rotations``, ``_window`` and ``_parse``.
"""
from __future__ import annotations

import logging
import os
import secrets
import socket
import time
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import redis

from routing.errors import Conflict
from integrations import keys
from integrations.calendar_sources import SourceError, digest, fetch_url
from integrations.calendar_state import InForce
from integrations.handoff_store import HandoffStore, StoredHandoff
from schedules import coverage
from schedules.calendar import CalendarError
from schedules.model import ParsedCalendar, Problem
from schedules.rotation import Rotation

log = logging.getLogger("herald.calendars")
_UNSEEN = object()
REDIS_RETRY = 5.0  # seconds before the version check tries an unreachable Redis again


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


class UploadRefused(Conflict):
    """The schedule does not take uploads (its calendar comes from a file or a URL): a
    ``Conflict`` between the request and the configuration."""


class SyncMixin:
    def _init_sync(self: Any, client: redis.Redis | None) -> None:
        self.handoff_store = HandoffStore(client) if client is not None else None
        self._handoffs: dict[str, tuple[StoredHandoff, ...]] = {}
        self._seen: tuple[object, object] = (_UNSEEN, _UNSEEN)
        self._redis_ok = True
        self._retry_redis_at = 0.0
        self._holder = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"  # of URL poll leases

    # -- noticing other processes' writes --------------------------------------------------
    def _sync(self: Any, now: datetime) -> None:
        """One MGET of the two version keys; reload only what they say changed."""
        if self.redis is None or (not self._redis_ok and time.monotonic() < self._retry_redis_at):
            return  # Redis failed a moment ago: answer from memory instead of waiting on it again
        try:
            versions = tuple(self.redis.mget(keys.CALENDARS_VERSION, keys.HANDOFFS_VERSION))
            if versions != self._seen:
                if versions[0] != self._seen[0]:
                    for name, spec in self.config.schedules.items():
                        if spec.source != "file":
                            self._adopt_stored(name, now)
                if versions[1] != self._seen[1]:
                    self._load_handoffs()
                self._seen = versions
        except redis.RedisError as exc:
            self._redis_down(exc)
            return
        if not self._redis_ok:
            log.info("calendars: Redis is reachable again")
            self._redis_ok = True

    def _redis_down(self: Any, exc: Exception) -> None:
        self._retry_redis_at = time.monotonic() + REDIS_RETRY
        if self._redis_ok:
            log.warning("calendars: Redis unreachable (%s); the rotations in force stay", type(exc).__name__)
            self._redis_ok = False

    def _forget_handoffs(self: Any) -> None:
        self._seen = (self._seen[0], _UNSEEN)

    def _load_handoffs(self: Any) -> None:
        start = self._window[0] if self._window else None
        grouped: dict[str, list[StoredHandoff]] = {}
        for handoff in self.handoff_store.all():
            if handoff.schedule in self.config.schedules and (start is None or handoff.end > start):
                grouped.setdefault(handoff.schedule, []).append(handoff)
        for name in self.config.schedules:
            found = tuple(grouped.get(name, ()))
            if found != self._handoffs.get(name, ()):
                self._handoffs[name] = found
                self._rebuild(name)

    def _fall_back(self: Any, name: str, now: datetime) -> None:
        """Nothing from the source: use the copy saved in Redis, if there is one."""
        upload = self.config.schedules[name].source == "upload"
        if self.copies is None:
            if upload:
                self.status[name].note = "uploaded calendars are kept in Redis, which is not in use here"
            return
        try:
            found = self._adopt_stored(name, now)
        except redis.RedisError as exc:
            self._redis_down(exc)
            if upload and name not in self._in_force:
                self._failed(name, now, "Redis unreachable: cannot read the uploaded calendar")
            return
        if not found and upload:
            self.status[name].note = "no calendar uploaded yet"

    def _adopt_stored(self: Any, name: str, now: datetime) -> bool:
        """Put Redis's copy in force unless ours is the same or newer. Raises RedisError."""
        stored = self.copies.read(name)
        if stored is None:
            return False
        current = self._in_force.get(name)
        if current is not None and (stored.sha256 == current.sha256 or stored.version <= current.version):
            return True
        try:
            parsed = self._parse(name, stored.data, sandboxed=False)
        except CalendarError as exc:
            self._failed(name, now, f"the copy stored in Redis does not parse: {exc}")
            return False
        copy = InForce(stored.data, stored.sha256, stored.version, parsed, stored.etag, stored.last_modified)
        self._install(name, copy, stored.loaded_at or now)
        return True

    # -- changing what is in force ---------------------------------------------------------
    def _install(self: Any, name: str, copy: InForce, loaded_at: datetime, quiet: bool = False) -> None:
        self._in_force[name] = copy
        status = self.status[name]
        status.loaded_at, status.version, status.sha256, status.note = loaded_at, copy.version, copy.sha256, None
        # Each message once (a recurring event naming nobody is reported at every occurrence).
        status.shifts, status.problems = len(copy.parsed.shifts), coverage.distinct(copy.parsed.problems)
        self._rebuild(name)
        if not quiet:
            log.info("calendar %s: version %s in force, %d shifts", name, copy.version, status.shifts)
            for problem in status.problems:
                log.warning("calendar %s: %s: %s", name, problem.kind, problem.message)

    def _rebuild(self: Any, name: str) -> None:
        copy = self._in_force.get(name)
        handoffs = [h.as_handoff() for h in self._handoffs.get(name, ())]
        if copy is None and not handoffs:
            self._rotations.pop(name, None)
        else:
            self._rotations[name] = Rotation.build(copy.parsed.shifts if copy else (), handoffs)
        self.generation += 1

    def _failed(self: Any, name: str, now: datetime, message: str) -> None:
        status = self.status[name]
        status.error, status.error_at = message, now
        kept = "keeping the last good copy" if name in self._in_force else "no copy in force"
        log.error("calendar %s: %s (%s)", name, message, kept)

    def _save(self: Any, name: str, data: bytes, *, origin: str, now: datetime, etag: str | None = None,
              last_modified: str | None = None, announce: bool = True) -> int:
        current = self._in_force.get(name)
        if self.copies is None or self.readonly:
            return current.version if current else 0
        try:
            return self.copies.save(name, data, origin=origin, now=now, etag=etag,
                                    last_modified=last_modified, announce=announce)
        except redis.RedisError as exc:
            self._redis_down(exc)
            return current.version if current else 0

    # -- URLs ------------------------------------------------------------------------------
    def poll(self: Any, name: str, now: datetime, force: bool = False) -> None:
        """Fetch a URL schedule if its poll is due (or ``force``), outside the lock.

        One process per poll interval fetches (a lease in Redis); the others adopt its copy
        through the version key and read its outcome with ``shared_status``.
        """
        spec, status = self.config.schedules[name], self.status[name]
        if not force and status.next_poll is not None and now < status.next_poll:
            return
        status.next_poll = now + timedelta(seconds=spec.poll_interval)
        current = self._in_force.get(name)
        if self.copies is not None and not self.readonly:
            try:
                if not self.copies.claim_poll(name, self._holder, spec.poll_interval) and current is not None:
                    self.shared_status(name)
                    return
            except redis.RedisError as exc:
                self._redis_down(exc)
        try:
            fetched = fetch_url(spec.url, etag=current.etag if current else None,
                                last_modified=current.last_modified if current else None,
                                timeout=spec.timeout, max_bytes=spec.max_bytes)
            if fetched.data is None and current is None:
                raise SourceError("the server answered 304 Not Modified but no copy is in force")
            fresh = fetched.data is not None and (current is None or digest(fetched.data) != current.sha256)
            parsed = self._parse(name, fetched.data, sandboxed=True) if fresh else None
        except (SourceError, CalendarError) as exc:
            with self._lock:
                self._failed(name, now, str(exc))
            self._share(lambda: self.copies.failed(name, now, str(exc)))
            return
        with self._lock:
            status.checked_at, status.error, status.error_at = now, None, None
            if parsed is None:
                latest = self._in_force.get(name)
                if latest is not None:
                    self._in_force[name] = replace(latest, etag=fetched.etag, last_modified=fetched.last_modified)
                self._share(lambda: self.copies.checked(name, now, fetched.etag, fetched.last_modified))
                return
            data = fetched.data
            version = self._save(name, data, origin="url", now=now, etag=fetched.etag,
                                 last_modified=fetched.last_modified)
            self._install(name, InForce(data, digest(data), version, parsed, fetched.etag,
                                        fetched.last_modified), now)

    def _share(self: Any, write: Any) -> None:
        if self.copies is None or self.readonly:
            return
        try:
            write()
        except redis.RedisError as exc:
            self._redis_down(exc)

    def shared_status(self: Any, name: str) -> None:
        """Adopt the last fetch or upload outcome any process recorded, when it is newer
        than this process's own (URL and upload schedules). Raises RedisError."""
        if self.copies is None or self.config.schedules[name].source == "file":
            return
        meta = self.copies.meta(name)
        status = self.status[name]
        error_at = _time(meta["error_at"]) if meta["error"] else None
        checked = _time(meta["checked_at"])
        theirs = max(filter(None, [error_at, checked]), default=None)
        ours = max(filter(None, [status.error_at, status.checked_at]), default=None)
        if theirs is None or (ours is not None and theirs <= ours):
            return
        if error_at == theirs:
            status.error, status.error_at = meta["error"], error_at
        else:
            status.error, status.error_at = None, None
        status.checked_at = checked or status.checked_at

    # -- uploads, handoffs, lint -----------------------------------------------------------
    def accept_upload(self: Any, name: str, data: bytes, now: datetime) -> None:
        """Parse (in the sandbox), save and announce an uploaded calendar.

        Raises UploadRefused for a schedule that does not take uploads, CalendarError
        (ParseTimeout) for a calendar that cannot be used -- the copy in force stays --
        and RedisError when it cannot be saved.
        """
        if self.config.schedules[name].source != "upload" or self.copies is None or self.readonly:
            raise UploadRefused(f"schedule {name} takes its calendar from its "
                                f"{self.config.schedules[name].source}; set source: upload to publish by PUT")
        with self._lock:
            self._rewindow(now)
        try:
            parsed = self._parse(name, data, sandboxed=True)
        except CalendarError as exc:
            with self._lock:
                self._failed(name, now, f"upload rejected: {exc}")
            self._share(lambda: self.copies.failed(name, now, f"upload rejected: {exc}"))
            raise
        version = self.copies.save(name, data, origin="upload", now=now)
        with self._lock:
            self.status[name].checked_at, self.status[name].error, self.status[name].error_at = now, None, None
            current = self._in_force.get(name)
            if current is None or version > current.version:
                self._install(name, InForce(data, digest(data), version, parsed), now)

    def handoffs(self: Any, schedule: str) -> tuple[StoredHandoff, ...]:
        """The handoffs layered into ``schedule``'s rotation (those not ended before the window)."""
        return self._handoffs.get(schedule, ())

    def lint(self: Any, schedule: str, start: datetime, end: datetime) -> list[Problem]:
        """Over [start, end): skipped events, unknown people (an occurrence in the range),
        parse warnings, then gaps and overlaps per tier (handoffs applied)."""
        copy = self._in_force.get(schedule)
        parsed = copy.parsed if copy else ParsedCalendar(shifts=())
        rotation = self._rotations.get(schedule) or Rotation.build(())
        return coverage.within(coverage.lint(parsed, rotation, self.tiers(schedule), start, end), start, end)
