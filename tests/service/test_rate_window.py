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

from service import jobs, outbox
from service.delivery import deliver
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
    monkeypatch.setattr(jobs, "_herald", stack.herald)

    first = stack.fire("first")
    assert outbox.drain(stack.herald) == 1
    [sent] = stack.pages_to(ALICE)
    assert f"#{first}" in sent.body

    wait_until(sent.time + LEASE + 0.5)  # the send lease has run out; the window has not
    second, third = stack.fire("second"), stack.fire("third")
    sent_now = outbox.drain(stack.herald)
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
