"""Guessing at the console's login: only wrong credentials are limited, per client
address and per target (the login's counts are not the ack links'); the right
credential always logs in, so the console password must be long enough not to be
guessed."""
from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from service.app import create_app
from service.web import pages_home
from tests.security.conftest import ADMIN_TOKEN, CONSOLE_URL, console, log_in, try_login, within_one_minute


def test_the_right_credential_logs_in_from_an_address_that_guessed_wrong(settings, herald):
    within_one_minute(10)
    with console(settings, herald) as c:
        for _ in range(pages_home.LOGIN_ATTEMPTS_PER_IP):
            assert try_login(c, "a-wrong-guess").status_code == 401
        limited = try_login(c, "one-guess-too-many")
        assert limited.status_code == 429 and "wait a minute" in limited.text
        assert int(limited.headers["retry-after"]) > 0
        assert c.get("/ui/", follow_redirects=False).status_code == 303
        log_in(c, ADMIN_TOKEN)  # behind a proxy this is everyone's address: the right token works
        assert c.get("/ui/", follow_redirects=False).status_code == 200


def test_a_distributed_scan_does_not_lock_the_right_credential_out(settings, herald, monkeypatch):
    monkeypatch.setattr(pages_home, "LOGIN_ATTEMPTS_OVERALL", 12)
    within_one_minute(15)
    for n in range(3):  # three addresses, four wrong guesses each: under the per-address limit
        with console(settings, herald, f"198.51.100.{n}") as scanner:
            for _ in range(4):
                assert try_login(scanner, "scanning").status_code == 401
    with console(settings, herald, "203.0.113.5") as uninvolved:
        assert try_login(uninvolved, "one-more-wrong").status_code == 429
        log_in(uninvolved, ADMIN_TOKEN)
        assert uninvolved.get("/ui/", follow_redirects=False).status_code == 200


def test_wrong_guesses_at_one_target_do_not_limit_the_other(settings, herald):
    within_one_minute(15)
    with console(settings, herald, "192.0.2.50") as c:
        for n in range(settings.ack_attempts_per_ip):
            assert c.get(f"/ack/wrong-{n:04d}-{'q' * 20}").status_code == 404
        assert c.get("/ack/wrong-last-qqqqqqqqqqqqqqqqqqqq").status_code == 429
        assert try_login(c, "a-wrong-guess").status_code == 401  # the login's count is its own
    with console(settings, herald, "192.0.2.51") as c:
        for _ in range(pages_home.LOGIN_ATTEMPTS_PER_IP):
            assert try_login(c, "a-wrong-guess").status_code == 401
        assert try_login(c, "a-wrong-guess").status_code == 429
        assert c.get("/ack/wrong-once-qqqqqqqqqqqqqqqqqqqq").status_code == 404


def test_a_short_console_password_stops_start_up_without_echoing_it(settings, herald):
    short = settings.model_copy(update={"console_password": SecretStr("hunter2hunter2")})
    with pytest.raises(ValueError) as failure:
        create_app(short, herald)
    assert "HERALD_CONSOLE_PASSWORD" in str(failure.value) and "16" in str(failure.value)
    assert "hunter2" not in str(failure.value)
    enough = settings.model_copy(update={"console_password": SecretStr("sixteen-chars-ok")})
    herald.settings = enough
    with TestClient(create_app(enough, herald), base_url=CONSOLE_URL) as c:
        log_in(c, "sixteen-chars-ok")
