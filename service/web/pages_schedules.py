"""``GET /ui/schedules``: the next four weeks of every schedule tier as a calendar grid
(handoffs marked, gaps in red), each calendar's last load, the handoffs in force, and a
handoff form. ``POST /ui/schedules/handoffs`` and ``.../{id}/cancel`` go through the
handoff API's own functions (validation, the store, the messages to both people)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import redis
from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from routing.errors import HeraldError
from service.api.handoffs import HandoffRequest, cancel_handoff, create_handoff
from service.api.auth import Caller
from service.api.errors import status_of
from service.web.base import PREFIX, ConsoleRoute, back, flash, logged_in, writer
from service.web.oncall_view import schedule_tiers
from service.web.render import page
from service.web.schedule_grid import DAYS, weeks
from service.web.session import Viewer

router = APIRouter(prefix=PREFIX + "/schedules", route_class=ConsoleRoute, include_in_schema=False)


def _caller(viewer: Viewer) -> Caller:
    return Caller(viewer.actor, viewer.scope)


def _view(request: Request, status: int = 200, error: str | None = None, form: dict[str, str] | None = None):
    herald = request.app.state.herald
    book, people, now = herald.calendars, herald.config.people, herald.clock()
    book.refresh(now)
    schedules: list[dict[str, Any]] = []
    for name, spec in herald.config.schedules.items():
        try:
            book.shared_status(name)
        except redis.RedisError:  # a Redis blip must not hide the grid
            pass
        rotation = book.rotation(name)
        schedules.append({
            "name": name, "spec": spec, "status": book.status[name], "loaded": book.parsed(name) is not None,
            "tiers": [(tier, weeks(rotation, tier, spec.timezone, people, now))
                      for tier in schedule_tiers(book, name)],
        })
    handoffs = [h for h in herald.handoffs.all() if h.end > now]
    choices = [(s["name"], tier) for s in schedules for tier, _ in s["tiers"]]
    return page(request, "schedules.html", code=status, error=error, schedules=schedules, handoffs=handoffs,
                choices=choices, people=sorted(people.values(), key=lambda p: p.name),
                names={pid: p.name for pid, p in people.items()}, days=DAYS, form=form or {},
                flash=flash(request))


@router.get("", response_class=HTMLResponse)
def schedules_page(request: Request, _viewer: Viewer = Depends(logged_in)) -> Response:
    return _view(request)


def _utc(value: str, field: str) -> datetime | None:
    """A ``datetime-local`` value (``2026-05-01T09:00``) read as UTC; empty is None."""
    if not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"{field}: not a date and time: {value!r}") from None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


@router.post("/handoffs", response_class=HTMLResponse)
def make_handoff(request: Request, target: str = Form(""), to: str = Form(""), from_person: str = Form(""),
                       start: str = Form(""), end: str = Form(""), hours: str = Form(""), note: str = Form(""),
                       viewer: Viewer = Depends(writer)) -> Response:
    """``target`` is ``schedule|tier``; ``end`` or ``hours`` (from start), else the end of
    the current shift."""
    form = {"target": target, "to": to, "from_person": from_person, "start": start, "end": end, "hours": hours,
            "note": note}
    schedule, _, tier = target.partition("|")
    if not viewer.may_hand_over(from_person or None):
        return _view(request, 403, "Handoff not saved — from: as a responder you hand over your own shifts "
                                   f"only (from must be {viewer.person}); a manager or admin may hand over any", form)
    try:
        begin = _utc(start, "start")
        finish = _utc(end, "end")
        if finish is None and hours.strip():
            if not hours.strip().isdigit() or not 1 <= int(hours) <= 24 * 366:
                raise ValueError("hours: a whole number of hours, 1 or more")
            finish = (begin or request.app.state.herald.clock()) + timedelta(hours=int(hours))
        body = HandoffRequest(schedule=schedule, tier=tier, to=to, from_person=from_person or None,
                              start=begin, end=finish, note=note.strip())
        create_handoff(body, request, _caller(viewer))
    except HeraldError as exc:  # what the API would answer (service/api/errors.py), shown on the form
        return _view(request, status_of(exc), f"Handoff not saved — {exc}", form)
    except (ValueError, ValidationError) as exc:
        message = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
        return _view(request, 400, f"Handoff not saved — {message}", form)
    except HTTPException as exc:
        return _view(request, exc.status_code, f"Handoff not saved — {exc.detail}", form)
    return back(PREFIX + "/schedules", "handoff")


@router.post("/handoffs/{handoff_id}/cancel")
def cancel(handoff_id: str, request: Request, viewer: Viewer = Depends(writer)) -> Response:
    mine = next((h for h in request.app.state.herald.handoffs.all() if h.id == handoff_id), None)
    if mine is not None and not (viewer.may_hand_over(mine.from_person) or mine.to == viewer.person):
        raise HTTPException(403, "as a responder you cancel only handoffs of your own shifts")
    cancel_handoff(handoff_id, request, _caller(viewer))
    return back(PREFIX + "/schedules", "cancelled")
