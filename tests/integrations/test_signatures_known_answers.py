"""Herald's signature checks against the providers' own published examples.

The other signature tests sign with the same libraries that verify (twilio's
``RequestValidator``, ``cryptography``): a mistake shared by signer and verifier —
an SDK that changes its default algorithm, a wrong idea of what is signed — would
pass them all. These vectors come from the providers, so they pin the real format:

* Twilio: the example of its webhook-security documentation (auth token ``12345``),
  and the one in twilio-python's tests/unit/test_request_validator.py (also in
  twilio-php's validation docs), with its explicit-port variants.
* SendGrid: sendgrid-python's test/unit/test_eventwebhook.py and its older
  test/test_eventwebhook.py (public key, payload, signature, timestamp).
"""
from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from integrations.provider_callbacks import verify_sendgrid, verify_twilio

# --- Twilio -------------------------------------------------------------------------

TWILIO_TOKEN = "12345"
TWILIO_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
DOCS_PARAMS = {"CallSid": "CA1234567890ABCDE", "Caller": "+12349013030", "Digits": "1234",
               "From": "+12349013030", "To": "+18005551212"}
DOCS_SIGNATURE = "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
SDK_PARAMS = {"CallSid": "CA1234567890ABCDE", "Digits": "1234", "From": "+14158675309",
              "To": "+18005551212", "Caller": "+14158675309"}
SDK_SIGNATURE = "RSOYDt4T1cUTdK1PDd93/VVr8B8="

TWILIO_VECTORS = [
    pytest.param(TWILIO_URL, DOCS_PARAMS, DOCS_SIGNATURE, id="twilio-docs"),
    pytest.param(TWILIO_URL, SDK_PARAMS, SDK_SIGNATURE, id="twilio-python"),
    # Twilio may sign the URL with or without the default port; both are Twilio's.
    pytest.param(TWILIO_URL, SDK_PARAMS, "kvajT1Ptam85bY51eRf/AJRuM3w=", id="signed-with-:443"),
    pytest.param(TWILIO_URL.replace("https", "http"), SDK_PARAMS, "0ZXoZLH/DfblKGATFgpif+LLRf4=",
                 id="http-signed-with-:80"),
    pytest.param(TWILIO_URL.replace(".com", ".com:1234").replace("https", "http"), SDK_PARAMS,
                 "Zmvh+3yNM1Phv2jhDCwEM3q5ebU=", id="http-:1234-signed-without-port"),
]


def documented_twilio_signature(token: str, url: str, params: dict[str, str]) -> str:
    """Twilio's documented algorithm written out (no SDK): base64 HMAC-SHA1 with the
    auth token over the full URL followed by each POST parameter's name and value,
    sorted by name."""
    text = url + "".join(name + params[name] for name in sorted(params))
    return base64.b64encode(hmac.new(token.encode(), text.encode(), hashlib.sha1).digest()).decode()


def test_the_written_out_algorithm_gives_twilios_published_signatures():
    """So that tests may sign requests with it instead of with the SDK Herald verifies with."""
    assert documented_twilio_signature(TWILIO_TOKEN, TWILIO_URL, DOCS_PARAMS) == DOCS_SIGNATURE
    assert documented_twilio_signature(TWILIO_TOKEN, TWILIO_URL, SDK_PARAMS) == SDK_SIGNATURE


@pytest.mark.parametrize("url,params,signature", TWILIO_VECTORS)
def test_herald_accepts_twilios_published_signatures(url, params, signature):
    assert verify_twilio(TWILIO_TOKEN, url, params, signature)


@pytest.mark.parametrize("url,params,signature", TWILIO_VECTORS)
def test_herald_refuses_each_published_example_changed_by_one_character(url, params, signature):
    assert not verify_twilio("12346", url, params, signature)  # another auth token
    assert not verify_twilio(TWILIO_TOKEN, url.replace("bar=2", "bar=3"), params, signature)
    assert not verify_twilio(TWILIO_TOKEN, url.replace("myapp", "myapq"), params, signature)
    assert not verify_twilio(TWILIO_TOKEN, url, {**params, "Digits": "1235"}, signature)
    assert not verify_twilio(TWILIO_TOKEN, url, {**params, "Extra": ""}, signature)
    changed = ("1" if signature[0] != "1" else "2") + signature[1:]
    assert not verify_twilio(TWILIO_TOKEN, url, params, changed)
    missing = dict(params)
    missing.pop("Caller")
    assert not verify_twilio(TWILIO_TOKEN, url, missing, signature)


