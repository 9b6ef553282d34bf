"""Email pages through the real SendGrid SDK (``sendgrid.SendGridAPIClient``).

``api_base`` is passed as the SDK's own ``host`` argument (e.g. the simulator at
``http://127.0.0.1:8765``); ``None`` means the real ``https://api.sendgrid.com``.

The SDK's transport (python_http_client) logs every request at DEBUG on the
``python_http_client.client`` logger: its headers, with ``Authorization: Bearer <api
key>``, its payload — the whole page: the ack link, whose token acknowledges the
incident, and the person's email address — and the response body. Importing this module
installs a filter on that logger that drops the headers and payload lines, keeps the
method, the path and the status of the others, and redacts any bearer token left, so
turning on DEBUG logging leaks neither the key nor a page (``herald serve`` and
``worker`` also keep that logger at WARNING: ``service.telemetry.logs``).
"""
from __future__ import annotations

import http.client
import json
import logging
import re
import socket
import urllib.error
from urllib.parse import urlsplit

from python_http_client.exceptions import HTTPError
from sendgrid import SendGridAPIClient
from sendgrid.helpers.mail import CustomArg, Mail

from integrations.message_text import clean_text, email_content
from integrations.notifier import OutboundPage, SendResult

log = logging.getLogger(__name__)
SENDGRID_HOST = "https://api.sendgrid.com"
_BEARER = re.compile(r"(Bearer\s+)[^\s'\",}]+", re.IGNORECASE)
_DROPPED = ("PAYLOAD:", "HEADERS:")  # python_http_client's request body and headers
_REQUEST = re.compile(r"^([A-Z]+) Request: (\S+)")
_RESPONSE = re.compile(r"^([A-Z]+) Response: (\d+)")


class QuietTransportFilter(logging.Filter):
    """For the SDK transport's records: no payload or headers line, a request's URL cut to
    its path, a response without its body, and any ``Bearer <token>`` left reads
    ``Bearer [REDACTED]``."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken record is not ours to fix
            return True
        if message.startswith(_DROPPED):
            return False
        if request := _REQUEST.match(message):
            record.msg, record.args = f"{request[1]} Request: {urlsplit(request[2]).path}", ()
        elif response := _RESPONSE.match(message):
            record.msg, record.args = f"{response[1]} Response: {response[2]} (body not logged)", ()
        elif "earer" in message:
            record.msg, record.args = _BEARER.sub(r"\1[REDACTED]", message), ()
        return True


def install_log_redaction(logger_name: str = "python_http_client.client") -> None:
    """Idempotently attach ``QuietTransportFilter`` to the SDK transport logger."""
    target = logging.getLogger(logger_name)
    if not any(isinstance(f, QuietTransportFilter) for f in target.filters):
        target.addFilter(QuietTransportFilter())


install_log_redaction()


class SendGridNotifier:
    """A ``Notifier`` for channel "email" via SendGrid's v3 mail/send."""

    channel = "email"

    def __init__(self, api_key: str, from_email: str, api_base: str | None,
                 timeout: float = 10) -> None:
        host = (api_base or SENDGRID_HOST).rstrip("/")
        if not host.startswith(("http://", "https://")):
            raise ValueError("api_base must be an http(s) URL")
        self._api_key = api_key
        self._from = from_email
        self._sg = SendGridAPIClient(api_key=api_key, host=host)
        self._sg.client.timeout = timeout  # propagated to every request it builds

    def build_mail(self, page: OutboundPage) -> Mail:
        """The Mail for a page; custom args come back on SendGrid's events."""
        subject, text, html_body = email_content(page)
        mail = Mail(from_email=self._from, to_emails=page.address, subject=subject,
                    plain_text_content=text, html_content=html_body)
        mail.custom_arg = [CustomArg("herald_incident", page.incident_id),
                           CustomArg("herald_person", page.person_id),
                           CustomArg("herald_step", str(page.round))]
        return mail

    def send(self, page: OutboundPage) -> SendResult:
        """Send one page; never raises for provider or network errors."""
        if page.channel != self.channel:
            return SendResult("failed", detail=f"notifier is email, page is {clean_text(page.channel, 20)}")
        if not page.address or "@" not in page.address:
            return SendResult("failed", detail="no email address")
        try:
            response = self._sg.send(self.build_mail(page))
        except Exception as exc:  # classified below; never propagated to the pipeline
            result = self._classify(exc)
        else:
            message_id = response.headers.get("X-Message-Id") or ""
            result = SendResult("sent", provider_id=clean_text(message_id, 100))
        log.info("sendgrid email page incident=%s round=%s outcome=%s %s",
                 clean_text(page.incident_id, 64), page.round, result.outcome, result.detail)
        return result

    def _classify(self, exc: Exception) -> SendResult:
        """429/5xx/network -> retry; other 4xx and anything unexpected -> failed.
        The detail never carries a header or the key."""
        if isinstance(exc, HTTPError):
            status = int(exc.status_code)
            detail = f"sendgrid: HTTP {status}: {_error_message(exc.body)}"
            detail = clean_text(detail.replace(self._api_key, "***") if self._api_key else detail, 300)
            return SendResult("retry" if status == 429 or status >= 500 else "failed", detail=detail)
        if isinstance(exc, (TimeoutError, socket.timeout)):
            return SendResult("retry", detail="sendgrid: timeout")
        if isinstance(exc, urllib.error.URLError):
            timed_out = isinstance(exc.reason, (TimeoutError, socket.timeout))
            return SendResult("retry", detail="sendgrid: timeout" if timed_out else "sendgrid: connection error")
        if isinstance(exc, (http.client.HTTPException, OSError)):
            return SendResult("retry", detail=f"sendgrid: {type(exc).__name__}")
        return SendResult("failed", detail=f"sendgrid: unexpected {type(exc).__name__}")


def _error_message(body: object) -> str:
    """First ``errors[].message`` of a SendGrid error body, or ""."""
    try:
        data = json.loads(body if isinstance(body, (bytes, str)) else b"")
        return str(data["errors"][0].get("message") or "")
    except Exception:
        return ""
