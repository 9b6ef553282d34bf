"""Heartbeats and the Watchdog dead man's switch with real processes: ``herald serve``
and ``herald worker`` (sweep twice a second) on a real Redis. Pings keep a heartbeat
quiet; when they stop, the worker's sweep opens an incident and it is paged; the
next ping resolves it. One stack serves the module; every test starts empty."""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime, timedelta

import httpx
import pytest

from tests.herald_env import AM_TOKEN, API_TOKEN
from tests.processes import SweepWatch, incident, incidents, module_stack, reset_state, wait_for, wait_sweep

pytestmark = pytest.mark.slow
API = {"Authorization": f"Bearer {API_TOKEN}"}
AM = {"Authorization": f"Bearer {AM_TOKEN}", "Content-Type": "application/json"}
TIMEOUT = 2  # seconds
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


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    with module_stack(tmp_path_factory.mktemp("heartbeat"), "1h", WATCHDOG, HERALD_SWEEP_INTERVAL="0.5") as shared:
        yield shared.url, shared.worker, shared.redis_url


@pytest.fixture
def stack(running):
    url, worker, redis_url = running
    reset_state(redis_url)
    return running


def heartbeat(url: str, name: str) -> dict:
    r = httpx.get(f"{url}/api/v1/heartbeats", headers=API, timeout=10)
    assert r.status_code == 200, r.text
    [found] = [b for b in r.json()["heartbeats"] if b["name"] == name]
    return found


def paged(url: str, title: str) -> dict | None:
    """The incident titled ``title``, once a page for it has been sent."""
    for summary in incidents(url):
        if summary["title"] == title:
            full = incident(url, summary["id"])
            if any(e["kind"] == "page" for e in full["timeline"]):
                return full
    return None


def keep_alive(send: Callable[[], None], redis_url: str) -> None:
    """Call ``send`` every 0.5 s until a whole sweep has run past the moment the first
    ping would have gone silent: had the pings stopped, that sweep would have paged."""
    send()
    watch = SweepWatch(redis_url, after=time.time() + TIMEOUT)
    try:
        deadline = time.monotonic() + TIMEOUT + 30
        while not watch.passed():
            assert time.monotonic() < deadline, "no sweep ran while the heartbeat was kept alive"
            time.sleep(0.5)
            send()
    finally:
        watch.close()


def never_early(url: str, name: str, opened: dict) -> None:
    """The incident opened at or after the deadline the last ping set, never before."""
    beat = heartbeat(url, name)
    last, deadline = datetime.fromisoformat(beat["last_ping"]), datetime.fromisoformat(beat["deadline"])
    assert abs(deadline - last - timedelta(seconds=TIMEOUT)) < timedelta(milliseconds=1)  # (kept in ms)
    assert datetime.fromisoformat(opened["created_at"]) >= deadline


def test_a_silent_heartbeat_pages_and_the_next_ping_resolves_it(stack):
    url, worker, redis_url = stack

    def ping() -> None:
        r = httpx.post(f"{url}/api/v1/heartbeats/nightly-backup", json={"timeout": f"{TIMEOUT}s"}, headers=API,
                       timeout=10)
        assert r.status_code == 200, r.text

    keep_alive(ping, redis_url)  # longer than the timeout, pinged all along: quiet
    assert incidents(url) == []
    found = wait_for(lambda: paged(url, "heartbeat nightly-backup missed"), TIMEOUT + 20, "the page", worker)
    never_early(url, "nightly-backup", found)
    assert found["severity"] == "P1" and found["status"] == "triggered" and found["drill"] is False
    assert "heartbeat nightly-backup missed" in worker.output() and "Alice Adams" in worker.output()
    listed = heartbeat(url, "nightly-backup")
    assert listed["state"] == "late" and listed["paged_since"] is not None

    ping()  # back: resolved at once, through the same path
    resolved = incident(url, found["id"])
    assert resolved["status"] == "resolved" and resolved["resolved_by"] == "alertmanager"
    wait_sweep(redis_url, proc=worker)  # another whole sweep: nothing new
    assert [i["id"] for i in incidents(url)] == [found["id"]]


def test_the_watchdog_stops_and_comes_back(stack):
    url, worker, redis_url = stack

    def watchdog() -> None:
        r = httpx.post(f"{url}/api/v1/alertmanager", content=json.dumps(WATCHDOG_PAYLOAD), headers=AM, timeout=10)
        assert r.status_code == 200 and r.json()["incidents"] == [], r.text

    keep_alive(watchdog, redis_url)
    assert incidents(url) == []  # the Watchdog never opens an incident of its own
    found = wait_for(lambda: paged(url, "monitoring pipeline silent"), TIMEOUT + 20, "the silent page", worker)
    never_early(url, "watchdog", found)
    assert found["severity"] == "P1"
    labels = next(iter(found["alerts"].values()))["labels"]
    assert labels["alertname"] == "WatchdogMissing" and labels["heartbeat"] == "watchdog"
    opened = datetime.fromisoformat(found["created_at"])

    watchdog()
    resolved = incident(url, found["id"])
    assert resolved["status"] == "resolved" and datetime.fromisoformat(resolved["resolved_at"]) > opened
    assert len(incidents(url)) == 1
