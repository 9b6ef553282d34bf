"""Credentials: Alertmanager's own (bearer or basic auth) and API tokens (bearer).

Compared in constant time; a missing or wrong credential is a 401 that says which
credential was expected, never what it is.
"""
from __future__ import annotations

import base64
import binascii
import hmac

from fastapi import HTTPException, Request

from service.settings import Settings


def _unauthorized(detail: str, scheme: str = "Bearer") -> HTTPException:
    return HTTPException(status_code=401, detail=detail, headers={"WWW-Authenticate": scheme})


def _equal(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def check_alertmanager(request: Request, settings: Settings) -> None:
    if settings.alertmanager_token is None:
        raise _unauthorized("HERALD_ALERTMANAGER_TOKEN is not configured; Herald accepts no webhooks without it")
    expected = settings.alertmanager_token.get_secret_value()
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and _equal(value.strip(), expected):
        return
    if scheme.lower() == "basic":
        try:
            user, _, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise _unauthorized("malformed basic credentials", "Basic") from None
        if _equal(user, settings.alertmanager_username) & _equal(password, expected):
            return
    raise _unauthorized("missing or wrong Alertmanager credentials (bearer token or basic auth)")


def check_api(request: Request, settings: Settings) -> str:
    """Accept the admin API token; return the caller's name for the timeline."""
    if settings.api_token is None:
        raise _unauthorized("HERALD_API_TOKEN is not configured; the API is closed")
    given = _bearer(request)
    if given is None:
        raise _unauthorized("an API token is required (Authorization: Bearer <token>)")
    if not _equal(given, settings.api_token.get_secret_value()):
        raise _unauthorized("wrong API token")
    return "api"