# --- SendGrid -----------------------------------------------------------------------

SENDGRID_KEY = ("MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3GRqe62gw+"
                "2fNNRaINXvVpiglSI8eNEc6wEA3F+g==")
SENDGRID_SIGNATURE = ("MEUCIGHQVtGj+Y3LkG9fLcxf3qfI10QysgDWmMOVmxG0u6ZUAiEAyBiXDWzM+uOe5W0JuG+luQAbPIqHh89M15TluLtE"
                      "ZtM=")
SENDGRID_TIMESTAMP = "1600112502"
# The body exactly as SendGrid posts it: compact JSON and a trailing CRLF, both signed.
SENDGRID_PAYLOAD = (
    b'[{"email":"hello@world.com","event":"dropped","reason":"Bounced Address",'
    b'"sg_event_id":"ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA",'
    b'"sg_message_id":"LRzXl_NHStOGhQ4kofSm_A.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0",'
    b'"smtp-id":"<LRzXl_NHStOGhQ4kofSm_A@ismtpd0039p1iad1.sendgrid.net>","timestamp":1600112492}]\r\n')
OLDER_KEY = ("MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEDr2LjtURuePQzplybdC+u4CwrqDqBaWjcMMsTbhdbcwHBcepxo7yAQGhHPT"
             "nlvFYPAZFceEu/1FwCM/QmGUhA==")
OLDER_SIGNATURE = ("MEUCIQCtIHJeH93Y+qpYeWrySphQgpNGNr/U+UyUlBkU6n7RAwIgJTz2C+8a8xonZGi6BpSzoQsbVRamr2nlxFDWYNH2"
                   "j/0=")
OLDER_TIMESTAMP = "1588788367"
OLDER_PAYLOAD = b'{"category":"example_payload","event":"test_event","message_id":"message_id"}'
# sendgrid-python's "bad key": another valid P-256 key.
OTHER_KEY = ("MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEqTxd43gyp8IOEto2LdIfjRQrIbsd4SXZkLW6jDutdhXSJCWHw8REntlo7aNDt"
             "hvj+y7GjUuFDb/R1NGe1OPzpA==")

SENDGRID_VECTORS = [
    pytest.param(SENDGRID_KEY, SENDGRID_PAYLOAD, SENDGRID_SIGNATURE, SENDGRID_TIMESTAMP, id="event-batch"),
    pytest.param(OLDER_KEY, OLDER_PAYLOAD, OLDER_SIGNATURE, OLDER_TIMESTAMP, id="older-example"),
]


def one_byte_changed(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1:]


@pytest.mark.parametrize("key,payload,signature,timestamp", SENDGRID_VECTORS)
def test_herald_accepts_sendgrids_published_signatures(key, payload, signature, timestamp):
    assert verify_sendgrid(key, payload, signature, timestamp)


@pytest.mark.parametrize("key,payload,signature,timestamp", SENDGRID_VECTORS)
def test_herald_refuses_each_published_example_changed_by_one_byte(key, payload, signature, timestamp):
    for at in (0, len(payload) // 2, len(payload) - 1):  # first, middle, last byte of the body
        assert not verify_sendgrid(key, one_byte_changed(payload, at), signature, timestamp), at
    assert not verify_sendgrid(key, payload, signature, str(int(timestamp) + 1))
    assert not verify_sendgrid(key, payload, signature, timestamp + " ")
    raw = base64.b64decode(signature)
    assert not verify_sendgrid(key, payload, base64.b64encode(one_byte_changed(raw, len(raw) - 1)).decode(),
                               timestamp)
    assert not verify_sendgrid(OTHER_KEY, payload, signature, timestamp)


def test_the_trailing_crlf_is_part_of_what_sendgrid_signs():
    assert not verify_sendgrid(SENDGRID_KEY, SENDGRID_PAYLOAD.rstrip(b"\r\n"), SENDGRID_SIGNATURE,
                               SENDGRID_TIMESTAMP)
    assert not verify_sendgrid(SENDGRID_KEY, SENDGRID_PAYLOAD + b"\r\n", SENDGRID_SIGNATURE, SENDGRID_TIMESTAMP)
