"""Workers die: SIGKILL in the middle of an escalation job, and a worker gone while
an escalation waits in the due index. A due page is still sent — by a surviving
worker — never early, and exactly once (counted in the provider simulator)."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import redis

from integrations import keys
from tests.faults.harness import ALICE, BOB, SessionProc, deploy
from tests.processes import wait_for

pytestmark = pytest.mark.slow


def _sent_by(worker: SessionProc, incident_id: str, round_: int) -> bool:
    """Whether this worker's Twilio SMS notifier logged the round's page as sent."""
    return any(f"incident={incident_id} round={round_} outcome=sent" in line for line in worker.lines)


def _rounds_never_early(incident: dict, delay: float) -> None:
    """Each escalation round began at least ``delay`` after the one before it."""
    started = [datetime.fromisoformat(e["at"]) for e in incident["timeline"]
               if e["kind"] in ("paging", "escalated")]
    assert len(started) >= 2
    assert all(b - a >= timedelta(seconds=delay) for a, b in zip(started, started[1:])), started


def _sender_of(redis_url: str, incident_id: str) -> int | None:
    """The pid of the worker holding the send-log claim on bob's round-2 SMS (the
    claim names the process)."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        held = client.get(keys.send_log(incident_id, 2, "bob", "sms")) or ""
        return int(held.rsplit(":", 1)[1]) if held.startswith("claimed:") else None
    finally:
        client.close()


def test_worker_killed_while_sending_an_escalation_page(tmp_path, redis_url):
    # The default SMS rate window (60 s) on: the dead worker must not hold bob's window either.
    stack = deploy(tmp_path, redis_url, workers=2, delay="3s", HERALD_RATE_LIMIT_SMS="60",
                   HERALD_PROVIDER_TIMEOUT="25")
    try:
        incident_id = stack.fire()
        stack.wait_texts(ALICE, 1, 15)
        stack.fail("sms", "timeout", seconds=30)  # bob's page hangs at the provider ...
        wait_for(lambda: not stack.sim.failures["sms"], 20, "the escalation reaching the provider")
        pid = wait_for(lambda: _sender_of(redis_url, incident_id), 5, "the worker sending bob's page")
        victim = next(w for w in stack.workers if w.process.pid == pid)
        [survivor] = [w for w in stack.workers if w is not victim]
        victim.kill_group()  # ... and its worker dies mid-job, horse and all
        assert stack.incident(incident_id)["round"] >= 2  # the escalation itself was committed

        # The survivor sends it once the dead sender's lease has run out (later tiers go
        # on escalating meanwhile: 3 s each).
        [page] = stack.wait_texts(BOB, 1, 30)
        wait_for(lambda: _sent_by(survivor, incident_id, 2), 10, "the survivor's log of bob's page")
        assert not _sent_by(victim, incident_id, 2)
        stack.sent_once(incident_id, 2, "bob", page.provider_id)
        assert len(stack.texts(BOB)) == 1
        pages = [e["details"] for e in stack.incident(incident_id)["timeline"] if e["kind"] == "page"]
        assert [(p["round"], p["provider_id"]) for p in pages if p["person"] == "bob"] == [(2, page.provider_id)]
    finally:
        stack.stop()


def test_a_worker_dies_before_the_escalation_is_due_and_the_survivor_escalates(tmp_path, redis_url):
    """The escalation is an entry of the due index, not a timer held by one process:
    whichever worker is left hands it out when it is due."""
    stack = deploy(tmp_path, redis_url, workers=2, delay="3s")
    try:
        incident_id = stack.fire()
        stack.wait_texts(ALICE, 1, 15)
        assert stack.incident(incident_id)["round"] == 1, "L1's window ended before the worker died"
        victim, survivor = stack.workers
        victim.kill_group()
        [page] = stack.wait_texts(BOB, 1, 30)
        wait_for(lambda: _sent_by(survivor, incident_id, 2), 10, "the survivor's log of bob's page")
        assert not _sent_by(victim, incident_id, 2)
        stack.sent_once(incident_id, 2, "bob", page.provider_id)
        assert len(stack.texts(BOB)) == 1
        incident = stack.incident(incident_id)
        assert incident["round"] >= 2
        _rounds_never_early(incident, 3)  # L2 no earlier than L1's 3 s, and not escalated twice
    finally:
        stack.stop()
