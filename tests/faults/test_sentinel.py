"""Redis Sentinel on loopback (redis-server --sentinel): Herald finds the master through
the Sentinels, and follows a failover to the promoted replica without a restart."""
from __future__ import annotations

import subprocess
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import redis

from integrations.due_store import DueIndex
from service.dev.local_redis import LocalRedis, free_port, real_clock_env, redis_binary, start_redis
from service.redis_clients import sentinel_addresses
from service.engine.runtime import Herald
from service.settings import Settings
from tests.faults.harness import ALICE, BOB, deploy
from tests.herald_env import env_for, write_config
from tests.processes import redis_client, wait_for


def _start_sentinel(directory: Path, master_port: int) -> LocalRedis:
    port = free_port()
    directory.mkdir(parents=True, exist_ok=True)
    conf = directory / "sentinel.conf"  # Sentinel rewrites its own file: it must be writable
    conf.write_text(f"port {port}\nbind 127.0.0.1\ndir {directory}\n"
                    f"sentinel monitor herald 127.0.0.1 {master_port} 1\n"
                    "sentinel down-after-milliseconds herald 500\nsentinel failover-timeout herald 5000\n")
    binary = redis_binary()
    assert binary is not None
    process = subprocess.Popen([binary, str(conf), "--sentinel"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, env=real_clock_env())
    server = LocalRedis(process, port, directory)
    client = redis_client(f"redis://127.0.0.1:{port}")
    try:
        wait_for(lambda: _answers(client), 10, "the sentinel")
    finally:
        client.close()
    return server


def _answers(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


def test_sentinel_addresses():
    assert sentinel_addresses("a:26379, [::1]:26380") == [("a", 26379), ("::1", 26380)]
    with pytest.raises(ValueError):
        sentinel_addresses("nohost")


@pytest.mark.slow
def test_herald_follows_the_master_through_a_failover(tmp_path, monkeypatch):
    master = start_redis(tmp_path / "master", appendonly=True)
    replica = sentinel = None
    herald = None
    try:
        source = redis_client(master.url)  # the first sync starts at once, not after the 5 s default delay
        assert source.config_set("repl-diskless-sync-delay", 0)
        source.close()
        replica = start_redis(tmp_path / "replica", appendonly=True)
        replica_port = replica.port
        control = redis_client(f"redis://127.0.0.1:{replica_port}")
        assert control.replicaof("127.0.0.1", master.port)
        control.close()
        sentinel = _start_sentinel(tmp_path / "sentinel", master.port)
        for key, value in env_for(write_config(tmp_path / "conf"), "redis://127.0.0.1:1/0").items():
            monkeypatch.setenv(key, value)  # the URL's host is never used: the Sentinel names the master
        monkeypatch.setenv("HERALD_REDIS_SENTINELS", f"127.0.0.1:{sentinel.port}")
        herald = Herald.from_settings(Settings())
        assert herald.store.ping()
        first = int(herald.store.next_incident_id())
        herald.queue.enqueue(print, "job")  # RQ's connection goes through Sentinel too
        assert herald.queue.count == 1
        DueIndex(herald.store.redis).arm("periodic:test", time.time() + 3600)  # and the due index

        ask = redis_client(f"redis://127.0.0.1:{sentinel.port}")
        wait_for(lambda: ask.sentinel_slaves("herald"), 15, "the sentinel seeing the replica")
        wait_for(lambda: _in_sync(replica_port), 15, "the replica in sync")
        assert herald.store.redis.execute_command("WAIT", 1, 30_000) == 1  # replicated before the crash
        master.process.kill()  # the master's host dies
        master.process.wait(timeout=10)
        wait_for(lambda: int(ask.sentinel_get_master_addr_by_name("herald")[1]) == replica_port, 20,
                 "the replica promoted")
        ask.close()

        deadline = time.monotonic() + 30  # a bound on the wait
        while True:  # the first commands after the switch may still meet the old master
            try:
                after = int(herald.store.next_incident_id())
                break
            except redis.RedisError:
                assert time.monotonic() < deadline, "Herald did not follow the failover"
                time.sleep(0.2)
        assert after == first + 1
        assert herald.queue.count == 1  # the job came across with the data
        assert DueIndex(herald.store.redis).score("periodic:test") is not None  # and the due entry
        promoted = redis_client(f"redis://127.0.0.1:{replica_port}")
        assert int(promoted.get("herald:seq:incident")) == after
        promoted.close()
    finally:
        if herald is not None and hasattr(herald.calendars, "close"):
            herald.calendars.close()
        for server in (sentinel, replica, master):
            if server is not None:
                server.stop()


def _in_sync(port: int) -> bool:
    client = redis_client(f"redis://127.0.0.1:{port}")
    try:
        info = client.info("replication")
        return info.get("master_link_status") == "up"
    finally:
        client.close()


@pytest.mark.slow
def test_api_and_worker_processes_page_on_time_through_sentinel(tmp_path):
    """The workers' clock loops and RQ connect through Sentinel too: they page L2 from the
    due index, never before L1's 3 s are up."""
    master = start_redis(tmp_path / "master", appendonly=False)
    sentinel = _start_sentinel(tmp_path / "sentinel", master.port)
    stack = None
    try:
        stack = deploy(tmp_path, "redis://127.0.0.1:1/0", delay="3s", HERALD_SWEEP_INTERVAL="30",
                       HERALD_SWEEP_GRACE="30", HERALD_REDIS_SENTINELS=f"127.0.0.1:{sentinel.port}")
        incident_id = stack.fire()
        stack.wait_texts(ALICE, 1, 20)
        stack.wait_texts(BOB, 1, 30)
        # Not the repair pass's doing: it took no overdue work over.
        assert "repair: " not in stack.output()  # (its log of re-deriving lost work)
        started = {e["details"]["round"]: datetime.fromisoformat(e["at"])
                   for e in stack.incident(incident_id)["timeline"] if e["kind"] in ("paging", "escalated")}
        assert started[2] - started[1] >= timedelta(seconds=3)  # never early
    finally:
        if stack is not None:
            # A worker on Sentinel can sit out SIGTERM's whole grace period (10 s) in RQ's
            # register_death; how it stops is not what this test is about.
            for worker in stack.workers:
                worker.kill_group()
            stack.stop()
        sentinel.stop()
        master.stop()
