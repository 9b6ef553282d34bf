"""The way in and out: ``/ui/login`` (an API token, or the console password, in exchange
for a session), ``/ui/logout`` and ``/ui/logout-everyone`` (an admin ends every
session), ``GET /`` and ``GET /ui/`` — who is on call right now
on every schedule and tier, until when, who is next, who each policy tier would page,
and the open incidents at a glance."""
from __future__ import annotations

import logging
import time

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from service.api.guess_limits import FailureLimiter, client_address
from service.web.base import PREFIX, ConsoleRoute, admin, csrf_ok, flash, logged_in
from service.web.oncall_view import policies_now, schedules_now
from service.web.render import page
from service.web.session import Viewer, anonymous, cookie_args, encode, match, sessions, signing_key, start

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
log = logging.getLogger("herald.console")
LOGIN_ATTEMPTS_PER_IP, LOGIN_ATTEMPTS_OVERALL = 10, 300  # wrong credentials per minute


def _safe_next(target: str) -> str:
    """Only paths inside the console: never another site (``//host``, ``/\\host``, a scheme)."""
    if target.startswith(PREFIX + "/") and not target.startswith("//") and "\\" not in target:
        return target
    return PREFIX + "/"


@router.get("/")
def root() -> RedirectResponse:
    return RedirectResponse(PREFIX + "/", status_code=303)


@router.get(PREFIX + "/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "") -> Response:
    herald = request.app.state.herald
    people = sorted(herald.config.people.values(), key=lambda p: p.name)
    return page(request, "login.html", next=_safe_next(next), people=people,
                closed=signing_key(herald.settings) is None)


@router.post(PREFIX + "/login", response_class=HTMLResponse)
def login(request: Request, credential: str = Form(""), person: str = Form(""), next: str = Form(""),
          current: Viewer = Depends(csrf_ok)) -> Response:
    """Check the credential in constant time; on success start a fresh session (a new id
    and CSRF token: no fixation) remembering who the viewer says they are, for the
    timeline. The right credential always logs in; only wrong ones are limited."""
    herald = request.app.state.herald
    key = signing_key(herald.settings)
    found = match(herald.settings, credential.strip()) if credential.strip() else None
    if key is None or found is None:
        limiter = FailureLimiter(herald.attempts, "login", LOGIN_ATTEMPTS_PER_IP, LOGIN_ATTEMPTS_OVERALL)
        verdict = limiter.failed(client_address(request))
        people = sorted(herald.config.people.values(), key=lambda p: p.name)
        error = ("That token or password is not valid." if verdict.allowed
                 else "Too many wrong tokens or passwords; wait a minute and try again.")
        response = page(request, "login.html", code=401 if verdict.allowed else 429, next=_safe_next(next),
                        people=people, closed=key is None, error=error)
        if not verdict.allowed:
            response.headers["Retry-After"] = str(verdict.retry_after)
        return response
    if current.session:
        sessions(request).end(current.session)  # logging in again replaces the session
    response = RedirectResponse(_safe_next(next), status_code=303)
    # Only an admin credential may add who is behind it (self-declared, and shown as such);
    # people sign in as themselves at /ui/signin.
    declared = person if found.scope == "admin" and person in herald.config.people else ""
    response.set_cookie(value=start(request, found, declared),
                        **cookie_args(request))
    return response


def _logged_out(request: Request) -> Response:
    """To the login page, with an anonymous session (a new CSRF token) in place of the old."""
    response = RedirectResponse(PREFIX + "/login", status_code=303)
    key = signing_key(request.app.state.herald.settings)
    if key is not None:
        response.set_cookie(value=encode(key, anonymous()), **cookie_args(request))
    return response


@router.post(PREFIX + "/logout")
def logout(request: Request, current: Viewer = Depends(csrf_ok)) -> Response:
    """End this session in Redis: every copy of its cookie stops working at once."""
    if current.session:
        sessions(request).end(current.session)
    return _logged_out(request)


@router.post(PREFIX + "/logout-everyone")
def logout_everyone(request: Request, current: Viewer = Depends(admin)) -> Response:
    """An admin ends every console session, their own included (``DELETE /api/v1/sessions``)."""
    ended = sessions(request).end_all(time.time())
    log.info("every console session ended by %s (%d were live)", current.actor, ended)
    return _logged_out(request)


@router.get(PREFIX + "/", response_class=HTMLResponse)
def now_page(request: Request, _viewer: Viewer = Depends(logged_in)) -> Response:
    herald = request.app.state.herald
    now = herald.clock()
    herald.calendars.refresh(now)
    people = herald.config.people
    schedules = schedules_now(herald.calendars, list(herald.config.schedules), people, now)
    policies = policies_now(herald.calendars, herald.config.policies, people, now)
    open_incidents = herald.store.list(open_only=True, limit=20)
    return page(request, "now.html", now=now, schedules=schedules, policies=policies,
                open_incidents=open_incidents, flash=flash(request))
