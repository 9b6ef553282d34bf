"""Secrets never appear in logs, error messages or API output. One real run — ``herald
serve`` and ``herald worker`` at DEBUG log level, the provider simulator demanding the
real credentials — goes through the paths most likely to leak: wrong credentials, bad
signatures, provider errors (4xx, 5xx, hangs), retries, fallbacks, email through the
SendGrid SDK, a calendar polled from a secret URL, a feed token, a handoff whose note
names a phone number and an address, an ack link opened, every read API and the docs.
Then each credential is looked for in everything the processes printed and everything
the API answered; and the things that are secret in a log line though an admin may be
shown them — every ack token that went out in a page, the calendar's secret URL, the
feed token, every person's phone number and email address — in everything the
processes printed."""
from __future__ import annotations

import io
import json
import logging
import re
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from service.dev.local_redis import free_port, start_redis
from integrations.notifier import OutboundPage
from integrations.sendgrid_notify import SendGridNotifier
from service.dev.simulator.app import create_simulator_app
from service.dev.simulator.server import ServerThread
from service.dev.simulator.state import SimulatorState
from integrations.twilio_notify import TwilioNotifier
from integrations.calendar_sources import fetch_url
from service.dev.run import simulator_env
from service.telemetry.logs import QUIET_LOGGERS, configure_logging
from tests.calendar_env import calendar_server
from tests.herald_env import env_for, fixture_payload, weekly_calendar, write_config
from tests.processes import herald, serve, wait_for

SECRETS = {
    "api token": "api-SECRET-4f1d2c3b4a5968778695a4b3",
    "scoped api token": "scoped-SECRET-0a1b2c3d4e5f60718293",
    "alertmanager token": "am-SECRET-9e8d7c6b5a4f3e2d1c0b",
    "twilio auth token": "twilio-SECRET-7c6b5a49382716aa",
    "sendgrid key": "SG.sendgrid-SECRET-5f4e3d2c1b0a99",
    "slack bot token": "xoxb-slack-SECRET-3e2d1c0b9a8f7e",
    "slack signing secret": "slack-signing-SECRET-8a7b6c5d4e3f",
}
#: A Google-style secret calendar address: the path is the credential.
CALENDAR_PATH = "/calendar/ical/team%40group.calendar.google.com/private-CALSECRET0f9e8d7c6b5a4/basic.ics"
#: Everyone's phone number and email address in the run's configuration (tests/herald_env.py)
#: plus Frank, who has only an email address, so his handoff notice goes through SendGrid.
CONTACTS = {"alice": ("+15550100001", "alice@example.com"), "bob": ("+15550100002", "bob@example.com"),
            "erin": ("+15550100004", "erin@example.com"), "dave": ("+15550100005", "dave@example.com"),
            "frank": (None, "frank@example.com")}
ACK_TOKEN = re.compile(r"/ack/([A-Za-z0-9_-]{16,})")


@dataclass
class Run:
    logs: str  # everything herald serve and herald worker printed
    answers: str  # everything the API answered
    ack_tokens: list[str]  # every ack token that went out in an SMS, a call or an email
    feed_token: str


def _expect(response: httpx.Response, status: int, what: str) -> str:
    """A setup step's answer, checked: a failure says which step went wrong and how."""
    assert response.status_code == status, f"{what}: expected {status}, got {response.status_code}: {response.text}"
    return response.text


def _timeline_kinds(url: str, incident_id: str, headers: dict[str, str]) -> list[str]:
    answer = httpx.get(f"{url}/api/v1/incidents/{incident_id}", headers=headers)
    _expect(answer, 200, f"GET incident {incident_id}")
    return [entry["kind"] for entry in answer.json()["timeline"]]


def _run_config(directory, calendar_url: str):
    """tests/herald_env.py's configuration, plus Frank (email only), a schedule polled from a
    secret URL, and email beside SMS for L2 (Bob)."""
    config = write_config(directory, delay="1h")
    text = config.read_text()
    text = text.replace("people:\n", "people:\n  - {id: frank, name: Frank Fischer, email: frank@example.com}\n", 1)
    text = text.replace("schedules:\n", f"schedules:\n  - {{name: remote, url: '{calendar_url}', poll_interval: 1s, "
                                          "default_tier: L1}\n", 1)
    text = text.replace("schedule: backup, channels: {P1: [sms], P2: [sms]}",
                        "schedule: backup, channels: {P1: [sms, email], P2: [sms, email]}")
    config.write_text(text + "slack: {channel: '#incidents'}\n")  # every change goes to Slack too
    return config


