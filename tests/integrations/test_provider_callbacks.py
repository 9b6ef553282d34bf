import base64
import json
import xml.etree.ElementTree as ET

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from twilio.request_validator import RequestValidator

from integrations.provider_callbacks import (DeliveryStatus, help_twiml, message_twiml, parse_sendgrid_events,
                                             parse_status, verify_sendgrid, verify_twilio)

TOKEN = "twilio-auth-token-for-tests"
URL = "https://herald.example/webhooks/twilio/sms?x=1"
PARAMS = {"From": "+15550001111", "To": "+15550009999", "Body": "4 12", "MessageSid": "SM" + "a" * 32}


@pytest.fixture(scope="module")
def ec_key():
    key = ec.generate_private_key(ec.SECP256R1())
    der = key.public_key().public_bytes(serialization.Encoding.DER,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    return key, base64.b64encode(der).decode()


def _sg_sign(key, payload: bytes, timestamp: str) -> str:
    return base64.b64encode(key.sign(timestamp.encode() + payload, ec.ECDSA(hashes.SHA256()))).decode()


# --- verify_twilio ---------------------------------------------------------------

def test_verify_twilio_valid():
    sig = RequestValidator(TOKEN).compute_signature(URL, PARAMS)
    assert verify_twilio(TOKEN, URL, PARAMS, sig)


def test_verify_twilio_accepts_explicit_default_port():
    sig = RequestValidator(TOKEN).compute_signature(URL, PARAMS)
    assert verify_twilio(TOKEN, "https://herald.example:443/webhooks/twilio/sms?x=1", PARAMS, sig)


def test_verify_twilio_tampered_missing_wrong_token():
    sig = RequestValidator(TOKEN).compute_signature(URL, PARAMS)
    assert not verify_twilio(TOKEN, URL, {**PARAMS, "Body": "6 12"}, sig)
    assert not verify_twilio(TOKEN, URL + "&y=2", PARAMS, sig)
    assert not verify_twilio(TOKEN, URL, PARAMS, None)
    assert not verify_twilio(TOKEN, URL, PARAMS, "")
    assert not verify_twilio("other-token", URL, PARAMS, sig)
    assert not verify_twilio("", URL, PARAMS, sig)


# --- verify_sendgrid -------------------------------------------------------------

def test_verify_sendgrid_valid(ec_key):
    key, pub = ec_key
    payload, ts = b'[{"event":"bounce"}]\r\n', "1700000000"
    assert verify_sendgrid(pub, payload, _sg_sign(key, payload, ts), ts)


def test_verify_sendgrid_tampered_or_missing(ec_key):
    key, pub = ec_key
    payload, ts = b'[{"event":"bounce"}]', "1700000000"
    sig = _sg_sign(key, payload, ts)
    assert not verify_sendgrid(pub, b'[{"event":"delivered"}]', sig, ts)
    assert not verify_sendgrid(pub, payload, sig, "1700000001")
    assert not verify_sendgrid(pub, payload, None, ts)
    assert not verify_sendgrid(pub, payload, sig, None)
    other = ec.generate_private_key(ec.SECP256R1())
    assert not verify_sendgrid(pub, payload, _sg_sign(other, payload, ts), ts)


def test_verify_sendgrid_never_raises_on_garbage(ec_key):
    key, pub = ec_key
    payload, ts = b"[]", "1"
    sig = _sg_sign(key, payload, ts)
    assert not verify_sendgrid("not-a-key", payload, sig, ts)
    assert not verify_sendgrid(pub, payload, "%%%not-base64", ts)
    assert not verify_sendgrid(pub, payload, base64.b64encode(b"junk").decode(), ts)
    assert not verify_sendgrid(pub, b"\xff\xfe", sig, ts)
    assert not verify_sendgrid("", payload, sig, ts)


# (what a reply or a keypress means: tests/routing/test_reply_grammar.py)


# --- parse_status ----------------------------------------------------------------

def test_parse_status_message_delivered():
    assert parse_status({"MessageSid": "SM1", "MessageStatus": "delivered"}) == DeliveryStatus("SM1", "delivered", False)


@pytest.mark.parametrize("params,failed", [
    ({"MessageSid": "SM1", "MessageStatus": "undelivered", "ErrorCode": "30003"}, True),
    ({"SmsSid": "SM1", "SmsStatus": "failed"}, True),
    ({"CallSid": "CA1", "CallStatus": "completed", "AnsweredBy": "human"}, False),
    ({"CallSid": "CA1", "CallStatus": "completed", "AnsweredBy": "machine_end_beep"}, True),
    ({"CallSid": "CA1", "CallStatus": "no-answer"}, True),
    ({"CallSid": "CA1", "CallStatus": "busy"}, True),
    ({"CallSid": "CA1", "CallStatus": "canceled"}, True),
])
def test_parse_status_failure_classes(params, failed):
    status = parse_status(params)
    assert status.failed is failed
    assert status.channel == ("voice" if "CallSid" in params else "sms")


def test_parse_status_rejects_non_status():
    with pytest.raises(ValueError):
        parse_status({"From": "+1555", "Body": "hi"})


# --- parse_sendgrid_events -------------------------------------------------------

def test_parse_sendgrid_events_batch():
    payload = json.dumps([
        {"email": "a@x", "event": "bounce", "sg_message_id": "abc123.filter0001-1", "reason": "550 no\nsuch",
         "timestamp": 1700000000, "herald_incident": "inc-1"},
        {"email": "a@x", "event": "dropped", "sg_message_id": "abc123.f2"},
        {"email": "a@x", "event": "delivered", "sg_message_id": "abc123.f3"},
    ]).encode()
    bounce, dropped, delivered = parse_sendgrid_events(payload)
    assert (bounce.provider_id, bounce.failed, bounce.reason) == ("abc123", True, "550 no such")
    assert bounce.custom_args == {"herald_incident": "inc-1"} and bounce.timestamp == 1700000000
    assert dropped.failed and not delivered.failed


def test_parse_sendgrid_events_skips_junk_entries():
    assert parse_sendgrid_events(b'[1, "x", {"no_event": 1}, {"event": "open"}]')[0].event == "open"
    assert parse_sendgrid_events(b"[]") == []


@pytest.mark.parametrize("payload", [b"not json", b'{"event": "bounce"}', b"\xff"])
def test_parse_sendgrid_events_malformed(payload):
    with pytest.raises(ValueError):
        parse_sendgrid_events(payload)


# --- TwiML answers ---------------------------------------------------------------

def test_message_twiml():
    root = ET.fromstring(message_twiml("Acknowledged #12"))
    assert root.tag == "Response" and root.find("Message").text == "Acknowledged #12"


def test_help_twiml_mentions_usage():
    assert "reply 4 <code>" in ET.fromstring(help_twiml()).find("Message").text


def test_message_twiml_escapes_injection():
    xml = message_twiml("ok</Message><Redirect>http://evil</Redirect>\r\nx")
    root = ET.fromstring(xml)
    assert root.find("Redirect") is None and "\n" not in root.find("Message").text
