"""The one path for due work: the due index, the clock loop that hands its entries to RQ,
and the repair pass. Never early, once, and nothing lost when a worker dies."""
from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
from rq import SimpleWorker

from integrations import keys
from integrations.due_store import DueIndex
from service.worker import due
from service.worker import jobs
from service.engine.delivery import deliver
from tests.herald_env import open_group


def open_one(client, group: str = "due-test") -> str:
    return open_group(client, group)


def wait_until(condition, what: str, timeout: float = 30.0):
    """A generous bound on a machine under load: this is not a precision assertion."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError(f"gave up waiting for {what}")


@pytest.fixture
def loops(herald):
    """Start clock loops (threads) on ``herald``; all stopped at the end."""
    stop, threads = threading.Event(), []

    def start(n: int = 1) -> None:
        for i in range(n):
            thread = threading.Thread(target=due.clock_forever, args=(herald, stop, f"test-{i}"), daemon=True)
            thread.start()
            threads.append(thread)

    yield start
    stop.set()
    for thread in threads:
        thread.join(5)


def test_escalates_exactly_when_due(client, herald, monkeypatch):
    incident_id = open_one(client)
    assert deliver(herald, incident_id) == 1  # L1's page left: its hour to acknowledge runs from now
    due_at = herald.store.get(incident_id).next_escalation_at
    assert herald.store.redis.zscore(keys.DUE, keys.due_incident(incident_id)) == due_at.timestamp()
    monkeypatch.setattr(herald, "clock", lambda: due_at - timedelta(milliseconds=1))
    monkeypatch.setattr(due, "MAX_EARLY_WAIT", 0.0)  # a job a millisecond early must not wait: it finds nothing
    assert due.run_now(herald) == 0
    assert herald.store.get(incident_id).round == 1  # a millisecond early: nothing
    assert due.run_incident(herald, incident_id) == 0  # even run directly, as a job started early would be
    assert herald.store.get(incident_id).round == 1
    monkeypatch.setattr(herald, "clock", lambda: due_at)
    assert due.run_now(herald) == 2  # the escalation, and L2's page
    incident = herald.store.get(incident_id)
    assert incident.round == 2 and {p.tier for p in incident.pages if p.round == 2} == {"L2"}
    assert any(e.kind == "page" and e.details["tier"] == "L2" for e in incident.timeline)  # delivered too
    assert due.run_now(herald) == 0
    assert herald.store.get(incident_id).round == 2  # a second run finds nothing due


def test_a_fresh_page_is_sent_once_by_its_entry(client, herald):
    incident_id = open_one(client)
    assert due.run_now(herald) == 1
    assert due.run_now(herald) == 0
    assert [e.kind for e in herald.store.get(incident_id).timeline].count("page") == 1


def test_an_entry_due_now_is_handed_out_once_with_two_clock_loops(client, herald, loops):
    ids = [open_one(client, f"group-{n}") for n in range(30)]
    enqueued: list[str] = []
    original = herald.queue.enqueue

    def enqueue(*args, **kwargs):
        enqueued.append(args[1])  # the due-index member
        return original(*args, **kwargs)

    herald.queue.enqueue = enqueue  # type: ignore[method-assign]
    loops(2)
    incidents = lambda: [m for m in enqueued if m.startswith("incident:")]  # noqa: E731 (the repair adds periodic ones)
    wait_until(lambda: len(incidents()) >= len(ids), "every entry handed out")
    time.sleep(0.3)  # room for a second hand-out, which must not come
    assert sorted(incidents()) == sorted(keys.due_incident(i) for i in ids)
    assert len(enqueued) == len(set(enqueued))  # the periodic ones once too
    job_ids = [j for j in herald.queue.get_job_ids() if j.startswith("herald-due-incident-")]
    assert len(job_ids) == len(set(job_ids)) == len(ids)
    assert herald.queue.scheduled_job_registry.count == 0  # nothing left to RQ's scheduler


def test_an_escalation_due_in_two_seconds_runs_then_and_never_before(client, herald, loops, monkeypatch):
    incident_id = open_one(client)
    assert deliver(herald, incident_id) == 1
    due_at = herald.store.get(incident_id).next_escalation_at  # an hour from now
    offset = due_at - datetime.now(timezone.utc) - timedelta(seconds=2)
    monkeypatch.setattr(herald, "clock", lambda: datetime.now(timezone.utc) + offset)  # now it is 2 s away
    jobs.set_context(herald)
    monkeypatch.setattr(jobs, "_herald", herald)
    handed_at: list[datetime] = []
    original = herald.queue.enqueue

    def enqueue(*args, **kwargs):
        if args[1] == keys.due_incident(incident_id):
            handed_at.append(herald.clock())
        return original(*args, **kwargs)

    herald.queue.enqueue = enqueue  # type: ignore[method-assign]
    loops(1)
    wait_until(lambda: handed_at, "the escalation handed to RQ")
    assert handed_at[0] >= due_at  # never early
    SimpleWorker([herald.queue], connection=herald.queue.connection).work(burst=True)
    incident = herald.store.get(incident_id)
    assert incident.round == 2
    [escalated] = [e for e in incident.timeline if e.kind == "page" and e.details["tier"] == "L2"]
    assert escalated.at >= due_at


def test_a_worker_killed_after_claiming_is_repaired(client, herald, monkeypatch):
    incident_id = open_one(client)
    index, now = DueIndex(herald.store.redis), herald.clock()
    lease = due.lease_seconds(herald)
    claimed, _ = index.claim(now.timestamp(), now.timestamp() + lease)
    assert claimed == [(keys.due_incident(incident_id), pytest.approx(now.timestamp(), abs=5))]
    # ... and its worker dies here: no job, no done().
    assert due.run_now(herald) == 0  # in flight under a live lease: nobody else takes it
    assert due.repair(herald) >= 0 and herald.store.get(incident_id).pending_pages()  # lease live: left alone
    later = now + timedelta(seconds=lease + 1)
    monkeypatch.setattr(herald, "clock", lambda: later)
    assert due.repair(herald) >= 1  # the lease ran out: offered again
    assert herald.store.redis.zscore(keys.DUE_INFLIGHT, keys.due_incident(incident_id)) is None
    assert due.run_now(herald) == 1  # alice is paged after all
    assert [e.kind for e in herald.store.get(incident_id).timeline].count("page") == 1


def test_repair_re_derives_a_lost_entry_and_runs_nothing_itself(client, herald, monkeypatch):
    incident_id = open_one(client)
    herald.store.redis.delete(keys.DUE)  # lost (a failover that dropped the last writes, say)
    due.repair(herald)
    assert herald.store.redis.zscore(keys.DUE, keys.due_incident(incident_id)) is None  # not overdue enough yet
    later = herald.clock() + timedelta(seconds=herald.settings.sweep_grace + 1)
    monkeypatch.setattr(herald, "clock", lambda: later)
    assert due.repair(herald) >= 1
    assert herald.store.get(incident_id).pending_pages()  # repair ran nothing
    assert herald.store.redis.zscore(keys.DUE, keys.due_incident(incident_id)) is not None
    assert {keys.due_periodic(t) for t in due.PERIODIC} <= set(herald.store.redis.zrange(keys.DUE, 0, -1))
    assert due.run_now(herald) >= 1
    assert [e.kind for e in herald.store.get(incident_id).timeline].count("page") == 1


def test_an_earlier_entry_wakes_a_loop_blocked_on_a_later_one(client, herald, loops, monkeypatch):
    for task in due.PERIODIC:  # every periodic task later: only the new incident is due
        herald.store.redis.zadd(keys.DUE, {keys.due_periodic(task): time.time() + 3600})
    monkeypatch.setattr(due, "MAX_WAIT", 60.0)  # block for the later entry's time
    monkeypatch.setattr(herald.settings, "sweep_interval", 30.0)
    waits: list[tuple[float, bool | None]] = []
    original_wait = DueIndex.wait

    def wait(self, timeout):
        waits.append((timeout, None))
        woken = original_wait(self, timeout)
        waits[-1] = (timeout, woken)
        return woken

    monkeypatch.setattr(DueIndex, "wait", wait)
    loops(1)
    wait_until(lambda: waits and waits[-1][0] > 10 and waits[-1][1] is None, "the loop blocked on the later entry")
    incident_id = open_one(client)  # due now: its commit pushes the wake
    wait_until(lambda: herald.queue.get_job_ids(), "the new entry handed out")
    assert herald.queue.get_job_ids()[0].startswith(f"herald-due-incident-{incident_id}-")
    assert any(timeout > 10 and woken for timeout, woken in waits)  # the long wait ended on the signal


def test_a_job_that_fails_is_retried_from_the_due_index(client, herald, monkeypatch):
    """RQ's own Retry intervals need its scheduler; a failed notice job's next attempt is
    an entry of the due index instead, handed back to RQ by the clock loop."""
    from rq import Callback

    before = time.time()
    job = herald.queue.enqueue("builtins.int", "not a number", job_id=keys.job_id("notice", "test"),
                               on_failure=Callback("service.worker.due.retry_later"))
    SimpleWorker([herald.queue], connection=herald.queue.connection).work(burst=True)
    assert job.get_status(refresh=True) == "failed"
    member = f"retry:{job.id}"
    at = herald.store.redis.zscore(keys.DUE, member)  # RETRY_BACKOFF[0] seconds after the failure
    assert at is not None and at >= before + due.RETRY_BACKOFF[0]  # later, not at once
    herald.store.redis.zadd(keys.DUE, {member: time.time() - 1})  # its time came
    due.hand_out_now(herald)
    assert job.get_status(refresh=True) == "queued"  # back on RQ's queue


def test_worker_burst_does_everything_due_now_and_exits(client, herald):
    """``herald worker --burst``: the repair pass, then what is due now handed to RQ and
    run, then exit; what is due later stays in the index."""
    import os
    import subprocess
    import sys

    incident_id = open_one(client)
    done = subprocess.run([sys.executable, "-m", "service.cli.main", "worker", "--burst"], env=dict(os.environ),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PAGE [sms]" in done.stdout and f"#{incident_id}" in done.stdout  # alice paged (console notifier)
    incident = herald.store.get(incident_id)
    assert [p.state for p in incident.pages] == ["sent"]
    entries = dict(herald.store.redis.zrange(keys.DUE, 0, -1, withscores=True))
    assert entries[keys.due_incident(incident_id)] == incident.next_escalation_at.timestamp()  # the escalation, later
    assert all(at > time.time() for at in entries.values())  # the periodic tasks ran too: nothing due now is left
    assert herald.store.redis.zcard(keys.DUE_INFLIGHT) == 0


def test_repair_renames_an_older_heralds_bare_entries(client, herald):
    """An older Herald named an incident's entry by its bare id: the repair pass moves it
    to the member that names the work, due at the same time."""
    incident_id = open_one(client)
    member = keys.due_incident(incident_id)
    at = herald.store.redis.zscore(keys.DUE, member)
    herald.store.redis.zrem(keys.DUE, member)
    herald.store.redis.zadd(keys.DUE, {incident_id: at})
    due.repair(herald)
    assert herald.store.redis.zscore(keys.DUE, member) == at and herald.store.redis.zscore(keys.DUE, incident_id) is None
    assert due.run_now(herald) == 1
