"""A handoff mid-incident redirects the next escalation: real ``herald serve`` and
``herald worker`` processes on a real Redis. The API stores the handoff; the worker,
which already holds the calendars, pages the incoming person when L2's turn comes.
One stack serves the module; every test starts without incidents or handoffs."""
from __future__ import annotations

import httpx
import pytest

from tests import processes
from tests.herald_env import API_TOKEN
from tests.processes import module_stack, page_entries, wait_for

pytestmark = pytest.mark.slow
API = {"Authorization": f"Bearer {API_TOKEN}"}
DELAY = 3  # seconds L1 has to acknowledge: the handoff lands in L1's window


class Stack(processes.Stack):
    def fire(self) -> str:
        return self.post("firing.json")["incidents"][0]["id"]

    def round(self, incident_id: str) -> int:
        return self.incident(incident_id)["round"]

    def lines(self) -> list[str]:
        return self.worker.lines[self.since:]


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    with module_stack(tmp_path_factory.mktemp("handoff"), f"{DELAY}s", HERALD_SWEEP_INTERVAL="1") as shared:
        yield Stack(shared.url, shared.redis_url, shared.worker)


@pytest.fixture
def stack(running: Stack) -> Stack:
    return running.begin()


def pages(url: str, incident_id: str) -> list[dict]:
    return page_entries(url, incident_id, API)


def test_a_handoff_posted_mid_incident_redirects_the_l2_escalation(stack):
    url, worker = stack.url, stack.worker
    incident_id = stack.fire()

    # Bob is L2 by the calendar; while L1 has the page, he hands over to Erin.
    handoff = {"schedule": "backup", "tier": "L2", "to": "erin", "from": "bob", "note": "I am on a plane"}
    r = httpx.post(f"{url}/api/v1/handoffs", json=handoff, headers=API, timeout=10)
    assert r.status_code == 201, r.text
    assert stack.round(incident_id) == 1, "the handoff must land while L1 still has the page"
    oncall = httpx.get(f"{url}/api/v1/oncall/backup", headers=API, timeout=10)
    assert oncall.status_code == 200, oncall.text
    assert oncall.json()["oncall"][0]["person"] == "erin"
    first = wait_for(lambda: pages(url, incident_id), 10, "the L1 page", worker)
    assert [(p["person"], p["tier"]) for p in first][:1] == [("alice", "L1")]

    second = wait_for(lambda: len(pages(url, incident_id)) >= 2 and pages(url, incident_id), DELAY + 20,
                      "the L2 escalation", worker)
    assert (second[1]["person"], second[1]["tier"]) == ("erin", "L2")
    assert all(p["person"] != "bob" for p in second)

    # A worker told Erin what she takes over (the note and the open incident) and confirmed to Bob.
    told = wait_for(lambda: [line for line in stack.lines() if "Handoff from Bob Brown" in line], 10,
                    "the handoff message", worker)
    assert "NOTICE [sms] -> Erin Engel" in told[0] and "I am on a plane" in told[0]
    assert f"#{incident_id} triggered" in told[0]
    wait_for(lambda: any("Handoff confirmed" in line and "-> Bob Brown" in line for line in stack.lines()), 10,
             "the confirmation to bob", worker)


def test_cancelling_the_handoff_before_the_escalation_pages_the_calendar_person(stack):
    url, worker = stack.url, stack.worker
    incident_id = stack.fire()
    created = httpx.post(f"{url}/api/v1/handoffs", json={"schedule": "backup", "tier": "L2", "to": "dave"},
                         headers=API, timeout=10)
    assert created.status_code == 201, created.text
    wait_for(lambda: pages(url, incident_id), 10, "the L1 page", worker)
    cancelled = httpx.delete(f"{url}/api/v1/handoffs/{created.json()['id']}", headers=API, timeout=10)
    assert cancelled.status_code == 200, cancelled.text
    assert stack.round(incident_id) == 1, "the cancel must land while L1 still has the page"
    second = wait_for(lambda: len(pages(url, incident_id)) >= 2 and pages(url, incident_id), DELAY + 20,
                      "the L2 escalation", worker)
    assert (second[1]["person"], second[1]["tier"]) == ("bob", "L2")
