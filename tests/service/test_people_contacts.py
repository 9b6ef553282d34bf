"""The people store through its facade (service/engine/people.py), on a real Redis:
contacts seeded from the file, added, verified with one-time codes sent through the real
Twilio and SendGrid SDKs to the provider simulator, guessing limited, export/import.

docs/people.md says what each behaviour is for."""
from __future__ import annotations

import re

import pytest

from routing.errors import Conflict, Invalid, NotFound
from service.engine import people
from service.engine.people import MAX_WRONG_CODES, TooManyGuesses
from tests.service.sim_stack import ALICE, sim_stack_factory  # noqa: F401

NEW_PHONE = "+15550100077"


def _code(message) -> str:
    found = re.findall(r"\b\d{6}\b", message.body or message.text)
    assert found, message
    return found[0]


# -- seeding from the file ----------------------------------------------------------------------

def test_the_file_seeds_contacts_that_are_paged_but_shown_unverified(herald):
    found = people.contacts(herald, "alice")
    assert [(c.kind, c.address, c.state, c.source, c.paged) for c in found] == [
        ("phone", ALICE, "unverified", "config", True), ("email", "alice@example.com", "unverified", "config", True)]
    assert people.verified_contacts(herald, "alice") == []
    who = people.person(herald, "alice")
    assert (who.name, who.phone, who.email) == ("Alice Adams", ALICE, "alice@example.com")
    assert herald.people.stored_ids() == []  # reading writes nothing


def test_an_unknown_person_is_not_found(herald):
    with pytest.raises(NotFound, match="person: no person with id 'mallory'"):
        people.contacts(herald, "mallory")
    with pytest.raises(NotFound):
        people.add_contact(herald, "mallory", "phone", NEW_PHONE)


def test_a_changed_file_replaces_the_seeded_contact_but_not_a_verified_one(herald):
    import dataclasses

    from schedules.model import Person

    people.add_contact(herald, "bob", "email", "bob@work.example")  # now stored
    moved = dataclasses.replace(herald.config, people={**herald.config.people, "bob": Person(
        id="bob", name="Bob Brown", email="bob@example.com", phone="+15550100099")})
    herald.config = moved
    assert [(c.address, c.source) for c in people.contacts(herald, "bob") if c.kind == "phone"] == [
        ("+15550100099", "config")]
    assert people.person(herald, "bob").phone == "+15550100099"


# -- adding and verifying ----------------------------------------------------------------------

def test_an_added_phone_is_not_paged_until_verified_and_then_replaces_the_old_one(sim_stack_factory):
    stack = sim_stack_factory()
    herald = stack.herald
    old = people.contact(herald, "alice", ALICE)
    added = people.add_contact(herald, "alice", "phone", NEW_PHONE, replaces=old.id)
    assert (added.state, added.paged, added.replaces) == ("unverified", False, old.id)
    assert people.person(herald, "alice").phone == ALICE  # the old one stays in use

    people.send_code(herald, "alice", added.id, "verify")
    [text] = stack.pages_to(NEW_PHONE)
    assert "verification code" in text.body
    assert people.check_code(herald, "alice", added.id, "verify", _code(text)) is True

    phones = [c for c in people.contacts(herald, "alice") if c.kind == "phone"]
    assert [(c.address, c.state) for c in phones] == [(NEW_PHONE, "verified")]
    assert phones[0].verified_at is not None and phones[0].verified_at <= herald.clock()
    assert people.person(herald, "alice").phone == NEW_PHONE
    assert [c.address for c in people.verified_contacts(herald, "alice")] == [NEW_PHONE]


