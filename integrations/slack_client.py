"""Slack through its official SDK: the Web API client, request signatures, and Slack as a
paging channel.

* ``web_client``: ``slack_sdk.WebClient`` with a timeout and the SDK's own retry handlers
  (a connection error, HTTP 429 after its Retry-After, 5xx); ``api_base`` points it at the
  provider simulator (``HERALD_SLACK_API_BASE``), None at https://slack.com/api/.
* ``SlackApi``: the calls Herald makes (post, update, thread reply, a DM, users by email,
  user groups), each answering what it got or raising ``SlackFailure`` that says whether a
  retry may help.
* ``verify_signature``: Slack's v0 request signature (HMAC-SHA256 over ``v0:timestamp:body``,
  the timestamp within 5 minutes), with ``slack_sdk.signature.SignatureVerifier``.
* ``SlackNotifier``: a ``Notifier`` for channel "slack": the person's DM
  (``users.lookupByEmail`` → ``conversations.open`` → ``chat.postMessage`` with the buttons).
"""
from __future__ import annotations

import logging
import socket
import time
import urllib.error
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_handlers import (ConnectionErrorRetryHandler, RateLimitErrorRetryHandler,
                                                   ServerErrorRetryHandler)
from slack_sdk.signature import Clock, SignatureVerifier

from integrations.notifier import OutboundPage, SendResult
from integrations.slack_text import page_message
from routing.text import clean_text

log = logging.getLogger(__name__)
SLACK_API = "https://slack.com/api/"
SIGNATURE_HEADER = "X-Slack-Signature"
TIMESTAMP_HEADER = "X-Slack-Request-Timestamp"


#: Errors Slack answers in an ``{"ok": false}`` body that a later attempt may not get.
RETRYABLE = {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}


class SlackFailure(Exception):
    """A Slack call that did not succeed; ``retry``: a later attempt may (429, 5xx, network)."""

    def __init__(self, detail: str, retry: bool) -> None:
        super().__init__(detail)
        self.detail, self.retry = detail, retry


def web_client(token: str, api_base: str | None = None, timeout: float = 10, retries: int = 2) -> WebClient:
    """The SDK's client, with its retry handlers for connection errors, 429 and 5xx."""
    base = api_base or SLACK_API
    if not base.startswith(("http://", "https://")):
        raise ValueError("the Slack API base must be an http(s) URL")
    handlers = [ConnectionErrorRetryHandler(max_retry_count=retries), RateLimitErrorRetryHandler(max_retry_count=retries),
                ServerErrorRetryHandler(max_retry_count=retries)] if retries else []
    return WebClient(token=token, base_url=base.rstrip("/") + "/", timeout=max(int(round(timeout)), 1),
                     retry_handlers=handlers)


class _FixedClock(Clock):
    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now

    def now(self) -> float:
        return self._now()


def verify_signature(secret: str, body: bytes, timestamp: str | None, signature: str | None,
                     now: Callable[[], float] = time.time) -> bool:
    """Slack's v0 signature of a request: ``v0=HMAC-SHA256(secret, "v0:{timestamp}:{body}")``,
    and the timestamp within 5 minutes of ``now`` (a replay of an old request fails)."""
    if not secret or not timestamp or not signature or not timestamp.strip().isdigit():
        return False
    verifier = SignatureVerifier(secret, clock=_FixedClock(now))
    return verifier.is_valid(body=body, timestamp=timestamp.strip(), signature=signature.strip())


def sign(secret: str, body: bytes, timestamp: str) -> str:
    """The ``X-Slack-Signature`` Slack sends for ``body`` at ``timestamp`` (the simulator signs with it)."""
    return SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body) or ""


def _classify(exc: Exception) -> SlackFailure:
    if isinstance(exc, SlackApiError):
        status = int(getattr(exc.response, "status_code", 0) or 0)
        error = str((exc.response.data or {}).get("error", "")) if isinstance(exc.response.data, dict) else ""
        retry = status == 429 or status >= 500 or error in RETRYABLE
        return SlackFailure(f"slack: {clean_text(error or f'HTTP {status}', 100)}", retry)
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return SlackFailure("slack: timeout", True)
    if isinstance(exc, urllib.error.URLError):
        timed_out = isinstance(exc.reason, (TimeoutError, socket.timeout))
        return SlackFailure("slack: timeout" if timed_out else "slack: connection error", True)
    if isinstance(exc, (OSError, SlackClientError)):
        return SlackFailure(f"slack: {type(exc).__name__}", True)
    return SlackFailure(f"slack: unexpected {type(exc).__name__}", False)


