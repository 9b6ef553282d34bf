"""Calendars break: a file truncated on disk, an upload cut off half-way, a calendar URL
that hangs past its timeout or serves garbage. The last good schedule stays in force —
in the running processes, and in a process started while the source is still broken
(it takes the last good copy from Redis) — and pages keep reaching the person on call."""
from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI, Response
from fastapi.testclient import TestClient

from service.dev.simulator.server import ServerThread
from service.app import create_app
from service.engine.runtime import Herald
from service.settings import Settings
from tests.faults.harness import ALICE, API, deploy
from tests.herald_env import API_TOKEN, env_for, weekly_calendar
from tests.processes import wait_for

GOOD = weekly_calendar("p1", "alice@example.com", "Alice Adams").encode()
TRUNCATED = GOOD[: len(GOOD) // 2]


def _schedule_error(url: str, name: str) -> str | None:
    r = httpx.get(f"{url}/api/v1/schedules", headers=API, timeout=10)
    assert r.status_code == 200, r.text
    found = [s for s in r.json()["schedules"] if s["name"] == name]
    return found[0].get("last_error") if found else None


@pytest.mark.slow
def test_truncated_calendar_file_keeps_the_last_good_rotation(tmp_path, redis_url):
    stack = deploy(tmp_path, redis_url, delay="1h")
    try:
        stack.fire("before")
        stack.wait_texts(ALICE, 1, 20)
        (tmp_path / "conf" / "primary.ics").write_bytes(TRUNCATED + b"\r\nBEGIN:VEVENT\r\nDTSTART:garbage")
        # A worker started while the file is broken takes Redis's last good copy (it starts
        # up while the running ones notice the broken file).
        [first_worker] = stack.workers
        fresh = stack.add_worker()
        wait_for(lambda: _schedule_error(stack.url, "primary"), 20, "the API noticing the broken file")
        stack.fire("after")  # the rotation in force is the last good one: alice is still on call
        stack.wait_texts(ALICE, 2, 20)

        first_worker.stop()  # from here on the fresh worker pages alone
        stack.fire("restarted")
        stack.wait_texts(ALICE, 3, 30)
        assert fresh.process.poll() is None
        assert all(m.to == ALICE for m in stack.sim.messages if m.direction == "outbound")
    finally:
        stack.stop()


CONFIG = """
people:
  - {id: alice, name: Alice Adams, email: alice@example.com, phone: "+15550100001"}
  - {id: bob, name: Bob Brown, email: bob@example.com, phone: "+15550100002"}
schedules:
  - {name: primary, url: "%(url)s/primary.ics", poll_interval: 1s, timeout: 1s, default_tier: L1}
  - {name: backup, source: upload, default_tier: L2}
policies:
  - name: default
    tiers:
      - {name: L1, schedule: primary, channels: {P1: [sms]}}
      - {name: L2, schedule: backup, channels: {P1: [sms]}}
route: {policy: default}
"""


class Source:
    """A calendar server that can be made to hang (until ``release()``) or serve garbage."""

    def __init__(self) -> None:
        self.mode = "good"
        self.released = threading.Event()
        app = FastAPI()

        @app.get("/primary.ics")
        async def calendar() -> Response:
            if self.mode == "hang":
                for _ in range(600):  # at most 30 s
                    if self.released.is_set():
                        break
                    await asyncio.sleep(0.05)
            body = TRUNCATED if self.mode == "truncated" else GOOD
            return Response(body, media_type="text/calendar", headers={"ETag": f'"{self.mode}"'})

        self.thread = ServerThread(app).start()


def test_url_timeout_and_broken_upload_keep_the_last_good_rotation(tmp_path: Path, redis_url, monkeypatch):
    source = Source()
    try:
        (tmp_path / "herald.yaml").write_text(CONFIG % {"url": source.thread.url})
        for key, value in env_for(tmp_path / "herald.yaml", redis_url).items():
            monkeypatch.setenv(key, value)
        herald = Herald.from_settings(Settings())
        policy = herald.config.policies["default"]
        with TestClient(create_app(Settings(), herald)) as client:
            put = {"Authorization": f"Bearer {API_TOKEN}", "Content-Type": "text/calendar"}
            backup = weekly_calendar("b1", "bob@example.com", "Bob Brown").encode()
            uploaded = client.put("/api/v1/schedules/backup", content=backup, headers=put)
            assert uploaded.status_code == 200, uploaded.text
            book = herald.calendars
            book.poll("primary", herald.clock(), force=True)
            assert book.roster(policy, herald.clock()) == {"L1": ("alice",), "L2": ("bob",)}

            for mode in ("hang", "truncated"):
                source.mode = mode
                book.poll("primary", herald.clock(), force=True)
                # The poll gave up after its own 1 s timeout while the source still hung (it
                # answers a good calendar once released); garbage is refused as such.
                error = book.status["primary"].error
                assert error and ("no answer within 1s" in error if mode == "hang" else "no answer" not in error)
                assert mode != "hang" or not source.released.is_set()
                assert book.roster(policy, herald.clock())["L1"] == ("alice",)
                source.released.set()

            cut = client.put("/api/v1/schedules/backup", content=backup[: len(backup) // 2], headers=put)
            assert cut.status_code == 400 and "copy in force stays" in cut.json()["detail"]
            assert book.roster(policy, herald.clock()) == {"L1": ("alice",), "L2": ("bob",)}
            ready = client.get("/readyz")
            assert ready.status_code == 200, ready.text  # degraded sources, but every schedule has a rotation
        close = getattr(herald.calendars, "close", None)
        if close is not None:
            close()
    finally:
        source.released.set()
        source.thread.stop()
