"""Drills: a real incident, marked DRILL, through the real chain with real pages.

``POST /api/v1/drills`` with ``{"policy": NAME, "severity": "P1"}`` (that policy) or
``{"labels": {...}, "severity": "P1"}`` (routed through the route tree like an alert
with those labels; several policies if routes ``continue``) opens one incident per
policy: its pages say DRILL (SMS and call "DRILL …", email "[DRILL] …"). Acknowledge
and resolve it like any incident (SMS reply, link, API). ``GET /api/v1/drills`` and
``GET /api/v1/drills/{id}`` answer the result, computed from the incident's timeline:
time to first page, time to acknowledge (which tier, after how long; each tier's
window), time to resolve, and whether the acknowledgement SLA was met — the policy's
first-tier window for the severity (defaults P0/P1 5 min, P2 15 min, P3 1 h; P0
"immediate" pages L1 and L2 at once and is met when acknowledged before anything
escalates). See ``routing/reports.py``. Every route needs the API token.
"""
from __future__ import annotations

import secrets
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator

from routing.errors import Invalid, NotFound
from routing.incident import Incident
from routing.reports import drill_result
from service.api.incidents import api_caller, reader
from service.api.auth import Caller
from service.engine.ingest import ingest_synthetic

router = APIRouter(prefix="/api/v1/drills", tags=["drills"])


class DrillBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    policy: str | None = Field(None, description="run the drill on this policy")
    labels: dict[str, str] | None = Field(None, description="or route these labels through the route tree")
    severity: Literal["P0", "P1", "P2", "P3"]
    title: str | None = Field(None, min_length=1, max_length=150)

    @model_validator(mode="after")
    def _one(self) -> "DrillBody":
        if (self.policy is None) == (self.labels is None):
            raise ValueError("give exactly one of policy or labels")
        return self


def _result(request: Request, incident: Incident) -> dict[str, Any]:
    herald = request.app.state.herald
    return drill_result(incident, herald.config.policies.get(incident.policy), herald.clock())


@router.post("", status_code=201)
def start_drill(body: DrillBody, request: Request, caller: str = Depends(api_caller)) -> dict[str, Any]:
    """Start a drill: a DRILL incident that pages the policy's tiers for real."""
    herald = request.app.state.herald
    if body.policy is not None and body.policy not in herald.config.policies:
        raise Invalid(f"policy: no policy named {body.policy!r}")
    labels = {"alertname": "HeraldDrill", **(body.labels or {}),
              herald.config.severity.priority_label: body.severity}
    where = f"policy {body.policy}" if body.policy else "the route tree"
    annotations = {"summary": body.title or f"paging drill {body.severity} on {where}",
                   "description": f"A drill started by {caller}: acknowledge and resolve it like a real incident."}
    decisions = ingest_synthetic(herald, f"drill:{secrets.token_hex(8)}", labels, annotations, "firing",
                                 body.severity, drill=True, policy=body.policy)
    opened = [d.incident for d in decisions if d.incident is not None]
    herald.drills.add(opened)
    return {"drills": [_result(request, i) for i in opened]}


@router.get("")
def list_drills(request: Request, limit: int = Query(50, ge=1, le=500),
                _caller: Caller = Depends(reader)) -> dict[str, Any]:
    """Drills, newest first, with their results."""
    herald = request.app.state.herald
    found = (herald.store.get(i) for i in herald.drills.newest(limit))
    return {"drills": [_result(request, i) for i in found if i is not None]}


@router.get("/{incident_id}")
def get_drill(incident_id: str, request: Request, _caller: Caller = Depends(reader)) -> dict[str, Any]:
    """One drill's result (time to first page, to acknowledge per tier, to resolve, SLA met)."""
    incident = request.app.state.herald.store.get(incident_id)
    if incident is None or not incident.drill:
        raise NotFound(f"no drill {incident_id!r}")
    return _result(request, incident)
