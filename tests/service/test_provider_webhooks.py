"""Twilio and SendGrid webhooks through our real HTTP layer: valid, tampered and missing
signatures. Twilio requests are signed with Twilio's documented algorithm written out
(checked against Twilio's published examples in
tests/integrations/test_signatures_known_answers.py), not with the SDK Herald verifies
with; SendGrid's own published example is posted as SendGrid sent it."""
import base64
import json
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient

from integrations.paging_store import SentMessage
from service.app import create_app
from service.engine.runtime import Herald
from service.settings import Settings
from tests.herald_env import AM_TOKEN, fixture_payload
from tests.integrations.test_signatures_known_answers import (SENDGRID_KEY, SENDGRID_PAYLOAD, SENDGRID_SIGNATURE,
                                                              SENDGRID_TIMESTAMP, documented_twilio_signature,
                                                              one_byte_changed)

TWILIO_TOKEN = "twilio-secret-token-123"
PUBLIC = "https://herald.test"
ALICE = "+15550100001"
KEY = ec.generate_private_key(ec.SECP256R1())
PUBLIC_KEY = base64.b64encode(KEY.public_key().public_bytes(
    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).decode()


def app_client(monkeypatch, sendgrid_key: str) -> TestClient:
    monkeypatch.setenv("HERALD_TWILIO_ACCOUNT_SID", "AC" + "1" * 32)
    monkeypatch.setenv("HERALD_TWILIO_AUTH_TOKEN", TWILIO_TOKEN)
    monkeypatch.setenv("HERALD_TWILIO_FROM", "+15550009999")
    monkeypatch.setenv("HERALD_TWILIO_API_BASE", "http://127.0.0.1:9")  # nothing is sent in these tests
    monkeypatch.setenv("HERALD_SENDGRID_WEBHOOK_PUBLIC_KEY", sendgrid_key)
    full = Settings()
    assert full.public_url == PUBLIC and full.sendgrid_webhook_public_key == sendgrid_key
    return TestClient(create_app(full, Herald.from_settings(full)))


@pytest.fixture
def client(settings, monkeypatch):
    with app_client(monkeypatch, PUBLIC_KEY) as c:
        yield c


def signed_post(client, path, params, token=TWILIO_TOKEN, tamper=False, signature=True):
    if path == "/webhooks/twilio/sms" and "MessageSid" not in params:  # every inbound SMS has its own
        params = {"MessageSid": "SM" + uuid.uuid4().hex, **params}
    url = PUBLIC + path
    headers = {}
    if signature:
        headers["X-Twilio-Signature"] = documented_twilio_signature(token, url, params)
    body = dict(params, Body=params.get("Body", "") + " ") if tamper else params
    return client.post(path, data=body, headers=headers)


def open_incident(client) -> str:
    r = client.post("/api/v1/alertmanager", content=json.dumps(fixture_payload("firing.json")),
                    headers={"Authorization": f"Bearer {AM_TOKEN}"})
    assert r.status_code == 200, r.text
    [ref] = r.json()["incidents"]
    assert ref["status"] == "triggered", ref
    return ref["id"]


def herald_of(client) -> Herald:
    return client.app.state.herald


def test_sms_reply_with_code_acknowledges(client):
    incident_id = open_incident(client)
    r = signed_post(client, "/webhooks/twilio/sms", {"From": ALICE, "Body": f"ack {incident_id}"})
    assert r.status_code == 200 and "<Message>" in r.text and "acknowledged" in r.text
    incident = herald_of(client).store.get(incident_id)
    assert incident.status == "acknowledged" and incident.acknowledged_by == "alice"


def test_an_sms_reply_on_an_incident_whose_policy_was_removed_says_so_and_changes_nothing(client):
    import dataclasses

    from routing.incident import PageOutcome

    incident_id, herald = open_incident(client), herald_of(client)
    page = next(p for p in herald.store.get(incident_id).pages if p.person == "alice")
    herald.act(incident_id, PageOutcome(round=page.round, person="alice", channel=page.channel, outcome="sent",
                                        provider_id="SM1"))  # alice was paged: she may reply
    before = herald.store.get(incident_id)
    herald.config = dataclasses.replace(herald.config, policies={
        name: policy for name, policy in herald.config.policies.items() if name != before.policy})
    r = signed_post(client, "/webhooks/twilio/sms", {"From": ALICE, "Body": f"ack {incident_id}"})
    assert r.status_code == 200 and f"#{incident_id} not changed: its policy is no longer configured" in r.text, r.text
    assert herald.store.get(incident_id).version == before.version


def test_sms_reply_4_acks_everything_in_the_latest_message(client):
    first, herald = open_incident(client), herald_of(client)
    payload = fixture_payload("firing.json")
    payload["groupKey"] = "other"
    r = client.post("/api/v1/alertmanager", content=json.dumps(payload),
                    headers={"Authorization": f"Bearer {AM_TOKEN}"})
    assert r.status_code == 200, r.text
    second = r.json()["incidents"][0]["id"]
    assert second != first
    herald.paging.record_message(SentMessage("SM1", "alice", "sms", ((first, 1), (second, 1))), ALICE)
    r = signed_post(client, "/webhooks/twilio/sms", {"From": ALICE, "Body": "4"})
    assert r.status_code == 200 and f"#{first} acknowledged" in r.text and f"#{second} acknowledged" in r.text
    assert {herald.store.get(i).status for i in (first, second)} == {"acknowledged"}


def test_bad_missing_or_foreign_signature_is_403_and_changes_nothing(client):
    incident_id = open_incident(client)
    params = {"From": ALICE, "Body": f"4 {incident_id}"}
    for kwargs in ({"tamper": True}, {"signature": False}, {"token": "someone-elses-token"}):
        r = signed_post(client, "/webhooks/twilio/sms", params, **kwargs)
        assert r.status_code == 403 and TWILIO_TOKEN not in r.text
    for path in ("/webhooks/twilio/voice", "/webhooks/twilio/status"):
        assert signed_post(client, path, {"CallSid": "CA1"}, signature=False).status_code == 403
    assert herald_of(client).store.get(incident_id).status == "triggered"


def test_unknown_sender_and_gibberish_get_help_and_change_nothing(client):
    incident_id = open_incident(client)
    r = signed_post(client, "/webhooks/twilio/sms", {"From": "+19999999999", "Body": f"4 {incident_id}"})
    assert "reply 4" in r.text
    r = signed_post(client, "/webhooks/twilio/sms", {"From": ALICE, "Body": "what is happening"})
    assert "reply 4" in r.text
    assert herald_of(client).store.get(incident_id).status == "triggered"


def test_stop_and_start_are_respected(client):
    """The flag only; that a STOPped number gets no SMS page (a call instead) and gets
    them again after START: tests/service/test_sms_opt_out.py."""
    herald = herald_of(client)
    r = signed_post(client, "/webhooks/twilio/sms", {"From": ALICE, "Body": "STOP"})
    assert r.status_code == 200 and "SMS pages stopped" in r.text
    assert herald.paging.is_opted_out(ALICE)
    r = signed_post(client, "/webhooks/twilio/sms", {"From": ALICE, "Body": "start"})
    assert r.status_code == 200 and "SMS pages resumed" in r.text
    assert not herald.paging.is_opted_out(ALICE)


def test_keypress_6_resolves_the_calls_incidents(client):
    incident_id, herald = open_incident(client), herald_of(client)
    herald.paging.record_message(SentMessage("CA9", "alice", "voice", ((incident_id, 1),)), ALICE)
    r = signed_post(client, "/webhooks/twilio/voice/gather?person=alice", {"CallSid": "CA9", "Digits": "6"})
    assert r.status_code == 200 and "<Hangup" in r.text
    assert herald.store.get(incident_id).resolved_by == "alice"


def test_no_keypress_is_not_an_acknowledgement(client):
    incident_id, herald = open_incident(client), herald_of(client)
    herald.paging.record_message(SentMessage("CA9", "alice", "voice", ((incident_id, 1),)), ALICE)
    r = signed_post(client, "/webhooks/twilio/voice/gather", {"CallSid": "CA9"})
    assert "not acknowledged" in r.text and herald.store.get(incident_id).status == "triggered"


def test_undelivered_status_moves_to_the_next_channel(client):
    incident_id, herald = open_incident(client), herald_of(client)
    herald.paging.record_message(SentMessage("SM7", "alice", "sms", ((incident_id, 1),)), ALICE)
    r = signed_post(client, "/webhooks/twilio/status", {"MessageSid": "SM7", "MessageStatus": "undelivered"})
    assert r.json() == {"status": "undelivered", "pages_moved_on": 1}
    assert [p.channel for p in herald.store.get(incident_id).pages][-1] == "voice"
    r = signed_post(client, "/webhooks/twilio/status", {"MessageSid": "SM7", "MessageStatus": "delivered"})
    assert r.json()["pages_moved_on"] == 0
    assert signed_post(client, "/webhooks/twilio/status", {"Foo": "bar"}).status_code == 400


def sendgrid_post(client, events, sign=True, tamper=False):
    body = json.dumps(events).encode()
    timestamp = str(int(time.time()))
    signature = base64.b64encode(KEY.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))).decode()
    headers = {"X-Twilio-Email-Event-Webhook-Timestamp": timestamp, "Content-Type": "application/json"}
    if sign:
        headers["X-Twilio-Email-Event-Webhook-Signature"] = signature
    return client.post("/webhooks/sendgrid/events", content=body + (b" " if tamper else b""), headers=headers)


