"""``herald worker`` stops on SIGTERM in every state: Redis up; Redis gone while RQ's loop
retries it; Redis away when the worker starts (so no RQ loop runs: Herald's own loop waits
for Redis, as it does between RQ loops). How quickly it stops is measured in
``bench/worker_stop.py``; here the stop must happen at all, cleanly (exit 0, "stopped"),
without Redis coming back."""
from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from service.dev.local_redis import start_redis
from tests.faults.harness import SessionProc
from tests.herald_env import env_for, write_config
from tests.processes import redis_client, stop_all, wait_for

pytestmark = pytest.mark.slow
READY = "herald.worker: worker "
RQ_RETRYING = "could not connect to Redis instance"  # RQ's own loop, retrying
WAITING = "herald.worker: Redis unreachable"  # no RQ loop: Herald's waits to start one


def started_worker(tmp_path, redis_url: str):
    env = {**env_for(write_config(tmp_path / "conf"), redis_url), "HERALD_SWEEP_INTERVAL": "1"}
    worker = SessionProc([sys.executable, "-m", "service.cli.main", "worker"], env)
    wait_for(lambda: any(READY in line and "on queue" in line for line in worker.lines), 60, "the worker", worker)
    return worker


def stopped(worker: SessionProc, since: int) -> None:
    worker.process.send_signal(signal.SIGTERM)
    try:
        code = worker.process.wait(timeout=60)  # a bound so a hang fails instead of hanging the suite
    except subprocess.TimeoutExpired:
        worker.kill_group()
        raise AssertionError("the worker did not stop on SIGTERM\n" + worker.output(since))
    assert code == 0, worker.output(since)
    wait_for(lambda: any("herald.worker: worker" in line and "stopped" in line for line in worker.lines[since:]),
             10, "the worker's last line", None)
    assert "KeyboardInterrupt" not in worker.output(since)


@pytest.mark.parametrize("state", ["redis-up", "redis-down-rq-retrying", "redis-down-from-the-start"])
def test_the_worker_stops_on_sigterm(tmp_path, state):
    server = start_redis(tmp_path / "redis", appendonly=False)
    url = server.url
    if state == "redis-down-from-the-start":
        server.stop()
    worker = started_worker(tmp_path, url)
    try:
        if state == "redis-down-rq-retrying":
            client = redis_client(url)
            try:  # RQ's loop runs once its worker has registered: only then is Redis taken away
                wait_for(lambda: client.scard("rq:workers"), 60, "the RQ worker to register", worker)
            finally:
                client.close()
            server.stop()
        if state != "redis-up":
            wanted = RQ_RETRYING if state == "redis-down-rq-retrying" else WAITING
            wait_for(lambda: any(wanted in line for line in worker.lines), 60, f"the worker to log {wanted!r}", worker)
        stopped(worker, worker.mark())
    finally:
        stop_all(worker)
        if state == "redis-up":
            server.stop()