def test_a_code_is_used_once_and_a_wrong_one_verifies_nothing(sim_stack_factory):
    stack = sim_stack_factory()
    herald = stack.herald
    people.send_code(herald, "bob", "bob@example.com", "verify")
    [mail] = stack.sim.messages_for(to="bob@example.com", channel="email")
    code = _code(mail)
    wrong = "000000" if code != "000000" else "111111"
    assert people.check_code(herald, "bob", "bob@example.com", "verify", wrong) is False
    assert people.contact(herald, "bob", "bob@example.com").state == "unverified"
    assert people.check_code(herald, "bob", "bob@example.com", "verify", code) is True
    assert people.check_code(herald, "bob", "bob@example.com", "verify", code) is False  # used up
    assert people.contact(herald, "bob", "bob@example.com").state == "verified"
    stored = herald.people.redis.keys("herald:people:code:*")
    assert stored == []


def test_a_code_by_voice_is_spoken_and_works(sim_stack_factory):
    stack = sim_stack_factory()
    people.send_code(stack.herald, "alice", ALICE, "verify", via="voice")
    [call] = stack.pages_to(ALICE, "voice")
    digits = re.search(r"code is ((?:\d, ){5}\d)", call.twiml).group(1).replace(", ", "")
    assert "<Gather" not in call.twiml  # nothing to press: a code is read out
    assert people.check_code(stack.herald, "alice", ALICE, "verify", digits) is True


def test_guessing_is_refused_after_five_wrong_codes_even_the_right_one(sim_stack_factory):
    stack = sim_stack_factory()
    herald = stack.herald
    people.send_code(herald, "alice", ALICE, "verify")
    code = _code(stack.pages_to(ALICE)[-1])
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(MAX_WRONG_CODES):
        assert people.check_code(herald, "alice", ALICE, "verify", wrong) is False
    with pytest.raises(TooManyGuesses) as refused:
        people.check_code(herald, "alice", ALICE, "verify", code)
    assert refused.value.retry_after > 0 and "5 wrong codes for alice" in refused.value.message
    assert people.contact(herald, "alice", ALICE).state == "unverified"
    # per person and purpose: sign-in guessing for alice and bob's verification are unaffected
    assert herald.people.guesses_left("signin", "alice", MAX_WRONG_CODES)[0] == MAX_WRONG_CODES
    assert herald.people.guesses_left("verify", "bob", MAX_WRONG_CODES)[0] == MAX_WRONG_CODES


def test_signin_codes_go_to_verified_contacts_only(sim_stack_factory):
    stack = sim_stack_factory()
    with pytest.raises(Conflict, match="not verified"):
        people.send_code(stack.herald, "alice", ALICE, "signin")
    assert stack.pages_to(ALICE) == []
    with pytest.raises(Invalid, match="purpose"):
        people.send_code(stack.herald, "alice", ALICE, "login")
    with pytest.raises(Invalid, match="via: a email takes email"):
        people.send_code(stack.herald, "alice", "alice@example.com", "verify", via="sms")


def test_a_contact_that_replied_stop_shows_opted_out_and_gets_no_sms_code(sim_stack_factory):
    stack = sim_stack_factory()
    stack.reply(ALICE, "STOP")
    assert people.contact(stack.herald, "alice", ALICE).state == "opted_out"
    with pytest.raises(Conflict, match="replied STOP"):
        people.send_code(stack.herald, "alice", ALICE, "verify")
    stack.reply(ALICE, "START")
    assert people.contact(stack.herald, "alice", ALICE).state == "unverified"


# -- changes refused -----------------------------------------------------------------------------

def test_bad_addresses_and_duplicates_are_refused_and_nothing_is_written(herald):
    with pytest.raises(Invalid, match="address: '555-0100' is not a phone number"):
        people.add_contact(herald, "alice", "phone", "555-0100")
    with pytest.raises(Invalid, match="kind: 'pager'"):
        people.add_contact(herald, "alice", "pager", "123")
    with pytest.raises(Conflict, match="already has phone"):
        people.add_contact(herald, "alice", "phone", ALICE)
    with pytest.raises(Invalid, match="replaces: contact .* is a email"):
        people.add_contact(herald, "alice", "phone", NEW_PHONE, replaces="alice@example.com")
    assert herald.people.stored_ids() == []


