"""SMS and voice pages through the real Twilio SDK.

With ``api_base`` set (the simulator, e.g. ``http://127.0.0.1:8765``) every request
the SDK builds for ``https://*.twilio.com`` is re-pointed there by a
``TwilioHttpClient`` subclass: the SDK's documented extension point is the
``http_client`` argument of ``twilio.rest.Client``; its ``edge``/``region``
settings only rewrite the host *inside* ``twilio.com``, so they cannot target
another base URL.

Credentials never reach a ``SendResult`` or a log line: the http client logs only
method, path (account SID masked) and status, and error details are built from the
HTTP status and Twilio's error code/message with the secrets redacted.
"""
from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter
from twilio.base.exceptions import TwilioException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from integrations.message_text import clean_text, sms_text, voice_twiml
from integrations.notifier import OutboundPage, SendResult

log = logging.getLogger(__name__)
CALL_TIME_LIMIT_S = 300  # a paging call never needs to last longer


class _QuietHttpClient(TwilioHttpClient):
    """TwilioHttpClient that (a) optionally sends to ``api_base`` instead of
    https://*.twilio.com and (b) logs without URLs, headers or credentials."""

    def __init__(self, api_base: str | None, timeout: float, account_sid: str, pool_size: int = 10) -> None:
        super().__init__(pool_connections=True, timeout=timeout, logger=log)
        # Pages are sent from several threads at once (HERALD_SEND_CONCURRENCY): keep a
        # connection for each, rather than opening and dropping the ones over requests' 10.
        for scheme in ("https://", "http://"):
            self.session.mount(scheme, HTTPAdapter(pool_maxsize=max(pool_size, 1)))
        self._base = urlsplit(api_base.rstrip("/")) if api_base else None
        self._sid = account_sid
        if self._base is not None:
            if self._base.scheme not in ("http", "https") or not self._base.netloc:
                raise ValueError("api_base must be an http(s) URL")
            self.session.trust_env = False  # no proxy between us and the simulator

    def rewrite(self, url: str) -> str:
        """The URL actually requested: ``url`` re-based onto ``api_base`` if set."""
        if self._base is None:
            return url
        parts = urlsplit(url)
        path = self._base.path + parts.path
        return urlunsplit((self._base.scheme, self._base.netloc, path, parts.query, ""))

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        return super().request(method, self.rewrite(url), *args, **kwargs)

    def log_request(self, kwargs: dict[str, Any]) -> None:
        path = urlsplit(kwargs["url"]).path.replace(self._sid, "AC***") if self._sid else "?"
        self.logger.debug("twilio request %s %s", kwargs["method"], path)

    def log_response(self, status_code: int, response: Any) -> None:
        self.logger.debug("twilio response %s", status_code)

    def close(self) -> None:
        """Close pooled connections."""
        if self.session is not None:
            self.session.close()


class TwilioNotifier:
    """A ``Notifier`` for ``channel`` "sms" or "voice" via Twilio's REST API; ``send``
    may be called from several threads at once (``pool_size``: connections kept)."""

    def __init__(self, account_sid: str, auth_token: str, from_number: str,
                 api_base: str | None, public_url: str, channel: str = "sms",
                 timeout: float = 10, pool_size: int = 10) -> None:
        if channel not in ("sms", "voice"):
            raise ValueError("channel must be 'sms' or 'voice'")
        self.channel = channel
        self._from = from_number
        self._public_url = public_url.rstrip("/")
        self._secrets = [s for s in (auth_token, account_sid) if s]
        self._http = _QuietHttpClient(api_base, timeout, account_sid, pool_size)
        self._client = Client(account_sid, auth_token, http_client=self._http)

    def __enter__(self) -> "TwilioNotifier":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the HTTP connection pool."""
        self._http.close()

    def status_callback_url(self) -> str:
        """Where Twilio posts message/call status changes."""
        return f"{self._public_url}/webhooks/twilio/status"

    def gather_url(self, page: OutboundPage) -> str:
        """The <Gather> action for this call: identifies incident, person and step."""
        query = urlencode({"incident": page.incident_id, "person": page.person_id,
                           "code": page.code, "step": page.round})  # the URL keeps its name: calls in flight carry it
        return f"{self._public_url}/webhooks/twilio/voice/gather?{query}"

    def send(self, page: OutboundPage) -> SendResult:
        """Send one page; never raises for provider or network errors."""
        if page.channel != self.channel:
            return SendResult("failed", detail=f"notifier is {self.channel}, page is {clean_text(page.channel, 20)}")
        if not page.address:
            return SendResult("failed", detail="no phone number")
        try:
            if self.channel == "sms":
                created = self._client.messages.create(
                    to=page.address, from_=self._from, body=sms_text(page),
                    status_callback=self.status_callback_url())
            else:
                created = self._client.calls.create(
                    to=page.address, from_=self._from,
                    twiml=voice_twiml(page, self.gather_url(page)),
                    status_callback=self.status_callback_url(),
                    machine_detection="Enable", time_limit=CALL_TIME_LIMIT_S)
        except Exception as exc:  # classified below; never propagated to the pipeline
            result = self._classify(exc)
        else:
            result = SendResult("sent", provider_id=str(created.sid or ""))
        log.info("twilio %s page incident=%s round=%s outcome=%s %s", self.channel,
                 clean_text(page.incident_id, 64), page.round, result.outcome, result.detail)
        return result

    def _redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def _classify(self, exc: Exception) -> SendResult:
        """429/5xx/network -> retry; other 4xx and anything unexpected -> failed.
        The detail never carries a URL, a header or a secret."""
        if isinstance(exc, requests.Timeout):
            return SendResult("retry", detail="twilio: timeout")
        if isinstance(exc, requests.ConnectionError):
            return SendResult("retry", detail="twilio: connection error")
        status = getattr(exc, "status", None)
        if isinstance(exc, TwilioException) and isinstance(status, int):
            code = getattr(exc, "code", None)
            message = getattr(exc, "msg", None) or getattr(exc, "title", None) or ""
            detail = self._redact(clean_text(f"twilio: HTTP {status} code {code}: {message}", 300))
            retry = status == 429 or status >= 500
            return SendResult("retry" if retry else "failed", detail=detail)
        if isinstance(exc, (requests.RequestException, OSError)):
            return SendResult("retry", detail=f"twilio: {type(exc).__name__}")
        # A bug or an unparseable answer: retrying will not help, try the next channel.
        return SendResult("failed", detail=f"twilio: unexpected {type(exc).__name__}")
