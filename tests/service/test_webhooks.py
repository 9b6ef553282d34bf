"""Outgoing webhooks (integrations/webhooks.py): signed per Standard Webhooks and checked
with the package's own ``Webhook.verify`` by a receiver on 127.0.0.1; in order per
incident; filtered; retried with the same event id; given up after a day; a receiver
that is down never keeps a page from going out; the deliveries API and console page."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from integrations import keys
from integrations.handoff_store import StoredHandoff
from routing.incident import Acknowledge, Resolve
from service.dev.local_redis import free_port
from service.settings import Settings
from service.worker import due
from tests.herald_env import API_TOKEN, env_for, open_group, write_config
from tests.webhook_receiver import SECRET, start_receiver

READ_TOKEN = "read-only-token-0123456789"


@pytest.fixture
def receiver():
    found = start_receiver()
    yield found
    found.stop()


def webhooks_yaml(receiver_url: str, down_url: str) -> str:
    return f"""
webhooks:
  - {{name: ops, url: "{receiver_url}/ops", secret_env: HERALD_TEST_WEBHOOK_SECRET, timeout: 5s}}
  - {{name: acks, url: "{receiver_url}/acks", secret_env: HERALD_TEST_WEBHOOK_SECRET,
     events: [incident.acknowledged, incident.resolved]}}
  - {{name: down, url: "{down_url}/hook", secret_env: HERALD_TEST_WEBHOOK_SECRET, timeout: 2s,
     events: [incident.opened]}}
"""


@pytest.fixture
def down_url():
    return f"http://127.0.0.1:{free_port()}"  # nothing listens there: connection refused


@pytest.fixture
def settings(tmp_path, redis_url, monkeypatch, receiver, down_url) -> Settings:
    config = write_config(tmp_path / "conf")
    config.write_text(config.read_text() + webhooks_yaml(receiver.url, down_url))
    env = env_for(config, redis_url, "http://testserver")  # the console checks the origin
    env["HERALD_TEST_WEBHOOK_SECRET"] = SECRET
    env["HERALD_API_TOKENS"] = f"viewer:read:{READ_TOKEN}"
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return Settings()


def kinds(events):
    return [e["type"] for e in events]


def test_events_arrive_signed_and_in_order(client, herald, receiver):
    incident_id = open_group(client, "hooks-order")
    due.run_now(herald)  # the page, and each endpoint's follower
    herald.act(incident_id, Acknowledge(by="alice", via="api"))
    herald.act(incident_id, Resolve(by="alice", via="api", note="disk cleaned"))
    due.run_now(herald)
    ops = [r for r in receiver.received if r.path == "/ops"]
    assert ops and all(r.verified for r in ops)  # Webhook(secret).verify accepted every one
    events = [r.event for r in ops]
    assert kinds(events) == ["incident.opened", "page.sent", "incident.acknowledged", "incident.resolved"]
    timeline = herald.store.get(incident_id).timeline
    indexes = [e["data"]["entry"]["index"] for e in events]
    assert indexes == sorted(indexes) and [timeline[i].kind for i in indexes] == [
        "triggered", "page", "acknowledged", "resolved"]
    assert [e["id"] for e in events] == [f"herald-incident-{incident_id}-{i}" for i in indexes]
    assert all(r.headers["webhook-id"] == r.event["id"] for r in ops)
    resolved = events[-1]
    assert resolved["data"]["incident"]["status"] == "resolved" and resolved["data"]["entry"]["details"]["note"] == \
        "disk cleaned"
    assert resolved["data"]["incident"]["url"] == f"http://testserver/ui/incidents/{incident_id}"
    assert kinds(receiver.events("/acks")) == ["incident.acknowledged", "incident.resolved"]  # its filter


def test_a_tampered_signature_is_refused_by_the_receiver(receiver):
    """The receiver really checks: a wrong secret's signature does not verify."""
    import httpx
    from standardwebhooks import Webhook

    other = Webhook("whsec_" + "A" * 32)
    body = b'{"type":"incident.opened"}'
    now = datetime.now(timezone.utc)
    r = httpx.post(receiver.url + "/x", content=body, headers={
        "webhook-id": "m1", "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": other.sign("m1", now, body)})
    assert r.status_code == 401 and receiver.received[-1].verified is False


def test_a_500_is_retried_with_the_same_event_id_and_the_rest_waits(client, herald, receiver, monkeypatch):
    receiver.answers[:] = [500]  # the first request (ops's incident.opened) fails
    incident_id = open_group(client, "hooks-retry")
    due.run_now(herald)
    first_id = f"herald-incident-{incident_id}-0"
    record = herald.webhooks.get("ops", first_id)
    assert record.state == "failed" and record.attempts == 1 and record.last_status == 500
    assert [e["id"] for e in receiver.events("/ops")] == [first_id]  # page.sent waits behind it
    retry_at = datetime.fromisoformat(record.next_attempt)
    assert retry_at - datetime.fromisoformat(record.last_attempt) == timedelta(seconds=5)
    monkeypatch.setattr(herald, "clock", lambda: retry_at)
    due.run_now(herald)
    ids = [e["id"] for e in receiver.events("/ops")]
    assert ids[:2] == [first_id, first_id]  # the same id again: the receiver can drop a copy
    assert kinds(receiver.events("/ops"))[1:] == ["incident.opened", "page.sent"]
    record = herald.webhooks.get("ops", first_id)
    assert record.state == "delivered" and record.attempts == 2


