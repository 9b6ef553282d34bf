"""``make run`` shows outgoing webhooks without any account: the simulator's receiver
(``/_sim/webhooks``) verifies them with the ``standardwebhooks`` package, the dev inbox
lists them, and ``herald dev`` adds the endpoint to the example configuration."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import httpx
import redis
from fastapi.testclient import TestClient

from integrations.config.model import load_config
from integrations.config.webhooks import WebhookEndpoint
from integrations.webhooks import WebhookLog, WebhookSink
from service.app import create_app
from service.dev.run import DEV_WEBHOOK_SECRET_ENV, dev_config, paste_line
from service.dev.simulator.app import create_simulator_app
from service.dev.simulator.server import ServerThread
from service.dev.simulator.state import SimulatorState
from service.engine.runtime import Herald
from service.settings import Settings
from tests.web.conftest import login
from tests.webhook_receiver import SECRET

ROOT = Path(__file__).resolve().parent.parent.parent
EVENT = {"type": "incident.opened", "id": "herald-incident-7-0", "timestamp": datetime.now(timezone.utc).isoformat(),
         "data": {"incident": {"id": "7", "title": "Disk <full>"}, "entry": {"index": 0, "kind": "triggered"}}}


@contextmanager
def sink_to(url: str, redis_url: str, secret: str = SECRET) -> Iterator[WebhookSink]:
    endpoint = WebhookEndpoint("dev-inbox", url, frozenset({"incident.opened"}), 5.0, secret)
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    sink = WebhookSink(endpoint, WebhookLog(client), "http://h")
    try:
        yield sink
    finally:
        sink.close()
        client.close()


def test_the_simulator_verifies_and_lists_webhooks(redis_url):
    state = SimulatorState()
    with ServerThread(create_simulator_app(state, webhook_secret=SECRET)) as sim:
        now = datetime.now(timezone.utc)
        with sink_to(f"{sim.url}/_sim/webhooks", redis_url) as sink:
            assert sink.deliver(EVENT, now, incident="7").done
        [got] = httpx.get(f"{sim.url}/_sim/webhooks", timeout=5).json()
        assert got["verified"] and got["type"] == "incident.opened" and got["event"] == EVENT
        with sink_to(f"{sim.url}/_sim/webhooks", redis_url, "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldY") as wrong:
            step = wrong.deliver({**EVENT, "id": "herald-incident-7-1"}, now, incident="7")
        assert not step.done  # the receiver answered 401: Herald retries it
        refused = httpx.get(f"{sim.url}/_sim/webhooks", timeout=5).json()[-1]
        assert not refused["verified"] and refused["error"].startswith("signature refused")
        httpx.post(f"{sim.url}/_sim/reset", timeout=5)
        assert httpx.get(f"{sim.url}/_sim/webhooks", timeout=5).json() == []


def test_the_dev_inbox_lists_the_webhooks_received(settings, monkeypatch, redis_url):
    state = SimulatorState()
    with ServerThread(create_simulator_app(state, herald_url="http://127.0.0.1:9", webhook_secret=SECRET)) as sim:
        monkeypatch.setenv("HERALD_TWILIO_API_BASE", sim.url)
        dev = Settings()
        herald = Herald.from_settings(dev, notifiers={})
        with TestClient(create_app(dev, herald)) as c:
            login(c)
            empty = c.get("/ui/inbox").text
            assert "Outgoing webhooks" in empty and 'id="sim-webhooks"' not in empty
            with sink_to(f"{sim.url}/_sim/webhooks", redis_url) as sink:
                sink.deliver(EVENT, datetime.now(timezone.utc), incident="7")
            page = c.get("/ui/inbox").text
            table = page[page.index('id="sim-webhooks"'):]
            assert "incident.opened" in table and "herald-incident-7-0" in table and "verified" in table
            assert "Disk &lt;full&gt;" in table and 'href="/ui/incidents/7"' in table


def test_herald_dev_adds_the_simulator_endpoint_to_the_example_configuration(tmp_path, monkeypatch):
    source = ROOT / "deploy" / "examples" / "herald.yaml"
    generated = dev_config(source, tmp_path, "http://127.0.0.1:4010")
    monkeypatch.setenv(DEV_WEBHOOK_SECRET_ENV, SECRET)
    config = load_config(generated)
    [endpoint] = config.webhooks
    assert endpoint.url == "http://127.0.0.1:4010/_sim/webhooks" and endpoint.name == "dev-inbox"
    assert config.people == load_config(source).people and set(config.schedules) == set(load_config(source).schedules)
    assert all(Path(s.calendar).is_absolute() and Path(s.calendar).is_file()
               for s in config.schedules.values() if s.calendar)
    env = {"HERALD_REDIS_URL": "redis://127.0.0.1:1/0", "HERALD_CONFIG": str(generated),
           "HERALD_PUBLIC_URL": "http://127.0.0.1:8080", DEV_WEBHOOK_SECRET_ENV: SECRET}
    assert f"{DEV_WEBHOOK_SECRET_ENV}={SECRET}" in paste_line(env, {"HERALD_CONFIG"})  # the CLI loads it too
    assert DEV_WEBHOOK_SECRET_ENV not in paste_line(env, set())  # a configuration of your own: not ours to add
    monkeypatch.delenv(DEV_WEBHOOK_SECRET_ENV)
    try:
        load_config(generated)
    except ValueError as exc:
        assert DEV_WEBHOOK_SECRET_ENV in str(exc)
    else:
        raise AssertionError("the generated file loaded without its secret")
