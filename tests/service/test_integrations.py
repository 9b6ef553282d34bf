"""Integrations: their configuration, their keys (file, API, rotated, revoked), their rate,
and their events through the one ingest flow (service.engine.sources)."""
from __future__ import annotations

import pytest

from integrations.config.model import ConfigError, key_digest, load_config
from routing.integration import SourceEvent
from service.engine.ingest import run
from service.engine.sources import admit_flow, event_flow
from service.settings import Settings
from tests.herald_env import API_TOKEN, env_for, write_config

API = {"Authorization": f"Bearer {API_TOKEN}"}
FILE_KEY = "pd-billing-key-0123456789abcdef"
INTEGRATIONS = f"""
integrations:
  - name: billing
    kind: pagerduty
    key_sha256: {key_digest(FILE_KEY)}
    rate_per_minute: 3
  - name: grafana-main
    kind: grafana
    key_env: HERALD_TEST_GRAFANA_KEY
"""
GRAFANA_KEY = "grafana-key-abcdefghijklmnop"


@pytest.fixture
def settings(tmp_path, redis_url, monkeypatch) -> Settings:
    monkeypatch.setenv("HERALD_TEST_GRAFANA_KEY", GRAFANA_KEY)
    config = write_config(tmp_path / "conf", extra=INTEGRATIONS)
    for key, value in env_for(config, redis_url, "https://herald.test").items():
        monkeypatch.setenv(key, value)
    return Settings()


def admit(herald, key, kind="pagerduty"):
    return run(herald, admit_flow(herald, key, kind))


def event(herald, action, key="disk/db1", name="billing", **kw):
    integration = herald.config.integrations.get(name) or admit(herald, kw.pop("api_key"), "pagerduty").integration
    return run(herald, event_flow(herald, integration, SourceEvent(action, key, **kw)))


def pages(herald, incident_id):
    return [(p.person, p.channel) for p in herald.store.get(incident_id).pages]


# -- configuration ---------------------------------------------------------------------------

