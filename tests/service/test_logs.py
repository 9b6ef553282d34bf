"""service.telemetry.logs: JSON lines, ids from context, secrets redacted, X-Request-Id."""
from __future__ import annotations

import io
import json
import logging

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr

from service.telemetry.logs import (QUIET_LOGGERS, REDACTED, RequestIdMiddleware, configure_logging, incident_context, request_id_var,
                          secrets_from_settings, valid_request_id)
from service.settings import Settings

SECRET = "tw-auth-0123456789abcdef"
OTHER = "sg-key-ZYXWVUTSRQ"


@pytest.fixture
def capture():
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    quiet = {name: logging.getLogger(name).level for name in QUIET_LOGGERS}
    stream = io.StringIO()

    def install(fmt: str = "json", secrets=(SECRET, OTHER)) -> io.StringIO:
        configure_logging(fmt, "DEBUG", secrets=secrets, stream=stream)
        return stream

    yield install
    root.handlers[:], root.level = saved
    for name, level in quiet.items():  # configure_logging quietened them: the other tests' caplog wants them
        logging.getLogger(name).setLevel(level)


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]


def test_json_lines_parse_with_fields_ids_and_extras(capture):
    stream = capture("json")
    log = logging.getLogger("herald.test")
    token = request_id_var.set("req-1")
    try:
        with incident_context("42"):
            log.info("paged %s on %s", "alice", "sms", extra={"channel": "sms", "round": 2})
        log.warning("after")
    finally:
        request_id_var.reset(token)
    first, second = lines(stream)
    assert first["message"] == "paged alice on sms" and first["level"] == "INFO"
    assert first["logger"] == "herald.test" and first["time"].endswith("Z")
    assert (first["request_id"], first["incident_id"]) == ("req-1", "42")
    assert (first["channel"], first["round"]) == ("sms", 2)
    assert second["request_id"] == "req-1" and "incident_id" not in second


def test_plain_format_is_for_people(capture):
    stream = capture("plain")
    with incident_context("7"):
        logging.getLogger("herald.x").error("boom")
    line = stream.getvalue().strip()
    assert " ERROR herald.x: boom [incident_id=7]" in line and not line.startswith("{")


def test_secrets_redacted_in_message_args_extras_and_exceptions(capture):
    stream = capture("json")
    log = logging.getLogger("herald.test")
    log.info(f"token is {SECRET}")
    log.info("auth %s and %r", SECRET, {"key": OTHER})
    log.info("extra", extra={"header": f"Bearer {OTHER}"})
    try:
        raise RuntimeError(f"provider said: bad credentials {SECRET}")
    except RuntimeError:
        log.exception("send failed for %s", OTHER)
    text = stream.getvalue()
    assert SECRET not in text and OTHER not in text
    events = lines(stream)
    assert events[0]["message"] == f"token is {REDACTED}"
    assert events[1]["message"] == f"auth {REDACTED} and {{'key': '{REDACTED}'}}"
    assert events[2]["header"] == f"Bearer {REDACTED}"
    assert "RuntimeError: provider said: bad credentials [REDACTED]" in events[3]["exception"]


def test_plain_exception_text_redacted(capture):
    stream = capture("plain")
    try:
        raise ValueError(SECRET)
    except ValueError:
        logging.getLogger("herald").exception("failed")
    assert SECRET not in stream.getvalue() and f"ValueError: {REDACTED}" in stream.getvalue()


def test_short_or_empty_secrets_are_ignored_and_configure_is_idempotent(capture):
    stream = capture("json", secrets=("", None, "ab", SecretStr(SECRET)))
    capture("json", secrets=(SecretStr(SECRET),))
    logging.getLogger("herald").info("ab %s", SECRET)
    assert [e["message"] for e in lines(stream)] == [f"ab {REDACTED}"]  # one handler, one line
    with pytest.raises(ValueError):
        configure_logging("xml")


def test_secrets_from_settings_takes_every_secret_field(monkeypatch):
    monkeypatch.setenv("HERALD_API_TOKEN", "api-token-value")
    monkeypatch.setenv("HERALD_ALERTMANAGER_TOKEN", "am-token-value")
    monkeypatch.setenv("HERALD_TWILIO_AUTH_TOKEN", "twilio-token-value")
    found = secrets_from_settings(Settings())
    assert {"api-token-value", "am-token-value", "twilio-token-value"} <= set(found)
    if "api_tokens" in Settings.model_fields:
        monkeypatch.setenv("HERALD_API_TOKENS", "ci:read:0123456789abcdef0123,ops:admin:fedcba9876543210fedc")
        found = secrets_from_settings(Settings())
        assert {"0123456789abcdef0123", "fedcba9876543210fedc"} <= set(found)
    assert all(isinstance(v, str) for v in found)


def _app() -> FastAPI:
    app = FastAPI()
    app.add_middleware(RequestIdMiddleware)

    @app.get("/sync")
    def sync_route() -> dict:
        logging.getLogger("herald.api").info("in a threadpool")
        return {"request_id": request_id_var.get()}

    @app.get("/async")
    async def async_route() -> dict:
        return {"request_id": request_id_var.get()}

    return app


def test_request_id_taken_generated_and_returned(capture):
    stream = capture("json")
    with TestClient(_app()) as client:
        given = client.get("/sync", headers={"X-Request-Id": "abc.DEF_1-2"})
        assert given.headers["x-request-id"] == "abc.DEF_1-2" == given.json()["request_id"]
        made = client.get("/async")
        assert valid_request_id(made.headers["x-request-id"]) and made.json()["request_id"] == made.headers[
            "x-request-id"]
        for bad in ("x" * 65, "has space", "semi;colon", "caf\xe9"):
            r = client.get("/async", headers={"X-Request-Id": bad.encode("latin-1")})
            assert r.headers["x-request-id"] != bad and valid_request_id(r.headers["x-request-id"])
        missing = client.get("/nowhere", headers={"X-Request-Id": "on-404"})
        assert missing.status_code == 404 and missing.headers["x-request-id"] == "on-404"
    assert [e["request_id"] for e in lines(stream) if e["logger"] == "herald.api"] == ["abc.DEF_1-2"]
    assert request_id_var.get() is None
