"""Drills end to end: ``herald serve`` + ``herald worker`` with the real Twilio and
SendGrid SDKs pointed at the provider simulator. The drill pages for real — SMS, call
and email all say DRILL — escalates on the real timers, is acknowledged by an SMS
reply, and its result measures it."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import httpx
import pytest

from service.dev.local_redis import free_port
from service.dev.simulator.app import create_simulator_app
from service.dev.simulator.server import ServerThread
from service.dev.simulator.state import SimulatorState
from service.dev.run import simulator_env
from tests.herald_env import API_TOKEN, env_for, write_config
from tests.processes import herald, serve, wait_for

pytestmark = pytest.mark.slow
API = {"Authorization": f"Bearer {API_TOKEN}"}
ALICE, BOB, ALICE_MAIL = "+15550100001", "+15550100002", "alice@example.com"
DELAY = 4  # seconds each tier has to acknowledge


@pytest.fixture
def stack(tmp_path, redis_url):
    sim_port, api_port = free_port(), free_port()
    sim_url, url = f"http://127.0.0.1:{sim_port}", f"http://127.0.0.1:{api_port}"
    env = {**env_for(write_config(tmp_path / "conf", delay=f"{DELAY}s"), redis_url),
           **simulator_env(sim_url, tmp_path / "sg-key.pem"), "HERALD_SWEEP_INTERVAL": "1",
           "HERALD_RATE_LIMIT_SMS": "0", "HERALD_RATE_LIMIT_VOICE": "0"}
    state = SimulatorState()
    sim = ServerThread(create_simulator_app(state, herald_url=url, twilio_auth_token=env["HERALD_TWILIO_AUTH_TOKEN"],
                                            sendgrid_private_key_pem=(tmp_path / "sg-key.pem").read_text()),
                       port=sim_port).start()
    api, url = serve(env, port=api_port)
    worker = herald("worker", env={**env, "HERALD_PUBLIC_URL": url})
    # The worker is up (its first sweep is in) before a drill is timed: its start-up is no page's latency.
    wait_for(lambda: scheduler_check(url) == "ok", 30, "the worker's first sweep", worker)
    yield url, sim_url, state, worker
    for thing in (worker, api, sim):
        thing.stop()


def scheduler_check(url: str) -> str:
    r = httpx.get(f"{url}/readyz")
    assert r.status_code == 200, r.text
    return r.json()["checks"]["scheduler"]


def outbound(state: SimulatorState, to: str, channel: str) -> list:
    return [m for m in state.messages_for(to=to, channel=channel) if m.direction == "outbound"]


def drill(url: str, severity: str) -> str:
    r = httpx.post(f"{url}/api/v1/drills", json={"policy": "default", "severity": severity}, headers=API)
    assert r.status_code == 201, r.text
    return r.json()["drills"][0]["incident_id"]


def result(url: str, incident_id: str) -> dict:
    r = httpx.get(f"{url}/api/v1/drills/{incident_id}", headers=API)
    assert r.status_code == 200, r.text
    return r.json()


def resolve(url: str, incident_id: str) -> None:
    assert httpx.post(f"{url}/api/v1/incidents/{incident_id}/resolve", headers=API).status_code == 200


def test_a_drill_pages_for_real_says_drill_and_is_measured(stack):
    url, sim_url, state, worker = stack
    began = datetime.now(timezone.utc)
    first = drill(url, "P1")
    [sms] = wait_for(lambda: outbound(state, ALICE, "sms"), 10, "the drill SMS to alice", worker)
    assert sms.body.startswith("DRILL P1 ") and f"#{first}" in sms.body
    [escalated] = wait_for(lambda: outbound(state, BOB, "sms"), DELAY + 10, "the escalation to bob", worker)
    assert escalated.body.startswith("DRILL P1 ")
    r = httpx.post(f"{sim_url}/_sim/reply", json={"from": BOB, "body": "4"}, timeout=10)
    assert r.status_code < 300, r.text
    wait_for(lambda: result(url, first)["acknowledged_by"] == "bob", 10, "bob's acknowledgement", worker)
    resolve(url, first)

    measured = result(url, first)
    assert [(t["tier"], t["outcome"], t["within_window"]) for t in measured["tiers"]] == [
        ("L1", "escalated", False), ("L2", "acknowledged", True)]
    l2_paged = measured["tiers"][1]["paged_after_seconds"]
    assert 0 < measured["time_to_first_page_seconds"] < l2_paged  # L1's page went out before the escalation
    assert DELAY <= l2_paged <= measured["time_to_acknowledge_seconds"] <= measured["time_to_resolve_seconds"]
    assert measured["acknowledged_tier"] == "L2" and measured["status"] == "resolved"
    assert measured["sla"] == {"acknowledge_within_seconds": DELAY, "met": False}  # L1 let it escalate

    second = drill(url, "P0")  # P0: a call and an SMS to L1 and L2 at once
    call = wait_for(lambda: outbound(state, ALICE, "voice"), 10, "the drill call to alice", worker)[0]
    assert "This is a drill." in call.twiml
    wait_for(lambda: [m for m in outbound(state, BOB, "sms") if f"#{second}" in m.body], 10, "bob's P0 SMS", worker)
    assert all(m.body.startswith("DRILL P0 ") for m in outbound(state, BOB, "sms") if f"#{second}" in m.body)
    resolve(url, second)

    third = drill(url, "P3")  # P3: email
    [mail] = wait_for(lambda: outbound(state, ALICE_MAIL, "email"), 10, "the drill email", worker)
    assert mail.subject.startswith("[DRILL] [P3]") and "THIS IS A DRILL" in mail.text
    resolve(url, third)

    listed = httpx.get(f"{url}/api/v1/drills", headers=API)
    assert listed.status_code == 200, listed.text
    assert [d["incident_id"] for d in listed.json()["drills"]] == [third, second, first]
    report = httpx.get(f"{url}/api/v1/reports/sla", headers=API, params={  # a range around this test's drills
        "from": (began - timedelta(hours=1)).isoformat(),
        "to": (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat()})
    assert report.status_code == 200, report.text
    assert report.json()["drills"]["total"]["incidents"] == 3 and report.json()["incidents"]["total"]["incidents"] == 0
