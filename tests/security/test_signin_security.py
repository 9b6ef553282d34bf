"""Personal sign-in under attack: guessing codes (limited per person, and per address),
session fixation (a cookie planted before the sign-in is worth nothing after it) and
CSRF on every new form."""
from __future__ import annotations

import pytest

from service.web.session import COOKIE
from tests.security.conftest import within_one_minute
from tests.signin_env import ask_code, browser, csrf_of, running, sign_in, signin_settings, type_code


@pytest.fixture
def env(tmp_path, redis_url, monkeypatch):
    settings = signin_settings(tmp_path, redis_url, monkeypatch)
    with running(settings) as (herald, outbox):
        yield settings, herald, outbox


def wrong_than(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def test_five_wrong_codes_for_a_person_refuse_every_guess_even_the_right_one(env):
    settings, herald, outbox = env
    with browser(settings, herald, "192.0.2.60") as c:
        asked = ask_code(c, "erin")
        right = outbox.last_code("sms")
        for _ in range(5):
            assert type_code(c, wrong_than(right), asked.text).status_code == 401
        refused = type_code(c, right, asked.text)
        assert refused.status_code == 429 and "Refused" in refused.text and int(refused.headers["Retry-After"]) > 0
        assert c.get("/ui/me", follow_redirects=False).status_code == 303
    # the limit is erin's, from any address; someone else signs in as usual
    with browser(settings, herald, "192.0.2.61") as other:
        again = ask_code(other, "erin")
        assert type_code(other, outbox.last_code("sms"), again.text).status_code == 429
        assert sign_in(other, outbox, "dave").status_code == 303


def test_wrong_codes_from_one_address_are_limited_whoever_they_aim_at(env):
    """A scan over many made-up people never meets the per-person limit; the address one does."""
    settings, herald, _ = env
    within_one_minute(20)
    with browser(settings, herald, "192.0.2.62") as c:
        for n in range(10):
            asked = ask_code(c, f"made-up-{n}")
            assert type_code(c, "123456", asked.text).status_code == 401
        asked = ask_code(c, "made-up-10")
        limited = type_code(c, "123456", asked.text)
        assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0


def test_an_expired_or_missing_pending_sign_in_takes_no_code(env):
    settings, herald, _ = env
    with browser(settings, herald, "192.0.2.63") as c:
        form = c.get("/ui/signin")
        r = type_code(c, "123456", form.text)  # no code was asked for in this browser
        assert r.status_code == 400 and "expired" in r.text


def test_a_cookie_planted_before_the_sign_in_opens_nothing_after_it(env):
    """Session fixation: the attacker gets an anonymous cookie from the site and plants it
    in the victim's browser; the victim signs in; the planted cookie stays anonymous."""
    settings, herald, outbox = env
    with browser(settings, herald, "192.0.2.70") as attacker:
        attacker.get("/ui/signin")
        planted = attacker.cookies[COOKIE]
    with browser(settings, herald, "192.0.2.71") as victim:
        victim.cookies.set(COOKIE, planted, domain="herald.test")
        assert sign_in(victim, outbox, "alice").status_code == 303
        session = victim.cookies[COOKIE]
        assert session != planted
        assert victim.get("/ui/me").status_code == 200
    with browser(settings, herald, "192.0.2.70") as attacker:
        attacker.cookies.set(COOKIE, planted)
        assert attacker.get("/ui/me", follow_redirects=False).status_code == 303
        assert attacker.get("/ui/", follow_redirects=False).status_code == 303


def test_signing_in_again_ends_the_session_the_browser_had(env):
    settings, herald, outbox = env
    with browser(settings, herald, "192.0.2.72") as c:
        assert sign_in(c, outbox, "erin").status_code == 303
        first = c.cookies[COOKIE]
        assert sign_in(c, outbox, "dave").status_code == 303
        assert c.cookies[COOKIE] != first
    with browser(settings, herald, "192.0.2.73") as other:
        other.cookies.set(COOKIE, first)
        assert other.get("/ui/me", follow_redirects=False).status_code == 303


@pytest.mark.parametrize("path", ["/ui/signin", "/ui/signin/code", "/ui/me/feed"])
def test_every_new_form_refuses_a_post_without_this_sessions_token(env, path):
    settings, herald, outbox = env
    with browser(settings, herald, "192.0.2.80") as c:
        assert sign_in(c, outbox, "erin").status_code == 303
        real = csrf_of(c.get("/ui/me").text)
        assert c.post(path, data={"who": "erin", "code": "1", "csrf": ""}).status_code == 403
        assert c.post(path, data={"who": "erin", "code": "1", "csrf": real + "x"}).status_code == 403
        cross = c.post(path, data={"who": "erin", "code": "1", "csrf": real},
                       headers={"Origin": "https://evil.example"})
        assert cross.status_code == 403 and "cross-site" in cross.text


def test_verifying_a_contact_needs_the_token_and_a_personal_session(env):
    settings, herald, outbox = env
    with browser(settings, herald, "192.0.2.81") as c:
        assert sign_in(c, outbox, "erin").status_code == 303
        page = c.get("/ui/me").text
        contact = page.split('id="contact-', 1)[1].split('"', 1)[0]
        assert c.post(f"/ui/me/contacts/{contact}/send-code", data={}).status_code == 403
        assert c.post(f"/ui/me/contacts/{contact}/verify", data={"code": "123456"}).status_code == 403
