"""Reusable test fixtures: the provider simulator and a tiny "Herald" receiver, both
served by uvicorn in background threads on free 127.0.0.1 ports.

Use from a test module with
``from tests.integrations.sim_fixture import sim, sim_env  # noqa: F401``. ``sim`` is function-scoped and hands out
a clean ``SimHandle`` (state reset, receiver emptied) around a module-scoped pair
of servers. For end-to-end tests against the real Herald app, build your own
``create_simulator_app(herald_url=...)`` and serve it with ``ServerThread``.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any, Iterator

import httpx
import pytest
from fastapi import FastAPI, Request, Response

from integrations.notifier import OutboundPage
from service.dev.simulator.app import create_simulator_app
from service.dev.simulator.server import ServerThread
from service.dev.simulator.state import SimulatorState

ACCOUNT_SID = "AC" + "5" * 32
AUTH_TOKEN = "tok-SECRET-9f8e7d6c5b4a3f2e1d0c"
SENDGRID_KEY = "SG.SECRET-sendgrid-key-4c3b2a19"
FROM_NUMBER = "+15550009999"
PHONE = "+15550001111"
EMAIL = "ann@example.com"
MESSAGES = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
CALLS = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json"
MAIL = {"personalizations": [{"to": [{"email": EMAIL}, {"email": "bob@example.com"}]}],
        "from": {"email": "herald@example.com"}, "subject": "s",
        "content": [{"type": "text/plain", "value": "t"}], "custom_args": {"herald_incident": "inc-1"}}


@dataclass
class Received:
    """One request the receiver got."""

    path: str
    url: str
    headers: dict[str, str]
    body: bytes
    form: dict[str, str]


@dataclass
class Receiver:
    """A stand-in for Herald's webhook endpoints: records every POST and answers
    with ``responses[path]`` (status, body, media type) or an empty TwiML."""

    requests: list[Received] = field(default_factory=list)
    responses: dict[str, tuple[int, str, str]] = field(default_factory=dict)
    cond: threading.Condition = field(default_factory=threading.Condition)

    def app(self) -> FastAPI:
        app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

        @app.post("/{path:path}")
        async def record(path: str, request: Request) -> Response:
            body = await request.body()
            form = {}
            if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
                form = {k: str(v) for k, v in (await request.form()).items()}
            with self.cond:
                self.requests.append(Received("/" + path, str(request.url), dict(request.headers), body, form))
                self.cond.notify_all()
            status, text, media = self.responses.get("/" + path, (200, "<Response/>", "text/xml"))
            return Response(text, status_code=status, media_type=media)

        return app

    def wait(self, count: int = 1, timeout: float = 5.0) -> list[Received]:
        """Block until at least ``count`` requests arrived; return them all."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while len(self.requests) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"expected {count} callbacks, got {len(self.requests)}")
                self.cond.wait(left)
            return list(self.requests)

    def reset(self) -> None:
        with self.cond:
            self.requests.clear()
            self.responses.clear()


@dataclass
class SimHandle:
    """What a test gets: simulator URL/state/app and the receiver ("Herald")."""

    url: str
    state: SimulatorState
    app: Any
    receiver: Receiver
    herald_url: str

    @property
    def public_key(self) -> str:
        return self.app.state.sendgrid_public_key


@pytest.fixture(scope="module")
def sim_env() -> Iterator[SimHandle]:
    """Module-scoped simulator + receiver servers (simulator's herald_url = receiver)."""
    receiver = Receiver()
    with ServerThread(receiver.app()) as herald:
        state = SimulatorState()
        app = create_simulator_app(state, herald_url=herald.url, twilio_auth_token=AUTH_TOKEN,
                                   sendgrid_api_key=SENDGRID_KEY)
        with ServerThread(app) as server:
            yield SimHandle(server.url, state, app, receiver, herald.url)


@pytest.fixture
def sim(sim_env: SimHandle) -> Iterator[SimHandle]:
    """A clean simulator for one test."""
    sim_env.state.reset()
    sim_env.receiver.reset()
    yield sim_env
    sim_env.state.reset()


def make_page(**changes: Any) -> OutboundPage:
    """A typical SMS page; override any field."""
    page = OutboundPage(incident_id="inc-1", code="12", round=1, tier="primary", person_id="p-ann",
                        person_name="Ann", channel="sms", address=PHONE, severity="P1",
                        title="DiskFull", summary="db1", ack_url="https://h/ack/TOKEN",
                        resolve_url="https://h/resolve/TOKEN", generator_url="http://prom:9090/graph?g0.expr=up",
                        labels={"alertname": "DiskFull", "instance": "db1"},
                        annotations={"description": "Disk is 95% full"})
    return replace(page, **changes)


def control(sim: SimHandle, name: str, **payload: Any) -> httpx.Response:
    """POST ``payload`` to ``/_sim/<name>`` (fail, reply, press, status, email-event, reset)."""
    return httpx.post(f"{sim.url}/_sim/{name}", json=payload, timeout=10)


def twilio_post(sim: SimHandle, path: str = MESSAGES, token: str = AUTH_TOKEN, **fields: Any) -> httpx.Response:
    """A raw Twilio API create (no SDK); a field given as None is left out."""
    data = {"To": PHONE, "From": FROM_NUMBER, "Body": "hello", **fields}
    return httpx.post(sim.url + path, data={k: v for k, v in data.items() if v is not None},
                      auth=(ACCOUNT_SID, token))


def mail_post(sim: SimHandle, body: Any = MAIL, key: str | None = SENDGRID_KEY,
              timeout: float = 5.0) -> httpx.Response:
    """A raw SendGrid mail/send (no SDK)."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.post(sim.url + "/v3/mail/send", json=body, headers=headers, timeout=timeout)
