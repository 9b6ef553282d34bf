"""API tokens with scopes, compared in constant time; every endpoint that changes
anything or reveals contact details needs a credential."""
from __future__ import annotations

import re

import pytest

from service.api import auth
from service.app import create_app
from service.settings import Settings
from tests.herald_env import AM_TOKEN, API_TOKEN
from tests.security.conftest import ADMIN_TOKEN, READ_TOKEN, TOKENS, WRITE_TOKEN, bearer, open_incident

#: Routes that are open by design, each with its own credential or none needed.
PUBLIC = {"/healthz", "/readyz", "/ack/{token}", "/webhooks/twilio/sms", "/webhooks/twilio/voice",
          "/webhooks/twilio/voice/gather", "/webhooks/twilio/status", "/webhooks/sendgrid/events",
          "/v2/enqueue", "/v2/change/enqueue"}  # PagerDuty's: an integration's key in the body (test_pagerduty_endpoint)
ALICE_PHONE = "+15550100001"


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x1", path)


def test_every_api_route_refuses_requests_without_a_credential(client):
    schema = client.get("/openapi.json")
    assert schema.status_code == 200, schema.text
    spec = schema.json()
    checked = 0
    for path, operations in spec["paths"].items():
        if path in PUBLIC:
            continue
        for method in operations:
            r = client.request(method.upper(), _concrete(path))
            assert r.status_code == 401, f"{method.upper()} {path} answered {r.status_code} without credentials"
            checked += 1
            wrong = client.request(method.upper(), _concrete(path), headers=bearer("not-a-token-at-all-123"))
            assert wrong.status_code == 401 and "not-a-token" not in wrong.text
    assert checked >= 30


def test_provider_webhooks_need_the_providers_signature(client):
    for path in ("/webhooks/twilio/sms", "/webhooks/twilio/status", "/webhooks/twilio/voice/gather"):
        assert client.post(path, data={"From": ALICE_PHONE, "Body": "4"}).status_code == 403
    assert client.post("/webhooks/sendgrid/events", content=b"[]").status_code == 403


def test_credentials_are_not_interchangeable(client):
    assert client.get("/api/v1/incidents", headers=bearer(AM_TOKEN)).status_code == 401
    for token in (API_TOKEN, READ_TOKEN, WRITE_TOKEN, ADMIN_TOKEN):
        r = client.post("/api/v1/alertmanager", content=b"{}", headers=bearer(token))
        assert r.status_code == 401


def test_read_scope_reads_without_contacts_and_cannot_act(client):
    incident_id = open_incident(client)
    note = client.post(f"/api/v1/incidents/{incident_id}/notes", headers=bearer(WRITE_TOKEN),
                       json={"text": f"called alice on {ALICE_PHONE} and alice@example.com"})
    assert note.status_code == 200, note.text
    assert ALICE_PHONE in note.text  # a write token sees contacts
    shown = client.get(f"/api/v1/incidents/{incident_id}", headers=bearer(READ_TOKEN))
    assert shown.status_code == 200 and shown.headers["cache-control"] == "no-store"
    assert ALICE_PHONE not in shown.text and "alice@example.com" not in shown.text
    assert "[contact hidden]" in shown.text
    assert client.get("/api/v1/incidents", headers=bearer(READ_TOKEN)).status_code == 200
    for action in ("ack", "resolve", "escalate"):
        r = client.post(f"/api/v1/incidents/{incident_id}/{action}", headers=bearer(READ_TOKEN))
        assert r.status_code == 403 and "write scope" in r.json()["detail"]
    oncall = client.get("/api/v1/oncall", headers=bearer(READ_TOKEN))
    assert oncall.status_code == 200 and ALICE_PHONE not in oncall.text
    assert ALICE_PHONE in client.get("/api/v1/oncall", headers=bearer(WRITE_TOKEN)).text


BOB_PHONE, BOB_EMAIL = "+15550100002", "bob@example.com"
#: Every answer that shows a handoff's note, or who is on call with it.
HANDOFF_VIEWS = ("/api/v1/handoffs", "/api/v1/handoffs/{id}", "/api/v1/oncall", "/api/v1/oncall/primary",
                 "/api/v1/oncall/primary?tier=L1", "/api/v1/schedules/primary/shifts")


def _handoff_with_contacts(client, note: str) -> str:
    r = client.post("/api/v1/handoffs", headers=bearer(WRITE_TOKEN),
                    json={"schedule": "primary", "tier": "L1", "to": "erin", "note": note})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def test_read_scope_sees_handoff_notes_without_contacts(client):
    """A phone number and an address in a handoff note are hidden from a read token on every
    route that shows the note; a write token sees the note as written."""
    handoff = _handoff_with_contacts(client, f"ring Bob on {BOB_PHONE} or mail {BOB_EMAIL} if db1 flaps")
    for path in (p.format(id=handoff) for p in HANDOFF_VIEWS):
        read = client.get(path, headers=bearer(READ_TOKEN))
        assert read.status_code == 200, f"{path}: {read.text}"
        assert BOB_PHONE not in read.text and BOB_EMAIL not in read.text, f"{path} shows contacts to a read token"
        assert "ring Bob on [contact hidden] or mail [contact hidden] if db1 flaps" in read.text, path
        written = client.get(path, headers=bearer(WRITE_TOKEN))
        assert BOB_PHONE in written.text and BOB_EMAIL in written.text, f"{path} hides the note from a write token"