def test_sendgrid_bounce_moves_on_and_bad_signatures_are_refused(client):
    incident_id, herald = open_incident(client), herald_of(client)
    herald.paging.record_message(SentMessage("msg1", "alice", "sms", ((incident_id, 1),)), "")
    events = [{"email": "alice@example.com", "event": "bounce", "sg_message_id": "msg1.filter0001", "reason": "550"}]
    assert sendgrid_post(client, events, sign=False).status_code == 403
    assert sendgrid_post(client, events, tamper=True).status_code == 403
    r = sendgrid_post(client, events)
    assert r.status_code == 200 and r.json() == {"events": 1, "pages_moved_on": 1}
    assert any(e.kind == "delivery_failed" for e in herald.store.get(incident_id).timeline)


def test_sms_escalate_and_snooze_replies(client):
    incident_id, herald = open_incident(client), herald_of(client)
    r = signed_post(client, "/webhooks/twilio/sms", {"From": ALICE, "Body": f"8 {incident_id}"})
    assert "escalated" in r.text
    incident = herald.store.get(incident_id)
    assert {p.tier for p in incident.pages if p.round == incident.round} == {"L2"}
    r = signed_post(client, "/webhooks/twilio/sms", {"From": ALICE, "Body": f"snooze 30 {incident_id}"})
    assert "snoozed 30 min" in r.text and herald.store.get(incident_id).status == "acknowledged"
    r = signed_post(client, "/webhooks/twilio/sms", {"From": ALICE, "Body": f"snooze 0 {incident_id}"})
    assert "reply 4" in r.text  # out of range: help, nothing changed


