"""Incidents: list, read, acknowledge, resolve. Every route needs an API token: reading
needs the ``read`` scope (contact details only with ``write`` or ``admin``), acting on
an incident the ``write`` scope.

Every action takes ``"as": "<person id>"`` in its body: the person it is done for. It is
recorded as ``by`` (``acknowledged_by``, ``resolved_by``, the timeline) with the token's
name as ``token``; without it, ``by`` is the token's name. A person not in the
configuration is a 422 and changes nothing. ``ack`` and ``resolve`` also take a ``note``
(at most 2000 characters), kept on the timeline entry of the action."""
from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator

from routing.errors import Invalid, NotFound
from routing.incident import Acknowledge, AddNote, AlertState, Command, EscalateNow, Incident, Reassign, Resolve, Snooze
from service.api.auth import Caller, check_api, require_scope
from service.api.redact import redact_contacts
from service.engine.people import contact_book

router = APIRouter(prefix="/api/v1/incidents", tags=["incidents"])


def api_caller(request: Request) -> str:
    """An admin token's caller name (for admin-only routes)."""
    return check_api(request, request.app.state.herald.settings)


reader, writer = require_scope("read"), require_scope("write")


def _shown(request: Request, caller: Caller, data: dict[str, Any]) -> dict[str, Any]:
    return data if caller.may_see_contacts else redact_contacts(data, contact_book(request.app.state.herald))


def _public(incident: Incident) -> dict[str, Any]:
    """The incident as the API shows it: ``alerts`` holds its firing alerts and the most
    recently resolved ones (the rest: ``GET …/alerts``), ``alerts_total`` counts them all."""
    data = incident.model_dump(mode="json", exclude={"ended"})
    data["alerts_total"] = len(incident.alerts) + len(incident.ended)
    return data


def _summary(incident: Incident) -> dict[str, Any]:
    data = incident.model_dump(mode="json", exclude={"timeline", "pages", "alerts", "ended"})
    data["alerts"] = len(incident.alerts) + len(incident.ended)
    return data


def alerts_page(alerts: list[AlertState], status: str, offset: int, limit: int) -> tuple[int, list[AlertState]]:
    """(how many match, the page): firing alerts first, earliest start first; then
    resolved ones, latest end first; fingerprint breaks ties, so pages never overlap."""
    chosen = [a for a in alerts if status == "all" or a.status == status]
    firing = sorted((a for a in chosen if a.status == "firing"), key=lambda a: (a.starts_at, a.fingerprint))
    ended = sorted((a for a in chosen if a.status != "firing"),
                   key=lambda a: (-(a.ends_at or a.starts_at).timestamp(), a.fingerprint))
    ordered = firing + ended
    return len(ordered), ordered[offset:offset + limit]


def all_alerts(request: Request, incident: Incident) -> list[AlertState]:
    """Every alert the incident tracks: its hot record's and those moved out of it."""
    return list(incident.alerts.values()) + request.app.state.herald.store.moved_out_alerts(incident)


@router.get("")
def list_incidents(
    request: Request,
    status: Literal["open", "all"] = Query("all", description="open: triggered or acknowledged only"),
    limit: int = Query(100, ge=1, le=1000),
    caller: Caller = Depends(reader),
) -> dict[str, Any]:
    """Incidents, newest first, without their timelines."""
    store = request.app.state.herald.store
    incidents = store.list(open_only=status == "open", limit=limit)
    return _shown(request, caller, {"incidents": [_summary(i) for i in incidents]})


@router.get("/{incident_id}")
def get_incident(incident_id: str, request: Request, caller: Caller = Depends(reader)) -> dict[str, Any]:
    """One incident with its alerts, pages and whole timeline."""
    incident = request.app.state.herald.store.get(incident_id)
    if incident is None:
        raise NotFound(f"no incident {incident_id!r}")
    return _shown(request, caller, _public(incident))


@router.get("/{incident_id}/alerts")
def get_incident_alerts(
    incident_id: str,
    request: Request,
    status: Literal["all", "firing", "resolved"] = Query("all", description="only firing or only resolved alerts"),
    offset: int = Query(0, ge=0, le=1_000_000, description="alerts to skip"),
    limit: int = Query(100, ge=1, le=1000, description="alerts to answer at most"),
    caller: Caller = Depends(reader),
) -> dict[str, Any]:
    """An incident's alerts, a page at a time: firing first (earliest start first), then
    resolved (latest end first). ``total``: how many match ``status``;
    ``untracked_alerts``: firing alerts of the group beyond
    ``HERALD_MAX_ALERTS_PER_INCIDENT``, counted but not kept."""
    incident = request.app.state.herald.store.get(incident_id)
    if incident is None:
        raise NotFound(f"no incident {incident_id!r}")
    total, chosen = alerts_page(all_alerts(request, incident), status, offset, limit)
    return _shown(request, caller, {
        "incident": incident.id, "status": status, "offset": offset, "limit": limit, "total": total,
        "untracked_alerts": incident.untracked_alerts, "alerts": [a.model_dump(mode="json") for a in chosen]})


