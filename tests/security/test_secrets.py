"""Secrets never appear in logs, error messages or API output. One real run — ``herald
serve`` and ``herald worker`` at DEBUG log level, the provider simulator demanding the
real credentials — goes through the paths most likely to leak: wrong credentials, bad
signatures, provider errors (4xx, 5xx, hangs), retries, fallbacks, every read API and
the docs. Then each secret is looked for in everything the processes printed and
everything the API answered."""
from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from integrations.local_redis import free_port, start_redis
from integrations.pages import OutboundPage
from integrations.sendgrid_notify import SendGridNotifier
from integrations.simulator import create_simulator_app
from integrations.simulator_server import ServerThread
from integrations.simulator_state import SimulatorState
from integrations.twilio_notify import TwilioNotifier
from service.devrun import simulator_env
from tests.herald_env import env_for, fixture_payload, write_config
from tests.processes import herald, serve, wait_for

SECRETS = {
    "api token": "api-SECRET-4f1d2c3b4a5968778695a4b3",
    "scoped api token": "scoped-SECRET-0a1b2c3d4e5f60718293",
    "alertmanager token": "am-SECRET-9e8d7c6b5a4f3e2d1c0b",
    "twilio auth token": "twilio-SECRET-7c6b5a49382716aa",
    "sendgrid key": "SG.sendgrid-SECRET-5f4e3d2c1b0a99",
}


def _expect(response: httpx.Response, status: int, what: str) -> str:
    """A setup step's answer, checked: a failure says which step went wrong and how."""
    assert response.status_code == status, f"{what}: expected {status}, got {response.status_code}: {response.text}"
    return response.text


def _timeline_kinds(url: str, incident_id: str, headers: dict[str, str]) -> list[str]:
    answer = httpx.get(f"{url}/api/v1/incidents/{incident_id}", headers=headers)
    _expect(answer, 200, f"GET incident {incident_id}")
    return [entry["kind"] for entry in answer.json()["timeline"]]


@pytest.fixture(scope="module")
def leaked(tmp_path_factory) -> str:
    """Everything a real run printed or answered, as one string.

    The tiers have an hour to acknowledge, so nothing escalates on a timer during the
    run: the two injected SMS failures meet Alice's one page, in order, however long the
    worker takes to start. (With 2 s, a worker slower than that to start sent Alice's
    and Bob's SMS at once, the failures were dealt out between them, and Bob's timed-out
    SMS was cancelled by the reassignment before its retry was noted: no page_retry.)
    Escalation is asked for through the API instead."""
    tmp = tmp_path_factory.mktemp("secrets")
    server = start_redis(tmp / "redis", appendonly=False)
    sim_port, api_port = free_port(), free_port()
    url = f"http://127.0.0.1:{api_port}"
    env = {**env_for(write_config(tmp / "conf", delay="1h"), server.url, url),
           **simulator_env(f"http://127.0.0.1:{sim_port}", tmp / "sg-key.pem"),
           "HERALD_API_TOKEN": SECRETS["api token"], "HERALD_API_TOKENS": f"bot:write:{SECRETS['scoped api token']}",
           "HERALD_ALERTMANAGER_TOKEN": SECRETS["alertmanager token"],
           "HERALD_TWILIO_AUTH_TOKEN": SECRETS["twilio auth token"], "HERALD_SENDGRID_API_KEY": SECRETS["sendgrid key"],
           "HERALD_LOG_LEVEL": "DEBUG", "HERALD_PROVIDER_TIMEOUT": "1", "HERALD_SWEEP_INTERVAL": "1",
           "HERALD_RATE_LIMIT_SMS": "0", "HERALD_RATE_LIMIT_VOICE": "0"}
    state = SimulatorState()
    sim = ServerThread(create_simulator_app(state, herald_url=url, twilio_auth_token=SECRETS["twilio auth token"],
                                            sendgrid_api_key=SECRETS["sendgrid key"],
                                            sendgrid_private_key_pem=(tmp / "sg-key.pem").read_text()),
                       port=sim_port).start()
    api, _ = serve(env, port=api_port)
    worker = herald("worker", env=env)
    answers: list[str] = []
    try:
        admin = {"Authorization": f"Bearer {SECRETS['api token']}"}
        am = {"Authorization": f"Bearer {SECRETS['alertmanager token']}", "Content-Type": "application/json"}
        state.inject("sms", "timeout", 1, seconds=2)  # Alice's SMS hangs: retried 5 s later ...
        state.inject("sms", "4xx", 1)  # ... and refused: falls back to a call
        r = httpx.post(f"{url}/api/v1/alertmanager", content=json.dumps(fixture_payload("firing.json")), headers=am)
        answers.append(_expect(r, 200, "the webhook"))
        assert r.json()["status"] == "stored" and len(r.json()["incidents"]) == 1, r.text
        incident_id = r.json()["incidents"][0]["id"]
        for headers in ({"Authorization": "Bearer wrong"}, {"Authorization": "Basic !!!"}, {}):
            answers.append(_expect(httpx.post(f"{url}/api/v1/alertmanager", content=b"{}", headers=headers), 401,
                                   f"a webhook with {headers or 'no credentials'}"))
            answers.append(_expect(httpx.get(f"{url}/api/v1/incidents", headers=headers), 401,
                                   f"the incident list with {headers or 'no credentials'}"))
        answers.append(_expect(httpx.post(f"{url}/webhooks/twilio/sms", data={"Body": "4"},
                                          headers={"X-Twilio-Signature": "forged"}), 403, "a forged Twilio reply"))
        wait_for(lambda: state.messages_for(channel="voice"), 30, "the fallback call", worker)
        kinds = _timeline_kinds(url, incident_id, admin)
        assert "page_retry" in kinds and "channel_fallback" in kinds, f"Alice's SMS did not retry, then fail over: {kinds}"
        state.inject("email", "5xx", 2)
        answers.append(_expect(httpx.post(f"{url}/api/v1/incidents/{incident_id}/escalate", headers=admin), 200,
                               "escalating the incident"))
        answers.append(_expect(httpx.post(f"{url}/api/v1/incidents/{incident_id}/reassign", json={"person": "erin"},
                                          headers=admin), 200, "reassigning the incident to Erin"))
        for person, phone in (("Bob", "+15550100002"), ("Erin", "+15550100004")):
            wait_for(lambda to=phone: state.messages_for(to=to, channel="sms"), 30, f"the SMS to {person}", worker)
        now = datetime.now(timezone.utc)
        window = f"from={now - timedelta(days=1):%Y-%m-%dT%H:%M:%SZ}&to={now + timedelta(days=1):%Y-%m-%dT%H:%M:%SZ}"
        for path in ("/api/v1/incidents", f"/api/v1/incidents/{incident_id}", "/readyz", "/openapi.json", "/docs",
                     "/api/v1/schedules", "/api/v1/oncall", "/api/v1/heartbeats",
                     f"/api/v1/reports/sla?{window}"):
            answers.append(_expect(httpx.get(f"{url}{path}", headers=admin), 200, f"GET {path}"))
        answers.append(_expect(httpx.get(f"{url}/api/v1/incidents/{incident_id}",
                                         headers={"Authorization": f"Bearer {SECRETS['scoped api token']}"}),
                               200, "the incident, read with the scoped token"))
    finally:
        worker.stop()
        api.stop()
        sim.stop()
        server.stop()
    return "\n".join([api.output(), worker.output(), *answers])


