"""Redis's memory, watched before it runs out: ``/readyz`` reports a warning once Redis
uses more than 80 % of its ``maxmemory`` (it stays ready: every replica shares the one
Redis, so taking them out of service would turn a warning into an outage) and the API
exports used and maximum bytes for the alert rule. The shipped configuration is
``noeviction``: at 100 % Redis refuses writes and webhooks get 503 — the warning must
come first. The test Redis is real; its limit is set with CONFIG SET and reset after."""
from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import redis
from fastapi.testclient import TestClient

from service.app import create_app
from service.engine.runtime import Herald
from service.settings import Settings
from tests.herald_env import AM_TOKEN, fixture_payload


@pytest.fixture
def direct(redis_url) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    client.config_set("maxmemory", 0)
    client.close()


def used(client: redis.Redis) -> int:
    return int(client.info("memory")["used_memory"])


def post(client, group: str):
    payload = fixture_payload("firing.json")
    payload["groupKey"] = group
    return client.post("/api/v1/alertmanager", content=json.dumps(payload),
                       headers={"Authorization": f"Bearer {AM_TOKEN}"})


def memory_check(client) -> tuple[int, str]:
    r = client.get("/readyz")
    return r.status_code, r.json()["checks"]["redis_memory"]


def test_readyz_warns_above_80_percent_and_stays_ready(client, direct):
    direct.config_set("maxmemory", used(direct) * 2)
    assert memory_check(client) == (200, "ok")
    direct.config_set("maxmemory", int(used(direct) / 0.9))
    status, check = memory_check(client)
    assert status == 200 and client.get("/readyz").json()["status"] == "ready"
    assert check.startswith("warning: Redis uses 9") and "of its maxmemory" in check, check


def test_the_memory_warning_comes_before_redis_refuses_a_webhook(client, direct):
    direct.config_set("maxmemory", int(used(direct) / 0.7))  # 70 % used: fine
    seen = []
    for n in range(2000):
        status, check = memory_check(client)
        seen.append(check.split(":")[0])
        r = post(client, f"fill-{n}")
        if r.status_code != 200:
            assert r.status_code == 503, r.text  # noeviction: the write is refused, Alertmanager retries
            break
    else:
        pytest.fail("Redis never filled up")
    # ok at first, a warning before the refused write (near 80 % it may come and go as
    # Redis's buffers move), and nothing else ever.
    assert seen[0] == "ok" and seen[-1] == "warning" and set(seen) == {"ok", "warning"}
    assert seen[-10:] == ["warning"] * 10  # well before the end, not at the last moment
    status, check = memory_check(client)
    assert status == 200 and check.startswith("warning: Redis uses "), check
    assert int(check.removeprefix("warning: Redis uses ").split("%")[0]) >= 95, check  # full, and still ready


def test_without_maxmemory_readyz_says_nothing_bounds_redis(client, direct):
    direct.config_set("maxmemory", 0)
    status, check = memory_check(client)
    assert status == 200 and check.startswith("warning: no maxmemory set"), check


def test_a_redis_user_without_info_gives_unknown_and_stays_ready(tmp_path, redis_url, direct, monkeypatch, settings):
    direct.acl_setuser("herald-noinfo", enabled=True, passwords=["+noinfo-secret"], keys=["*"], channels=["*"],
                       commands=["+@all", "-info"], reset=True)
    try:
        limited = settings.redis_url.replace("redis://", "redis://herald-noinfo:noinfo-secret@")
        monkeypatch.setenv("HERALD_REDIS_URL", limited)
        herald = Herald.from_settings(Settings())
        try:
            with TestClient(create_app(herald.settings, herald)) as client:
                status, check = memory_check(client)
                assert status == 200 and check.startswith("unknown: "), check
                metrics = client.get("/metrics").text
                assert "herald_redis_up 1.0" in metrics  # the other Redis gauges are still read
                assert "herald_redis_memory_used_bytes" not in metrics
        finally:
            herald.close()
    finally:
        direct.acl_deluser("herald-noinfo")


def test_metrics_export_used_and_maximum_bytes(client, direct):
    limit = used(direct) * 4
    direct.config_set("maxmemory", limit)
    text = client.get("/metrics").text
    samples = {line.split(" ")[0]: float(line.split(" ")[1]) for line in text.splitlines()
               if line.startswith("herald_redis_memory_") or line.startswith("herald_incidents_stored")}
    assert samples["herald_redis_memory_max_bytes"] == limit
    assert 0 < samples["herald_redis_memory_used_bytes"] < limit
    assert samples["herald_incidents_stored"] == 0
    assert post(client, "one").status_code == 200
    direct.config_set("maxmemory", 0)
    text = client.get("/metrics").text
    assert "herald_redis_memory_max_bytes 0.0" in text and "herald_incidents_stored 1.0" in text
