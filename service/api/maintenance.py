"""Maintenance windows: while one is active, incidents whose alerts it matches are
recorded and visible, but nobody is paged; when it ends — on time or early — those
still firing page normally."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field, ValidationError

from routing.errors import Conflict, Invalid, NotFound
from routing.incident import Release
from routing.maintenance import MaintenanceWindow
from service.api.errors import sentence
from service.api.incidents import api_caller, reader
from service.api.auth import Caller

router = APIRouter(prefix="/api/v1/maintenance", tags=["maintenance"])


class WindowBody(BaseModel):
    matchers: list[str] = Field(min_length=1, description='Alertmanager-style, e.g. service="db"')
    start: datetime | None = Field(None, description="default: now")
    end: datetime
    reason: str = Field(min_length=1, max_length=500)


def _out(window: MaintenanceWindow, now: datetime) -> dict[str, Any]:
    return {**window.model_dump(mode="json"), "active": window.active(now),
            "effective_end": window.effective_end.isoformat()}


@router.post("", status_code=201)
def create(body: WindowBody, request: Request, caller: str = Depends(api_caller)) -> dict[str, Any]:
    """Open a window. Incidents opened inside it are held, not paged."""
    herald = request.app.state.herald
    now = herald.clock()
    try:
        window = MaintenanceWindow(matchers=body.matchers, start=body.start or now, end=body.end,
                                   reason=body.reason, created_by=caller)
    except ValidationError as exc:
        raise Invalid(sentence(exc.errors(), within=("body",))) from None
    if window.end <= now:
        raise Invalid("end is in the past")
    herald.maintenance.prune(now)  # windows ended long ago are dropped, not read on every hold check
    return _out(herald.maintenance.create(window), now)


@router.get("")
def list_windows(request: Request, _caller: Caller = Depends(reader)) -> dict[str, Any]:
    """Every window, active, future and recently ended."""
    herald = request.app.state.herald
    now = herald.clock()
    return {"windows": [_out(w, now) for w in herald.maintenance.all()]}


@router.delete("/{window_id}")
def end_early(window_id: str, request: Request, _caller: str = Depends(api_caller)) -> dict[str, Any]:
    """End a window now; held incidents it covered page at once (unless another holds them)."""
    herald = request.app.state.herald
    now = herald.clock()
    window = herald.maintenance.end_early(window_id, now)
    if window is None:
        raise NotFound(f"no maintenance window {window_id!r}")
    released = []
    for incident in herald.store.list(open_only=True, limit=10_000):
        if incident.held_until is not None and incident.hold_reason.startswith("maintenance"):
            try:
                decision = herald.act(incident.id, Release(reason=f"maintenance window {window_id} ended"))
            except Conflict:  # its policy was removed: it stays held; the window still ends for the rest
                continue
            if decision.incident is not None and decision.incident.held_until is None:
                released.append(incident.id)
    return {**_out(window, now), "released_incidents": released}
