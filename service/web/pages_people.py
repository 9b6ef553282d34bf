"""``GET /ui/people``: everyone's contacts and their states — unverified (seeded from the
file: still paged), verified, failing (the last send was refused for good) and opted out
(the number replied STOP; START lifts it) — with who is on call now and reachable by
nothing verified. Writers get per person "Send a test page", and per contact "Send a
code" and a form for the code the person read out (the person's own page, /ui/me, has
the same for themselves). Every action goes through the people facade, as the API does
(service/api/people.py); a read-only login sees states, never addresses."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from routing.errors import HeraldError, Invalid
from schedules.contacts import unreachable
from service.api.errors import status_of
from service.engine import people
from service.engine.people import TooManyGuesses
from service.web.base import PREFIX, ConsoleRoute, back, logged_in, writer
from service.web.render import page
from service.web.session import Viewer

router = APIRouter(prefix=PREFIX + "/people", route_class=ConsoleRoute, include_in_schema=False)
#: What each state means, shown next to it.
STATE_HELP = {"unverified": "not verified yet", "verified": "verified", "failing": "the last send failed",
              "opted_out": "replied STOP: no SMS until START"}
FLASH = {"test": "Test page sent.", "code": "Code sent: ask for it and enter it below.",
         "verified": "Contact verified."}


def _view(request: Request, status: int = 200, error: str | None = None, results: list | None = None) -> Response:
    herald = request.app.state.herald
    viewer: Viewer = request.state.viewer
    found = people.records(herald)
    on_call = people.on_call_now(herald, herald.clock())
    rows: list[dict[str, Any]] = []
    for pid, rec in sorted(found.items(), key=lambda item: herald.config.people[item[0]].name):
        rows.append({"id": pid, "name": herald.config.people[pid].name, "on_call": pid in on_call,
                     "unreachable": unreachable(rec),
                     "contacts": [people.contact_json(c) for c in rec.contacts]})
    shown = viewer.can_write  # write and admin logins may see addresses (contacts:read)
    return page(request, "people.html", code=status, error=error, rows=rows, shown=shown, help=STATE_HELP,
                results=results or [], flash=FLASH.get(request.query_params.get("done", "")))


@router.get("", response_class=HTMLResponse)
def people_page(request: Request, _viewer: Viewer = Depends(logged_in)) -> Response:
    return _view(request)


def _failed(request: Request, exc: HeraldError, what: str) -> Response:
    return _view(request, 429 if isinstance(exc, TooManyGuesses) else status_of(exc), f"{what} — {exc}")


@router.post("/{person_id}/test-page", response_class=HTMLResponse)
def test_page(person_id: str, request: Request, contact: str = Form(""),
              _viewer: Viewer = Depends(writer)) -> Response:
    try:
        sent = people.send_test_page(request.app.state.herald, person_id, contact or None)
    except HeraldError as exc:
        return _failed(request, exc, "No test page sent")
    failed = [s for s in sent if s["outcome"] != "sent"]
    if failed:
        return _view(request, 502, "Test page not delivered — " + "; ".join(
            f"{s['channel']}: {s['detail'] or s['outcome']}" for s in failed), sent)
    return back(PREFIX + "/people", "test")


@router.post("/{person_id}/contacts/{contact}/code", response_class=HTMLResponse)
def send_code(person_id: str, contact: str, request: Request, via: str = Form(""),
              _viewer: Viewer = Depends(writer)) -> Response:
    try:
        people.send_code(request.app.state.herald, person_id, contact, "verify", via=via or None)
    except HeraldError as exc:
        return _failed(request, exc, "No code sent")
    return back(PREFIX + "/people", "code")


@router.post("/{person_id}/contacts/{contact}/confirm", response_class=HTMLResponse)
def confirm(person_id: str, contact: str, request: Request, code: str = Form(""),
            _viewer: Viewer = Depends(writer)) -> Response:
    try:
        if not people.check_code(request.app.state.herald, person_id, contact, "verify", code):
            raise Invalid("code: wrong or expired code", field="code")
    except HeraldError as exc:
        return _failed(request, exc, "Not verified")
    return back(PREFIX + "/people", "verified")
