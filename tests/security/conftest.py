"""An in-process Herald (real Redis) with scoped API tokens configured."""
from __future__ import annotations

import json

import pytest

from service.settings import Settings
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
