"""Real paging channels end to end: ``herald serve`` + ``herald worker`` with the real
Twilio and SendGrid SDKs pointed at the provider simulator on loopback, which also
plays the engineer (SMS replies, keypresses) and the carrier (delivery reports).

One stack serves the module: P2 (``severity: warning``) escalates after ``P2_DELAY``,
everything else after an hour; at most one SMS per person per ``WINDOW``. Every test
starts from an empty incident store, no rate windows held and an empty simulator."""
from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

import httpx
import pytest

from integrations import keys
from service.dev.local_redis import start_redis
from service.dev.simulator.app import create_simulator_app
from service.dev.simulator.server import ServerThread
from service.dev.simulator.state import SimulatorState
from service.dev.run import simulator_env
from tests.herald_env import AM_TOKEN, API_TOKEN, env_for, fixture_payload, write_config
from tests.processes import (Proc, job_ran, redis_client, reset_state, serve_with_worker, stop_all, wait_for,
                             wait_idle, wait_timer)

pytestmark = pytest.mark.slow
API = {"Authorization": f"Bearer {API_TOKEN}"}
AM = {"Authorization": f"Bearer {AM_TOKEN}", "Content-Type": "application/json"}
ALICE, BOB = "+15550100001", "+15550100002"
P2_DELAY = 3  # seconds L1 has to acknowledge a P2 page
WINDOW = 2  # HERALD_RATE_LIMIT_SMS: at most one SMS per person per this many seconds


@dataclass
class Stack:
    url: str
    sim_url: str
    sim: SimulatorState
    worker: Proc
    redis_url: str

    def fire(self, group: str = "g1", alertname: str = "DiskFull", severity: str = "critical",
             client: httpx.Client | None = None) -> str:
        payload = fixture_payload("firing.json")
        payload["groupKey"] = group
        payload["commonAnnotations"] = {}
        payload["commonLabels"]["alertname"] = alertname
        payload["commonLabels"]["severity"] = payload["alerts"][0]["labels"]["severity"] = severity
        r = (client or httpx).post(f"{self.url}/api/v1/alertmanager", content=json.dumps(payload), headers=AM,
                                   timeout=10)
        assert r.status_code == 200, r.text
        return r.json()["incidents"][0]["id"]

    def incident(self, incident_id: str) -> dict:
        r = httpx.get(f"{self.url}/api/v1/incidents/{incident_id}", headers=API, timeout=10)
        assert r.status_code == 200, r.text
        return r.json()

    def texts(self, to: str, channel: str = "sms") -> list:
        return [m for m in self.sim.messages_for(to=to, channel=channel) if m.direction == "outbound"]

    def control(self, name: str, **payload) -> httpx.Response:
        r = httpx.post(f"{self.sim_url}/_sim/{name}", json=payload, timeout=10)
        assert r.status_code < 300, r.text
        return r


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("channels")
    server = start_redis(tmp / "redis", appendonly=False)
    config = write_config(tmp / "conf", delay="1h")
    text = config.read_text()
    assert text.count("P2: 1h") == 1
    config.write_text(text.replace("P2: 1h", f"P2: {P2_DELAY}s"))
    key_file = tmp / "sg-key.pem"
    state = SimulatorState()
    env = {**env_for(config, server.url), **simulator_env("http://127.0.0.1:9", key_file),
           "HERALD_SWEEP_INTERVAL": "1", "HERALD_RATE_LIMIT_SMS": str(WINDOW)}
    # The simulator binds its port at once; it learns where to call Herald back once the
    # API is up on a free port of its own.
    sim = ServerThread(create_simulator_app(state, twilio_auth_token=env["HERALD_TWILIO_AUTH_TOKEN"],
                                            sendgrid_private_key_pem=key_file.read_text())).start()
    try:
        sim_url = sim.url
        env.update(simulator_env(sim_url, key_file))
        api, url, worker = serve_with_worker(env)
        sim.app.state.callback_sender.herald_url = url
        try:
            yield Stack(url, sim_url, state, worker, server.url)
        finally:
            stop_all(worker, api)
    finally:
        sim.stop()
        server.stop()


@pytest.fixture
def stack(running: Stack) -> Stack:
    reset_state(running.redis_url)
    running.sim.reset()
    return running


