"""Maintenance windows with real processes: ``herald serve`` and ``herald worker`` on a
real Redis. An alert inside a window is recorded and held, nobody is paged; ending
the window early pages at once; a window that runs out pages when it ends."""
from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from tests.herald_env import AM_TOKEN, API_TOKEN, env_for, fixture_payload, write_config
from tests.processes import herald, serve, wait_for

pytestmark = pytest.mark.slow
API = {"Authorization": f"Bearer {API_TOKEN}"}
AM = {"Authorization": f"Bearer {AM_TOKEN}", "Content-Type": "application/json"}


@pytest.fixture
def stack(tmp_path, redis_url):
    env = {**env_for(write_config(tmp_path, delay="1h"), redis_url), "HERALD_SWEEP_INTERVAL": "1",
           "HERALD_SWEEP_GRACE": "1", "HERALD_RATE_LIMIT_SMS": "0"}  # alice gets two pages in seconds
    api, url = serve(env)
    worker = herald("worker", env={**env, "HERALD_PUBLIC_URL": url})
    yield url, worker
    worker.stop()
    api.stop()


def fire(url: str, group: str, service: str) -> str:
    payload = fixture_payload("firing.json")
    payload["groupKey"] = group
    payload["commonLabels"]["service"] = payload["groupLabels"]["service"] = service
    payload["alerts"][0]["labels"]["service"] = service
    r = httpx.post(f"{url}/api/v1/alertmanager", content=json.dumps(payload), headers=AM)
    assert r.status_code == 200, r.text
    return r.json()["incidents"][0]["id"]


def incident(url: str, incident_id: str) -> dict:
    return httpx.get(f"{url}/api/v1/incidents/{incident_id}", headers=API).json()


def kinds(url: str, incident_id: str) -> list[str]:
    return [e["kind"] for e in incident(url, incident_id)["timeline"]]


def page_sent_at(url: str, incident_id: str) -> datetime | None:
    at = next((e["at"] for e in incident(url, incident_id)["timeline"] if e["kind"] == "page"), None)
    return datetime.fromisoformat(at) if at else None


def open_window(url: str, service: str, end: datetime) -> dict:
    r = httpx.post(f"{url}/api/v1/maintenance", headers=API,
                   json={"matchers": [f'service="{service}"'], "end": end.isoformat(), "reason": f"{service} upgrade"})
    assert r.status_code == 201, r.text
    return r.json()


def test_held_in_a_window_then_paged_when_it_is_ended_early(stack):
    url, worker = stack
    window = open_window(url, "db", datetime.now(timezone.utc) + timedelta(hours=1))
    assert window["active"] is True
    incident_id = fire(url, "g-db", "db")
    held = incident(url, incident_id)
    assert held["status"] == "triggered" and held["held_until"] is not None
    assert held["hold_reason"] == "maintenance: db upgrade" and "held" in kinds(url, incident_id)
    listed = httpx.get(f"{url}/api/v1/incidents?status=open", headers=API).json()["incidents"]
    assert [i["id"] for i in listed] == [incident_id]  # visible while held
    time.sleep(3)  # several sweeps: still nobody paged
    assert "page" not in kinds(url, incident_id) and "PAGE" not in worker.output()

    r = httpx.delete(f"{url}/api/v1/maintenance/{window['id']}", headers=API)
    assert r.status_code == 200 and r.json()["released_incidents"] == [incident_id]
    wait_for(lambda: page_sent_at(url, incident_id), 10, "the page after the window ended", worker)
    assert kinds(url, incident_id).index("released") < kinds(url, incident_id).index("page")
    assert "Alice Adams" in worker.output()


def test_a_window_that_runs_out_pages_when_it_ends(stack):
    url, worker = stack
    end = datetime.now(timezone.utc) + timedelta(seconds=4)
    open_window(url, "web", end)
    held_id = fire(url, "g-web", "web")
    free_id = fire(url, "g-db2", "db")  # outside the window: paged at once
    assert datetime.fromisoformat(incident(url, held_id)["held_until"]) == end
    wait_for(lambda: page_sent_at(url, free_id), 10, "the page outside the window", worker)
    assert "page" not in kinds(url, held_id)

    sent = wait_for(lambda: page_sent_at(url, held_id), 15, "the page when the window ran out", worker)
    assert sent >= end  # never inside the window
    assert sent - end < timedelta(seconds=6)  # the timer (or the sweep behind it) fired at the end
    assert "released" in kinds(url, held_id)
