"""Helpers for the schedule tests: calendars relative to now, a configuration with a
file, an upload and (optionally) a URL schedule, and a tiny calendar HTTP server on
127.0.0.1 that a test can make slow, broken or huge."""
from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.engine.runtime import Herald
from service.settings import Settings
from tests.herald_env import env_for, weekly_calendar

API_TOKEN = "test-api-token"
API = {"Authorization": f"Bearer {API_TOKEN}"}
PEOPLE = """
people:
  - {id: alice, name: Alice Adams, email: alice@example.com, phone: "+15550100001"}
  - {id: bob, name: Bob Brown, email: bob@example.com, phone: "+15550100002"}
  - {id: carol, name: Carol Chen, email: carol@example.com, phone: "+15550100003"}
  - {id: erin, name: Erin Engel, email: erin@example.com, phone: "+15550100004"}
  - {id: dave, name: Dave Dietz, email: dave@example.com, phone: "+15550100005"}
"""
POLICY = """
policies:
  - name: default
    escalate_after: {P0: 1h, P1: 1h, P2: 1h, P3: 1h}
    tiers:
      - {name: L1, schedule: primary, channels: {P1: [sms], P2: [sms]}}
      - {name: L2, schedule: backup, channels: {P1: [sms], P2: [sms]}}
      - {name: engineering, people: [erin], channels: {P1: [sms], P2: [sms]}}
  - name: team
    tiers:
      - {name: L1, schedule: team}
      - {name: L2, schedule: team, tier: L2}
route: {policy: default}
"""


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def stamp(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def event(uid: str, email: str, start: datetime, end: datetime, summary: str = "On call") -> str:
    return "\r\n".join(["BEGIN:VEVENT", f"UID:{uid}", "DTSTAMP:20260101T000000Z", f"DTSTART:{stamp(start)}",
                        f"DTEND:{stamp(end)}", f"SUMMARY:{summary}", f"ATTENDEE:mailto:{email}", "END:VEVENT"])


def calendar(*events: str) -> bytes:
    return "\r\n".join(["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Herald tests//EN", *events,
                        "END:VCALENDAR", ""]).encode()


def weekly(uid: str, email: str, name: str) -> bytes:
    """An endless weekly shift that started in January 2026: ``email`` is always on call."""
    return weekly_calendar(uid, email, name).encode()


def write_schedule_config(directory: Path, url: str | None = None, poll: str = "1h", timeout: str = "2s",
                          max_bytes: int = 65536) -> Path:
    """primary (file: alice), backup (file: bob), team (upload; [L2] marks L2) and, with
    ``url``, feed (url: polled every ``poll``)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "primary.ics").write_bytes(weekly("p1", "alice@example.com", "Alice Adams"))
    (directory / "backup.ics").write_bytes(weekly("b1", "bob@example.com", "Bob Brown"))
    schedules = ["schedules:",
                 "  - {name: primary, calendar: primary.ics, default_tier: L1}",
                 "  - {name: backup, calendar: backup.ics, default_tier: L2}",
                 "  - {name: team, source: upload, tier_markers: {'[L2]': L2}, max_bytes: 4096}"]
    if url:
        schedules.append(f"  - {{name: feed, url: '{url}', poll_interval: {poll}, timeout: {timeout}, "
                         f"max_bytes: {max_bytes}}}")
    path = directory / "herald.yaml"
    path.write_text(PEOPLE + "\n".join(schedules) + "\n" + POLICY)
    return path


@dataclass
class CalendarServer:
    """What the server answers; change it from the test. ``requests`` logs the
    If-None-Match header of each GET; ``hang_over`` is set when a hanging GET ends
    (released, or after 10 s)."""

    body: bytes = b""
    etag: str | None = '"v1"'
    mode: str = "ok"  # ok | error | hang | huge
    url: str = ""
    requests: list[str | None] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    hang_over: threading.Event = field(default_factory=threading.Event)


@contextmanager
def calendar_server(body: bytes) -> Iterator[CalendarServer]:
    state = CalendarServer(body=body)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the http.server API)
            state.requests.append(self.headers.get("If-None-Match"))
            if state.mode == "hang":
                state.release.wait(10)
                state.hang_over.set()
                return
            if state.mode == "error":
                self.send_response(500)
                self.end_headers()
                return
            if state.etag and self.headers.get("If-None-Match") == state.etag:
                self.send_response(304)
                self.send_header("ETag", state.etag)
                self.end_headers()
                return
            body = state.body if state.mode == "ok" else b"X" * 200_000
            self.send_response(200)
            self.send_header("Content-Type", "text/calendar")
            if state.etag:
                self.send_header("ETag", state.etag)
            if state.mode == "ok":
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    # shutdown() waits for serve_forever's next look at its flag: 0.05 s, not the default 0.5 s
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/secret-token/oncall.ics"
    try:
        yield state
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


def record_children(monkeypatch: pytest.MonkeyPatch) -> list[subprocess.Popen]:
    """Every child process started from here on (the calendar sandbox's parsers), to
    check afterwards how each one ended."""
    children: list[subprocess.Popen] = []

    class Recorded(subprocess.Popen):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            children.append(self)

    monkeypatch.setattr(subprocess, "Popen", Recorded)
    return children


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


def hours(n: float) -> timedelta:
    return timedelta(hours=n)


# -- API fixtures: import them into a test module to use them ---------------------------------
@pytest.fixture
def schedule_settings(tmp_path, redis_url, monkeypatch) -> Settings:
    for key, value in env_for(write_schedule_config(tmp_path / "conf"), redis_url, "https://herald.test").items():
        monkeypatch.setenv(key, value)
    return Settings()


@pytest.fixture
def schedule_herald(schedule_settings) -> Iterator[Herald]:
    herald = Herald.from_settings(schedule_settings)
    yield herald
    herald.calendars.close()


@pytest.fixture
def api(schedule_settings, schedule_herald) -> Iterator[TestClient]:
    with TestClient(create_app(schedule_settings, schedule_herald)) as client:
        yield client


@contextmanager
def replica(settings: Settings) -> Iterator[TestClient]:
    """Another API process on the same Redis (its own Herald and CalendarBook)."""
    herald = Herald.from_settings(settings)
    try:
        with TestClient(create_app(settings, herald)) as client:
            yield client
    finally:
        herald.calendars.close()
