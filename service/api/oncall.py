"""Who is on call: every schedule and tier, or one schedule, now or at ``?at=``.

Answers come from the rotations in memory (calendars parsed when they changed, with
handoffs layered on): no calendar is read or parsed per request.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request

from routing.errors import Invalid
from service.api.redact import shown_to
from service.engine.people import contact_book
from service.api.schedule_views import Caller, api_caller, entry, iso, query_time, require, schedule_or_404

router = APIRouter(prefix="/api/v1/oncall", tags=["on call"])


def oncall_at(herald: Any, names: list[str], at: datetime, tier: str | None, *, contacts: bool) -> dict[str, Any]:
    """On-call entries at ``at`` for the schedules ``names`` (every tier, or ``tier``), the
    tiers with nobody on call (``nobody``: schedule, tier, until) and failing calendars."""
    book, people = herald.calendars, herald.config.people
    found: list[dict[str, Any]] = []
    nobody: list[dict[str, Any]] = []
    for name in names:
        rotation = book.rotation(name)
        tiers = [tier] if tier else sorted({*book.tiers(name), *(rotation.tiers() if rotation else ())})
        for tier_name in tiers:
            shifts = rotation.oncall(tier_name, at) if rotation else ()
            if shifts:
                found.extend(entry(name, s, people, contacts=contacts) for s in shifts)
            else:
                until = rotation.next_change(tier_name, at) if rotation else None
                nobody.append({"schedule": name, "tier": tier_name, "until": iso(until)})
    errors = [{"schedule": n, "error": book.status[n].error, "since": iso(book.status[n].error_at)}
              for n in names if book.status[n].error]
    return {"at": iso(at), "oncall": found, "nobody": nobody, "calendar_errors": errors}


def _when(request: Request, at: str | None) -> datetime:
    herald = request.app.state.herald
    now = herald.clock()
    herald.calendars.refresh(now)
    moment = query_time(at, "at", now)
    window = herald.calendars.window()
    if window is not None and not window[0] <= moment < window[1]:
        raise Invalid(f"at: rotations are expanded from {iso(window[0])} to {iso(window[1])}")
    return moment


@router.get("")
def oncall_everywhere(
    request: Request,
    at: str | None = Query(None, description="ISO 8601 time (default now; no offset means UTC)"),
    caller: Caller = Depends(api_caller),
) -> dict[str, Any]:
    """Who is on call for every schedule and tier, now or at ``at``.

    ``oncall``: entries (schedule, tier, person, name, start, end, source; a handoff adds
    handoff and note; ``contact`` only for tokens allowed to see contact details).
    ``nobody``: tiers with a gap at that moment, and when it ends (``until``).
    ``calendar_errors``: schedules whose last load failed (the last good copy answers).
    """
    require(caller, "schedules:read")
    moment = _when(request, at)
    herald = request.app.state.herald
    out = oncall_at(herald, list(herald.config.schedules), moment, None, contacts=caller.can("contacts:read"))
    return shown_to(caller, lambda: contact_book(herald), out)  # a handoff's note may name a phone or an address


@router.get("/{schedule}")
def oncall_for_schedule(
    schedule: str,
    request: Request,
    tier: str | None = Query(None, description="one tier of the schedule (default every tier)"),
    at: str | None = Query(None, description="ISO 8601 time (default now; no offset means UTC)"),
    caller: Caller = Depends(api_caller),
) -> dict[str, Any]:
    """Who is on call for one schedule (every tier, or ``tier``), now or at ``at``."""
    require(caller, "schedules:read")
    schedule_or_404(request, schedule)
    moment = _when(request, at)
    herald = request.app.state.herald
    if tier is not None and tier not in herald.calendars.tiers(schedule):
        rotation = herald.calendars.rotation(schedule)
        if rotation is None or tier not in rotation.tiers():
            known = ", ".join(herald.calendars.tiers(schedule))
            raise Invalid(f"tier: schedule {schedule!r} has no tier {tier!r} (its tiers: {known})")
    out = oncall_at(herald, [schedule], moment, tier, contacts=caller.can("contacts:read"))
    return shown_to(caller, lambda: contact_book(herald), {"schedule": schedule, **out})
