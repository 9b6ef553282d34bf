"""One incident paging a 40-person tier: the pages go out side by side (a thread pool
per channel, ``HERALD_SEND_CONCURRENCY``), each with every guarantee of its own — the
send-log claim before the send, a failure recorded for that person only, and no page
sent twice when the delivery runs again. The provider simulator answers each API call
after ``LATENCY`` seconds, as Twilio does, so calls overlap only if Herald makes them
at once. No upper time limit is asserted (the machine is shared): overlap is."""
from __future__ import annotations

from pathlib import Path

import pytest

from bench.stack import everyone_tier_config
from service.worker import jobs
from service.engine.delivery import deliver
from tests.service.sim_stack import sim_stack_factory  # noqa: F401

TIER = 40
LATENCY = 0.3  # seconds per provider API call


def phone(n: int) -> str:
    return f"+1555020{n:04d}"


def tier_config(directory: Path) -> Path:
    """The whole TIER on the first tier of the only policy, paged by SMS."""
    return everyone_tier_config(directory, [phone(n) for n in range(TIER)])


@pytest.fixture
def tier_stack(sim_stack_factory, tmp_path, monkeypatch):
    def start(**env: str):
        stack = sim_stack_factory(HERALD_CONFIG=str(tier_config(tmp_path / "tier")), **env)
        monkeypatch.setattr(jobs, "_herald", stack.herald)  # the fallback jobs a failure asks for
        stack.sim.set_latency(LATENCY)
        return stack
    return start


def sms_to(stack, n: int):
    return stack.pages_to(phone(n))


def test_forty_pages_go_out_at_once_each_exactly_once(tier_stack):
    stack = tier_stack(HERALD_SEND_CONCURRENCY="16")
    incident_id = stack.fire("tier")
    before = stack.incident(incident_id)
    assert len(before.pending_pages()) == TIER

    assert deliver(stack.herald, incident_id) == TIER
    assert [len(sms_to(stack, n)) for n in range(TIER)] == [1] * TIER
    # The simulator answered each call after LATENCY: calls overlapped only if made at once.
    assert stack.sim.max_in_flight > 1, "the pages went out one at a time"
    assert stack.sim.max_in_flight <= 16  # bounded by HERALD_SEND_CONCURRENCY
    after = stack.incident(incident_id)
    assert {p.state for p in after.pages} == {"sent"}
    assert after.version == before.version + 1, "the outcomes were not committed in one write"
    assert len([e for e in after.timeline if e.kind == "page"]) == TIER

    assert deliver(stack.herald, incident_id) == 0  # run again (a retried job): nothing more goes out
    assert [len(sms_to(stack, n)) for n in range(TIER)] == [1] * TIER


def test_concurrency_one_sends_one_page_at_a_time(tier_stack):
    stack = tier_stack(HERALD_SEND_CONCURRENCY="1")
    stack.sim.set_latency(0.02)
    incident_id = stack.fire("tier")
    assert deliver(stack.herald, incident_id) == TIER
    assert stack.sim.max_in_flight == 1
    assert sum(len(sms_to(stack, n)) for n in range(TIER)) == TIER


def test_a_provider_failure_for_one_person_does_not_stop_the_others_and_is_recorded(tier_stack):
    stack = tier_stack(HERALD_SEND_CONCURRENCY="16")
    incident_id = stack.fire("tier")
    stack.control("fail", channel="sms", mode="4xx", count=1)  # the first call the provider sees: refused
    assert deliver(stack.herald, incident_id) == TIER - 1
    incident = stack.incident(incident_id)
    [failed] = [p for p in incident.pages if p.channel == "sms" and p.state == "failed"]
    assert "HTTP 400" in failed.detail
    assert len([p for p in incident.pages if p.channel == "sms" and p.state == "sent"]) == TIER - 1
    assert [e.details["person"] for e in incident.timeline if e.kind == "page_failed"] == [failed.person]
    # That person moves on to their next channel (a call), as a failed page always does.
    assert [(p.person, p.channel, p.state) for p in incident.pages if p.fallback_from] == \
        [(failed.person, "voice", "pending")]
    sent_to = {m.to for m in stack.sim.messages_for(channel="sms") if m.direction == "outbound"}
    assert len(sent_to) == TIER - 1 and phone(int(failed.person[1:])) not in sent_to


def test_a_notifier_that_raises_for_one_person_leaves_that_page_to_a_retry(tier_stack, monkeypatch):
    stack = tier_stack(HERALD_SEND_CONCURRENCY="16")
    stack.sim.set_latency(0.05)
    incident_id = stack.fire("tier")
    notifier = stack.herald.notifiers["sms"]
    real = notifier.send

    def flaky(page):
        if page.person_id == "p07":
            raise RuntimeError("a bug in one send")
        return real(page)

    monkeypatch.setattr(notifier, "send", flaky)
    assert deliver(stack.herald, incident_id) == TIER - 1
    incident = stack.incident(incident_id)
    [retry] = [p for p in incident.pages if p.state == "pending"]
    assert (retry.person, retry.attempts) == ("p07", 1) and "RuntimeError" in retry.detail
    monkeypatch.setattr(notifier, "send", real)
    assert deliver(stack.herald, incident_id) == 0  # its retry is not due yet: nothing goes out twice
    assert sum(len(sms_to(stack, n)) for n in range(TIER)) == TIER - 1


def test_a_forked_child_sends_with_threads_of_its_own():
    """RQ forks (its scheduler; a forking worker would per job): the parent's sender
    threads do not exist in the child, so a pool inherited as it was would never run."""
    import os

    from service.engine import delivery

    parent = delivery.pool("sms", 2)
    assert parent.submit(lambda: 1).result() == 1
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through its exit status
        try:
            child = delivery.pool("sms", 2)
            os._exit(0 if child is not parent and child.submit(lambda: 2).result(timeout=30) == 2 else 1)
        finally:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