def test_sms_reply_4_acknowledges_and_stops_escalation(stack):
    incident_id = stack.fire(severity="warning")  # P2: bob's turn comes after P2_DELAY
    [sms] = wait_for(lambda: stack.texts(ALICE), 10, "the SMS to alice", stack.worker)
    assert f"#{incident_id}" in sms.body and "/ack/" in sms.body and len(sms.body) <= 160
    stack.control("reply", **{"from": ALICE, "body": "4"})
    wait_for(lambda: stack.incident(incident_id)["status"] == "acknowledged", 10, "the ack", stack.worker)
    incident = stack.incident(incident_id)
    assert incident["acknowledged_by"] == "alice" and incident["timeline"][-1]["details"]["via"] == "sms"
    round_at_ack = incident["round"]  # 1, unless a loaded machine let L1's window run out first
    answer = [m for m in stack.sim.messages_for(to=ALICE) if "acknowledged" in m.body]
    assert answer, "Herald answers the reply"
    # L1's escalation timer fires after the ack, and all it started is done: bob is never paged.
    wait_timer(stack.redis_url, incident_id, round_at_ack, proc=stack.worker)
    wait_idle(stack.redis_url, proc=stack.worker)
    assert stack.incident(incident_id)["round"] == round_at_ack
    assert round_at_ack > 1 or stack.texts(BOB) == []


def test_undelivered_sms_moves_to_a_call_at_once_and_a_keypress_acks(stack):
    stack.control("fail", channel="sms", mode="undelivered", count=1)
    incident_id = stack.fire()
    [call] = wait_for(lambda: stack.texts(ALICE, "voice"), 15, "the fallback call", stack.worker)
    kinds = [e["kind"] for e in stack.incident(incident_id)["timeline"]]
    assert "delivery_failed" in kinds and "channel_fallback" in kinds
    stack.control("press", call_sid=call.provider_id, digits="4")
    wait_for(lambda: stack.incident(incident_id)["status"] == "acknowledged", 10, "the keypress ack")
    assert stack.incident(incident_id)["timeline"][-1]["details"] == {"by": "alice", "via": "voice"}


def test_provider_outage_is_retried_and_delivered_exactly_once(stack):
    stack.control("fail", channel="sms", mode="5xx", count=1)
    incident_id = stack.fire()
    wait_for(lambda: stack.texts(ALICE), 20, "the SMS after the retry", stack.worker)
    [retry] = [e["details"] for e in stack.incident(incident_id)["timeline"] if e["kind"] == "page_retry"]
    # The retry's entry in the due index (the incident, due at the retry time) was handed
    # to RQ and its job has run, and all it started is done: the page went out once.
    due = datetime.fromisoformat(retry["next_try"]).timestamp()
    client = redis_client(stack.redis_url)
    try:
        job = keys.job_id("due", keys.due_incident(incident_id), int(due * 1000))
        wait_for(lambda: job_ran(client, job), 30, "the retry's job", stack.worker)
    finally:
        client.close()
    wait_idle(stack.redis_url, proc=stack.worker)
    assert len(stack.texts(ALICE)) == 1
    kinds = [e["kind"] for e in stack.incident(incident_id)["timeline"]]
    assert kinds.count("page_retry") == 1 and kinds.count("page") == 1


def test_alert_storm_is_bundled_within_the_rate_limit(stack):
    with httpx.Client(timeout=30) as client, ThreadPoolExecutor(max_workers=8) as pool:
        ids = list(pool.map(lambda n: stack.fire(group=f"storm-{n}", alertname=f"Storm{n}", client=client), range(50)))
        assert len(set(ids)) == 50
        seen: dict[str, list[str]] = {}  # incident -> the provider ids of its pages, once paged

        def every_incident_paged() -> bool:
            for incident_id in (i for i in ids if i not in seen):
                r = client.get(f"{stack.url}/api/v1/incidents/{incident_id}", headers=API)
                assert r.status_code == 200, r.text
                sent = [e["details"]["provider_id"] for e in r.json()["timeline"] if e["kind"] == "page"]
                if not sent:
                    return False
                seen[incident_id] = sent
            return True

        wait_for(every_incident_paged, 60, "every incident paged", stack.worker, interval=0.25)
    texts = stack.texts(ALICE)
    # Never two SMS within the window (the simulator's own clock: each message is received
    # while its send runs, and the window starts when that send is done).
    gaps = [b.time - a.time for a, b in zip(texts, texts[1:])]
    assert all(gap >= WINDOW for gap in gaps), gaps
    # Bundled: each incident's page is in exactly one of these messages, most carry several.
    assert all(len(sent) == 1 for sent in seen.values()), seen
    assert {p for sent in seen.values() for p in sent} == {t.provider_id for t in texts}
    assert len(texts) < len(ids) and any("new incidents" in t.body for t in texts)
    stack.control("reply", **{"from": ALICE, "body": f"4 {ids[7]}"})  # every incident reachable by code
    wait_for(lambda: stack.incident(ids[7])["status"] == "acknowledged", 10, "ack by code")
    stack.control("reply", **{"from": ALICE, "body": f"6 {ids[8]}"})
    wait_for(lambda: stack.incident(ids[8])["status"] == "resolved", 10, "resolve by code")
