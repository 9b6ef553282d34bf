"""``GET/PUT /api/v1/people/{id}/rules`` over the real app and Redis, and the webhook
following what was stored (its cached copy renewed when anyone's rules change)."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest

from integrations import keys
from tests.herald_env import AM_TOKEN, API_TOKEN, fixture_payload

API = {"Authorization": f"Bearer {API_TOKEN}"}
VOICE_THEN_EMAIL = {"high": [{"channel": "voice", "delay_minutes": 0}, {"channel": "email", "delay_minutes": 5}]}


@pytest.fixture
def settings(tmp_path, redis_url, monkeypatch):
    from service.settings import Settings
    from tests.herald_env import env_for, write_config

    for key, value in env_for(write_config(tmp_path / "conf"), redis_url, "https://herald.test").items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("HERALD_API_TOKENS", "viewer:read:a-read-only-token-of-16+")
    return Settings()


def fire(client, group: str, priority: str = "P1") -> str:
    payload = fixture_payload("firing.json")
    payload["groupKey"] = group
    for alert in payload["alerts"]:
        alert["labels"]["priority"] = priority
    r = client.post("/api/v1/alertmanager", content=json.dumps(payload), headers={"Authorization": f"Bearer {AM_TOKEN}"})
    assert r.status_code == 200, r.text
    return r.json()["incidents"][0]["id"]


def test_rules_are_stored_shown_and_followed_by_the_next_page(client, herald):
    before = client.get("/api/v1/people/alice/rules", headers=API)
    assert before.status_code == 200, before.text
    assert before.json() == {"person": "alice", "high": [], "low": [], "uses_policy_channels": ["high", "low"],
                             "urgency": {"high": ["P0", "P1"], "low": ["P2", "P3"]}}
    first = fire(client, "before-rules")  # the webhook caches "no rules" under the current version
    assert {p.channel for p in herald.store.get(first).pages} == {"sms"}

    r = client.put("/api/v1/people/alice/rules", json=VOICE_THEN_EMAIL, headers=API)
    assert r.status_code == 200, r.text
    assert r.json()["high"] == VOICE_THEN_EMAIL["high"] and r.json()["uses_policy_channels"] == ["low"]
    assert client.get("/api/v1/people/alice/rules", headers=API).json()["high"] == VOICE_THEN_EMAIL["high"]

    incident = herald.store.get(fire(client, "after-rules"))  # the version moved: the webhook reads them again
    start = incident.created_at
    assert sorted((p.person, p.channel, p.at - start) for p in incident.pages) == [
        ("alice", "email", timedelta(minutes=5)), ("alice", "voice", timedelta(0))]
    low = herald.store.get(fire(client, "low-urgency", "P3"))  # no low-urgency rules: the policy's channel
    assert {(p.person, p.channel) for p in low.pages} == {("alice", "email")}  # L1 has no P3 entry: P3 default


def test_empty_rules_remove_them_and_a_reassignment_follows_rules_too(client, herald):
    assert client.put("/api/v1/people/bob/rules", json={"high": [{"channel": "email", "delay_minutes": 2}]},
                      headers=API).status_code == 200
    incident_id = fire(client, "reassign")
    r = client.post(f"/api/v1/incidents/{incident_id}/reassign", json={"person": "bob"}, headers=API)
    assert r.status_code == 200, r.text
    bob = [p for p in herald.store.get(incident_id).pages if p.person == "bob"]
    assert [(p.channel, p.at - herald.store.get(incident_id).timeline[-1].at) for p in bob] == [
        ("email", timedelta(minutes=2))]
    assert client.put("/api/v1/people/bob/rules", json={"high": [], "low": []}, headers=API).status_code == 200
    assert herald.store.redis.hget(keys.PEOPLE_RULES, "bob") is None
    assert client.get("/api/v1/people/bob/rules", headers=API).json()["uses_policy_channels"] == ["high", "low"]


@pytest.mark.parametrize("body, named", [
    ({"high": [{"channel": "voice"}, {"channel": "voice", "delay_minutes": 5}]}, "high"),
    ({"high": [{"channel": "pigeon"}]}, "field 'high[0].channel' in the body: input should be 'voice', 'sms' or 'email'"),
    ({"low": [{"channel": "sms", "delay_minutes": -5}]}, "field 'low[0].delay_minutes' in the body: input should be greater than or equal to 0"),
    ({"urgent": []}, "urgent"),
])
def test_a_wrong_body_is_refused_naming_the_field_and_nothing_is_written(client, herald, body, named):
    assert client.put("/api/v1/people/alice/rules", json=VOICE_THEN_EMAIL, headers=API).status_code == 200
    version = herald.store.redis.get(keys.PEOPLE_VERSION)
    r = client.put("/api/v1/people/alice/rules", json=body, headers=API)
    assert r.status_code == 422, r.text
    assert named in r.json()["detail"], r.text
    assert herald.store.redis.get(keys.PEOPLE_VERSION) == version
    assert client.get("/api/v1/people/alice/rules", headers=API).json()["high"] == VOICE_THEN_EMAIL["high"]


def test_who_may_read_and_change_rules(client, herald):
    assert client.get("/api/v1/people/alice/rules").status_code == 401
    read_only = {"Authorization": "Bearer a-read-only-token-of-16+"}
    r = client.put("/api/v1/people/alice/rules", json=VOICE_THEN_EMAIL, headers=read_only)
    assert r.status_code == 403 and "write scope" in r.json()["detail"]
    assert herald.store.redis.hget(keys.PEOPLE_RULES, "alice") is None
    r = client.put("/api/v1/people/zed/rules", json=VOICE_THEN_EMAIL, headers=API)
    assert r.status_code == 404 and r.json()["detail"] == "id: no person 'zed'"
    assert herald.store.redis.hlen(keys.PEOPLE_RULES) == 0


def test_the_dry_run_and_herald_simulate_show_the_stored_rules(client, herald):
    from datetime import datetime, timezone

    from service.api.dry_run import render, simulate
    from routing.alertmanager import WebhookPayload

    assert client.put("/api/v1/people/alice/rules", json=VOICE_THEN_EMAIL, headers=API).status_code == 200
    at = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(hours=1)
    r = client.post("/api/v1/simulate", params={"at": at.strftime("%Y-%m-%dT%H:%M:%SZ")},
                    content=json.dumps(fixture_payload("firing.json")), headers=API)
    assert r.status_code == 200, r.text
    first = [(s["tier"], s["people"], s["channels"], s["personal"]) for s in r.json()["plans"][0]["steps"][:3]]
    assert first == [("L1", ["alice"], ["voice"], ["alice"]), ("L1", ["alice"], ["email"], ["alice"]),
                     ("L2", ["bob"], ["sms"], [])]
    text = render(simulate(herald, WebhookPayload.model_validate(fixture_payload("firing.json")), at))
    assert "L1 -> alice via email (personal rules: alice)" in text
    assert "L2 -> bob via sms\n" in text + "\n" and "bob via sms (personal" not in text
