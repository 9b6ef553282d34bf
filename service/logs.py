"""Logging: plain or JSON lines, request and incident ids, secrets redacted.

``configure_logging(fmt, level, secrets)`` installs one handler on the root logger.
Every record it writes carries ``request_id`` / ``incident_id`` from the context
variables below (set by ``RequestIdMiddleware`` and ``incident_context``), and every
occurrence of a configured secret — in the message, its arguments, the exception
text or an ``extra`` field — is replaced with ``[REDACTED]`` before it is written.
"""
from __future__ import annotations

import json
import logging
import os
import re
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timezone
from typing import IO, Any

from pydantic import SecretStr
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

request_id_var: ContextVar[str | None] = ContextVar("herald_request_id", default=None)
incident_id_var: ContextVar[str | None] = ContextVar("herald_incident_id", default=None)

REDACTED = "[REDACTED]"
#: Secrets shorter than this are not redacted: replacing every "ab" would garble the logs.
MIN_SECRET_LENGTH = 6
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


class ContextFilter(logging.Filter):
    """Puts ``request_id`` and ``incident_id`` on the record unless ``extra`` already did."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, var in (("request_id", request_id_var), ("incident_id", incident_id_var)):
            if getattr(record, name, None) is None:
                setattr(record, name, var.get())
        return True


class RedactFilter(logging.Filter):
    """Replaces each secret with ``[REDACTED]`` in the final message, exception and extras."""

    def __init__(self, secrets: Iterable[str | SecretStr | None]) -> None:
        super().__init__()
        values = {s.get_secret_value() if isinstance(s, SecretStr) else s for s in secrets}
        self.secrets = sorted((s for s in values if s and len(s) >= MIN_SECRET_LENGTH), key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
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
    # Outlook's private addresses), so its request lines stay below INFO.
    for chatty in ("httpx", "httpcore"):
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
