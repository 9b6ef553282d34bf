"""The one path for due work: the due index, a clock loop per worker, one repair pass.

Everything that becomes due is an entry of one sorted set in Redis (``keys.DUE``, see
``integrations.due_store``), written in the same atomic write as the state that makes it
due: an incident's entry by the incident commit (its next escalation, its pending pages,
an ack timeout or snooze running out, a hold ending), a periodic task's entry by the task
itself when it has run (retention purge, heartbeat deadlines, shift-start digests, Slack's
on-call user groups), a
crashed job's retry by its failure callback, a follower's (an outgoing webhook's) by the
incident commit or the handoff write that gives it something to follow
(``service.engine.followers``; run beside the RQ loop, ``run_beside``).

Each worker runs ``clock_forever`` in a thread: it claims the entries that are due (an
atomic claim under a lease: two loops never hand out the same entry) and hands each to
RQ as a job with a deterministic id (``keys.job_id``); RQ's worker runs it (``run_claimed``).
When nothing is due it blocks on ``keys.DUE_WAKE`` until the next entry's time, or until
a writer signals an earlier entry — a blocking wait, not polling. Every
``HERALD_SWEEP_INTERVAL`` it runs the repair pass (``repair``), which re-derives entries
from stored state (open incidents, claims whose lease ran out) and executes nothing.

Never early: an incident's job acts on what its stored state says is due at the job's
own clock; a job that starts early (clock skew between hosts) waits up to
``MAX_EARLY_WAIT`` or puts the entry back for later.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

import redis
from rq.job import Job

from integrations import keys
from integrations.due_store import DueIndex
from routing.incident import Escalate
from service.engine import heartbeats
from service.telemetry import metrics
from service.engine import followers, retention
from service.engine.delivery import deliver
from service.engine.runtime import Herald
from service.engine.shift_digest import send_digests
from service.engine.slack_groups import sync_groups

log = logging.getLogger("herald.due")

#: Entries claimed per round trip.
BATCH = 100
#: Longest single blocking wait (below the Redis client's socket timeout).
MAX_WAIT = 2.0
#: Redis ends a blocking wait on its own 100 ms beat: the last stretch is slept here.
REDIS_BEAT = 0.11
#: A job that starts early by less than this waits; more, and its entry goes back.
MAX_EARLY_WAIT = 2.0
#: An incident still due after its job ran (a provider failure, a crash) runs again after this.
RETRY_SECONDS = 1.0
#: The RQ job that runs a claimed entry (``service.worker.jobs.due``), named: jobs import this module.
JOB = "service.worker.jobs.due"
#: Retries of a failed RQ job (a handoff notice): the waits before each, from the due index.
RETRY_BACKOFF = (5, 15, 60, 300, 900)


# -- running one entry ------------------------------------------------------------------------
def run_incident(herald: Herald, incident_id: str) -> int:
    """Do what is due for one incident now: escalate it if its escalation is due (never
    early), then send its pages that are due. Answers escalations plus messages sent."""
    incident = herald.store.get(incident_id)
    if incident is None or not incident.is_open:
        return 0
    done = 0
    due = incident.next_escalation_at
    if due is not None:
        early = (due - herald.clock()).total_seconds()
        if 0 < early <= MAX_EARLY_WAIT:  # clock skew between the claiming host and this one
            time.sleep(early)
        if due <= herald.clock():
            decision = herald.act(incident_id, Escalate(round=incident.round))
            if decision.changed and not decision.early:
                metrics.observe_escalation_lateness(due, herald.clock())
                done += 1
            incident = decision.incident if decision.changed else herald.store.get(incident_id)
    if incident is not None and incident.status == "triggered" and any(
            p.at <= herald.clock() for p in incident.pending_pages()):
        done += deliver(herald, incident_id, incident)
    return done


def _periodic_retention(herald: Herald, now: datetime) -> tuple[int, float]:
    purged = retention.purge(herald, now)
    # A full batch: more are waiting, so the next pass comes at once.
    return purged, RETRY_SECONDS if purged >= retention.PURGE_BATCH else herald.settings.sweep_interval


def _periodic_heartbeats(herald: Herald, now: datetime) -> tuple[int, float]:
    done = heartbeats.check(herald)  # heartbeats past their deadline open (and resolve) their incidents
    nearest = herald.heartbeats.next_deadline_after(now)
    wait = herald.settings.sweep_interval
    if nearest is not None:  # the next deadline, if it comes before the next pass
        wait = min(wait, max((nearest - now).total_seconds(), 0.0) + 0.01)
    return done, wait


def _periodic_digests(herald: Herald, now: datetime) -> tuple[int, float]:
    return send_digests(herald, now), herald.settings.sweep_interval  # the incoming on-call learns what is open


#: Periodic tasks, in the order ``run_now`` runs them (the purge first: when Redis is
#: full, it is what frees it). Each answers (work done, seconds until it is due again).
PERIODIC: dict[str, Callable[[Herald, datetime], tuple[int, float]]] = {
    "retention": _periodic_retention,
    "heartbeats": _periodic_heartbeats,
    "digests": _periodic_digests,
    "slack-groups": sync_groups,  # on-call Slack user groups follow shift changes and handoffs
}


def run_periodic(herald: Herald, task: str, index: DueIndex | None = None) -> int:
    """Run one periodic task and put its entry back at its next time."""
    index = index or herald.due
    now = herald.clock()
    wait = herald.settings.sweep_interval
    try:
        done, wait = PERIODIC[task](herald, now)
        return done
    finally:
        index.arm(keys.due_periodic(task), now.timestamp() + wait, only_earlier=False)


def _rearm_incident(herald: Herald, index: DueIndex, incident_id: str) -> None:
    """Put an incident's entry back from its stored state once its job ran. Its own
    commits wrote the entry already; this covers a job that wrote nothing (it started
    early, or failed): still due, it runs again in ``RETRY_SECONDS``, never in a tight loop."""
    incident = herald.store.get(incident_id)
    due = incident.due_at() if incident is not None else None
    if due is None:
        return
    member, now = keys.due_incident(incident_id), herald.clock()
    if due <= now:
        index.arm(member, (now + timedelta(seconds=RETRY_SECONDS)).timestamp(), only_earlier=False)
    else:
        index.arm(member, due.timestamp())


def run(herald: Herald, member: str, index: DueIndex | None = None) -> int:
    """Run one due-index entry (claimed by the caller) and put it back for next time."""
    index = index or herald.due
    kind, _, name = member.partition(":")
    if kind == "incident":
        try:
            return run_incident(herald, name)
        finally:
            _rearm_incident(herald, index, name)
    if kind == "periodic" and name in PERIODIC:
        return run_periodic(herald, name, index)
    if kind == "follow":
        try:
            return followers.run_follow(herald, *followers.parse_member(name))
        except Exception:  # e.g. Redis away mid-run: the sink is handed the entry again later
            index.arm(member, (herald.clock() + followers.FAILED_RETRY).timestamp())
            raise
    if kind == "handoffs":
        try:
            return followers.run_handoffs(herald, name)
        except Exception:
            index.arm(member, (herald.clock() + followers.FAILED_RETRY).timestamp())
            raise
    log.warning("due index: unknown entry %r dropped", member)
    return 0


def lease_seconds(herald: Herald) -> float:
    """How long a claim on an entry lasts unrenewed: ``HERALD_SEND_LEASE``. A worker that
    dies with it frees it within that time; the repair pass then offers it again."""
    return herald.settings.send_lease


class _LeaseRenewer:
    """Renews a claim every third of its lease while the job runs."""

    def __init__(self, herald: Herald, index: DueIndex, member: str) -> None:
        self.herald, self.index, self.member = herald, index, member
        self.lease = lease_seconds(herald)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="herald-due-lease", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.lease / 3):
            try:
                self.index.renew(self.member, self.herald.clock().timestamp() + self.lease)
            except redis.RedisError as exc:  # the next tick tries again; the lease is 3 ticks long
                log.warning("could not renew the claim on %s: %s", self.member, type(exc).__name__)

    def __enter__(self) -> "_LeaseRenewer":
        self.index.renew(self.member, self.herald.clock().timestamp() + self.lease)  # it may have waited in RQ
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def run_claimed(herald: Herald, member: str, index: DueIndex | None = None) -> int:
    """The RQ job's body: run the entry under its renewed claim, then end the claim."""
    index = index or herald.due
    try:
        with _LeaseRenewer(herald, index, member):
            return run(herald, member, index)
    finally:
        index.done(member)


