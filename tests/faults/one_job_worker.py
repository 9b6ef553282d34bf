"""``python -m tests.faults.one_job_worker``: Herald's RQ loop (``service.worker.process.serve_rq``)
over real RQ workers that each quit after one job by themselves (RQ's own ``max_jobs``), the
way RQ's loop quits when Redis goes away while it finishes a job. Run as a process so that
RQ's signal handlers are installed in a main thread and SIGTERM is the real stop."""
from __future__ import annotations

import logging
import sys
from typing import Any

from rq import SimpleWorker, get_current_job

from service.engine.runtime import Herald
from service.settings import Settings
from service.worker.process import serve_rq

DONE = "test:one-job-worker:done"


def mark(value: str) -> None:
    """The job the test enqueues: remember that it ran."""
    job = get_current_job()
    assert job is not None
    job.connection.rpush(DONE, value)


class OneJobWorker(SimpleWorker):
    def work(self, **kwargs: Any) -> bool:
        return super().work(max_jobs=1, **kwargs)


def _new(herald: Herald) -> SimpleWorker:
    return OneJobWorker([herald.queue], connection=herald.queue.connection)


def main() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(name)s: %(message)s")
    herald = Herald.from_settings(Settings())
    print("ready", flush=True)
    serve_rq(herald, _new(herald), new_worker=_new)
    print("stopped cleanly", flush=True)


if __name__ == "__main__":
    main()
