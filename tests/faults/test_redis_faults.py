"""Redis goes away: restarted (AOF on, as deploy/redis/redis.conf sets it), unreachable
while Alertmanager posts, or refusing writes. Nothing durable is lost, nothing partial
is written, a 5xx tells Alertmanager to retry, and the same processes recover on their
own when Redis is back."""
from __future__ import annotations

import re
import time
from datetime import datetime, timedelta, timezone

import httpx
import pytest
import redis

from integrations.local_redis import start_redis
from tests.faults.harness import ALICE, BOB, deploy, redis_keys, restart_redis, settle
from tests.processes import wait_for

pytestmark = pytest.mark.slow
ACK = re.compile(r"/ack/([A-Za-z0-9_-]+)")


def _iso(days: int) -> str:
    return (datetime.now(timezone.utc) + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _durable(url: str) -> dict[str, object]:
    """What must survive a restart: incidents, groups, indexes and due times, ack tokens,
    send-log entries, calendars' last good copies, handoffs, and RQ's scheduled timers."""
    keep = ("herald:incident:", "herald:group:", "herald:incidents", "herald:due", "herald:ack:",
            "herald:sendlog:", "herald:seq:", "herald:calendar:", "herald:handoff", "rq:scheduled:", "rq:job:")
    return {k: v for k, v in redis_keys(url).items() if k.startswith(keep) and not k.endswith(":poll")}


@pytest.mark.parametrize("crash", [False, True], ids=["shutdown", "sigkill"])
def test_redis_restart_loses_nothing_and_escalation_resumes(tmp_path, crash):
    server = start_redis(tmp_path / "redis", appendonly=True)
    stack = deploy(tmp_path, server.url, delay="6s")
    try:
        incident_id = stack.fire()
        [sms] = stack.wait_texts(ALICE, 1, 10)
        token = ACK.search(sms.body).group(1)
        handoff = httpx.post(f"{stack.url}/api/v1/handoffs", headers={"Authorization": "Bearer test-api-token"},
                             json={"schedule": "primary", "tier": "L1", "from": "alice", "to": "erin",
                                   "start": _iso(days=1), "end": _iso(days=2),
                                   "note": "cover"}, timeout=10)
        assert handoff.status_code == 201, handoff.text
        settle(2.2)  # appendfsync everysec: what is older than a second is on disk
        before = _durable(server.url)
        assert f"herald:ack:{token}" in before and f"herald:incident:{incident_id}" in before
        assert any(k.startswith("herald:sendlog:") for k in before)
        assert any(k == "rq:scheduled:herald" for k in before), "the escalation timer is an RQ scheduled job"

        server = restart_redis(server, crash=crash)
        after = _durable(server.url)
        assert after == before

        # The same processes carry on: the link works, the timer fires, bob is paged once.
        wait_for(lambda: httpx.get(f"{stack.url}/readyz", timeout=5).status_code == 200, 15, "ready again")
        assert httpx.get(f"{stack.url}/ack/{token}", timeout=5).status_code == 200
        stack.wait_texts(BOB, 1, 15)
        assert httpx.post(f"{stack.url}/ack/{token}", data={"action": "ack"}, timeout=5).status_code == 200
        settle(1)
        recorded = {e["details"]["provider_id"]: e["details"]["person"]
                    for e in stack.incident(incident_id)["timeline"] if e["kind"] == "page"}
        assert sorted(recorded.values()) == ["alice", "bob"]  # (the handoff's own notices are not pages)
        assert [m.to for m in stack.sim.messages if m.provider_id in recorded] == [ALICE, BOB]
        assert [m.to for m in stack.sim.messages if m.to in (ALICE, BOB) and "/ack/" in m.body] == [ALICE, BOB]
        assert stack.incident(incident_id)["status"] == "acknowledged"
    finally:
        stack.stop()
        server.stop()


def test_redis_unreachable_answers_503_and_recovers_without_restart(tmp_path):
    server = start_redis(tmp_path / "redis", appendonly=True)
    stack = deploy(tmp_path, server.url)
    try:
        settle(0.5)
        before = _durable(server.url)
        server.stop()
        started = time.monotonic()
        r = stack.post(stack.payload("outage"))
        assert r.status_code == 503 and r.headers.get("retry-after"), r.text
        assert time.monotonic() - started < 10  # an answer, not a hang: Alertmanager's timeout is 10 s
        ready = httpx.get(f"{stack.url}/readyz", timeout=10)
        assert ready.status_code == 503 and ready.json()["checks"]["redis"].startswith("unreachable")
        assert httpx.get(f"{stack.url}/healthz", timeout=5).status_code == 200  # alive: do not restart it
        api_get = httpx.get(f"{stack.url}/api/v1/incidents", headers={"Authorization": "Bearer test-api-token"},
                            timeout=10)
        assert api_get.status_code == 503

        server = start_redis(server.directory, server.port, appendonly=True)
        assert _durable(server.url) == before  # the refused webhook wrote nothing
        wait_for(lambda: httpx.get(f"{stack.url}/readyz", timeout=5).status_code == 200, 15, "ready again")
        r = stack.post(stack.payload("outage"))  # Alertmanager's retry
        assert r.status_code == 200, r.text
        stack.wait_texts(ALICE, 1, 15)  # the worker lived through the outage
        settle(1)
        assert len(stack.texts(ALICE)) == 1
    finally:
        stack.stop()
        server.stop()


def test_redis_refusing_writes_leaves_nothing_partial(tmp_path, redis_url):
    stack = deploy(tmp_path, redis_url, workers=0)
    client = redis.Redis.from_url(redis_url)
    try:
        stack.fire("existing")
        before = redis_keys(redis_url)
        client.config_set("min-replicas-to-write", 1)  # reads work, every write fails (NOREPLICAS)
        for payload in (stack.payload("new-group"), stack.payload("existing", status="resolved")):
            r = stack.post(payload)
            assert r.status_code == 503, r.text
        client.config_set("min-replicas-to-write", 0)
        assert redis_keys(redis_url) == before
        assert stack.post(stack.payload("new-group")).status_code == 200
    finally:
        client.config_set("min-replicas-to-write", 0)
        client.close()
        stack.stop()
