"""The console's sessions live in Redis: logging out, an admin's "log out everyone" (API
or console) and a changed password or token end them at once, for every copy of the
cookie; the cookie carries only a signed session id."""
from __future__ import annotations

import base64
import json
import time

from integrations import keys
from service.settings import Settings
from service.web.session import COOKIE, LIFETIME, encode, signing_key
from tests.herald_env import API_TOKEN
from tests.security.conftest import ADMIN_TOKEN, READ_TOKEN, WRITE_TOKEN, bearer, console, csrf_of, log_in

PASSWORD = "correct horse battery staple"


def cookie_data(cookie: str) -> dict:
    """What the session cookie says (its signed body)."""
    body = cookie.partition(".")[0]
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


def works(settings: Settings, herald, cookie: str) -> bool:
    """Does a copy of ``cookie``, sent from elsewhere, open the console?"""
    with console(settings, herald, "192.0.2.99") as other:
        other.cookies.set(COOKIE, cookie)
        return other.get("/ui/", follow_redirects=False).status_code == 200


def test_logging_out_ends_the_session_for_every_copy_of_its_cookie(settings, herald):
    with console(settings, herald) as c:
        cookie = log_in(c, ADMIN_TOKEN, "alice")
        with console(settings, herald, "192.0.2.11") as elsewhere:
            other = log_in(elsewhere, ADMIN_TOKEN)  # the same credential, another session
        assert works(settings, herald, cookie)
        r = c.post("/ui/logout", data={"csrf": csrf_of(c.get("/ui/").text)}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/ui/login"
        assert c.get("/ui/", follow_redirects=False).status_code == 303
    assert not works(settings, herald, cookie)  # a copy taken before the logout is dead too
    assert works(settings, herald, other)  # only that session ended


def test_logging_in_again_replaces_the_session(settings, herald):
    with console(settings, herald) as c:
        first = log_in(c, READ_TOKEN)
        second = log_in(c, ADMIN_TOKEN, "alice")  # e.g. to act, after looking
        assert second != first
    assert not works(settings, herald, first) and works(settings, herald, second)


def test_an_admin_ends_every_session_at_once_through_the_api(settings, herald):
    cookies = []
    for n, credential in enumerate((ADMIN_TOKEN, WRITE_TOKEN, READ_TOKEN)):
        with console(settings, herald, f"192.0.2.{20 + n}") as c:
            cookies.append(log_in(c, credential))
    with console(settings, herald) as api:
        assert api.delete("/api/v1/sessions").status_code == 401
        for token in (READ_TOKEN, WRITE_TOKEN):
            refused = api.delete("/api/v1/sessions", headers=bearer(token))
            assert refused.status_code == 403 and "admin" in refused.json()["detail"]
        assert all(works(settings, herald, cookie) for cookie in cookies)  # a refusal ends nothing
        r = api.delete("/api/v1/sessions", headers=bearer(ADMIN_TOKEN))
        assert r.status_code == 200, r.text
        assert r.json() == {"ended": 3}
    assert not any(works(settings, herald, cookie) for cookie in cookies)
    with console(settings, herald) as c:  # logging in again works, and only that session is new
        again = log_in(c, READ_TOKEN)
        assert works(settings, herald, again)
        assert c.delete("/api/v1/sessions", headers=bearer(API_TOKEN)).json() == {"ended": 1}


def test_an_admin_ends_every_session_from_the_console(settings, herald):
    with console(settings, herald, "192.0.2.30") as writer, console(settings, herald, "192.0.2.31") as admin:
        writer_cookie = log_in(writer, WRITE_TOKEN, "bob")
        page = writer.get("/ui/")
        assert "Log out everyone" not in page.text
        refused = writer.post("/ui/logout-everyone", data={"csrf": csrf_of(page.text)})
        assert refused.status_code == 403 and "admin" in refused.text
        admin_cookie = log_in(admin, ADMIN_TOKEN, "alice")
        page = admin.get("/ui/")
        assert "Log out everyone" in page.text
        assert admin.post("/ui/logout-everyone", data={}).status_code == 403  # no CSRF token
        assert works(settings, herald, writer_cookie) and works(settings, herald, admin_cookie)
        r = admin.post("/ui/logout-everyone", data={"csrf": csrf_of(page.text)}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/ui/login"
        assert writer.get("/ui/", follow_redirects=False).status_code == 303
    assert not works(settings, herald, writer_cookie) and not works(settings, herald, admin_cookie)


def test_changing_a_password_or_token_ends_the_sessions_made_with_it(settings, herald, monkeypatch):
    monkeypatch.setenv("HERALD_SESSION_SECRET", "a-session-secret-that-stays-the-same")
    monkeypatch.setenv("HERALD_CONSOLE_PASSWORD", PASSWORD)
    herald.settings = Settings()
    with console(herald.settings, herald) as c:
        by_password = log_in(c, PASSWORD)
        c.cookies.clear()
        by_writer = log_in(c, WRITE_TOKEN)
        c.cookies.clear()
        by_reader = log_in(c, READ_TOKEN)
    monkeypatch.setenv("HERALD_CONSOLE_PASSWORD", "a-brand-new-console-password")
    herald.settings = Settings()
    assert not works(herald.settings, herald, by_password)
    assert works(herald.settings, herald, by_writer) and works(herald.settings, herald, by_reader)
    monkeypatch.setenv("HERALD_API_TOKENS", f"oncall-bot:write:another-write-token-0123456789,"
                                            f"dashboard:read:{READ_TOKEN}")
    herald.settings = Settings()
    assert not works(herald.settings, herald, by_writer)
    assert works(herald.settings, herald, by_reader)


def test_the_cookie_carries_only_a_signed_session_id(settings, herald):
    with console(settings, herald) as c:
        cookie = log_in(c, ADMIN_TOKEN, "alice")
    data = cookie_data(cookie)
    assert set(data) == {"sid", "exp"}  # no credential, no fingerprint of it, no person
    assert ADMIN_TOKEN not in cookie
    client = herald.store.redis
    stored = keys.console_session(data["sid"])
    assert data["sid"] not in stored  # Redis keeps the id's digest, not the id
    assert LIFETIME - 60 < client.ttl(stored) <= LIFETIME
    for key in client.keys("*"):
        value = client.dump(key) or b""
        assert ADMIN_TOKEN.encode() not in value and data["sid"].encode() not in value


def test_a_session_that_is_not_in_redis_is_logged_out(settings, herald):
    key = signing_key(settings)
    forged = encode(key, {"sid": "x" * 43, "exp": int(time.time()) + 600})  # signed, but never made
    assert not works(settings, herald, forged)
    with console(settings, herald) as c:
        cookie = log_in(c, ADMIN_TOKEN)
        herald.store.redis.delete(keys.console_session(cookie_data(cookie)["sid"]))  # as when it expires
        r = c.get("/ui/", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/ui/login")
        assert c.cookies[COOKIE] != cookie  # a fresh, anonymous cookie replaced it
        assert "Log in" in c.get("/ui/login").text
