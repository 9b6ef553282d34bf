"""``POST /api/v1/integrations/{name}/events`` — any JSON, read through a generic
integration's mapping (``routing.generic_json``).

``Authorization: Bearer <key>``: a key of integration ``{name}``, of kind ``generic``.
Answers 200 ``{"status": "stored", "dedup_key": ..., "incidents": [...]}`` once the event
is durably in Redis (``incidents``: those it touched; none for an acknowledge or resolve
of a key with no open incident); 400 ``{"detail": ...}`` for a body that is not JSON or
that the mapping cannot read, naming the field and its expression; 401 for a missing or
unknown key; 403 for a key of another integration; 413 over the size limit; 429 with
``Retry-After`` over the integration's rate.
"""
from __future__ import annotations

import json

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse

from routing.generic_json import MappingError, event_of
from service.api.alertmanager import _driver, read_body
from service.api.source_keys import integration_key, refuse
from service.engine.sources import Admission, admit_flow, admitted_event_flow, event_flow, file_integration

router = APIRouter()


@router.post("/api/v1/integrations/{name}/events", tags=["integrations"])
async def receive_event(name: str, request: Request) -> JSONResponse:
    """Receive one JSON event for the generic integration ``name``."""
    herald = request.app.state.herald
    key = integration_key(request)
    async with _driver(request) as ingest:
        known = file_integration(herald, key, "generic")
        files_own = known is not None and known.name == name
        admission = None if files_own else await ingest.run(admit_flow(herald, key, "generic"))
        if admission is not None:
            _check(admission, name)
        body = await read_body(request, herald.settings.max_body_bytes)
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):
            await _admitted_before_refusing(ingest, herald, key, name, admission)
            raise HTTPException(400, "body: not a JSON document") from None
        if admission is None:  # the file's key for this integration: the key is checked with the group's read
            try:
                event = event_of(herald.config.integrations[name], data)
            except MappingError as exc:
                await _admitted_before_refusing(ingest, herald, key, name, admission)
                raise HTTPException(400, str(exc)) from None
            admission, incidents = await ingest.run(admitted_event_flow(herald, key, "generic", lambda _: event))
            _check(admission, name)
        else:
            integration = admission.integration
            assert integration is not None
            try:
                event = event_of(integration, data)
            except MappingError as exc:
                raise HTTPException(400, str(exc)) from None
            incidents = await ingest.run(event_flow(herald, integration, event))
    return JSONResponse({"status": "stored", "dedup_key": event.dedup_key, "incidents": incidents})


def _check(admission: Admission, name: str) -> None:
    refuse(admission, "generic")
    assert admission.integration is not None
    if admission.integration.name != name:
        raise HTTPException(403, f"this key belongs to integration {admission.integration.name!r}, not {name!r}")


async def _admitted_before_refusing(ingest, herald, key: str, name: str, admission: Admission | None) -> None:
    """A body refused before its key was checked: check the key first (a revoked key is a 401)."""
    if admission is None:
        _check(await ingest.run(admit_flow(herald, key, "generic")), name)
