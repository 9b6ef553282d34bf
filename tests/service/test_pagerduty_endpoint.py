"""PagerDuty's Events API v2 served by Herald, driven by PagerDuty's own Python client
(the ``pagerduty`` package's ``EventsApiV2Client``, its ``base_url`` pointed at Herald)
against the app under uvicorn on 127.0.0.1 with a real Redis: what a tool that speaks
PagerDuty sees when its URL and key are changed to Herald's."""
from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime, timezone

import httpx
import pagerduty
import pytest

from integrations.config.model import key_digest
from routing.incident import Resolve
from service.app import create_app
from service.settings import Settings
from tests.herald_env import API_TOKEN, env_for, write_config
from tests.tls import Tls, make_certificate, served_tls

KEY = "0123456789abcdef0123456789abcdef"  # PagerDuty's shape: 32 characters
SLOW_KEY = "fedcba9876543210fedcba9876543210"
GENIE_KEY = "opsgenie-key-0123456789abcdef"
ADMIN = {"Authorization": f"Bearer {API_TOKEN}"}
INTEGRATIONS = f"""
integrations:
  - name: billing
    kind: pagerduty
    key_sha256: {key_digest(KEY)}
  - name: slow
    kind: pagerduty
    key_sha256: {key_digest(SLOW_KEY)}
    rate_per_minute: 2
  - name: genie
    kind: opsgenie
    key_sha256: {key_digest(GENIE_KEY)}
"""


@pytest.fixture
def settings(tmp_path, redis_url, monkeypatch) -> Settings:
    config = write_config(tmp_path / "conf", extra=INTEGRATIONS)
    for key, value in env_for(config, redis_url, "https://herald.test").items():
        monkeypatch.setenv(key, value)
    return Settings()


@pytest.fixture(scope="module")
def tls(tmp_path_factory) -> Tls:
    return make_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def url(settings, herald, tls) -> Iterator[str]:
    global TRUST
    TRUST = tls.context()
    with served_tls(create_app(settings, herald), tls) as base:
        yield base


TRUST = None  # the client context that trusts the test's certificate (set by ``url``)


def post(url: str, path: str, **kw) -> httpx.Response:
    return httpx.post(url + path, verify=TRUST, **kw)


@pytest.fixture
def client(url) -> Iterator:
    """Make PagerDuty clients of Herald (``client(key)``); each is closed after the test."""
    made: list[pagerduty.EventsApiV2Client] = []

    def make(key: str = KEY) -> pagerduty.EventsApiV2Client:
        events = pagerduty.EventsApiV2Client(key, base_url=url, verify=TRUST)
        events.sleep_timer = 0.01  # its back-off between retries: a test need not wait
        made.append(events)
        return events

    yield make
    for events in made:
        events.close()


def refusal(call) -> httpx.Response:
    """The HTTP answer of a call the client raised on."""
    with pytest.raises(pagerduty.HttpError) as caught:
        call()
    return caught.value.response


def open_incidents(herald):
    return [i for i in herald.store.list(open_only=True) if i.receiver == "pagerduty:billing"]


def now() -> str:
    return datetime.now(timezone.utc).isoformat()


def pages(incident):
    return [(p.person, p.channel) for p in incident.pages]


# -- the alert lifecycle ---------------------------------------------------------------------

def test_trigger_opens_an_incident_that_pages_and_a_repeat_is_the_same_incident(url, client, herald):
    events = client()
    key = events.trigger("Disk full on db1", "db1.example.com", dedup_key="disk/db1", severity="critical",
                         custom_details={"free": "1%", "load": 0.75},
                         links=[{"href": "https://grafana.example/d/1", "text": "Dashboard"}])
    assert key == "disk/db1"
    [incident] = open_incidents(herald)
    assert (incident.group_key, incident.severity, incident.title) == ("disk/db1", "P1", "Disk full on db1")
    alert = next(iter(incident.alerts.values()))
    assert alert.labels["source"] == "db1.example.com" and alert.labels["severity"] == "critical"
    assert alert.annotations["free"] == "1%" and alert.annotations["load"] == "0.75"
    assert json.loads(alert.annotations["links"]) == [{"href": "https://grafana.example/d/1", "text": "Dashboard"}]
    assert pages(incident) == [("alice", "sms")]

    assert events.trigger("Disk full on db1", "db1.example.com", dedup_key="disk/db1") == "disk/db1"
    [same] = open_incidents(herald)
    assert same.id == incident.id and pages(same) == [("alice", "sms")]  # no new page


def test_a_trigger_without_a_dedup_key_gets_one_and_each_opens_its_own_incident(url, client, herald):
    events = client()
    first = events.trigger("CPU high", "web1", severity="warning")
    second = events.trigger("CPU high", "web1", severity="info")
    assert first != second and len(first) == 32  # PagerDuty's own shape of a generated key
    by_key = {i.group_key: i for i in open_incidents(herald)}
    assert (by_key[first].severity, by_key[second].severity) == ("P2", "P3")
    events.resolve(first)  # the key answered is the one that names the incident
    assert [i.group_key for i in open_incidents(herald)] == [second]


