"""The ingest flow (service.engine.ingest_flow) written once, driven twice: the synchronous
driver (service.engine.ingest) and the event loop's (service.engine.ingest_async) store the same
incident and give the same answer; a Redis error in the middle of the flow writes
nothing and the webhook answers 503."""
import asyncio
import json
from datetime import datetime, timezone

import pytest
import redis

from integrations import keys
from routing.alertmanager import WebhookPayload
from service.engine.ingest import ingest
from service.engine.ingest_async import AsyncIngest
from service.engine.ingest_flow import PAUSE_OVER_ALERTS, CatchUp, Pause, Script, webhook_flow
from service.redis_clients import connect_async
from tests.herald_env import AM_TOKEN, fixture_payload

AUTH = {"Authorization": f"Bearer {AM_TOKEN}"}


@pytest.fixture
def fixed_clock(herald):
    at = datetime.now(timezone.utc).replace(microsecond=0)
    herald.clock = lambda: at
    return at


def many_alerts(n: int) -> dict:
    payload = fixture_payload("firing.json")
    [alert] = payload["alerts"]
    payload["alerts"] = [{**alert, "fingerprint": f"fp{i:05d}", "labels": {**alert["labels"], "pod": f"p{i}"}}
                         for i in range(n)]
    return payload


def stored(herald) -> dict:
    """Everything the flow wrote, key by key (incident JSON parsed, so field order is moot)."""
    r = herald.store.redis
    out = {}
    for key in sorted(r.keys("*")):
        kind = r.type(key)
        if kind == "string":
            value = r.get(key)
            out[key] = json.loads(value) if value.startswith("{") else value
        elif kind == "zset":
            out[key] = r.zrange(key, 0, -1, withscores=True)
        elif kind == "list":
            out[key] = r.lrange(key, 0, -1)
        elif kind == "hash":
            out[key] = r.hgetall(key)
    return out


def through_async(herald, settings, payload: dict) -> list[dict]:
    async def go() -> list[dict]:
        driver = AsyncIngest(herald, connect_async(settings, socket_timeout=None), timeout=5)
        try:
            return await driver(WebhookPayload.model_validate(payload))
        finally:
            await driver.aclose()

    return asyncio.run(go())


@pytest.mark.parametrize("alerts", [1, PAUSE_OVER_ALERTS + 50], ids=["one-alert", "big-with-pauses"])
def test_both_drivers_store_the_same_incident_and_answer_the_same(herald, settings, fixed_clock, alerts):
    payload = many_alerts(alerts)
    sync_answer = ingest(herald, WebhookPayload.model_validate(payload))
    sync_again = ingest(herald, WebhookPayload.model_validate(payload))  # a re-send
    sync_stored = stored(herald)
    herald.store.redis.flushdb()

    async_answer = through_async(herald, settings, payload)
    async_again = through_async(herald, settings, payload)
    assert async_answer == sync_answer and async_answer[0]["changed"] is True
    assert async_again == sync_again == [{**sync_answer[0], "changed": False}]
    assert stored(herald) == sync_stored
    [incident] = herald.store.list()
    assert len(incident.alerts) == alerts and incident.pages[0].person == "alice"


def test_a_big_payload_yields_between_its_steps(herald, fixed_clock):
    """The requests the flow makes: a read, then pauses around parsing and deciding a big
    group, then the commit; a small one makes no pause at all."""
    def requests(payload: dict) -> list[str]:
        flow, seen, reply = webhook_flow(herald, WebhookPayload.model_validate(payload)), [], None
        while True:
            try:
                request = flow.send(reply)
            except StopIteration:
                return seen
            seen.append(type(request).__name__)
            reply = herald.store.script(request.script)(keys=request.keys, args=request.args) \
                if isinstance(request, Script) else herald.calendars.refresh(request.now) \
                if isinstance(request, CatchUp) else None

    small = requests(fixture_payload("firing.json"))
    assert "Pause" not in small and small.count("Script") >= 2
    herald.store.redis.flushdb()
    big = requests(many_alerts(PAUSE_OVER_ALERTS + 1))
    assert big.count("Pause") >= 3 and big[0] == "Script" and big[-1] == "Script"
    assert Pause.__name__ in big


