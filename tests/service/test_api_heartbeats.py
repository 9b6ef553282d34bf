"""Heartbeats over the API and their incidents, opened and resolved by the sweep."""
import threading
from datetime import datetime, timedelta, timezone

import pytest

from routing.decide import Decision
from service.worker import due
from service.engine import heartbeats
from service.engine.runtime import Herald
from tests.herald_env import AM_TOKEN, API_TOKEN

API = {"Authorization": f"Bearer {API_TOKEN}"}
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


@pytest.fixture
def clock(herald) -> Clock:
    herald.clock = Clock(T0)
    return herald.clock


def incidents(herald: Herald) -> list:
    return herald.store.list(limit=1000)


def ping(client, name: str, **body) -> dict:
    r = client.post(f"/api/v1/heartbeats/{name}", json=body or None, headers=API)
    assert r.status_code == 200, r.text
    return r.json()


def listed(client) -> list[dict]:
    r = client.get("/api/v1/heartbeats", headers=API)
    assert r.status_code == 200, r.text
    return r.json()["heartbeats"]


def test_first_ping_creates_with_the_default_timeout_and_goes_late(client, clock):
    r = client.post("/api/v1/heartbeats/nightly-backup", headers=API)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["name"], body["kind"], body["timeout_seconds"], body["state"]) == ("nightly-backup", "heartbeat", 300, "ok")
    assert body["last_ping"] == T0.isoformat() and body["deadline"] == (T0 + timedelta(minutes=5)).isoformat()
    clock.advance(299)
    assert listed(client)[0]["state"] == "ok"
    clock.advance(1)
    [beat] = listed(client)
    assert beat["state"] == "late" and beat["name"] == "nightly-backup"


def test_timeout_and_severity_are_kept_until_changed(client, clock):
    assert ping(client, "etl.v2", timeout="10m", severity="P2")["timeout_seconds"] == 600
    clock.advance(60)
    again = ping(client, "etl.v2")
    assert (again["timeout_seconds"], again["severity"]) == (600, "P2")
    assert again["deadline"] == (T0 + timedelta(minutes=11)).isoformat()
    assert ping(client, "etl.v2", timeout=45)["timeout_seconds"] == 45
    one = client.get("/api/v1/heartbeats/etl.v2", headers=API)
    assert one.status_code == 200, one.text
    assert one.json()["created_at"] == T0.isoformat()


@pytest.mark.parametrize("name,body,status", [
    ("has$dollar", None, 400), ("x" * 65, None, 400), ("watchdog", None, 400),
    ("ok", {"timeout": "soon"}, 400), ("ok", {"timeout": "0s"}, 400), ("ok", {"timeout": -5}, 400),
    ("ok", {"timeout": "31d"}, 400), ("ok", {"timeout": 31 * 86400}, 400),
    ("ok", {"severity": "P9"}, 422), ("ok", {"extra": 1}, 422),
])
def test_bad_pings_are_refused(client, name, body, status):
    r = client.post(f"/api/v1/heartbeats/{name}", json=body, headers=API)
    assert r.status_code == status, r.text
    assert listed(client) == []


def test_every_route_needs_the_api_token(client):
    ping(client, "job")
    for method, path in [("POST", "/api/v1/heartbeats/job"), ("GET", "/api/v1/heartbeats"),
                         ("GET", "/api/v1/heartbeats/job"), ("DELETE", "/api/v1/heartbeats/job")]:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Bearer {AM_TOKEN}"}):
            assert client.request(method, path, headers=headers).status_code == 401, (method, path, headers)
    assert client.get("/api/v1/heartbeats/job", headers=API).status_code == 200


