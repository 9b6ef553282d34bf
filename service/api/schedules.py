"""Schedules: their calendars' state, uploads, shifts and coverage.

A team publishes its rotation with ``PUT /api/v1/schedules/{name}`` (``text/calendar``)
to a schedule configured with ``source: upload``. Uploads are parsed in a sandbox with
a time limit, saved in Redis and announced: every API replica and worker uses the new
calendar from its next lookup. A calendar that does not parse, or has no usable event,
is refused with the parser's message and the copy in force stays. Everything else
``herald schedules lint`` would report about the uploaded copy (skipped events, unknown
people, gaps, overlaps, parse warnings) comes back in the answer as ``warnings``.
"""
from __future__ import annotations

from datetime import timedelta
from typing import Any

import redis
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from starlette.concurrency import run_in_threadpool

from routing.errors import Conflict, Invalid
from integrations.calendar_sandbox import ParseTimeout
from schedules.calendar import CalendarError
from schedules.coverage import lint_line
from schedules.model import Problem
from service.api.alertmanager import read_body
from service.api.redact import shown_to
from service.engine.people import contact_book
from service.api.schedule_views import Caller, api_caller, entry, iso, query_time, require, schedule_or_404

router = APIRouter(prefix="/api/v1/schedules", tags=["schedules"])
MAX_RANGE = timedelta(days=366)
LISTED_PROBLEMS = 50


def problem_json(problem: Problem) -> dict[str, Any]:
    return {"kind": problem.kind, "message": problem.message, "tier": problem.tier,
            "start": iso(problem.start), "end": iso(problem.end)}


def warning_json(problem: Problem) -> dict[str, Any]:
    """A problem, and ``text``: the line ``herald schedules lint`` prints for it."""
    return {**problem_json(problem), "text": lint_line(problem)}


def schedule_json(herald: Any, name: str) -> dict[str, Any]:
    book, spec = herald.calendars, herald.config.schedules[name]
    status = book.status[name]
    return {
        "name": name, "source": status.source, "location": status.location, "timezone": spec.timezone,
        "tiers": list(book.tiers(name)), "loaded": book.parsed(name) is not None,
        "version": status.version, "sha256": status.sha256, "loaded_at": iso(status.loaded_at),
        "checked_at": iso(status.checked_at), "last_error": status.error, "last_error_at": iso(status.error_at),
        "note": status.note, "shifts": status.shifts, "handoffs": len(book.handoffs(name)),
        "skipped_events": sum(1 for p in status.problems if p.kind == "skipped_event"),
        "problem_count": len(status.problems),
        "problems": [problem_json(p) for p in status.problems[:LISTED_PROBLEMS]],
    }


@router.get("")
def list_schedules(request: Request, caller: Caller = Depends(api_caller)) -> dict[str, Any]:
    """Every schedule: source, the copy in force (version, load time, shift count), the
    last check and the last error (set while the last good copy is in force), and the
    calendar's problems (unknown people, parse warnings). Gaps: ``/{name}/gaps``."""
    require(caller, "schedules:read")
    herald = request.app.state.herald
    herald.calendars.refresh(herald.clock())
    try:
        for name in herald.config.schedules:
            herald.calendars.shared_status(name)
    except redis.RedisError:  # this process's own view still answers
        pass
    return {"schedules": [schedule_json(herald, name) for name in herald.config.schedules]}


