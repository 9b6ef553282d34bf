"""Published iCalendar feeds, and the revocable tokens that open them.

``GET /api/v1/schedules/{name}.ics`` is the effective rotation (handoffs applied) and
``GET /api/v1/people/{id}/oncall.ics`` one person's shifts across every schedule, from
15 days back to 180 days ahead, UTC, stable UIDs, names only (no contact details, no
notes). Calendar apps cannot send headers, so a feed URL carries ``?token=``: create one
with ``POST /api/v1/feeds`` (admin), revoke it with ``DELETE /api/v1/feeds/{token or id}``.
The admin API token (Authorization: Bearer) opens every feed too. Feeds are built from
the rotations in memory, cached until a rotation changes, and answer ETag / 304.
"""
from __future__ import annotations

import hashlib
from dataclasses import asdict, replace
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from pydantic import BaseModel, ConfigDict

from routing.errors import Invalid, NotFound
from integrations.feed_tokens import FeedTokens
from schedules.feed import export_ics
from service.api.auth import authenticate
from service.api.schedule_views import Caller, api_caller, require

router = APIRouter(tags=["feeds"])
BACK, AHEAD = timedelta(days=15), timedelta(days=180)
_CACHE_SIZE = 64


class FeedRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    schedule: str | None = None
    person: str | None = None


def _tokens(request: Request) -> FeedTokens:
    return request.app.state.herald.feeds


@router.post("/api/v1/feeds", status_code=201)
def create_feed(body: FeedRequest, request: Request, caller: Caller = Depends(api_caller)) -> dict[str, Any]:
    """A feed token for one schedule (``{"schedule": name}``) or one person's shifts
    (``{"person": id}``). The token is in the answer once and never again."""
    require(caller, "feeds:admin")
    herald = request.app.state.herald
    if (body.schedule is None) == (body.person is None):
        raise Invalid("schedule/person: give exactly one")
    if body.schedule is not None and body.schedule not in herald.config.schedules:
        raise Invalid(f"schedule: no schedule named {body.schedule!r}")
    if body.person is not None and body.person not in herald.config.people:
        raise Invalid(f"person: no person with id {body.person!r}")
    kind, target = ("schedule", body.schedule) if body.schedule is not None else ("person", body.person)
    assert target is not None
    token, feed = _tokens(request).create(kind, target, herald.clock(), by=caller.name)
    base = herald.settings.public_url.rstrip("/")
    path = f"/api/v1/schedules/{target}.ics" if kind == "schedule" else f"/api/v1/people/{target}/oncall.ics"
    return {**asdict(feed), "token": token, "url": f"{base}{path}?token={token}"}


@router.get("/api/v1/feeds")
def list_feeds(request: Request, caller: Caller = Depends(api_caller)) -> dict[str, Any]:
    """Feed tokens by id (the tokens themselves are not stored)."""
    require(caller, "feeds:admin")
    return {"feeds": [asdict(f) for f in _tokens(request).list()]}


@router.delete("/api/v1/feeds/{token}")
def revoke_feed(token: str, request: Request, caller: Caller = Depends(api_caller)) -> dict[str, Any]:
    """Revoke a feed token (give the token or the feed's id): its URL stops working."""
    require(caller, "feeds:admin")
    feed = _tokens(request).revoke(token)
    if feed is None:
        raise NotFound("no such feed token")
    return {"revoked": asdict(feed)}


def _authorize(request: Request, token: str | None, kind: str, target: str) -> None:
    if request.headers.get("authorization"):
        require(authenticate(request, request.app.state.herald.settings), "schedules:read")
        return
    if not token:
        raise HTTPException(401, "a feed token is required (?token=...)")
    feed = _tokens(request).lookup(token)
    if feed is None:
        raise HTTPException(401, "unknown or revoked feed token")
    if (feed.kind, feed.target) != (kind, target):
        raise HTTPException(403, "this feed token opens another feed")


def _serve(request: Request, key: tuple[str, str], build: Any) -> Response:
    herald = request.app.state.herald
    now = herald.clock()
    herald.calendars.refresh(now)
    cache: dict[tuple[Any, ...], tuple[bytes, str]] | None = getattr(request.app.state, "feed_cache", None)
    if cache is None:
        cache = request.app.state.feed_cache = {}
    slot = (*key, id(herald.calendars), herald.calendars.generation, now.replace(minute=0, second=0, microsecond=0))
    if slot not in cache:
        if len(cache) >= _CACHE_SIZE:
            cache.clear()
        body = build(now - BACK, now + AHEAD)
        cache[slot] = (body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')
    body, etag = cache[slot]
    headers = {"ETag": etag, "Cache-Control": "private, max-age=300"}
    if etag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="text/calendar; charset=utf-8", headers=headers)


@router.get("/api/v1/schedules/{name}.ics", response_class=Response)
def schedule_feed(name: str, request: Request, token: str | None = Query(None)) -> Response:
    """The schedule's effective rotation as iCalendar (a calendar subscription URL)."""
    _authorize(request, token, "schedule", name)
    herald = request.app.state.herald
    if name not in herald.config.schedules:
        raise NotFound(f"no schedule named {name!r}")

    def build(start: Any, end: Any) -> bytes:
        rotation = herald.calendars.rotation(name)
        return export_ics(name, rotation.shifts(None, start, end) if rotation else [], herald.config.people)

    return _serve(request, ("schedule", name), build)


@router.get("/api/v1/people/{person}/oncall.ics", response_class=Response)
def person_feed(person: str, request: Request, token: str | None = Query(None)) -> Response:
    """One person's shifts on every schedule as iCalendar (summary "On call <schedule> <tier>")."""
    _authorize(request, token, "person", person)
    herald = request.app.state.herald
    if person not in herald.config.people:
        raise NotFound(f"no person with id {person!r}")

    def build(start: Any, end: Any) -> bytes:
        mine = []
        for name in herald.config.schedules:
            rotation = herald.calendars.rotation(name)
            for shift in rotation.shifts(None, start, end) if rotation else []:
                if shift.person == person:
                    mine.append(replace(shift, tier=f"{name} {shift.tier}"))
        return export_ics(f"On call: {herald.config.people[person].name}", mine, herald.config.people)

    return _serve(request, ("person", person), build)