def test_a_receiver_that_is_down_keeps_no_page_back(client, herald, receiver):
    incident_id = open_group(client, "hooks-down")
    due.run_now(herald)
    incident = herald.store.get(incident_id)
    [page] = [e for e in incident.timeline if e.kind == "page"]
    assert page.at >= incident.created_at  # the page went out in the same pass
    record = herald.webhooks.get("down", f"herald-incident-{incident_id}-0")
    assert record.state == "failed" and record.last_status is None and "ConnectError" in record.last_error
    assert herald.store.redis.zscore(keys.DUE, keys.due_follow("webhook:down", incident_id)) >= \
        (herald.clock() + timedelta(seconds=4)).timestamp()  # re-armed with backoff, not in a loop
    assert kinds(receiver.events("/ops")) == ["incident.opened", "page.sent"]  # the others went on


def test_gives_up_after_a_day_and_moves_on(client, herald, receiver, monkeypatch):
    incident_id = open_group(client, "hooks-give-up")
    now = [herald.clock()]
    monkeypatch.setattr(herald, "clock", lambda: now[0])
    event_id = f"herald-incident-{incident_id}-0"
    waits = []
    for _ in range(100):
        receiver.answers[:] = [503] * 10
        due.run_now(herald)
        record = herald.webhooks.get("ops", event_id)
        if record.state == "gave_up":
            break
        assert record.state == "failed"
        at = datetime.fromisoformat(record.next_attempt)
        waits.append(at - now[0])
        now[0] = at
    assert record.state == "gave_up"
    first = datetime.fromisoformat(record.first_attempt)
    assert datetime.fromisoformat(record.last_attempt) - first >= timedelta(hours=24)  # a whole day of tries
    assert waits[:4] == [timedelta(seconds=s) for s in (5, 10, 20, 40)] and max(waits) == timedelta(hours=1)
    receiver.answers[:] = []
    due.run_now(herald)
    after = [e for e in receiver.events("/ops") if e["id"] != event_id]
    assert after and after[0]["type"] == "page.sent"  # the next event flowed after the one given up


def test_handoff_created_is_sent(client, herald, receiver):
    now = herald.clock()
    stored = herald.handoffs.create(StoredHandoff(id="", schedule="primary", tier="L1", to="bob", start=now,
                                                  end=now + timedelta(hours=2), from_person="alice",
                                                  note="call me on +15550100009", created_at=now,
                                                  created_by="alice"))
    due.run_now(herald)
    [event] = [e for e in receiver.events("/ops") if e["type"] == "handoff.created"]
    assert event["id"] == f"herald-handoff-{stored.id}"
    assert event["data"]["handoff"]["to"] == "bob" and "note" not in event["data"]["handoff"]
    assert receiver.events("/acks") == []  # not in its filter
    r = client.post("/api/v1/handoffs", json={"schedule": "primary", "tier": "L1", "to": "erin"},
                    headers={"Authorization": f"Bearer {API_TOKEN}"})  # the API's path to the same store
    assert r.status_code == 201, r.text
    due.run_now(herald)
    handoffs = [e["data"]["handoff"]["to"] for e in receiver.events("/ops") if e["type"] == "handoff.created"]
    assert handoffs == ["bob", "erin"]  # each once, in order
    assert due.run_now(herald) == 0 and len(receiver.events("/ops")) == 2


def test_repair_recreates_a_lost_handoff_entry(client, herald, receiver):
    now = herald.clock()
    herald.handoffs.create(StoredHandoff(id="", schedule="primary", tier="L1", to="bob", start=now,
                                         end=now + timedelta(hours=2), created_at=now))
    herald.store.redis.zrem(keys.DUE, keys.due_handoffs("webhook:ops"))
    assert due.repair(herald) >= 1
    due.run_now(herald)
    assert [e["type"] for e in receiver.events("/ops")] == ["handoff.created"]


