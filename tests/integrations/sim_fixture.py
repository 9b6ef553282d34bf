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

import pytest
from fastapi import FastAPI, Request, Response

from integrations.pages import OutboundPage
from integrations.simulator import create_simulator_app
from integrations.simulator_server import ServerThread
from integrations.simulator_state import SimulatorState

ACCOUNT_SID = "AC" + "5" * 32
AUTH_TOKEN = "tok-SECRET-9f8e7d6c5b4a3f2e1d0c"
SENDGRID_KEY = "SG.SECRET-sendgrid-key-4c3b2a19"
FROM_NUMBER = "+15550009999"
PHONE = "+15550001111"
EMAIL = "ann@example.com"


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
    page = OutboundPage(incident_id="inc-1", code="12", step=1, tier="primary", person_id="p-ann",
                        person_name="Ann", channel="sms", address=PHONE, severity="P1",
                        title="DiskFull", summary="db1", ack_url="https://h/ack/TOKEN",
                        resolve_url="https://h/resolve/TOKEN", generator_url="http://prom:9090/graph?g0.expr=up",
                        labels={"alertname": "DiskFull", "instance": "db1"},
                        annotations={"description": "Disk is 95% full"})
    return replace(page, **changes)
