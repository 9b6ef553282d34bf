"""Outgoing webhooks' delivery log (docs/webhooks.md).

``GET /api/v1/webhooks/deliveries`` answers the newest delivery records, newest first:
``endpoint`` (one configured endpoint's name; default all), ``state`` (``pending``,
``failed``, ``delivered``, ``gave_up``), ``limit`` (1–1000, default 100). Each record:
event id, endpoint, type, incident (or handoff), the first and last attempt, attempts,
the last status code or error, the next attempt and the state. Any API token (read scope)."""
from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Depends, Query, Request

from integrations.webhooks import STATES
from routing.errors import Invalid
from service.api.auth import Caller
from service.api.incidents import reader

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"])


def deliveries(herald: Any, endpoint: str | None, state: str | None, limit: int) -> list[dict[str, Any]]:
    """The records asked for; ``Invalid`` naming the field for an unknown endpoint or state
    (the console's page uses it too)."""
    names = [e.name for e in herald.config.webhooks]
    if endpoint is not None and endpoint not in names:
        known = ", ".join(names) or "none is configured"
        raise Invalid(f"endpoint: no webhook endpoint named {endpoint!r} ({known})", field="endpoint")
    if state is not None and state not in STATES:
        raise Invalid(f"state: {state!r} is not one of {', '.join(STATES)}", field="state")
    found = herald.webhooks.recent([endpoint] if endpoint else names, state, limit)
    return [asdict(record) for record in found]


@router.get("/deliveries")
def list_deliveries(request: Request, endpoint: str | None = Query(None, max_length=200),
                    state: str | None = Query(None, max_length=20), limit: int = Query(100, ge=1, le=1000),
                    caller: Caller = Depends(reader)) -> dict[str, Any]:
    """The newest webhook deliveries, newest first."""
    herald = request.app.state.herald
    return {"endpoints": [{"name": e.name, "events": sorted(e.events)} for e in herald.config.webhooks],
            "deliveries": deliveries(herald, endpoint, state, limit)}