@pytest.fixture(scope="module")
def leaked(tmp_path_factory) -> Run:
    """Everything a real run printed or answered, and the secrets it handed out.

    The tiers have an hour to acknowledge, so nothing escalates on a timer during the
    run: the two injected SMS failures meet Alice's one page, in order, however long the
    worker takes to start. (With 2 s, a worker slower than that to start sent Alice's
    and Bob's SMS at once, the failures were dealt out between them, and Bob's timed-out
    SMS was cancelled by the reassignment before its retry was noted: no page_retry.)
    Escalation is asked for through the API instead."""
    tmp = tmp_path_factory.mktemp("secrets")
    server = start_redis(tmp / "redis", appendonly=False)
    calendars = calendar_server(weekly_calendar("r1", "alice@example.com", "Alice Adams").encode())
    remote = calendars.__enter__()
    calendar_url = remote.url.split("/secret-token/")[0] + CALENDAR_PATH
    sim_port, api_port = free_port(), free_port()
    url = f"http://127.0.0.1:{api_port}"
    env = {**env_for(_run_config(tmp / "conf", calendar_url), server.url, url),
           **simulator_env(f"http://127.0.0.1:{sim_port}", tmp / "sg-key.pem"),
           "HERALD_API_TOKEN": SECRETS["api token"], "HERALD_API_TOKENS": f"bot:write:{SECRETS['scoped api token']}",
           "HERALD_ALERTMANAGER_TOKEN": SECRETS["alertmanager token"],
           "HERALD_TWILIO_AUTH_TOKEN": SECRETS["twilio auth token"], "HERALD_SENDGRID_API_KEY": SECRETS["sendgrid key"],
           "HERALD_SLACK_BOT_TOKEN": SECRETS["slack bot token"],
           "HERALD_SLACK_SIGNING_SECRET": SECRETS["slack signing secret"],
           "HERALD_LOG_LEVEL": "DEBUG", "HERALD_PROVIDER_TIMEOUT": "1", "HERALD_SWEEP_INTERVAL": "1",
           "HERALD_RATE_LIMIT_SMS": "0", "HERALD_RATE_LIMIT_VOICE": "0"}
    state = SimulatorState()
    sim = ServerThread(create_simulator_app(state, herald_url=url, twilio_auth_token=SECRETS["twilio auth token"],
                                            sendgrid_api_key=SECRETS["sendgrid key"],
                                            sendgrid_private_key_pem=(tmp / "sg-key.pem").read_text(),
                                            slack_token=SECRETS["slack bot token"],
                                            slack_signing_secret=SECRETS["slack signing secret"]),
                       port=sim_port).start()
    api, _ = serve(env, port=api_port)
    worker = herald("worker", env=env)
    answers: list[str] = []
    feed_token = ""
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
        answers.append(_expect(httpx.post(f"{url}/webhooks/slack/commands", data={"user_id": "U1", "text": "oncall"},
                                          headers={"X-Slack-Signature": "v0=forged",
                                                   "X-Slack-Request-Timestamp": str(int(time.time()))}),
                               401, "a forged Slack command"))
        wait_for(lambda: state.messages_for(channel="voice"), 30, "the fallback call", worker)
        wait_for(lambda: state.messages_for(to="#incidents", channel="slack"), 30, "the incident posted to Slack", worker)
        kinds = _timeline_kinds(url, incident_id, admin)
        assert "page_retry" in kinds and "channel_fallback" in kinds, f"Alice's SMS did not retry, then fail over: {kinds}"
        state.inject("email", "5xx", 2)
        answers.append(_expect(httpx.post(f"{url}/api/v1/incidents/{incident_id}/escalate", headers=admin), 200,
                               "escalating the incident"))
        # Bob's SMS first: a reassignment cancels the pages still pending, and on a busy
        # machine his could still be waiting for the worker.
        wait_for(lambda: state.messages_for(to="+15550100002", channel="sms"), 30, "the SMS to Bob", worker)
        answers.append(_expect(httpx.post(f"{url}/api/v1/incidents/{incident_id}/reassign", json={"person": "erin"},
                                          headers=admin), 200, "reassigning the incident to Erin"))
        wait_for(lambda: state.messages_for(to="+15550100004", channel="sms"), 30, "the SMS to Erin", worker)
        now = datetime.now(timezone.utc)
        window = f"from={now - timedelta(days=1):%Y-%m-%dT%H:%M:%SZ}&to={now + timedelta(days=1):%Y-%m-%dT%H:%M:%SZ}"
        for path in ("/api/v1/incidents", f"/api/v1/incidents/{incident_id}", "/readyz", "/openapi.json", "/docs",
                     "/api/v1/schedules", "/api/v1/oncall", "/api/v1/heartbeats",
                     f"/api/v1/reports/sla?{window}"):
            answers.append(_expect(httpx.get(f"{url}{path}", headers=admin), 200, f"GET {path}"))
        answers.append(_expect(httpx.get(f"{url}/api/v1/incidents/{incident_id}",
                                         headers={"Authorization": f"Bearer {SECRETS['scoped api token']}"}),
                               200, "the incident, read with the scoped token"))
        wait_for(lambda: len(remote.requests) >= 2, 30, "the secret calendar URL polled", worker)
        note = f"call Bob on {CONTACTS['bob'][0]} or {CONTACTS['bob'][1]}"
        handoff = httpx.post(f"{url}/api/v1/handoffs", headers=admin,
                             json={"schedule": "primary", "tier": "L1", "to": "frank", "note": note})
        answers.append(_expect(handoff, 201, "a handoff to Frank whose note names Bob's contacts"))
        wait_for(lambda: state.messages_for(to="frank@example.com", channel="email"), 30,
                 "the handoff notice to Frank by email", worker)
        paged_by_email = lambda: [m for m in state.messages_for(channel="email") if ACK_TOKEN.search(m.text)]  # noqa: E731
        wait_for(paged_by_email, 60, "a page by email (L2's second channel), after SendGrid's two 5xx", worker)
        feed = httpx.post(f"{url}/api/v1/feeds", headers=admin, json={"schedule": "primary"})
        answers.append(_expect(feed, 201, "a feed token"))
        feed_token = feed.json()["token"]
        _expect(httpx.get(f"{url}/api/v1/schedules/primary.ics", params={"token": feed_token}), 200,
                "the feed, opened with its token")
        for path in ("/api/v1/handoffs", "/api/v1/oncall", "/api/v1/oncall/primary", "/api/v1/schedules/primary/shifts"):
            answers.append(_expect(httpx.get(f"{url}{path}", headers=admin), 200, f"GET {path}"))
        link = ACK_TOKEN.search(paged_by_email()[0].text)
        _expect(httpx.get(f"{url}/ack/{link[1]}"), 200, "the ack page of the emailed link")  # GET shows, changes nothing
    finally:
        worker.stop()
        api.stop()
        sim.stop()
        server.stop()
        calendars.__exit__(None, None, None)
    sent = " ".join(f"{m.body} {m.twiml} {m.text} {m.html}" for m in state.messages_for())
    return Run(logs="\n".join([api.output(), worker.output()]), answers="\n".join(answers),
               ack_tokens=sorted(set(ACK_TOKEN.findall(sent))), feed_token=feed_token)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(SECRETS))
