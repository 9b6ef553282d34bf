"""Generic JSON integrations: POST /api/v1/integrations/{name}/events against Herald served
by uvicorn, over HTTP with httpx; the mapping checked against the file's sample at load and
shown by ``herald check-config``."""
from __future__ import annotations

import json

import httpx
import pytest

from integrations.config.model import ConfigError, key_digest, load_config
from routing.generic_json import hashed_key
from service.cli.main import main
from service.settings import Settings
from tests.herald_env import API_TOKEN, env_for, write_config
from tests.service.served import served

HOOK_KEY = "hook-key-0123456789abcdef"
OTHER_HOOK_KEY = "other-hook-key-0123456789"
GRAFANA_KEY = "grafana-key-for-generic-test-0123"
INTEGRATIONS = f"""
integrations:
  - name: uptime
    kind: generic
    key_sha256: {key_digest(HOOK_KEY)}
    severity: {{down: P1}}
    mapping:
      title: "monitor.name"
      dedup_key: "join('/', [monitor.id, check])"
      severity: "monitor.state_level"
      status: "event"
      details: "monitor.facts"
      links: "urls"
      source: "origin"
    sample:
      monitor: {{name: "Checkout is down", id: "m-17", state_level: down, facts: {{region: eu, latency_ms: 8000}}}}
      check: http
      event: alert
      urls: [{{href: "https://status.example/m-17", text: Status}}]
      origin: uptime-robot
  - name: other
    kind: generic
    key_sha256: {key_digest(OTHER_HOOK_KEY)}
    mapping: {{title: "msg"}}
  - name: grafana-main
    kind: grafana
    key_sha256: {key_digest(GRAFANA_KEY)}
"""


def body(event: str = "alert", **monitor) -> dict:
    return {"monitor": {"name": "Checkout is down", "id": "m-17", "state_level": "down",
                        "facts": {"region": "eu", "latency_ms": 8000}, **monitor},
            "check": "http", "event": event, "urls": ["https://status.example/m-17"], "origin": "uptime-robot"}


@pytest.fixture
def config_path(tmp_path):
    return write_config(tmp_path / "conf", extra=INTEGRATIONS)


@pytest.fixture
def settings(config_path, redis_url, monkeypatch) -> Settings:
    for key, value in env_for(config_path, redis_url, "http://herald.test").items():
        monkeypatch.setenv(key, value)
    return Settings()


@pytest.fixture
def url(settings, herald):
    with served(settings, herald) as base:
        yield base


def send(url: str, payload: object, name: str = "uptime", key: str | None = HOOK_KEY) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    content = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return httpx.post(f"{url}/api/v1/integrations/{name}/events", content=content, timeout=30,
                      headers={"Content-Type": "application/json", **headers})


def test_an_event_opens_then_acknowledges_then_resolves_its_incident(url, herald):
    opened = send(url, body())
    assert opened.status_code == 200, opened.text
    answer = opened.json()
    assert (answer["status"], answer["dedup_key"]) == ("stored", "m-17/http")
    [ref] = answer["incidents"]
    incident = herald.store.get(ref["id"])
    assert (incident.receiver, incident.group_key, incident.severity) == ("generic:uptime", "m-17/http", "P1")
    [alert] = incident.alerts.values()
    assert alert.annotations["summary"] == "Checkout is down" and alert.annotations["latency_ms"] == "8000"
    assert alert.annotations["source"] == "uptime-robot" and alert.labels["integration"] == "uptime"
    assert "https://status.example/m-17" in alert.annotations["links"]

    acked = send(url, body("acknowledged"))
    assert acked.json()["incidents"] == [{"id": ref["id"], "status": "acknowledged", "changed": True}]
    resolved = send(url, body("RESOLVED"))
    assert resolved.json()["incidents"] == [{"id": ref["id"], "status": "resolved", "changed": True}]
    assert herald.store.get(ref["id"]).status == "resolved"


def test_a_resolve_for_a_key_with_nothing_open_changes_nothing(url, herald):
    answer = send(url, body("ok", id="never-seen"))
    assert answer.status_code == 200
    assert answer.json() == {"status": "stored", "dedup_key": "never-seen/http", "incidents": []}
    assert herald.store.list(open_only=False, limit=10) == []


def test_without_a_dedup_key_in_the_mapping_the_title_is_the_key(url, herald):
    first = send(url, {"msg": "Backup failed"}, name="other", key=OTHER_HOOK_KEY).json()
    again = send(url, {"msg": "Backup failed", "attempt": 2}, name="other", key=OTHER_HOOK_KEY).json()
    assert first["dedup_key"] == again["dedup_key"] == hashed_key("Backup failed")
    assert first["incidents"][0]["id"] == again["incidents"][0]["id"]  # one incident, paged once
    assert len(herald.store.get(first["incidents"][0]["id"]).pages) == 1