def test_acknowledge_then_a_trigger_pages_nobody_then_resolve(url, client, herald):
    events = client()
    events.trigger("Disk full", "db1", dedup_key="disk/db1", severity="error")
    [incident] = open_incidents(herald)
    assert events.acknowledge("disk/db1") == "disk/db1"
    acked = herald.store.get(incident.id)
    assert (acked.status, acked.acknowledged_by, acked.timeline[-1].details["via"]) == (
        "acknowledged", "billing", "pagerduty")

    events.trigger("Disk full", "db1", dedup_key="disk/db1", severity="error")  # while acknowledged
    still = herald.store.get(incident.id)
    assert still.status == "acknowledged" and pages(still) == pages(incident)  # nobody paged again

    assert events.resolve("disk/db1") == "disk/db1"
    assert herald.store.get(incident.id).status == "resolved" and open_incidents(herald) == []
    events.trigger("Disk full", "db1", dedup_key="disk/db1", severity="error")  # the same trigger again
    [again] = open_incidents(herald)
    assert again.id != incident.id and pages(again) == [("alice", "sms")]  # a new incident, paged


def test_the_same_trigger_after_someone_resolved_in_herald_opens_a_new_incident(url, client, herald):
    events = client()
    events.trigger("Disk full", "db1", dedup_key="disk/db1")
    [incident] = open_incidents(herald)
    herald.act(incident.id, Resolve(by="alice", via="web"))
    events.trigger("Disk full", "db1", dedup_key="disk/db1")  # byte for byte the trigger that opened it
    [again] = open_incidents(herald)
    assert again.id != incident.id and again.status == "triggered"


def test_a_repeat_that_says_something_new_updates_the_open_incident(url, client, herald):
    events = client()
    events.trigger("Disk 95% full", "db1", dedup_key="disk/db1", custom_details={"free": "5%"})
    [incident] = open_incidents(herald)
    events.trigger("Disk 99% full", "db1", dedup_key="disk/db1", custom_details={"free": "1%"})
    [same] = open_incidents(herald)
    alert = next(iter(same.alerts.values()))
    assert same.id == incident.id and same.version > incident.version and alert.annotations["free"] == "1%"
    assert pages(same) == pages(incident)  # updated, nobody paged again
    events.trigger("Disk 99% full", "db1", dedup_key="disk/db1", custom_details={"free": "1%"})
    assert herald.store.get(incident.id).version == same.version  # a true repeat writes nothing


def test_acknowledge_and_resolve_of_an_unknown_key_are_accepted_and_ignored(url, client, herald):
    events = client()
    assert events.acknowledge("never-seen") == "never-seen"
    assert events.resolve("never-seen") == "never-seen"
    assert herald.store.list(limit=10) == []  # no record of any kind


# -- refusals, in PagerDuty's words ----------------------------------------------------------

@pytest.mark.parametrize("key", ["not-a-key-of-herald-0123456789ab", GENIE_KEY])
def test_an_unknown_key_or_a_key_of_another_kind_is_an_invalid_routing_key(url, client, herald, key):
    answer = refusal(lambda: client(key).trigger("x", "h", dedup_key="k"))
    assert answer.status_code == 400
    assert answer.json() == {"status": "invalid event", "message": "Event object is invalid",
                             "errors": ["Invalid routing key"]}
    assert herald.store.list(limit=10) == []


@pytest.mark.parametrize("path", ["/v2/enqueue", "/v2/change/enqueue"])
def test_a_bearer_token_is_no_routing_key(url, herald, path):
    event = {"event_action": "trigger", "payload": {"summary": "x", "source": "h", "severity": "info"}}
    answer = post(url, path, json=event, headers=ADMIN)  # Herald's admin token, no integration key
    assert answer.status_code == 400 and answer.json()["errors"] == ["'routing_key' is missing or blank"]
    answer = post(url, path, json={**event, "routing_key": API_TOKEN})
    assert answer.status_code == 400 and answer.json()["errors"] == ["Invalid routing key"]
    assert herald.store.list(limit=10) == []


def test_an_invalid_event_lists_every_problem_and_writes_nothing(url, client, herald):
    answer = post(url, "/v2/enqueue", json={"routing_key": KEY, "event_action": "trigger",
                                                   "payload": {"summary": "x" * 1025, "severity": "fatal"}})
    assert answer.status_code == 400
    body = answer.json()
    assert (body["status"], body["message"]) == ("invalid event", "Event object is invalid")
    assert body["errors"] == ["Length of 'payload.summary' is incorrect (should be at most 1024 characters)",
                              "'payload.source' is missing or blank",
                              "'payload.severity' is invalid (must be one of: critical, error, warning, info)"]
    assert herald.store.list(limit=10) == []


