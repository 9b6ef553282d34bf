"""Handoffs: someone else is on call for a tier of a schedule over a window.

``POST /api/v1/handoffs`` {schedule, tier, to, from?, start?, end?, note?}: ``to`` is on
call from ``start`` (default now) to ``end`` (default the end of the current shift: of
``from``'s shift when ``from`` is given, else the tier's next change). With ``from``
only that person's coverage moves; without it ``to`` replaces the whole tier. Stored in
Redis and announced: every process pages ``to`` from its next lookup on, including
escalations of incidents that are already open. The incoming person gets a message
with the note and the open incidents; the outgoing person a confirmation.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from routing.errors import Invalid, NotFound
from integrations.calendars import BACK
from integrations.handoff_store import StoredHandoff
from service.engine.handoff_messages import send_handoff_messages
from service.api.redact import shown_to
from service.engine.people import contact_book
from service.api.schedule_views import Caller, api_caller, iso, require

router = APIRouter(prefix="/api/v1/handoffs", tags=["handoffs"])
MAX_LENGTH = timedelta(days=366)


class HandoffRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    schedule: str
    tier: str
    to: str
    from_person: str | None = Field(None, alias="from")
    start: datetime | None = None
    end: datetime | None = None
    note: str = Field("", max_length=2000)


def handoff_json(handoff: StoredHandoff, now: datetime) -> dict[str, Any]:
    return {"id": handoff.id, "schedule": handoff.schedule, "tier": handoff.tier, "to": handoff.to,
            "from": handoff.from_person, "start": iso(handoff.start), "end": iso(handoff.end),
            "note": handoff.note, "created_at": iso(handoff.created_at), "created_by": handoff.created_by,
            "active": handoff.end > now}


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def _bad(field: str, message: str) -> Invalid:
    return Invalid(f"{field}: {message}", field=field)


def _validate(herald: Any, body: HandoffRequest, now: datetime) -> tuple[datetime, datetime, list[str]]:
    """(start, end, the people handing over) or a 400 naming the field."""
    book, people = herald.calendars, herald.config.people
    if body.schedule not in herald.config.schedules:
        raise _bad("schedule", f"no schedule named {body.schedule!r}")
    if body.tier not in book.tiers(body.schedule):
        raise _bad("tier", f"schedule {body.schedule!r} has no tier {body.tier!r} "
                           f"(its tiers: {', '.join(book.tiers(body.schedule))})")
    for field, person in (("to", body.to), ("from", body.from_person)):
        if person is not None and person not in people:
            raise _bad(field, f"no person with id {person!r}")
    if body.from_person == body.to:
        raise _bad("from", "the handoff must go to someone else")
    start = _utc(body.start) or now
    rotation = book.rotation(body.schedule)
    current = rotation.oncall(body.tier, start) if rotation else ()
    end = _utc(body.end)
    if end is None:
        if body.from_person is not None:
            theirs = [s.end for s in current if s.person == body.from_person]
            if not theirs:
                raise _bad("from", f"{body.from_person} is not on call for {body.tier} at {iso(start)}; give an end")
            end = theirs[0]
        else:
            end = rotation.next_change(body.tier, start) if rotation and current else None
            if end is None:
                raise _bad("end", f"nobody is on call for {body.tier} at {iso(start)}, so there is no current "
                                  "shift to end with; give an end")
    if end <= start:
        raise _bad("end", "must be after start")
    if end <= now:
        raise _bad("end", "is in the past")
    if end - start > MAX_LENGTH:
        raise _bad("end", f"a handoff lasts at most {MAX_LENGTH.days} days")
    if body.from_person is not None:
        covered = rotation.segments(body.tier, start, end) if rotation else []
        if not any(s.person == body.from_person for seg in covered for s in seg.shifts):
            raise _bad("from", f"{body.from_person} is not on call for {body.tier} between {iso(start)} "
                               f"and {iso(end)}")
        return start, end, [body.from_person]
    return start, end, [s.person for s in current if s.person != body.to]


@router.post("", status_code=201)
def create_handoff(body: HandoffRequest, request: Request, caller: Caller = Depends(api_caller)) -> dict[str, Any]:
    """Hand a tier (or one person's part of it) to ``to`` over a window. 400 names the
    field that is wrong: an unknown schedule, tier or person, ``end`` not after ``start``,
    or ``from`` not on call in the window. ``messages`` says who was told what."""
    require(caller, "handoffs:write")
    herald = request.app.state.herald
    now = herald.clock()
    herald.calendars.refresh(now)
    start, end, outgoing = _validate(herald, body, now)
    store = herald.handoffs
    handoff = store.create(StoredHandoff(id="", schedule=body.schedule, tier=body.tier, to=body.to,
                                         start=start, end=end, from_person=body.from_person, note=body.note,
                                         created_at=now, created_by=caller.name))
    store.prune(ended_before=now - BACK)
    herald.calendars.refresh(now)  # in force here at once; other processes at their next lookup
    return {**handoff_json(handoff, now), "messages": send_handoff_messages(herald, handoff, outgoing)}


@router.get("")
def list_handoffs(
    request: Request,
    schedule: str | None = Query(None),
    active: bool | None = Query(None, description="true: not ended yet (in effect or upcoming); false: ended"),
    caller: Caller = Depends(api_caller),
) -> dict[str, Any]:
    """Stored handoffs in the order they apply (a later one wins where two overlap).
    A read token sees notes with phone numbers and email addresses hidden."""
    require(caller, "schedules:read")
    herald = request.app.state.herald
    now = herald.clock()
    found = [h for h in herald.handoffs.all()
             if (schedule is None or h.schedule == schedule) and (active is None or (h.end > now) == active)]
    return shown_to(caller, lambda: contact_book(herald), {"handoffs": [handoff_json(h, now) for h in found]})


@router.get("/{handoff_id}")
def get_handoff(handoff_id: str, request: Request, caller: Caller = Depends(api_caller)) -> dict[str, Any]:
    require(caller, "schedules:read")
    herald = request.app.state.herald
    handoff = herald.handoffs.get(handoff_id)
    if handoff is None:
        raise NotFound(f"no handoff {handoff_id!r}")
    return shown_to(caller, lambda: contact_book(herald), handoff_json(handoff, herald.clock()))


@router.delete("/{handoff_id}")
def cancel_handoff(handoff_id: str, request: Request, caller: Caller = Depends(api_caller)) -> dict[str, Any]:
    """Cancel a handoff: the calendar (or earlier handoffs) apply again over its window."""
    require(caller, "handoffs:write")
    herald = request.app.state.herald
    handoff = herald.handoffs.cancel(handoff_id)
    if handoff is None:
        raise NotFound(f"no handoff {handoff_id!r}")
    now = herald.clock()
    herald.calendars.refresh(now)
    return {"cancelled": handoff_json(handoff, now)}