#: Threads per follower sink that run its entries beside the RQ loop (``run_beside``).
FOLLOW_THREADS = 2


class _Lane:
    """A sink's own threads (daemons: a stopping worker does not wait for a hung endpoint;
    the claims they held run out and the repair pass offers them again)."""

    def __init__(self, sink: str) -> None:
        self.jobs: queue.SimpleQueue[tuple[Herald, str, DueIndex | None]] = queue.SimpleQueue()
        for n in range(FOLLOW_THREADS):
            threading.Thread(target=self._work, name=f"herald-follow-{sink}-{n}", daemon=True).start()

    def _work(self) -> None:
        while True:
            herald, member, index = self.jobs.get()
            _run_logged(herald, member, index)


_follow_lanes: dict[str, _Lane] = {}
_follow_lanes_lock = threading.Lock()


def _run_logged(herald: Herald, member: str, index: DueIndex | None) -> None:
    try:
        run_claimed(herald, member, index)
    except Exception:
        log.exception("due entry %s failed", member)


def run_beside(herald: Herald, member: str, index: DueIndex | None = None) -> None:
    """The RQ job's body for a follower's entry (``follow:<sink>:<incident>``,
    ``handoffs:<sink>``): handed to
    that sink's own few threads, so the RQ loop goes straight on to the next job — a
    page is never queued behind a webhook's timeout, and one sink's backlog never holds up
    another's. The claim stays held (and renewed) until the entry ran there; a worker that
    dies meanwhile frees it with its lease, and the repair pass offers it again."""
    kind, _, rest = member.partition(":")
    sink = rest if kind == "handoffs" else followers.parse_member(rest)[0]
    with _follow_lanes_lock:
        lane = _follow_lanes.get(sink)
        if lane is None:
            lane = _follow_lanes[sink] = _Lane(sink)
    lane.jobs.put((herald, member, index))


