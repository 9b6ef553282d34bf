"""The people API over HTTP (docs/api.md, "People"): add a contact, verify it with the code
the simulator received, remove it, send a test page; refusals name the field."""
from __future__ import annotations

import re

import httpx

from service.engine import people
from tests.herald_env import API_TOKEN
from tests.service.sim_stack import ALICE, sim_stack_factory  # noqa: F401

NEW_PHONE = "+15550100077"
READER = "reader-token-0123456789"


def _api(stack, method: str, path: str, token: str = API_TOKEN, **kwargs) -> httpx.Response:
    return httpx.request(method, f"{stack.url}/api/v1/people{path}", headers={"Authorization": f"Bearer {token}"},
                         timeout=10, **kwargs)


def test_add_verify_and_remove_a_contact(sim_stack_factory):
    stack = sim_stack_factory()
    r = _api(stack, "POST", "/alice/contacts", json={"kind": "phone", "address": NEW_PHONE, "replaces": ALICE})
    assert r.status_code == 201, r.text
    added = r.json()
    assert (added["state"], added["paged"], added["source"]) == ("unverified", False, "person")

    r = _api(stack, "POST", f"/alice/contacts/{added['id']}/verify", json={})
    assert r.status_code == 202 and r.json()["sent"] is True and 0 < r.json()["expires_in"] <= 600
    code = re.findall(r"\d{6}", stack.pages_to(NEW_PHONE)[-1].body)[0]
    r = _api(stack, "POST", f"/alice/contacts/{added['id']}/confirm", json={"code": code})
    assert r.status_code == 200, r.text
    assert (r.json()["state"], r.json()["paged"]) == ("verified", True)

    listed = _api(stack, "GET", "/alice/contacts").json()["contacts"]
    assert [(c["kind"], c["address"], c["state"]) for c in listed] == [
        ("email", "alice@example.com", "unverified"), ("phone", NEW_PHONE, "verified")]
    summary = {p["id"]: p for p in _api(stack, "GET", "").json()["people"]}
    assert (summary["alice"]["verified"], summary["alice"]["reachable"], summary["bob"]["reachable"]) == (1, True, False)

    assert _api(stack, "DELETE", "/alice/contacts/alice@example.com").status_code == 204
    r = _api(stack, "DELETE", f"/alice/contacts/{added['id']}")
    assert r.status_code == 409 and r.json()["detail"].startswith("contact: +15550100077 is alice's last contact")


def test_a_wrong_code_is_a_400_and_guessing_ends_in_429(sim_stack_factory):
    stack = sim_stack_factory()
    assert _api(stack, "POST", "/bob/contacts/bob@example.com/verify").status_code == 202
    code = re.findall(r"\d{6}", stack.sim.messages_for(to="bob@example.com", channel="email")[-1].text)[0]
    wrong = "000000" if code != "000000" else "111111"
    for left in (4, 3, 2, 1, 0):
        r = _api(stack, "POST", "/bob/contacts/bob@example.com/confirm", json={"code": wrong})
        assert r.status_code == 400 and r.json()["detail"] == (
            f"code: wrong or expired code; {left} more tries this hour (ask for a new code if it has expired)")
    r = _api(stack, "POST", "/bob/contacts/bob@example.com/confirm", json={"code": code})
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
    assert r.json()["detail"].startswith("code: 5 wrong codes for bob within the hour")


def test_bad_input_names_the_field_and_a_read_token_may_not_see_or_change_contacts(sim_stack_factory):
    stack = sim_stack_factory(HERALD_API_TOKENS=f"reader:read:{READER}")
    r = _api(stack, "POST", "/alice/contacts", json={"kind": "phone", "address": "0123"})
    assert r.status_code == 400 and r.json()["detail"].startswith("address: '0123' is not a phone number")
    r = _api(stack, "POST", "/mallory/contacts", json={"kind": "email", "address": "m@example.com"})
    assert r.status_code == 404 and r.json()["detail"] == "person: no person with id 'mallory'"
    r = _api(stack, "POST", "/alice/contacts/alice@example.com/verify", json={"via": "voice"})
    assert r.status_code == 400 and r.json()["detail"] == "via: a email takes email, not 'voice'"
    assert _api(stack, "GET", "/alice/contacts", token=READER).status_code == 403
    assert _api(stack, "POST", "/alice/test-page", token=READER).status_code == 403
    assert [p["id"] for p in _api(stack, "GET", "", token=READER).json()["people"]] == ["alice", "bob", "erin", "dave"]
    assert stack.sim.messages == []  # nothing was sent by any of it


def test_send_me_a_test_page_goes_to_every_paged_contact(sim_stack_factory):
    stack = sim_stack_factory()
    r = _api(stack, "POST", "/alice/test-page")
    assert r.status_code == 200, r.text
    assert [(s["address"], s["channel"], s["outcome"]) for s in r.json()["sent"]] == [
        (ALICE, "sms", "sent"), ("alice@example.com", "email", "sent")]
    r = _api(stack, "POST", "/alice/test-page", json={"contact": ALICE, "via": "voice"})
    assert [(s["channel"], s["outcome"]) for s in r.json()["sent"]] == [("voice", "sent")]
    assert "test page from Herald" in stack.pages_to(ALICE, "voice")[-1].twiml
    for _ in range(people.MAX_TEST_PAGES - 2):
        assert _api(stack, "POST", "/alice/test-page", json={"contact": "alice@example.com"}).status_code == 200
    r = _api(stack, "POST", "/alice/test-page")
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
    assert r.json()["detail"].startswith("contact: 10 test pages were sent to alice within the hour")
    assert _api(stack, "POST", "/bob/test-page").status_code == 200  # per person


def test_an_added_number_is_hidden_from_read_tokens_like_the_files(sim_stack_factory):
    stack = sim_stack_factory(HERALD_API_TOKENS=f"reader:read:{READER}")
    people.add_contact(stack.herald, "alice", "phone", NEW_PHONE)
    r = httpx.post(f"{stack.url}/api/v1/handoffs", headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=10,
                   json={"schedule": "primary", "tier": "L1", "to": "bob", "note": f"call {NEW_PHONE} or {ALICE}"})
    assert r.status_code in (200, 201), r.text
    hid = r.json()["id"]
    shown = httpx.get(f"{stack.url}/api/v1/handoffs/{hid}", headers={"Authorization": f"Bearer {READER}"},
                      timeout=10).json()
    assert shown["note"] == "call [contact hidden] or [contact hidden]"
    whole = httpx.get(f"{stack.url}/api/v1/handoffs/{hid}", headers={"Authorization": f"Bearer {API_TOKEN}"},
                      timeout=10).json()
    assert NEW_PHONE in whole["note"]
