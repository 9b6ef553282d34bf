"""Herald in this process, served over HTTP on 127.0.0.1, with its real Twilio and
SendGrid notifiers (the official SDKs) pointed at the provider simulator, which
also plays the engineer: SMS replies reach Herald signed as Twilio signs them.

Nothing runs a worker: a test delivers with ``service.worker.due.run_now`` /
``service.engine.delivery.deliver`` itself, so it decides when each page may go out.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.dev.simulator.app import create_simulator_app, slack_users_from
from service.dev.simulator.server import ServerThread
from service.dev.simulator.state import SimMessage, SimulatorState
from routing.incident import Incident
from service.app import create_app
from service.dev.run import simulator_env
from service.engine.runtime import Herald
from service.settings import Settings
from tests.herald_env import AM_TOKEN, fixture_payload

ALICE = "+15550100001"


class _Later:
    """An ASGI app whose real app is set once its server has bound a port: Herald's
    public URL (which Twilio's signatures cover) and the simulator's address are each
    part of the other's configuration."""

    app: Any = None

    @property
    def state(self) -> Any:  # ServerThread.stop interrupts the simulator's hangs through it
        return getattr(self.app, "state", None)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


@dataclass
class SimStack:
    herald: Herald
    url: str
    sim: SimulatorState
    sim_url: str
    sim_app: Any = None  # the simulator's app (its Slack workspace: ``sim_app.state.slack``)

    def fire(self, group: str, **labels: str) -> str:
        """Alertmanager posts a new group (its alerts with ``labels`` added, e.g.
        ``priority="P0"``); answers the incident id (stored, 200)."""
        payload = fixture_payload("firing.json")
        payload["groupKey"] = group
        for alert in payload["alerts"]:
            alert["labels"].update(labels)
        r = httpx.post(f"{self.url}/api/v1/alertmanager", content=json.dumps(payload),
                       headers={"Authorization": f"Bearer {AM_TOKEN}"}, timeout=10)
        assert r.status_code == 200, r.text
        [ref] = r.json()["incidents"]
        assert ref["changed"] is True and ref["status"] == "triggered", ref
        return ref["id"]

    def pages_to(self, number: str, channel: str = "sms") -> list[SimMessage]:
        """What Herald's notifier created through the provider API for ``number`` (the
        simulator also records the TwiML answers to replies: those have no callback)."""
        return [m for m in self.sim.messages_for(to=number, channel=channel)
                if m.direction == "outbound" and m.status_callback]

    def reply(self, number: str, body: str) -> list[str]:
        """``number`` texts ``body`` to Herald through the simulator (signed like Twilio);
        answers the texts of Herald's TwiML answer."""
        entry = self.control("reply", **{"from": number, "body": body, "to": "+15550009999"})
        assert entry["status_code"] == 200 and entry["url"] == f"{self.url}/webhooks/twilio/sms", entry
        return entry["replies"]

    def press(self, call_sid: str, digits: str) -> list[str]:
        """The person on call ``call_sid`` presses ``digits``; answers what Herald said."""
        entry = self.control("press", call_sid=call_sid, digits=digits)
        assert entry["status_code"] == 200, entry
        return entry["says"]

    def control(self, name: str, **payload: Any) -> dict[str, Any]:
        """POST ``payload`` to the simulator's ``/_sim/<name>`` (reply, press, status,
        email-event, replay); answers its JSON (the callback posted to Herald and its answer)."""
        r = httpx.post(f"{self.sim_url}/_sim/{name}", json=payload, timeout=10)
        assert r.status_code == 200, r.text
        return r.json()

    def replay(self, index: int = -1) -> dict[str, Any]:
        """Post a callback the simulator sent Herald (by default the latest) again, byte
        for byte with its signature: a captured request replayed. Answers the attempt."""
        return self.control("replay", index=index)

    def incident(self, incident_id: str) -> Incident:
        incident = self.herald.store.get(incident_id)
        assert incident is not None, incident_id
        return incident


@pytest.fixture
def sim_stack_factory(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """``start(**env)`` -> a ``SimStack``; ``env``: extra HERALD_* settings."""
    started: list[ServerThread] = []
    heralds: list[Herald] = []

    def start(**env: str) -> SimStack:
        api_app, sim_app = _Later(), _Later()
        api, sim = ServerThread(api_app), ServerThread(sim_app)  # each binds its port now
        started.extend([api, sim])
        key_file = tmp_path / f"sendgrid-signing-key-{len(heralds)}.pem"
        provider_env = simulator_env(sim.url, key_file)  # the SDKs pointed at the simulator; writes its key
        state = SimulatorState()
        sim_app.app = create_simulator_app(state, herald_url=api.url,
                                           twilio_auth_token=provider_env["HERALD_TWILIO_AUTH_TOKEN"],
                                           sendgrid_private_key_pem=key_file.read_text(),
                                           slack_users=slack_users_from(env.get("HERALD_CONFIG") or settings.config))
        sim.start()
        for key, value in {**provider_env, "HERALD_PUBLIC_URL": api.url, **env}.items():
            monkeypatch.setenv(key, value)
        full = Settings()
        assert full.twilio_configured() and full.sendgrid_configured() and full.public_url == api.url
        herald = Herald.from_settings(full)
        heralds.append(herald)
        api_app.app = create_app(full, herald)
        api.start()
        assert httpx.get(f"{api.url}/healthz", timeout=10).status_code == 200
        return SimStack(herald, api.url, state, sim.url, sim_app.app)

    yield start
    for server in reversed(started):
        server.stop()
    for herald in heralds:
        herald.calendars.close()  # its refresher thread would outlive the test's Redis
