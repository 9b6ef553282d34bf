"""The worker's ticker escalates the moment an escalation is due, never before."""
import json
from datetime import timedelta

from service import jobs
from service.delivery import deliver
from tests.herald_env import AM_TOKEN, fixture_payload


def open_one(client) -> str:
    r = client.post("/api/v1/alertmanager", content=json.dumps(fixture_payload("firing.json")),
                    headers={"Authorization": f"Bearer {AM_TOKEN}"})
    assert r.status_code == 200, r.text
    return r.json()["incidents"][0]["id"]


def test_tick_escalates_exactly_when_due(client, herald, monkeypatch):
    monkeypatch.setattr(jobs, "_herald", herald)
    incident_id = open_one(client)
    assert deliver(herald, incident_id) == 1  # L1's page left: its hour to acknowledge runs from now
    due = herald.store.get(incident_id).next_escalation_at
    monkeypatch.setattr(herald, "clock", lambda: due - timedelta(milliseconds=1))
    jobs.tick(herald)
    assert herald.store.get(incident_id).round == 1  # a millisecond early: nothing
    monkeypatch.setattr(herald, "clock", lambda: due)
    jobs.tick(herald)
    incident = herald.store.get(incident_id)
    assert incident.round == 2 and {p.tier for p in incident.pages if p.round == 2} == {"L2"}
    assert any(e.kind == "page" and e.details["tier"] == "L2" for e in incident.timeline)  # delivered too
    jobs.tick(herald)
    assert herald.store.get(incident_id).round == 2  # a second tick finds nothing due


def test_tick_leaves_fresh_pages_to_their_delivery_job(client, herald, monkeypatch):
    monkeypatch.setattr(jobs, "_herald", herald)
    incident_id = open_one(client)
    jobs.tick(herald)
    assert herald.store.get(incident_id).pending_pages()  # not yet a second old
