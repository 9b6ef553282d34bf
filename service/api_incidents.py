"""Incidents: list, read, acknowledge, resolve. Every route needs an API token."""
from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request

from routing.incident import Acknowledge, Incident, Resolve
from service.auth import check_api

router = APIRouter(prefix="/api/v1/incidents", tags=["incidents"])


def api_caller(request: Request) -> str:
    return check_api(request, request.app.state.herald.settings)


def _public(incident: Incident) -> dict[str, Any]:
    return incident.model_dump(mode="json")


def _summary(incident: Incident) -> dict[str, Any]:
    data = incident.model_dump(mode="json", exclude={"timeline", "pages", "alerts"})
    data["alerts"] = len(incident.alerts)
    return data


@router.get("")
def list_incidents(
    request: Request,
    status: Literal["open", "all"] = Query("all", description="open: triggered or acknowledged only"),
    limit: int = Query(100, ge=1, le=1000),
    _caller: str = Depends(api_caller),
) -> dict[str, Any]:
    """Incidents, newest first, without their timelines."""
    store = request.app.state.herald.store
    incidents = store.list(open_only=status == "open", limit=limit)
    return {"incidents": [_summary(i) for i in incidents]}


@router.get("/{incident_id}")
def get_incident(incident_id: str, request: Request, _caller: str = Depends(api_caller)) -> dict[str, Any]:
    """One incident with its alerts, pages and whole timeline."""
    incident = request.app.state.herald.store.get(incident_id)
    if incident is None:
        raise HTTPException(404, f"no incident {incident_id!r}")
    return _public(incident)


def _act(request: Request, incident_id: str, command: Acknowledge | Resolve) -> dict[str, Any]:
    herald = request.app.state.herald
    decision = herald.act(incident_id, command)
    if decision.incident is None:
        raise HTTPException(404, f"no incident {incident_id!r}")
    return _public(decision.incident)


@router.post("/{incident_id}/ack")
def acknowledge(incident_id: str, request: Request, caller: str = Depends(api_caller)) -> dict[str, Any]:
    """Acknowledge: stop escalating. Acknowledging twice is harmless."""
    return _act(request, incident_id, Acknowledge(by=caller, via="api"))


@router.post("/{incident_id}/resolve")
def resolve(incident_id: str, request: Request, caller: str = Depends(api_caller)) -> dict[str, Any]:
    """Resolve: close the incident; nothing more is paged for it."""
    return _act(request, incident_id, Resolve(by=caller, via="api"))
