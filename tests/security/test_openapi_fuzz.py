"""schemathesis against Herald's own OpenAPI schema: every operation, generated inputs
(valid and not), with an admin token, with a read token and with none — against the ASGI
app on a real Redis that holds an incident and a handoff whose notes name people's phone
numbers and addresses. No answer may be a 5xx, and every answer must match the schema it
documents; an answer to the read token never carries a phone number or an email address
of a configured person, and a read token changes nothing (no 2xx to anything but a
read). Bounded (a fixed seed, ``MAX_EXAMPLES`` per operation and mode, each sent three
times) to stay within seconds: every operation is still generated for, valid and
invalid, authenticated and not."""
from __future__ import annotations

import json

import pytest
import redis
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from service.app import create_app
from service.engine.runtime import Herald
from service.settings import Settings
from tests.herald_env import AM_TOKEN, API_TOKEN, env_for, fixture_payload, write_config

MAX_EXAMPLES = 8
READ_TOKEN = "fuzz-read-token-0123456789abcdef"
#: Every configured person's phone number (with and without its plus) and email address.
CONTACTS = ("+15550100001", "15550100001", "alice@example.com", "+15550100002", "15550100002", "bob@example.com",
            "+15550100004", "15550100004", "erin@example.com", "+15550100005", "15550100005", "dave@example.com")
READS = ("GET", "HEAD", "OPTIONS")


def _seed(app) -> None:
    """An incident and a handoff whose notes name everyone's contacts: what a read token
    must never be shown, wherever the fuzzer looks."""
    admin = {"Authorization": f"Bearer {API_TOKEN}"}
    note = "reach " + ", ".join(c for c in CONTACTS if not c[0].isdigit())
    client = TestClient(app)
    payload = fixture_payload("firing.json")
    opened = client.post("/api/v1/alertmanager", content=json.dumps(payload),
                         headers={"Authorization": f"Bearer {AM_TOKEN}"})
    assert opened.status_code == 200, opened.text
    incident = opened.json()["incidents"][0]["id"]
    assert client.post(f"/api/v1/incidents/{incident}/notes", json={"text": note}, headers=admin).status_code == 200
    handoff = client.post("/api/v1/handoffs", json={"schedule": "primary", "tier": "L1", "to": "erin", "note": note},
                          headers=admin)
    assert handoff.status_code == 201, handoff.text


def read_scope_hides_contacts_and_changes_nothing(ctx, response, case) -> None:
    """A check for the answers to the read token."""
    if not 200 <= response.status_code < 300:
        return
    assert case.method.upper() in READS, f"{case.method} {case.path} answered {response.status_code} to a read token"
    body = response.content.decode("utf-8", "replace")
    shown = [c for c in CONTACTS if c.lower() in body.lower()]
    assert not shown, f"{case.method} {case.path} shows {shown} to a read token"


@pytest.fixture(scope="module")
def herald_schema(tmp_path_factory, redis_server):
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    env = env_for(write_config(tmp_path_factory.mktemp("fuzz") / "conf"), redis_server.url, "https://herald.test")
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        patch.setenv("HERALD_API_TOKENS", f"dashboard:read:{READ_TOKEN}")
        app_settings = Settings()
    herald = Herald.from_settings(app_settings)
    app = create_app(app_settings, herald)
    _seed(app)
    yield schemathesis.openapi.from_asgi("/openapi.json", app)
    close = getattr(herald.calendars, "close", None)
    if close is not None:
        close()


@pytest.mark.slow
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
def test_no_server_errors_and_answers_match_the_schema(herald_schema, mode):
    operations = [result.ok() for result in herald_schema.get_all_operations()]
    assert len(operations) >= 30
    for operation in operations:
        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def fuzz(case) -> None:
            checks = [not_a_server_error, response_schema_conformance]
            for headers in ({"Authorization": f"Bearer {API_TOKEN}"}, {}):
                case.call_and_validate(headers=headers, checks=checks)
            case.call_and_validate(headers={"Authorization": f"Bearer {READ_TOKEN}"},
                                   checks=[*checks, read_scope_hides_contacts_and_changes_nothing])

        try:
            fuzz()
        except Unsatisfiable:  # nothing to make invalid: no parameters, no body
            assert mode is GenerationMode.NEGATIVE, operation.label
