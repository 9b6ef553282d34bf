"""Personal sign-in: ``/ui/signin`` (a one-time code sent to one of your contacts) and
``/ui/signin/oidc`` (the organisation's OpenID Connect provider, when configured).

Either way the console starts a *personal* session (``session.start_personal``): a new
session id and CSRF token, whatever cookie the browser had before (no fixation); every
action is then recorded as that person and what they may do is their role from the
configuration (``roles:``). The shared-credential login (``/ui/login``) stays, for admins
and machines, and says that it is shared.

Codes go to a verified contact, or to one from the configuration file that is not yet
verified (the file is the administrator's word; without this nobody could sign in the
first time to verify anything). Asking for a code answers the same whether or not the
person or the contact exists, so the form tells nobody who works here. Wrong codes are
limited per person (the people store: 5 an hour per person and purpose, then refused even
for the right one) and per address (``guess_limits``).

Between the steps the browser's anonymous cookie (signed, nothing in Redis) carries what
is pending: the person and contact a code went to, or the OpenID Connect state, nonce
and PKCE verifier.
"""
from __future__ import annotations

import logging
import time
from typing import Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from integrations.oidc_client import OidcError, Pending, begin, finish
from routing.errors import HeraldError
from service.api.guess_limits import FailureLimiter, client_address
from service.engine import people
from service.telemetry.metrics import SIGNINS
from service.web.base import PREFIX, ConsoleRoute, csrf_ok
from service.web.render import page
from service.web.session import COOKIE, Viewer, anonymous, cookie_args, decode, encode, sessions, signing_key, \
    start_personal

router = APIRouter(prefix=PREFIX + "/signin", route_class=ConsoleRoute, include_in_schema=False)
log = logging.getLogger("herald.console")
PENDING_SECONDS = 600  # a code lives 10 minutes in the people store; so does the form for it
SIGNIN_WRONG_PER_IP, SIGNIN_WRONG_OVERALL = 10, 300  # wrong codes per minute
#: The sign-in form's choice -> (the kind of contact, how the code goes: None is the kind's default).
KINDS: dict[str, tuple[str, str | None]] = {"phone": ("phone", None), "call": ("phone", "voice"), "email": ("email", None)}


def _safe_next(target: str) -> str:
    if target.startswith(PREFIX + "/") and not target.startswith("//") and "\\" not in target:
        return target
    return PREFIX + "/me"


def _cookie(request: Request) -> dict[str, Any]:
    """This browser's anonymous cookie (the CSRF token and whatever is pending), or a new one."""
    key = signing_key(request.app.state.herald.settings)
    data = decode(key, request.cookies.get(COOKIE), time.time()) if key else None
    if not data or "sid" in data:  # signed in already (or nothing): a fresh anonymous cookie
        data = anonymous()
        if request.state.viewer.csrf:
            data["csrf"] = request.state.viewer.csrf
    return data


def _with_cookie(request: Request, response: Response, data: dict[str, Any]) -> Response:
    """Set the anonymous cookie ``data``. A session the browser had ends here: its cookie is
    replaced, and a session nobody holds a cookie for must not live on in Redis."""
    key = signing_key(request.app.state.herald.settings)
    if key is None:
        raise HTTPException(503, "the console has no signing key: set HERALD_SESSION_SECRET")
    if request.state.viewer.session:
        sessions(request).end(request.state.viewer.session)
    response.set_cookie(value=encode(key, data), **cookie_args(request))
    return response


def _signed_in(request: Request, current: Viewer, person: str, target: str) -> Response:
    """End whatever session the browser had; start a personal one (new id, new CSRF token)."""
    if current.session:
        sessions(request).end(current.session)
    response = RedirectResponse(_safe_next(target), status_code=303)
    response.set_cookie(value=start_personal(request, person), **cookie_args(request))
    log.info("%s signed in to the console", person)
    return response


def _form(request: Request, code: int = 200, error: str | None = None, **extra: Any) -> Response:
    herald = request.app.state.herald
    return page(request, "signin.html", code=code, error=error, codes=herald.config.signin.code,
                oidc=herald.config.signin.oidc is not None, **extra)