def test_read_scope_hides_contacts_however_they_are_written(client):
    """The edge: a number without its plus, an address in capitals, Alice's contacts though
    she is not the one the handoff is about, and the person's own contact block."""
    handoff = _handoff_with_contacts(client, "bob: 15550100002, BOB@EXAMPLE.COM; alice: +15550100001")
    for path in (p.format(id=handoff) for p in HANDOFF_VIEWS):
        read = client.get(path, headers=bearer(READ_TOKEN)).text
        for hidden in ("15550100002", "BOB@EXAMPLE.COM", "15550100001", "erin@example.com", "+15550100004"):
            assert hidden not in read, f"{path}: {hidden} shown to a read token"
        assert "bob: [contact hidden], [contact hidden]; alice: [contact hidden]" in read, path


def test_read_scope_cannot_write_or_cancel_a_handoff(client):
    handoff = _handoff_with_contacts(client, f"call {BOB_PHONE}")
    body = {"schedule": "primary", "tier": "L1", "to": "bob", "note": "mine"}
    refused = client.post("/api/v1/handoffs", headers=bearer(READ_TOKEN), json=body)
    assert refused.status_code == 403 and "handoffs:write" in refused.json()["detail"]
    assert BOB_PHONE not in refused.text
    cancel = client.delete(f"/api/v1/handoffs/{handoff}", headers=bearer(READ_TOKEN))
    assert cancel.status_code == 403 and BOB_PHONE not in cancel.text
    listed = client.get("/api/v1/handoffs", headers=bearer(WRITE_TOKEN)).json()["handoffs"]
    assert [h["id"] for h in listed] == [handoff]  # the refused requests changed nothing


def test_write_scope_acts_but_changes_no_configuration(client):
    incident_id = open_incident(client)
    r = client.post(f"/api/v1/incidents/{incident_id}/ack", headers=bearer(WRITE_TOKEN))
    assert r.status_code == 200, r.text
    assert r.json()["acknowledged_by"] == "oncall-bot"
    ical = {**bearer(WRITE_TOKEN), "Content-Type": "text/calendar"}
    assert client.put("/api/v1/schedules/primary", content=b"BEGIN:VCALENDAR", headers=ical).status_code == 403
    window = {"matchers": ['service="db"'], "end": "2099-01-01T00:00:00Z", "reason": "x"}
    assert client.post("/api/v1/maintenance", json=window, headers=bearer(WRITE_TOKEN)).status_code == 403
    assert client.post("/api/v1/feeds", json={"schedule": "primary"}, headers=bearer(WRITE_TOKEN)).status_code == 403


def test_admin_tokens_old_and_new(client):
    incident_id = open_incident(client)
    for token, name in ((API_TOKEN, "api"), (ADMIN_TOKEN, "ops")):
        window = {"matchers": ['service="web"'], "end": "2099-01-01T00:00:00Z", "reason": "upgrade"}
        assert client.post("/api/v1/maintenance", json=window, headers=bearer(token)).status_code == 201
    r = client.post(f"/api/v1/incidents/{incident_id}/resolve", headers=bearer(ADMIN_TOKEN))
    assert r.status_code == 200, r.text
    assert r.json()["resolved_by"] == "ops"


def test_every_configured_token_is_compared_in_constant_time(monkeypatch, settings):
    calls = []
    real = auth.hmac.compare_digest

    def counting(a, b):
        calls.append((len(a), len(b)))
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", counting)

    class Request:
        def __init__(self, token: str) -> None:
            self.headers = {"authorization": f"Bearer {token}"}

    for token in (API_TOKEN, ADMIN_TOKEN, "wrong" * 9, "x"):
        calls.clear()
        with pytest.raises(Exception) if token in ("wrong" * 9, "x") else _nothing():
            auth.authenticate(Request(token), settings)  # type: ignore[arg-type]
        assert len(calls) == 4  # no early exit: the admin token and all three scoped tokens
        assert {pair for pair in calls} == {(32, 32)}  # digests: the length of a token is not revealed


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return False


@pytest.mark.parametrize("entry, message", [
    ("ops:root:SECRET-0123456789abcdef", "scope must be one of"),
    ("ops:read:SECRET-short", "at least 16"),
    ("SECRET-0123456789abcdef", "expected name:scope:token"),
])
def test_malformed_tokens_stop_start_up_without_echoing_the_secret(monkeypatch, settings, entry, message):
    monkeypatch.setenv("HERALD_API_TOKENS", f"{TOKENS},{entry}")
    broken = Settings()
    with pytest.raises(ValueError) as failure:
        create_app(broken, herald=object())  # type: ignore[arg-type]
    assert message in str(failure.value) and "entry 4" in str(failure.value)
    assert "SECRET" not in str(failure.value) and "SECRET" not in repr(broken)
