"""Logging: plain or JSON lines, request and incident ids, secrets redacted.

``configure_logging(fmt, level, secrets)`` installs one handler on the root logger.
Every record it writes carries ``request_id`` / ``incident_id`` from the context
variables below (set by ``RequestIdMiddleware`` and ``incident_context``), and before it
is written — in the message, its arguments, the exception text or an ``extra`` field,
whichever logger it came from (Herald's, an SDK's, httpx's, RQ's, uvicorn's) —

- every configured secret (the settings' ``SecretStr`` values) reads ``[REDACTED]``;
- an ack link's token (``/ack/<token>``) and a ``token=`` query parameter (feed URLs)
  read ``[REDACTED]``;
- every configured person's phone number (with or without ``+``) and email address (any
  case), and any other ``+``-prefixed international number, read ``[contact hidden]``;
- a calendar URL from the configuration reads ``scheme://host/…``, its path ``/…``:
  for Google's and Outlook's published calendars the URL is the credential.

People and calendar URLs come from the configuration: ``redact_config(config)``, called
by ``Herald.from_settings`` in every process. Libraries that would print a whole request
(httpx and httpcore: every URL at INFO; python_http_client, SendGrid's transport: the
payload at DEBUG) are kept at WARNING whatever ``HERALD_LOG_LEVEL`` says; the filter
above is what still holds if one is turned up.
"""
from __future__ import annotations

import json
import logging
import os
import re
import sys
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timezone
from typing import IO, Any
from urllib.parse import unquote, urlsplit

from pydantic import SecretStr
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

request_id_var: ContextVar[str | None] = ContextVar("herald_request_id", default=None)
incident_id_var: ContextVar[str | None] = ContextVar("herald_incident_id", default=None)

REDACTED = "[REDACTED]"
CONTACT_HIDDEN = "[contact hidden]"
#: Secrets shorter than this are not redacted: replacing every "ab" would garble the logs.
MIN_SECRET_LENGTH = 6
#: Libraries that log whole requests below WARNING: a secret calendar URL (httpx, httpcore),
#: a page's payload with its ack link and address (python_http_client, under SendGrid).
QUIET_LOGGERS = ("httpx", "httpcore", "python_http_client", "slack_sdk")
_ACK_PATH = re.compile(r"(/ack/)[A-Za-z0-9_\-]{6,}")
_TOKEN_PARAM = re.compile(r"([?&;](?:token|access_token)=)[^&\s\"'#<>]+", re.IGNORECASE)
_PHONE = re.compile(r"(?<![\w+])\+[1-9][0-9]{7,14}(?![0-9])")  # E.164
REQUEST_ID_HEADER = "X-Request-Id"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}
_CONTEXT = ("request_id", "incident_id")
_HANDLER_MARK = "_herald_handler"


def secrets_from_settings(settings: Any) -> list[str]:
    """Every ``SecretStr`` value of a pydantic settings object (present and future fields);
    for a list such as ``HERALD_API_TOKENS`` (``name:scope:token,...``) each token too."""
    found = []
    for name in type(settings).model_fields:
        value = getattr(settings, name, None)
        if isinstance(value, SecretStr) and value.get_secret_value():
            found.append(value.get_secret_value())
            if "," in found[-1] or found[-1].count(":") >= 2:
                found += [item.split(":", 2)[-1].strip() for item in found[-1].split(",")]
    return found


class _Sensitive:
    """Text from the configuration that no log line may carry, and what is written instead
    (case-insensitive: an address in capitals is the same address). Shared by every
    handler: ``redact_config`` may run before or after ``configure_logging``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._instead: dict[str, str] = {}
        self.pattern: re.Pattern[str] | None = None

    def add(self, values: Mapping[str, str]) -> None:
        with self._lock:
            self._instead.update({k.lower(): v for k, v in values.items() if k and len(k) >= MIN_SECRET_LENGTH})
            found = sorted(self._instead, key=len, reverse=True)  # a URL before its own path
            self.pattern = re.compile("|".join(map(re.escape, found)), re.IGNORECASE) if found else None

    def sub(self, text: str) -> str:
        pattern = self.pattern
        if pattern is None:
            return text
        return pattern.sub(lambda found: self._instead.get(found[0].lower(), REDACTED), text)


_SENSITIVE = _Sensitive()


def _redact_url(url: str) -> str:
    """``scheme://host:port/…``: which source, without its secret."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname or '?'}{port}/…"


def redact_urls(urls: Iterable[str]) -> None:
    """Secret URLs (a calendar's): written as ``scheme://host/…``; their path and query —
    as given and percent-decoded — as ``/…`` wherever they turn up alone."""
    values: dict[str, str] = {}
    for url in urls:
        parts = urlsplit(url)
        rest = parts.path + (f"?{parts.query}" if parts.query else "")
        if rest.strip("/"):
            values[rest] = values[unquote(rest)] = "/…"
            values[parts.path] = values[unquote(parts.path)] = "/…"
        values[url] = _redact_url(url)
    _SENSITIVE.add(values)


