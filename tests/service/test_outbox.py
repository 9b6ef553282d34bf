"""The outbox: a webhook's incident reaches a worker through the list written with it.

Pages go out through the real Twilio SDK to the provider simulator, so "paged once"
is counted where it matters: in the messages the provider got.
"""
import json

import pytest
from fastapi.testclient import TestClient

from integrations import keys
from routing.incident import Acknowledge
from service import jobs, outbox
from service.app import create_app
from service.runtime import Herald
from service.settings import Settings
from tests.herald_env import AM_TOKEN, fixture_payload
from tests.integrations.sim_fixture import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, sim, sim_env  # noqa: F401

ALICE = "+15550100001"


@pytest.fixture
def herald(settings, sim, monkeypatch):
    for key, value in {"HERALD_TWILIO_ACCOUNT_SID": ACCOUNT_SID, "HERALD_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
                       "HERALD_TWILIO_FROM": FROM_NUMBER, "HERALD_TWILIO_API_BASE": sim.url}.items():
        monkeypatch.setenv(key, value)
    full = Settings()
    assert full.twilio_configured() and full.twilio_api_base == sim.url
    herald = Herald.from_settings(full)
    monkeypatch.setattr(jobs, "_herald", herald)
    yield herald
    herald.calendars.close()


@pytest.fixture
def client(herald):
    with TestClient(create_app(herald.settings, herald)) as c:
        yield c


def open_one(client, group: str | None = None) -> str:
    payload = fixture_payload("firing.json")
    if group is not None:
        payload["groupKey"] = group
    r = client.post("/api/v1/alertmanager", content=json.dumps(payload),
                    headers={"Authorization": f"Bearer {AM_TOKEN}"})
    assert r.status_code == 200, r.text
    [ref] = r.json()["incidents"]
    assert ref["changed"] is True and ref["status"] == "triggered", ref
    return ref["id"]


def sms_to_alice(sim) -> list:
    return sim.state.messages_for(ALICE, "sms")


def test_the_webhook_runs_on_the_event_loop_path(client, herald, sim):
    """The first webhook of a process also reads the maintenance windows (and may wait
    for the calendars to catch up); after that a new group is read and committed on the
    event loop (service.ingest_async): two script calls through its batch, the outbox
    entry written with the incident."""
    ingest = client.app.state.ingest
    assert ingest is not None  # set up by the app's lifespan
    first = open_one(client, "warm-up")
    before = ingest.scripts.writes
    second = open_one(client, "on-the-loop")
    assert ingest.scripts.writes - before == 2, "the webhook did not read and commit on the event loop"
    assert herald.store.redis.lrange(keys.OUTBOX, 0, -1) == [first, second], "an incident with no outbox entry"
    assert [(p.person, p.state) for p in herald.store.get(second).pages] == [("alice", "pending")]
    assert outbox.drain(herald) == 1  # one message: both incidents bundled for alice
    [sms] = sms_to_alice(sim)
    assert f"#{first}" in sms.body and f"#{second}" in sms.body


def test_drain_pages_at_once_and_sets_the_escalation_timer(client, herald, sim):
    incident_id = open_one(client)
    assert outbox.drain(herald) == 1  # one message sent
    [sms] = sms_to_alice(sim)
    assert f"#{incident_id}" in sms.body
    incident = herald.store.get(incident_id)
    assert [(p.state, p.provider_id) for p in incident.pages] == [("sent", sms.provider_id)]
    assert [e.kind for e in incident.timeline].count("page") == 1
    assert herald.store.redis.llen(keys.OUTBOX) == 0
    timers = herald.queue.scheduled_job_registry.get_job_ids()
    assert timers == [f"herald-escalate-{incident_id}-1"]  # the RQ timer, set by the worker
    assert outbox.drain(herald) == 0  # nothing left
    assert len(sms_to_alice(sim)) == 1


def test_an_entry_taken_twice_pages_once(client, herald, sim):
    incident_id = open_one(client)
    herald.store.redis.rpush(keys.OUTBOX, incident_id)  # a duplicate, as after a retried write
    assert herald.store.redis.llen(keys.OUTBOX) == 2
    assert outbox.drain(herald) == 1
    assert len(sms_to_alice(sim)) == 1  # what the provider got
    assert [e.kind for e in herald.store.get(incident_id).timeline].count("page") == 1
    assert herald.queue.scheduled_job_registry.count == 1  # the same deterministic timer id


def test_acknowledged_before_the_worker_came_sends_nothing(client, herald, sim):
    incident_id = open_one(client)
    assert herald.act(incident_id, Acknowledge(by="alice", via="api")).incident.status == "acknowledged"
    assert outbox.drain(herald) == 0
    assert sim.state.messages_for() == []  # nothing reached the provider
    assert not any(e.kind == "page" for e in herald.store.get(incident_id).timeline)


def test_an_unknown_or_broken_entry_does_not_stop_the_others(client, herald, sim):
    incident_id = open_one(client)
    herald.store.redis.lpush(keys.OUTBOX, "404")
    assert outbox.drain(herald) == 1  # "404" is skipped, the real one is paged
    [sms] = sms_to_alice(sim)
    assert [(p.state, p.provider_id) for p in herald.store.get(incident_id).pages] == [("sent", sms.provider_id)]


def test_an_incident_held_by_maintenance_is_left_to_its_timer(client, herald, sim):
    """A maintenance window holds the incident: the drain sends nothing and sets the
    timer that releases it at the window's end."""
    from datetime import timedelta

    now = herald.clock()
    r = client.post("/api/v1/maintenance", headers={"Authorization": "Bearer test-api-token"},
                    json={"matchers": ["alertname=~.+"], "start": now.isoformat(),
                          "end": (now + timedelta(seconds=90)).isoformat(), "reason": "upgrade"})
    assert r.status_code == 201, r.text
    incident_id = open_one(client)
    assert outbox.drain(herald) == 0
    assert sim.state.messages_for() == []
    assert not any(e.kind == "page" for e in herald.store.get(incident_id).timeline)
    assert herald.queue.scheduled_job_registry.get_job_ids() == [f"herald-escalate-{incident_id}-0"]
