"""Herald as Opsgenie: the ``opsgenie-sdk`` package (Opsgenie's own Python client) pointed at
a real uvicorn serving Herald on 127.0.0.1 — create, dedup by alias, acknowledge, close by
alias and by id, request statuses, keys and rate, heartbeat pings."""
from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import httpx
import opsgenie_sdk
import pytest
import tenacity
import uvicorn

from integrations.config.model import key_digest
from service.app import create_app
from service.engine import heartbeats
from service.settings import Settings
from tests.alertmanager_harness import AlertmanagerProcess, alertmanager_binary
from tests.herald_env import API_TOKEN, env_for, write_config
from tests.processes import wait_for

OG_KEY = "og-tools-key-0123456789abcdef"
OTHER_OG_KEY = "og-other-key-0123456789abcdef"
LIMITED_KEY = "og-limited-key-0123456789abcd"
PD_KEY = "pd-billing-key-0123456789abcdef"
INTEGRATIONS = f"""
integrations:
  - {{name: tools, kind: opsgenie, key_sha256: {key_digest(OG_KEY)}}}
  - {{name: other, kind: opsgenie, key_sha256: {key_digest(OTHER_OG_KEY)}}}
  - {{name: limited, kind: opsgenie, key_sha256: {key_digest(LIMITED_KEY)}, rate_per_minute: 2}}
  - {{name: billing, kind: pagerduty, key_sha256: {key_digest(PD_KEY)}}}
"""


class Clock:
    def __init__(self) -> None:
        self.at = datetime.now(timezone.utc)

    def __call__(self) -> datetime:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


@pytest.fixture
def settings(tmp_path, redis_url, monkeypatch) -> Settings:
    config = write_config(tmp_path / "conf", extra=INTEGRATIONS)
    for key, value in env_for(config, redis_url, "https://herald.test").items():
        monkeypatch.setenv(key, value)
    return Settings()


@pytest.fixture
def clock(herald) -> Clock:
    herald.clock = Clock()
    return herald.clock


