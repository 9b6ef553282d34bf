"""``GET /ui/incidents`` (open first; filter by status, severity, service),
``GET /ui/incidents/{id}`` (alerts, labels, annotations, links, pages, the whole timeline)
and ``POST /ui/incidents/{id}/{action}``: acknowledge, resolve, escalate, reassign, snooze
and note (acknowledge and resolve take an optional ``note`` too). Each action builds the
same command the API and SMS build and goes through ``herald.act`` (``decide()`` in one
transaction); the viewer is recorded as ``by`` with ``via="web"``. Post/redirect/get: the answer is a 303 back to the incident with a flash."""
from __future__ import annotations

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from service.api.incidents import alerts_page, all_alerts
from routing.incident import Acknowledge, AddNote, EscalateNow, Reassign, Resolve, Snooze
from service.web.base import PREFIX, ConsoleRoute, back, flash, logged_in, writer
from service.web.incident_view import SEVERITIES, STATUSES, describe, links, select, services
from service.web.render import page
from service.web.session import Viewer

router = APIRouter(prefix=PREFIX + "/incidents", route_class=ConsoleRoute, include_in_schema=False)
LISTED = 500
ALERTS_SHOWN = 50  # alerts on one page of an incident; previous/next links page through the rest
VIA = "web"


@router.get("", response_class=HTMLResponse)
def incident_list(request: Request, status: str = "open", severity: str = "", service: str = "",
                  _viewer: Viewer = Depends(logged_in)) -> Response:
    store = request.app.state.herald.store
    status = status if status in STATUSES else "open"
    severity = severity if severity in SEVERITIES else ""
    loaded = store.list(open_only=status in ("open", "triggered", "acknowledged"), limit=LISTED)
    known_services = sorted({s for i in loaded for s in services(i)})
    chosen = select(loaded, status, severity, service)
    return page(request, "incidents.html", incidents=chosen, status=status, severity=severity, service=service,
                statuses=STATUSES, severities=SEVERITIES, services=known_services, service_of=services)


@router.get("/{incident_id}", response_class=HTMLResponse)
def incident_page(incident_id: str, request: Request, alerts_offset: int = Query(0, ge=0, le=1_000_000),
                  viewer: Viewer = Depends(logged_in)) -> Response:
    """The incident; its alerts ``ALERTS_SHOWN`` at a time (``alerts_offset``), firing first."""
    herald = request.app.state.herald
    incident = herald.store.get(incident_id) if len(incident_id) <= 32 else None
    if incident is None:
        raise HTTPException(404, f"There is no incident #{incident_id}.")
    total, shown = alerts_page(all_alerts(request, incident), "all", alerts_offset, ALERTS_SHOWN)
    people = herald.config.people
    policy = herald.config.policies.get(incident.policy)
    return page(request, "incident.html", incident=incident, flash=flash(request),
                timeline=[describe(e, people) for e in reversed(incident.timeline)],
                links=links(incident), people=sorted(people.values(), key=lambda p: p.name),
                names={pid: p.name for pid, p in people.items()},
                tiers=[t.name for t in policy.tiers] if policy else [],
                alerts=shown, alerts_total=total, alerts_offset=alerts_offset, alerts_limit=ALERTS_SHOWN)


async def _act(request: Request, incident_id: str, command, done: str) -> Response:
    herald = request.app.state.herald
    # A tier the policy does not have is Invalid (400), a policy removed from the
    # configuration a Conflict (409): ConsoleRoute renders either as an error page.
    decision = await run_in_threadpool(herald.act, incident_id, command)
    if decision.incident is None:
        raise HTTPException(404, f"There is no incident #{incident_id}.")
    return back(f"{PREFIX}/incidents/{incident_id}", done if decision.changed else "noop")


def _with_note(kind: type[Acknowledge] | type[Resolve], viewer: Viewer, note: str) -> Acknowledge | Resolve:
    try:
        return kind(by=viewer.actor, via=VIA, note=note.strip())
    except ValidationError:
        raise HTTPException(400, "A note is at most 2000 characters.") from None


@router.post("/{incident_id}/ack")
async def acknowledge(incident_id: str, request: Request, note: str = Form(""),
                      viewer: Viewer = Depends(writer)) -> Response:
    """``note`` (optional) is kept on the timeline with the acknowledgement."""
    return await _act(request, incident_id, _with_note(Acknowledge, viewer, note), "ack")


@router.post("/{incident_id}/resolve")
async def resolve(incident_id: str, request: Request, note: str = Form(""),
                  viewer: Viewer = Depends(writer)) -> Response:
    """``note`` (optional) is kept on the timeline with the resolution."""
    return await _act(request, incident_id, _with_note(Resolve, viewer, note), "resolve")


@router.post("/{incident_id}/escalate")
async def escalate(incident_id: str, request: Request, viewer: Viewer = Depends(writer)) -> Response:
    return await _act(request, incident_id, EscalateNow(by=viewer.actor, via=VIA), "escalate")


@router.post("/{incident_id}/reassign")
async def reassign(incident_id: str, request: Request, target: str = Form(""),
                   viewer: Viewer = Depends(writer)) -> Response:
    """``target`` is ``person:<id>`` or ``tier:<name>``."""
    kind, _, name = target.partition(":")
    herald = request.app.state.herald
    if kind == "person" and name in herald.config.people:
        command = Reassign(by=viewer.actor, via=VIA, person=name)
    elif kind == "tier" and name:
        command = Reassign(by=viewer.actor, via=VIA, tier=name)
    else:
        raise HTTPException(400, "Choose a person or a tier to reassign to.")
    return await _act(request, incident_id, command, "reassign")


@router.post("/{incident_id}/snooze")
async def snooze(incident_id: str, request: Request, minutes: str = Form(""),
                 viewer: Viewer = Depends(writer)) -> Response:
    if not minutes.isdigit() or not 1 <= int(minutes) <= 24 * 60:
        raise HTTPException(400, "Snooze for 1 to 1440 minutes.")
    return await _act(request, incident_id, Snooze(by=viewer.actor, via=VIA, minutes=int(minutes)), "snooze")


@router.post("/{incident_id}/notes")
async def add_note(incident_id: str, request: Request, text: str = Form(""),
                   viewer: Viewer = Depends(writer)) -> Response:
    try:
        command = AddNote(by=viewer.actor, via=VIA, text=text.strip())
    except ValidationError:
        raise HTTPException(400, "A note is 1 to 2000 characters.") from None
    return await _act(request, incident_id, command, "note")