@pytest.mark.slow
@pytest.mark.parametrize("name", list(SECRETS))
def test_secret_never_printed_or_answered(leaked, name):
    assert "DEBUG" in leaked and "channel_fallback" in leaked and "page_retry" in leaked  # verbose, and it failed over
    assert SECRETS[name] not in leaked
    assert SECRETS[name][-12:] not in leaked  # nor a recognisable part of it


@pytest.mark.parametrize("mode", ["4xx", "5xx", "timeout", "ok"])
def test_notifiers_never_log_credentials_even_at_debug(caplog, mode):
    """The SDKs' own loggers (twilio, python_http_client, urllib3) at DEBUG, no redaction
    filter of Herald's installed: the notifiers must not hand them a secret."""
    state = SimulatorState()
    app = create_simulator_app(state, twilio_auth_token=SECRETS["twilio auth token"],
                               sendgrid_api_key=SECRETS["sendgrid key"])
    page = OutboundPage(incident_id="7", code="7", step=1, tier="L1", person_id="alice", person_name="Alice",
                        channel="sms", address="+15550100001", severity="P1", title="t", summary="s",
                        ack_url="http://127.0.0.1:9/ack/x")
    with ServerThread(app) as sim, caplog.at_level(logging.DEBUG):
        if mode != "ok":
            for channel in ("sms", "email"):
                state.inject(channel, mode, 1, seconds=2)
        sid = "AC" + "1" * 32
        with TwilioNotifier(sid, SECRETS["twilio auth token"], "+15550009999", sim.url, "http://127.0.0.1:9",
                            timeout=1) as sms:
            result = sms.send(page)
        email = SendGridNotifier(SECRETS["sendgrid key"], "herald@example.com", sim.url, timeout=1)
        mail = email.send(OutboundPage(**{**{f: getattr(page, f) for f in page.__slots__},
                                          "channel": "email", "address": "alice@example.com"}))
        state.reset()
    text = caplog.text + repr(result) + repr(mail)
    assert caplog.records
    for name in ("twilio auth token", "sendgrid key"):
        assert SECRETS[name] not in text
