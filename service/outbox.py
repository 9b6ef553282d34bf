"""The worker's side of the outbox: incidents a webhook committed with work to do.

The webhook answers Alertmanager as soon as the incident and its outbox entry are
written (one atomic script); it enqueues nothing itself. Each worker runs
``drain_forever`` in a thread: it blocks on the outbox list, sends each incident's due
pages at once and sets its RQ timers (next escalation, pages due later) from the
stored state. An entry taken by a worker that dies before acting on it is not lost:
the ticker and the sweep find the same work in the due index.
"""
from __future__ import annotations

import logging
import threading

import redis

from service.delivery import deliver
from service.runtime import Herald

log = logging.getLogger("herald.outbox")

#: Seconds a drain waits on an empty outbox before looking at ``stop`` again.
WAIT_SECONDS = 1.0
#: Incident ids taken per round trip.
BATCH = 100


def handle(herald: Herald, incident_id: str) -> int:
    """Send what is due for the incident now; set the timers for what is due later
    (a page held until later is left to its timer: this thread never waits for one)."""
    incident = herald.store.get(incident_id)
    if incident is None:
        return 0
    now = herald.clock()
    due_now = incident.status == "triggered" and any(p.at <= now for p in incident.pending_pages())
    sent = deliver(herald, incident_id, incident) if due_now else 0
    herald.schedule(herald.timers(incident), incident.version)
    return sent


def drain(herald: Herald, wait: float = 0.0) -> int:
    """Act on one batch of outbox entries (``wait``: block up to that long for the first)."""
    done = 0
    for incident_id in dict.fromkeys(herald.store.take_outbox(BATCH, wait=wait)):
        try:
            done += handle(herald, incident_id)
        except Exception:  # one bad incident must not stop the others; the sweep retries it
            log.exception("outbox: incident %s failed", incident_id)
    return done


def drain_forever(herald: Herald, stop: threading.Event, retry_seconds: float = 1.0) -> None:
    while not stop.is_set():
        try:
            drain(herald, wait=WAIT_SECONDS)
        except redis.RedisError as exc:  # Redis away: wait for it; the sweep catches up after
            log.debug("outbox: %s", type(exc).__name__)
            stop.wait(retry_seconds)
