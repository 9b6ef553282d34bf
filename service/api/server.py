"""The API's HTTP server: uvicorn's h11 protocol, with limits for slow and greedy clients.

uvicorn bounds how long a kept-alive connection idles between requests
(``timeout_keep_alive``) and how large a request head may grow (h11's 16 KiB), but not how
long a head may take to arrive, nor how many connections a client — or everybody
together — may hold. Connections that sent their head a line at a time stayed open for
ever: 20,000 of them used up the process's files, and then asyncio's accept loop wrote a
traceback for every attempt (about 2,000 per wake-up on Python 3.11) while ``/healthz`` and
Alertmanager's webhook waited behind them.

``GuardedH11Protocol`` (given to uvicorn as ``http=``) adds, per connection:

- **a head deadline**: the request head must be complete ``header_timeout`` seconds after
  the connection opened — on a kept-alive connection, after the next request's first byte
  (its idle time before that is ``timeout_keep_alive``'s) — or the connection is closed
  without an answer, as nginx's ``client_header_timeout`` does;
- **admission** (``ConnectionGuard``): at most ``max_connections`` open connections (never
  more than half the open-file limit, whose soft value ``herald serve`` first raises as
  far as the hard one allows), and at most ``per_client`` from one client address (an
  IPv6 /64 counts as one address). A new
  connection over either limit first makes room by closing the oldest *idle* connection —
  one with no request in progress: its head not yet complete, or kept alive between
  requests; one never answered before one kept alive after an answer — of that client,
  or of all; only when none is idle is the new one refused (closed at once). A slow
  client therefore cannot lock out a fast one, whose head arrives long before its
  connection could become the oldest idle one; nginx reuses its idle connections the
  same way when it runs out of them.

A request *body* that trickles is ``service.api.guards.BodyLimit``'s to cut off (408).
Every refusal is counted by ``service.api.refusals``: ``herald_http_refused_total{reason}``
and one summary line per interval in the log — never a line, let alone a traceback, per
connection. uvicorn's own line for each malformed request and asyncio's for an accept
that found no free file are counted there instead of logged.
"""
from __future__ import annotations

import asyncio
import logging
import resource
from collections import OrderedDict
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from service.telemetry import metrics
from service.api.refusals import REFUSALS, Refusals, client_key
from service.settings import Settings

log = logging.getLogger("herald.http")
#: Largest request head (request line and headers) h11 buffers: its default, stated here.
MAX_HEAD_BYTES = 16 * 1024
ACCEPT_OUT_OF_FILES = "socket.accept() out of system resource"  # asyncio's message
INVALID_REQUEST = "Invalid HTTP request received."  # uvicorn's message, one per request


