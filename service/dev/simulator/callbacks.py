"""How the provider simulator calls Herald back, signed exactly like the providers.

Twilio webhooks: form-encoded POST, ``X-Twilio-Signature`` =
``RequestValidator(auth_token).compute_signature(url, params)``.
SendGrid event webhooks: JSON array, ECDSA P-256/SHA-256 over ``timestamp + body``,
base64 DER in ``X-Twilio-Email-Event-Webhook-Signature`` with the timestamp in
``X-Twilio-Email-Event-Webhook-Timestamp``; the public key is base64 DER
SubjectPublicKeyInfo, the form SendGrid's settings page shows.

Callbacks only ever go to loopback hosts unless more are explicitly allowed.
"""
from __future__ import annotations

import base64
import json
import secrets
import time
import xml.etree.ElementTree as ET
from typing import Any, Iterable, Mapping
from urllib.parse import urlencode, urlsplit

import httpx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from twilio.request_validator import RequestValidator

from service.dev.simulator.state import SimMessage, SimulatorState

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
CALLBACK_TIMEOUT_S = 10.0


def load_signing_key(private_key_pem: str | None) -> ec.EllipticCurvePrivateKey:
    """The SendGrid event-webhook signing key: from PEM, or a fresh P-256 key."""
    if private_key_pem is None:
        return ec.generate_private_key(ec.SECP256R1())
    key = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise ValueError("SendGrid signing key must be an EC P-256 private key")
    return key


