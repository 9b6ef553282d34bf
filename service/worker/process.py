"""``herald worker``: an RQ worker, plus one thread, the clock loop (service/worker/due.py): it
hands RQ each entry of the due index the moment it is due (escalations, pages, timers,
periodic tasks) and runs the repair pass. RQ's own scheduler is not used: nothing is
enqueued for later, the due index is the one timer. Everything acts through decide(),
so jobs that overlap are safe."""
from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable

import redis

from rq import SimpleWorker
from rq.exceptions import StopRequested

from service.worker import due
from service.worker import jobs
from service.telemetry import metrics
from service.engine.runtime import Herald
from service.settings import Settings

log = logging.getLogger("herald.worker")

#: Seconds between attempts to reach Redis while it is down.
REDIS_RETRY_SECONDS = 1.0
#: ``--burst``: rounds of "hand out what is due now, run it" at most (a job can make more due now).
BURST_ROUNDS = 10


def run_worker(settings: Settings, *, burst: bool = False) -> None:
    herald = Herald.from_settings(settings)
    metrics.observe(redis_url=settings.redis_url, export=False, calendars=herald.calendars)
    if settings.worker_metrics_port is not None:
        metrics.start_worker_metrics_server(settings.worker_metrics_port, settings.worker_metrics_addr)
    jobs.set_context(herald, beside=not burst)
    # Jobs run in this process, not a forked child per job: a fork, a fresh Redis and
    # provider connection per job cost 100-300 ms each (bench/), far more than the work.
    # A provider call is bounded by HERALD_PROVIDER_TIMEOUT; a worker that dies mid-job
    # frees its send leases, and the repair pass offers its claimed entries again.
    name = f"{socket.gethostname()}:{os.getpid()}"  # RQ's workers come and go (serve_rq); this is ours
    stop = threading.Event()
    log.info("worker %s on queue %s (repair pass every %ss)", name, herald.queue.name, settings.sweep_interval)
    try:
        if burst:  # everything due now, then exit
            _with_redis(lambda: due.repair(herald))
            for _ in range(BURST_ROUNDS):
                handed = _with_redis(lambda: due.hand_out_now(herald))
                serve_rq(herald, None, burst=True)
                if not handed:
                    break
        else:
            clock = threading.Thread(target=due.clock_forever, args=(herald, stop, name, REDIS_RETRY_SECONDS),
                                     name="herald-clock", daemon=True)
            clock.start()
            serve_rq(herald, None, burst=burst)  # its signal handlers are in force before RQ first reaches Redis
    finally:
        stop.set()
    log.info("worker %s stopped", name)


def _with_redis(call: Callable[[], int]) -> int:
    """``call``, retried while Redis is unreachable."""
    while True:
        try:
            return call()
        except redis.ConnectionError as exc:
            log.warning("Redis unreachable (%s); retrying in %ss", type(exc).__name__, REDIS_RETRY_SECONDS)
            time.sleep(REDIS_RETRY_SECONDS)


def serve_rq(herald: Herald, worker: SimpleWorker | None, *, burst: bool = False,
             new_worker: Callable[[Herald], SimpleWorker] | None = None) -> None:
    """Run RQ's work loop until a stop is asked for (SIGTERM/SIGINT) or a burst ends.

    RQ's loop also ends by itself: it logs "found an unhandled exception, quitting" when Redis
    goes away while a job is being finished, or "Redis connection timeout, quitting". That is
    not a stop, so wait ``REDIS_RETRY_SECONDS`` and start a fresh RQ worker (``new_worker``).
    Between RQ loops (start-up, the wait, a fresh worker's registration) RQ's own signal
    handlers are not in force: ours record the stop, and it is honoured there too."""
    new_worker = new_worker or _one_rq_worker
    stopping = threading.Event()
    current = [worker]

    owner = os.getpid()

    def _stop(signum: int, _frame: object) -> None:
        if os.getpid() != owner:  # a child forked before it set its own handlers: default
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        stopping.set()
        if current[0] is not None:
            current[0]._stop_requested = True  # RQ's loop checks it before each dequeue

    def _our_handlers() -> None:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, _stop)
            signal.signal(signal.SIGINT, _stop)

    _our_handlers()
    while True:
        try:
            if worker is None:
                worker = current[0] = new_worker(herald)
            if stopping.is_set():
                return  # asked to stop while the RQ worker was being made: its loop never starts
            worker.work(with_scheduler=False, burst=burst, logging_level="WARNING")
            if burst or stopping.is_set() or _stop_was_requested(worker):
                return  # a clean stop (SIGTERM) or the end of a burst
            log.warning("the RQ loop ended without a stop request; the worker carries on")
        except StopRequested:  # SIGTERM while RQ was tearing its loop down: RQ's handler raises it
            return
        except redis.ConnectionError as exc:  # Redis away (at start or later): wait for it, never exit
            if stopping.is_set() or (worker is not None and _stop_was_requested(worker)):
                return  # asked to stop (RQ's handler took the signal): RQ's goodbye to Redis failed, no matter
            log.warning("Redis unreachable (%s); retrying in %ss", type(exc).__name__, REDIS_RETRY_SECONDS)
        _our_handlers()
        worker = None
        if stopping.wait(REDIS_RETRY_SECONDS):
            return


def _stop_was_requested(worker) -> bool:
    """Whether SIGTERM/SIGINT (or RQ's stop command) asked this RQ worker to stop."""
    return bool(getattr(worker, "_shutdown_requested_date", None) or getattr(worker, "_stop_requested", False))


def _one_rq_worker(herald: Herald) -> SimpleWorker:
    """An RQ worker (RQ talks to Redis as it registers: ConnectionError while Redis is down)."""
    return SimpleWorker([herald.queue], connection=herald.queue.connection)