# -- handing out what is due ------------------------------------------------------------------
def hand_out(herald: Herald, index: DueIndex) -> tuple[int, float | None]:
    """Claim what is due now and hand it to RQ; answer how many, and when the next entry
    left is due (None: none seen)."""
    now = herald.clock().timestamp()
    claimed, next_at = index.claim(now, now + lease_seconds(herald), BATCH)
    for member, due in claimed:
        try:
            if member.startswith("retry:"):  # a failed job's next attempt: back onto RQ's queue
                herald.queue.failed_job_registry.requeue(member.partition(":")[2])
                index.done(member)
                continue
            herald.queue.enqueue(JOB, member, job_id=keys.job_id("due", member, int(due * 1000)),
                                 result_ttl=60, failure_ttl=86400)
        except redis.RedisError:
            raise  # the claim's lease runs out and the repair pass offers the entry again
        except Exception:  # e.g. the failed job is gone: nothing to retry
            log.exception("due index: %s could not be handed out", member)
            index.done(member)
    return len(claimed), next_at


def retry_later(job: Job, connection: object, *_exc_info: object) -> None:
    """RQ's failure callback for a job retried with a backoff (a handoff notice): its next
    attempt is an entry of the due index (RQ's own ``Retry`` intervals need its scheduler)."""
    attempt = int(job.meta.get("attempt", 0))
    if attempt >= len(RETRY_BACKOFF):
        return  # it stays in RQ's failed job registry
    job.meta["attempt"] = attempt + 1
    job.save_meta()
    DueIndex(connection).arm(f"retry:{job.id}", time.time() + RETRY_BACKOFF[attempt], only_earlier=False)


# -- the repair pass --------------------------------------------------------------------------
def repair(herald: Herald, index: DueIndex | None = None) -> int:
    """Re-derive the due index from stored state; execute nothing. Claims whose lease ran
    out (a worker died with them) go back; an open incident with work overdue by more than
    ``HERALD_SWEEP_GRACE`` and no entry gets one; a periodic task with no entry gets one, due now. Answers how many
    entries it put back."""
    index = index or herald.due
    now = herald.clock()
    restored = index.requeue_expired(now.timestamp())
    for member in restored:
        log.warning("repair: %s was claimed by a worker that never finished it; offered again", member)
    in_index, in_flight = index.members()
    legacy = [m for m in in_index if ":" not in m]  # bare incident ids, from before the members named the work
    for incident_id in legacy:  # the same due time, under the member that names the work
        at = index.score(incident_id)
        if at is not None:
            index.arm(keys.due_incident(incident_id), at)
    index.drop(legacy)
    present = (in_index - set(legacy)) | {keys.due_incident(i) for i in legacy} | in_flight
    missing = [i for i in herald.store.open_ids() if keys.due_incident(i) not in present]
    # Only work overdue by more than the grace: a fresher one may be a commit racing this read.
    cutoff = now - timedelta(seconds=herald.settings.sweep_grace)
    entries: list[tuple[str, float]] = []
    for start in range(0, len(missing), 200):
        chunk = missing[start:start + 200]
        for incident in herald.store.get_many(chunk):
            due = incident.due_at() if incident is not None else None
            if incident is not None and due is not None and due <= cutoff:
                entries.append((keys.due_incident(incident.id), due.timestamp()))
    entries += [(keys.due_periodic(task), now.timestamp()) for task in PERIODIC
                if keys.due_periodic(task) not in present]
    entries += followers.missing_entries(herald, present, now)  # a follower behind its incident's timeline
    added = index.add_missing(entries)
    for member in added:
        if member.startswith(("incident:", "follow:", "handoffs:")):
            log.warning("repair: %s had work due and no entry in the due index; added", member)
    return len(restored) + len(added)


