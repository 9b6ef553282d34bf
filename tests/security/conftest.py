"""An in-process Herald (real Redis) with scoped API tokens configured, and helpers to
reach its console and to guess at its credentials."""
from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.settings import Settings
from service.web.session import COOKIE
from tests.herald_env import AM_TOKEN, env_for, fixture_payload, write_config

READ_TOKEN = "read-token-0123456789abcdef"
WRITE_TOKEN = "write-token-0123456789abcdef"
ADMIN_TOKEN = "admin-token-0123456789abcdef"
TOKENS = f"dashboard:read:{READ_TOKEN}, oncall-bot:write:{WRITE_TOKEN},ops:admin:{ADMIN_TOKEN}"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def settings(tmp_path, redis_url, monkeypatch) -> Settings:
    for key, value in env_for(write_config(tmp_path / "conf"), redis_url, "https://herald.test").items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("HERALD_API_TOKENS", TOKENS)
    return Settings()


def open_incident(client, group: str = "g1", payload: dict | None = None) -> str:
    payload = payload or fixture_payload("firing.json")
    payload["groupKey"] = group
    r = client.post("/api/v1/alertmanager", content=json.dumps(payload), headers=bearer(AM_TOKEN))
    assert r.status_code == 200, r.text
    return r.json()["incidents"][0]["id"]


CONSOLE_URL = "https://herald.test"  # the public URL: the session cookie is Secure
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@contextmanager
def console(settings: Settings, herald, address: str = "192.0.2.10") -> Iterator[TestClient]:
    """A browser at client ``address``, on the console of an app built from ``settings``."""
    with TestClient(create_app(settings, herald), base_url=CONSOLE_URL, client=(address, 40000)) as c:
        yield c


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "no CSRF field on the page"
    return found.group(1)


def try_login(c: TestClient, credential: str, person: str = ""):
    form = c.get("/ui/login")
    return c.post("/ui/login", data={"credential": credential, "person": person, "csrf": csrf_of(form.text),
                                     "next": "/ui/"}, follow_redirects=False)


def log_in(c: TestClient, credential: str, person: str = "") -> str:
    """Log in; the session cookie's value."""
    r = try_login(c, credential, person)
    assert r.status_code == 303, r.text
    return c.cookies[COOKIE]


def within_one_minute(seconds: float) -> None:
    """Wrong guesses are counted per clock minute, and guesses that straddle a minute's
    end start a new count: with less than ``seconds`` of this minute left, wait for the
    next one, so that the guesses a test makes fall in one minute."""
    if (left := 60 - time.time() % 60) < seconds:
        time.sleep(left + 0.1)
