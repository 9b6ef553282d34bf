"""One error root, mapped to HTTP once (service/api/errors.py): NotFound 404, Invalid 400,
Conflict 409, Unavailable 503 — and the case that used to answer 500: an action on an
incident whose policy was removed from the configuration."""
from __future__ import annotations

import dataclasses
import json

import pytest
import redis
from fastapi import FastAPI
from fastapi.testclient import TestClient

from routing.errors import Conflict, HeraldError, Invalid, NotFound, Unavailable
from routing.matchers import MatcherError
from schedules.calendar import CalendarError
from service.api import errors
from tests.herald_env import AM_TOKEN, API_TOKEN, fixture_payload

API = {"Authorization": f"Bearer {API_TOKEN}"}


def open_one(client) -> dict:
    r = client.post("/api/v1/alertmanager", content=json.dumps(fixture_payload("firing.json")),
                    headers={"Authorization": f"Bearer {AM_TOKEN}"})
    assert r.status_code == 200, r.text
    incident_id = r.json()["incidents"][0]["id"]
    return client.get(f"/api/v1/incidents/{incident_id}", headers=API).json()


def without_policy(herald, name: str) -> None:
    """The configuration in force no longer has policy ``name`` (as after an edit and a restart)."""
    policies = {k: v for k, v in herald.config.policies.items() if k != name}
    herald.config = dataclasses.replace(herald.config, policies=policies)


# -- the case from issue 17 ---------------------------------------------------------------------

@pytest.mark.parametrize("action", ["ack", "resolve", "escalate"])
def test_an_action_on_an_incident_whose_policy_was_removed_is_a_409_that_changes_nothing(client, herald, action):
    opened = open_one(client)
    incident_id, policy = opened["id"], opened["policy"]
    before = herald.store.get(incident_id)
    without_policy(herald, policy)
    r = client.post(f"/api/v1/incidents/{incident_id}/{action}", json={}, headers=API)
    assert r.status_code == 409, r.text
    assert r.json() == {"detail": f"incident {incident_id}: its policy {policy!r} is no longer in the "
                                  "configuration; put the policy back to act on this incident"}
    after = herald.store.get(incident_id)
    assert after.version == before.version and after.status == before.status
    assert after.timeline == before.timeline
    assert client.get(f"/api/v1/incidents/{incident_id}", headers=API).status_code == 200  # still readable


def test_the_same_action_works_again_once_the_policy_is_back(client, herald):
    opened = open_one(client)
    config = herald.config
    without_policy(herald, opened["policy"])
    assert client.post(f"/api/v1/incidents/{opened['id']}/ack", json={}, headers=API).status_code == 409
    herald.config = config
    r = client.post(f"/api/v1/incidents/{opened['id']}/ack", json={}, headers=API)
    assert r.status_code == 200 and r.json()["status"] == "acknowledged", r.text


# -- each kind's HTTP mapping ------------------------------------------------------------------

def _app() -> FastAPI:
    app = FastAPI()
    errors.install(app)
    raised = {
        "not-found": NotFound("no incident '42'", field="incident"),
        "invalid": Invalid("to: must be after from", field="to"),
        "conflict": Conflict("schedule 'primary' takes its calendar from its file"),
        "unavailable": Unavailable("the calendar URL did not answer"),
        "matcher": MatcherError("unknown operator '~'; use one of =, !=, =~, !~"),
        "calendar": CalendarError("expected a VCALENDAR, found VEVENT"),
        "root": HeraldError("a Herald error of no kind"),
        "redis": redis.ConnectionError("Error 111 connecting to 127.0.0.1:1"),
        "value": ValueError("a bare ValueError is a bug, not an input"),
    }
    for path, exc in raised.items():
        app.add_api_route(f"/{path}", (lambda e: lambda: (_ for _ in ()).throw(e))(exc))
    return app


@pytest.fixture(scope="module")
def mapped():
    with TestClient(_app(), raise_server_exceptions=False) as c:
        yield c


@pytest.mark.parametrize("path, status, detail", [
    ("not-found", 404, "no incident '42'"),
    ("invalid", 400, "to: must be after from"),
    ("conflict", 409, "schedule 'primary' takes its calendar from its file"),
    ("unavailable", 503, "the calendar URL did not answer"),
])
def test_each_kind_answers_its_status_with_its_message_as_detail(mapped, path, status, detail):
    r = mapped.get(f"/{path}")
    assert (r.status_code, r.json()) == (status, {"detail": detail})


def test_unavailable_says_when_to_try_again_and_redis_down_is_unavailable(mapped):
    assert mapped.get("/unavailable").headers["retry-after"] == str(errors.RETRY_AFTER_SECONDS)
    r = mapped.get("/redis")
    assert (r.status_code, r.json()) == (503, {"detail": "storage unavailable, try again"})
    assert r.headers["retry-after"] == str(errors.RETRY_AFTER_SECONDS)
    assert "retry-after" not in mapped.get("/conflict").headers


def test_the_existing_error_classes_answer_as_their_kind(mapped):
    assert mapped.get("/matcher").status_code == 400 and mapped.get("/calendar").status_code == 400
    assert issubclass(MatcherError, ValueError) and issubclass(CalendarError, ValueError)  # old catches still work


def test_an_error_of_no_kind_and_a_bare_builtin_stay_500s(mapped):
    assert mapped.get("/root").status_code == 500  # a HeraldError must have a kind: a bug otherwise
    assert mapped.get("/value").status_code == 500  # a builtin is never taken for a client's mistake


def test_a_class_of_two_kinds_answers_as_the_one_it_names_first():
    from service.cli.fire import FireError, NoAnswer

    assert errors.status_of(FireError("--url 'x': give Herald's base URL")) == 400
    assert errors.status_of(NoAnswer("no answer from Herald at http://127.0.0.1:1")) == 503
    assert isinstance(NoAnswer("x"), FireError)  # `herald fire` still catches one class


def test_every_existing_error_class_has_a_kind():
    from integrations.calendar_sandbox import ParseTimeout
    from integrations.calendar_sources import SourceError
    from integrations.calendar_sync import UploadRefused
    from service.cli.fire import FireError
    from integrations.config.model import ConfigError

    kinds = {MatcherError: Invalid, CalendarError: Invalid, ParseTimeout: Invalid, ConfigError: Invalid,
             FireError: Invalid, SourceError: Unavailable, UploadRefused: Conflict}
    for cls, kind in kinds.items():
        assert issubclass(cls, kind), cls


# -- through the real routes ------------------------------------------------------------------

def test_an_unknown_tier_from_decide_is_invalid_and_a_missing_incident_not_found(client):
    incident = open_one(client)
    r = client.get("/api/v1/reports/sla", params={"from": "yesterday"}, headers=API)
    assert r.status_code == 400 and r.json()["detail"].startswith("from: not an ISO 8601 time"), r.text
    r = client.post("/api/v1/incidents/nope/ack", json={}, headers=API)
    assert (r.status_code, r.json()) == (404, {"detail": "no incident 'nope'"})
    assert client.get(f"/api/v1/incidents/{incident['id']}", headers=API).status_code == 200
