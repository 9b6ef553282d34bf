"""Outgoing webhooks end to end: real ``herald serve`` and ``herald worker`` processes,
the provider simulator's receiver (``/_sim/webhooks``, verifying with the
``standardwebhooks`` package), one endpoint that refuses connections and one that
accepts and never answers. Pages go out while the silent endpoint still holds its
request; the receiver gets every event, verified, in order; the deliveries API says
what happened to each endpoint."""
from __future__ import annotations

import socket
import threading

import httpx
import pytest

from service.dev.local_redis import free_port
from service.dev.simulator.app import create_simulator_app
from service.dev.simulator.server import ServerThread
from service.dev.simulator.state import SimulatorState
from tests.herald_env import API_TOKEN
from tests.processes import api_and_worker, incident, wait_for
from tests.webhook_receiver import SECRET

pytestmark = pytest.mark.slow
API = {"Authorization": f"Bearer {API_TOKEN}"}


class Silent:
    """Accepts connections on 127.0.0.1 and never answers: an endpoint that hangs."""

    def __init__(self) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.held: list[socket.socket] = []
        self.stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}"

    def _accept(self) -> None:
        self.listener.settimeout(0.2)
        while not self.stop.is_set():
            try:
                self.held.append(self.listener.accept()[0])
            except OSError:
                continue

    def close(self) -> None:
        self.stop.set()
        for conn in self.held:
            conn.close()
        self.listener.close()


def test_webhooks_follow_a_real_stack_and_never_hold_a_page(tmp_path, redis_url):
    state = SimulatorState()
    silent = Silent()
    refused = f"http://127.0.0.1:{free_port()}"
    with ServerThread(create_simulator_app(state, webhook_secret=SECRET)) as sim:
        suffix = f"""
webhooks:
  - {{name: sim, url: "{sim.url}/_sim/webhooks", secret_env: HERALD_TEST_WEBHOOK_SECRET,
     events: [incident.opened, incident.acknowledged, incident.resolved, page.sent]}}
  - {{name: silent, url: "{silent.url}/hook", secret_env: HERALD_TEST_WEBHOOK_SECRET, timeout: 60s}}
  - {{name: refused, url: "{refused}/hook", secret_env: HERALD_TEST_WEBHOOK_SECRET}}
"""
        try:
            with api_and_worker(tmp_path, redis_url, "1h", suffix,
                                HERALD_TEST_WEBHOOK_SECRET=SECRET) as (url, _api, worker):
                from tests.herald_env import AM_TOKEN, fixture_payload
                import json

                r = httpx.post(f"{url}/api/v1/alertmanager", content=json.dumps(fixture_payload("firing.json")),
                               headers={"Authorization": f"Bearer {AM_TOKEN}"}, timeout=10)
                assert r.status_code == 200, r.text
                incident_id = r.json()["incidents"][0]["id"]
                wait_for(lambda: silent.held, 60, "the silent endpoint's first request", worker)
                page = wait_for(lambda: [e for e in incident(url, incident_id)["timeline"] if e["kind"] == "page"],
                                60, "the L1 page", worker)
                assert page, "no page"
                # The page went out while the silent endpoint still held its request, unanswered:
                assert silent.held and not silent.stop.is_set()
                r = httpx.post(f"{url}/api/v1/incidents/{incident_id}/ack", json={"note": "on it"}, headers=API,
                               timeout=10)
                assert r.status_code == 200, r.text
                wait_for(lambda: [w for w in state.webhooks if w["type"] == "incident.acknowledged"], 60,
                         "incident.acknowledged at the simulator", worker)
                received = list(state.webhooks)
                assert all(w["verified"] for w in received), received
                types = [w["type"] for w in received]
                assert types == ["incident.opened", "page.sent", "incident.acknowledged"], types
                ids = [w["id"] for w in received]
                assert ids == sorted(ids, key=lambda i: int(i.rsplit("-", 1)[1]))  # timeline order
                answer = httpx.get(f"{url}/api/v1/webhooks/deliveries", headers=API, timeout=10).json()
                states = {(d["endpoint"], d["type"]): d["state"] for d in answer["deliveries"]}
                assert states[("sim", "incident.acknowledged")] == "delivered"
                assert states[("refused", "incident.opened")] == "failed"
                assert ("refused", "page.sent") not in states  # in order: it waits behind the first
                assert states[("silent", "incident.opened")] == "pending"  # still waiting for an answer
        finally:
            silent.close()
