"""What every console route shares: the viewer on ``request.state``, the login and
write checks, CSRF on every POST, and errors shown as pages rather than JSON."""
from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import quote

from fastapi import Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.routing import APIRoute

from routing.errors import HeraldError
from service.api.errors import status_of
from service.web.render import page
from service.web.session import COOKIE, Viewer, check_csrf, cookie_args, encode, signing_key, viewer_from

PREFIX = "/ui"


class LoginRequired(Exception):
    """Raised by ``logged_in``: the route answers with a redirect to the login page."""


class ConsoleRoute(APIRoute):
    """Sets ``request.state.viewer`` before the route runs, gives anonymous visitors a
    session cookie (it carries the login form's CSRF token), redirects to the login page
    when needed and renders HTTP errors and Herald's own errors as an HTML page."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def run(request: Request) -> Response:
            viewer, fresh = viewer_from(request)
            request.state.viewer = viewer
            try:
                response = await handler(request)
            except LoginRequired:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                response = RedirectResponse(f"{PREFIX}/login?next={quote(target, safe='')}", status_code=303)
            except HTTPException as exc:
                response = page(request, "error.html", code=exc.status_code, message=str(exc.detail))
            except HeraldError as exc:  # the status the API would answer (service/api/errors.py), as a page
                response = page(request, "error.html", code=status_of(exc), message=str(exc))
            own = COOKIE.encode() + b"="
            sets_own = any(k == b"set-cookie" and v.startswith(own) for k, v in response.raw_headers)
            if fresh is not None and not sets_own:
                key = signing_key(request.app.state.herald.settings)
                if key is not None:
                    response.set_cookie(value=encode(key, fresh), **cookie_args(request))
            return response

        return run


def viewer(request: Request) -> Viewer:
    return request.state.viewer


def logged_in(request: Request) -> Viewer:
    """Dependency: the logged-in viewer, or a redirect to the login page."""
    current: Viewer = request.state.viewer
    if not current.logged_in:
        raise LoginRequired()
    return current


def csrf_ok(request: Request, csrf: str = Form("")) -> Viewer:
    """Dependency for every POST: the CSRF token matches this session's."""
    check_csrf(request, csrf)
    return request.state.viewer


def writer(request: Request, csrf: str = Form("")) -> Viewer:
    """Dependency for POSTs that change something: logged in, allowed to, CSRF checked."""
    current = logged_in(request)
    check_csrf(request, csrf)
    if not current.can_write:
        raise HTTPException(403, "your token may only read")
    return current


def admin(request: Request, csrf: str = Form("")) -> Viewer:
    """Dependency for POSTs only an admin may make: logged in as admin, CSRF checked."""
    current = logged_in(request)
    check_csrf(request, csrf)
    if current.scope != "admin":
        raise HTTPException(403, "only an admin login may do this")
    return current


def back(url: str, done: str = "") -> RedirectResponse:
    """Post/redirect/get: 303 to ``url`` with a flash code (a fixed word, never free text)."""
    sep = "&" if "?" in url else "?"
    return RedirectResponse(f"{url}{sep}done={quote(done)}" if done else url, status_code=303)


FLASH = {
    "ack": "Acknowledged.", "resolve": "Resolved.", "escalate": "Escalated: the next tier is being paged.",
    "reassign": "Reassigned: paging now.", "note": "Note added.", "snooze": "Snoozed.",
    "handoff": "Handoff saved: it is in force now.", "cancelled": "Handoff cancelled.",
    "replied": "Reply sent through the simulator.", "clicked": "Clicked in Slack (the simulator): Herald got the signed interaction.", "noop": "Nothing changed: it was already done.",
}


def flash(request: Request) -> str | None:
    return FLASH.get(request.query_params.get("done", ""))
