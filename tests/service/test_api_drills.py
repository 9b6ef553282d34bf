"""Drills: a real incident marked DRILL through the real chain, and its result."""
from datetime import datetime, timedelta, timezone

import pytest

from integrations.notifier import OutboundPage, SendResult
from integrations.message_text import sms_text
from service.engine.delivery import deliver
from service.settings import Settings
from tests.herald_env import API_TOKEN, env_for, write_config

API = {"Authorization": f"Bearer {API_TOKEN}"}
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
ROUTES = """route:
  policy: default
  routes:
    - {matchers: ['team="db"'], policy: db}
"""
DB_POLICY = """  - name: db
    tiers:
      - {name: dba, people: [erin], channels: {P0: [sms], P1: [sms], P2: [sms], P3: [sms]}}
      - {name: boss, people: [dave], channels: {P0: [sms], P1: [sms], P2: [sms], P3: [sms]}}
"""


@pytest.fixture
def settings(tmp_path, redis_url, monkeypatch) -> Settings:
    config = write_config(tmp_path / "conf")
    text = config.read_text()
    assert text.count("route: {policy: default}\n") == 1  # the last policy is just above it
    config.write_text(text.replace("route: {policy: default}\n", DB_POLICY + ROUTES))
    for key, value in env_for(config, redis_url, "https://herald.test").items():
        monkeypatch.setenv(key, value)
    return Settings()


class Recorder:
    channel = "sms"

    def __init__(self) -> None:
        self.sent: list[OutboundPage] = []

    def send(self, page: OutboundPage) -> SendResult:
        self.sent.append(page)
        return SendResult("sent", provider_id=f"rec-{len(self.sent)}")


@pytest.fixture
def clock(herald):
    state = {"at": T0}
    herald.clock = lambda: state["at"]
    return state


def start(client, **body):
    return client.post("/api/v1/drills", json=body, headers=API)


def started(client, **body) -> dict:
    """A drill that must start: its one result."""
    r = start(client, **body)
    assert r.status_code == 201, r.text
    [result] = r.json()["drills"]
    return result


def get(client, path: str):
    r = client.get(path, headers=API)
    assert r.status_code == 200, r.text
    return r.json()


def act(client, incident_id: str, action: str) -> None:
    r = client.post(f"/api/v1/incidents/{incident_id}/{action}", headers=API)
    assert r.status_code == 200, r.text


def test_drill_on_a_policy_pages_for_real_and_says_drill(client, herald, clock):
    herald.notifiers["sms"] = recorder = Recorder()
    r = start(client, policy="default", severity="P1")
    assert r.status_code == 201, r.text
    [result] = r.json()["drills"]
    incident = herald.store.get(result["incident_id"])
    assert incident.drill and incident.policy == "default" and incident.severity == "P1"
    assert incident.title == "paging drill P1 on policy default" and incident.timeline[0].details["drill"] is True
    clock["at"] += timedelta(seconds=3)
    assert deliver(herald, incident.id) == 1
    [page] = recorder.sent
    assert page.drill and page.person_id == "alice" and sms_text(page).startswith("DRILL P1 ")
    result = get(client, f"/api/v1/drills/{incident.id}")
    assert result["time_to_first_page_seconds"] == 3 and result["sla"]["met"] is None

    clock["at"] += timedelta(seconds=120)
    act(client, incident.id, "ack")
    clock["at"] += timedelta(seconds=600)
    act(client, incident.id, "resolve")
    result = get(client, f"/api/v1/drills/{incident.id}")
    assert (result["time_to_acknowledge_seconds"], result["time_to_resolve_seconds"]) == (123, 723)
    assert result["acknowledged_tier"] == "L1" and result["sla"] == {"acknowledge_within_seconds": 3600.0, "met": True}
    assert get(client, "/api/v1/drills")["drills"] == [result]


def test_drill_by_labels_goes_through_the_route_tree(client, herald, clock):
    result = started(client, labels={"team": "db", "alertname": "DbDown"}, severity="P0", title="db failover drill")
    incident = herald.store.get(result["incident_id"])
    assert incident.policy == "db" and incident.title == "db failover drill" and incident.severity == "P0"
    assert {(p.tier, p.person) for p in incident.pages} == {("dba", "erin"), ("boss", "dave")}  # P0: two tiers at once
    assert next(iter(incident.alerts.values())).labels == {"team": "db", "alertname": "DbDown", "priority": "P0"}
    other = started(client, labels={"team": "web"}, severity="P3")
    assert herald.store.get(other["incident_id"]).policy == "default"


def test_each_drill_is_its_own_incident(client, herald, clock):
    ids = {started(client, policy="default", severity="P2")["incident_id"] for _ in range(3)}
    assert len(ids) == 3
    listed = get(client, "/api/v1/drills?limit=2")["drills"]
    assert [d["incident_id"] for d in listed] == sorted(ids, key=int, reverse=True)[:2]


@pytest.mark.parametrize("body,status", [
    ({"severity": "P1"}, 422), ({"policy": "default", "labels": {"a": "b"}, "severity": "P1"}, 422),
    ({"policy": "default"}, 422), ({"policy": "default", "severity": "P7"}, 422),
    ({"policy": "nope", "severity": "P1"}, 400), ({"policy": "default", "severity": "P1", "x": 1}, 422),
])
def test_bad_drills_are_refused(client, herald, body, status):
    assert start(client, **body).status_code == status
    assert herald.store.list() == []


def test_drill_routes_need_the_token_and_real_incidents_are_not_drills(client, herald):
    for method, path in [("POST", "/api/v1/drills"), ("GET", "/api/v1/drills"), ("GET", "/api/v1/drills/1")]:
        assert client.request(method, path, json={"policy": "default", "severity": "P1"}).status_code == 401
    assert herald.store.list() == []
    assert client.get("/api/v1/drills/1", headers=API).status_code == 404
    from tests.service.test_incidents_api import open_one

    real = open_one(client)
    assert client.get(f"/api/v1/drills/{real}", headers=API).status_code == 404
    assert get(client, "/api/v1/drills")["drills"] == []
