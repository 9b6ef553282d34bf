"""Maintenance windows with real processes: ``herald serve`` and ``herald worker`` on a
real Redis. An alert inside a window is recorded and held, nobody is paged; ending
the window early pages at once; a window that runs out pages when it ends. One stack
serves the module; every test starts without incidents or windows."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from tests.herald_env import AM_TOKEN, API_TOKEN, fixture_payload
from tests.processes import incident, module_stack, reset_state, wait_for, wait_sweep

pytestmark = pytest.mark.slow
API = {"Authorization": f"Bearer {API_TOKEN}"}
AM = {"Authorization": f"Bearer {AM_TOKEN}", "Content-Type": "application/json"}


GRACE = 1  # HERALD_SWEEP_GRACE: how overdue work must be before a sweep takes it


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    # HERALD_RATE_LIMIT_SMS=0: alice gets two pages in seconds
    with module_stack(tmp_path_factory.mktemp("maintenance"), "1h", HERALD_SWEEP_INTERVAL="0.5",
                      HERALD_SWEEP_GRACE=str(GRACE), HERALD_RATE_LIMIT_SMS="0") as shared:
        yield shared.url, shared.worker, shared.redis_url


@pytest.fixture
def stack(running):
    url, worker, redis_url = running
    reset_state(redis_url)
    return url, worker, redis_url, worker.mark()


def fire(url: str, group: str, service: str) -> str:
    payload = fixture_payload("firing.json")
    payload["groupKey"] = group
    payload["commonLabels"]["service"] = payload["groupLabels"]["service"] = service
    payload["alerts"][0]["labels"]["service"] = service
    r = httpx.post(f"{url}/api/v1/alertmanager", content=json.dumps(payload), headers=AM, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["incidents"][0]["id"]

def kinds(url: str, incident_id: str) -> list[str]:
    return [e["kind"] for e in incident(url, incident_id)["timeline"]]


def page_sent_at(url: str, incident_id: str) -> datetime | None:
    at = next((e["at"] for e in incident(url, incident_id)["timeline"] if e["kind"] == "page"), None)
    return datetime.fromisoformat(at) if at else None


def entries_at(url: str, incident_id: str, kind: str) -> list[datetime]:
    return [datetime.fromisoformat(e["at"]) for e in incident(url, incident_id)["timeline"] if e["kind"] == kind]


def open_window(url: str, service: str, end: datetime) -> dict:
    r = httpx.post(f"{url}/api/v1/maintenance", headers=API, timeout=10,
                   json={"matchers": [f'service="{service}"'], "end": end.isoformat(), "reason": f"{service} upgrade"})
    assert r.status_code == 201, r.text
    return r.json()


def test_held_in_a_window_then_paged_when_it_is_ended_early(stack):
    url, worker, redis_url, since = stack
    window = open_window(url, "db", datetime.now(timezone.utc) + timedelta(hours=1))
    assert window["active"] is True
    incident_id = fire(url, "g-db", "db")
    held = incident(url, incident_id)
    assert held["status"] == "triggered" and held["held_until"] is not None
    assert held["hold_reason"] == "maintenance: db upgrade" and "held" in kinds(url, incident_id)
    listed = httpx.get(f"{url}/api/v1/incidents?status=open", headers=API, timeout=10)
    assert listed.status_code == 200, listed.text
    assert [i["id"] for i in listed.json()["incidents"]] == [incident_id]  # visible while held
    # A whole sweep that would take the page as overdue, had it been due when the incident
    # opened: still nobody paged.
    wait_sweep(redis_url, after=datetime.fromisoformat(held["created_at"]).timestamp() + GRACE, proc=worker)
    assert "page" not in kinds(url, incident_id) and "PAGE" not in worker.output(since)

    r = httpx.delete(f"{url}/api/v1/maintenance/{window['id']}", headers=API, timeout=10)
    assert r.status_code == 200 and r.json()["released_incidents"] == [incident_id]
    wait_for(lambda: page_sent_at(url, incident_id), 10, "the page after the window ended", worker)
    assert kinds(url, incident_id).index("released") < kinds(url, incident_id).index("page")
    assert "Alice Adams" in worker.output(since)


def test_a_window_that_runs_out_pages_when_it_ends(stack):
    url, worker, redis_url, since = stack
    end = datetime.now(timezone.utc) + timedelta(seconds=2)
    open_window(url, "web", end)
    held_id = fire(url, "g-web", "web")
    free_id = fire(url, "g-db2", "db")  # outside the window: paged at once
    assert datetime.fromisoformat(incident(url, held_id)["held_until"]) == end
    wait_for(lambda: page_sent_at(url, free_id), 10, "the page outside the window", worker)

    sent = wait_for(lambda: page_sent_at(url, held_id), 20, "the page when the window ran out", worker)
    [released] = entries_at(url, held_id, "released")
    assert end <= released <= sent  # nothing paged inside the window: released at its end, then paged
    assert entries_at(url, held_id, "page") == [sent]
    assert kinds(url, held_id).index("held") < kinds(url, held_id).index("released")
