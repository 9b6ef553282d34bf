"""One error shape: every 4xx is ``{"detail": "<one readable sentence>"}`` naming the field
— the framework's own answers (a body that does not fit the model, malformed JSON, a URL
no route serves) as much as the routes' — and bad input changes nothing."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from fastapi import FastAPI, HTTPException
from fastapi.testclient import TestClient

from service.api import errors
from tests.herald_env import AM_TOKEN, API_TOKEN, fixture_payload

API = {"Authorization": f"Bearer {API_TOKEN}"}
JSON = {**API, "Content-Type": "application/json"}


def open_one(client) -> str:
    r = client.post("/api/v1/alertmanager", content=json.dumps(fixture_payload("firing.json")),
                    headers={"Authorization": f"Bearer {AM_TOKEN}"})
    assert r.status_code == 200, r.text
    return r.json()["incidents"][0]["id"]


def detail(r, status: int) -> str:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"detail"} and isinstance(body["detail"], str), body
    return body["detail"]


def test_malformed_json_names_the_problem_and_where(client):
    r = client.post("/api/v1/handoffs", content=b'{"schedule": "backup" "tier": "L2"}', headers=JSON)
    assert detail(r, 422) == "the body is not valid JSON: Expecting ',' delimiter at line 1 column 23"
    two_lines = client.post("/api/v1/handoffs", content=b'{"schedule": "backup",\n  "tier": }', headers=JSON)
    assert detail(two_lines, 422) == "the body is not valid JSON: Expecting value at line 2 column 11"
    assert client.get("/api/v1/handoffs", headers=API).json()["handoffs"] == []


def test_a_field_of_the_wrong_type_is_named_with_what_was_sent(client):
    r = client.post("/api/v1/handoffs", json={"schedule": "backup", "tier": "L2", "to": "erin", "end": "tomorrow"},
                    headers=API)
    text = detail(r, 422)
    assert text.startswith("field 'end' in the body: input should be a valid datetime"), text
    assert text.endswith(", got 'tomorrow'"), text


def test_several_problems_make_one_sentence(client):
    r = client.post("/api/v1/handoffs", json={"tier": "L2", "to": "erin", "surprise": 1}, headers=API)
    assert detail(r, 422) == ("field 'schedule' in the body is required; "
                              "field 'surprise' in the body is not a field this route takes")


def test_a_model_rule_and_a_query_parameter_are_sentences_too(client):
    incident_id = open_one(client)
    r = client.post(f"/api/v1/incidents/{incident_id}/reassign", json={"person": "erin", "tier": "L2"}, headers=API)
    assert detail(r, 422) == "the body: give exactly one of person or tier"
    r = client.get("/api/v1/incidents?limit=0&status=bogus", headers=API)
    assert detail(r, 422) == ("query parameter 'status': input should be 'open' or 'all', got 'bogus'; "
                              "query parameter 'limit': input should be greater than or equal to 1, got '0'")


def test_a_missing_or_non_object_body_is_said_so(client):
    incident_id = open_one(client)
    assert detail(client.post(f"/api/v1/incidents/{incident_id}/snooze", headers=API), 422) == \
        "the body is missing: send a JSON object"
    assert detail(client.post(f"/api/v1/incidents/{incident_id}/snooze", json=[15], headers=API), 422) == \
        "the body must be a JSON object (Content-Type: application/json)"


def test_a_huge_value_is_not_echoed_back(client):
    incident_id = open_one(client)
    before = client.get(f"/api/v1/incidents/{incident_id}", headers=API).json()["version"]
    r = client.post(f"/api/v1/incidents/{incident_id}/notes", json={"text": "x" * 100_000}, headers=API)
    text = detail(r, 422)
    assert text.startswith("field 'text' in the body: string should have at most 2000 characters, got 'xxx")
    assert len(text) < 200 and text.endswith("…'")
    assert client.get(f"/api/v1/incidents/{incident_id}", headers=API).json()["version"] == before


def test_many_problems_are_counted_not_listed(client):
    r = client.post("/api/v1/maintenance", headers=API,
                    json={"matchers": [1] * 50, "end": (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat(),
                          "reason": "x"})
    text = detail(r, 422)
    assert text.count("field 'matchers[") == 10 and text.endswith("; and 40 more problems"), text
    assert client.get("/api/v1/maintenance", headers=API).json()["windows"] == []


def test_a_value_a_route_checks_itself_is_named_too(client):
    r = client.post("/api/v1/maintenance", headers=API,
                    json={"matchers": ["nonsense"], "end": (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat(),
                          "reason": "x"})
    assert detail(r, 400).startswith("field 'matchers' in the body: cannot parse matcher 'nonsense'")
    assert client.get("/api/v1/maintenance", headers=API).json()["windows"] == []


def test_urls_and_methods_no_route_serves(client):
    assert detail(client.get("/api/v1/nothing-here", headers=API), 404) == \
        "there is no GET /api/v1/nothing-here (the API reference is at /docs)"
    assert detail(client.get("/nothing-here"), 404) == "there is no GET /nothing-here"
    r = client.delete("/api/v1/incidents", headers=API)
    assert detail(r, 405) == "DELETE is not allowed on /api/v1/incidents; use GET"
    assert r.headers["allow"] == "GET"


def test_a_detail_that_is_not_a_string_becomes_one():
    app = FastAPI()
    errors.install(app)

    @app.get("/listed")
    def listed() -> None:
        raise HTTPException(400, [{"type": "missing", "loc": ("query", "at"), "msg": "Field required"}])

    @app.get("/mapped")
    def mapped() -> None:
        raise HTTPException(409, {"tier": "taken by another handoff"})

    with TestClient(app) as c:
        assert detail(c.get("/listed"), 400) == "query parameter 'at' is required"
        assert detail(c.get("/mapped"), 409) == "tier: taken by another handoff"


def test_the_route_level_errors_stay_as_they_were(client):
    assert detail(client.get("/api/v1/incidents/999", headers=API), 404) == "no incident '999'"
    assert detail(client.get("/api/v1/incidents"), 401).startswith("an API token is required")


def test_the_openapi_document_says_what_a_422_looks_like(client):
    schema = client.get("/openapi.json").json()
    error = schema["components"]["schemas"]["HTTPValidationError"]
    assert error["properties"]["detail"]["type"] == "string" and error["required"] == ["detail"]
