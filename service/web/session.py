"""Console sessions: kept in Redis, named by a signed, HttpOnly, SameSite=Lax cookie.

Logging in starts a session in Redis (``integrations.console_sessions``): a random id,
the fingerprint of the credential used (an HMAC under the signing key, never the
credential), the person the viewer says they are and a CSRF token, expiring after
``LIFETIME``. The cookie holds only ``{"sid": <id>, "exp": <unix time>}``, signed with
HMAC-SHA256 so that a forged cookie never reaches Redis. Logging out deletes the
session, and an admin's "log out everyone" (``DELETE /api/v1/sessions`` or the
console's button) deletes them all: every copy of the cookie stops working at once, in
every replica. On every request the fingerprint is also matched against the credentials
configured *now*, so changing an API token or the console password ends every session
made with the old one, and what a session may do always follows the credential's
current rights.

The signing key is ``HERALD_SESSION_SECRET`` when set, else derived from the API token
(or the console password). Anonymous visitors get a session too, but only in their
cookie (``{"csrf": <random>, "exp": ...}``, nothing in Redis): it carries the CSRF token
of the login form.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from fastapi import HTTPException, Request

from integrations.console_sessions import LIFETIME as SESSION_LIFETIME, ConsoleSessions
from service.api.auth import MIN_TOKEN_LENGTH, configured_tokens

COOKIE = "herald_session"
LIFETIME = SESSION_LIFETIME  # integrations/console_sessions.py: the store keeps sessions as long


@dataclass(frozen=True)
class Credential:
    """Something one can log in with: an API token (its scope) or the console password."""

    name: str  # written on the timeline as ``by`` unless the viewer says who they are
    scope: str  # read | write | admin
    digest: bytes  # sha256 of the secret; the secret itself is never kept

    @property
    def can_write(self) -> bool:
        return self.scope in ("write", "admin")


@dataclass(frozen=True)
class Viewer:
    name: str  # the credential's name, "" when not logged in
    person: str  # the person id the viewer said they are ("" if none)
    can_write: bool
    csrf: str
    scope: str = ""  # read | write | admin ("" when not logged in)
    session: str = ""  # the session's id ("" when not logged in)

    @property
    def logged_in(self) -> bool:
        return bool(self.name)

    @property
    def actor(self) -> str:
        """Who a command is recorded as: the person, else the credential."""
        return self.person or self.name


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


def sessions(request: Request) -> ConsoleSessions:
    return request.app.state.herald.sessions


def anonymous() -> dict[str, Any]:
    """A visitor's cookie before logging in: the login form's CSRF token, nothing in Redis."""
    return {"csrf": secrets.token_urlsafe(24), "exp": int(time.time()) + LIFETIME}


def start(request: Request, credential: Credential, person: str) -> str:
    """Start a session in Redis for ``credential``; the value of its cookie."""
    key = signing_key(request.app.state.herald.settings)
    assert key is not None, "no credential is configured, so none can have matched"
    now = time.time()
    session = sessions(request).start(fingerprint(key, credential), person, now)
    return encode(key, {"sid": session.id, "exp": int(now) + LIFETIME})


def _credential(settings: Any, key: bytes, cred: str) -> Credential | None:
    """The configured credential whose fingerprint is ``cred``, if it is still configured."""
    for credential in credentials(settings):
        if hmac.compare_digest(fingerprint(key, credential), cred):
            return credential
    return None


def viewer_from(request: Request) -> tuple[Viewer, dict[str, Any] | None]:
    """The viewer of this request, and an anonymous session to set when the request had
    none — or had one that has ended (logged out, everyone logged out, expired, or its
    credential changed)."""
    herald = request.app.state.herald
    key = signing_key(herald.settings)
    data = decode(key, request.cookies.get(COOKIE), time.time()) if key else None
    if key and data and "sid" in data:
        session = sessions(request).get(str(data["sid"]))
        credential = _credential(herald.settings, key, session.cred) if session else None
        if session and credential:
            person = session.person if session.person in herald.config.people else ""
            return Viewer(credential.name, person, credential.can_write, session.csrf, credential.scope,
                          session.id), None
        data = None
    fresh = None
    if data is None:
        data = fresh = anonymous()
    return Viewer("", "", False, str(data.get("csrf", ""))), fresh


def check_csrf(request: Request, given: str) -> None:
    """403 unless the form's token is this session's, and the request came from here."""
    viewer: Viewer = request.state.viewer
    origin = request.headers.get("origin")
    if origin and origin != "null":  # "null": browsers send it under Referrer-Policy: no-referrer
        public = urlsplit(request.app.state.herald.settings.public_url)
        allowed = {f"{request.url.scheme}://{request.url.netloc}", f"{public.scheme}://{public.netloc}"}
        if origin not in allowed:
            raise HTTPException(403, "cross-site form post refused")
    if not given or not viewer.csrf or not hmac.compare_digest(given.encode(), viewer.csrf.encode()):
        raise HTTPException(403, "the form expired or did not come from this site; reload the page and try again")


def cookie_args(request: Request) -> dict[str, Any]:
    secure = request.app.state.herald.settings.public_url.startswith("https://") or request.url.scheme == "https"
    return {"key": COOKIE, "httponly": True, "samesite": "lax", "secure": secure, "path": "/", "max_age": LIFETIME}
