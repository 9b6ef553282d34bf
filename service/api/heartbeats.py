"""Heartbeats: a job or system pings Herald; if the pings stop, Herald pages.

``POST /api/v1/heartbeats/{name}`` pings (and the first ping creates) the heartbeat
``name`` (letters, digits, ``_ . -``; up to 64). The optional JSON body sets
``timeout`` (``"90s"``, ``"10m"``, ``"1h"`` or seconds; the first ping's default is
5 m, later pings keep the last one) and ``severity`` of the incident (P0–P3, default
P1). When no ping arrives within the timeout, a worker opens an incident
"heartbeat NAME missed" routed through the route tree (labels
``alertname="HeraldHeartbeatMissing"``, ``heartbeat="NAME"``) and pages; the next ping
resolves it. Alertmanager's Watchdog is the heartbeat ``watchdog`` (configured in the
YAML file, not pinged here). Every route needs the API token.
"""
from __future__ import annotations

import re
from datetime import timedelta
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from routing.errors import Invalid, NotFound
from service.engine import heartbeats
from service.api.incidents import reader, writer
from service.api.auth import Caller
from integrations.config.model import parse_duration

router = APIRouter(prefix="/api/v1/heartbeats", tags=["heartbeats"])

MIN_TIMEOUT, MAX_TIMEOUT = timedelta(seconds=1), timedelta(days=30)


class PingBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    timeout: str | int | float | None = Field(None, description='e.g. "90s", "10m", "1h30m" or seconds')
    severity: Literal["P0", "P1", "P2", "P3"] | None = None


def _name(name: str) -> str:
    if not re.fullmatch(heartbeats.NAME_PATTERN, name):
        raise Invalid("a heartbeat name is 1-64 letters, digits, '_', '.' or '-'")
    return name


def _timeout(value: str | int | float | None) -> float | None:
    if value is None:
        return None
    try:
        delta = parse_duration(value)
    except ValueError as exc:
        raise Invalid(f"timeout: {exc}") from None
    if not MIN_TIMEOUT <= delta <= MAX_TIMEOUT:
        raise Invalid("timeout: between 1s and 30 days")
    return delta.total_seconds()


@router.post("/{name}")
def ping(name: str, request: Request, body: PingBody | None = None,
         _caller: Caller = Depends(writer)) -> dict[str, Any]:
    """Ping the heartbeat (creating it on the first ping); resolves its incident if it had gone silent."""
    herald = request.app.state.herald
    if _name(name) == heartbeats.WATCHDOG:
        raise Invalid("the name 'watchdog' is Alertmanager's Watchdog alert; pick another")
    body = body or PingBody()
    beat = heartbeats.ping(herald, name, timeout=_timeout(body.timeout), severity=body.severity)
    return beat.view(herald.clock())


@router.get("")
def list_heartbeats(request: Request, _caller: Caller = Depends(reader)) -> dict[str, Any]:
    """Every heartbeat: name, kind, last ping, timeout, deadline and state (ok | late)."""
    herald = request.app.state.herald
    now = herald.clock()
    return {"heartbeats": [b.view(now) for b in heartbeats.heartbeat_store(herald).all()]}


@router.get("/{name}")
def get_heartbeat(name: str, request: Request, _caller: Caller = Depends(reader)) -> dict[str, Any]:
    """One heartbeat."""
    herald = request.app.state.herald
    beat = heartbeats.heartbeat_store(herald).get(_name(name))
    if beat is None:
        raise NotFound(f"no heartbeat {name!r}")
    return beat.view(herald.clock())


@router.delete("/{name}")
def delete_heartbeat(name: str, request: Request, _caller: Caller = Depends(writer)) -> dict[str, Any]:
    """Stop watching the heartbeat; an incident open for its silence is resolved."""
    herald = request.app.state.herald
    beat = heartbeats.remove(herald, _name(name))
    if beat is None:
        raise NotFound(f"no heartbeat {name!r}")
    return {"deleted": name, "resolved_silence": beat.missing_since is not None}
