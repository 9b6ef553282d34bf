"""Redis goes away: restarted (AOF on, as deploy/redis/redis.conf sets it), unreachable
while Alertmanager posts, or refusing writes. Nothing durable is lost, nothing partial
is written, a 5xx tells Alertmanager to retry, and the same processes recover on their
own when Redis is back."""
from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone

import httpx
import pytest
import redis

from service.dev.local_redis import start_redis
from tests.faults.harness import ALICE, BOB, deploy, redis_keys, restart_redis
from tests.processes import idle, redis_client, wait_for, wait_worker_ready

pytestmark = pytest.mark.slow
ACK = re.compile(r"/ack/([A-Za-z0-9_-]+)")


def _iso(days: int) -> str:
    return (datetime.now(timezone.utc) + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _durable(url: str) -> dict[str, object]:
    """What must survive a restart: incidents, groups, indexes and the incidents' entries in
    the due index, ack tokens, send-log entries, calendars' last good copies, handoffs, RQ's
    jobs. (The due index's periodic entries, claims, wake list and the RQ jobs of periodic tasks move on by themselves: the
    workers' clock loops run on while Redis comes back.)"""
    keep = ("herald:incident:", "herald:group:", "herald:incidents", "herald:ack:",
            "herald:sendlog:", "herald:seq:", "herald:calendar:", "herald:handoff", "rq:job:")
    found = redis_keys(url)
    out = {k: v for k, v in found.items() if k.startswith(keep) and not k.endswith(":poll")
           and not k.startswith("rq:job:herald-due-periodic-")}  # a periodic task's run, handed out meanwhile
    out["herald:due"] = [(m, s) for m, s in found.get("herald:due", []) if m.startswith(b"incident:")]  # type: ignore[union-attr]
    return out


def _hold_writes_and_flush(url: str) -> None:
    """Pause every client's writes (``CLIENT PAUSE … WRITE``: reads go on) until Redis
    goes down, at a moment no RQ job is running (a job cut off while it records its end
    stops the whole worker: RQ quits on that error), and wait until Redis has written
    all it was given to its append-only file. The snapshot taken next is what is on
    disk, and no incident changes between it and the restart."""
    client = redis_client(url)

    def quiet() -> bool:
        busy = [name for name in client.smembers("rq:workers")
                if client.hget(name, "state") == "busy"]
        return idle(client) and not busy

    try:
        for _ in range(20):
            wait_for(quiet, 15, "no job running")
            client.execute_command("CLIENT", "PAUSE", 60_000, "WRITE")
            if quiet():
                break
            client.execute_command("CLIENT", "UNPAUSE")  # a job started meanwhile: let it finish
        else:
            raise AssertionError("never found a moment without a job running")
        wait_for(lambda: int(client.info("persistence")["aof_buffer_length"]) == 0, 10, "the AOF buffer written")
    finally:
        client.close()


@pytest.mark.parametrize("crash", [False, True], ids=["shutdown", "sigkill"])
def test_redis_restart_loses_nothing_and_escalation_resumes(tmp_path, crash):
    server = start_redis(tmp_path / "redis", appendonly=True)
    stack = deploy(tmp_path, server.url, delay="4s")
    try:
        incident_id = stack.fire()
        [sms] = stack.wait_texts(ALICE, 1, 15)
        token = ACK.search(sms.body).group(1)
        handoff = httpx.post(f"{stack.url}/api/v1/handoffs", headers={"Authorization": "Bearer test-api-token"},
                             json={"schedule": "primary", "tier": "L1", "from": "alice", "to": "erin",
                                   "start": _iso(days=1), "end": _iso(days=2),
                                   "note": "cover"}, timeout=10)
        assert handoff.status_code == 201, handoff.text
        _hold_writes_and_flush(server.url)
        before = _durable(server.url)
        assert f"herald:ack:{token}" in before and f"herald:incident:{incident_id}" in before
        assert json.loads(before[f"herald:incident:{incident_id}"])["round"] == 1, "L1's window ran out first"
        assert any(k.startswith("herald:sendlog:") for k in before)
        assert [m for m, _ in before["herald:due"]] == [f"incident:{incident_id}".encode()], \
            "the escalation is an entry of the due index"

        server = restart_redis(server, crash=crash)
        after = _durable(server.url)
        assert after == before

        # The same processes carry on: the link works, the escalation is handed out, bob is paged once.
        wait_for(lambda: httpx.get(f"{stack.url}/readyz", timeout=5).status_code == 200, 15, "ready again")
        shown = httpx.get(f"{stack.url}/ack/{token}", timeout=10)
        assert shown.status_code == 200, shown.text
        [bob] = stack.wait_texts(BOB, 1, 30)
        acked = httpx.post(f"{stack.url}/ack/{token}", data={"action": "ack"}, timeout=10)
        assert acked.status_code == 200, acked.text
        stack.sent_once(incident_id, 2, "bob", bob.provider_id)
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
        wait_worker_ready(server.url, stack.workers[0])  # its start-up writes are done
        before = _durable(server.url)
        server.stop()
        # An answer that tells Alertmanager to retry, not a hang (30 s: a bound on the wait).
        r = stack.post(stack.payload("outage"), timeout=30)
        assert r.status_code == 503 and r.headers.get("retry-after"), r.text
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
        [page] = stack.wait_texts(ALICE, 1, 30)  # the worker lived through the outage
        stack.sent_once(r.json()["incidents"][0]["id"], 1, "alice", page.provider_id)
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
        r = stack.post(stack.payload("new-group"))
        assert r.status_code == 200, r.text
    finally:
        client.config_set("min-replicas-to-write", 0)
        client.close()
        stack.stop()
