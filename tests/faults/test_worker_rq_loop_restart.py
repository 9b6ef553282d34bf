"""RQ's work loop can end without anyone asking it to stop (it quits on a Redis error while it
finishes a job): ``herald worker`` must then start a fresh loop, not exit and leave no worker.
Only SIGTERM/SIGINT ends it. The loop is driven with real RQ workers over a real Redis."""
from __future__ import annotations

import signal
import sys

import pytest
from rq import Queue, Worker

from tests.faults.one_job_worker import DONE
from tests.herald_env import env_for, write_config
from tests.processes import Proc, redis_client, wait_for

pytestmark = pytest.mark.slow
RESTARTED = "the RQ loop ended without a stop request; the worker carries on"


def _loop(tmp_path, redis_url: str) -> Proc:
    env = env_for(write_config(tmp_path / "conf"), redis_url)
    proc = Proc([sys.executable, "-m", "tests.faults.one_job_worker"], env)
    wait_for(lambda: "ready" in proc.lines, 60, "the loop starting", proc)
    return proc


def test_loop_that_quits_by_itself_is_started_again(tmp_path, redis_url):
    client = redis_client(redis_url)
    proc = _loop(tmp_path, redis_url)
    try:
        queue = Queue("herald", connection=client)
        for n in range(3):
            queue.enqueue("tests.faults.one_job_worker.mark", str(n))
        # Each RQ worker quits after one job; all three ran, so the loop was started again twice.
        wait_for(lambda: client.llen(DONE) == 3, 60, "three jobs done", proc)
        assert sorted(client.lrange(DONE, 0, -1)) == ["0", "1", "2"]
        assert sum(RESTARTED in line for line in proc.lines) >= 2, proc.output()
        assert proc.process.poll() is None, proc.output()  # still serving
    finally:
        proc.terminate()
        proc.process.wait(timeout=60)
        proc.stop()
    # SIGTERM is a stop that was asked for: the loop ends, the process exits 0.
    assert proc.process.returncode == 0 and "stopped cleanly" in proc.lines, proc.output()


def test_sigterm_ends_the_loop_without_a_restart(tmp_path, redis_url):
    proc = _loop(tmp_path, redis_url)
    try:
        client = redis_client(redis_url)
        wait_for(lambda: Worker.all(connection=client), 30, "the RQ worker registered", proc)
        proc.process.send_signal(signal.SIGTERM)
        proc.process.wait(timeout=60)
    finally:
        proc.stop()
    assert proc.process.returncode == 0 and "stopped cleanly" in proc.lines, proc.output()
    assert not any(RESTARTED in line for line in proc.lines), proc.output()
