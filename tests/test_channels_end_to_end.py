"""Real paging channels end to end: ``herald serve`` + ``herald worker`` with the real
Twilio and SendGrid SDKs pointed at the provider simulator on loopback, which also
plays the engineer (SMS replies, keypresses) and the carrier (delivery reports)."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass

import httpx
import pytest

from integrations.local_redis import free_port
from integrations.simulator import create_simulator_app
from integrations.simulator_server import ServerThread
from integrations.simulator_state import SimulatorState
from service.devrun import simulator_env
from tests.herald_env import AM_TOKEN, API_TOKEN, env_for, fixture_payload, write_config
from tests.processes import Proc, herald, serve, wait_for

pytestmark = pytest.mark.slow
API = {"Authorization": f"Bearer {API_TOKEN}"}
AM = {"Authorization": f"Bearer {AM_TOKEN}", "Content-Type": "application/json"}
ALICE, BOB = "+15550100001", "+15550100002"


@dataclass
class Stack:
    url: str
    sim_url: str
    sim: SimulatorState
    worker: Proc

    def fire(self, group: str = "g1", alertname: str = "DiskFull") -> str:
        payload = fixture_payload("firing.json")
        payload["groupKey"] = group
        payload["commonAnnotations"] = {}
        payload["commonLabels"]["alertname"] = alertname
        r = httpx.post(f"{self.url}/api/v1/alertmanager", content=json.dumps(payload), headers=AM)
        assert r.status_code == 200, r.text
        return r.json()["incidents"][0]["id"]

    def incident(self, incident_id: str) -> dict:
        return httpx.get(f"{self.url}/api/v1/incidents/{incident_id}", headers=API).json()

    def texts(self, to: str, channel: str = "sms") -> list:
        return [m for m in self.sim.messages_for(to=to, channel=channel) if m.direction == "outbound"]

    def control(self, name: str, **payload) -> httpx.Response:
        r = httpx.post(f"{self.sim_url}/_sim/{name}", json=payload, timeout=10)
        assert r.status_code < 300, r.text
        return r


@pytest.fixture
def stack_factory(tmp_path, redis_url):
    started: list = []

    def start(delay: str = "1h", **extra: str) -> Stack:
        sim_port = free_port()
        sim_url = f"http://127.0.0.1:{sim_port}"
        env = {**env_for(write_config(tmp_path / "conf", delay=delay), redis_url),
               **simulator_env(sim_url, tmp_path / "sg-key.pem"), "HERALD_SWEEP_INTERVAL": "2", **extra}
        api_port = free_port()
        url = f"http://127.0.0.1:{api_port}"
        state = SimulatorState()
        app = create_simulator_app(state, herald_url=url, twilio_auth_token=env["HERALD_TWILIO_AUTH_TOKEN"],
                                   sendgrid_private_key_pem=(tmp_path / "sg-key.pem").read_text())
        sim = ServerThread(app, port=sim_port).start()
        api, url = serve(env, port=api_port)
        worker = herald("worker", env={**env, "HERALD_PUBLIC_URL": url})
        started.extend([sim, api, worker])
        return Stack(url, sim_url, state, worker)

    yield start
    for thing in reversed(started):
        thing.stop()


def test_sms_reply_4_acknowledges_and_stops_escalation(stack_factory):
    stack = stack_factory(delay="4s")
    incident_id = stack.fire()
    [sms] = wait_for(lambda: stack.texts(ALICE), 10, "the SMS to alice", stack.worker)
    assert f"#{incident_id}" in sms.body and "/ack/" in sms.body and len(sms.body) <= 160
    stack.control("reply", **{"from": ALICE, "body": "4"})
    wait_for(lambda: stack.incident(incident_id)["status"] == "acknowledged", 10, "the ack", stack.worker)
    incident = stack.incident(incident_id)
    assert incident["acknowledged_by"] == "alice" and incident["timeline"][-1]["details"]["via"] == "sms"
    answer = [m for m in stack.sim.messages_for(to=ALICE) if "acknowledged" in m.body]
    assert answer, "Herald answers the reply"
    time.sleep(5)  # past L1's window: bob is never paged
    assert stack.texts(BOB) == []


def test_undelivered_sms_moves_to_a_call_at_once_and_a_keypress_acks(stack_factory):
    stack = stack_factory()
    stack.control("fail", channel="sms", mode="undelivered", count=1)
    incident_id = stack.fire()
    [call] = wait_for(lambda: stack.texts(ALICE, "voice"), 15, "the fallback call", stack.worker)
    kinds = [e["kind"] for e in stack.incident(incident_id)["timeline"]]
    assert "delivery_failed" in kinds and "channel_fallback" in kinds
    stack.control("press", call_sid=call.provider_id, digits="4")
    wait_for(lambda: stack.incident(incident_id)["status"] == "acknowledged", 10, "the keypress ack")
    assert stack.incident(incident_id)["timeline"][-1]["details"] == {"by": "alice", "via": "voice"}


def test_provider_outage_is_retried_and_delivered_exactly_once(stack_factory):
    stack = stack_factory()
    stack.control("fail", channel="sms", mode="5xx", count=1)
    incident_id = stack.fire()
    wait_for(lambda: stack.texts(ALICE), 20, "the SMS after the retry", stack.worker)
    time.sleep(3)
    assert len(stack.texts(ALICE)) == 1
    kinds = [e["kind"] for e in stack.incident(incident_id)["timeline"]]
    assert kinds.count("page_retry") == 1 and kinds.count("page") == 1


def test_alert_storm_is_bundled_within_the_rate_limit(stack_factory):
    window = 4
    stack = stack_factory(HERALD_RATE_LIMIT_SMS=str(window))
    started = time.monotonic()
    ids = [stack.fire(group=f"storm-{n}", alertname=f"Storm{n}") for n in range(50)]
    paged = lambda: all(any(e["kind"] == "page" for e in stack.incident(i)["timeline"]) for i in ids)  # noqa: E731
    wait_for(paged, 60, "every incident paged", stack.worker)
    elapsed = time.monotonic() - started
    texts = stack.texts(ALICE)
    assert len(texts) <= elapsed // window + 1 and len(texts) < 10
    assert any("new incidents" in t.body for t in texts)
    stack.control("reply", **{"from": ALICE, "body": f"4 {ids[7]}"})  # every incident reachable by code
    wait_for(lambda: stack.incident(ids[7])["status"] == "acknowledged", 10, "ack by code")
    stack.control("reply", **{"from": ALICE, "body": f"6 {ids[8]}"})
    wait_for(lambda: stack.incident(ids[8])["status"] == "resolved", 10, "resolve by code")