def _act(request: Request, incident_id: str, command: Command) -> dict[str, Any]:
    herald = request.app.state.herald
    # decide()'s own checks are Invalid (400); a policy removed from the configuration
    # is a Conflict (409) and changes nothing: service/api/errors.py answers either.
    decision = herald.act(incident_id, command)
    if decision.incident is None:
        raise NotFound(f"no incident {incident_id!r}")
    return _public(decision.incident)


class ActBody(BaseModel):
    """What every action takes: optionally, the person it is done for."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    as_person: str | None = Field(None, alias="as", description=(
        "the id of the person this is done for (a person in the configuration): recorded as `by`, "
        "with the token's name as `token`; default: the token's name as `by`"))


class CloseBody(ActBody):
    note: str = Field("", max_length=2000, description="kept on the timeline with the action")


def _actor(request: Request, caller: Caller, body: ActBody | None) -> dict[str, str]:
    """``by``/``via``/``token`` for the command: the named person (422 when unknown), else the token."""
    person = body.as_person if body is not None else None
    if person is None:
        return {"by": caller.name, "via": "api"}
    if person not in request.app.state.herald.config.people:
        raise HTTPException(422, f"field 'as' in the body: no person with id {person!r} in the configuration")
    return {"by": person, "via": "api", "token": caller.name}


@router.post("/{incident_id}/ack")
def acknowledge(incident_id: str, request: Request, body: CloseBody | None = None,
                caller: Caller = Depends(writer)) -> dict[str, Any]:
    """Acknowledge: stop escalating. Acknowledging twice is harmless (a ``note`` with the
    second one is kept as a note). The body is optional: ``{"as": person, "note": text}``."""
    note = body.note if body is not None else ""
    return _act(request, incident_id, Acknowledge(**_actor(request, caller, body), note=note))


@router.post("/{incident_id}/resolve")
def resolve(incident_id: str, request: Request, body: CloseBody | None = None,
            caller: Caller = Depends(writer)) -> dict[str, Any]:
    """Resolve: close the incident; nothing more is paged for it. The body is optional:
    ``{"as": person, "note": text}`` (the note is kept on the ``resolved`` entry)."""
    note = body.note if body is not None else ""
    return _act(request, incident_id, Resolve(**_actor(request, caller, body), note=note))


@router.post("/{incident_id}/escalate")
def escalate_now(incident_id: str, request: Request, body: ActBody | None = None,
                 caller: Caller = Depends(writer)) -> dict[str, Any]:
    """Page the next tier now (an acknowledged incident is triggered again). Optional body: ``{"as": person}``."""
    return _act(request, incident_id, EscalateNow(**_actor(request, caller, body)))


class ReassignBody(ActBody):
    person: str | None = None
    tier: str | None = None

    @model_validator(mode="after")
    def _one(self) -> "ReassignBody":
        if (self.person is None) == (self.tier is None):
            raise ValueError("give exactly one of person or tier")
        return self


@router.post("/{incident_id}/reassign")
def reassign(incident_id: str, body: ReassignBody, request: Request,
             caller: Caller = Depends(writer)) -> dict[str, Any]:
    """Page one person (by id) or one tier of the incident's policy, now."""
    herald = request.app.state.herald
    actor = _actor(request, caller, body)
    if body.person is not None and body.person not in herald.config.people:
        raise Invalid(f"person: no person with id {body.person!r}")
    if body.tier is not None:
        incident = herald.store.get(incident_id)
        if incident is None:
            raise NotFound(f"no incident {incident_id!r}")
        policy = herald.config.policies.get(incident.policy)
        tiers = [t.name for t in policy.tiers] if policy is not None else []
        if body.tier not in tiers:
            raise Invalid(f"tier: policy {incident.policy!r} has no tier {body.tier!r} "
                                     f"(its tiers: {', '.join(tiers)})")
    return _act(request, incident_id, Reassign(**actor, person=body.person, tier=body.tier))


class SnoozeBody(ActBody):
    minutes: int = Field(ge=1, le=24 * 60)


@router.post("/{incident_id}/snooze")
def snooze(incident_id: str, body: SnoozeBody, request: Request, caller: Caller = Depends(writer)) -> dict[str, Any]:
    """Quiet the incident for ``minutes``; it pages again afterwards unless resolved."""
    return _act(request, incident_id, Snooze(**_actor(request, caller, body), minutes=body.minutes))


class NoteBody(ActBody):
    text: str = Field(min_length=1, max_length=2000)


@router.post("/{incident_id}/notes")
def add_note(incident_id: str, body: NoteBody, request: Request, caller: Caller = Depends(writer)) -> dict[str, Any]:
    """Add a note to the timeline."""
    return _act(request, incident_id, AddNote(**_actor(request, caller, body), text=body.text))
