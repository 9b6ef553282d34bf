"""``herald worker`` as it is, except RQ's ``SimpleWorker`` (jobs run in the worker
process) instead of ``Worker`` (a forked work horse per job, whose Redis connections
are re-opened in every child). Started by ``bench.experiments.worker_variants``."""
from __future__ import annotations

import logging
import sys
import threading

from rq import SimpleWorker

from service import jobs
from service.runtime import Herald
from service.settings import Settings
from service.worker import _sweep_forever


def main() -> int:
    settings = Settings()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    herald = Herald.from_settings(settings)
    jobs.set_context(herald)
    worker = SimpleWorker([herald.queue], connection=herald.queue.connection)
    stop = threading.Event()
    threading.Thread(target=_sweep_forever, args=(herald, stop, worker.name), daemon=True).start()
    try:
        worker.work(with_scheduler=True, logging_level="WARNING")
    finally:
        stop.set()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