def redact_contacts(contacts: Iterable[str]) -> None:
    """Phone numbers (also without their ``+``) and email addresses: ``[contact hidden]``."""
    values = {}
    for contact in contacts:
        if contact:
            values[contact] = CONTACT_HIDDEN
            if contact.startswith("+"):
                values[contact[1:]] = CONTACT_HIDDEN  # providers and people drop the plus
    _SENSITIVE.add(values)


def redact_config(config: Any) -> None:
    """What the configuration makes secret in a log line: every person's phone number and
    email address, every schedule's calendar URL, every outgoing webhook's URL (it may
    carry a token) and signing secret."""
    people = getattr(config, "people", {}).values()
    redact_contacts([c for p in people for c in (getattr(p, "phone", None), getattr(p, "email", None)) if c])
    redact_urls([s.url for s in getattr(config, "schedules", {}).values() if getattr(s, "url", None)])
    hooks = getattr(config, "webhooks", ())
    redact_urls([h.url for h in hooks])
    _SENSITIVE.add({value: REDACTED for h in hooks for value in (h.secret, h.secret.removeprefix("whsec_"))})


class ContextFilter(logging.Filter):
    """Puts ``request_id`` and ``incident_id`` on the record unless ``extra`` already did."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, var in (("request_id", request_id_var), ("incident_id", incident_id_var)):
            if getattr(record, name, None) is None:
                setattr(record, name, var.get())
        return True


class RedactFilter(logging.Filter):
    """Writes each record with the secrets, ack and feed tokens, contacts and calendar URLs
    of the module's docstring replaced, in the final message, exception and extras."""

    def __init__(self, secrets: Iterable[str | SecretStr | None]) -> None:
        super().__init__()
        values = {s.get_secret_value() if isinstance(s, SecretStr) else s for s in secrets}
        self.secrets = sorted((s for s in values if s and len(s) >= MIN_SECRET_LENGTH), key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        text = _SENSITIVE.sub(text)
        if "/ack/" in text:
            text = _ACK_PATH.sub(rf"\1{REDACTED}", text)
        if "token" in text.lower():
            text = _TOKEN_PARAM.sub(rf"\1{REDACTED}", text)
        if "+" in text:
            text = _PHONE.sub(CONTACT_HIDDEN, text)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: keep the raw parts, still redacted
            message = f"{record.msg} {record.args}"
        record.msg, record.args = self.redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
            record.exc_info = None  # the text above is what gets written
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        for key, value in list(vars(record).items()):
            if key not in _STANDARD and isinstance(value, str):
                setattr(record, key, self.redact(value))
        return True


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and k not in _CONTEXT
            and not k.startswith("_")}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, ids, extras, exception."""

    def format(self, record: logging.LogRecord) -> str:
        event: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname, "logger": record.name, "message": record.getMessage(),
        }
        for name in _CONTEXT:
            if getattr(record, name, None) is not None:
                event[name] = getattr(record, name)
        for key, value in _extras(record).items():
            event.setdefault(key, value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            event["exception"] = record.exc_text
        if record.stack_info:
            event["stack"] = record.stack_info
        return json.dumps(event, default=str, ensure_ascii=False)


class PlainFormatter(logging.Formatter):
    """``time LEVEL logger: message [request_id=… incident_id=…]`` for people."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - stdlib name
        line = super().formatMessage(record)
        ids = " ".join(f"{n}={getattr(record, n)}" for n in _CONTEXT if getattr(record, n, None) is not None)
        return f"{line} [{ids}]" if ids else line


def configure_logging(fmt: str = "plain", level: int | str = "INFO",
                      secrets: Iterable[str | SecretStr | None] = (), stream: IO[str] | None = None) -> logging.Handler:
    """Replace Herald's root handler (idempotent) and return the new one."""
    if fmt not in ("plain", "json"):
        raise ValueError(f"log format must be 'plain' or 'json', not {fmt!r}")
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else PlainFormatter())
    handler.addFilter(ContextFilter())
    handler.addFilter(RedactFilter(secrets))
    setattr(handler, _HANDLER_MARK, True)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    # httpx logs every request URL at INFO; calendar URLs carry secrets (Google's and
    # Outlook's private addresses). python_http_client logs SendGrid's payloads (the page:
    # its ack link, the address) at DEBUG. They stay at WARNING at every HERALD_LOG_LEVEL.
    for chatty in QUIET_LOGGERS:
        logging.getLogger(chatty).setLevel(logging.WARNING)
    return handler


@contextmanager
def incident_context(incident_id: str | None) -> Iterator[None]:
    """Log lines inside the block carry ``incident_id``."""
    token = incident_id_var.set(incident_id)
    try:
        yield
    finally:
        incident_id_var.reset(token)


def valid_request_id(value: str | None) -> bool:
    return bool(value) and _VALID_REQUEST_ID.match(value or "") is not None


class RequestIdMiddleware:
    """Pure ASGI: take a valid ``X-Request-Id`` or make one, bind it, echo it back."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"x-request-id"), None)
        request_id = given if valid_request_id(given) else os.urandom(16).hex()  # 128 random bits
        token = request_id_var.set(request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)
