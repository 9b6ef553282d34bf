import json
from datetime import datetime, timedelta, timezone

from tests.herald_env import API_TOKEN, fixture_payload

API = {"Authorization": f"Bearer {API_TOKEN}"}


def _iso(moment: datetime) -> str:
    """Whole seconds, ``Z``: the form the API answers in."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _at() -> datetime:
    """An hour from now, in whole seconds: inside the calendars' window on any day."""
    return datetime.now(timezone.utc).replace(microsecond=0) + timedelta(hours=1)


def test_simulate_answers_the_plan_and_stores_nothing(client, herald):
    at = _at()
    r = client.post("/api/v1/simulate", params={"at": _iso(at)}, content=json.dumps(fixture_payload("firing.json")),
                    headers=API)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["severity"] == "P1" and body["policies"] == ["default"]
    steps = body["plans"][0]["steps"]
    assert [(s["tier"], s["people"]) for s in steps[:4]] == [
        ("L1", ["alice"]), ("L2", ["bob"]), ("engineering", ["erin"]), ("executive", ["dave"])]
    assert steps[0]["at"] == _iso(at)
    assert herald.store.redis.keys("herald:incident*") == [] and herald.queue.count == 0


def test_simulate_shows_a_maintenance_hold(client):
    at = _at()
    window = {"matchers": ['service="db"'], "start": _iso(at - timedelta(hours=1)),
              "end": _iso(at + timedelta(hours=1)), "reason": "db upgrade"}
    created = client.post("/api/v1/maintenance", json=window, headers=API)
    assert created.status_code == 201, created.text
    r = client.post("/api/v1/simulate", params={"at": _iso(at)}, content=json.dumps(fixture_payload("firing.json")),
                    headers=API)
    assert r.status_code == 200, r.text
    plan = r.json()["plans"][0]
    assert plan["events"][0]["kind"] == "held", plan
    assert plan["steps"][0]["at"] == _iso(at + timedelta(hours=1)), plan


def test_simulate_rejects_bad_input(client):
    assert client.post("/api/v1/simulate", content=b"{}", headers=API).status_code == 400
    naive = client.post("/api/v1/simulate", params={"at": _iso(_at()).removesuffix("Z")}, headers=API,
                        content=json.dumps(fixture_payload("firing.json")))
    assert naive.status_code == 400 and "time zone" in naive.json()["detail"]
    assert client.post("/api/v1/simulate", content=json.dumps(fixture_payload("firing.json"))).status_code == 401


def test_simulate_holds_a_page_inside_a_window_already_running(client, herald):
    herald.paging.hold_rate_window("alice", "sms", 60)  # alice was just texted for another incident
    now = datetime.now(timezone.utc)
    r = client.post("/api/v1/simulate", content=json.dumps(fixture_payload("firing.json")), headers=API)
    assert r.status_code == 200, r.text
    plan = r.json()["plans"][0]
    [held] = [e for e in plan["events"] if e["kind"] == "page_deferred"]
    assert (held["person"], held["channel"], held["tier"]) == ("alice", "sms", "L1")
    until = datetime.fromisoformat(held["until"])
    assert now + timedelta(seconds=50) < until <= now + timedelta(seconds=61)
    l2 = next(s for s in plan["steps"] if s["tier"] == "L2")
    assert datetime.fromisoformat(l2["at"]) == datetime.fromisoformat(held["escalates_at"])  # L1 gets its hour
    later = client.post("/api/v1/simulate", params={"at": _iso(_at())}, content=json.dumps(fixture_payload("firing.json")),
                        headers=API).json()["plans"][0]
    assert not [e for e in later["events"] if e["kind"] == "page_deferred"]  # over by then
