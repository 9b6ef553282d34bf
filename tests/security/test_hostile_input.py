"""Hostile bodies end in a 4xx that names the guard that stopped them: over-size
(declared or streamed), deeply nested JSON, absurd numbers, and calendars built to hang
the parser or eat memory. (How fast: the guards are limits on depth, digits, size and
recurrences, and the calendar parser's own time limit in its sandbox.)"""
from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.engine.runtime import Herald
from service.settings import Settings
from tests.herald_env import AM_TOKEN, API_TOKEN, env_for
from tests.security.conftest import bearer

DEEP_ARRAY = b"[" * 100_000 + b"]" * 100_000
DEEP_OBJECT = b'{"a":' * 100_000 + b"1" + b"}" * 100_000
HUGE_INT = b'{"minutes": ' + b"9" * 900_000 + b"}"
HUGE_FLOAT = b'{"minutes": ' + b"9" * 900_000 + b".5}"
INFINITE = b'{"minutes": 1e999, "text": 1e999, "matchers": [1e999]}'
JSON_ROUTES = ["/api/v1/alertmanager", "/api/v1/simulate", "/api/v1/handoffs", "/api/v1/incidents/1/notes",
               "/api/v1/incidents/1/snooze", "/api/v1/maintenance", "/api/v1/drills", "/api/v1/feeds"]


def _auth(path: str) -> dict[str, str]:
    token = AM_TOKEN if path == "/api/v1/alertmanager" else API_TOKEN
    return {**bearer(token), "Content-Type": "application/json"}


#: What each hostile body is refused with: a 400 that says why the body does not parse, or
#: (numbers that parse to infinity) a 422 sentence naming each field that is wrong.
PARSE_REFUSALS = ("Invalid JSON: recursion limit exceeded", "Invalid JSON: number out of range",
                  "the body is not valid JSON: it is nested too deeply",
                  "the body is not valid JSON: a number in it has too many digits")


def _strict_json(text: str):
    def refuse(constant: str):
        raise ValueError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize("body, statuses", [(DEEP_ARRAY, {400}), (DEEP_OBJECT, {400}), (HUGE_INT, {400}),
                                            (HUGE_FLOAT, {400, 422}), (INFINITE, {400, 422})],
                         ids=["deep-array", "deep-object", "huge-int", "huge-float", "1e999"])
def test_hostile_json_is_refused_on_every_json_route(client, body, statuses):
    for path in JSON_ROUTES:
        r = client.post(path, content=body, headers=_auth(path))
        assert r.status_code in statuses, f"{path}: {r.status_code} {r.text[:200]}"
        assert len(r.content) < 20_000  # the answer does not echo the whole body back
        detail = _strict_json(r.text)["detail"]  # valid JSON: an infinity is written as a string
        if r.status_code == 400:
            assert any(reason in detail for reason in PARSE_REFUSALS) or (
                body is INFINITE and detail.startswith("not an Alertmanager webhook payload")), f"{path}: {detail}"
        else:  # one sentence naming the field, the infinity echoed as a word
            assert isinstance(detail, str) and detail.startswith(("field '", "the body")), f"{path}: {detail}"
            assert len(detail) < 2000, f"{path}: {detail[:200]}"


def _chunks(total: int, size: int = 64 * 1024):
    sent = 0
    while sent < total:
        yield b" " * size
        sent += size


@pytest.mark.parametrize("method, path, token, media", [
    ("POST", "/api/v1/handoffs", None, "application/json"),  # unauthenticated: FastAPI reads bodies first
    ("POST", "/api/v1/handoffs", API_TOKEN, "application/json"),
    ("POST", "/api/v1/incidents/1/notes", API_TOKEN, "application/json"),
    ("POST", "/ack/some-token-value", None, "application/x-www-form-urlencoded"),
    ("POST", "/api/v1/alertmanager", AM_TOKEN, "application/json"),
    ("POST", "/api/v1/simulate", API_TOKEN, "application/json"),
    ("POST", "/webhooks/twilio/sms", None, "application/x-www-form-urlencoded"),
    ("PUT", "/api/v1/schedules/primary", API_TOKEN, "text/calendar"),
])
def test_bodies_over_the_limit_are_refused_declared_or_streamed(client, settings, method, path, token, media):
    headers = {"Content-Type": media, **(bearer(token) if token else {})}
    declared = client.request(method, path, content=b" " * (settings.max_body_bytes + 1), headers=headers)
    # calendar uploads have each schedule's own max_bytes (the route streams against it); "primary" is a
    # file schedule here, so the upload route refuses it (409) without reading the body
    assert declared.status_code == (409 if method == "PUT" else 413)
    streamed = client.request(method, path, content=_chunks(8 * settings.max_body_bytes),  # chunked
                              headers=headers)
    assert streamed.status_code in (409, 413), f"{path} read a chunked body past the limit: {streamed.status_code}"


