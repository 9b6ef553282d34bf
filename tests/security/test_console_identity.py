"""``service.api.console_identity.signed_in``: what an API route (the personal rules API)
learns from a request's console cookie — the person and role of a personal session, and
nothing from a shared credential's session, a forged cookie or an ended session."""
from __future__ import annotations

import pytest
from fastapi import Request
from fastapi.testclient import TestClient

from service.api.console_identity import signed_in
from service.app import create_app
from service.web.session import COOKIE
from tests.herald_env import API_TOKEN
from tests.signin_env import CONSOLE_URL, csrf_of, running, sign_in, signin_settings


@pytest.fixture
def client(tmp_path, redis_url, monkeypatch):
    settings = signin_settings(tmp_path, redis_url, monkeypatch)
    with running(settings) as (herald, outbox):
        app = create_app(settings, herald)

        def who(request: Request) -> dict:  # a route of this test's own, asking as an API route would
            found = signed_in(request)
            return {"person": found.person, "role": found.role, "scope": found.scope} if found else {}

        app.add_api_route("/test/who", who)
        with TestClient(app, base_url=CONSOLE_URL, client=("192.0.2.90", 40000)) as c:
            yield c, outbox


def test_a_personal_session_names_the_person_and_role(client):
    c, outbox = client
    assert c.get("/test/who").json() == {}
    assert sign_in(c, outbox, "alice").status_code == 303
    assert c.get("/test/who").json() == {"person": "alice", "role": "admin", "scope": "admin"}


def test_a_shared_credential_session_is_nobody(client):
    c, _ = client
    form = c.get("/ui/login")
    r = c.post("/ui/login", data={"credential": API_TOKEN, "person": "alice", "csrf": csrf_of(form.text),
                                  "next": "/ui/"}, follow_redirects=False)
    assert r.status_code == 303
    assert c.get("/test/who").json() == {}  # "alice" was only said, not proven


def test_a_forged_or_ended_session_is_nobody(client):
    c, outbox = client
    assert sign_in(c, outbox, "erin").status_code == 303
    cookie = c.cookies[COOKIE]
    body, _, mac = cookie.partition(".")
    c.cookies.set(COOKIE, body + "." + ("A" if mac[0] != "A" else "B") + mac[1:], domain="herald.test")
    assert c.get("/test/who").json() == {}
    c.cookies.set(COOKIE, cookie, domain="herald.test")
    assert c.get("/test/who").json()["person"] == "erin"
    logout = c.post("/ui/logout", data={"csrf": csrf_of(c.get("/ui/me").text)}, follow_redirects=False)
    assert logout.status_code == 303
    c.cookies.set(COOKIE, cookie, domain="herald.test")
    assert c.get("/test/who").json() == {}
