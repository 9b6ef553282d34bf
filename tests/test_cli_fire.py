"""``herald fire``: a test alert that starts now, posted with the configured credential
to a real ``herald serve`` + ``herald worker`` — a new incident every time it fires
after a resolve (the fixed example payload was a stale copy by then), ``--resolve``
resolving the one fired last, and a clear error for every wrong input."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import httpx
import pytest

from service.dev.local_redis import free_port, start_redis
from routing.alertmanager import WebhookPayload
from routing.grouping import group_of
from routing.routes import Route
from routing.severity import SEVERITIES, SeverityMapping
from service.cli.main import main
from service.cli.fire import FireError, fire_payload
from tests.herald_env import AM_TOKEN, API_TOKEN
from tests.processes import Proc, api_and_worker, page_entries, wait_for

pytestmark = pytest.mark.slow
API = {"Authorization": f"Bearer {API_TOKEN}"}


class Herald:
    def __init__(self, url: str, worker: Proc) -> None:
        self.url, self.worker = url, worker

    def incident(self, incident_id: str) -> dict:
        r = httpx.get(f"{self.url}/api/v1/incidents/{incident_id}", headers=API, timeout=10)
        assert r.status_code == 200, r.text
        return r.json()

    def pages(self, incident_id: str) -> list[dict]:
        return page_entries(self.url, incident_id, API)


@pytest.fixture(scope="module")
def herald(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fire")
    server = start_redis(tmp / "redis", appendonly=False)
    try:
        with api_and_worker(tmp, server.url, delay="1h", HERALD_SWEEP_INTERVAL="1",
                            HERALD_RATE_LIMIT_SMS="0") as (url, _api, worker):  # no bundling: each page now
            yield Herald(url, worker)
    finally:
        server.stop()


@pytest.fixture
def env(herald, monkeypatch):
    """The second shell of ``make run``: the instance's URL and Alertmanager token."""
    monkeypatch.setenv("HERALD_PUBLIC_URL", herald.url)
    monkeypatch.setenv("HERALD_ALERTMANAGER_TOKEN", AM_TOKEN)
    monkeypatch.delenv("HERALD_CONFIG", raising=False)  # herald fire needs no configuration file
    return herald


def fired(capsys) -> tuple[str, str]:
    """(incident id, status) from ``herald fire``'s first line."""
    out = capsys.readouterr().out
    words = out.split("incident ", 1)[1].split()
    return words[0], words[2]


def test_fire_pages_resolve_resolves_and_firing_again_opens_a_new_incident(env, capsys):
    before = datetime.now(timezone.utc)
    assert main(["fire", "DiskAlmostFull"]) == 0
    first, status = fired(capsys)
    assert status == "triggered"
    incident = env.incident(first)
    assert incident["severity"] == "P1"
    [alert] = incident["alerts"].values()
    assert datetime.fromisoformat(alert["starts_at"].replace("Z", "+00:00")) >= before - timedelta(seconds=1)
    [page] = wait_for(lambda: env.pages(first), 30, "the first page", env.worker)
    assert (page["person"], page["tier"]) == ("alice", "L1")

    assert main(["fire", "DiskAlmostFull", "--resolve"]) == 0
    assert fired(capsys) == (first, "resolved")
    assert env.incident(first)["status"] == "resolved"

    assert main(["fire", "DiskAlmostFull"]) == 0  # the example payload, re-sent now, would page nobody
    second, status = fired(capsys)
    assert second != first and status == "triggered"
    wait_for(lambda: env.pages(second), 30, "the second incident's page", env.worker)


def test_firing_again_while_open_pages_nobody_twice_and_severity_is_any_case(env, capsys):
    assert main(["fire", "QueueBacklog", "--severity", "p2"]) == 0
    first, _ = fired(capsys)
    assert env.incident(first)["severity"] == "P2"
    wait_for(lambda: env.pages(first), 30, "the page", env.worker)
    assert main(["fire", "QueueBacklog", "--severity", "P2"]) == 0
    assert fired(capsys) == (first, "triggered")  # the same alert: still the one incident
    # A different alert (another name) in the meantime is paged: once it has been, the
    # worker has also had every chance to page the first incident twice.
    assert main(["fire", "SomethingElse"]) == 0
    other, _ = fired(capsys)
    wait_for(lambda: env.pages(other), 30, "the other incident's page", env.worker)
    assert len(env.pages(first)) == 1


