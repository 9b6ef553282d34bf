"""Personal sign-in with a one-time code: who you are comes from the code, not from a
form; the session is personal (recorded as you, with your role from the configuration)."""
from __future__ import annotations

import re

import pytest

from service.web.session import COOKIE
from tests.herald_env import AM_TOKEN, fixture_payload
from tests.signin_env import ask_code, browser, csrf_of, running, sign_in, signin_settings, type_code


@pytest.fixture
def env(tmp_path, redis_url, monkeypatch):
    settings = signin_settings(tmp_path, redis_url, monkeypatch)
    with running(settings) as (herald, outbox):
        yield settings, herald, outbox


def open_incident(c) -> str:
    r = c.post("/api/v1/alertmanager", json=fixture_payload("firing.json"),
               headers={"Authorization": f"Bearer {AM_TOKEN}"})
    assert r.status_code == 200, r.text
    return r.json()["incidents"][0]["id"]


def test_a_code_by_sms_signs_a_person_in_and_their_actions_are_theirs(env):
    settings, herald, outbox = env
    with browser(settings, herald) as c:
        r = sign_in(c, outbox, "erin")
        assert r.status_code == 303 and r.headers["location"] == "/ui/me"
        mine = c.get("/ui/me")
        assert mine.status_code == 200 and "Erin Engel" in mine.text and "responder" in mine.text
        assert "+15550100004" in outbox.streams["sms"].getvalue() or "Erin" in outbox.streams["sms"].getvalue()
        incident = open_incident(c)
        page = c.get(f"/ui/incidents/{incident}")
        acked = c.post(f"/ui/incidents/{incident}/ack", data={"csrf": csrf_of(page.text)}, follow_redirects=False)
        assert acked.status_code == 303, acked.text
    stored = herald.store.get(incident)
    assert stored.acknowledged_by == "erin"


def test_an_email_address_in_any_case_and_a_code_by_email_work_too(env):
    settings, herald, outbox = env
    with browser(settings, herald) as c:
        r = sign_in(c, outbox, "Bob@Example.com", via="email")
        assert r.status_code == 303
        assert "manager" in c.get("/ui/me").text
        assert outbox.count("sms") == 0


def test_a_wrong_code_does_not_sign_in_and_nobody_learns_who_exists(env):
    settings, herald, outbox = env
    with browser(settings, herald) as c:
        known = ask_code(c, "erin")
        unknown = ask_code(c, "nobody-here")
        assert known.status_code == unknown.status_code == 200
        assert "If <strong>erin</strong>" in known.text and "If <strong>nobody-here</strong>" in unknown.text
        assert outbox.count("sms") == 1  # only the real person got a code
        right = outbox.last_code("sms")
        wrong = f"{(int(right) + 1) % 1_000_000:06d}"
        r = type_code(c, wrong, unknown.text)  # the pending sign-in is nobody's now
        assert r.status_code == 401 and COOKIE in c.cookies
        assert c.get("/ui/me", follow_redirects=False).status_code == 303  # still not signed in


def test_a_code_sent_for_one_sign_in_is_used_up(env):
    settings, herald, outbox = env
    with browser(settings, herald) as c:
        asked = ask_code(c, "erin")
        code = outbox.last_code("sms")
        assert type_code(c, code, asked.text).status_code == 303
    with browser(settings, herald, "192.0.2.11") as other:
        again = ask_code(other, "dave")  # someone else starts a sign-in
        assert type_code(other, code, again.text).status_code == 401


def test_shared_credential_login_still_works_and_says_it_is_shared(env):
    settings, herald, _ = env
    from tests.herald_env import API_TOKEN
    with browser(settings, herald) as c:
        form = c.get("/ui/login")
        assert "Shared-credential login" in form.text and "/ui/signin" in form.text
        r = c.post("/ui/login", data={"credential": API_TOKEN, "person": "alice", "csrf": csrf_of(form.text),
                                      "next": "/ui/"}, follow_redirects=False)
        assert r.status_code == 303
        home = c.get("/ui/")
        assert "self-declared, via shared credential api" in home.text
        assert c.get("/ui/me").status_code == 403  # a shared credential has no "me"


def test_a_verified_added_email_names_the_person_and_gets_the_code(env):
    settings, herald, outbox = env
    from service.engine import people
    added = people.add_contact(herald, "erin", "email", "erin.private@example.com")
    people.send_code(herald, "erin", added, "verify")
    assert people.check_code(herald, "erin", added, "verify", outbox.last_code("email"))
    with browser(settings, herald) as c:
        asked = ask_code(c, "ERIN.PRIVATE@example.com", via="email")
        assert outbox.count("email") == 2  # the verification code, then the sign-in code
        assert type_code(c, outbox.last_code("email"), asked.text).status_code == 303
        assert "Erin Engel" in c.get("/ui/me").text