@dataclass(frozen=True, slots=True)
class Posted:
    channel: str
    ts: str


class SlackApi:
    """The Web API calls Herald makes. Each raises ``SlackFailure`` (never the SDK's own)."""

    def __init__(self, client: WebClient, quick: WebClient | None = None) -> None:
        self.client = client
        #: For calls made while a Slack request waits for Herald's answer (3 s): short, no retries.
        self.quick = quick or client

    def _call(self, method: str, *, quick: bool = False, **kwargs: Any) -> dict[str, Any]:
        try:
            response = getattr(self.quick if quick else self.client, method)(**kwargs)
        except Exception as exc:  # classified: the caller decides on retry from it
            raise _classify(exc) from None
        return dict(response.data) if isinstance(response.data, dict) else {}

    def post(self, channel: str, text: str, blocks: Sequence[dict] | None = None, thread_ts: str | None = None) -> Posted:
        data = self._call("chat_postMessage", channel=channel, text=text, blocks=list(blocks) if blocks else None,
                          thread_ts=thread_ts, unfurl_links=False, unfurl_media=False)
        return Posted(str(data.get("channel") or channel), str(data.get("ts") or ""))

    def update(self, channel: str, ts: str, text: str, blocks: Sequence[dict]) -> None:
        self._call("chat_update", channel=channel, ts=ts, text=text, blocks=list(blocks))

    def user_id_by_email(self, email: str) -> str | None:
        """The Slack user with this email; None when Slack has none."""
        try:
            data = self._call("users_lookupByEmail", email=email)
        except SlackFailure as failure:
            if failure.detail.endswith("users_not_found"):
                return None
            raise
        return str((data.get("user") or {}).get("id") or "") or None

    def user_email(self, user_id: str, quick: bool = False) -> str | None:
        """The email of a Slack user's profile (needs users:read.email); None when it has none."""
        data = self._call("users_info", quick=quick, user=user_id)
        return str(((data.get("user") or {}).get("profile") or {}).get("email") or "") or None

    def open_dm(self, user_id: str) -> str:
        data = self._call("conversations_open", users=user_id)
        return str((data.get("channel") or {}).get("id") or "")

    def set_usergroup(self, usergroup: str, users: Sequence[str]) -> None:
        self._call("usergroups_users_update", usergroup=usergroup, users=list(users))


class SlackNotifier:
    """A ``Notifier`` for channel "slack": a page in the person's DM, found by their email."""

    channel = "slack"

    def __init__(self, api: SlackApi, user_ids: Callable[[str], str | None] | None = None) -> None:
        self.api = api
        # Where Slack user ids by email are cached (a store); None: asked of Slack each time.
        self._user_ids = user_ids or api.user_id_by_email

    def send(self, page: OutboundPage) -> SendResult:
        """Send one page; never raises for provider or network errors."""
        if page.channel != self.channel:
            return SendResult("failed", detail=f"notifier is slack, page is {clean_text(page.channel, 20)}")
        if not page.address or "@" not in page.address:
            return SendResult("failed", detail="no email address to find the Slack user by")
        try:
            user = self._user_ids(page.address)
            if user is None:
                result = SendResult("failed", detail="slack: no Slack user has this person's email")
            else:
                text, blocks = page_message(page)
                posted = self.api.post(self.api.open_dm(user), text, blocks)
                result = SendResult("sent", provider_id=clean_text(f"{posted.channel}:{posted.ts}", 100))
        except SlackFailure as failure:
            result = SendResult("retry" if failure.retry else "failed", detail=failure.detail)
        log.info("slack page incident=%s round=%s outcome=%s %s", clean_text(page.incident_id, 64), page.round,
                 result.outcome, result.detail)
        return result
