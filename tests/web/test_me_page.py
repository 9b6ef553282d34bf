"""My page (/ui/me): my shifts with a handoff button and my calendar feed, my open
incidents, my contacts (add, verify, remove, test page) and my notification rules —
each acting as the signed-in person only, with what their role allows."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest

from service.engine import people
from tests.herald_env import AM_TOKEN, fixture_payload
from tests.signin_env import browser, csrf_of, running, sign_in, signin_settings

RESPONDER_ALICE = "roles:\n  bob: manager\n"  # alice (on call on primary) a responder


@pytest.fixture
def env(tmp_path, redis_url, monkeypatch):
    settings = signin_settings(tmp_path, redis_url, monkeypatch, RESPONDER_ALICE)
    with running(settings) as (herald, outbox):
        yield settings, herald, outbox


def fire(c) -> str:
    r = c.post("/api/v1/alertmanager", json=fixture_payload("firing.json"),
               headers={"Authorization": f"Bearer {AM_TOKEN}"})
    assert r.status_code == 200, r.text
    return r.json()["incidents"][0]["id"]


def handoff_form(c, page_html: str, **fields) -> dict:
    return {"csrf": csrf_of(page_html), "target": "primary|L1", "start": "", "end": "", "hours": "", "note": "",
            **fields}


def test_my_shifts_are_listed_with_a_handoff_button_that_hands_over_my_own(env):
    settings, herald, outbox = env
    with browser(settings, herald) as c:
        assert sign_in(c, outbox, "alice").status_code == 303
        mine = c.get("/ui/me").text
        assert "primary" in mine and 'name="from_person" value="alice"' in mine
        r = c.post("/ui/schedules/handoffs", data=handoff_form(c, mine, to="bob", from_person="alice", hours="2"),
                   follow_redirects=False)
        assert r.status_code == 303, r.text
    (handoff,) = herald.handoffs.all()
    assert handoff.from_person == "alice" and handoff.to == "bob" and handoff.created_by == "alice"


def test_a_responder_may_not_hand_over_someone_elses_shift_but_a_manager_may(env):
    settings, herald, outbox = env
    with browser(settings, herald) as c:
        assert sign_in(c, outbox, "alice").status_code == 303
        page = c.get("/ui/me").text
        r = c.post("/ui/schedules/handoffs", data=handoff_form(c, page, to="erin", from_person="bob", hours="1"))
        assert r.status_code == 403 and "from" in r.text and "own shifts" in r.text
        whole_tier = c.post("/ui/schedules/handoffs", data=handoff_form(c, page, to="erin", hours="1"))
        assert whole_tier.status_code == 403
    assert herald.handoffs.all() == []
    with browser(settings, herald, "192.0.2.12") as manager:
        assert sign_in(manager, outbox, "bob").status_code == 303
        page = manager.get("/ui/me").text
        r = manager.post("/ui/schedules/handoffs", data=handoff_form(manager, page, to="erin", from_person="alice",
                                                                     hours="1"), follow_redirects=False)
        assert r.status_code == 303, r.text


def test_my_calendar_feed_link_serves_my_shifts(env):
    settings, herald, outbox = env
    with browser(settings, herald) as c:
        assert sign_in(c, outbox, "alice").status_code == 303
        r = c.post("/ui/me/feed", data={"csrf": csrf_of(c.get("/ui/me").text)})
        assert r.status_code == 200
        url = re.search(r'<code id="feed-url">([^<]+)</code>', r.text).group(1).replace("&amp;", "&")
        assert url.startswith("https://herald.test/api/v1/people/alice/oncall.ics?token=")
        feed = c.get(url.removeprefix("https://herald.test"))
        assert feed.status_code == 200 and "BEGIN:VCALENDAR" in feed.text and "primary" in feed.text
        assert c.get("/api/v1/people/bob/oncall.ics?" + url.split("?", 1)[1]).status_code == 403


def test_my_open_incidents_are_the_ones_that_paged_me(env):
    settings, herald, outbox = env
    with browser(settings, herald) as c:
        incident = fire(c)
        assert sign_in(c, outbox, "alice").status_code == 303
        assert f"/ui/incidents/{incident}" in c.get("/ui/me").text
    with browser(settings, herald, "192.0.2.13") as other:
        assert sign_in(other, outbox, "dave").status_code == 303
        assert f"/ui/incidents/{incident}" not in other.get("/ui/me").text


def test_adding_a_contact_sends_a_code_and_the_code_verifies_it(env):
    settings, herald, outbox = env
    with browser(settings, herald) as c:
        assert sign_in(c, outbox, "erin").status_code == 303
        added = c.post("/ui/me/contacts", data={"csrf": csrf_of(c.get("/ui/me").text), "kind": "email",
                                                "address": "erin.new@example.com", "replaces": ""})
        assert added.status_code == 200 and "not paged until verified" in added.text
        new = next(x for x in people.contacts(herald, "erin") if x.address == "erin.new@example.com")
        assert new.state == "unverified"
        code = outbox.last_code("email")
        wrong = c.post(f"/ui/me/contacts/{new.id}/verify", data={"csrf": csrf_of(added.text),
                                                                  "code": f"{(int(code) + 1) % 10**6:06d}"})
        assert wrong.status_code == 400 and "code" in wrong.text
        right = c.post(f"/ui/me/contacts/{new.id}/verify", data={"csrf": csrf_of(added.text), "code": code},
                       follow_redirects=False)
        assert right.status_code == 303
        assert next(x for x in people.contacts(herald, "erin") if x.id == new.id).state == "verified"
        removed = c.post(f"/ui/me/contacts/{new.id}/remove", data={"csrf": csrf_of(added.text)},
                         follow_redirects=False)
        assert removed.status_code == 303
        assert all(x.id != new.id for x in people.contacts(herald, "erin"))


def test_a_contact_that_is_not_an_address_is_refused_naming_the_field(env):
    settings, herald, outbox = env
    with browser(settings, herald) as c:
        assert sign_in(c, outbox, "erin").status_code == 303
        r = c.post("/ui/me/contacts", data={"csrf": csrf_of(c.get("/ui/me").text), "kind": "phone",
                                            "address": "555-1234"})
        assert r.status_code == 400 and "address" in r.text and "E.164" in r.text
        assert len(people.contacts(herald, "erin")) == 2  # the file's phone and email, nothing added


def test_send_me_a_test_page(env):
    settings, herald, outbox = env
    with browser(settings, herald) as c:
        assert sign_in(c, outbox, "erin", via="email").status_code == 303
        r = c.post("/ui/me/test-page", data={"csrf": csrf_of(c.get("/ui/me").text)})
        assert r.status_code == 200 and 'id="tested"' in r.text and ": sent" in r.text
        assert "test page" in outbox.streams["sms"].getvalue() and "test page" in outbox.streams["email"].getvalue()


def test_my_rules_are_saved_shown_and_cleared(env):
    settings, herald, outbox = env
    with browser(settings, herald) as c:
        assert sign_in(c, outbox, "erin").status_code == 303
        page = c.get("/ui/me").text
        form = {"csrf": csrf_of(page), "high.voice": "on", "high.voice.delay": "0", "high.email": "on",
                "high.email.delay": "5", "low.email": "on", "low.email.delay": "30", "low.sms.delay": "7"}
        r = c.post("/ui/me/rules", data=form, follow_redirects=False)
        assert r.status_code == 303, r.text
        assert herald.rules.get("erin").model_dump(mode="json") == {
            "high": [{"channel": "voice", "delay_minutes": 0}, {"channel": "email", "delay_minutes": 5}],
            "low": [{"channel": "email", "delay_minutes": 30}]}
        api = c.get("/api/v1/people/erin/rules")  # the rules API, on the same signed-in session
        assert api.status_code == 200 and api.json()["low"] == [{"channel": "email", "delay_minutes": 30}]
        assert c.get("/api/v1/people/bob/rules").status_code == 403  # a responder: their own only
        shown = c.get("/ui/me").text
        assert "High urgency (P0, P1)" in shown
        assert re.search(r'id="high-email"\s+checked', shown) and 'id="high-email-delay" inputmode="numeric" ' \
                                                                   'size="4" value="5"' in shown
        bad = c.post("/ui/me/rules", data={**form, "high.email.delay": "soon"})
        assert bad.status_code == 400 and "high.email.delay_minutes" in bad.text
        assert herald.rules.get("erin").high[1].delay_minutes == 5  # nothing half-written
        cleared = c.post("/ui/me/rules", data={"csrf": csrf_of(shown)}, follow_redirects=False)
        assert cleared.status_code == 303 and herald.rules.get("erin") is None
