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
from routing.grouping import body_digest
from service.api.alertmanager import _driver, read_body
from service.api.source_keys import integration_key, refuse
from service.engine.ingest_flow import digested_group_flow
from service.engine.sources import admit_flow

router = APIRouter()


def explain(exc: ValidationError, what: str) -> str:
    """The first problem, named by where it is in the body."""
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "body"
    more = f" (and {exc.error_count() - 1} more problems)" if exc.error_count() > 1 else ""
    return f"not {what}: {where}: {first['msg']}{more}"


@router.post("/api/v1/grafana", tags=["integrations"])
async def receive_grafana(request: Request) -> JSONResponse:
    """Receive one Grafana Alerting webhook notification for a ``kind: grafana`` integration."""
    herald = request.app.state.herald
    key = integration_key(request)
    async with _driver(request) as ingest:
        admission = await ingest.run(admit_flow(herald, key, "grafana"))
        refuse(admission, "grafana")
        assert admission.integration is not None
        body = await read_body(request, herald.settings.max_body_bytes)
        try:
            payload = GrafanaPayload.model_validate_json(body)
        except ValidationError as exc:
            raise HTTPException(400, explain(exc, "a Grafana webhook payload")) from None
        group = grafana_group(payload, admission.integration, herald.config.route, herald.config.severity)
        # A re-send of the same notification (Grafana repeats a group's) is one round trip.
        digest = body_digest(admission.integration.name.encode() + b"\0" + body)
        incidents = await ingest.run(digested_group_flow(herald, replace(group, digest=digest)))
    return JSONResponse({"status": "stored", "incidents": incidents})