def test_the_last_paged_contact_cannot_be_removed(herald):
    people.remove_contact(herald, "alice", "alice@example.com")
    with pytest.raises(Conflict, match="last contact that is paged"):
        people.remove_contact(herald, "alice", ALICE)
    assert [c.address for c in people.contacts(herald, "alice")] == [ALICE]


# -- failing contacts ----------------------------------------------------------------------------

def test_a_permanent_failure_marks_the_contact_failing_and_a_success_clears_it(herald):
    from integrations.notifier import SendResult

    people.note_send(herald, "alice", ALICE, SendResult("failed", detail="21211 invalid 'To' number"))
    assert (people.contact(herald, "alice", ALICE).state,
            people.contact(herald, "alice", ALICE).failing) == ("failing", "21211 invalid 'To' number")
    people.note_send(herald, "alice", ALICE, SendResult("retry", detail="timeout"))  # transient: no change
    assert people.contact(herald, "alice", ALICE).state == "failing"
    people.note_send(herald, "alice", ALICE, SendResult("sent", provider_id="SM1"))
    assert people.contact(herald, "alice", ALICE).state == "unverified"


# -- rules storage -------------------------------------------------------------------------------

def test_rules_are_stored_per_person_and_removed_with_none(herald):
    assert people.rules(herald, "alice") is None
    people.set_rules(herald, "alice", {"high": [{"channel": "voice", "delay_minutes": 0}]})
    assert people.rules(herald, "alice") == {"high": [{"channel": "voice", "delay_minutes": 0}], "low": []}
    assert herald.rules.of(["alice"])["alice"].high[0].channel == "voice"  # what decide() is given
    assert people.rules(herald, "bob") is None
    people.set_rules(herald, "alice", None)
    assert people.rules(herald, "alice") is None
    with pytest.raises(Invalid, match="rules: must be a JSON object"):
        people.set_rules(herald, "alice", ["voice"])
    with pytest.raises(Invalid, match=r"rules\.high\.0\.delay_minutes: Input should be greater than or equal to 0"):
        people.set_rules(herald, "alice", {"high": [{"channel": "voice", "delay_minutes": -1}]})
    assert people.rules(herald, "alice") is None


# -- export / import -----------------------------------------------------------------------------

def test_export_then_import_moves_contacts_states_and_rules(sim_stack_factory):
    stack = sim_stack_factory()
    source = stack.herald
    added = people.add_contact(source, "alice", "phone", NEW_PHONE)
    people.send_code(source, "alice", added.id, "verify")
    assert people.check_code(source, "alice", added.id, "verify", _code(stack.pages_to(NEW_PHONE)[-1]))
    people.set_rules(source, "bob", {"low": [{"channel": "email", "delay_minutes": 5}]})
    exported = people.export(source)
    assert exported["format"] == "herald-people/1" and set(exported["people"]) == {"alice", "bob", "erin", "dave"}

    source.people.redis.flushall()  # another instance: nothing stored
    assert people.rules(source, "bob") is None
    counts = people.import_people(source, exported)
    assert counts == {"people": 4, "contacts": 9, "rules": 1}
    assert people.contact(source, "alice", NEW_PHONE).state == "verified"
    assert people.rules(source, "bob") == {"high": [], "low": [{"channel": "email", "delay_minutes": 5}]}
    assert "code" not in str(exported)


def test_an_import_naming_an_unknown_person_or_a_bad_address_writes_nothing(herald):
    good = people.export(herald)
    bad = {"format": "herald-people/1", "people": {**good["people"], "mallory": {"contacts": []}}}
    with pytest.raises(Invalid, match="people.mallory: no person with id 'mallory'"):
        people.import_people(herald, bad)
    worse = {"format": "herald-people/1", "people": {"alice": {"contacts": [
        {"kind": "phone", "address": "12345"}]}}}
    with pytest.raises(Invalid, match=r"people.alice.contacts.0.address: '12345' is not a phone number"):
        people.import_people(herald, worse)
    with pytest.raises(Invalid, match="format"):
        people.import_people(herald, {"format": "other", "people": {}})
    assert herald.people.stored_ids() == []