def test_secret_never_printed_or_answered(leaked, name):
    everything = leaked.logs + leaked.answers
    assert "DEBUG" in everything and "channel_fallback" in everything and "page_retry" in everything  # verbose, failed over
    assert SECRETS[name] not in everything
    assert SECRETS[name][-12:] not in everything  # nor a recognisable part of it


def _log_secrets(run: Run) -> dict[str, str]:
    """What no log line may carry, by a name that says what it is."""
    found = {f"ack token {i}": token for i, token in enumerate(run.ack_tokens)}
    found["calendar secret URL path"] = CALENDAR_PATH
    found["calendar secret part"] = "private-CALSECRET0f9e8d7c6b5a4"
    found["feed token"] = run.feed_token
    for person, (phone, email) in CONTACTS.items():
        if phone:
            found[f"{person}'s phone"] = phone
            found[f"{person}'s phone without +"] = phone.lstrip("+")
        found[f"{person}'s email"] = email
    return found


@pytest.mark.slow
def test_no_ack_token_secret_url_or_contact_in_any_log_line(leaked):
    """At DEBUG, through SMS, calls and SendGrid email, a calendar polled from its secret
    URL, a feed and a handoff note: none of them in what the processes printed."""
    assert "DEBUG" in leaked.logs  # verbose: every logger that would print a payload did
    assert len(leaked.ack_tokens) >= 3, "the run sent fewer pages than it should have"
    assert leaked.feed_token
    secrets = _log_secrets(leaked)
    shown = {what: value for what, value in secrets.items() if value in leaked.logs}
    lines = [line for line in leaked.logs.splitlines() if any(v in line for v in shown.values())]
    assert not shown, f"in the logs: {sorted(shown)}; e.g. {lines[:3]}"