def test_silence_opens_one_incident_that_pages_and_the_next_ping_resolves_it(client, herald, clock):
    ping(client, "backup", timeout="10s")
    clock.advance(9)
    due.run_now(herald, periodic=True)
    assert incidents(herald) == []
    clock.advance(2)
    due.run_now(herald, periodic=True)
    [incident] = incidents(herald)
    assert incident.title == "heartbeat backup missed" and incident.severity == "P1" and incident.status == "triggered"
    assert (incident.receiver, incident.group_key, incident.policy) == ("herald", "heartbeat:backup", "default")
    [alert] = incident.alerts.values()
    assert alert.labels["alertname"] == "HeraldHeartbeatMissing" and alert.labels["heartbeat"] == "backup"
    assert alert.starts_at == T0 + timedelta(seconds=10)  # the silence began at the deadline
    # paged in the same pass: the incident's entry is due now, as after any webhook
    assert [(p.tier, p.person, p.state) for p in incident.pages] == [("L1", "alice", "sent")]
    one = client.get("/api/v1/heartbeats/backup", headers=API)
    assert one.status_code == 200, one.text
    assert one.json()["paged_since"] == alert.starts_at.isoformat()

    clock.advance(30)
    due.run_now(herald, periodic=True)  # still silent: nothing new
    assert [e.kind for e in herald.store.get(incident.id).timeline] == ["triggered", "paging", "page"]
    assert len(incidents(herald)) == 1

    back = ping(client, "backup")
    assert back["state"] == "ok" and back["paged_since"] is None
    resolved = herald.store.get(incident.id)
    assert resolved.status == "resolved" and resolved.timeline[-1].kind == "resolved"

    clock.advance(11)  # silent again: a new episode, a new incident
    due.run_now(herald, periodic=True)
    newest = incidents(herald)[0]
    assert len(incidents(herald)) == 2 and newest.id != incident.id and newest.status == "triggered"


def test_the_sweep_resolves_if_the_ping_came_back_without_resolving(client, herald, clock):
    """A ping whose own resolve was lost (process died) is caught by the next sweep."""
    ping(client, "job", timeout="10s")
    clock.advance(11)
    due.run_now(herald, periodic=True)
    [incident] = incidents(herald)
    heartbeats.heartbeat_store(herald).ping("job", clock(), timeout=10)  # the store only: no resolve
    assert herald.store.get(incident.id).status == "triggered"
    due.run_now(herald, periodic=True)
    assert herald.store.get(incident.id).status == "resolved"
    assert heartbeats.heartbeat_store(herald).missing() == {}


def test_two_sweeps_at_once_open_one_incident_and_one_page(client, settings, herald, clock, monkeypatch):
    """Both sweeps see the heartbeat late and unpaged, then both open it at the same
    moment: the group-key dedup of the store makes that one incident, paged once."""
    names = [f"job-{n}" for n in range(5)]
    for name in names:
        ping(client, name, timeout="5s")
    clock.advance(6)
    other = Herald.from_settings(settings)  # a second worker: its own connections
    other.clock = clock
    barrier = threading.Barrier(2, timeout=10)
    real = heartbeats.ingest_synthetic

    def in_step(*args, **kwargs) -> list[Decision]:
        if kwargs.get("starts_at") and args[4] == "firing":
            barrier.wait()  # both workers reach the opening of the same heartbeat together
        return real(*args, **kwargs)

    monkeypatch.setattr(heartbeats, "ingest_synthetic", in_step)
    results: list[int] = []
    threads = [threading.Thread(target=lambda h=h: results.append(heartbeats.check(h))) for h in (herald, other)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert sorted(results) == [5, 5]  # each sweep did try to open all five
    opened = incidents(herald)
    assert sorted(i.group_key for i in opened) == sorted(f"heartbeat:{n}" for n in names)
    for incident in opened:
        assert len(incident.pages) == 1 and [e.kind for e in incident.timeline].count("paging") == 1


def test_delete_stops_watching_and_resolves_an_open_silence(client, herald, clock):
    assert client.delete("/api/v1/heartbeats/nope", headers=API).status_code == 404
    ping(client, "job", timeout="1m")
    clock.advance(61)
    due.run_now(herald, periodic=True)
    [incident] = incidents(herald)
    r = client.delete("/api/v1/heartbeats/job", headers=API)
    assert r.status_code == 200, r.text
    assert r.json() == {"deleted": "job", "resolved_silence": True}
    assert herald.store.get(incident.id).status == "resolved"
    assert client.get("/api/v1/heartbeats/job", headers=API).status_code == 404
    clock.advance(600)
    due.run_now(herald, periodic=True)
    assert len(incidents(herald)) == 1