def test_keypress_8_escalates(client):
    incident_id, herald = open_incident(client), herald_of(client)
    herald.paging.record_message(SentMessage("CA8", "alice", "voice", ((incident_id, 1),)), ALICE)
    r = signed_post(client, "/webhooks/twilio/voice/gather", {"CallSid": "CA8", "Digits": "8"})
    assert "escalated" in r.text and herald.store.get(incident_id).round == 2


def test_sendgrid_replayed_old_batch_is_refused(client):
    body = json.dumps([{"email": "alice@example.com", "event": "bounce", "sg_message_id": "x.y"}]).encode()
    old = str(int(time.time()) - 3600)
    signature = base64.b64encode(KEY.sign(old.encode() + body, ec.ECDSA(hashes.SHA256()))).decode()
    r = client.post("/webhooks/sendgrid/events", content=body, headers={
        "X-Twilio-Email-Event-Webhook-Timestamp": old, "X-Twilio-Email-Event-Webhook-Signature": signature})
    assert r.status_code == 403 and "replay" in r.json()["detail"]


def test_bare_escalate_reply_is_not_read_as_a_code(client):
    incident_id, herald = open_incident(client), herald_of(client)
    herald.paging.record_message(SentMessage("SM5", "alice", "sms", ((incident_id, 1),)), ALICE)
    r = signed_post(client, "/webhooks/twilio/sms", {"From": ALICE, "Body": "escalate"})
    assert f"#{incident_id} escalated" in r.text


