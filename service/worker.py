"""``herald worker``: an RQ worker with the scheduler, plus three threads: the outbox
drain, which pages the moment a webhook's incident is committed, the ticker, which
escalates the moment an escalation is due, and the sweep, which catches up on anything
overdue. All of them act through decide(), so they can overlap safely."""
from __future__ import annotations

import contextlib
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

from integrations import keys
from service import jobs, metrics, outbox
from service.runtime import Herald
from service.settings import Settings

log = logging.getLogger("herald.worker")


def _sweep_forever(herald: Herald, stop: threading.Event, name: str) -> None:
    while not stop.wait(herald.settings.sweep_interval):
        try:
            jobs.sweep(herald)
            herald.store.redis.zadd(keys.WORKER_HEARTBEAT, {name: herald.clock().timestamp()})
            metrics.sweep_finished(ok=True)
        except Exception:  # Redis away: keep trying, the next sweep catches up
            metrics.sweep_finished(ok=False)
            log.exception("sweep failed")


#: Seconds between attempts to reach Redis while it is down.
REDIS_RETRY_SECONDS = 1.0

#: Seconds between the ticker's looks at what is due (the escalation precision).
TICK_SECONDS = 0.2


def _tick_forever(herald: Herald, stop: threading.Event) -> None:
    while not stop.wait(TICK_SECONDS):
        try:
            jobs.tick(herald)
        except Exception:  # Redis away: the next tick, the timers and the sweep catch up
            log.debug("tick failed", exc_info=True)


def run_worker(settings: Settings, *, burst: bool = False) -> None:
    herald = Herald.from_settings(settings)
    metrics.observe(redis_url=settings.redis_url, export=False, calendars=herald.calendars)
    if settings.worker_metrics_port is not None:
        metrics.start_worker_metrics_server(settings.worker_metrics_port, settings.worker_metrics_addr)
    jobs.set_context(herald)
    # Jobs run in this process, not a forked child per job: a fork, a fresh Redis and
    # provider connection per job cost 100-300 ms each (bench/), far more than the work.
    # A provider call is bounded by HERALD_PROVIDER_TIMEOUT; a worker that dies mid-job
    # frees its send leases and the sweep of another worker takes over.
    name = f"{socket.gethostname()}:{os.getpid()}"  # RQ's workers come and go (serve_rq); this is ours
    stop = threading.Event()
    sweeper = threading.Thread(target=_sweep_forever, args=(herald, stop, name),
                               name="herald-sweep", daemon=True)
    sweeper.start()
    ticker = threading.Thread(target=_tick_forever, args=(herald, stop), name="herald-tick", daemon=True)
    ticker.start()
    if burst:  # what the webhooks left for a worker, before the queue's own jobs
        while _drain_once(herald):
            pass
    else:
        drainer = threading.Thread(target=outbox.drain_forever, args=(herald, stop, REDIS_RETRY_SECONDS),
                                   name="herald-outbox", daemon=True)
        drainer.start()
    log.info("worker %s on queue %s (sweep every %ss)", name, herald.queue.name, settings.sweep_interval)
    try:
        serve_rq(herald, None, burst=burst)  # its signal handlers are in force before RQ first reaches Redis
    finally:
        stop.set()
    log.info("worker %s stopped", name)


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
        if os.getpid() != owner:  # RQ's scheduler, forked before it set its own handlers: default
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
            worker.work(with_scheduler=True, burst=burst, logging_level="WARNING")
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


def _drain_once(herald: Herald) -> bool:
    """One batch off the outbox; False when it is empty."""
    while True:
        try:
            had = herald.store.redis.llen(keys.OUTBOX) > 0
            if had:
                outbox.drain(herald)
            return had
        except redis.ConnectionError as exc:
            log.warning("Redis unreachable (%s); retrying in %ss", type(exc).__name__, REDIS_RETRY_SECONDS)
            time.sleep(REDIS_RETRY_SECONDS)


#: Seconds the RQ scheduler (a forked child) gets to stop on SIGTERM before it is killed.
SCHEDULER_STOP_SECONDS = 1.5


class HeraldRQWorker(SimpleWorker):
    """RQ's worker, except that stopping never waits for ever on its scheduler child: RQ
    sends it SIGTERM and joins it without a bound, and a child wedged since its fork (a
    lock another thread held at the fork, as libfaketime's can be) held the whole worker
    up on SIGTERM. It gets ``SCHEDULER_STOP_SECONDS``, then SIGKILL: its Redis lock expires
    by itself and the sweep covers what it would have enqueued."""

    def stop_scheduler(self) -> None:
        process = self.scheduler._process if self.scheduler else None
        if process is None or not process.pid:
            return
        with contextlib.suppress(OSError):
            os.kill(process.pid, signal.SIGTERM)
        process.join(SCHEDULER_STOP_SECONDS)
        if process.is_alive():
            log.warning("the RQ scheduler did not stop on SIGTERM within %ss: killed", SCHEDULER_STOP_SECONDS)
            with contextlib.suppress(OSError):
                os.kill(process.pid, signal.SIGKILL)
            process.join(SCHEDULER_STOP_SECONDS)


def _one_rq_worker(herald: Herald) -> SimpleWorker:
    """An RQ worker (RQ talks to Redis as it registers: ConnectionError while Redis is down)."""
    return HeraldRQWorker([herald.queue], connection=herald.queue.connection)