def find_person(herald: Any, who: str) -> str | None:
    """The person ``who`` names: their id, or an email address of theirs (any case)."""
    who = who.strip()
    return who if who in herald.config.people else person_for_email(herald, who)


def code_target(herald: Any, person: str, kind: str, channel: str | None = None) -> tuple[Any, str] | None:
    """Where a sign-in code of ``kind`` may go, and the code's purpose: a verified contact
    ("signin"), else the configuration file's own contact while it is unverified ("verify":
    the code proves it, so it is verified and the person signed in at once). Never a contact
    the person added and did not verify, nor one that is failing; a phone that replied STOP
    gets no text (a call, ``channel="voice"``, still reaches it)."""
    def usable(contact: Any) -> bool:
        texted = contact.kind == "phone" and channel in (None, "sms")
        return contact.kind == kind and not contact.failing and not (texted and contact.opted_out)

    found = [c for c in people.contacts(herald, person) if usable(c)]
    for contact in found:
        if contact.verified:
            return contact, "signin"
    for contact in found:
        if contact.source == "config":
            return contact, "verify"
    return None


@router.get("", response_class=HTMLResponse)
def signin_form(request: Request, next: str = "") -> Response:
    return _form(request, next=_safe_next(next))


@router.post("", response_class=HTMLResponse)
def send_signin_code(request: Request, who: str = Form(""), via: str = Form("phone"), next: str = Form(""),
                     _current: Viewer = Depends(csrf_ok)) -> Response:
    """Send a code to the person's contact of kind ``via``; answer the same either way."""
    herald = request.app.state.herald
    if not herald.config.signin.code:
        return _form(request, 404, "Sign-in by code is turned off here (signin.code in the configuration).")
    if not who.strip():
        return _form(request, 400, "who: give your person id or email address.", next=_safe_next(next))
    if via not in KINDS:
        return _form(request, 400, "via: phone, call or email.", next=_safe_next(next))
    person = find_person(herald, who)
    kind, channel = KINDS[via]
    target = code_target(herald, person, kind, channel) if person is not None else None
    if target is not None:
        try:
            people.send_code(herald, person, target[0], target[1], via=channel)
        except HeraldError as exc:  # a provider outage, or too many codes asked for
            log.warning("sign-in code for %s not sent: %s", person, exc)
    data = _cookie(request)
    data["pending"] = {"p": person or "", "c": target[0].id if target else "", "k": target[1] if target else "",
                       "u": int(time.time()) + PENDING_SECONDS, "n": _safe_next(next)}
    response = page(request, "signin_code.html", who=who.strip(), via=via)
    return _with_cookie(request, response, data)


@router.post("/code", response_class=HTMLResponse)
def check_signin_code(request: Request, code: str = Form(""), current: Viewer = Depends(csrf_ok)) -> Response:
    herald = request.app.state.herald
    pending = _cookie(request).get("pending")
    if not isinstance(pending, dict) or int(pending.get("u", 0)) < time.time():
        return _form(request, 400, "That sign-in has expired; ask for a new code.")
    if not code.strip():
        return page(request, "signin_code.html", code=400, error="code: type the code you were sent.")
    person, contact_id, purpose = str(pending.get("p", "")), str(pending.get("c", "")), str(pending.get("k", ""))
    right = False
    if person in herald.config.people and contact_id and purpose in ("signin", "verify"):
        contact = next((c for c in people.contacts(herald, person) if c.id == contact_id), None)
        if contact is not None:
            try:
                right = people.check_code(herald, person, contact, purpose, code.strip())
            except HeraldError as exc:  # too many wrong codes for this person: refused for now
                log.warning("sign-in codes for %s refused: %s", person, exc)
                SIGNINS.labels("code", "refused").inc()
                response = page(request, "signin_code.html", code=429, error=f"Refused: {exc}")
                response.headers["Retry-After"] = str(getattr(exc, "retry_after", 3600))
                return response
    if right:
        SIGNINS.labels("code", "ok").inc()
        return _signed_in(request, current, person, str(pending.get("n", "")))
    verdict = FailureLimiter(herald.attempts, "signin", SIGNIN_WRONG_PER_IP, SIGNIN_WRONG_OVERALL).failed(
        client_address(request))
    SIGNINS.labels("code", "wrong" if verdict.allowed else "refused").inc()
    if not verdict.allowed:
        response = page(request, "signin_code.html", code=429, error="Too many wrong codes; wait a minute.")
        response.headers["Retry-After"] = str(verdict.retry_after)
        return response
    return page(request, "signin_code.html", code=401, error="That code is not right (or has expired).")