def test_a_body_that_is_not_json_is_an_unrecognized_object(url):
    answer = post(url, "/v2/enqueue", content=b"{not json", headers={"Content-Type": "application/json"})
    assert answer.status_code == 400 and answer.json() == {
        "status": "Unrecognized object", "message": "Event object format is unrecognized",
        "errors": ["JSON parse error"]}


def test_a_body_over_512_kb_is_refused_with_413(url, client, herald):
    event = {"routing_key": KEY, "event_action": "trigger",
             "payload": {"summary": "big", "source": "h", "severity": "info",
                         "custom_details": {"blob": "x" * (512 * 1024)}}}
    answer = post(url, "/v2/enqueue", json=event)
    assert answer.status_code == 413 and answer.json()["status"] == "invalid event"
    assert "512 KB" in answer.json()["errors"][0] and herald.store.list(limit=10) == []
    event["payload"]["custom_details"]["blob"] = "x" * (500 * 1024)  # just under: accepted
    assert post(url, "/v2/enqueue", json=event).status_code == 202


def test_an_integration_over_its_rate_is_answered_429_with_retry_after(url, client, herald):
    events = client(SLOW_KEY)
    events.retry[429] = 1  # the client retries a 429 forever by default; once is enough here
    for _attempt in range(2):  # a minute that turned during the calls counts afresh: try again
        minute = int(time.time() // 60)
        accepted = [events.trigger(f"event {i}", "h", dedup_key=f"k{i}") for i in range(2)]
        answer = refusal(lambda: events.trigger("one too many", "h", dedup_key="k2"))
        if int(time.time() // 60) == minute:
            break
    assert accepted == ["k0", "k1"] and answer.status_code == 429
    assert 1 <= int(answer.headers["Retry-After"]) <= 60 and "rate of 2 events a minute" in answer.json()["errors"][0]
    assert client().trigger("another integration", "h", dedup_key="k3") == "k3"  # each counts its own


# -- change events ---------------------------------------------------------------------------

def test_a_change_event_is_a_note_on_the_integrations_open_incidents(url, client, herald):
    events = client()
    events.trigger("Disk full", "db1", dedup_key="disk/db1")
    events.trigger("CPU high", "web1", dedup_key="cpu/web1")
    events.resolve("cpu/web1")
    events.submit("Deployed v2.3.1", source="ci", custom_details={"build": 42},
                  links=[{"href": "https://ci.example/42", "text": "Build"}],
                  timestamp=now())  # 7.2's default timestamp raises AttributeError
    [incident] = open_incidents(herald)
    note = incident.timeline[-1]
    assert (note.kind, note.details["by"], note.details["via"]) == ("note", "billing", "pagerduty")
    assert note.details["text"].splitlines() == ["Change: Deployed v2.3.1", "source: ci", "build: 42",
                                                 "Build: https://ci.example/42"]
    assert incident.status == "triggered" and pages(incident) == [("alice", "sms")]  # nothing else changed
    closed = next(i for i in herald.store.list() if i.group_key == "cpu/web1")
    assert all(entry.kind != "note" for entry in closed.timeline)  # a closed incident is left alone


def test_a_change_event_with_no_open_incident_is_accepted_and_writes_nothing(url, client, herald):
    client().submit("Deployed", source="ci", timestamp=now())
    assert herald.store.list(limit=10) == []


def test_a_change_event_without_a_summary_is_invalid(url):
    answer = post(url, "/v2/change/enqueue", json={"routing_key": KEY, "payload": {"source": "ci"}})
    assert answer.status_code == 400 and answer.json()["errors"] == ["'payload.summary' is missing or blank"]


# -- keys made with the API, keys revoked ----------------------------------------------------

def test_a_key_made_with_the_api_works_like_the_files(url, client, herald):
    made = post(url, "/api/v1/integrations/billing/keys", headers=ADMIN)
    assert made.status_code == 201
    events = client(made.json()["key"])
    assert events.trigger("Disk full", "db1", dedup_key="disk/db1") == "disk/db1"
    events.trigger("Disk full", "db1", dedup_key="disk/db1")
    [incident] = open_incidents(herald)
    assert incident.version == 1 and pages(incident) == [("alice", "sms")]  # the repeat wrote nothing
    events.acknowledge("disk/db1")
    assert herald.store.get(incident.id).status == "acknowledged"


def test_a_revoked_file_key_is_an_invalid_routing_key(url, client, herald):
    client().trigger("Disk full", "db1", dedup_key="disk/db1")
    gone = httpx.delete(url + "/api/v1/integrations/billing/keys/file", headers=ADMIN, verify=TRUST)
    assert gone.status_code == 200
    answer = refusal(lambda: client().trigger("Disk full", "db1", dedup_key="disk/db1"))
    assert answer.status_code == 400 and answer.json()["errors"] == ["Invalid routing key"]
    assert [i.version for i in open_incidents(herald)] == [1]  # the repeat that was refused changed nothing
