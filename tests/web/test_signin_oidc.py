"""Sign-in through OpenID Connect, against ``oidc-provider-mock``: a real provider (an
authlib authorization server) in its own process on 127.0.0.1, with its own keys, tokens
and consent form. (Its own process, as a real provider would be: the mock leans on
authlib APIs that warn, and pytest makes warnings in this process errors.)"""
from __future__ import annotations

import sys
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from service.dev.local_redis import free_port
from service.web.session import COOKIE
from tests.processes import Proc, wait_for
from tests.signin_env import CONSOLE_URL, ROLES, browser, running, signin_settings

SECRET_ENV = "HERALD_TEST_OIDC_SECRET"


@pytest.fixture(scope="module")
def provider() -> Iterator[str]:
    """The provider's issuer URL (it names itself by the address it is reached at)."""
    port = free_port()
    proc = Proc([sys.executable, "-m", "oidc_provider_mock", "--host", "127.0.0.1", "--port", str(port),
                 "--require-nonce"], env={})
    issuer = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        try:
            return httpx.get(f"{issuer}/.well-known/openid-configuration").status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for(answers, 60, "the OpenID provider to listen", proc)
        yield issuer
    finally:
        proc.stop()


@pytest.fixture
def env(provider, tmp_path, redis_url, monkeypatch):
    monkeypatch.setenv(SECRET_ENV, "a-client-secret-for-the-tests")
    extra = ROLES + (f"signin:\n  oidc:\n    issuer: {provider}\n    client_id: herald\n"
                     f"    client_secret_env: {SECRET_ENV}\n")
    settings = signin_settings(tmp_path, redis_url, monkeypatch, extra)
    with running(settings) as (herald, _outbox):
        yield settings, herald, provider


def through_provider(c, sub: str, claims: dict | None = None, provider: str = ""):
    """Start at Herald, consent at the provider as ``sub``, come back: Herald's answer."""
    if claims is not None:
        assert httpx.put(f"{provider}/users/{sub}", json=claims).status_code == 204
    start = c.get("/ui/signin/oidc", follow_redirects=False)
    assert start.status_code == 303, start.text
    authorize = start.headers["location"]
    assert authorize.startswith(provider + "/")
    query = parse_qs(urlsplit(authorize).query)
    assert query["code_challenge_method"] == ["S256"] and query["nonce"][0] and query["state"][0]
    consent = httpx.post(authorize, data={"sub": sub}, follow_redirects=False)
    assert consent.status_code in (302, 303), consent.text
    back = consent.headers["location"]
    assert back.startswith(f"{CONSOLE_URL}/ui/signin/oidc/callback?")
    return c.get(back.removeprefix(CONSOLE_URL), follow_redirects=False)


def test_the_provider_signs_in_the_person_with_that_email(env):
    settings, herald, provider = env
    with browser(settings, herald) as c:
        before = c.get("/ui/signin")
        assert 'id="oidc"' in before.text
        anonymous = c.cookies[COOKIE]
        r = through_provider(c, "alice@example.com", provider=provider)
        assert r.status_code == 303 and r.headers["location"] == "/ui/me", r.text
        assert c.cookies[COOKIE] != anonymous
        mine = c.get("/ui/me")
        assert mine.status_code == 200 and "Alice Adams" in mine.text and "admin" in mine.text


def test_an_email_nobody_here_has_is_refused_and_says_which(env):
    settings, herald, provider = env
    with browser(settings, herald) as c:
        r = through_provider(c, "mallory@example.com", provider=provider)
        assert r.status_code == 403 and "mallory@example.com" in r.text and "email" in r.text
        assert c.get("/ui/me", follow_redirects=False).status_code == 303


def test_an_unverified_email_is_refused(env):
    settings, herald, provider = env
    with browser(settings, herald) as c:
        r = through_provider(c, "bob-unverified", {"email": "bob@example.com", "email_verified": False},
                             provider=provider)
        assert r.status_code == 403 and "not verified" in r.text


def test_a_callback_that_did_not_start_here_is_refused(env):
    """Login CSRF: a code and state from someone else's flow, in this browser."""
    settings, herald, provider = env
    with browser(settings, herald, "192.0.2.50") as attacker:
        start = attacker.get("/ui/signin/oidc", follow_redirects=False)
        consent = httpx.post(start.headers["location"], data={"sub": "dave@example.com"}, follow_redirects=False)
        stolen = consent.headers["location"].removeprefix(CONSOLE_URL)
    with browser(settings, herald, "192.0.2.51") as victim:
        victim.get("/ui/signin")
        r = victim.get(stolen, follow_redirects=False)
        assert r.status_code == 400 and "state" in r.text
        assert victim.get("/ui/me", follow_redirects=False).status_code == 303


def test_an_unreachable_provider_is_a_page_not_a_traceback(env, tmp_path, redis_url, monkeypatch):
    monkeypatch.setenv(SECRET_ENV, "a-client-secret-for-the-tests")
    extra = ROLES + f"signin:\n  oidc:\n    issuer: http://127.0.0.1:9\n    client_id: herald\n" \
                    f"    client_secret_env: {SECRET_ENV}\n"
    settings = signin_settings(tmp_path / "down", redis_url, monkeypatch, extra)
    with running(settings) as (herald, _), browser(settings, herald) as c:
        r = c.get("/ui/signin/oidc", follow_redirects=False)
        assert r.status_code == 502 and "could not be reached" in r.text
