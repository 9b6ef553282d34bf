"""The per-person SMS window lasts its full length, also when it is longer than the
send lease.

While a message is being sent the window is held as a lease (``HERALD_SEND_LEASE``,
renewed during the provider call, so a dead sender frees it); once the message is
sent, the full window (``HERALD_RATE_LIMIT_SMS``) runs from then. Pages for the same
person inside it wait and go out together, as one message, when it ends — not as
soon as the lease would have run out.
"""
from __future__ import annotations

import time
from datetime import datetime

import httpx
import pytest

from service.worker import due
from service.engine.delivery import deliver
from tests.herald_env import API_TOKEN
from tests.service.sim_stack import ALICE, sim_stack_factory  # noqa: F401

WINDOW = 5.0  # seconds: HERALD_RATE_LIMIT_SMS (room for the steps inside it on a busy machine)
LEASE = 1.0  # seconds: HERALD_SEND_LEASE, its minimum; shorter than the window


def wait_until(moment: float) -> None:
    """Sleep until the wall clock has passed ``moment`` (a lower bound only)."""
    while time.time() < moment:
        time.sleep(max(0.01, moment - time.time()))


def deferred_until(stack, incident_id: str) -> datetime:
    [until] = [e.details["until"] for e in stack.incident(incident_id).timeline
               if e.kind == "page_deferred" and e.details["channel"] == "sms"]
    return datetime.fromisoformat(until)


def test_a_window_longer_than_the_lease_holds_later_pages_until_it_ends(sim_stack_factory, monkeypatch):
    stack = sim_stack_factory(HERALD_RATE_LIMIT_SMS=str(WINDOW), HERALD_SEND_LEASE=str(LEASE))
    assert (stack.herald.settings.rate_window("sms"), stack.herald.settings.send_lease) == (WINDOW, LEASE)

    first = stack.fire("first")
    assert due.run_now(stack.herald) == 1
    [sent] = stack.pages_to(ALICE)
    assert f"#{first}" in sent.body

    wait_until(sent.time + LEASE + 0.5)  # the send lease has run out; the window has not
    second, third = stack.fire("second"), stack.fire("third")
    sent_now = due.run_now(stack.herald)
    assert stack.pages_to(ALICE) == [sent], "a page went out inside the SMS window once the send lease ran out"
    assert sent_now == 0
    until = [deferred_until(stack, second), deferred_until(stack, third)]
    # Held for what is left of the full window, counted from the first message (not from the lease).
    assert all(u.timestamp() >= sent.time + WINDOW - 0.05 for u in until), (sent.time, until)
    assert {p.state for i in (second, third) for p in stack.incident(i).pages} == {"pending"}

    wait_until(max(u.timestamp() for u in until) + 0.25)  # the window is over
    assert deliver(stack.herald, second) == 1  # one message carries everything due for alice
    first_sms, bundle = stack.pages_to(ALICE)
    assert first_sms == sent and bundle.time >= sent.time + WINDOW
    assert "2 new incidents" in bundle.body and f"#{second}" in bundle.body and f"#{third}" in bundle.body
    for incident_id in (second, third):
        [page] = stack.incident(incident_id).pages
        assert (page.state, page.provider_id) == ("sent", bundle.provider_id)


@pytest.fixture
def stack(sim_stack_factory):
    """Herald with a WINDOW-second SMS window."""
    built = sim_stack_factory(HERALD_RATE_LIMIT_SMS=str(WINDOW))
    return built


def test_a_page_held_by_the_window_moves_its_rounds_escalation_in_the_store(stack):
    stack.fire("first")
    assert due.run_now(stack.herald) == 1
    second = stack.fire("second")
    opened_due = stack.incident(second).next_escalation_at  # the round's start plus L1's hour
    assert due.run_now(stack.herald) == 0
    until = deferred_until(stack, second)
    held = stack.incident(second)
    assert held.next_escalation_at == until + (opened_due - held.created_at)  # L1's whole hour, from the page
    assert held.timeline[-1].details["escalates_at"] == held.next_escalation_at.isoformat()
    # What the worker reads for due work moved with it: nothing of it is due before the page goes out.
    assert second not in stack.herald.store.due(until.timestamp() - 0.001)
    assert second in stack.herald.store.due(until.timestamp())


def test_a_p0_page_is_not_held_and_carries_what_the_window_held(stack):
    first = stack.fire("first")
    assert due.run_now(stack.herald) == 1
    held = stack.fire("held")
    due.run_now(stack.herald)
    assert {p.state for p in stack.incident(held).pages} == {"pending"}  # inside alice's window
    urgent = stack.fire("urgent", priority="P0")
    due.run_now(stack.herald)
    first_sms, bundle = stack.pages_to(ALICE)  # sent at once, inside the window
    assert f"#{first}" in first_sms.body and f"#{urgent}" in bundle.body and f"#{held}" in bundle.body
    held_page = next(p for p in stack.incident(held).pages if p.person == "alice")
    assert (held_page.state, held_page.provider_id) == ("sent", bundle.provider_id)
    # The window runs again from the P0 message: a P1 after it waits.
    later = stack.fire("later")
    due.run_now(stack.herald)
    assert len(stack.pages_to(ALICE)) == 2 and {p.state for p in stack.incident(later).pages} == {"pending"}


ERIN = "+15550100004"


def test_a_held_page_goes_to_whoever_is_on_call_when_it_is_sent(stack):
    stack.fire("first")
    assert due.run_now(stack.herald) == 1
    second = stack.fire("second")
    assert due.run_now(stack.herald) == 0  # held by alice's window
    until = deferred_until(stack, second)
    r = httpx.post(f"{stack.url}/api/v1/handoffs", json={"schedule": "primary", "tier": "L1", "to": "erin"},
                   headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=10)
    assert r.status_code == 201, r.text  # alice hands L1 over to erin while the page waits

    wait_until(until.timestamp() + 0.25)
    deliver(stack.herald, second)  # alice's window is over: the held page is due
    deliver(stack.herald, second)  # the rerouted page (a delivery job would do this)
    assert len(stack.pages_to(ALICE)) == 1, "the held page went to the person who handed off"
    [to_erin] = stack.pages_to(ERIN)
    assert f"#{second}" in to_erin.body
    incident = stack.incident(second)
    [moved] = [e.details for e in incident.timeline if e.kind == "rerouted"]
    assert (moved["person"], moved["to"], moved["tier"]) == ("alice", ["erin"], "L1")
    assert {(p.person, p.state) for p in incident.pages} == {("alice", "cancelled"), ("erin", "sent")}


def test_a_page_that_did_not_wait_is_not_asked_again(stack):
    first = stack.fire("first")
    r = httpx.post(f"{stack.url}/api/v1/handoffs", json={"schedule": "primary", "tier": "L1", "to": "erin"},
                   headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=10)
    assert r.status_code == 201, r.text
    assert due.run_now(stack.herald) == 1  # decided for alice a moment before the handoff: it goes to her
    assert f"#{first}" in stack.pages_to(ALICE)[0].body and stack.pages_to(ERIN) == []
    assert not [e for e in stack.incident(first).timeline if e.kind == "rerouted"]
