"""Console access: login with an API token into a session (in Redis, named by a signed
cookie), CSRF on every form, read-only tokens, security headers."""
from __future__ import annotations

import time

from fastapi.testclient import TestClient
from pydantic import SecretStr

from service.app import create_app
from service.api.guess_limits import WINDOW_SECONDS
from service.engine.runtime import Herald
from service.settings import Settings
from service.web.session import COOKIE
from tests.herald_env import API_TOKEN
from tests.web.conftest import READ_TOKEN, csrf_of, fire, login

PAGES = ("/ui/", "/ui/incidents", "/ui/schedules", "/ui/reports", "/ui/webhooks")


def test_pages_need_a_login_and_redirect_back(client):
    for path in PAGES:
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/ui/login?next=")
    form = client.get("/ui/login?next=/ui/schedules")
    assert form.status_code == 200 and 'value="/ui/schedules"' in form.text
    r = client.post("/ui/login", data={"credential": API_TOKEN, "csrf": csrf_of(form.text), "next": "/ui/schedules"},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/ui/schedules"
    assert client.get("/ui/schedules").status_code == 200
    assert client.get("/", follow_redirects=False).headers["location"] == "/ui/"


def test_session_cookie_is_signed_httponly_samesite(client):
    form = client.get("/ui/login")
    r = client.post("/ui/login", data={"credential": API_TOKEN, "csrf": csrf_of(form.text)}, follow_redirects=False)
    assert r.status_code == 303, r.text
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(COOKIE + "=") and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Secure" not in cookie  # public_url is http here
    assert API_TOKEN not in cookie
    value = client.cookies.get(COOKIE)
    body, _, mac = value.partition(".")
    assert client.get("/ui/", follow_redirects=False).status_code == 200
    client.cookies.clear()
    client.cookies.set(COOKIE, body + "." + ("A" if mac[0] != "A" else "B") + mac[1:])
    assert client.get("/ui/", follow_redirects=False).status_code == 303  # forged: logged out


def test_secure_cookie_behind_https(settings, herald, monkeypatch):
    monkeypatch.setenv("HERALD_PUBLIC_URL", "https://herald.example")
    herald.settings = Settings()
    with TestClient(create_app(herald.settings, herald)) as c:
        assert "Secure" in c.get("/ui/login").headers["set-cookie"]


def test_wrong_token_and_missing_csrf_are_refused(client):
    form = client.get("/ui/login")
    wrong = client.post("/ui/login", data={"credential": "nope", "csrf": csrf_of(form.text)})
    assert wrong.status_code == 401 and "not valid" in wrong.text
    no_csrf = client.post("/ui/login", data={"credential": API_TOKEN})
    assert no_csrf.status_code == 403
    foreign = client.post("/ui/login", data={"credential": API_TOKEN, "csrf": csrf_of(form.text)},
                          headers={"Origin": "https://evil.example"})
    assert foreign.status_code == 403
    assert client.get("/ui/", follow_redirects=False).status_code == 303


def test_next_never_leaves_the_console(client):
    for evil in ("//evil.example/x", "https://evil.example", "/ui/\\evil", "/api/v1/incidents"):
        form = client.get("/ui/login")
        r = client.post("/ui/login", data={"credential": API_TOKEN, "csrf": csrf_of(form.text), "next": evil},
                        follow_redirects=False)
        assert r.status_code == 303, r.text
        assert r.headers["location"] == "/ui/"


def test_logout_needs_csrf_and_ends_the_session(client):
    login(client)
    page = client.get("/ui/")
    assert client.post("/ui/logout", data={}).status_code == 403
    r = client.post("/ui/logout", data={"csrf": csrf_of(page.text)}, follow_redirects=False)
    assert r.status_code == 303
    assert client.get("/ui/", follow_redirects=False).status_code == 303


def test_new_session_token_after_login(client):
    before = csrf_of(client.get("/ui/login").text)
    login(client)
    assert csrf_of(client.get("/ui/").text) != before  # no session fixation


def test_read_only_token_sees_no_buttons_and_cannot_act(client, herald):
    incident_id = fire(client)
    login(client, READ_TOKEN)
    page = client.get(f"/ui/incidents/{incident_id}")
    assert page.status_code == 200 and "(read only)" in page.text
    for word in ("Acknowledge</button>", "Resolve</button>", "Escalate now", "Add note", "Page now"):
        assert word not in page.text
    assert "Save handoff" not in client.get("/ui/schedules").text
    r = client.post(f"/ui/incidents/{incident_id}/ack", data={"csrf": csrf_of(page.text)})
    assert r.status_code == 403 and "may only read" in r.text
    assert herald.store.get(incident_id).status == "triggered"


def test_rotating_the_token_ends_sessions(settings, herald, monkeypatch):
    with TestClient(create_app(settings, herald)) as c:
        login(c)
        assert c.get("/ui/").status_code == 200
        herald.settings = settings.model_copy(update={"api_token": SecretStr("a-brand-new-admin-token-0000")})
        assert c.get("/ui/", follow_redirects=False).status_code == 303


def test_console_password_logs_in_when_configured(settings, redis_url):
    class WithPassword(Settings):
        console_password: SecretStr | None = None

    custom = WithPassword(console_password=SecretStr("correct horse battery"))
    herald = Herald.from_settings(custom)
    with TestClient(create_app(custom, herald)) as c:
        login(c, "correct horse battery")
        assert "admin" in c.get("/ui/").text


def test_every_page_has_security_headers(admin):
    for path in (*PAGES, "/ui/login"):
        r = admin.get(path)
        csp = r.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp
        assert r.headers["x-frame-options"] == "DENY" and r.headers["cache-control"] == "no-store"
        assert r.headers["referrer-policy"] == "no-referrer"
    css = admin.get("/static/herald.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    for bad in ("/static/../app.py", "/static/nope.css", "/static/herald.py"):
        assert admin.get(bad).status_code == 404


def test_guessing_tokens_is_rate_limited_and_the_right_one_still_logs_in(client):
    # The limiter counts per clock minute (time.time()): the eleven tries must fall in one,
    # so with under 5 s of this minute left, start with the next.
    left = WINDOW_SECONDS - time.time() % WINDOW_SECONDS
    if left < 5:
        time.sleep(left + 0.01)
    form = client.get("/ui/login")
    for _ in range(10):
        assert client.post("/ui/login", data={"credential": "guess", "csrf": csrf_of(form.text)}).status_code == 401
    r = client.post("/ui/login", data={"credential": "guess", "csrf": csrf_of(form.text)})
    assert r.status_code == 429 and "wait a minute" in r.text
    # The right token still logs in (tests/security/test_login_guessing.py has the rest).
    login(client)