def public_key_b64(key: ec.EllipticCurvePrivateKey) -> str:
    """Base64 DER SubjectPublicKeyInfo, as SendGrid shows the verification key."""
    der = key.public_key().public_bytes(serialization.Encoding.DER,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode()


def sign_sendgrid(key: ec.EllipticCurvePrivateKey, payload: bytes, timestamp: str) -> str:
    """Base64 DER ECDSA signature over ``timestamp + payload``."""
    return base64.b64encode(key.sign(timestamp.encode() + payload, ec.ECDSA(hashes.SHA256()))).decode()


def _parse(xml: str) -> ET.Element | None:
    try:
        return ET.fromstring(xml)
    except ET.ParseError:
        return None


def twiml_texts(xml: str, verb: str) -> list[str]:
    """Texts of every ``<verb>`` (e.g. Message, Say) in a TwiML document."""
    root = _parse(xml)
    return [] if root is None else ["".join(el.itertext()).strip() for el in root.iter(verb)]


def twiml_gather_action(xml: str) -> str | None:
    """The action URL of the first <Gather> in a TwiML document."""
    root = _parse(xml)
    gather = None if root is None else root.find(".//Gather")
    return None if gather is None else gather.get("action")


class CallbackSender:
    """Posts signed provider callbacks and logs each attempt in the state."""

    def __init__(self, state: SimulatorState, auth_token: str, signing_key: ec.EllipticCurvePrivateKey,
                 herald_url: str | None, allowed_hosts: Iterable[str] = LOOPBACK_HOSTS) -> None:
        self.state = state
        self.validator = RequestValidator(auth_token)
        self.signing_key = signing_key
        self.herald_url = herald_url.rstrip("/") if herald_url else None
        self.allowed_hosts = frozenset(allowed_hosts)

    def _refuse(self, url: str) -> str | None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            return "callback URL is not http(s)"
        if (parts.hostname or "") not in self.allowed_hosts:
            return "callback host is not loopback (not allowed)"
        return None

    async def _post(self, kind: str, url: str, content: bytes, headers: dict[str, str]) -> dict[str, Any]:
        entry: dict[str, Any] = {"kind": kind, "url": url, "status_code": None, "body": "", "error": "",
                                 # what went on the wire, so that ``replay`` can send it again as is
                                 "request": {"content": content.decode("utf-8"), "headers": dict(headers)}}
        generation = self.state.generation
        refusal = self._refuse(url)
        if refusal:
            entry["error"] = refusal
        else:
            try:
                async with httpx.AsyncClient(trust_env=False, timeout=CALLBACK_TIMEOUT_S) as client:
                    response = await client.post(url, content=content, headers=headers)
                entry.update(status_code=response.status_code, body=response.text[:10_000])
            except httpx.HTTPError as exc:
                entry["error"] = f"{type(exc).__name__}"
        self.state.log_callback(entry, generation)
        return entry

    async def replay(self, entry: Mapping[str, Any]) -> dict[str, Any]:
        """POST a logged callback again, byte for byte with its original headers and
        signature: what someone who captured it could send (Herald must not act twice)."""
        request = entry["request"]
        return await self._post(f"{entry['kind']}-replay", entry["url"], request["content"].encode("utf-8"),
                                dict(request["headers"]))

    async def post_twilio(self, kind: str, url: str, params: Mapping[str, str]) -> dict[str, Any]:
        """POST ``params`` form-encoded to ``url`` with a valid X-Twilio-Signature."""
        signature = self.validator.compute_signature(url, dict(params))
        headers = {"X-Twilio-Signature": signature, "User-Agent": "TwilioProxy/1.1",
                   "Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
        body = urlencode(dict(params)).encode()
        return await self._post(kind, url, body, headers)

    async def post_sendgrid_events(self, events: list[dict[str, Any]]) -> dict[str, Any]:
        """POST a signed event batch to ``{herald_url}/webhooks/sendgrid/events``."""
        if not self.herald_url:
            entry = {"kind": "sendgrid-events", "url": "", "status_code": None, "body": "",
                     "error": "herald_url is not configured"}
            self.state.log_callback(entry)
            return entry
        payload = json.dumps(events, separators=(",", ":")).encode() + b"\r\n"
        timestamp = str(int(time.time()))
        headers = {"Content-Type": "application/json",
                   "X-Twilio-Email-Event-Webhook-Signature": sign_sendgrid(self.signing_key, payload, timestamp),
                   "X-Twilio-Email-Event-Webhook-Timestamp": timestamp, "User-Agent": "SendGrid Event API"}
        return await self._post("sendgrid-events", f"{self.herald_url}/webhooks/sendgrid/events", payload, headers)


def twilio_status_params(message: SimMessage, status: str, answered_by: str | None = None,
                         error_code: str | None = None) -> dict[str, str]:
    """Form fields of a Twilio status callback for a recorded message or call."""
    params = {"AccountSid": message.account_sid, "From": message.from_, "To": message.to,
              "ApiVersion": "2010-04-01"}
    if message.channel == "voice":
        params.update(CallSid=message.provider_id, CallStatus=status, Direction="outbound-api",
                      CallDuration="12" if status == "completed" else "0")
        if answered_by:
            params["AnsweredBy"] = answered_by
    else:
        params.update(MessageSid=message.provider_id, SmsSid=message.provider_id,
                      MessageStatus=status, SmsStatus=status)
    code = error_code
    if not code and message.channel == "sms":
        code = {"undelivered": "30003", "failed": "30008"}.get(status)
    if code:
        params["ErrorCode"] = code
    return params


def sendgrid_event_object(message: SimMessage, event: str, sg_message_id: str | None = None,
                          reason: str | None = None) -> dict[str, Any]:
    """One SendGrid event-webhook object for a recorded email (custom args included)."""
    sg_id = sg_message_id or message.provider_id
    if "." not in sg_id:  # SendGrid's sg_message_id = X-Message-Id + ".filter…" suffix
        sg_id += ".recvd-sim-1-0-0"
    obj: dict[str, Any] = {**message.custom_args, "email": message.to, "timestamp": int(time.time()),
                           "smtp-id": f"<{message.provider_id}@sim.invalid>", "event": event,
                           "category": [], "sg_event_id": secrets.token_urlsafe(16),
                           "sg_message_id": sg_id}
    if event == "bounce":
        obj.update(type="bounce", status="5.1.1", reason=reason or
                   "550 5.1.1 The email account that you tried to reach does not exist.")
    elif event == "dropped":
        obj["reason"] = reason or "Bounced Address"
    elif event == "delivered":
        obj["response"] = reason or "250 2.0.0 OK"
    return obj
