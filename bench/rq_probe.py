"""The escalation-precision baseline: a no-op RQ job that records when it ran.

Scheduled with ``Queue.enqueue_at(due, probe, due_ts, key)`` and run by a plain
``rq worker --with-scheduler`` (RQ's default forking worker, as ``herald worker`` uses):
what RQ's scheduler alone gives — it polls once a second and stores due times in whole
seconds — with nothing of Herald's on top.
"""
from __future__ import annotations

import time


def probe(due_ts: float, key: str) -> None:
    from rq import get_current_job

    ran = time.time()
    job = get_current_job()
    assert job is not None
    job.connection.rpush(key, f"{due_ts} {ran}")