# -- the clock loop ---------------------------------------------------------------------------
def _repair_and_beat(herald: Herald, index: DueIndex, name: str) -> None:
    try:
        repair(herald, index)
        herald.status.worker_alive(name, herald.clock().timestamp())
        metrics.sweep_finished(ok=True)
    except redis.RedisError as exc:
        metrics.sweep_finished(ok=False)
        if _out_of_memory(exc):
            _purge_when_full(herald)
        raise
    except Exception:
        metrics.sweep_finished(ok=False)
        log.exception("repair pass failed")


def _out_of_memory(exc: Exception) -> bool:
    return isinstance(exc, redis.ResponseError) and "OOM" in str(exc)


def _purge_when_full(herald: Herald) -> None:
    """Redis is full, so no claim can be written: run the retention purge here, which
    frees room (its first write is a delete, which Redis lets through)."""
    try:
        retention.purge(herald, herald.clock())
    except Exception:
        log.exception("retention purge on a full Redis failed")


def clock_forever(herald: Herald, stop: threading.Event, name: str, retry_seconds: float = 1.0) -> None:
    """A worker's clock loop (a thread): hand out what is due, else block until the
    next entry's time or a writer's signal; the repair pass every sweep interval."""
    index = herald.due
    next_repair = 0.0
    while not stop.is_set():
        try:
            if time.monotonic() >= next_repair:
                next_repair = time.monotonic() + herald.settings.sweep_interval
                _repair_and_beat(herald, index, name)
            handed, next_at = hand_out(herald, index)
            if handed:
                continue
            wait = min(MAX_WAIT, next_repair - time.monotonic())
            if next_at is not None:
                wait = min(wait, next_at - herald.clock().timestamp())
            if wait > REDIS_BEAT:
                index.wait(wait - REDIS_BEAT)
            elif wait > 0:
                stop.wait(wait)
        except redis.RedisError as exc:  # Redis away: wait for it; the repair pass catches up after
            if _out_of_memory(exc):
                _purge_when_full(herald)
            log.debug("clock loop: %s", type(exc).__name__)
            stop.wait(retry_seconds)
        except Exception:
            log.exception("clock loop failed")
            stop.wait(retry_seconds)


def hand_out_now(herald: Herald) -> int:
    """Hand everything due now to RQ (``herald worker --burst``); answers how many."""
    index = herald.due
    total = 0
    while True:
        handed, _ = hand_out(herald, index)
        total += handed
        if handed < BATCH:
            return total


def run_now(herald: Herald, *, periodic: bool = False) -> int:
    """Run, in this process and thread, every entry due now until none is left
    (``periodic``: run every periodic task first, due or not). What the tests and tools
    use for "a worker did what was due"; answers the work done."""
    index = herald.due
    done = 0
    if periodic:
        for task in PERIODIC:
            try:
                done += run_periodic(herald, task, index)
            except Exception:
                log.exception("periodic task %s failed", task)
    for _ in range(1000):
        now = herald.clock().timestamp()
        claimed, _next = index.claim(now, now + lease_seconds(herald), BATCH)
        if not claimed:
            break
        for member, _due in claimed:
            try:
                if member.startswith("retry:"):  # a failed job's next attempt: back onto RQ's queue
                    try:
                        herald.queue.failed_job_registry.requeue(member.partition(":")[2])
                    finally:
                        index.done(member)
                    continue
                done += run_claimed(herald, member, index)
            except Exception:  # one bad entry must not stop the others
                log.exception("due entry %s failed", member)
    return done
