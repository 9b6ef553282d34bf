import base64
import json
import socket
import time

import redis

from integrations import keys
from integrations.store import Store
from service.telemetry import metrics
from service.engine.ingest_async import AsyncIngest
from service.redis_clients import connect, connect_async
from tests.herald_env import AM_TOKEN, fixture_payload

AUTH = {"Authorization": f"Bearer {AM_TOKEN}"}


def post(client, payload, headers=AUTH):
    return client.post("/api/v1/alertmanager", content=json.dumps(payload), headers=headers)


def assert_stored_and_queued_for_paging(herald, response) -> None:
    """The effect of a new firing group: the incident stored with the fixture's alert,
    alice's L1 page pending, and the outbox entry a worker pages from."""
    assert response.status_code == 200, response.text
    refs = response.json()["incidents"]
    assert len(refs) == 1, f"answered 200 for {len(refs)} incidents: {response.text}"
    [ref] = refs
    assert ref["changed"] is True and ref["status"] == "triggered", ref
    sent = fixture_payload("firing.json")
    incident = herald.store.get(ref["id"])
    assert incident is not None, "answered 200 but stored nothing"
    assert (incident.receiver, incident.group_key, incident.policy) == (sent["receiver"], sent["groupKey"], "default")
    [(fingerprint, alert)] = incident.alerts.items()
    expected = sent["alerts"][0]
    assert fingerprint == expected["fingerprint"] and alert.status == "firing"
    assert alert.labels == expected["labels"] and alert.annotations == expected["annotations"]
    assert alert.generator_url == expected["generatorURL"]
    assert [(p.round, p.tier, p.person, p.channel, p.state) for p in incident.pages] == [
        (1, "L1", "alice", "sms", "pending")]
    assert herald.store.redis.zrangebyscore(keys.DUE, "-inf", time.time()) == [keys.due_incident(ref["id"])]


def test_firing_webhook_opens_an_incident_and_queues_the_page(client, herald):
    r = post(client, fixture_payload("firing.json"))
    assert r.status_code == 200, r.text
    [ref] = r.json()["incidents"]
    incident = herald.store.get(ref["id"])
    assert incident.status == "triggered" and incident.severity == "P1"
    assert incident.title == "Disk almost full on db1"
    assert incident.receiver == 'team-db/"oncall" pager'  # escaped receiver names survive
    assert [(p.tier, p.person, p.state) for p in incident.pages] == [("L1", "alice", "pending")]
    # due now in the due index, for a worker, written with it
    assert herald.store.redis.zrangebyscore(keys.DUE, "-inf", time.time()) == [keys.due_incident(ref["id"])]
    assert herald.queue.count == 0  # the webhook enqueues nothing itself


def test_resend_pages_nobody_again(client, herald):
    first = post(client, fixture_payload("firing.json")).json()["incidents"][0]
    again = post(client, fixture_payload("firing.json"))
    assert again.status_code == 200 and again.json()["incidents"][0] == {**first, "changed": False}
    incident = herald.store.get(first["id"])
    assert incident.version == 1 and len(incident.pages) == 1
    assert herald.store.redis.zcard(keys.DUE) == 1  # the re-send left no second entry
    assert herald.store.redis.llen(keys.DUE_WAKE) == 1  # and woke no worker


def test_alert_joining_the_group_goes_on_the_timeline(client, herald):
    post(client, fixture_payload("firing.json"))
    r = post(client, fixture_payload("firing_two_alerts.json"))
    incident = herald.store.get(r.json()["incidents"][0]["id"])
    assert incident.timeline[-1].kind == "alert_added" and len(incident.alerts) == 2
    assert len(incident.pages) == 1


def test_resolved_webhook_resolves(client, herald):
    post(client, fixture_payload("firing_two_alerts.json"))
    r = post(client, fixture_payload("resolved.json"))
    incident = herald.store.get(r.json()["incidents"][0]["id"])
    assert incident.status == "resolved" and incident.resolved_by == "alertmanager"
    assert all(p.state == "cancelled" for p in incident.pages)


def test_unknown_fields_are_tolerated(client, herald):
    payload = fixture_payload("firing.json")
    payload["notification_reason"] = "new"
    payload["routeLabels"] = {"team": "db"}
    payload["alerts"][0]["somethingNew"] = {"x": 1}
    assert_stored_and_queued_for_paging(herald, post(client, payload))  # the unknown fields left out


def test_basic_auth_is_accepted(client, herald):
    basic = base64.b64encode(f"alertmanager:{AM_TOKEN}".encode()).decode()
    r = post(client, fixture_payload("firing.json"), {"Authorization": f"Basic {basic}"})
    assert_stored_and_queued_for_paging(herald, r)


def test_missing_or_wrong_credentials_are_401_and_write_nothing(client, herald):
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic !!!"},
                    {"Authorization": "Basic " + base64.b64encode(b"alertmanager:nope").decode()}):
        r = post(client, fixture_payload("firing.json"), headers)
        assert r.status_code == 401 and "credentials" in r.json()["detail"]
        assert AM_TOKEN not in r.text
    assert herald.store.redis.dbsize() == 0


