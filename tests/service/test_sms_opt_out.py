"""STOP and START through the real path: the engineer's reply reaches Herald through the
provider simulator, signed as Twilio signs it; pages go out through the Twilio SDK.

docs/providers.md ("STOP and START"): after STOP an SMS page to that number fails at
once ("the number replied STOP: SMS opted out") and the person moves on to their next
channel (a call); START lifts it.
"""
from __future__ import annotations

from service.worker import due
from service.engine.delivery import deliver
from tests.service.sim_stack import ALICE, sim_stack_factory  # noqa: F401


def test_a_number_that_replied_stop_gets_no_sms_but_a_call_until_it_replies_start(sim_stack_factory, monkeypatch):
    stack = sim_stack_factory()
    assert stack.reply(ALICE, "STOP") == ["Herald: SMS pages stopped for this number; you will be called or "
                                          "emailed instead. Reply START to resume."]

    first = stack.fire("opted-out")
    sent = due.run_now(stack.herald)
    assert stack.pages_to(ALICE) == [], "an SMS went to a number that replied STOP"
    assert sent == 0  # the SMS page is refused before it reaches the provider
    incident = stack.incident(first)
    [sms] = [p for p in incident.pages if p.channel == "sms"]
    assert (sms.person, sms.state, sms.detail) == ("alice", "failed", "the number replied STOP: SMS opted out")
    fallback = [e.details for e in incident.timeline if e.kind == "channel_fallback"]
    assert fallback == [{"person": "alice", "round": 1, "tier": "L1", "failed": "sms", "next": "voice"}]

    assert deliver(stack.herald, first) == 1  # the fallback page (its job waits in RQ: no worker here)
    [call] = stack.pages_to(ALICE, "voice")
    assert stack.pages_to(ALICE) == []  # still no SMS: a call instead
    voice = [p for p in stack.incident(first).pages if p.channel == "voice"]
    assert [(p.state, p.provider_id) for p in voice] == [("sent", call.provider_id)]

    assert stack.reply(ALICE, "START") == ["Herald: SMS pages resumed for this number."]
    second = stack.fire("opted-in-again")
    sent = due.run_now(stack.herald)
    assert len(stack.pages_to(ALICE)) == 1, "no SMS page after the number replied START"
    assert sent == 1
    [sms_page] = stack.pages_to(ALICE)
    assert f"#{second}" in sms_page.body
    [sms] = [p for p in stack.incident(second).pages if p.channel == "sms"]
    assert (sms.state, sms.provider_id) == ("sent", sms_page.provider_id)
    assert len(stack.pages_to(ALICE, "voice")) == 1  # nothing more fell back to a call
