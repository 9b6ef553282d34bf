"""Heartbeats and the Watchdog dead man's switch with real processes: ``herald serve``
and ``herald worker`` (sweep every second) on a real Redis. Pings keep a heartbeat
quiet; when they stop, the worker's sweep opens an incident and it is paged; the
next ping resolves it."""
from __future__ import annotations

import json
import time
from datetime import datetime

import httpx
import pytest

from tests.herald_env import AM_TOKEN, API_TOKEN, env_for, write_config
from tests.processes import herald, serve, wait_for

pytestmark = pytest.mark.slow
API = {"Authorization": f"Bearer {API_TOKEN}"}
AM = {"Authorization": f"Bearer {AM_TOKEN}", "Content-Type": "application/json"}
TIMEOUT = 3  # seconds
WATCHDOG = f"""
watchdog:
  matchers: ['alertname="Watchdog"']
  timeout: {TIMEOUT}s
"""
WATCHDOG_PAYLOAD = {
    "version": "4", "groupKey": '{}/{alertname="Watchdog"}:{alertname="Watchdog"}', "status": "firing",
    "receiver": "herald", "groupLabels": {"alertname": "Watchdog"}, "commonLabels": {"alertname": "Watchdog"},
    "commonAnnotations": {}, "externalURL": "http://am",
    "alerts": [{"status": "firing", "labels": {"alertname": "Watchdog", "severity": "none"}, "annotations": {},
                "startsAt": "2026-01-01T00:00:00Z", "endsAt": "0001-01-01T00:00:00Z", "fingerprint": "wd"}]}


@pytest.fixture
def stack(tmp_path, redis_url):
    config = write_config(tmp_path, delay="1h")
    config.write_text(config.read_text() + WATCHDOG)
    env = {**env_for(config, redis_url), "HERALD_SWEEP_INTERVAL": "1"}
    api, url = serve(env)
    worker = herald("worker", env={**env, "HERALD_PUBLIC_URL": url})
    yield url, worker
    worker.stop()
    api.stop()


def incidents(url: str) -> list[dict]:
    return httpx.get(f"{url}/api/v1/incidents", headers=API).json()["incidents"]


def paged(url: str, title: str) -> dict | None:
    """The incident titled ``title``, once a page for it has been sent."""
    for summary in incidents(url):
        if summary["title"] == title:
            full = httpx.get(f"{url}/api/v1/incidents/{summary['id']}", headers=API).json()
            if any(e["kind"] == "page" for e in full["timeline"]):
                return full
    return None


def keep_alive(send, seconds: float) -> float:
    """Call ``send`` every 0.5 s for ``seconds``; answer the time of the last call."""
    end = time.monotonic() + seconds
    while True:
        send()
        last = time.monotonic()
        if last >= end:
            return last
        time.sleep(0.5)


def test_a_silent_heartbeat_pages_and_the_next_ping_resolves_it(stack):
    url, worker = stack

    def ping() -> None:
        r = httpx.post(f"{url}/api/v1/heartbeats/nightly-backup", json={"timeout": f"{TIMEOUT}s"}, headers=API)
        assert r.status_code == 200, r.text

    last = keep_alive(ping, TIMEOUT + 2)  # longer than the timeout, pinged all along: quiet
    assert incidents(url) == []
    incident = wait_for(lambda: paged(url, "heartbeat nightly-backup missed"), TIMEOUT + 10, "the page", worker)
    assert time.monotonic() - last >= TIMEOUT
    assert incident["severity"] == "P1" and incident["status"] == "triggered" and incident["drill"] is False
    assert "heartbeat nightly-backup missed" in worker.output() and "Alice Adams" in worker.output()
    [listed] = httpx.get(f"{url}/api/v1/heartbeats", headers=API).json()["heartbeats"]
    assert listed["state"] == "late" and listed["paged_since"] is not None

    ping()  # back: resolved at once, through the same path
    resolved = httpx.get(f"{url}/api/v1/incidents/{incident['id']}", headers=API).json()
    assert resolved["status"] == "resolved" and resolved["resolved_by"] == "alertmanager"
    time.sleep(2)  # more sweeps: nothing new
    assert [i["id"] for i in incidents(url)] == [incident["id"]]


def test_the_watchdog_stops_and_comes_back(stack):
    url, worker = stack

    def watchdog() -> None:
        r = httpx.post(f"{url}/api/v1/alertmanager", content=json.dumps(WATCHDOG_PAYLOAD), headers=AM)
        assert r.status_code == 200 and r.json()["incidents"] == [], r.text

    last = keep_alive(watchdog, TIMEOUT + 2)
    assert incidents(url) == []  # the Watchdog never opens an incident of its own
    incident = wait_for(lambda: paged(url, "monitoring pipeline silent"), TIMEOUT + 10, "the silent page", worker)
    assert time.monotonic() - last >= TIMEOUT and incident["severity"] == "P1"
    labels = next(iter(incident["alerts"].values()))["labels"]
    assert labels["alertname"] == "WatchdogMissing" and labels["heartbeat"] == "watchdog"
    opened = datetime.fromisoformat(incident["created_at"])

    watchdog()
    resolved = httpx.get(f"{url}/api/v1/incidents/{incident['id']}", headers=API).json()
    assert resolved["status"] == "resolved" and datetime.fromisoformat(resolved["resolved_at"]) > opened
    assert len(incidents(url)) == 1