@pytest.mark.parametrize("section, message", [
    ("  - {name: x, kind: nagios}", "integrations.x.kind"),
    ("  - {name: x, kind: pagerduty, policy: nope}", "integrations.x.policy: no policy named 'nope'"),
    ("  - {name: x, kind: pagerduty, key_env: HERALD_TEST_UNSET_KEY}",
     "integrations.x.key_env: the environment variable HERALD_TEST_UNSET_KEY is not set"),
    ("  - {name: x, kind: pagerduty, key_sha256: abc}", "integrations.x.key_sha256"),
    ("  - {name: x, kind: generic, mapping: {dedup_key: id}}", "a generic integration maps at least title"),
    ("  - {name: x, kind: generic, mapping: {title: 'a[', }}", "title: not a JMESPath expression"),
    ("  - {name: x, kind: pagerduty, mapping: {title: a}}", "mapping and sample are for generic integrations"),
    ("  - {name: x, kind: pagerduty, labels: {'1bad': y}}", "is not a label name"),
    ("  - {name: x, kind: pagerduty}\n  - {name: x, kind: opsgenie}", "integrations.1.name: 'x' is used twice"),
])
def test_config_errors_name_the_file_and_the_field(tmp_path, monkeypatch, section, message):
    monkeypatch.delenv("HERALD_TEST_UNSET_KEY", raising=False)
    path = write_config(tmp_path, extra="integrations:\n" + section + "\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value).startswith(f"{path}: ") and message in str(caught.value)


def test_a_key_env_with_a_short_key_is_refused_without_showing_it(tmp_path, monkeypatch):
    monkeypatch.setenv("HERALD_TEST_SHORT_KEY", "s3cr3t")
    path = write_config(tmp_path, extra="integrations:\n  - {name: x, kind: pagerduty, key_env: HERALD_TEST_SHORT_KEY}\n")
    with pytest.raises(ConfigError, match="fewer than 16 characters") as caught:
        load_config(path)
    assert "s3cr3t" not in str(caught.value)


# -- keys and rate ---------------------------------------------------------------------------

def test_a_file_key_lets_its_integration_in_and_no_other(herald):
    assert admit(herald, FILE_KEY).integration.name == "billing"
    assert admit(herald, GRAFANA_KEY, "grafana").integration.name == "grafana-main"
    assert admit(herald, FILE_KEY, "grafana").refusal == "other kind"  # a key opens its own integration only
    assert admit(herald, "no-such-key-0123456789").refusal == "unknown key"


def test_an_integration_over_its_rate_is_refused_until_the_next_minute(herald):
    assert [admit(herald, FILE_KEY).refusal for _ in range(3)] == ["", "", ""]
    over = admit(herald, FILE_KEY)
    assert over.refusal == "over rate" and 1 <= over.retry_after <= 60
    assert admit(herald, GRAFANA_KEY, "grafana").refusal == ""  # each integration counts its own


def test_keys_are_made_rotated_and_revoked_through_the_api(client, herald):
    made = client.post("/api/v1/integrations/billing/keys", headers=API)
    assert made.status_code == 201
    key = made.json()["key"]
    assert admit(herald, key).integration.name == "billing" and admit(herald, FILE_KEY).refusal == ""
    listed = client.get("/api/v1/integrations/billing", headers=API).json()
    assert [k["id"] for k in listed["keys"]] == ["file", made.json()["key_id"]]
    assert key not in str(listed) and key_digest(key) not in str(listed)  # never the key, never its digest

    rotated = client.post("/api/v1/integrations/billing/rotate", headers=API).json()
    assert admit(herald, rotated["key"]).refusal == ""
    assert admit(herald, key).refusal == admit(herald, FILE_KEY).refusal == "unknown key"  # the file's key too
    assert [k["id"] for k in client.get("/api/v1/integrations/billing", headers=API).json()["keys"]] == [
        rotated["key_id"]]

    gone = client.delete(f"/api/v1/integrations/billing/keys/{rotated['key_id']}", headers=API)
    assert gone.status_code == 200 and admit(herald, rotated["key"]).refusal == "unknown key"
    again = client.delete(f"/api/v1/integrations/billing/keys/{rotated['key_id']}", headers=API)
    assert again.status_code == 404 and "no live key" in again.json()["detail"]


def test_integrations_made_with_the_api(client, herald):
    made = client.put("/api/v1/integrations/ci", json={"kind": "pagerduty", "severity": {"error": "P1"}},
                      headers=API)
    assert made.status_code == 200, made.text
    body = made.json()
    assert (body["origin"], body["endpoint"], len(body["keys"])) == ("api", "/v2/enqueue", 1)
    found = admit(herald, body["key"]).integration
    assert (found.name, found.origin, found.severity_of("error")) == ("ci", "api", "P1")
    changed = client.put("/api/v1/integrations/ci", json={"kind": "pagerduty", "rate_per_minute": 5}, headers=API)
    assert "key" not in changed.json() and changed.json()["rate_per_minute"] == 5  # a change makes no key
    assert client.delete("/api/v1/integrations/ci", headers=API).status_code == 200
    assert admit(herald, body["key"]).refusal == "unknown key"  # its keys went with it
    names = [i["name"] for i in client.get("/api/v1/integrations", headers=API).json()["integrations"]]
    assert names == ["billing", "grafana-main"]


@pytest.mark.parametrize("name, body, status, detail", [
    ("billing", {"kind": "pagerduty"}, 409, "defined in the configuration file"),
    ("x", {"kind": "pagerduty", "policy": "nope"}, 400, "policy: no policy named 'nope'"),
    ("x", {"kind": "generic"}, 400, "maps at least title"),
    ("x", {"kind": "pagerduty", "rate_per_minute": 0}, 422, "rate_per_minute"),
    ("bad name!", {"kind": "pagerduty"}, 400, "name"),
])
def test_a_wrong_integration_is_refused_and_nothing_is_written(client, herald, name, body, status, detail):
    answer = client.put(f"/api/v1/integrations/{name}", json=body, headers=API)
    assert answer.status_code == status and detail in answer.json()["detail"]
    assert herald.integrations.definitions() == {}


def test_the_admin_api_needs_an_admin_token(client):
    assert client.get("/api/v1/integrations").status_code == 401
    assert client.post("/api/v1/integrations/billing/keys",
                       headers={"Authorization": "Bearer wrong-token-0123456789"}).status_code == 401


# -- events through the ingest flow ----------------------------------------------------------

def test_trigger_acknowledge_resolve(herald):
    [opened] = event(herald, "trigger", summary="Disk full", severity="P1")
    incident = herald.store.get(opened["id"])
    assert (incident.receiver, incident.group_key, incident.severity) == ("pagerduty:billing", "disk/db1", "P1")
    assert incident.timeline[0].details["via"] == "pagerduty" and incident.timeline[0].details["by"] == "billing"
    assert pages(herald, opened["id"]) == [("alice", "sms")]
    [same] = event(herald, "trigger", summary="Disk full", severity="P1")  # PagerDuty's dedup: the same incident
    assert same["id"] == opened["id"] and pages(herald, opened["id"]) == [("alice", "sms")]

    [acked] = event(herald, "acknowledge")
    assert acked == {"id": opened["id"], "status": "acknowledged", "changed": True}
    assert herald.store.get(opened["id"]).acknowledged_by == "billing"
    event(herald, "trigger", summary="Disk full", severity="P1")  # while acknowledged: nobody is paged
    assert herald.store.get(opened["id"]).status == "acknowledged" and len(pages(herald, opened["id"])) == 1

    [resolved] = event(herald, "resolve")
    closed = herald.store.get(opened["id"])
    assert resolved["status"] == "resolved" and (closed.resolved_by, closed.timeline[-1].details["via"]) == (
        "billing", "pagerduty")
    [reopened] = event(herald, "trigger", summary="Disk full", severity="P1")  # after a resolve: a new incident
    assert reopened["id"] != opened["id"] and reopened["status"] == "triggered"


def test_acknowledge_and_resolve_of_an_unknown_or_closed_key_change_nothing(herald):
    assert event(herald, "acknowledge", key="never-seen") == [] and event(herald, "resolve", key="never-seen") == []
    assert herald.store.list(limit=10) == []  # not even a resolved record
    [opened] = event(herald, "trigger", summary="x")
    event(herald, "resolve")
    before = herald.store.get(opened["id"])
    assert event(herald, "resolve") == [] and event(herald, "acknowledge") == []
    assert herald.store.get(opened["id"]).version == before.version


def test_every_change_an_integration_makes_reaches_the_followers(herald):
    """Acknowledge and change notes are written by their own calls (not group_flow): each
    commit must still put the followers' entries in the due index with it."""
    from integrations import keys
    from service.engine.sources import change_flow
    from service.worker import due
    from tests.service.test_followers import Recorder, timeline_of

    sink = Recorder()
    herald.add_follower(sink)
    [opened] = event(herald, "trigger", summary="Disk full", severity="P1")
    due.run_now(herald)
    run(herald, change_flow(herald, herald.config.integrations["billing"], "deployed v2"))
    event(herald, "acknowledge")
    assert herald.store.redis.zscore(keys.DUE, keys.due_follow(sink.name, opened["id"])) is not None
    due.run_now(herald)
    event(herald, "resolve")
    due.run_now(herald)
    kinds = [k for _, _, k in sink.seen]
    assert sink.seen == timeline_of(herald, opened["id"]) and "acknowledged" in kinds and "note" in kinds
