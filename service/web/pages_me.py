"""``/ui/me``: my page, for a person signed in as themselves (``/ui/signin``).

My shifts (the next two weeks, across every schedule, with a handoff button for each and a
link for my calendar feed), my open incidents, my contacts (their state, and verifying
them with a code) and my notification rules. Everything here acts as the signed-in person
and only on them: there is no person in any form. A shared-credential session has no
"me": the page says so.
"""
from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from routing.errors import HeraldError
from service.api.errors import status_of
from service.engine import people
from service.web.base import PREFIX, ConsoleRoute, back, csrf_ok, flash, logged_in
from service.web.render import page
from service.web.session import Viewer

router = APIRouter(prefix=PREFIX + "/me", route_class=ConsoleRoute, include_in_schema=False)
log = logging.getLogger("herald.console")
HORIZON = timedelta(days=14)
FLASH = {"code-sent": "A code is on its way; type it below.", "verified": "Verified: thank you.",
         "feed": "Your calendar feed link is below; it is shown once."}


def me(request: Request) -> Viewer:
    """Dependency: a personal session (a shared credential has no "me")."""
    current = logged_in(request)
    if not current.personal:
        raise HTTPException(403, "My page is for people signed in as themselves (/ui/signin), "
                                 "not for a shared credential")
    return current


def personal_writer(request: Request, csrf: str = Form("")) -> Viewer:
    current = me(request)
    csrf_ok(request, csrf)
    return current


def my_shifts(herald: Any, person: str) -> list[dict[str, Any]]:
    """My shifts (handoffs applied) from now over ``HORIZON``, soonest first."""
    now = herald.clock()
    herald.calendars.refresh(now)
    found = []
    for name in herald.config.schedules:
        rotation = herald.calendars.rotation(name)
        for shift in rotation.shifts(None, now, now + HORIZON) if rotation else []:
            if shift.person == person:
                found.append({"schedule": name, "tier": shift.tier, "start": shift.start, "end": shift.end,
                              "now": shift.start <= now < shift.end})
    return sorted(found, key=lambda s: (s["start"], s["schedule"], s["tier"]))


def my_incidents(herald: Any, person: str) -> list[Any]:
    """Open incidents that paged me, or that I acknowledged."""
    return [i for i in herald.store.list(open_only=True, limit=200)
            if i.acknowledged_by == person or any(p.person == person for p in i.pages)]


def _view(request: Request, viewer: Viewer, code: int = 200, error: str | None = None, **extra: Any) -> Response:
    herald = request.app.state.herald
    person = viewer.person
    others = sorted((p for p in herald.config.people.values() if p.id != person), key=lambda p: p.name)
    return page(request, "me.html", code=code, error=error, me=herald.config.people[person], role=viewer.role,
                shifts=my_shifts(herald, person), incidents=my_incidents(herald, person),
                contacts=people.contacts(herald, person), others=others,
                flash=FLASH.get(request.query_params.get("done", "")) or flash(request), **extra)


@router.get("", response_class=HTMLResponse)
def my_page(request: Request, viewer: Viewer = Depends(me)) -> Response:
    return _view(request, viewer)


@router.post("/feed", response_class=HTMLResponse)
def my_feed(request: Request, viewer: Viewer = Depends(personal_writer)) -> Response:
    """A new calendar feed link for my shifts (shown once; the API lists and revokes them)."""
    herald = request.app.state.herald
    token, _feed = herald.feeds.create("person", viewer.person, herald.clock(), by=viewer.person)
    url = f"{herald.settings.public_url.rstrip('/')}/api/v1/people/{viewer.person}/oncall.ics?token={token}"
    return _view(request, viewer, feed_url=url)


def _mine(herald: Any, person: str, contact_id: str) -> Any:
    found = next((c for c in people.contacts(herald, person) if c.id == contact_id), None)
    if found is None:
        raise HTTPException(404, "contact: you have no contact with that id")
    return found


@router.post("/contacts/{contact_id}/send-code", response_class=HTMLResponse)
def send_verify_code(contact_id: str, request: Request, viewer: Viewer = Depends(personal_writer)) -> Response:
    herald = request.app.state.herald
    contact = _mine(herald, viewer.person, contact_id)
    try:
        people.send_code(herald, viewer.person, contact, "verify")
    except HeraldError as exc:
        return _view(request, viewer, status_of(exc), f"No code sent — {exc}")
    return _view(request, viewer, verifying=contact.id, flash=FLASH["code-sent"])


@router.post("/contacts/{contact_id}/verify", response_class=HTMLResponse)
def verify_contact(contact_id: str, request: Request, code: str = Form(""),
                   viewer: Viewer = Depends(personal_writer)) -> Response:
    herald = request.app.state.herald
    contact = _mine(herald, viewer.person, contact_id)
    if not code.strip():
        return _view(request, viewer, 400, "code: type the code you were sent", verifying=contact.id)
    try:
        right = people.check_code(herald, viewer.person, contact, "verify", code.strip())
    except HeraldError as exc:
        return _view(request, viewer, 429 if hasattr(exc, "retry_after") else status_of(exc), f"Refused — {exc}")
    if not right:
        return _view(request, viewer, 400, "code: that code is not right (or has expired)", verifying=contact.id)
    return back(PREFIX + "/me", "verified")
