import json

from tests.herald_env import API_TOKEN, fixture_payload

API = {"Authorization": f"Bearer {API_TOKEN}"}


def test_simulate_answers_the_plan_and_stores_nothing(client, herald):
    r = client.post("/api/v1/simulate?at=2026-11-28T03:00:00Z", content=json.dumps(fixture_payload("firing.json")),
                    headers=API)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["severity"] == "P1" and body["policies"] == ["default"]
    steps = body["plans"][0]["steps"]
    assert [(s["tier"], s["people"]) for s in steps[:4]] == [
        ("L1", ["alice"]), ("L2", ["bob"]), ("engineering", ["erin"]), ("executive", ["dave"])]
    assert steps[0]["at"] == "2026-11-28T03:00:00Z"
    assert herald.store.redis.keys("herald:incident*") == [] and herald.queue.count == 0


def test_simulate_shows_a_maintenance_hold(client):
    client.post("/api/v1/maintenance", json={"matchers": ['service="db"'], "start": "2026-11-28T02:00:00Z",
                                             "end": "2026-11-28T04:00:00Z", "reason": "db upgrade"}, headers=API)
    r = client.post("/api/v1/simulate?at=2026-11-28T03:00:00Z", content=json.dumps(fixture_payload("firing.json")),
                    headers=API)
    plan = r.json()["plans"][0]
    assert plan["events"][0]["kind"] == "held" and plan["steps"][0]["at"] == "2026-11-28T04:00:00Z"


def test_simulate_rejects_bad_input(client):
    assert client.post("/api/v1/simulate", content=b"{}", headers=API).status_code == 400
    naive = client.post("/api/v1/simulate?at=2026-11-28T03:00:00", headers=API,
                        content=json.dumps(fixture_payload("firing.json")))
    assert naive.status_code == 400 and "time zone" in naive.json()["detail"]
    assert client.post("/api/v1/simulate", content=json.dumps(fixture_payload("firing.json"))).status_code == 401
