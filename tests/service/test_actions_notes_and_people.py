"""Acting on an incident through the API: ``ack`` and ``resolve`` keep a ``note``, and any
action names the person it was done for (``as``) next to the token that did it."""
from __future__ import annotations

import json

import pytest

from tests.herald_env import AM_TOKEN, API_TOKEN, fixture_payload

API = {"Authorization": f"Bearer {API_TOKEN}"}  # HERALD_API_TOKEN: its name is "api"


def open_one(client) -> str:
    r = client.post("/api/v1/alertmanager", content=json.dumps(fixture_payload("firing.json")),
                    headers={"Authorization": f"Bearer {AM_TOKEN}"})
    assert r.status_code == 200, r.text
    return r.json()["incidents"][0]["id"]


def act(client, incident_id: str, action: str, body: dict | None = None) -> dict:
    r = client.post(f"/api/v1/incidents/{incident_id}/{action}", json=body, headers=API)
    assert r.status_code == 200, r.text
    return r.json()


def test_resolve_keeps_its_note(client):
    incident_id = open_one(client)
    body = act(client, incident_id, "resolve", {"note": "freed 40 GB on db1; ticket OPS-12"})
    assert body["status"] == "resolved"
    assert body["timeline"][-1] == {**body["timeline"][-1], "kind": "resolved",
                                    "details": {"by": "api", "via": "api", "note": "freed 40 GB on db1; ticket OPS-12"}}


def test_acknowledge_keeps_its_note_and_a_bare_call_still_works(client):
    incident_id = open_one(client)
    body = act(client, incident_id, "ack", {"note": "looking"})
    assert body["timeline"][-1]["details"] == {"by": "api", "via": "api", "note": "looking"}
    again = act(client, incident_id, "ack")  # no body at all: twice is harmless
    assert again["version"] == body["version"]
    assert act(client, incident_id, "resolve", {})["timeline"][-1]["details"] == {"by": "api", "via": "api"}


@pytest.mark.parametrize("action, body, message", [
    ("resolve", {"note": "x" * 2001}, "field 'note' in the body: string should have at most 2000 characters, got 'xxx"),
    ("ack", {"nte": "typo"}, "field 'nte' in the body is not a field this route takes"),
    ("resolve", {"note": 5}, "field 'note' in the body: input should be a valid string, got 5"),
])
def test_a_bad_note_is_refused_and_changes_nothing(client, herald, action, body, message):
    incident_id = open_one(client)
    before = herald.store.get(incident_id).version
    r = client.post(f"/api/v1/incidents/{incident_id}/{action}", json=body, headers=API)
    assert r.status_code == 422 and r.json()["detail"].startswith(message), r.text
    assert herald.store.get(incident_id).version == before


def test_an_action_done_for_a_person_records_them_and_the_token(client, herald):
    incident_id = open_one(client)
    body = act(client, incident_id, "ack", {"as": "alice"})
    assert body["acknowledged_by"] == "alice"
    assert body["timeline"][-1]["details"] == {"by": "alice", "via": "api", "token": "api"}
    for action, extra, kind in [("notes", {"text": "on it"}, "note"), ("escalate", {}, "escalate_requested"),
                                ("reassign", {"person": "erin"}, "reassigned"), ("snooze", {"minutes": 15}, "snoozed"),
                                ("resolve", {"note": "done"}, "resolved")]:
        body = act(client, incident_id, action, {"as": "bob", **extra})
        entry = next(e for e in reversed(body["timeline"]) if e["kind"] == kind)
        assert entry["details"]["by"] == "bob" and entry["details"]["token"] == "api", (action, entry)
    assert body["resolved_by"] == "bob" and body["timeline"][-1]["details"]["note"] == "done"


def test_without_as_the_token_is_who_acted(client):
    incident_id = open_one(client)
    body = act(client, incident_id, "escalate", {})
    assert next(e for e in body["timeline"] if e["kind"] == "escalate_requested")["details"] == {"by": "api", "via": "api"}


@pytest.mark.parametrize("action, extra", [("ack", {}), ("resolve", {"note": "x"}), ("escalate", {}),
                                           ("reassign", {"tier": "L2"}), ("snooze", {"minutes": 5}),
                                           ("notes", {"text": "x"})])
def test_a_person_not_in_the_config_is_refused_and_changes_nothing(client, herald, action, extra):
    incident_id = open_one(client)
    before = herald.store.get(incident_id).version
    r = client.post(f"/api/v1/incidents/{incident_id}/{action}", json={"as": "mallory", **extra}, headers=API)
    assert r.status_code == 422, r.text
    assert r.json() == {"detail": "field 'as' in the body: no person with id 'mallory' in the configuration"}
    assert herald.store.get(incident_id).version == before


def test_reassign_to_a_tier_the_policy_lacks_names_the_field(client, herald):
    incident_id = open_one(client)
    before = herald.store.get(incident_id).version
    r = client.post(f"/api/v1/incidents/{incident_id}/reassign", json={"tier": "nope"}, headers=API)
    assert r.status_code == 400
    assert r.json()["detail"] == ("tier: policy 'default' has no tier 'nope' "
                                  "(its tiers: L1, L2, engineering, executive)")
    assert herald.store.get(incident_id).version == before
    r = client.post("/api/v1/incidents/999/reassign", json={"tier": "nope"}, headers=API)
    assert r.status_code == 404 and r.json()["detail"] == "no incident '999'"
