"""What a ``CalendarBook`` knows about each schedule, and the thread that keeps it current.

``CalendarStatus`` is what the API, the metrics, ``readyz`` and the CLI show. ``InForce``
is the copy a rotation is built from: its raw bytes (so the book can re-expand it for a
new window without touching the source) and the parse. ``Refresher`` runs in the process
that built the book: every tick it refreshes (cheap when nothing changed) and polls the
URLs that are due, so a URL change is noticed on time even when nobody asks.
"""
from __future__ import annotations

import logging
import os
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from schedules.model import ParsedCalendar, Problem

log = logging.getLogger("herald.calendars")


@dataclass
class CalendarStatus:
    """One schedule's calendar as this process sees it.

    ``loaded_at``: when the copy in force was loaded from its source; ``checked_at``:
    the last time the source answered; ``error``: the last failure (None once the source
    works again) -- while it is set, the copy in force is the last good one.
    """

    schedule: str
    source: str = "file"  # "file" | "url" | "upload"
    location: str = ""  # the file path, or the URL without its path (which may be secret)
    loaded_at: datetime | None = None
    checked_at: datetime | None = None
    mtime: float | None = None
    error: str | None = None
    error_at: datetime | None = None
    note: str | None = None  # e.g. "no calendar uploaded yet"
    problems: tuple[Problem, ...] = ()
    shifts: int = 0
    version: int = 0
    sha256: str | None = None
    next_poll: datetime | None = None


@dataclass(frozen=True, slots=True)
class InForce:
    data: bytes
    sha256: str
    version: int
    parsed: ParsedCalendar
    etag: str | None = None
    last_modified: str | None = None


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Refresher:
    """A daemon thread calling ``tick(now)`` on the book every ``interval`` seconds.

    It holds the book weakly and ends when the book is garbage or ``stop()`` is called.
    Threads do not survive ``fork``: an RQ work-horse has none and relies on the version
    check ``refresh`` makes on every roster.
    """

    def __init__(self, book: Any, interval: float, tick: Callable[[Any, datetime], None]) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=_run, args=(weakref.ref(book), self._stop, interval, tick),
                                        name="herald-calendars", daemon=True)
        self._pid = os.getpid()
        self._thread.start()

    def alive(self) -> bool:
        return self._pid == os.getpid() and self._thread.is_alive() and not self._stop.is_set()

    def stop(self) -> None:
        self._stop.set()


def _run(ref: weakref.ref, stop: threading.Event, interval: float, tick: Callable[[Any, datetime], None]) -> None:
    while not stop.wait(interval):
        book = ref()
        if book is None:
            return
        try:
            tick(book, utcnow())
        except Exception:  # Redis away, a bug: log it and try again next tick
            log.exception("calendar refresh failed")
        del book


_BOOKS: weakref.WeakSet[Any] = weakref.WeakSet()


def track_for_fork(book: Any) -> None:
    """Give ``book`` fresh locks in a forked child (the parent's may be held mid-refresh)."""
    _BOOKS.add(book)


def _after_fork_in_child() -> None:
    for book in list(_BOOKS):
        book._lock = threading.RLock()
        book._catch_up_lock = threading.Lock()


os.register_at_fork(after_in_child=_after_fork_in_child)
