"""The whole paging path with real processes: ``herald serve`` and ``herald worker``
against a real Redis, driven over HTTP like Alertmanager and an engineer would.
One stack serves the module; every test starts from an empty incident store."""
from __future__ import annotations

from datetime import datetime, timedelta

import httpx
import pytest

from tests import processes
from tests.herald_env import API_TOKEN
from tests.processes import (
    ack_links,
    module_stack,
    page_entries,
    wait_for,
    wait_idle,
    wait_timer,
)

pytestmark = pytest.mark.slow
API = {"Authorization": f"Bearer {API_TOKEN}"}
DELAY = 2  # seconds each tier has to acknowledge


class Stack(processes.Stack):
    def links(self, person_name: str) -> list[str]:
        return ack_links(self.worker, person_name, since=self.since)


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    with module_stack(tmp_path_factory.mktemp("e2e"), f"{DELAY}s", HERALD_SWEEP_INTERVAL="1",
                      HERALD_SWEEP_GRACE="1") as shared:
        yield Stack(shared.url, shared.redis_url, shared.worker)


@pytest.fixture
def stack(running: Stack) -> Stack:
    return running.begin()


def pages(url: str, incident_id: str) -> list[dict]:
    return page_entries(url, incident_id, API)


def round_starts(incident: dict) -> dict[int, datetime]:
    """When each escalation round began (its ``paging`` or ``escalated`` entry)."""
    return {e["details"]["round"]: datetime.fromisoformat(e["at"]) for e in incident["timeline"]
            if e["kind"] in ("paging", "escalated")}


def test_page_escalate_acknowledge_by_link(stack):
    url, worker = stack.url, stack.worker
    incident_id = stack.post("firing.json")["incidents"][0]["id"]

    first = wait_for(lambda: pages(url, incident_id), 10, "the L1 page", worker)
    assert (first[0]["person"], first[0]["tier"], first[0]["channel"]) == ("alice", "L1", "sms")

    # A re-send while L1 has the page pages nobody again.
    assert stack.post("firing.json")["incidents"][0]["changed"] is False

    second = wait_for(lambda: len(pages(url, incident_id)) >= 2 and pages(url, incident_id), DELAY + 20,
                      "the L2 escalation", worker)
    assert (second[1]["person"], second[1]["tier"]) == ("bob", "L2")
    started = round_starts(stack.incident(incident_id))
    assert started[2] - started[1] >= timedelta(seconds=DELAY)  # never early

    # Bob acknowledges from the link in his page: GET shows, only POST acknowledges.
    [link] = wait_for(lambda: stack.links("Bob Brown"), 10, "bob's ack link", worker)
    assert link.startswith(url + "/ack/")
    shown = httpx.get(link, timeout=10)
    assert shown.status_code == 200 and "Acknowledge" in shown.text
    assert stack.incident(incident_id)["status"] == "triggered"
    acked = httpx.post(link, data={"action": "ack"}, timeout=10)
    assert acked.status_code == 200, acked.text
    incident = stack.incident(incident_id)
    assert incident["status"] == "acknowledged" and incident["acknowledged_by"] == "bob"
    rounds_at_ack = incident["round"]  # 2, unless a loaded machine let the next tier's timer fire first
    paged_at_ack = len(pages(url, incident_id))

    # The timer that would have ended the acknowledged round fires (the ticker's look at
    # the due index came before it) and whatever it started is done: nothing more is paged.
    wait_timer(stack.redis_url, incident_id, rounds_at_ack, proc=worker)
    wait_idle(stack.redis_url, proc=worker)
    after = stack.incident(incident_id)
    assert after["round"] == rounds_at_ack and len(pages(url, incident_id)) == paged_at_ack
    assert rounds_at_ack > 2 or not stack.links("Erin Engel")


def test_resolved_webhook_cancels_pending_escalations(stack):
    url, worker = stack.url, stack.worker
    incident_id = stack.post("firing_two_alerts.json")["incidents"][0]["id"]
    wait_for(lambda: pages(url, incident_id), 10, "the L1 page", worker)
    resolved = stack.post("resolved.json")["incidents"][0]
    assert resolved["status"] == "resolved"
    incident = stack.incident(incident_id)
    round_at_resolve, paged_at_resolve = incident["round"], len(pages(url, incident_id))  # 1 and 1, unless slow

    # L1's escalation timer fires after the resolve and all it started is done: nobody else is paged.
    wait_timer(stack.redis_url, incident_id, round_at_resolve, proc=worker)
    wait_idle(stack.redis_url, proc=worker)
    incident = stack.incident(incident_id)
    assert incident["status"] == "resolved" and incident["round"] == round_at_resolve
    assert len(pages(url, incident_id)) == paged_at_resolve
    assert round_at_resolve > 1 or (paged_at_resolve == 1 and not stack.links("Bob Brown"))
