"""``/api/v1/integrations``: the sources other than Alertmanager and their keys (admin).

An integration is defined in the configuration file (``integrations:``) or here. Its key
is shown once, when it is made; Herald keeps only its SHA-256. A key is revoked on its
own, or every key at once by a rotation (the file's key too: it stays revoked across
restarts until the file gives another). Integrations from the file are changed in the
file: here they answer 409 to a change, but their keys can be made and revoked.
"""
from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from integrations.config.model import IntegrationSpec
from integrations.integration_store import KeyInfo
from routing.generic_json import MappingError, event_of
from routing.errors import Conflict, Invalid, NotFound
from routing.integration import Integration
from service.api.auth import Caller, require_scope
from service.api.errors import sentence
from service.engine.sources import integration_of

router = APIRouter(prefix="/api/v1/integrations", tags=["integrations"])
admin = require_scope("admin")

#: Where each kind's callers send their events (the path of its route).
ENDPOINTS = {"pagerduty": "/v2/enqueue", "opsgenie": "/v2/alerts", "grafana": "/api/v1/grafana",
             "generic": "/api/v1/integrations/{name}/events"}


class IntegrationBody(BaseModel):
    """An integration made with the API (the name is in the path; the key is made here)."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["pagerduty", "opsgenie", "grafana", "generic"]
    policy: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    severity: dict[str, Literal["P0", "P1", "P2", "P3"]] = Field(default_factory=dict)
    default_severity: Literal["P0", "P1", "P2", "P3"] = "P2"
    rate_per_minute: int = Field(120, ge=1, le=1_000_000)
    mapping: dict[str, str] = Field(default_factory=dict)
    sample: Any = None


def _file_digest(request: Request, name: str) -> str:
    return next((d for d, n in request.app.state.herald.config.integration_keys.items() if n == name), "")


def _all(request: Request) -> dict[str, Integration]:
    herald = request.app.state.herald
    made = {name: integration_of(herald, name, definition)
            for name, definition in herald.integrations.definitions().items()}
    return {**{n: i for n, i in made.items() if i is not None}, **herald.config.integrations}


def _found(request: Request, name: str) -> Integration:
    found = _all(request).get(name)
    if found is None:
        raise NotFound(f"no integration named {name!r}", field="name")
    return found


def _key(info: KeyInfo) -> dict[str, str]:
    return {"id": info.id, "origin": info.origin, "created_at": info.created_at}


def _out(request: Request, integration: Integration) -> dict[str, Any]:
    herald = request.app.state.herald
    return {"name": integration.name, "kind": integration.kind, "origin": integration.origin,
            "policy": integration.policy, "labels": dict(integration.labels),
            "severity": dict(integration.severity), "default_severity": integration.default_severity,
            "rate_per_minute": integration.rate_per_minute, "mapping": dict(integration.mapping),
            "receiver": integration.receiver,
            "endpoint": ENDPOINTS[integration.kind].format(name=integration.name),
            "keys": [_key(k) for k in herald.integrations.keys_of(integration.name,
                                                                 _file_digest(request, integration.name))]}


@router.get("")
def list_integrations(request: Request, _caller: Caller = Depends(admin)) -> dict[str, Any]:
    """Every integration, from the file and made here, with its keys' ids (never the keys)."""
    return {"integrations": [_out(request, i) for _, i in sorted(_all(request).items())]}


@router.get("/{name}")
def get_integration(name: str, request: Request, _caller: Caller = Depends(admin)) -> dict[str, Any]:
    return _out(request, _found(request, name))


@router.put("/{name}")
def put_integration(name: str, body: IntegrationBody, request: Request,
                    _caller: Caller = Depends(admin)) -> dict[str, Any]:
    """Make or change an integration. Made: the answer carries its first key, once."""
    herald = request.app.state.herald
    if name in herald.config.integrations:
        raise Conflict(f"integration {name!r} is defined in the configuration file; change it there",
                       field="name")
    definition = body.model_dump(exclude_defaults=False)
    try:
        spec = IntegrationSpec.model_validate({**definition, "name": name})
    except ValidationError as exc:
        raise Invalid(sentence(exc.errors(), within=("body",))) from None
    if spec.policy is not None and spec.policy not in herald.config.policies:
        raise Invalid(f"policy: no policy named {spec.policy!r}", field="policy")
    if spec.sample is not None:  # read as the route would read it (routing.generic_json), as the file's is
        try:
            event_of(spec.build(), spec.sample)
        except MappingError as exc:
            raise Invalid(f"sample: {exc}", field="sample") from None
    created = herald.integrations.put(name, definition)
    out = _out(request, _found(request, name))
    if created:
        key_id, key = herald.integrations.new_key(name, herald.clock())
        out = {**out, "key": key, "key_id": key_id, "keys": _out(request, _found(request, name))["keys"]}
    return out


@router.delete("/{name}")
def delete_integration(name: str, request: Request, _caller: Caller = Depends(admin)) -> dict[str, Any]:
    """Remove an integration made here; its keys stop working at once."""
    herald = request.app.state.herald
    if name in herald.config.integrations:
        raise Conflict(f"integration {name!r} is defined in the configuration file; remove it there",
                       field="name")
    if not herald.integrations.delete(name):
        raise NotFound(f"no integration named {name!r}", field="name")
    return {"deleted": name}


@router.post("/{name}/keys", status_code=201)
def new_key(name: str, request: Request, _caller: Caller = Depends(admin)) -> dict[str, Any]:
    """A new key beside the others (to move callers over, then revoke the old one). The key
    is in this answer only."""
    herald = request.app.state.herald
    _found(request, name)
    key_id, key = herald.integrations.new_key(name, herald.clock())
    return {"integration": name, "key_id": key_id, "key": key}


@router.post("/{name}/rotate", status_code=201)
def rotate(name: str, request: Request, _caller: Caller = Depends(admin)) -> dict[str, Any]:
    """A new key, and every other key of the integration revoked in the same step."""
    herald = request.app.state.herald
    _found(request, name)
    key_id, key = herald.integrations.new_key(name, herald.clock(), revoke_others=True,
                                              file_digest=_file_digest(request, name))
    return {"integration": name, "key_id": key_id, "key": key}


@router.delete("/{name}/keys/{key_id}")
def revoke(name: str, key_id: str, request: Request, _caller: Caller = Depends(admin)) -> dict[str, Any]:
    """Revoke one key (``file``: the configuration file's)."""
    herald = request.app.state.herald
    _found(request, name)
    if not herald.integrations.revoke(name, key_id, _file_digest(request, name)):
        raise NotFound(f"integration {name!r} has no live key {key_id!r}", field="key_id")
    return {"integration": name, "revoked": key_id}
