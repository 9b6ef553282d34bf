"""7. Worker stop: seconds from SIGTERM to the exit of ``herald worker`` in each state it can be
in — Redis up and idle; Redis gone while RQ's loop retries it; Redis away from the start
(Herald's own loop waits for it) — against a plain RQ ``SimpleWorker`` process with Redis up
(the baseline: what RQ's own warm shutdown costs). Goal: under 2 s in every state, so that
a rolling restart during a Redis failover never waits for Kubernetes' or docker's kill.
"""
from __future__ import annotations

import signal
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from bench.report import row
from bench.stack import Proc, Stack, wait_for

NAME = "worker_stop"
FULL = {"repeats": 5}
QUICK = {"repeats": 1}
GOAL_S = 2.0
STATES = ("redis_up", "redis_down_rq_retrying", "redis_down_from_start")


def _logged(proc: Proc, text: str) -> bool:
    return text in proc.output(tail=20000)


def _stop_seconds(proc: Proc) -> float:
    started = time.monotonic()
    proc.process.send_signal(signal.SIGTERM)
    proc.process.wait(timeout=120)
    return time.monotonic() - started


def _one(workdir: Path, state: str, n: int) -> float:
    with Stack(workdir / f"{state}-{n}", appendonly=False) as stack:
        if state == "redis_down_from_start":
            stack.redis_server.stop()
        proc = Proc("worker", [sys.executable, "-m", "service.cli.main", "worker"], stack.env, stack.workdir)
        stack.procs.append(proc)
        wait_for(lambda: _logged(proc, " on queue "), 60, "herald worker to start", proc)
        if state == "redis_up":
            wait_for(lambda: stack.redis.scard("rq:workers"), 30, "the RQ worker to register", proc)
            time.sleep(0.5)
        elif state == "redis_down_rq_retrying":
            wait_for(lambda: stack.redis.scard("rq:workers"), 30, "the RQ worker to register", proc)
            stack.redis_server.stop()
            wait_for(lambda: _logged(proc, "could not connect to Redis instance"), 60, "RQ to retry", proc)
        else:
            wait_for(lambda: _logged(proc, "herald.worker: Redis unreachable"), 60, "the worker to wait", proc)
        return _stop_seconds(proc)


def _baseline(workdir: Path, n: int) -> float:
    """A plain RQ worker (``rq worker --worker-class rq.SimpleWorker``), Redis up and idle."""
    with Stack(workdir / f"rq-{n}", appendonly=False) as stack:
        proc = Proc("rq", [sys.executable, "-m", "rq.cli", "worker", "--worker-class", "rq.SimpleWorker",
                           "--url", stack.redis_server.url, "herald"], stack.env, stack.workdir)
        stack.procs.append(proc)
        wait_for(lambda: stack.redis.scard("rq:workers"), 30, "the RQ worker to register", proc)
        time.sleep(0.5)
        return _stop_seconds(proc)


def run(quick: bool, workdir: Path) -> dict[str, Any]:
    size = QUICK if quick else FULL
    base = [_baseline(workdir, n) for n in range(size["repeats"])]
    out: dict[str, Any] = {"config": size, "rq_baseline": {"max_s": max(base), "median_s": statistics.median(base)}}
    rows = [row(NAME, "plain RQ worker: SIGTERM to exit, Redis up (baseline)", max(base), "s")]
    for state in STATES:
        seconds = [_one(workdir, state, n) for n in range(size["repeats"])]
        out[state] = {"max_s": max(seconds), "median_s": statistics.median(seconds)}
        rows.append(row(NAME, f"herald worker: SIGTERM to exit, {state.replace('_', ' ')} (max of {len(seconds)})",
                        max(seconds), "s", baseline=max(base), baseline_name="plain RQ worker",
                        goal=f"< {GOAL_S:g} s", met=max(seconds) < GOAL_S))
    out["rows"] = rows
    return out