@router.put("/{name}")
async def upload_calendar(name: str, request: Request, caller: Caller = Depends(api_caller),
                          days: int = Query(30, ge=1, le=366, description="days ahead the warnings cover")
                          ) -> dict[str, Any]:
    """Publish a schedule's calendar (``Content-Type: text/calendar``; schedules with
    ``source: upload`` only). 404: no such schedule; 409: the schedule reads a file or
    URL; 415: another content type; 413: over the schedule's ``max_bytes``; 400: the
    calendar does not parse or has no usable event (the parser's message; the copy in
    force stays); 422: it took too long to parse.

    200 answers the schedule as ``GET /api/v1/schedules`` lists it, plus ``warnings``:
    every problem ``herald schedules lint --days DAYS`` reports for the copy now in force
    -- skipped events, unknown people, parse warnings, gaps and overlaps over the next
    ``days`` (default 30) -- each with ``text``, lint's line for it; ``lint`` says the
    range checked. Warnings do not refuse the upload."""
    require(caller, "schedules:write")
    spec = schedule_or_404(request, name)
    herald = request.app.state.herald
    if spec.source != "upload":
        raise Conflict(f"schedule {name!r} takes its calendar from its {spec.source}; "
                                 "configure source: upload to publish it here")
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "text/calendar":
        raise HTTPException(415, "send the calendar as Content-Type: text/calendar")
    data = await read_body(request, spec.max_bytes, what="calendar")
    if not data.strip():
        raise Invalid("empty calendar")
    try:
        await run_in_threadpool(herald.calendars.accept_upload, name, data, herald.clock())
    # UploadRefused is a Conflict: 409 with its message (service/api/errors.py). These two keep
    # their own answers: the prefix says the copy in force stays, and a timeout is a 422.
    except ParseTimeout as exc:
        raise HTTPException(422, f"calendar refused, the copy in force stays: {exc}") from None
    except CalendarError as exc:
        raise Invalid(f"calendar refused, the copy in force stays: {exc}") from None
    now = herald.clock()
    end = now + timedelta(days=days)
    warnings = await run_in_threadpool(herald.calendars.lint, name, now, end)
    return {**schedule_json(herald, name), "lint": {"from": iso(now), "to": iso(end), "days": days},
            "warnings": [warning_json(p) for p in warnings]}


@router.get("/{name}/shifts")
def shifts(
    name: str,
    request: Request,
    start: str | None = Query(None, alias="from", description="ISO 8601 (default now)"),
    end: str | None = Query(None, alias="to", description="ISO 8601 (default from + 7 days)"),
    tier: str | None = Query(None),
    caller: Caller = Depends(api_caller),
) -> dict[str, Any]:
    """Effective shifts (handoffs applied) overlapping [from, to), at most 366 days."""
    require(caller, "schedules:read")
    schedule_or_404(request, name)
    herald = request.app.state.herald
    now = herald.clock()
    herald.calendars.refresh(now)
    lo = query_time(start, "from", now)
    hi = query_time(end, "to", lo + timedelta(days=7))
    if hi <= lo:
        raise Invalid("to: must be after from")
    if hi - lo > MAX_RANGE:
        raise Invalid(f"to: at most {MAX_RANGE.days} days after from")
    window = herald.calendars.window()
    if window is not None and (lo < window[0] or hi > window[1]):
        raise Invalid(f"from/to: shifts are expanded from {iso(window[0])} to {iso(window[1])}")
    rotation = herald.calendars.rotation(name)
    found = rotation.shifts(tier, lo, hi) if rotation else []
    contacts = caller.can("contacts:read")
    return shown_to(caller, lambda: contact_book(herald), {  # a handoff's note may name a phone or an address
        "schedule": name, "from": iso(lo), "to": iso(hi),
        "shifts": [entry(name, s, herald.config.people, contacts=contacts) for s in found]})


@router.get("/{name}/gaps")
def gaps(name: str, request: Request, days: int = Query(30, ge=1, le=366),
         caller: Caller = Depends(api_caller)) -> dict[str, Any]:
    """Coverage over the next ``days``: gaps per tier (handoffs applied), overlaps within a
    tier, unknown people, skipped events and parse warnings. ``problems`` counts them all."""
    require(caller, "schedules:read")
    schedule_or_404(request, name)
    herald = request.app.state.herald
    now = herald.clock()
    herald.calendars.refresh(now)
    end = now + timedelta(days=days)
    report = herald.calendars.lint(name, now, end)
    by_tier: dict[str, list[dict[str, Any]]] = {t: [] for t in herald.calendars.tiers(name)}
    for p in report:
        if p.kind == "gap":
            by_tier.setdefault(p.tier or "", []).append({"start": iso(p.start), "end": iso(p.end)})
    status = herald.calendars.status[name]
    return {
        "schedule": name, "from": iso(now), "to": iso(end), "loaded": herald.calendars.parsed(name) is not None,
        "last_error": status.error, "gaps": by_tier,
        "overlaps": [problem_json(p) for p in report if p.kind == "overlap"],
        "unknown_people": [problem_json(p) for p in report if p.kind == "unknown_person"],
        "skipped_events": [problem_json(p) for p in report if p.kind == "skipped_event"],
        "parse_warnings": [p.message for p in report if p.kind == "parse_warning"],
        "problems": len(report),
    }