@pytest.mark.parametrize("payload, detail", [
    ({"check": "http"}, "title: the expression 'monitor.name' found nothing in the body"),
    ({"monitor": {"name": "x", "id": "m"}, "check": "http", "urls": 5},
     "links: the expression 'urls' found a number at index 0, not a URL or an object with href"),
    ({"monitor": {"name": "x", "id": "m", "facts": []}, "check": "http"},
     "details: the expression 'monitor.facts' found a list, not an object"),
    (b"{not json", "body: not a JSON document"),
])
def test_a_body_the_mapping_cannot_read_is_400_naming_the_expression(url, herald, payload, detail):
    answer = send(url, payload)
    assert answer.status_code == 400 and answer.json() == {"detail": detail}
    assert herald.store.list(open_only=False, limit=10) == []


@pytest.mark.parametrize("name, key, status, detail", [
    ("uptime", None, 401, "an integration key is required"),
    ("uptime", "no-such-key-0123456789", 401, "unknown integration key"),
    ("uptime", OTHER_HOOK_KEY, 403, "belongs to integration 'other', not 'uptime'"),
    ("nope", HOOK_KEY, 403, "belongs to integration 'uptime', not 'nope'"),
    ("uptime", GRAFANA_KEY, 403, "not of kind generic"),
    ("uptime", API_TOKEN, 401, "unknown integration key"),
])
def test_a_key_opens_its_own_integration_only(url, herald, name, key, status, detail):
    answer = send(url, body(), name=name, key=key)
    assert answer.status_code == status and detail in answer.json()["detail"], answer.text
    assert herald.store.list(open_only=False, limit=10) == []


def test_check_config_shows_each_mapping_over_its_sample(config_path, settings, capsys):
    assert main(["check-config", str(config_path)]) == 0
    out = capsys.readouterr().out
    start = out.index("integration uptime (generic): its mapping over its sample gives\n")
    shown = json.loads(_block(out, start))
    assert shown == {"action": "trigger", "dedup_key": "m-17/http", "title": "Checkout is down", "severity": "P1",
                     "source": "uptime-robot", "details": {"region": "eu", "latency_ms": "8000"},
                     "links": [{"href": "https://status.example/m-17", "text": "Status"}], "policies": ["default"]}
    assert "integration other (generic): no sample to evaluate its mapping against" in out
    assert "grafana-main" not in out  # only generic integrations have a mapping


def _block(out: str, start: int) -> str:
    """The indented JSON under the line at ``start``."""
    lines = out[start:].splitlines()[1:]
    return "\n".join(line for line in lines[:next(i for i, line in enumerate(lines) if not line.startswith("  "))])


def test_a_sample_the_mapping_cannot_read_stops_the_load_naming_the_field(tmp_path):
    broken = INTEGRATIONS.replace('status: "event"', 'status: "event"\n      details: "check"', 1).replace(
        '      details: "monitor.facts"\n', "", 1)
    path = write_config(tmp_path, extra=broken)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value) == (f"{path}: integrations.uptime.sample: details: the expression 'check' "
                                 "found a string, not an object")


def test_check_config_fails_on_a_sample_without_a_title(tmp_path, capsys):
    path = write_config(tmp_path, extra=INTEGRATIONS.replace('title: "monitor.name"', 'title: "monitor.title"'))
    assert main(["check-config", str(path)]) == 1
    assert "integrations.uptime.sample: title: the expression 'monitor.title' found nothing in the body" in (
        capsys.readouterr().err)


def test_an_integration_made_with_the_api_has_its_sample_read_too(url):
    api = {"Authorization": f"Bearer {API_TOKEN}"}
    bad = httpx.put(f"{url}/api/v1/integrations/hook2", headers=api, timeout=30,
                    json={"kind": "generic", "mapping": {"title": "a.b"}, "sample": {"a": {"c": 1}}})
    assert bad.status_code == 400 and bad.json()["detail"].startswith(
        "sample: title: the expression 'a.b' found nothing in the body")
    good = httpx.put(f"{url}/api/v1/integrations/hook2", headers=api, timeout=30,
                     json={"kind": "generic", "mapping": {"title": "a.b"}, "sample": {"a": {"b": "x"}}})
    assert good.status_code == 200, good.text
    made = send(url, {"a": {"b": "From the API"}}, name="hook2", key=good.json()["key"])
    assert made.status_code == 200 and made.json()["incidents"][0]["status"] == "triggered"


@pytest.mark.parametrize("payload", [body(), b"not json", {"monitor": {}}], ids=["good", "not-json", "unreadable"])
def test_a_revoked_file_key_is_refused_whatever_the_body(url, herald, payload):
    """The file's key is checked in the same round trip as the group's read: revoked, it is a
    401 before anything is written or any body problem is reported."""
    revoked = httpx.delete(f"{url}/api/v1/integrations/uptime/keys/file", headers={"Authorization": f"Bearer {API_TOKEN}"},
                           timeout=30)
    assert revoked.status_code == 200, revoked.text
    answer = send(url, payload)
    assert answer.status_code == 401, answer.text
    assert herald.store.list(limit=10) == []