def test_a_contact_added_and_not_verified_never_gets_a_sign_in_code(env):
    settings, herald, outbox = env
    from service.engine import people
    people.add_contact(herald, "dave", "phone", "+15550199999")  # perhaps not dave's at all
    with browser(settings, herald) as c:
        ask_code(c, "dave")
    sent = outbox.streams["sms"].getvalue()
    assert outbox.count("sms") == 1 and "+15550199999" not in sent


def test_the_role_comes_from_the_configuration_and_decides_the_admin_buttons(env):
    settings, herald, outbox = env
    with browser(settings, herald) as admin, browser(settings, herald, "192.0.2.14") as responder:
        assert sign_in(admin, outbox, "alice").status_code == 303
        assert sign_in(responder, outbox, "erin").status_code == 303
        assert "Log out everyone" in admin.get("/ui/").text
        page = responder.get("/ui/")
        assert "Log out everyone" not in page.text and "erin · responder" in page.text
        refused = responder.post("/ui/logout-everyone", data={"csrf": csrf_of(page.text)})
        assert refused.status_code == 403
        herald.config.roles["erin"] = "admin"  # as after a configuration reload
        assert "Log out everyone" in responder.get("/ui/").text


def test_a_link_that_needed_a_sign_in_is_where_the_person_lands(env):
    settings, herald, outbox = env
    with browser(settings, herald) as c:
        incident = open_incident(c)
        first = c.get(f"/ui/incidents/{incident}", follow_redirects=False)
        assert first.status_code == 303
        login = c.get(first.headers["location"])
        link = login.text.split('href="/ui/signin?next=', 1)[1].split('"', 1)[0]
        form = c.get(f"/ui/signin?next={link}")
        asked = c.post("/ui/signin", data={"who": "erin", "via": "phone", "csrf": csrf_of(form.text),
                                           "next": form.text.split('name="next" value="', 1)[1].split('"', 1)[0]})
        r = type_code(c, outbox.last_code("sms"), asked.text)
        assert r.status_code == 303 and r.headers["location"] == f"/ui/incidents/{incident}"
        # and never somewhere else
        form = c.get("/ui/signin?next=//evil.example/ui/")
        assert 'name="next" value="/ui/me"' in form.text


def test_sign_ins_are_counted_by_method_and_outcome(env):
    from service.telemetry.metrics import REGISTRY

    def count(outcome: str) -> float:
        return REGISTRY.get_sample_value("herald_console_signins_total", {"method": "code", "outcome": outcome}) or 0

    settings, herald, outbox = env
    before = {o: count(o) for o in ("ok", "wrong")}
    with browser(settings, herald) as c:
        asked = ask_code(c, "erin")
        assert type_code(c, "000000" if outbox.last_code("sms") != "000000" else "111111",
                         asked.text).status_code == 401
        assert type_code(c, outbox.last_code("sms"), asked.text).status_code == 303
    assert count("wrong") == before["wrong"] + 1 and count("ok") == before["ok"] + 1


def test_a_code_by_phone_call_reads_the_digits_out(env):
    settings, herald, outbox = env
    with browser(settings, herald) as c:
        asked = ask_code(c, "erin", via="call")
        assert asked.status_code == 200 and outbox.count("sms") == 0
        spoken = outbox.streams["voice"].getvalue()
        digits = "".join(re.search(r"code is ([\d, ]+)\.", spoken).group(1).split(", "))
        assert len(digits) == 6
        assert type_code(c, digits, asked.text).status_code == 303
        refused = c.post("/ui/signin", data={"who": "erin", "via": "pigeon", "csrf": csrf_of(c.get("/ui/signin").text)})
        assert refused.status_code == 400 and "via" in refused.text


def test_a_phone_that_replied_stop_gets_a_call_but_no_text(env):
    settings, herald, outbox = env
    herald.paging.set_opted_out("+15550100004", True)
    with browser(settings, herald) as c:
        ask_code(c, "erin")
        assert outbox.count("sms") == 0
        asked = ask_code(c, "erin", via="call")
        assert "code is" in outbox.streams["voice"].getvalue()
        assert asked.status_code == 200


def test_codes_turned_off_send_none(tmp_path, redis_url, monkeypatch):
    settings = signin_settings(tmp_path, redis_url, monkeypatch, "signin:\n  code: false\n")
    with running(settings) as (herald, outbox), browser(settings, herald) as c:
        form = c.get("/ui/signin")
        assert "turned off" in form.text and 'name="who"' not in form.text
        r = c.post("/ui/signin", data={"who": "erin", "via": "phone", "csrf": csrf_of(c.get("/ui/login").text)})
        assert r.status_code == 404 and outbox.count("sms") == 0
        assert c.get("/ui/signin/oidc", follow_redirects=False).status_code == 404