def test_sendgrids_published_example_is_accepted_and_acted_on_and_a_one_byte_change_is_not(settings, monkeypatch):
    """sendgrid-python's signed example (a ``dropped`` event), posted byte for byte as
    SendGrid sent it, to Herald configured with SendGrid's published key."""
    headers = {"X-Twilio-Email-Event-Webhook-Signature": SENDGRID_SIGNATURE,
               "X-Twilio-Email-Event-Webhook-Timestamp": SENDGRID_TIMESTAMP, "Content-Type": "application/json"}
    with app_client(monkeypatch, SENDGRID_KEY) as client:
        incident_id, herald = open_incident(client), herald_of(client)
        herald.paging.record_message(SentMessage("LRzXl_NHStOGhQ4kofSm_A", "alice", "sms", ((incident_id, 1),)), "")
        r = client.post("/webhooks/sendgrid/events", content=SENDGRID_PAYLOAD, headers=headers)
        assert r.status_code == 403 and "replay" in r.json()["detail"]  # signed in 2020: too old for today
        signed_at = datetime.fromtimestamp(int(SENDGRID_TIMESTAMP), timezone.utc)
        monkeypatch.setattr(herald, "clock", lambda: signed_at + timedelta(seconds=30))  # as if it came then
        for at in (0, len(SENDGRID_PAYLOAD) // 2, len(SENDGRID_PAYLOAD) - 1):
            r = client.post("/webhooks/sendgrid/events", content=one_byte_changed(SENDGRID_PAYLOAD, at),
                            headers=headers)
            assert r.status_code == 403 and "signature" in r.json()["detail"], at
        assert [(p.channel, p.state) for p in herald.store.get(incident_id).pages] == [("sms", "pending")]

        r = client.post("/webhooks/sendgrid/events", content=SENDGRID_PAYLOAD, headers=headers)
        assert r.status_code == 200 and r.json() == {"events": 1, "pages_moved_on": 1}
        incident = herald.store.get(incident_id)
        assert [(p.channel, p.state) for p in incident.pages] == [("sms", "failed"), ("voice", "pending")]
        [failed] = [e.details for e in incident.timeline if e.kind == "delivery_failed"]
        assert failed["detail"] == "email dropped: Bounced Address"


def test_a_signed_sms_without_a_message_sid_is_refused_and_changes_nothing(client):
    """Twilio gives every inbound SMS a MessageSid; without one it could not be acted on
    at most once, so it is not acted on at all."""
    incident_id = open_incident(client)
    r = signed_post(client, "/webhooks/twilio/sms", {"MessageSid": "", "From": ALICE, "Body": f"4 {incident_id}"})
    assert r.status_code == 400 and "MessageSid" in r.json()["detail"]
    assert herald_of(client).store.get(incident_id).status == "triggered"


def test_the_same_sms_and_status_twice_act_once_and_other_ids_act(client):
    """Posted again with the same ids (re-signed here: Twilio retrying, or a replay):
    answered 200, nothing done. A different MessageSid, or another status of the same
    message, is another event."""
    first, herald = open_incident(client), herald_of(client)
    params = {"MessageSid": "SM" + "1" * 32, "From": ALICE, "Body": f"8 {first}"}
    assert f"#{first} escalated" in signed_post(client, "/webhooks/twilio/sms", params).text
    again = signed_post(client, "/webhooks/twilio/sms", params)
    assert again.status_code == 200 and again.text.endswith("<Response />") and "<Message>" not in again.text
    assert herald.store.get(first).round == 2  # escalated once, not twice
    r = signed_post(client, "/webhooks/twilio/sms", {**params, "MessageSid": "SM" + "2" * 32})
    assert f"#{first} escalated" in r.text and herald.store.get(first).round == 3

    herald.paging.record_message(SentMessage("SM7", "alice", "sms", ((first, 3),)), ALICE)
    sent = {"MessageSid": "SM7", "MessageStatus": "sent"}
    assert signed_post(client, "/webhooks/twilio/status", sent).json() == {"status": "sent", "pages_moved_on": 0}
    assert signed_post(client, "/webhooks/twilio/status", sent).json()["replayed"] is True
    undelivered = signed_post(client, "/webhooks/twilio/status", {**sent, "MessageStatus": "undelivered"})
    assert undelivered.json() == {"status": "undelivered", "pages_moved_on": 1}


def test_a_sendgrid_event_without_an_id_is_remembered_by_its_content(client):
    incident_id, herald = open_incident(client), herald_of(client)
    herald.paging.record_message(SentMessage("msg2", "alice", "email", ((incident_id, 1),)), "")
    bounce = {"email": "alice@example.com", "event": "bounce", "sg_message_id": "msg2.filter0001",
              "reason": "550", "timestamp": int(time.time())}
    assert sendgrid_post(client, [bounce]).json() == {"events": 1, "pages_moved_on": 1}
    assert sendgrid_post(client, [bounce]).json() == {"events": 1, "pages_moved_on": 0, "replayed": 1}
    dropped = {**bounce, "event": "dropped"}  # another event about the same mail
    assert sendgrid_post(client, [bounce, dropped]).json() == {"events": 2, "pages_moved_on": 1, "replayed": 1}
