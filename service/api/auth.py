"""Credentials: Alertmanager's own (bearer or basic auth) and API tokens (bearer).

API tokens carry one of three scopes, each including the ones before it:

- ``read``: incidents, schedules, who is on call — without contact details;
- ``write``: also acknowledge, resolve and act on incidents, hand shifts over, and
  see and change people's phone numbers and email addresses (verify them, send a test page);
- ``admin``: also configuration-like changes: calendar uploads, feeds, maintenance
  windows, dry runs.

``HERALD_API_TOKEN`` is an admin token named ``api``; ``HERALD_API_TOKENS`` adds named
tokens as ``name:scope:token`` entries separated by commas (the token is everything
after the second colon; at least 16 characters). A presented token is hashed and
compared with every configured token in constant time. A missing or wrong credential
is a 401 that says which credential was expected, never what it is; a token without
the scope a route needs is a 403 naming the scope.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass, field

from fastapi import HTTPException, Request

from service.settings import Settings

SCOPES = ("read", "write", "admin")
#: The fine-grained permissions each scope grants (what routes check with ``Caller.can``).
PERMISSIONS: dict[str, frozenset[str]] = {"read": frozenset({"incidents:read", "schedules:read"})}
PERMISSIONS["write"] = PERMISSIONS["read"] | {"incidents:write", "handoffs:write", "contacts:read", "contacts:write"}
PERMISSIONS["admin"] = PERMISSIONS["write"] | {"schedules:write", "feeds:admin", "maintenance:write", "admin"}
MIN_TOKEN_LENGTH = 16


@dataclass(frozen=True)
class ApiToken:
    name: str
    scope: str
    digest: bytes = field(repr=False)


@dataclass(frozen=True)
class Caller:
    """Who called: the token's name (for timelines) and what it may do."""

    name: str
    scope: str

    @property
    def scopes(self) -> frozenset[str]:
        return PERMISSIONS[self.scope]

    def allows(self, scope: str) -> bool:
        return SCOPES.index(self.scope) >= SCOPES.index(scope)

    def can(self, permission: str) -> bool:
        return permission in self.scopes

    @property
    def may_see_contacts(self) -> bool:
        return self.can("contacts:read")


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode()).digest()


def parse_api_tokens(text: str) -> list[ApiToken]:
    """``name:scope:token,...`` -> tokens. Errors name the entry, never its token."""
    tokens: list[ApiToken] = []
    for number, raw in enumerate((e.strip() for e in text.split(",")), start=1):
        if not raw:
            continue
        name, _, rest = raw.partition(":")
        scope, _, token = rest.partition(":")
        where = f"HERALD_API_TOKENS entry {number}"
        if not name.strip() or not token:
            raise ValueError(f"{where}: expected name:scope:token")
        if scope not in SCOPES:
            raise ValueError(f"{where} ({name.strip()}): scope must be one of {', '.join(SCOPES)}")
        if len(token) < MIN_TOKEN_LENGTH:
            raise ValueError(f"{where} ({name.strip()}): the token must be at least {MIN_TOKEN_LENGTH} characters")
        tokens.append(ApiToken(name.strip(), scope, _digest(token)))
    return tokens


def configured_tokens(settings: Settings) -> list[ApiToken]:
    tokens = []
    if settings.api_token is not None:
        tokens.append(ApiToken("api", "admin", _digest(settings.api_token.get_secret_value())))
    if settings.api_tokens is not None:
        tokens += parse_api_tokens(settings.api_tokens.get_secret_value())
    return tokens


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


def authenticate(request: Request, settings: Settings) -> Caller:
    """The caller behind the request's API token (any scope); 401 without a valid one."""
    tokens = configured_tokens(settings)
    if not tokens:
        raise _unauthorized("neither HERALD_API_TOKEN nor HERALD_API_TOKENS is configured; the API is closed")
    given = _bearer(request)
    if given is None:
        raise _unauthorized("an API token is required (Authorization: Bearer <token>)")
    presented = _digest(given)
    found: ApiToken | None = None
    for token in tokens:  # no early exit: every token is compared, in constant time
        if hmac.compare_digest(presented, token.digest) and found is None:
            found = token
    if found is None:
        raise _unauthorized("wrong API token")
    return Caller(found.name, found.scope)


def check_api(request: Request, settings: Settings) -> str:
    """Accept an admin API token; return the caller's name for the timeline."""
    caller = authenticate(request, settings)
    if not caller.allows("admin"):
        raise HTTPException(403, "this API token lacks the admin scope")
    return caller.name


def require_scope(scope: str) -> Callable[[Request], Caller]:
    """A FastAPI dependency: the caller, whose token must have ``scope`` (or more)."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}")

    def dependency(request: Request) -> Caller:
        caller = authenticate(request, request.app.state.herald.settings)
        if not caller.allows(scope):
            raise HTTPException(403, f"this API token lacks the {scope} scope")
        return caller

    dependency.__name__ = f"require_{scope}_scope"
    return dependency
