import json
from datetime import datetime, timedelta, timezone

from tests.herald_env import AM_TOKEN, API_TOKEN, fixture_payload

API = {"Authorization": f"Bearer {API_TOKEN}"}


def open_one(client) -> str:
    r = client.post("/api/v1/alertmanager", content=json.dumps(fixture_payload("firing.json")),
                    headers={"Authorization": f"Bearer {AM_TOKEN}"})
    assert r.status_code == 200, r.text
    return r.json()["incidents"][0]["id"]


def act(client, incident_id: str, action: str, **body) -> dict:
    r = client.post(f"/api/v1/incidents/{incident_id}/{action}", json=body or None, headers=API)
    assert r.status_code == 200, r.text
    return r.json()


def days_from_now(days: float, zone: bool = True) -> str:
    """An ISO 8601 time this many days from now (``zone=False``: without its offset)."""
    moment = datetime.now(timezone.utc) + timedelta(days=days)
    return moment.isoformat() if zone else moment.replace(tzinfo=None).isoformat()


def test_escalate_reassign_snooze_and_note(client):
    incident_id = open_one(client)
    body = act(client, incident_id, "escalate")
    assert {p["tier"] for p in body["pages"] if p["round"] == body["round"]} == {"L2"}
    body = act(client, incident_id, "reassign", person="erin")
    assert {p["person"] for p in body["pages"] if p["round"] == body["round"]} == {"erin"}
    body = act(client, incident_id, "reassign", tier="executive")
    assert {p["person"] for p in body["pages"] if p["round"] == body["round"]} == {"dave"}
    body = act(client, incident_id, "snooze", minutes=15)
    assert body["status"] == "acknowledged" and body["next_escalation_at"]
    body = act(client, incident_id, "notes", text="on it")
    assert body["timeline"][-1]["kind"] == "note" and body["timeline"][-1]["details"]["by"] == "api"


def test_manual_actions_reject_bad_input_and_change_nothing(client, herald):
    incident_id = open_one(client)
    before = herald.store.get(incident_id).version
    for path, payload, status in [
        ("reassign", {"tier": "nope"}, 400), ("reassign", {"person": "zed"}, 400),
        ("reassign", {}, 422), ("reassign", {"person": "erin", "tier": "L2"}, 422),
        ("snooze", {"minutes": 0}, 422), ("snooze", {"minutes": 99999}, 422), ("notes", {"text": ""}, 422),
    ]:
        r = client.post(f"/api/v1/incidents/{incident_id}/{path}", json=payload, headers=API)
        assert r.status_code == status, (path, payload, r.text)
    assert herald.store.get(incident_id).version == before
    assert client.post("/api/v1/incidents/999/escalate", headers=API).status_code == 404
    assert client.post(f"/api/v1/incidents/{incident_id}/escalate").status_code == 401


def test_maintenance_window_holds_new_incidents_and_ending_it_pages(client, herald):
    r = client.post("/api/v1/maintenance", headers=API,
                    json={"matchers": ['service="db"'], "end": days_from_now(1), "reason": "db upgrade"})
    assert r.status_code == 201, r.text
    assert r.json()["active"] is True
    window_id = r.json()["id"]
    incident_id = open_one(client)
    held = herald.store.get(incident_id)
    assert held.pages == [] and held.hold_reason == "maintenance: db upgrade"
    assert [w["id"] for w in client.get("/api/v1/maintenance", headers=API).json()["windows"]] == [window_id]
    ended = client.delete(f"/api/v1/maintenance/{window_id}", headers=API)
    assert ended.status_code == 200, ended.text
    ended = ended.json()
    assert ended["released_incidents"] == [incident_id] and ended["active"] is False
    assert [p.person for p in herald.store.get(incident_id).pages] == ["alice"]


def test_maintenance_window_validation(client):
    bad = [({"matchers": [], "end": days_from_now(1), "reason": "x"}, 422),
           ({"matchers": ["nonsense"], "end": days_from_now(1), "reason": "x"}, 400),
           ({"matchers": ['a="b"'], "end": days_from_now(-1), "reason": "x"}, 400),  # already over
           ({"matchers": ['a="b"'], "start": days_from_now(2), "end": days_from_now(1), "reason": "x"}, 400),
           ({"matchers": ['a="b"'], "end": days_from_now(1, zone=False), "reason": "x"}, 400)]  # no offset
    for payload, status in bad:
        r = client.post("/api/v1/maintenance", json=payload, headers=API)
        assert r.status_code == status, (payload, r.text)
    assert client.get("/api/v1/maintenance", headers=API).json()["windows"] == []
    assert client.delete("/api/v1/maintenance/42", headers=API).status_code == 404


def test_ending_a_window_leaves_held_an_incident_whose_policy_was_removed(client, herald):
    """act() refuses that incident (a Conflict: its policy is gone); the window still ends,
    answered 200, and the incident stays held, unchanged, rather than the whole call failing."""
    import dataclasses

    r = client.post("/api/v1/maintenance", headers=API,
                    json={"matchers": ['service="db"'], "end": days_from_now(1), "reason": "db upgrade"})
    window_id = r.json()["id"]
    incident_id = open_one(client)
    held = herald.store.get(incident_id)
    herald.config = dataclasses.replace(herald.config, policies={
        name: policy for name, policy in herald.config.policies.items() if name != held.policy})
    ended = client.delete(f"/api/v1/maintenance/{window_id}", headers=API)
    assert ended.status_code == 200, ended.text
    assert ended.json()["released_incidents"] == [] and ended.json()["active"] is False
    after = herald.store.get(incident_id)
    assert after.version == held.version and after.held_until == held.held_until and after.pages == []