def test_invalid_payloads_are_400_with_a_reason_and_write_nothing(client, herald):
    wrong_version = {**fixture_payload("firing.json"), "version": "3"}
    no_alerts = {**fixture_payload("firing.json"), "alerts": []}
    bad_status = fixture_payload("firing.json")
    bad_status["alerts"][0]["status"] = "exploded"
    cases = [(b"{not json", "json"), (json.dumps(wrong_version).encode(), "version"),
             (json.dumps(no_alerts).encode(), "alerts"), (json.dumps(bad_status).encode(), "alerts.0.status"),
             (b"[]", "body")]
    for body, hint in cases:
        r = client.post("/api/v1/alertmanager", content=body, headers=AUTH)
        assert r.status_code == 400, body
        assert "not an Alertmanager webhook payload" in r.json()["detail"] and hint in r.json()["detail"].lower()
    assert herald.store.redis.dbsize() == 0


def test_body_over_one_mebibyte_is_413(client, herald):
    big = b"x" * (1024 * 1024 + 1)
    assert client.post("/api/v1/alertmanager", content=big, headers=AUTH).status_code == 413

    def chunks():  # no Content-Length: the streaming limit catches it
        for _ in range(17):
            yield b"y" * 65536

    assert client.post("/api/v1/alertmanager", content=chunks(), headers=AUTH).status_code == 413
    assert herald.store.redis.dbsize() == 0


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_redis_unavailable_is_503_so_alertmanager_retries(client, herald, redis_url):
    """Redis goes away under a running API: both of its clients (the event loop's, for
    the webhook, and the store's) now meet a closed port. They are built as Herald
    builds them (``connect``/``connect_async``: from the URL, so without redis-py's
    default retries — a client made with ``redis.Redis(host=…)`` would back off about
    3.6 s per call against the closed port)."""
    gone = herald.settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{closed_port()}/0"})
    live_store, live_ingest = herald.store, client.app.state.ingest
    dead_store = Store(connect(gone, decode_responses=True, socket_timeout=5, health_check_interval=30),
                       count=live_store.count)
    dead_ingest = AsyncIngest(herald, connect_async(gone, socket_timeout=None), timeout=5)
    herald.store, client.app.state.ingest = dead_store, dead_ingest
    rejected = metrics.REGISTRY.get_sample_value("herald_webhooks_rejected_total", {"reason": "storage_unavailable"})

    r = post(client, fixture_payload("firing.json"))
    assert r.status_code == 503 and r.headers["retry-after"] == "5", r.text
    assert metrics.REGISTRY.get_sample_value("herald_webhooks_rejected_total",
                                             {"reason": "storage_unavailable"}) == rejected + 1
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.json()["checks"]["redis"] == "unreachable: ConnectionError"
    assert client.get("/healthz").status_code == 200
    with redis.Redis.from_url(redis_url) as direct:
        assert direct.dbsize() == 0  # nothing reached Redis by some other client either

    herald.store, client.app.state.ingest = live_store, live_ingest  # Redis is back
    client.portal.call(dead_ingest.aclose)
    dead_store.redis.close()
    assert_stored_and_queued_for_paging(herald, post(client, fixture_payload("firing.json")))  # the retry
    assert client.get("/readyz").status_code == 200


def test_resend_takes_the_one_round_trip_fast_path(client, herald):
    post(client, fixture_payload("firing.json"))
    herald.store.redis.config_resetstat()
    assert post(client, fixture_payload("firing.json")).json()["incidents"][0]["changed"] is False
    stats = herald.store.redis.info("commandstats")
    assert "cmdstat_watch" not in stats and "cmdstat_multi" not in stats
    assert stats["cmdstat_evalsha"]["calls"] == 1 and "cmdstat_set" not in stats  # one read, no write
    changed = fixture_payload("firing.json")
    changed["alerts"][0]["annotations"]["summary"] = "now 99% full"  # not a re-send: the slow path
    assert post(client, changed).json()["incidents"][0]["changed"] is True


def test_the_other_instance_of_an_ha_pair_changes_nothing_either(client, herald):
    """Its copy differs only in externalURL: not byte-for-byte the same body, so it is
    decided in full, and that finds nothing to change."""
    first = post(client, fixture_payload("firing.json")).json()["incidents"][0]
    peer = fixture_payload("firing.json")
    peer["externalURL"] = "http://alertmanager-2.example:9093"
    herald.store.redis.config_resetstat()
    again = post(client, peer).json()["incidents"][0]
    assert again == {**first, "changed": False}
    stats = herald.store.redis.info("commandstats")
    assert "cmdstat_set" not in stats  # read in full, nothing written
    assert herald.store.get(first["id"]).version == 1 and herald.store.redis.llen(keys.DUE_WAKE) == 1
