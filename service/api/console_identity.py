"""The console's cookie, below the web layer so that API routes can see who is signed in.

The cookie is signed JSON (HMAC-SHA256 under ``signing_key``); a session's record lives
in Redis (``integrations.console_sessions``). ``service/web/session.py`` builds the
console's viewer from these; ``signed_in`` answers, for an API route, which person (and
role) a request's console session is personally signed in as — so that a person may
change their own settings from the console without an API token.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from integrations.console_sessions import LIFETIME as SESSION_LIFETIME
from integrations.config.signin_section import DEFAULT_ROLE
from service.api.auth import MIN_TOKEN_LENGTH, configured_tokens

COOKIE = "herald_session"
LIFETIME = SESSION_LIFETIME  # integrations/console_sessions.py: the store keeps sessions as long
#: What a personally signed-in role may do, as the API scope it stands for.
ROLE_SCOPES = {"responder": "write", "manager": "write", "admin": "admin"}


@dataclass(frozen=True)
class Credential:
    """Something one can log in with: an API token (its scope) or the console password."""

    name: str  # written on the timeline as ``by`` unless the viewer says who they are
    scope: str  # read | write | admin
    digest: bytes  # sha256 of the secret; the secret itself is never kept

    @property
    def can_write(self) -> bool:
        return self.scope in ("write", "admin")


def _secret(settings: Any, name: str) -> str | None:
    value = getattr(settings, name, None)
    if value is None:
        return None
    text = value.get_secret_value() if hasattr(value, "get_secret_value") else str(value)
    return text or None


def credentials(settings: Any) -> list[Credential]:
    """Every credential the console accepts: the API tokens (``HERALD_API_TOKEN``,
    ``HERALD_API_TOKENS`` with their scopes) and the console password (admin)."""
    found = [Credential(t.name, t.scope, t.digest) for t in configured_tokens(settings)]
    if password := _secret(settings, "console_password"):
        if len(password) < MIN_TOKEN_LENGTH:  # it is checked before wrong guesses are limited
            raise ValueError(f"HERALD_CONSOLE_PASSWORD must be at least {MIN_TOKEN_LENGTH} characters")
        found.append(Credential("admin", "admin", hashlib.sha256(password.encode()).digest()))
    return found


def match(settings: Any, given: str) -> Credential | None:
    """The credential ``given`` is, compared in constant time against every one."""
    presented = hashlib.sha256(given.encode()).digest()
    found = None
    for known in credentials(settings):
        if hmac.compare_digest(presented, known.digest) and found is None:
            found = known
    return found


def signing_key(settings: Any) -> bytes | None:
    """``HERALD_SESSION_SECRET``, else a key derived from the first credential (the API
    token when set). None when nothing is configured: the console is closed."""
    explicit = _secret(settings, "session_secret")
    if explicit:
        return hashlib.sha256(b"herald-session:" + explicit.encode()).digest()
    creds = credentials(settings)
    if not creds:
        return None
    return hmac.new(creds[0].digest, b"herald console session key v1", hashlib.sha256).digest()


def fingerprint(key: bytes, credential: Credential) -> str:
    data = b"cred:" + credential.name.encode() + b":" + credential.scope.encode() + b":" + credential.digest
    return hmac.new(key, data, hashlib.sha256).hexdigest()[:32]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode(key: bytes, data: dict[str, Any]) -> str:
    body = _b64(json.dumps(data, separators=(",", ":"), sort_keys=True).encode())
    mac = _b64(hmac.new(key, body.encode(), hashlib.sha256).digest())
    return f"{body}.{mac}"


def decode(key: bytes, cookie: str | None, now: float) -> dict[str, Any] | None:
    """The session's data, or None for a missing, forged, malformed or expired cookie."""
    if not cookie or len(cookie) > 1024 or "." not in cookie:
        return None
    body, _, mac = cookie.partition(".")
    expected = _b64(hmac.new(key, body.encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(mac.encode(), expected.encode()):
        return None
    try:
        data = json.loads(_unb64(body))
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("exp"), int) or data["exp"] < now:
        return None
    return data


def person_fingerprint(key: bytes, person: str) -> str:
    """What a personal session's record holds in place of a credential's fingerprint: a
    new signing key (``HERALD_SESSION_SECRET`` changed) ends personal sessions too."""
    return hmac.new(key, b"person:" + person.encode(), hashlib.sha256).hexdigest()[:32]


def role_of(herald: Any, person: str) -> str:
    """The person's console role from the configuration (``roles:``), responder by default."""
    return str(herald.config.roles.get(person, DEFAULT_ROLE))


@dataclass(frozen=True)
class SignedIn:
    person: str
    role: str
    session: str  # the session's id

    @property
    def scope(self) -> str:
        return ROLE_SCOPES[self.role]


def signed_in(request: Request) -> SignedIn | None:
    """The person this request's console session is personally signed in as, if any (a
    session made with a shared credential is not personal: None)."""
    herald = request.app.state.herald
    key = signing_key(herald.settings)
    data = decode(key, request.cookies.get(COOKIE), time.time()) if key else None
    if not key or not data or "sid" not in data:
        return None
    session = herald.sessions.get(str(data["sid"]))
    if session is None or not session.personal or session.person not in herald.config.people:
        return None
    if not hmac.compare_digest(session.cred, person_fingerprint(key, session.person)):
        return None
    return SignedIn(session.person, role_of(herald, session.person), session.id)
