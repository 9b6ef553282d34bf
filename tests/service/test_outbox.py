"""The outbox: a webhook's incident reaches a worker through the list written with it."""
import json

from integrations import keys
from routing.incident import Acknowledge
from service import jobs, outbox
from tests.herald_env import AM_TOKEN, fixture_payload


def open_one(client) -> str:
    r = client.post("/api/v1/alertmanager", content=json.dumps(fixture_payload("firing.json")),
                    headers={"Authorization": f"Bearer {AM_TOKEN}"})
    assert r.status_code == 200, r.text
    return r.json()["incidents"][0]["id"]


def test_the_webhook_runs_on_the_event_loop_path(client):
    assert client.app.state.ingest is not None  # service.ingest_async, set up by the app's lifespan


def test_drain_pages_at_once_and_sets_the_escalation_timer(client, herald, monkeypatch):
    monkeypatch.setattr(jobs, "_herald", herald)
    incident_id = open_one(client)
    assert outbox.drain(herald) == 1  # one message sent
    incident = herald.store.get(incident_id)
    assert not incident.pending_pages() and any(e.kind == "page" for e in incident.timeline)
    assert herald.store.redis.llen(keys.OUTBOX) == 0
    timers = herald.queue.scheduled_job_registry.get_job_ids()
    assert timers == [f"herald-escalate-{incident_id}-1"]  # the RQ timer, set by the worker
    assert outbox.drain(herald) == 0  # nothing left


def test_an_entry_taken_twice_pages_once(client, herald, monkeypatch):
    monkeypatch.setattr(jobs, "_herald", herald)
    incident_id = open_one(client)
    herald.store.redis.rpush(keys.OUTBOX, incident_id)  # a duplicate, as after a retried write
    assert outbox.drain(herald) == 1
    assert [e.kind for e in herald.store.get(incident_id).timeline].count("page") == 1
    assert herald.queue.scheduled_job_registry.count == 1  # the same deterministic timer id


def test_acknowledged_before_the_worker_came_sends_nothing(client, herald, monkeypatch):
    monkeypatch.setattr(jobs, "_herald", herald)
    incident_id = open_one(client)
    herald.act(incident_id, Acknowledge(by="alice", via="api"))
    assert outbox.drain(herald) == 0
    assert not any(e.kind == "page" for e in herald.store.get(incident_id).timeline)


def test_an_unknown_or_broken_entry_does_not_stop_the_others(client, herald, monkeypatch):
    monkeypatch.setattr(jobs, "_herald", herald)
    incident_id = open_one(client)
    herald.store.redis.lpush(keys.OUTBOX, "404")
    assert outbox.drain(herald) == 1  # "404" is skipped, the real one is paged
    assert herald.store.get(incident_id).pending_pages() == []


def test_an_incident_held_by_maintenance_is_left_to_its_timer(client, herald, monkeypatch):
    """A maintenance window holds the incident: the drain sends nothing and sets the
    timer that releases it at the window's end."""
    from datetime import timedelta

    monkeypatch.setattr(jobs, "_herald", herald)
    now = herald.clock()
    r = client.post("/api/v1/maintenance", headers={"Authorization": "Bearer test-api-token"},
                    json={"matchers": ["alertname=~.+"], "start": now.isoformat(),
                          "end": (now + timedelta(seconds=90)).isoformat(), "reason": "upgrade"})
    assert r.status_code == 201, r.text
    incident_id = open_one(client)
    assert outbox.drain(herald) == 0
    assert not any(e.kind == "page" for e in herald.store.get(incident_id).timeline)
    assert herald.queue.scheduled_job_registry.get_job_ids() == [f"herald-escalate-{incident_id}-0"]