@pytest.fixture
def base(settings, herald, clock) -> Iterator[str]:
    """Herald under uvicorn in a thread, on a free loopback port: its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app(settings, herald), log_config=None, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        for _ in range(600):
            if server.started or not thread.is_alive():
                break
            threading.Event().wait(0.05)
        assert server.started, "uvicorn did not start"
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


def sdk(base: str, key: str) -> opsgenie_sdk.ApiClient:
    conf = opsgenie_sdk.Configuration()
    conf.host = base
    # The SDK's Configuration() is a shallow copy of one default: fresh dicts, or every
    # client made here would share the last key.
    conf.api_key = {"Authorization": key}
    conf.api_key_prefix = {"Authorization": "GenieKey"}
    conf.retry_enabled = False  # a 429 or 5xx must reach the test, not be retried for a minute
    return opsgenie_sdk.ApiClient(conf)


@pytest.fixture
def alerts(base) -> opsgenie_sdk.AlertApi:
    return opsgenie_sdk.AlertApi(sdk(base, OG_KEY))


def create(alerts: opsgenie_sdk.AlertApi, **fields):
    return alerts.create_alert(create_alert_payload=opsgenie_sdk.CreateAlertPayload(**fields))


def status(alerts: opsgenie_sdk.AlertApi, request_id: str):
    return alerts.get_request_status(request_id=request_id).data


def refused(call, *args, **kw) -> tuple[int, dict, dict]:
    """Status, JSON body and headers of the error the SDK raised for ``call``."""
    with pytest.raises((opsgenie_sdk.exceptions.RetryableException, tenacity.RetryError)) as caught:
        call(*args, **kw)
    error = caught.value
    if isinstance(error, tenacity.RetryError):  # a 429 comes wrapped, even with its retries off
        error = error.last_attempt.exception()
    return error.status, json.loads(error.body), {k.lower(): v for k, v in (error.headers or {}).items()}


def pages(herald, incident_id):
    return [(p.person, p.channel) for p in herald.store.get(incident_id).pages]


# -- create, dedup, acknowledge, close -------------------------------------------------------

def test_create_opens_an_incident_and_pages_and_the_same_alias_is_the_same_incident(alerts, herald):
    answer = create(alerts, message="Disk full on db1", alias="db1/disk", priority="P1", tags=["team:db", "disk"],
                    details={"host": "db1"}, entity="db1", source="nagios", description="92% used")
    assert answer.result == "Request will be processed" and answer.request_id and answer.took >= 0
    done = status(alerts, answer.request_id)
    assert (done.is_success, done.action, done.status, done.alias, done.integration_id) == (
        True, "Create", "Created alert", "db1/disk", "tools")
    incident = herald.store.get(done.alert_id)
    assert (incident.receiver, incident.group_key, incident.severity, incident.title) == (
        "opsgenie:tools", "db1/disk", "P1", "Disk full on db1")
    [alert] = incident.alerts.values()
    assert alert.labels["team"] == "db" and alert.labels["entity"] == "db1" and alert.labels["integration"] == "tools"
    assert alert.annotations["description"] == "92% used" and alert.annotations["host"] == "db1"
    assert pages(herald, done.alert_id) == [("alice", "sms")]

    again = status(alerts, create(alerts, message="Disk full on db1", alias="db1/disk", priority="P1").request_id)
    assert again.alert_id == done.alert_id and pages(herald, done.alert_id) == [("alice", "sms")]  # paged once
    other = status(alerts, create(alerts, message="Disk full on db2", alias="db2/disk", priority="P1").request_id)
    assert other.alert_id != done.alert_id


def test_a_resent_create_changes_nothing_and_a_changed_one_updates_the_alert(alerts, herald):
    body = {"message": "CPU hot", "alias": "cpu/web1", "priority": "P2", "details": {"load": "9"}}
    opened = status(alerts, create(alerts, **body).request_id).alert_id
    version = herald.store.get(opened).version
    resent = status(alerts, create(alerts, **body).request_id)
    assert (resent.alert_id, resent.is_success, herald.store.get(opened).version) == (opened, True, version)
    create(alerts, **{**body, "details": {"load": "12"}})  # a changed body: the alert is updated, nobody re-paged
    [alert] = herald.store.get(opened).alerts.values()
    assert alert.annotations["load"] == "12" and len(pages(herald, opened)) == 1


def test_acknowledge_then_close_by_alias(alerts, herald):
    opened = status(alerts, create(alerts, message="5xx", alias="web/5xx", priority="P2").request_id).alert_id
    acked = alerts.acknowledge_alert(identifier="web/5xx", identifier_type="alias",
                                     acknowledge_alert_payload=opsgenie_sdk.AcknowledgeAlertPayload(user="ann",
                                                                                                   note="on it"))
    assert acked.result == "Request will be processed"
    assert (status(alerts, acked.request_id).status, herald.store.get(opened).status) == (
        "Acknowledged alert", "acknowledged")
    create(alerts, message="5xx", alias="web/5xx", priority="P2")  # while acknowledged: nobody is paged again
    assert len(pages(herald, opened)) == 1

    closed = alerts.close_alert(identifier="web/5xx", identifier_type="alias",
                                close_alert_payload=opsgenie_sdk.CloseAlertPayload(user="ann", note="fixed"))
    assert status(alerts, closed.request_id).status == "Closed alert"
    assert herald.store.get(opened).status == "resolved" and herald.store.get(opened).resolved_by == "tools"
    reopened = status(alerts, create(alerts, message="5xx", alias="web/5xx", priority="P2").request_id).alert_id
    assert reopened != opened  # after a close: a new alert, as in Opsgenie


def test_close_by_id_and_tiny_id(alerts, herald, base):
    first = status(alerts, create(alerts, message="queue stuck", alias="q1", priority="P2").request_id).alert_id
    closed = alerts.close_alert(identifier=first)  # identifierType defaults to id
    assert status(alerts, closed.request_id).is_success and herald.store.get(first).status == "resolved"
    second = status(alerts, create(alerts, message="queue stuck", alias="q2", priority="P2").request_id).alert_id
    alerts.acknowledge_alert(identifier=second, identifier_type="tiny")
    assert herald.store.get(second).status == "acknowledged"

    # another integration's alert id is not this key's to close
    theirs = opsgenie_sdk.AlertApi(sdk(base, OTHER_OG_KEY))
    mine = status(alerts, create(alerts, message="m", alias="q3", priority="P2").request_id).alert_id
    answer = theirs.close_alert(identifier=mine)
    assert (status(theirs, answer.request_id).is_success, herald.store.get(mine).status) == (False, "triggered")
    assert status(alerts, alerts.close_alert(identifier=first).request_id).status == "Alert does not exist"  # closed


def test_a_long_alias_and_one_with_slashes_close_what_they_opened(alerts, herald):
    alias = "prometheus/" + "x" * 400 + "/end"
    made = status(alerts, create(alerts, message="long", alias=alias, priority="P2").request_id)
    assert made.alias == alias and len(herald.store.get(made.alert_id).group_key) <= 255
    alerts.close_alert(identifier=alias, identifier_type="alias")
    assert herald.store.get(made.alert_id).status == "resolved"


def test_closing_or_acknowledging_an_unknown_alias_is_accepted_and_changes_nothing(alerts, herald):
    answer = alerts.close_alert(identifier="never-seen", identifier_type="alias")
    assert answer.result == "Request will be processed"
    done = status(alerts, answer.request_id)
    assert (done.is_success, done.status, done.alert_id, done.action) == (False, "Alert does not exist", "", "Close")
    alerts.acknowledge_alert(identifier="never-seen", identifier_type="alias")
    alerts.close_alert(identifier="12345")  # an id no incident has
    assert herald.store.list(limit=10) == []


def test_create_without_alias_is_a_new_alert_each_time(alerts):
    one = status(alerts, create(alerts, message="same text", priority="P2").request_id)
    two = status(alerts, create(alerts, message="same text", priority="P2").request_id)
    assert one.alert_id != two.alert_id and one.alias and one.alias != two.alias
    assert status(alerts, alerts.close_alert(identifier=one.alias, identifier_type="alias").request_id).is_success


# -- refusals ----------------------------------------------------------------------------------

def test_a_missing_message_is_422_in_opsgenie_shape_and_writes_nothing(alerts, herald):
    client = alerts.api_client  # the SDK's own HTTP call, with a body its models would not build
    code, body, _ = refused(client.call_api, "/v2/alerts", "POST", body={"alias": "x", "priority": "P1"},
                            header_params={"Content-Type": "application/json"}, auth_settings=["GenieKey"],
                            response_type="SuccessResponse", _return_http_data_only=True)
    assert code == 422 and body["message"] == "message: is required" and body["requestId"] and "took" in body
    assert herald.store.list(limit=10) == []


@pytest.mark.parametrize("body, message", [
    ({"message": "m", "priority": "P9"}, "priority: must be one of P1, P2, P3, P4, P5, not 'P9'"),
    ({"message": "m", "tags": ["t"] * 21}, "tags: at most 20 items, got 21"),
    ({"message": "m", "alias": "a" * 513}, "alias: at most 512 characters"),
])
def test_a_wrong_field_is_422_naming_it(base, herald, body, message):
    answer = httpx.post(f"{base}/v2/alerts", json=body, headers={"Authorization": f"GenieKey {OG_KEY}"})
    assert answer.status_code == 422 and message in answer.json()["message"]
    assert herald.store.list(limit=10) == []


def test_a_body_that_is_not_json_or_too_big(base):
    headers = {"Authorization": f"GenieKey {OG_KEY}", "Content-Type": "application/json"}
    bad = httpx.post(f"{base}/v2/alerts", content=b"{nope", headers=headers)
    assert bad.status_code == 422 and bad.json()["message"].startswith("body: not valid JSON")
    big = httpx.post(f"{base}/v2/alerts", content=json.dumps({"message": "m", "description": "d" * 600_000}),
                     headers=headers)
    assert big.status_code == 413 and "524288" in big.json()["message"]


def test_keys_wrong_missing_and_of_another_kind(base, herald):
    for key, code in (("no-such-key-0123456789abc", 401), (PD_KEY, 403)):
        api = opsgenie_sdk.AlertApi(sdk(base, key))
        got, body, _ = refused(create, api, message="m", alias="k")
        assert got == code and body["message"] and body["requestId"]
        got, _, _ = refused(api.close_alert, identifier="k", identifier_type="alias")
        assert got == code
        got, _, _ = refused(opsgenie_sdk.HeartbeatApi(sdk(base, key)).ping, "nightly")
        assert got == code
    bearer = httpx.post(f"{base}/v2/alerts", json={"message": "m"}, headers={"Authorization": f"Bearer {OG_KEY}"})
    assert bearer.status_code == 401 and "GenieKey" in bearer.json()["message"]
    assert httpx.post(f"{base}/v2/alerts", json={"message": "m"}).status_code == 401
    assert herald.store.list(limit=10) == []


def test_over_its_rate_an_integration_is_answered_429_with_retry_after(base):
    api = opsgenie_sdk.AlertApi(sdk(base, LIMITED_KEY))
    create(api, message="one", alias="a", priority="P2")
    create(api, message="two", alias="a", priority="P2")
    code, body, headers = refused(create, api, message="three", alias="a", priority="P2")
    assert code == 429 and "rate" in body["message"] and 1 <= int(headers["retry-after"]) <= 60
    create(opsgenie_sdk.AlertApi(sdk(base, OG_KEY)), message="x", alias="b")  # each integration its own rate


# -- request statuses --------------------------------------------------------------------------

def test_request_status_unknown_or_of_another_integration_is_404(alerts, base):
    code, body, _ = refused(alerts.get_request_status, request_id="00000000-0000-4000-8000-000000000000")
    assert code == 404 and "Request not found" in body["message"]
    mine = create(alerts, message="m", alias="k", priority="P2").request_id
    theirs = opsgenie_sdk.AlertApi(sdk(base, OTHER_OG_KEY))
    assert refused(theirs.get_request_status, request_id=mine)[0] == 404
    assert status(alerts, mine).is_success


def test_request_statuses_expire(alerts, herald):
    from integrations import keys
    answer = create(alerts, message="m", alias="k", priority="P2")
    ttl = herald.store.redis.ttl(keys.opsgenie_request(answer.request_id))
    assert 0 < ttl <= 24 * 3600


# -- heartbeats --------------------------------------------------------------------------------

def test_a_heartbeat_pinged_through_opsgenie_opens_an_incident_when_it_goes_silent(base, herald, clock):
    made = httpx.post(f"{base}/api/v1/heartbeats/nightly-backup", json={"timeout": "10m"},
                      headers={"Authorization": f"Bearer {API_TOKEN}"})
    assert made.status_code == 200, made.text
    beats = opsgenie_sdk.HeartbeatApi(sdk(base, OG_KEY))
    clock.advance(300)
    answer = beats.ping("nightly-backup")
    assert answer.result == "PONG - Heartbeat received" and answer.request_id
    assert herald.heartbeats.get("nightly-backup").last_ping == clock.at
    post = httpx.post(f"{base}/v2/heartbeats/nightly-backup/ping", headers={"Authorization": f"GenieKey {OG_KEY}"})
    assert post.status_code == 202 and post.json()["result"] == "PONG - Heartbeat received"

    clock.advance(599)
    heartbeats.check(herald)
    assert herald.store.list(limit=10) == []  # within its 10 minutes
    clock.advance(2)
    heartbeats.check(herald)
    [silent] = herald.store.list(limit=10)
    assert silent.group_key == "heartbeat:nightly-backup" and silent.status == "triggered"
    beats.ping("nightly-backup")  # pings again: its incident resolves
    assert herald.store.get(silent.id).status == "resolved"


@pytest.mark.parametrize("name, code", [("never-made", 404), ("watchdog", 422), ("bad$name", 422)])
def test_a_heartbeat_ping_for_no_heartbeat_is_refused_and_arms_nothing(base, herald, name, code):
    got, body, _ = refused(opsgenie_sdk.HeartbeatApi(sdk(base, OG_KEY)).ping, name)
    assert got == code and body["message"] and herald.heartbeats.get("never-made") is None


# -- Prometheus Alertmanager's own Opsgenie receiver -------------------------------------------

@pytest.mark.skipif(alertmanager_binary() is None,
                    reason="prometheus-alertmanager not installed (apt-get install prometheus-alertmanager)")
def test_alertmanagers_opsgenie_receiver_opens_and_closes_an_incident(base, herald, tmp_path):
    receiver = {"name": "herald-opsgenie", "opsgenie_configs": [{
        "api_url": base + "/", "api_key": OG_KEY, "priority": "P1", "send_resolved": True,
        "tags": "team:{{ .CommonLabels.team }},prometheus", "entity": "{{ .CommonLabels.instance }}",
        "responders": [{"type": "team", "name": "db-team"}]}]}
    config = {"route": {"receiver": "herald-opsgenie", "group_by": ["alertname"], "group_wait": "1s",
                        "group_interval": "2s", "repeat_interval": "1h"}, "receivers": [receiver]}
    alert = {"labels": {"alertname": "DiskFull", "team": "db", "instance": "db1:9100"},
             "annotations": {"summary": "Disk full on db1"}}
    with AlertmanagerProcess(alertmanager_binary(), tmp_path / "am", config) as am:
        am.post_alerts([alert])
        [opened] = wait_for(lambda: herald.store.list(limit=10), 60, "Alertmanager's create to reach Herald")
        incident = herald.store.get(opened.id)
        [fired] = incident.alerts.values()
        assert (incident.receiver, incident.severity, len(incident.group_key)) == ("opsgenie:tools", "P1", 64)
        assert (fired.labels["team"], fired.labels["entity"], fired.labels["tags"]) == ("db", "db1:9100",
                                                                                        "team:db,prometheus")
        assert pages(herald, opened.id) == [("alice", "sms")]
        am.resolve_alerts([alert])
        wait_for(lambda: herald.store.get(opened.id).status == "resolved", 60,
                 "Alertmanager's close (by alias) to resolve the incident")
        assert len(herald.store.list(limit=10)) == 1


@pytest.mark.parametrize("query, body, message", [
    ("?identifierType=name", {}, "identifierType: must be one of id, alias, tiny, not 'name'"),
    ("?identifierType=alias", {"user": 5}, "user: must be a string, not int"),
    ("?identifierType=alias", ["x"], "body: must be a JSON object, not list"),
])
def test_a_wrong_close_is_422_and_the_incident_stays_open(alerts, herald, base, query, body, message):
    opened = status(alerts, create(alerts, message="m", alias="k1", priority="P2").request_id).alert_id
    answer = httpx.post(f"{base}/v2/alerts/k1/close{query}", json=body, headers={"Authorization": f"GenieKey {OG_KEY}"})
    assert answer.status_code == 422 and answer.json()["message"] == message
    assert herald.store.get(opened).status == "triggered"


@pytest.mark.parametrize("content", [b'{"message": "Disk full", "alias": "db1/disk"}', b"{nope", b'{"alias": "x"}'],
                         ids=["good", "not-json", "no-message"])
def test_a_revoked_file_key_is_refused_whatever_the_body(base, herald, content):
    """The file's key is checked in the same round trip as the alias's read: revoked, it is
    a 401 before anything is written or any body problem is reported."""
    revoked = httpx.delete(f"{base}/api/v1/integrations/tools/keys/file",
                           headers={"Authorization": f"Bearer {API_TOKEN}"})
    assert revoked.status_code == 200, revoked.text
    answer = httpx.post(f"{base}/v2/alerts", content=content,
                        headers={"Authorization": f"GenieKey {OG_KEY}", "Content-Type": "application/json"})
    assert answer.status_code == 401, answer.text
    assert herald.store.list(limit=10) == []