def test_resolve_needs_the_same_labels(env, capsys):
    assert main(["fire", "Latency", "--label", "service=db"]) == 0
    out = capsys.readouterr().out
    incident_id = out.split("incident ", 1)[1].split()[0]
    assert "resolve it with: herald fire Latency --label service=db --resolve" in out
    assert main(["fire", "Latency", "--resolve"]) == 0  # another alert (no service label)
    capsys.readouterr()
    assert env.incident(incident_id)["status"] == "triggered"
    assert main(["fire", "Latency", "--label", "service=db", "--resolve"]) == 0
    assert env.incident(incident_id)["status"] == "resolved"


def test_wrong_credential_unreachable_instance_and_bad_input_are_named(env, monkeypatch, capsys):
    monkeypatch.setenv("HERALD_ALERTMANAGER_TOKEN", "not-the-token")
    assert main(["fire"]) == 1
    err = capsys.readouterr().err
    assert "401" in err and "HERALD_ALERTMANAGER_TOKEN" in err and "not-the-token" not in err

    monkeypatch.setenv("HERALD_ALERTMANAGER_TOKEN", AM_TOKEN)
    nobody = f"http://127.0.0.1:{free_port()}"
    assert main(["fire", "--url", nobody]) == 1
    assert f"no answer from Herald at {nobody}" in capsys.readouterr().err
    assert main(["fire", "--url", "herald.example"]) == 2
    assert "--url 'herald.example'" in capsys.readouterr().err
    assert main(["fire", "--label", "service"]) == 2
    assert "--label 'service': use NAME=VALUE" in capsys.readouterr().err
    assert main(["fire", "--label", "severity=critical"]) == 2
    assert "--severity" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:
        main(["fire", "--severity", "P7"])
    assert exited.value.code == 2 and "'P7': choose one of P0, P1, P2, P3" in capsys.readouterr().err

    monkeypatch.delenv("HERALD_ALERTMANAGER_TOKEN")
    assert main(["fire"]) == 2
    assert "HERALD_ALERTMANAGER_TOKEN is not set" in capsys.readouterr().err


# -- the payload, as Herald's own parser and severity mapping read it -------------------------
@pytest.mark.parametrize("mapping", [SeverityMapping(), SeverityMapping(priority_label="")],
                         ids=["priority label", "severity label only"])
def test_the_payload_is_a_v4_webhook_with_the_severity_asked_for(mapping):
    now = datetime.now(timezone.utc)
    for severity in SEVERITIES[1:]:
        payload = WebhookPayload.model_validate(fire_payload("X", severity, now=now, mapping=mapping))
        assert group_of(payload, Route(policy="default"), mapping).severity == severity
        [alert] = payload.alerts
        assert alert.status == "firing" and alert.starts_at == now.replace(microsecond=now.microsecond // 1000 * 1000)
    resolved = fire_payload("X", now=now + timedelta(minutes=1), resolve=True, mapping=mapping)
    fired_first = fire_payload("X", now=now, mapping=mapping)
    assert resolved["alerts"][0]["fingerprint"] == fired_first["alerts"][0]["fingerprint"]
    assert resolved["groupKey"] == fire_payload("X", "P3", now=now, mapping=mapping)["groupKey"]
    assert resolved["status"] == resolved["alerts"][0]["status"] == "resolved"


def test_a_severity_the_configuration_cannot_express_is_refused():
    mapping = SeverityMapping(priority_label="")  # critical -> P1, warning -> P2, info -> P3, default P2
    with pytest.raises(FireError, match="maps no 'severity' value to P0"):
        fire_payload("X", "P0", now=datetime.now(timezone.utc), mapping=mapping)
    with pytest.raises(FireError, match="alert name ''"):
        fire_payload("", now=datetime.now(timezone.utc))
