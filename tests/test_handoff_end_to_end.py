"""A handoff mid-incident redirects the next escalation: real ``herald serve`` and
``herald worker`` processes on a real Redis. The API stores the handoff; the worker,
which already holds the calendars, pages the incoming person when L2's turn comes."""
from __future__ import annotations

import json

import httpx
import pytest

from tests.herald_env import AM_TOKEN, API_TOKEN, fixture_payload
from tests.processes import api_and_worker, page_entries, wait_for

pytestmark = pytest.mark.slow
API = {"Authorization": f"Bearer {API_TOKEN}"}
AM = {"Authorization": f"Bearer {AM_TOKEN}", "Content-Type": "application/json"}
DELAY = 5  # seconds L1 has to acknowledge


@pytest.fixture
def stack(tmp_path, redis_url):
    with api_and_worker(tmp_path, redis_url, delay=f"{DELAY}s") as running:
        yield running


def pages(url: str, incident_id: str) -> list[dict]:
    return page_entries(url, incident_id, API)


def test_a_handoff_posted_mid_incident_redirects_the_l2_escalation(stack):
    url, api, worker = stack
    r = httpx.post(f"{url}/api/v1/alertmanager", content=json.dumps(fixture_payload("firing.json")), headers=AM)
    assert r.status_code == 200, r.text
    incident_id = r.json()["incidents"][0]["id"]

    # Bob is L2 by the calendar; while L1 has the page, he hands over to Erin.
    handoff = {"schedule": "backup", "tier": "L2", "to": "erin", "from": "bob", "note": "I am on a plane"}
    r = httpx.post(f"{url}/api/v1/handoffs", json=handoff, headers=API)
    assert r.status_code == 201, r.text
    assert httpx.get(f"{url}/api/v1/oncall/backup", headers=API).json()["oncall"][0]["person"] == "erin"
    first = wait_for(lambda: pages(url, incident_id), 10, "the L1 page", worker)
    assert [(p["person"], p["tier"]) for p in first] == [("alice", "L1")]

    second = wait_for(lambda: len(pages(url, incident_id)) >= 2 and pages(url, incident_id), DELAY + 10,
                      "the L2 escalation", worker)
    assert (second[1]["person"], second[1]["tier"]) == ("erin", "L2")
    assert all(p["person"] != "bob" for p in second)

    # A worker told Erin what she takes over (the note and the open incident) and confirmed to Bob.
    told = wait_for(lambda: [line for line in worker.lines if "Handoff from Bob Brown" in line], 10,
                    "the handoff message", worker)
    assert "NOTICE [sms] -> Erin Engel" in told[0] and "I am on a plane" in told[0]
    assert f"#{incident_id} triggered" in told[0]
    assert any("Handoff confirmed" in line and "-> Bob Brown" in line for line in worker.lines)


def test_cancelling_the_handoff_before_the_escalation_pages_the_calendar_person(stack):
    url, _api, worker = stack
    r = httpx.post(f"{url}/api/v1/alertmanager", content=json.dumps(fixture_payload("firing.json")), headers=AM)
    incident_id = r.json()["incidents"][0]["id"]
    created = httpx.post(f"{url}/api/v1/handoffs", json={"schedule": "backup", "tier": "L2", "to": "dave"},
                         headers=API).json()
    wait_for(lambda: pages(url, incident_id), 10, "the L1 page", worker)
    assert httpx.delete(f"{url}/api/v1/handoffs/{created['id']}", headers=API).status_code == 200
    second = wait_for(lambda: len(pages(url, incident_id)) >= 2 and pages(url, incident_id), DELAY + 10,
                      "the L2 escalation", worker)
    assert (second[1]["person"], second[1]["tier"]) == ("bob", "L2")
