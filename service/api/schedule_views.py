"""What the schedule APIs and ``herald oncall`` share: who may see what, time
parameters, and the JSON shape of an on-call entry.

Routes authenticate with ``service.api.auth`` (any API token) and check one permission
each: ``schedules:read``, ``schedules:write`` (uploads), ``handoffs:write``,
``feeds:admin``; ``contacts:read`` decides whether entries carry contact details.

An on-call entry: ``schedule``, ``tier``, ``person`` (id), ``name``, ``start``, ``end``
(the effective stretch, UTC), ``source`` (``calendar`` | ``handoff``); a handoff adds
``handoff`` (its id) and ``note``. ``contact`` (email, phone) is included only for
callers whose token grants ``contacts:read``.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from fastapi import HTTPException, Request

from routing.errors import Invalid, NotFound
from schedules.model import Person, Shift
from service.api.auth import Caller, authenticate

_OFFSET_AFTER_SPACE = re.compile(r" (\d{2}:?\d{2})$")


def api_caller(request: Request) -> Caller:
    """The caller of a schedule API route (Authorization: Bearer <API token>), any scope."""
    return authenticate(request, request.app.state.herald.settings)


def require(caller: Caller, permission: str) -> None:
    """403 unless the caller's token grants ``permission`` (see ``service.api.auth.PERMISSIONS``)."""
    if not caller.can(permission):
        raise HTTPException(403, f"this API token lacks the {permission} permission")


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def parse_time(value: str | None, field: str, default: datetime) -> datetime:
    """An ISO 8601 time (a time without an offset is UTC); ValueError names ``field``.

    A ``+02:00`` offset sent unencoded in a query string arrives as `` 02:00``; it is
    read as the offset it was meant to be.
    """
    if value is None or not value.strip():
        return default
    text = _OFFSET_AFTER_SPACE.sub(r"+\1", value.strip())
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise Invalid(f"{field}: not an ISO 8601 time: {value!r} (e.g. 2026-05-01T09:00:00Z)", field=field) from None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def query_time(value: str | None, field: str, default: datetime) -> datetime:
    """``parse_time`` for an HTTP parameter: ``Invalid`` naming the field, which the API
    answers 400 (service/api/errors.py)."""
    return parse_time(value, field, default)


def entry(schedule: str, shift: Shift, people: Mapping[str, Person], *, contacts: bool) -> dict[str, Any]:
    person = people.get(shift.person)
    out: dict[str, Any] = {
        "schedule": schedule, "tier": shift.tier, "person": shift.person,
        "name": person.name if person else shift.person,
        "start": iso(shift.start), "end": iso(shift.end), "source": shift.source,
    }
    if shift.source == "handoff":
        out["handoff"], out["note"] = shift.uid, shift.note
    if contacts:
        out["contact"] = {"email": person.email if person else None, "phone": person.phone if person else None}
    return out


def schedule_or_404(request: Request, name: str) -> Any:
    """The schedule's config (404 when the configuration has no such schedule)."""
    spec = request.app.state.herald.config.schedules.get(name)
    if spec is None:
        raise NotFound(f"no schedule named {name!r}")
    return spec
