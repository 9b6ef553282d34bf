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

from pydantic import ValidationError

from routing.errors import HeraldError
from routing.personal_rules import PersonalRules
from service.api.errors import status_of
from service.engine import people
from service.web.base import PREFIX, ConsoleRoute, back, csrf_ok, flash, logged_in
from service.web.render import page
from service.web.session import Viewer

router = APIRouter(prefix=PREFIX + "/me", route_class=ConsoleRoute, include_in_schema=False)
log = logging.getLogger("herald.console")
HORIZON = timedelta(days=14)
URGENCIES = ("high", "low")
RULE_CHANNELS = ("voice", "sms", "email")
MAX_DELAY_MINUTES = 24 * 60
FLASH = {"code-sent": "A code is on its way; type it below.", "verified": "Verified: thank you.",
         "removed": "Contact removed.", "rules": "Your notification rules are saved."}


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
                rules=rule_rows(herald.rules.get(person)), urgency=herald.config.urgency,
                **{"flash": FLASH.get(request.query_params.get("done", "")) or flash(request), **extra})


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


def _refused(exc: HeraldError) -> int:
    return 429 if hasattr(exc, "retry_after") else status_of(exc)


@router.post("/contacts", response_class=HTMLResponse)
def add_contact(request: Request, kind: str = Form(""), address: str = Form(""), replaces: str = Form(""),
                via: str = Form(""), viewer: Viewer = Depends(personal_writer)) -> Response:
    """Add a phone or email (not paged until verified; ``replaces``: the contact it takes
    over from once verified) and send it a code at once."""
    herald = request.app.state.herald
    try:
        added = people.add_contact(herald, viewer.person, kind.strip(), address, replaces=replaces or None)
    except HeraldError as exc:
        return _view(request, viewer, status_of(exc), f"Not added — {exc}", form={"kind": kind, "address": address})
    try:
        people.send_code(herald, viewer.person, added, "verify", via=via or None)
    except HeraldError as exc:
        return _view(request, viewer, _refused(exc), f"Added, but no code was sent — {exc}")
    return _view(request, viewer, verifying=added.id, flash=FLASH["code-sent"])


@router.post("/contacts/{contact_id}/remove", response_class=HTMLResponse)
def remove_contact(contact_id: str, request: Request, viewer: Viewer = Depends(personal_writer)) -> Response:
    herald = request.app.state.herald
    contact = _mine(herald, viewer.person, contact_id)
    try:
        people.remove_contact(herald, viewer.person, contact.id)
    except HeraldError as exc:
        return _view(request, viewer, status_of(exc), f"Not removed — {exc}")
    return back(PREFIX + "/me", "removed")


@router.post("/contacts/{contact_id}/send-code", response_class=HTMLResponse)
def send_verify_code(contact_id: str, request: Request, via: str = Form(""),
                     viewer: Viewer = Depends(personal_writer)) -> Response:
    herald = request.app.state.herald
    contact = _mine(herald, viewer.person, contact_id)
    try:
        people.send_code(herald, viewer.person, contact, "verify", via=via or None)
    except HeraldError as exc:
        return _view(request, viewer, _refused(exc), f"No code sent — {exc}")
    return _view(request, viewer, verifying=contact.id, flash=FLASH["code-sent"])


@router.post("/test-page", response_class=HTMLResponse)
def test_page(request: Request, contact: str = Form(""), via: str = Form(""),
              viewer: Viewer = Depends(personal_writer)) -> Response:
    """"Send me a test page": to one contact, or to every contact that is paged."""
    herald = request.app.state.herald
    which = _mine(herald, viewer.person, contact) if contact else None
    try:
        sent = people.send_test_page(herald, viewer.person, which, via=via or None)
    except HeraldError as exc:
        return _view(request, viewer, status_of(exc), f"No test page sent — {exc}")
    return _view(request, viewer, tested=sent)


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
        return _view(request, viewer, _refused(exc), f"Refused — {exc}")
    if not right:
        return _view(request, viewer, 400, "code: that code is not right (or has expired)", verifying=contact.id)
    return back(PREFIX + "/me", "verified")


def rule_rows(stored: Any) -> dict[str, dict[str, Any]]:
    """For the form: per urgency, per channel, the step's delay (None: not used). ``stored``
    is the rules as JSON, or the rules model (anything with ``model_dump``), or None."""
    if hasattr(stored, "model_dump"):
        stored = stored.model_dump(mode="json")
    rows: dict[str, dict[str, Any]] = {u: dict.fromkeys(RULE_CHANNELS) for u in URGENCIES}
    for urgency in URGENCIES:
        for step in (stored or {}).get(urgency) or []:
            if isinstance(step, dict) and step.get("channel") in RULE_CHANNELS:
                rows[urgency][step["channel"]] = step.get("delay_minutes", 0)
    return rows


def rules_from_form(form: Any) -> dict[str, list[dict[str, Any]]] | None:
    """``high.voice=on`` + ``high.voice.delay=0`` ... -> the rules (steps by delay), or None
    when no step is ticked (the policy's channels). ``Invalid``-style errors name the field."""
    found: dict[str, list[dict[str, Any]]] = {u: [] for u in URGENCIES}
    for urgency in URGENCIES:
        for channel in RULE_CHANNELS:
            if not form.get(f"{urgency}.{channel}"):
                continue
            raw = str(form.get(f"{urgency}.{channel}.delay", "0")).strip() or "0"
            if not raw.isdigit() or int(raw) > MAX_DELAY_MINUTES:
                raise ValueError(f"{urgency}.{channel}.delay_minutes: a whole number of minutes, 0 to "
                                 f"{MAX_DELAY_MINUTES}, not {raw[:10]!r}")
            found[urgency].append({"channel": channel, "delay_minutes": int(raw)})
        found[urgency].sort(key=lambda step: step["delay_minutes"])
    return found if any(found.values()) else None


@router.post("/rules", response_class=HTMLResponse)
async def save_rules(request: Request, viewer: Viewer = Depends(personal_writer)) -> Response:
    """My notification rules, per urgency: which channels page me, after how many minutes
    while unacknowledged. Nothing ticked: the policy's channels page me. Kept in the rules
    store (``herald.rules``, the one the paging decision reads), as the rules API does."""
    herald = request.app.state.herald
    form = await request.form()
    try:
        value = PersonalRules.model_validate(rules_from_form(form) or {})
    except ValidationError as exc:  # the rules model's own checks, naming the field
        problem = exc.errors()[0]
        where = ".".join(str(part) for part in problem["loc"])
        return _view(request, viewer, 400, f"Rules not saved — {where}: {problem['msg']}")
    except ValueError as exc:  # a delay that is not a number
        return _view(request, viewer, 400, f"Rules not saved — {exc}")
    herald.rules.set(viewer.person, value)  # the store the paging decision reads (no steps: removed)
    log.info("%s changed their notification rules", viewer.person)
    return back(PREFIX + "/me", "rules")
