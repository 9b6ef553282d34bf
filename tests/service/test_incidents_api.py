import json

from tests.herald_env import AM_TOKEN, API_TOKEN, fixture_payload

API = {"Authorization": f"Bearer {API_TOKEN}"}


def open_one(client) -> str:
    r = client.post("/api/v1/alertmanager", content=json.dumps(fixture_payload("firing.json")),
                    headers={"Authorization": f"Bearer {AM_TOKEN}"})
    assert r.status_code == 200, r.text
    return r.json()["incidents"][0]["id"]


def test_list_and_read_with_timeline(client):
    incident_id = open_one(client)
    listing = client.get("/api/v1/incidents", headers=API).json()["incidents"]
    assert [i["id"] for i in listing] == [incident_id] and "timeline" not in listing[0]
    body = client.get(f"/api/v1/incidents/{incident_id}", headers=API).json()
    assert {"id", "status", "severity", "title", "created_at", "timeline"} <= body.keys()
    assert body["status"] == "triggered" and body["timeline"][0]["kind"] == "triggered"
    assert all({"at", "kind", "details"} <= e.keys() for e in body["timeline"])


def test_open_filter(client):
    incident_id = open_one(client)
    r = client.post(f"/api/v1/incidents/{incident_id}/resolve", headers=API)
    assert r.status_code == 200, r.text
    assert client.get("/api/v1/incidents?status=open", headers=API).json()["incidents"] == []
    assert len(client.get("/api/v1/incidents?status=all", headers=API).json()["incidents"]) == 1
    assert client.get("/api/v1/incidents?status=bogus", headers=API).status_code == 422


def test_ack_then_resolve(client, herald):
    incident_id = open_one(client)
    acked = client.post(f"/api/v1/incidents/{incident_id}/ack", headers=API)
    assert acked.status_code == 200, acked.text
    acked = acked.json()
    assert acked["status"] == "acknowledged" and acked["acknowledged_by"] == "api"
    again = client.post(f"/api/v1/incidents/{incident_id}/ack", headers=API)
    assert again.status_code == 200 and again.json()["version"] == acked["version"]
    resolved = client.post(f"/api/v1/incidents/{incident_id}/resolve", headers=API).json()
    assert resolved["status"] == "resolved"
    assert herald.store.due(1e12) == []


def test_every_incident_route_needs_the_api_token(client):
    incident_id = open_one(client)
    for method, path in [("GET", "/api/v1/incidents"), ("GET", f"/api/v1/incidents/{incident_id}"),
                         ("POST", f"/api/v1/incidents/{incident_id}/ack"),
                         ("POST", f"/api/v1/incidents/{incident_id}/resolve")]:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Bearer {AM_TOKEN}"}):
            r = client.request(method, path, headers=headers)
            assert r.status_code == 401, (method, path, headers)
    assert client.get(f"/api/v1/incidents/{incident_id}", headers=API).json()["status"] == "triggered"


def test_unknown_incident_is_404(client):
    assert client.get("/api/v1/incidents/999", headers=API).status_code == 404
    assert client.post("/api/v1/incidents/999/ack", headers=API).status_code == 404


def test_health(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    checks = ready.json()["checks"]
    assert ready.status_code == 200 and (checks["redis"], checks["calendars"]) == ("ok", "ok")
    assert checks["scheduler"].startswith("no worker has swept recently")  # reported, yet still ready
    client.app.state.herald.store.redis.zadd("herald:workers", {"w1": client.app.state.herald.clock().timestamp()})
    assert client.get("/readyz").json()["checks"]["scheduler"] == "ok"


def test_acting_without_paging_does_not_ask_the_calendars(client, herald, monkeypatch):
    incident_id = open_one(client)

    def no_roster(*_args):
        raise AssertionError("an ack or a resolve needs nobody's rota")

    monkeypatch.setattr(herald.calendars, "roster", no_roster)
    assert client.post(f"/api/v1/incidents/{incident_id}/ack", headers=API).json()["status"] == "acknowledged"
    assert client.post(f"/api/v1/incidents/{incident_id}/resolve", headers=API).json()["status"] == "resolved"
