"""The whole paging path with real processes: ``herald serve`` and ``herald worker``
against a real Redis, driven over HTTP like Alertmanager and an engineer would."""
from __future__ import annotations

import json
import time

import httpx
import pytest

from tests.herald_env import AM_TOKEN, API_TOKEN, fixture_payload
from tests.processes import ack_links, api_and_worker, page_entries, wait_for

pytestmark = pytest.mark.slow
API = {"Authorization": f"Bearer {API_TOKEN}"}
AM = {"Authorization": f"Bearer {AM_TOKEN}", "Content-Type": "application/json"}
DELAY = 3  # seconds each tier has to acknowledge


@pytest.fixture
def stack(tmp_path, redis_url):
    with api_and_worker(tmp_path, redis_url, delay=f"{DELAY}s") as running:
        yield running


def pages(url: str, incident_id: str) -> list[dict]:
    return page_entries(url, incident_id, API)


def test_page_escalate_acknowledge_by_link(stack):
    url, _api, worker = stack
    r = httpx.post(f"{url}/api/v1/alertmanager", content=json.dumps(fixture_payload("firing.json")), headers=AM)
    assert r.status_code == 200, r.text
    incident_id = r.json()["incidents"][0]["id"]
    opened = time.monotonic()

    first = wait_for(lambda: pages(url, incident_id), 10, "the L1 page", worker)
    assert (first[0]["person"], first[0]["tier"], first[0]["channel"]) == ("alice", "L1", "sms")

    # A re-send while L1 has the page pages nobody again.
    assert httpx.post(f"{url}/api/v1/alertmanager", content=json.dumps(fixture_payload("firing.json")),
                      headers=AM).json()["incidents"][0]["changed"] is False

    second = wait_for(lambda: len(pages(url, incident_id)) >= 2 and pages(url, incident_id), DELAY + 8,
                      "the L2 escalation", worker)
    assert (second[1]["person"], second[1]["tier"]) == ("bob", "L2")
    assert time.monotonic() - opened >= DELAY  # never early

    # Bob acknowledges from the link in his page: GET shows, only POST acknowledges.
    [link] = wait_for(lambda: ack_links(worker, "Bob Brown"), 5, "bob's ack link", worker)
    assert link.startswith(url + "/ack/")
    shown = httpx.get(link)
    assert shown.status_code == 200 and "Acknowledge" in shown.text
    assert httpx.get(f"{url}/api/v1/incidents/{incident_id}", headers=API).json()["status"] == "triggered"
    assert httpx.post(link, data={"action": "ack"}).status_code == 200
    incident = httpx.get(f"{url}/api/v1/incidents/{incident_id}", headers=API).json()
    assert incident["status"] == "acknowledged" and incident["acknowledged_by"] == "bob"
    rounds_at_ack = incident["round"]  # 2, unless a loaded machine let the next tier's timer fire first
    paged_at_ack = len(pages(url, incident_id))

    time.sleep(DELAY + 2)  # the next tier's timer passes: nothing more is paged
    after = httpx.get(f"{url}/api/v1/incidents/{incident_id}", headers=API).json()
    assert after["round"] == rounds_at_ack and len(pages(url, incident_id)) == paged_at_ack
    assert rounds_at_ack > 2 or not ack_links(worker, "Erin Engel")


def test_resolved_webhook_cancels_pending_escalations(stack):
    url, _api, worker = stack
    r = httpx.post(f"{url}/api/v1/alertmanager", content=json.dumps(fixture_payload("firing_two_alerts.json")),
                   headers=AM)
    incident_id = r.json()["incidents"][0]["id"]
    wait_for(lambda: pages(url, incident_id), 10, "the L1 page", worker)
    r = httpx.post(f"{url}/api/v1/alertmanager", content=json.dumps(fixture_payload("resolved.json")), headers=AM)
    assert r.json()["incidents"][0]["status"] == "resolved"
    time.sleep(DELAY + 2)
    incident = httpx.get(f"{url}/api/v1/incidents/{incident_id}", headers=API).json()
    assert incident["status"] == "resolved" and len(pages(url, incident_id)) == 1
    assert not ack_links(worker, "Bob Brown")