def test_herald_logging_redacts_what_another_logger_prints(tmp_path, redis_url, monkeypatch, request):
    """The filter on Herald's root handler, not each logger's good manners: a library
    logger an operator turned up to DEBUG (httpx, fetching a calendar from its secret URL
    as Herald starts), and lines that carry an ack link, a feed token, a person's phone
    number and email address, are written redacted. The edge: the same in JSON lines and
    in an exception's text. A line with none of them is written as it was."""
    from service.engine.runtime import Herald
    from service.settings import Settings

    root = logging.getLogger()
    saved = root.handlers[:], root.level, {name: logging.getLogger(name).level for name in QUIET_LOGGERS}

    def restore() -> None:  # Herald's logging set-up is undone for the tests after this one
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        for name, level in saved[2].items():
            logging.getLogger(name).setLevel(level)

    request.addfinalizer(restore)
    with calendar_server(weekly_calendar("r1", "alice@example.com", "Alice Adams").encode()) as remote:
        secret_url = remote.url.split("/secret-token/")[0] + CALENDAR_PATH
        for key, value in env_for(_run_config(tmp_path / "conf", secret_url), redis_url).items():
            monkeypatch.setenv(key, value)
        for fmt in ("plain", "json"):
            stream = io.StringIO()
            configure_logging(fmt, "DEBUG", stream=stream)
            logging.getLogger("httpx").setLevel(logging.DEBUG)
            try:
                herald = Herald.from_settings(Settings())  # fetches the calendar from its URL
                herald.close()
                fetch_url(secret_url, etag=None, last_modified=None, timeout=5, max_bytes=100_000)
                other = logging.getLogger("some.library")
                other.info("POST https://herald.example/ack/Zm9vYmFyYmF6cXV4cXV1eDEy%s", "34 ok")
                other.debug("feed https://herald.example/api/v1/schedules/primary.ics?token=feedSECRET123456&x=1")
                other.warning("texted %s and mailed %s", "+15550100002", "Bob@Example.com")
                try:
                    raise ValueError("bad number 15550100001")
                except ValueError:
                    other.exception("failed for frank@example.com")
                other.info("incident 7 acknowledged by alice")
            finally:
                logging.getLogger("httpx").setLevel(logging.WARNING)
            text = stream.getvalue()
            assert "HTTP Request: GET" in text, text  # httpx did log the fetch ...
            for secret in ("private-CALSECRET", "team%40group", "Zm9vYmFyYmF6cXV4cXV1eDEy", "feedSECRET123456",
                           "15550100002", "Bob@Example.com", "15550100001", "frank@example.com"):
                assert secret not in text, f"{fmt}: {secret} in {text}"
            assert "http://127.0.0.1:" in text  # ... with the host kept, to tell sources apart
            assert "incident 7 acknowledged by alice" in text and "ValueError" in text


@pytest.mark.parametrize("mode", ["4xx", "5xx", "timeout", "ok"])
def test_notifiers_never_log_credentials_even_at_debug(caplog, mode):
    """The SDKs' own loggers (twilio, python_http_client, urllib3) at DEBUG, no redaction
    filter of Herald's installed: the notifiers must not hand them a secret."""
    state = SimulatorState()
    app = create_simulator_app(state, twilio_auth_token=SECRETS["twilio auth token"],
                               sendgrid_api_key=SECRETS["sendgrid key"])
    page = OutboundPage(incident_id="7", code="7", round=1, tier="L1", person_id="alice", person_name="Alice",
                        channel="sms", address="+15550100001", severity="P1", title="t", summary="s",
                        ack_url="http://127.0.0.1:9/ack/Zm9vYmFyYmF6cXV4cXV1eDEy")
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
    # The SDKs' request payloads carry the page: its ack link and the person's address.
    for secret in ("Zm9vYmFyYmF6cXV4cXV1eDEy", "+15550100001", "15550100001", "alice@example.com"):
        assert secret not in caplog.text, f"{secret} logged by {sorted({r.name for r in caplog.records})}"