def raise_open_file_limit(configured: int) -> int:
    """Raise this process's soft open-file limit towards twice ``configured`` (a
    connection and as much again for the rest), as far as the hard limit allows — Go's
    runtime does the same at start-up; containers often start at a soft 1,024. The soft
    limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 2 * configured if hard == resource.RLIM_INFINITY else min(hard, 2 * configured)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        except (ValueError, OSError):
            return soft
        return wanted
    return soft


def connection_limit(configured: int, open_files: int | None = None) -> int:
    """``configured``, but at most half the process's open-file limit: the other half is
    for Redis connections, calendars, and accepting a connection only to refuse it."""
    if open_files is None:
        open_files = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if open_files == resource.RLIM_INFINITY:
        return configured
    return max(1, min(configured, open_files // 2))


class IdleQueue:
    """Idle connections, oldest first: those that never completed a request before those
    kept alive after an answer (a client that was answered has shown it is real)."""

    def __init__(self) -> None:
        self.fresh: OrderedDict[GuardedH11Protocol, None] = OrderedDict()
        self.kept: OrderedDict[GuardedH11Protocol, None] = OrderedDict()

    def add(self, conn: "GuardedH11Protocol") -> None:
        """(One already in keeps its place.)"""
        if conn.served:
            self.fresh.pop(conn, None)
            self.kept.setdefault(conn, None)
        else:
            self.fresh.setdefault(conn, None)

    def discard(self, conn: "GuardedH11Protocol") -> None:
        self.fresh.pop(conn, None)
        self.kept.pop(conn, None)

    def oldest(self) -> "GuardedH11Protocol | None":
        return next(iter(self.fresh), None) or next(iter(self.kept), None)

    def __bool__(self) -> bool:
        return bool(self.fresh or self.kept)


class ConnectionGuard:
    """The connection limits of one server: who is open, who is idle (oldest first)."""

    def __init__(self, max_connections: int, per_client: int, header_timeout: float,
                 refusals: Refusals = REFUSALS) -> None:
        self.max_connections, self.per_client, self.header_timeout = max_connections, per_client, header_timeout
        self.refusals = refusals
        self.total = 0
        self.open: dict[str | None, int] = {}
        self.idle = IdleQueue()
        self.idle_by_client: dict[str | None, IdleQueue] = {}
        self._loops: set[int] = set()

    def admit(self, conn: "GuardedH11Protocol") -> str | None:
        """Take ``conn`` in, closing an idle connection to make room if need be; the
        reason it is refused, or None."""
        key = conn.client_key
        if self.per_client and key is not None and self.open.get(key, 0) >= self.per_client:
            mine = self.idle_by_client.get(key)
            if not mine:
                return "client_limit"
            self.evict(mine.oldest(), "client_limit")
        if self.total >= self.max_connections:
            if not self.idle:
                return "connection_limit"
            self.evict(self.idle.oldest(), "connection_limit")
        self.total += 1
        self.open[key] = self.open.get(key, 0) + 1
        metrics.HTTP_CONNECTIONS.set(self.total)
        return None

    def evict(self, conn: "GuardedH11Protocol | None", reason: str) -> None:
        assert conn is not None  # (the callers checked that there is an idle one)
        if not conn.transport.is_closing():  # (one already closing only gives its place up)
            self.refusals.count(reason, conn.client_key)
        conn.cut_off()

    def set_idle(self, conn: "GuardedH11Protocol", idle: bool) -> None:
        """Mark ``conn`` idle (it keeps its place when it already was) or busy."""
        if idle:
            self.idle.add(conn)
            self.idle_by_client.setdefault(conn.client_key, IdleQueue()).add(conn)
            return
        self.idle.discard(conn)
        mine = self.idle_by_client.get(conn.client_key)
        if mine is not None:
            mine.discard(conn)
            if not mine:
                del self.idle_by_client[conn.client_key]

    def release(self, conn: "GuardedH11Protocol") -> None:
        """``conn`` is closing: it no longer counts (once, however often called)."""
        if not conn.admitted:
            return
        conn.admitted = False
        self.set_idle(conn, False)
        self.total -= 1
        left = self.open[conn.client_key] - 1
        if left:
            self.open[conn.client_key] = left
        else:
            del self.open[conn.client_key]
        metrics.HTTP_CONNECTIONS.set(self.total)

    def watch_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """Count asyncio's "out of files" accept errors instead of logging each with a
        traceback (once per loop)."""
        if id(loop) in self._loops:
            return
        self._loops.add(id(loop))
        previous = loop.get_exception_handler()

        def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
            if context.get("message") == ACCEPT_OUT_OF_FILES:
                self.refusals.count("out_of_files", None)
            elif previous is not None:
                previous(loop, context)
            else:
                loop.default_exception_handler(context)

        loop.set_exception_handler(handler)


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a head deadline and ``ConnectionGuard``'s admission.
    ``protocol_class`` makes a subclass bound to one guard."""

    guard: ConnectionGuard

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.client_key = client_key(self.client)
        self.admitted = self.served = False
        self._head_timer: asyncio.TimerHandle | None = None
        self._bytes_since_response = False
        self.guard.watch_loop(self.loop)
        reason = self.guard.admit(self)
        if reason is not None:
            self.guard.refusals.count(reason, self.client_key)
            transport.close()
            return
        self.admitted = True
        self._follow()

    def data_received(self, data: bytes) -> None:
        self._bytes_since_response = True
        super().data_received(data)
        self._follow()

    def on_response_complete(self) -> None:
        self._bytes_since_response, self.served = False, True
        super().on_response_complete()
        self._follow()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        self.guard.release(self)
        super().connection_lost(exc)

    def send_400_response(self, msg: str) -> None:
        self.guard.refusals.count("invalid_request", self.client_key)
        super().send_400_response(msg)

    def cut_off(self) -> None:
        """Close at once, without an answer (no request is in progress)."""
        self._stop_head_timer()
        self.guard.release(self)
        self.transport.close()

    # -- the head deadline -----------------------------------------------------------------
    def _follow(self) -> None:
        """After every event: idle or busy for the guard; the head timer armed while a
        head is awaited (from the start, or from a kept-alive connection's first byte)."""
        if not self.admitted or self.transport.is_closing():
            return
        idle = self.cycle is None or self.cycle.response_complete
        self.guard.set_idle(self, idle)
        if not idle:
            self._stop_head_timer()
        elif self._head_timer is None and (self.cycle is None or self._bytes_since_response):
            self._head_timer = self.loop.call_later(self.guard.header_timeout, self._head_late)

    def _head_late(self) -> None:
        self._head_timer = None
        if self.admitted and not self.transport.is_closing() and (self.cycle is None or self.cycle.response_complete):
            self.guard.refusals.count("header_timeout", self.client_key)
            self.cut_off()

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None


class _CountedElsewhere(logging.Filter):
    """Drops uvicorn's line per malformed request: ``send_400_response`` counts it."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != INVALID_REQUEST


def protocol_class(guard: ConnectionGuard) -> type[GuardedH11Protocol]:
    """A ``GuardedH11Protocol`` subclass bound to ``guard``: what uvicorn's ``http=`` takes."""
    return type("HeraldH11Protocol", (GuardedH11Protocol,), {"guard": guard})


def uvicorn_options(settings: Settings, refusals: Refusals = REFUSALS) -> dict[str, Any]:
    """The keyword arguments ``herald serve`` adds to ``uvicorn.run``: the guarded
    protocol, the keep-alive timeout, the head size. Sets the refusal log's interval."""
    open_files = raise_open_file_limit(settings.http_max_connections)
    limit = connection_limit(settings.http_max_connections, open_files)
    if limit < settings.http_max_connections:
        log.warning("HERALD_HTTP_MAX_CONNECTIONS %d lowered to %d: this process may open %d files (ulimit -n, "
                    "its hard limit) and keeps half of them for Redis, calendars and refusing connections",
                    settings.http_max_connections, limit, open_files)
    refusals.interval = settings.http_refused_log_interval
    guard = ConnectionGuard(limit, settings.http_max_connections_per_client, settings.http_header_timeout, refusals)
    if not any(isinstance(f, _CountedElsewhere) for f in logging.getLogger("uvicorn.error").filters):
        logging.getLogger("uvicorn.error").addFilter(_CountedElsewhere())
    return {"http": protocol_class(guard), "timeout_keep_alive": settings.http_keepalive_timeout,
            "h11_max_incomplete_event_size": MAX_HEAD_BYTES}
