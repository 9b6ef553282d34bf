"""Fixtures for the console's fast tests: a TestClient on a real Redis, and helpers to
log in and to read the CSRF token off a page."""
from __future__ import annotations

import json
import re

import pytest

from service.settings import Settings
from tests.herald_env import AM_TOKEN, API_TOKEN, env_for, fixture_payload, write_config

READ_TOKEN = "read-only-token-0123456789"
WRITE_TOKEN = "write-scope-token-0123456789"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture
def settings(tmp_path, redis_url, monkeypatch) -> Settings:
    env = env_for(write_config(tmp_path / "conf"), redis_url, "http://testserver")
    env["HERALD_API_TOKENS"] = f"viewer:read:{READ_TOKEN},oncall:write:{WRITE_TOKEN}"
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return Settings()


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "no CSRF field on the page"
    return found.group(1)


def login(client, token: str = API_TOKEN, person: str = "") -> None:
    form = client.get("/ui/login")
    r = client.post("/ui/login", data={"credential": token, "person": person, "csrf": csrf_of(form.text),
                                      "next": "/ui/"}, follow_redirects=False)
    assert r.status_code == 303, r.text


def fire(client, **changes) -> str:
    payload = fixture_payload("firing.json")
    for key, value in changes.items():
        payload[key] = value
    r = client.post("/api/v1/alertmanager", content=json.dumps(payload),
                    headers={"Authorization": f"Bearer {AM_TOKEN}"})
    assert r.status_code == 200, r.text
    return r.json()["incidents"][0]["id"]


@pytest.fixture
def admin(client):
    login(client, API_TOKEN, "alice")
    return client
