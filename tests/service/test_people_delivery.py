"""Delivery pages the people store's addresses (docs/people.md, "Which contact is paged"):
the file's contacts while nobody changed them, a contact a person added only once it is
verified (the one it replaces until then), and a permanent failure shows as failing.
Pages go through the real Twilio SDK to the provider simulator."""
from __future__ import annotations

import re

from integrations.notifier import SendResult
from service.engine import people
from service.engine.delivery import deliver
from service.worker import due
from tests.service.sim_stack import ALICE, sim_stack_factory  # noqa: F401

NEW_PHONE = "+15550100077"


def test_a_new_phone_is_paged_only_once_verified_and_the_old_one_until_then(sim_stack_factory):
    stack = sim_stack_factory()
    herald = stack.herald
    added = people.add_contact(herald, "alice", "phone", NEW_PHONE, replaces=ALICE)

    first = stack.fire("before-verifying")
    assert due.run_now(herald) == 1
    assert [f"#{first}" in m.body for m in stack.pages_to(ALICE)] == [True]
    assert stack.pages_to(NEW_PHONE) == []  # an unverified number a person typed is never paged

    people.send_code(herald, "alice", added.id, "verify")
    [code_text] = stack.pages_to(NEW_PHONE)
    assert people.check_code(herald, "alice", added.id, "verify", re.findall(r"\d{6}", code_text.body)[0])

    stack.herald.paging.give_back_rate_window("alice", "sms")  # the first page's rate window: not this test's
    second = stack.fire("after-verifying")
    assert due.run_now(herald) == 1
    assert [f"#{second}" in m.body for m in stack.pages_to(NEW_PHONE)[1:]] == [True]
    assert len(stack.pages_to(ALICE)) == 1  # the replaced number gets nothing more
    [sms] = [p for p in stack.incident(second).pages if p.channel == "sms"]
    assert (sms.person, sms.state) == ("alice", "sent")
    stack.reply(NEW_PHONE, "4")  # "just 4": the latest page to this number, which is the new one
    acked = stack.incident(second)
    assert acked.status == "acknowledged" and acked.acknowledged_by == "alice"


def test_a_seeded_unverified_contact_is_still_paged(sim_stack_factory):
    stack = sim_stack_factory()
    assert people.contact(stack.herald, "alice", ALICE).state == "unverified"
    incident = stack.fire("upgrade")
    assert due.run_now(stack.herald) == 1
    assert [f"#{incident}" in m.body for m in stack.pages_to(ALICE)] == [True]


def test_a_page_the_provider_refuses_marks_the_contact_failing_until_a_send_works(sim_stack_factory):
    stack = sim_stack_factory()
    stack.control("fail", channel="sms", mode="4xx", count=1)
    incident = stack.fire("refused")
    due.run_now(stack.herald)
    [sms] = [p for p in stack.incident(incident).pages if p.channel == "sms"]
    assert sms.state == "failed"
    found = people.contact(stack.herald, "alice", ALICE)
    assert found.state == "failing" and "21211" in found.failing

    [result] = people.send_test_page(stack.herald, "alice", ALICE)
    assert result["outcome"] == "sent" and result["channel"] == "sms"
    assert people.contact(stack.herald, "alice", ALICE).state == "unverified"
    assert "test page from Herald" in stack.pages_to(ALICE)[-1].body


def test_an_sms_reported_undelivered_marks_the_number_failing_but_a_missed_call_does_not(sim_stack_factory):
    stack = sim_stack_factory()
    incident = stack.fire("undelivered")
    assert due.run_now(stack.herald) == 1
    [sms] = stack.pages_to(ALICE)
    entry = stack.control("status", provider_id=sms.provider_id, status="undelivered", error_code="30003")
    assert entry["status_code"] == 200, entry
    found = people.contact(stack.herald, "alice", ALICE)
    assert found.state == "failing" and "sms undelivered" in found.failing
    assert people.contact(stack.herald, "alice", "alice@example.com").state == "unverified"

    people.note_send(stack.herald, "alice", ALICE, SendResult("sent", provider_id="SMx"))  # a later send worked
    assert deliver(stack.herald, incident) == 1  # the fallback: a call
    [call] = stack.pages_to(ALICE, "voice")
    entry = stack.control("status", provider_id=call.provider_id, status="no-answer")
    assert entry["status_code"] == 200, entry
    assert people.contact(stack.herald, "alice", ALICE).state == "unverified"  # nobody answering is no bad number
