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

A *personal* session (``start_personal``: a person who proved a one-time code or came
back from the OpenID Connect provider, ``service/web/pages_signin.py``) holds the person
instead of a credential's fingerprint (an HMAC of the person's id under the signing key);
its viewer acts as that person, with the role the configuration gives them now
(``roles:``), for as long as the person is in the configuration.

The signing key is ``HERALD_SESSION_SECRET`` when set, else derived from the API token
(or the console password). Anonymous visitors get a session too, but only in their
cookie (``{"csrf": <random>, "exp": ...}``, nothing in Redis): it carries the CSRF token
of the login form.
"""
from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from fastapi import HTTPException, Request

from integrations.console_sessions import ConsoleSessions
from service.api.console_identity import (  # noqa: F401  (the console's names for them)
    COOKIE, LIFETIME, ROLE_SCOPES, Credential, credentials, decode, encode, fingerprint, match, person_fingerprint,
    role_of, signing_key,
)


@dataclass(frozen=True)
class Viewer:
    name: str  # the credential's name, "" when not logged in
    person: str  # the person id the viewer said they are ("" if none)
    can_write: bool
    csrf: str
    scope: str = ""  # read | write | admin ("" when not logged in)
    session: str = ""  # the session's id ("" when not logged in)
    personal: bool = False  # signed in as ``person`` (a one-time code or OpenID Connect)
    role: str = ""  # a personal session's role: responder | manager | admin (config ``roles:``)

    @property
    def logged_in(self) -> bool:
        return bool(self.name)

    @property
    def actor(self) -> str:
        """Who a command is recorded as: the signed-in person; with a shared credential the
        person an admin said they are, else the credential."""
        return self.person or self.name

    @property
    def shared(self) -> bool:
        """Logged in with a shared credential (an API token or the console password)."""
        return self.logged_in and not self.personal

    def may_hand_over(self, from_person: str | None) -> bool:
        """Handoffs: a responder hands over only their own shift; managers and admins (and
        shared write credentials, as before) any."""
        return not (self.personal and self.role == "responder") or from_person == self.person


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


def start_personal(request: Request, person: str) -> str:
    """Start a personal session for ``person`` (who proved a code or came back from the
    OpenID Connect provider); the value of its cookie. Always a new session id and CSRF
    token, so a cookie planted before the sign-in is worth nothing after it."""
    key = signing_key(request.app.state.herald.settings)
    if key is None:
        raise HTTPException(503, "the console has no signing key: set HERALD_SESSION_SECRET")
    now = time.time()
    session = sessions(request).start(person_fingerprint(key, person), person, now, personal=True)
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
        if session and session.personal:
            if session.person in herald.config.people and hmac.compare_digest(
                    session.cred, person_fingerprint(key, session.person)):
                role = role_of(herald, session.person)
                return Viewer(session.person, session.person, True, session.csrf, ROLE_SCOPES[role], session.id,
                              personal=True, role=role), None
            session = None
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