def test_a_redis_error_mid_flow_writes_nothing_and_answers_503(client, herald, redis_url):
    """The group's incident exists, so the read (READ_GROUP) only reads; Redis then
    refuses every write (no replica for ``min-replicas-to-write``): the commit fails as
    a whole, the webhook answers 503, and a retry once Redis takes writes stores it."""
    first = client.post("/api/v1/alertmanager", content=json.dumps(fixture_payload("firing.json")), headers=AUTH)
    assert first.status_code == 200, first.text
    [ref] = first.json()["incidents"]
    grown = fixture_payload("firing.json")
    grown["alerts"].append({**grown["alerts"][0], "fingerprint": "second", "labels": {"alertname": "Second"}})
    before = stored(herald)
    admin = redis.Redis.from_url(redis_url)
    admin.config_set("min-replicas-to-write", 1)
    try:
        refused = client.post("/api/v1/alertmanager", content=json.dumps(grown), headers=AUTH)
        assert refused.status_code == 503 and refused.headers["retry-after"] == "5", refused.text
        assert stored(herald) == before  # nothing half-written: incident, digest, indexes, due index
    finally:
        admin.config_set("min-replicas-to-write", 0)
        admin.close()
    retried = client.post("/api/v1/alertmanager", content=json.dumps(grown), headers=AUTH)
    assert retried.status_code == 200 and retried.json()["incidents"] == [{**ref, "changed": True}]
    assert set(herald.store.get(ref["id"]).alerts) == {grown["alerts"][0]["fingerprint"], "second"}
    assert herald.store.redis.zscore(keys.DUE, keys.due_incident(ref["id"])) is not None  # due, for a worker


def test_a_big_body_parsed_in_steps_is_the_payload_a_one_shot_parse_gives():
    from service.api.alertmanager import STEP_ALERTS, STEP_BYTES, parse_in_steps

    body = json.dumps(many_alerts(STEP_ALERTS * 3 + 7)).encode()
    assert len(body) > STEP_BYTES
    assert asyncio.run(parse_in_steps(body)) == WebhookPayload.model_validate_json(body)
    small = json.dumps(fixture_payload("firing.json")).encode()
    assert asyncio.run(parse_in_steps(small)) == WebhookPayload.model_validate_json(small)


def test_a_big_body_with_one_bad_alert_is_refused_naming_that_alert(client, herald):
    from service.api.alertmanager import STEP_ALERTS

    payload = many_alerts(STEP_ALERTS * 2 + 10)
    payload["alerts"][STEP_ALERTS + 3]["status"] = "burning"
    r = client.post("/api/v1/alertmanager", content=json.dumps(payload), headers=AUTH)
    assert r.status_code == 400, r.text
    assert r.json()["detail"].startswith(f"not an Alertmanager webhook payload: alerts.{STEP_ALERTS + 3}.status: ")
    assert herald.store.redis.dbsize() == 0
    payload["alerts"][STEP_ALERTS + 3]["status"] = "firing"
    payload["alerts"] = {"not": "a list"}
    r = client.post("/api/v1/alertmanager", content=json.dumps(payload) + " " * 70_000, headers=AUTH)
    assert r.status_code == 400 and r.json()["detail"].startswith("not an Alertmanager webhook payload: alerts: ")


def test_a_handoff_another_process_wrote_is_in_force_for_the_next_webhook_on_the_loop(client, herald):
    """Redis names a handoff version this process has not adopted: the event-loop driver
    awaits the calendars' catch-up before deciding, so L1's page goes to erin."""
    from datetime import timedelta

    from integrations.handoff_store import HandoffStore, StoredHandoff

    now = datetime.now(timezone.utc)
    HandoffStore(herald.store.redis).create(StoredHandoff(
        id="", schedule="primary", tier="L1", to="erin", start=now - timedelta(minutes=5),
        end=now + timedelta(hours=2), created_at=now, created_by="another process"))
    r = client.post("/api/v1/alertmanager", content=json.dumps(fixture_payload("firing.json")), headers=AUTH)
    assert r.status_code == 200, r.text
    [ref] = r.json()["incidents"]
    assert [(p.tier, p.person) for p in herald.store.get(ref["id"]).pages] == [("L1", "erin")]