def _redirect_uri(request: Request) -> str:
    return request.app.state.herald.settings.public_url.rstrip("/") + PREFIX + "/signin/oidc/callback"


@router.get("/oidc")
def oidc_start(request: Request, next: str = "") -> Response:
    """Off to the organisation's provider; the state, nonce and PKCE verifier stay in the
    browser's signed cookie until it comes back."""
    spec = request.app.state.herald.config.signin.oidc
    if spec is None:
        raise HTTPException(404, "no OpenID Connect provider is configured (signin.oidc)")
    try:
        url, pending = begin(spec, _redirect_uri(request))
    except OidcError as exc:
        log.warning("OpenID Connect sign-in could not start: %s", exc)
        return _form(request, 502, f"The sign-in provider could not be reached: {exc}")
    data = _cookie(request)
    data["oidc"] = {"s": pending.state, "n": pending.nonce, "v": pending.verifier, "x": _safe_next(next),
                    "u": int(time.time()) + PENDING_SECONDS}
    return _with_cookie(request, RedirectResponse(url, status_code=303), data)


def person_for_email(herald: Any, email: str) -> str | None:
    """Whose email this is (any case): the configuration file's, or a verified contact's."""
    wanted = email.strip().lower()
    if not wanted:
        return None
    for pid, person in herald.config.people.items():
        if (person.email or "").lower() == wanted:
            return pid
    for pid, record in people.records(herald).items():  # one read for everyone
        if any(c.kind == "email" and c.verified and c.address.lower() == wanted for c in record.contacts):
            return pid
    return None


def _oidc_refused(request: Request, data: dict[str, Any], code: int, message: str) -> Response:
    """The sign-in page saying why, with the pending OpenID Connect state dropped."""
    SIGNINS.labels("oidc", "refused").inc()
    return _with_cookie(request, _form(request, code, message), data)


@router.get("/oidc/callback", response_class=HTMLResponse)
def oidc_callback(request: Request, code: str = "", state: str = "", error: str = "") -> Response:
    herald = request.app.state.herald
    spec = herald.config.signin.oidc
    if spec is None:
        raise HTTPException(404, "no OpenID Connect provider is configured (signin.oidc)")
    data = _cookie(request)
    pending = data.pop("oidc", None)
    if error:
        return _oidc_refused(request, data, 403, f"The provider did not sign you in: {error}")
    if not isinstance(pending, dict) or int(pending.get("u", 0)) < time.time() or not state \
            or state != pending.get("s") or not code:
        return _oidc_refused(request, data, 400, "state: this sign-in did not start here, or it expired; "
                                                 "start again.")
    try:
        claims = finish(spec, _redirect_uri(request), code, Pending(pending["s"], pending["n"], pending["v"]))
    except OidcError as exc:
        log.warning("OpenID Connect sign-in refused: %s", exc)
        return _oidc_refused(request, data, 502, f"The sign-in did not check out: {exc}")
    email = claims.get(spec.email_claim)
    if claims.get("email_verified") is False:
        return _oidc_refused(request, data, 403, f"{spec.email_claim}: the provider says {email} is not verified.")
    person = person_for_email(herald, str(email or ""))
    if person is None:
        log.warning("OpenID Connect sign-in for %r: no person has that email", email)
        return _oidc_refused(request, data, 403, f"{spec.email_claim}: no person here has the email address "
                                                 f"{email!r}; ask an admin to add it.")
    SIGNINS.labels("oidc", "ok").inc()
    return _signed_in(request, request.state.viewer, person, str(pending.get("x", "")))