def test_the_deliveries_api(client, herald, receiver):
    receiver.answers[:] = [500]
    incident_id = open_group(client, "hooks-api")
    due.run_now(herald)
    read = {"Authorization": f"Bearer {READ_TOKEN}"}
    r = client.get("/api/v1/webhooks/deliveries", headers=read)
    assert r.status_code == 200, r.text
    body = r.json()
    assert {e["name"] for e in body["endpoints"]} == {"ops", "acks", "down"}
    assert {(d["endpoint"], d["state"]) for d in body["deliveries"]} == {("ops", "failed"), ("down", "failed")}
    [ops] = [d for d in body["deliveries"] if d["endpoint"] == "ops"]
    assert ops["id"] == f"herald-incident-{incident_id}-0" and ops["incident"] == incident_id
    assert ops["attempts"] == 1 and ops["last_status"] == 500 and ops["next_attempt"]
    only = client.get("/api/v1/webhooks/deliveries?endpoint=down&state=failed&limit=1", headers=read).json()
    assert [d["endpoint"] for d in only["deliveries"]] == ["down"]
    assert client.get("/api/v1/webhooks/deliveries?state=delivered", headers=read).json()["deliveries"] == []
    bad = client.get("/api/v1/webhooks/deliveries?endpoint=nope", headers=read)
    assert bad.status_code == 400 and bad.json()["detail"].startswith("endpoint: no webhook endpoint named 'nope'")
    bad = client.get("/api/v1/webhooks/deliveries?state=lost", headers=read)
    assert bad.status_code == 400 and bad.json()["detail"].startswith("state: 'lost' is not one of")
    assert client.get("/api/v1/webhooks/deliveries?limit=0", headers=read).status_code == 422
    assert client.get("/api/v1/webhooks/deliveries").status_code == 401


def test_the_console_page(client, herald, receiver):
    from tests.web.conftest import login

    incident_id = open_group(client, "hooks-console")
    due.run_now(herald)
    login(client, API_TOKEN)
    page = client.get("/ui/webhooks")
    assert page.status_code == 200
    assert 'href="/ui/webhooks"' in page.text  # in the console's nav
    table = page.text[page.text.index('id="webhook-deliveries"'):]
    assert f"herald-incident-{incident_id}-0" in table and "delivered" in table and "ConnectError" in table
    only = client.get("/ui/webhooks?endpoint=down").text
    rows = only[only.index('id="webhook-deliveries"'):]
    assert "ConnectError" in rows and "<td>delivered</td>" not in rows and "<td>ops</td>" not in rows
    bad = client.get("/ui/webhooks?state=lost")
    assert bad.status_code == 400 and "state: &#39;lost&#39; is not one of" in bad.text


def test_a_missing_secret_is_a_configuration_error(tmp_path, redis_url, monkeypatch, receiver):
    from integrations.config.model import ConfigError, load_config

    config = write_config(tmp_path / "conf")
    config.write_text(config.read_text() + webhooks_yaml(receiver.url, receiver.url))
    monkeypatch.delenv("HERALD_TEST_WEBHOOK_SECRET", raising=False)
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    assert str(caught.value) == (f"{config}: webhooks.ops.secret_env: the environment variable "
                                 "HERALD_TEST_WEBHOOK_SECRET is not set")
    monkeypatch.setenv("HERALD_TEST_WEBHOOK_SECRET", "not-a-whsec-secret")
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    assert "webhooks.ops.secret_env: the environment variable HERALD_TEST_WEBHOOK_SECRET must be whsec_" in \
        str(caught.value) and "not-a-whsec" not in str(caught.value)  # never the value
    monkeypatch.setenv("HERALD_TEST_WEBHOOK_SECRET", SECRET)
    assert [e.name for e in load_config(config).webhooks] == ["ops", "acks", "down"]
    assert SECRET not in repr(load_config(config).webhooks)
    json.dumps([e.name for e in load_config(config).webhooks])


def test_log_lines_never_carry_a_webhook_secret_or_url(herald, receiver):
    """The runtime registers each endpoint's URL and secret with the log redaction."""
    from service.telemetry.logs import RedactFilter

    line = f"posting to {receiver.url}/ops with {SECRET} ({SECRET.removeprefix('whsec_')})"
    redacted = RedactFilter([]).redact(line)
    assert SECRET.removeprefix("whsec_") not in redacted and "/ops" not in redacted
    assert redacted.startswith("posting to http://127.0.0.1:") and "[REDACTED]" in redacted
    assert RedactFilter([]).redact("nothing secret here") == "nothing secret here"


def test_a_burst_worker_delivers_before_it_exits(client, herald, receiver, monkeypatch, settings):
    """``herald worker --burst`` runs the followers' entries in its jobs, not on threads it
    would leave behind when it exits."""
    import os
    import subprocess
    import sys

    receiver.delay = 1.0  # slow enough that threads left behind would not have finished
    incident_id = open_group(client, "hooks-burst")
    done = subprocess.run([sys.executable, "-m", "service.cli.main", "worker", "--burst"], env=dict(os.environ),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert kinds(receiver.events("/ops")) == ["incident.opened", "page.sent"]
    assert herald.follow.cursor("webhook:ops", incident_id) == len(herald.store.get(incident_id).timeline)
    assert herald.store.redis.zcard(keys.DUE_INFLIGHT) == 0