UPLOAD_CONFIG = """
people:
  - {id: alice, name: Alice Adams, email: alice@example.com, phone: "+15550100001"}
schedules:
  - {name: primary, source: upload, default_tier: L1}
policies:
  - name: default
    tiers: [{name: L1, schedule: primary, channels: {P1: [sms]}}]
route: {policy: default}
"""


def _calendar(*rules: str) -> bytes:
    events = []
    for n, rule in enumerate(rules):
        events += ["BEGIN:VEVENT", f"UID:evil-{n}", "DTSTAMP:20260101T000000Z", "DTSTART:20000101T000000Z",
                   "DTEND:20000101T000001Z", rule, "SUMMARY:On call Alice Adams", "END:VEVENT"]
    return "\r\n".join(["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//evil//EN", *events,
                        "END:VCALENDAR", ""]).encode()


@pytest.fixture
def uploads(tmp_path, redis_url, monkeypatch):
    (tmp_path / "herald.yaml").write_text(UPLOAD_CONFIG)
    for key, value in env_for(tmp_path / "herald.yaml", redis_url).items():
        monkeypatch.setenv(key, value)
    herald = Herald.from_settings(Settings())
    with TestClient(create_app(Settings(), herald)) as client:
        yield client
    close = getattr(herald.calendars, "close", None)
    if close is not None:
        close()


#: The calendar guards: the recurrence cap (400), the sandboxed parser's CPU and memory
#: limits (400) and its time limit (422; on a busy machine it can come before the cap).
CALENDAR_REFUSALS = {400: ("refusing an endless or too dense RRULE", "too large or too costly to expand"),
                     422: ("to parse (a recurrence rule that never matches?); rejected",)}
GUARDED = (400, 422)


@pytest.mark.parametrize("calendar, refused", [
    (_calendar("RRULE:FREQ=SECONDLY;COUNT=2000000000"), GUARDED),
    (_calendar("RRULE:FREQ=SECONDLY"), GUARDED),  # never ends, one occurrence a second since 2000
    (_calendar(*["RRULE:FREQ=MINUTELY"] * 50), GUARDED),
    (b"BEGIN:VCALENDAR\r\n" + b"X-PADDING:" + b"A" * (50 * 1024 * 1024) + b"\r\nEND:VCALENDAR\r\n", (413,)),  # 50 MB
    (_calendar(*[f"RRULE:FREQ=DAILY;COUNT={n + 2}" for n in range(2500)]), (200, *GUARDED)),  # under the size limit
], ids=["huge-count", "endless", "many-endless", "50MB", "many-events"])
def test_hostile_calendar_uploads_are_refused_by_a_guard(uploads, calendar, refused):
    headers = {**bearer(API_TOKEN), "Content-Type": "text/calendar"}
    r = uploads.put("/api/v1/schedules/primary", content=calendar, headers=headers)
    assert r.status_code in refused, r.text[:300]
    if r.status_code in CALENDAR_REFUSALS:
        detail = r.json()["detail"]
        assert any(reason in detail for reason in CALENDAR_REFUSALS[r.status_code]), detail
        assert detail.startswith("calendar refused, the copy in force stays: "), detail
    elif r.status_code == 413:
        assert r.json()["detail"].startswith("calendar over ")
    listed = uploads.get("/api/v1/schedules", headers=bearer(API_TOKEN))
    assert listed.status_code == 200, listed.text  # still serving


def test_calendar_uploads_follow_the_schedules_own_limit_not_the_global_one(tmp_path, redis_url, monkeypatch):
    from fastapi.testclient import TestClient

    from service.app import create_app
    from service.settings import Settings

    (tmp_path / "herald.yaml").write_text(UPLOAD_CONFIG.replace("default_tier: L1}", "default_tier: L1, max_bytes: 3000}"))
    for key, value in {"HERALD_CONFIG": str(tmp_path / "herald.yaml"), "HERALD_REDIS_URL": redis_url,
                       "HERALD_API_TOKEN": API_TOKEN, "HERALD_MAX_BODY_BYTES": "2000"}.items():
        monkeypatch.setenv(key, value)
    calendar = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\n" + "X-PAD:" + "x" * 2100 + "\r\n"
                "BEGIN:VEVENT\r\nUID:a\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260105T080000Z\r\n"
                "DTEND:20260112T080000Z\r\nRRULE:FREQ=WEEKLY\r\nSUMMARY:On call Alice Adams\r\n"
                "END:VEVENT\r\nEND:VCALENDAR\r\n")
    assert 2000 < len(calendar) < 3000
    with TestClient(create_app(Settings())) as c:
        headers = {"Content-Type": "text/calendar", **bearer(API_TOKEN)}
        assert c.put("/api/v1/schedules/primary", content=calendar, headers=headers).status_code == 200
        big = calendar + "X" * 1000
        assert c.put("/api/v1/schedules/primary", content=big, headers=headers).status_code == 413
