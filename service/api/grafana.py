"""``POST /api/v1/grafana`` — Grafana Alerting's webhook contact point (payload version "1").

The key of a ``kind: grafana`` integration is the credential, as Grafana's webhook contact
point sends it: ``Authorization: Bearer <key>`` (its "Authorization header" setting) or
HTTP basic auth whose password is the key (any user name). Answers as the Alertmanager
route does: 200 ``{"status": "stored", "incidents": [...]}`` once the incident is durably in
Redis, 400 naming the field for a body that is not Grafana's payload, 401 for a missing or
unknown key, 403 for the key of another kind's integration, 413 over the size limit, 429
with ``Retry-After`` over the integration's rate, 503 while Redis is unavailable (Grafana
retries). Grouped by Grafana's ``groupKey``: a notification whose alerts resolved resolves.
"""
from __future__ import annotations

from dataclasses import replace

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from routing.grafana import GrafanaPayload, grafana_group
from routing.grouping import AlertGroup, body_digest
from routing.integration import Integration
from service.api.alertmanager import _driver, _explain, read_body
from service.api.source_keys import integration_key, refuse
from service.engine.ingest_flow import digested_group_flow
from service.engine.sources import admit_flow, admitted_group_flow, file_integration

router = APIRouter()


@router.post("/api/v1/grafana", tags=["integrations"])
async def receive_grafana(request: Request) -> JSONResponse:
    """Receive one Grafana Alerting webhook notification for a ``kind: grafana`` integration."""
    herald = request.app.state.herald
    key = integration_key(request)
    known = file_integration(herald, key, "grafana")
    async with _driver(request) as ingest:
        admission = None if known is not None else await ingest.run(admit_flow(herald, key, "grafana"))
        if admission is not None:
            refuse(admission, "grafana")
        body = await read_body(request, herald.settings.max_body_bytes)
        try:
            payload = GrafanaPayload.model_validate_json(body)
        except ValidationError as exc:
            if admission is None:  # the file's key, not yet checked: a revoked one is a 401 first
                refuse(await ingest.run(admit_flow(herald, key, "grafana")), "grafana")
            raise HTTPException(400, _explain(exc, what="a Grafana webhook payload")) from None
        incidents = None
        if known is not None:  # the key checked in the same round trip as the group's read
            group = _group(herald, known, payload, body)
            admission, incidents = await ingest.run(admitted_group_flow(herald, key, known, group))
            refuse(admission, "grafana")
        assert admission is not None and admission.integration is not None
        if incidents is None:
            group = _group(herald, admission.integration, payload, body)
            incidents = await ingest.run(digested_group_flow(herald, group))
    return JSONResponse({"status": "stored", "incidents": incidents})


def _group(herald, integration: Integration, payload: GrafanaPayload, body: bytes) -> AlertGroup:
    """The notification's group, its digest of the body as received: a re-send of the same
    notification (Grafana repeats a group's) is answered from one read."""
    group = grafana_group(payload, integration, herald.config.route, herald.config.severity)
    return replace(group, digest=body_digest(integration.name.encode() + b"\0" + body))
