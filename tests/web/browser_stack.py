"""Real processes for the console's browser tests: ``herald serve`` + ``herald worker``
with Twilio and SendGrid pointed at the provider simulator (in-process), and Debian's
Chromium driven by Playwright. Skips cleanly when either is missing.

The processes and the browser start once per module (``stack_processes``, ``browser``);
``stack`` hands each test a clean one: no open incident, no handoff, an empty simulator.
Each test opens its own browser context (its own cookies)."""
from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import redis

from service.dev.local_redis import free_port, real_clock_env
from service.dev.simulator.app import create_simulator_app
from service.dev.simulator.server import ServerThread
from service.dev.simulator.state import SimulatorState
from service.dev.run import simulator_env
from tests.herald_env import AM_TOKEN, API_TOKEN, env_for, fixture_payload, write_config
from tests.processes import Proc, herald, serve

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = Path(__file__).resolve().parent.parent / "output" / "screenshots"
API = {"Authorization": f"Bearer {API_TOKEN}"}
ALICE = "+15550100001"
ACK_URL = re.compile(r"ack: (\S+/ack/\S+)")


def playwright_or_skip():
    """The sync Playwright entry point, or a skip saying what is missing."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (pip install playwright; no browser download needed)")
    if not (Path(CHROMIUM).exists() or shutil.which("chromium")):
        pytest.skip(f"{CHROMIUM} is missing (apt-get install -y chromium)")
    return sync_playwright


@dataclass
class Stack:
    url: str
    sim: SimulatorState
    worker: Proc

    def fire(self, group: str = "g1", alertname: str = "DiskFull") -> str:
        payload = fixture_payload("firing.json")
        payload["groupKey"] = group
        payload["commonLabels"]["alertname"] = alertname
        r = httpx.post(f"{self.url}/api/v1/alertmanager", content=json.dumps(payload),
                       headers={"Authorization": f"Bearer {AM_TOKEN}", "Content-Type": "application/json"})
        assert r.status_code == 200, r.text
        return r.json()["incidents"][0]["id"]

    def get(self, path: str) -> dict:
        r = httpx.get(f"{self.url}{path}", headers=API)
        assert r.status_code == 200, r.text
        return r.json()

    def incident(self, incident_id: str) -> dict:
        return self.get(f"/api/v1/incidents/{incident_id}")

    def oncall(self) -> dict:
        return self.get("/api/v1/oncall")

    def texts(self, to: str, incident_id: str | None = None) -> list:
        """Outbound SMS to ``to`` (about ``incident_id`` only, when given)."""
        return [m for m in self.sim.messages_for(to=to, channel="sms") if m.direction == "outbound"
                and (incident_id is None or f"#{incident_id} " in m.body)]

    def reset(self) -> None:
        """Back to a clean stack: open incidents resolved, handoffs cancelled, the
        simulator's messages and failure modes forgotten."""
        for incident in self.get("/api/v1/incidents?status=open")["incidents"]:
            r = httpx.post(f"{self.url}/api/v1/incidents/{incident['id']}/resolve", headers=API)
            assert r.status_code == 200, r.text
        for handoff in self.get("/api/v1/handoffs?active=true")["handoffs"]:
            r = httpx.delete(f"{self.url}/api/v1/handoffs/{handoff['id']}", headers=API)
            assert r.status_code == 200, r.text
        assert self.get("/api/v1/incidents?status=open")["incidents"] == []
        self.sim.reset()


@pytest.fixture(scope="module")
def stack_processes(tmp_path_factory, redis_server) -> Iterator[Stack]:
    """``herald serve`` + ``herald worker`` + the simulator, once for the module, on the
    session's Redis (emptied first, as ``redis_url`` does for each test)."""
    tmp_path = tmp_path_factory.mktemp("browser-stack")
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    sim_port, api_port = free_port(), free_port()
    sim_url = f"http://127.0.0.1:{sim_port}"
    env = {**env_for(write_config(tmp_path / "conf"), redis_server.url),
           **simulator_env(sim_url, tmp_path / "sg-key.pem"), "HERALD_SWEEP_INTERVAL": "2",
           "HERALD_RATE_LIMIT_SMS": "0"}
    state = SimulatorState()
    app = create_simulator_app(state, herald_url=f"http://127.0.0.1:{api_port}",
                               twilio_auth_token=env["HERALD_TWILIO_AUTH_TOKEN"],
                               sendgrid_private_key_pem=(tmp_path / "sg-key.pem").read_text())
    started: list = [ServerThread(app, port=sim_port).start()]
    try:
        api, url = serve(env, port=api_port)
        started.append(api)
        worker = herald("worker", env={**env, "HERALD_PUBLIC_URL": url})
        started.append(worker)
        yield Stack(url, state, worker)
    finally:
        for thing in reversed(started):
            thing.stop()


@pytest.fixture
def stack(stack_processes: Stack) -> Stack:
    """The module's stack, reset for this test."""
    stack_processes.reset()
    return stack_processes


@pytest.fixture(scope="module")
def browser() -> Iterator:
    sync_playwright = playwright_or_skip()
    with sync_playwright() as p:
        # The browser is only a client: it runs on the machine's real clock, like redis-server
        # (Chromium does not survive libfaketime under ``make test-future``).
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, env=real_clock_env())
        try:
            yield chromium
        finally:
            chromium.close()


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def watch_console(page) -> list[str]:
    """Collect console errors (a CSP violation shows up here) and failed requests."""
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    return problems
