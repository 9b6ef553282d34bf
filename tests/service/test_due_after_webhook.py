"""A webhook's incident reaches a worker through the due index, written with it: due now
when it has pages to send, at its next escalation once they went out.

Pages go out through the real Twilio SDK to the provider simulator, so "paged once"
is counted where it matters: in the messages the provider got.
"""
import json

import pytest
from fastapi.testclient import TestClient

from integrations import keys
from integrations.due_store import DueIndex
from routing.incident import Acknowledge
from service.worker import due
from service.app import create_app
from service.engine.runtime import Herald
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
    event loop (service.engine.ingest_async): two script calls through its batch, the due-index
    entry written with the incident."""
    ingest = client.app.state.ingest
    assert ingest is not None  # set up by the app's lifespan
    first = open_one(client, "warm-up")
    before = ingest.scripts.writes
    second = open_one(client, "on-the-loop")
    assert ingest.scripts.writes - before == 2, "the webhook did not read and commit on the event loop"
    due_now = herald.store.redis.zrangebyscore(keys.DUE, "-inf", herald.clock().timestamp())
    assert sorted(due_now) == sorted([keys.due_incident(first), keys.due_incident(second)]), \
        "an incident with no due entry"
    assert [(p.person, p.state) for p in herald.store.get(second).pages] == [("alice", "pending")]
    assert due.run_now(herald) == 1  # one message: both incidents bundled for alice
    [sms] = sms_to_alice(sim)
    assert f"#{first}" in sms.body and f"#{second}" in sms.body


def test_due_entry_pages_at_once_and_moves_to_the_escalation(client, herald, sim):
    incident_id = open_one(client)
    assert due.run_now(herald) == 1  # one message sent
    [sms] = sms_to_alice(sim)
    assert f"#{incident_id}" in sms.body
    incident = herald.store.get(incident_id)
    assert [(p.state, p.provider_id) for p in incident.pages] == [("sent", sms.provider_id)]
    assert [e.kind for e in incident.timeline].count("page") == 1
    # The entry now waits for the escalation (written with the page's outcome); no RQ timer.
    assert herald.store.redis.zrange(keys.DUE, 0, -1, withscores=True) == [
        (keys.due_incident(incident_id), incident.next_escalation_at.timestamp())]
    assert herald.queue.scheduled_job_registry.count == 0 and herald.store.redis.zcard(keys.DUE_INFLIGHT) == 0
    assert due.run_now(herald) == 0  # nothing left
    assert len(sms_to_alice(sim)) == 1


def test_an_entry_run_twice_pages_once(client, herald, sim):
    incident_id = open_one(client)
    index, now = DueIndex(herald.store.redis), herald.clock().timestamp()
    [(member, _)], _next = index.claim(now, now + 60)
    assert member == keys.due_incident(incident_id)
    assert due.run_claimed(herald, member) == 1
    assert due.run_claimed(herald, member) == 0  # the same job again, as after a retry
    assert len(sms_to_alice(sim)) == 1  # what the provider got
    assert [e.kind for e in herald.store.get(incident_id).timeline].count("page") == 1
    assert herald.store.redis.zcard(keys.DUE) == 1  # one entry: the escalation


def test_acknowledged_before_the_worker_came_sends_nothing(client, herald, sim):
    incident_id = open_one(client)
    assert herald.act(incident_id, Acknowledge(by="alice", via="api")).incident.status == "acknowledged"
    assert due.run_now(herald) == 0
    assert sim.state.messages_for() == []  # nothing reached the provider
    assert not any(e.kind == "page" for e in herald.store.get(incident_id).timeline)


def test_an_unknown_or_broken_entry_does_not_stop_the_others(client, herald, sim):
    incident_id = open_one(client)
    earlier = herald.clock().timestamp() - 1  # claimed first
    herald.store.redis.zadd(keys.DUE, {keys.due_incident("404"): earlier, "bogus": earlier, "periodic:nope": earlier})
    assert due.run_now(herald) == 1  # the unknown ones are dropped, the real one is paged
    [sms] = sms_to_alice(sim)
    assert [(p.state, p.provider_id) for p in herald.store.get(incident_id).pages] == [("sent", sms.provider_id)]


def test_an_incident_held_by_maintenance_is_due_at_the_windows_end(client, herald, sim):
    """A maintenance window holds the incident: its entry sends nothing and is due again
    at the window's end, which releases it."""
    from datetime import timedelta

    now = herald.clock()
    r = client.post("/api/v1/maintenance", headers={"Authorization": "Bearer test-api-token"},
                    json={"matchers": ["alertname=~.+"], "start": now.isoformat(),
                          "end": (now + timedelta(seconds=90)).isoformat(), "reason": "upgrade"})
    assert r.status_code == 201, r.text
    incident_id = open_one(client)
    assert due.run_now(herald) == 0
    assert sim.state.messages_for() == []
    incident = herald.store.get(incident_id)
    assert not any(e.kind == "page" for e in incident.timeline)
    assert herald.store.redis.zscore(keys.DUE, keys.due_incident(incident_id)) == incident.held_until.timestamp()
