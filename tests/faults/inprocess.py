"""Herald in this process, for faults that need exact timing: a real Redis, the real
Twilio and SendGrid SDKs talking HTTP to the provider simulator on loopback, and a
clock the test moves. Jobs are run by calling them, so every retry happens exactly
when the test says it is due."""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from service.dev.local_redis import free_port
from service.dev.simulator.app import create_simulator_app
from service.dev.simulator.server import ServerThread
from service.dev.simulator.state import SimulatorState
from routing.alertmanager import WebhookPayload
from service.dev.run import simulator_env
from service.engine.ingest import ingest
from service.engine.runtime import Herald
from service.settings import Settings
from tests.herald_env import env_for, fixture_payload, write_config


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(timezone.utc).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


@dataclass
class Local:
    herald: Herald
    clock: Clock
    sim: SimulatorState

    def fire(self, group: str = "g1") -> str:
        payload = fixture_payload("firing.json")
        payload["groupKey"], payload["commonAnnotations"] = group, {}
        payload["alerts"][0]["fingerprint"] = f"fp-{group}"
        [ref] = ingest(self.herald, WebhookPayload.model_validate(payload))
        return str(ref["id"])

    def sent(self, to: str, channel: str = "sms") -> list:
        return [m for m in self.sim.messages_for(to=to, channel=channel) if m.direction == "outbound"]


@contextmanager
def local_herald(tmp: Path, redis_url: str, delay: str = "1h", **extra: str) -> Iterator[Local]:
    sim_port = free_port()
    sim_url = f"http://127.0.0.1:{sim_port}"
    env = {**env_for(write_config(tmp / "conf", delay=delay), redis_url, "http://127.0.0.1:9"),
           **simulator_env(sim_url, tmp / "sg-key.pem"), **extra}
    state = SimulatorState()
    app = create_simulator_app(state, twilio_auth_token=env["HERALD_TWILIO_AUTH_TOKEN"],
                               sendgrid_private_key_pem=(tmp / "sg-key.pem").read_text())
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        settings = Settings()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    with ServerThread(app, port=sim_port):
        herald = Herald.from_settings(settings)
        clock = Clock()
        herald.clock = clock
        try:
            yield Local(herald, clock, state)
        finally:
            close = getattr(herald.calendars, "close", None)
            if close is not None:
                close()
            for notifier in herald.notifiers.values():
                if hasattr(notifier, "close"):
                    notifier.close()
