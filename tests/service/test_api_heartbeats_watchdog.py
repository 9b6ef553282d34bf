"""The dead man's switch: Alertmanager's Watchdog alert pings the heartbeat ``watchdog``."""
import json
from datetime import datetime, timedelta, timezone

import pytest

from service.worker import due
from service.settings import Settings
from tests.herald_env import AM_TOKEN, API_TOKEN, env_for, fixture_payload, write_config

API = {"Authorization": f"Bearer {API_TOKEN}"}
AM = {"Authorization": f"Bearer {AM_TOKEN}"}
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
WATCHDOG = """
watchdog:
  matchers: ['alertname="Watchdog"', 'prometheus=~"prom-.*"']
  timeout: 2m
  severity: P0
"""


@pytest.fixture
def settings(tmp_path, redis_url, monkeypatch) -> Settings:
    config = write_config(tmp_path / "conf")
    config.write_text(config.read_text() + WATCHDOG)
    for key, value in env_for(config, redis_url, "https://herald.test").items():
        monkeypatch.setenv(key, value)
    return Settings()


@pytest.fixture
def clock(herald):
    state = {"at": T0}
    herald.clock = lambda: state["at"]
    return state


def watchdog_alert(status="firing", prometheus="prom-a"):
    return {"status": status, "labels": {"alertname": "Watchdog", "severity": "none", "prometheus": prometheus},
            "annotations": {"summary": "An alert that should always be firing"},
            "startsAt": "2026-03-01T00:00:00Z", "endsAt": "0001-01-01T00:00:00Z", "fingerprint": "wd1"}


def webhook(alerts, group_key='{}/{alertname="Watchdog"}:{alertname="Watchdog"}', **extra):
    return {"version": "4", "groupKey": group_key, "status": alerts[0]["status"], "receiver": "herald",
            "groupLabels": {}, "commonLabels": dict(alerts[0]["labels"]) if len(alerts) == 1 else {},
            "commonAnnotations": {}, "externalURL": "http://am", "alerts": alerts, **extra}


def post(client, payload):
    return client.post("/api/v1/alertmanager", content=json.dumps(payload), headers=AM)


def stored(client, payload) -> dict:
    r = post(client, payload)
    assert r.status_code == 200, r.text
    return r.json()


def test_watchdog_is_a_ping_never_an_incident(client, herald, clock):
    r = post(client, webhook([watchdog_alert()]))
    assert r.status_code == 200 and r.json() == {"status": "stored", "incidents": []}
    assert herald.store.list() == []
    [beat] = client.get("/api/v1/heartbeats", headers=API).json()["heartbeats"]
    assert (beat["name"], beat["kind"], beat["timeout_seconds"], beat["severity"], beat["state"]) == \
        ("watchdog", "watchdog", 120, "P0", "ok")


def test_a_watchdog_only_payload_never_reaches_the_ingest_flow(client, herald, clock):
    """The route splits the Watchdog off before the flow: no group read, no incident id
    reserved, no digest; only the heartbeat's keys are written."""
    from integrations import keys

    r = herald.store.redis
    before = set(r.keys("*"))
    for _ in range(2):  # the second ping finds the heartbeat there
        assert stored(client, webhook([watchdog_alert()]))["incidents"] == []
    assert r.get(keys.INCIDENT_SEQ) is None and r.keys(keys.PREFIX + "digest:*") == []
    assert set(r.keys("*")) - before == {keys.HEARTBEATS, keys.HEARTBEAT_DEADLINES}
    assert herald.store.list() == []


def test_watchdog_silent_opens_monitoring_pipeline_silent_and_comes_back(client, herald, clock):
    stored(client, webhook([watchdog_alert()]))
    clock["at"] += timedelta(seconds=119)
    due.run_now(herald, periodic=True)
    assert herald.store.list() == []
    clock["at"] += timedelta(seconds=2)
    due.run_now(herald, periodic=True)
    [incident] = herald.store.list()
    assert incident.title == "monitoring pipeline silent" and incident.severity == "P0"
    assert next(iter(incident.alerts.values())).labels["alertname"] == "WatchdogMissing"
    assert {p.tier for p in incident.pages} == {"L1", "L2"}  # P0 pages L1 and L2 at once
    due.run_now(herald, periodic=True)
    assert len(herald.store.list()) == 1
    assert stored(client, webhook([watchdog_alert()]))["incidents"] == []
    assert herald.store.get(incident.id).status == "resolved"


def test_a_resolved_watchdog_is_not_a_ping(client, herald, clock):
    r = post(client, webhook([watchdog_alert("resolved")]))
    assert r.status_code == 200 and r.json()["incidents"] == []
    assert client.get("/api/v1/heartbeats", headers=API).json()["heartbeats"] == []
    assert herald.store.list() == []


def test_watchdog_in_a_mixed_group_is_taken_out_and_the_rest_routed(client, herald, clock):
    disk = fixture_payload("firing.json")["alerts"][0]
    payload = webhook([watchdog_alert(), disk], group_key="mixed", commonAnnotations={})
    [ref] = stored(client, payload)["incidents"]
    incident = herald.store.get(ref["id"])
    assert [a.labels["alertname"] for a in incident.alerts.values()] == [disk["labels"]["alertname"]]
    assert client.get("/api/v1/heartbeats/watchdog", headers=API).json()["state"] == "ok"


def test_only_the_configured_matchers_make_a_watchdog(client, herald, clock):
    assert len(stored(client, webhook([watchdog_alert(prometheus="other")], group_key="not-ours"))["incidents"]) == 1
    assert client.get("/api/v1/heartbeats/watchdog", headers=API).status_code == 404
