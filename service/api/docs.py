"""The API reference at ``/docs`` (Swagger UI) and ``/redoc``, working without the
internet, and the OpenAPI document's security schemes.

FastAPI's own pages load Swagger UI and ReDoc from a CDN, so on an air-gapped site they
stay blank. ``fastapi-offline`` ships both in its package; they are served from
``/static-offline-docs/``. The OpenAPI document declares how each route authenticates,
so Swagger UI's *Authorize* button takes a token and *Try it out* sends it:

- ``apiToken``: ``Authorization: Bearer <HERALD_API_TOKEN or a HERALD_API_TOKENS token>``
  — every route under ``/api/v1`` but those below;
- ``alertmanagerToken`` / ``alertmanagerBasic``: Alertmanager's own credential, for
  ``POST /api/v1/alertmanager`` only;
- ``integrationKey`` / ``integrationBasic``: an integration's key, for Grafana's webhook
  (``POST /api/v1/grafana``, bearer or basic) and a generic integration's events (bearer);
- the calendar feeds (``….ics``) take an API token or their ``?token=`` feed token.

Everything else (health, metrics, ack links, provider webhooks) declares none: it is
open, or checked by a provider's signature or a link's own token.
"""
from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from fastapi import FastAPI

API_PREFIX = "/api/v1/"
ALERTMANAGER_PATH = "/api/v1/alertmanager"
GRAFANA_PATH = "/api/v1/grafana"
GENERIC_EVENTS_PATH = "/api/v1/integrations/{name}/events"
DOCS_ASSETS = "/static-offline-docs"

SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    "apiToken": {"type": "http", "scheme": "bearer",
                 "description": "An API token: HERALD_API_TOKEN (admin) or one of HERALD_API_TOKENS "
                                "(read, write or admin scope)."},
    "alertmanagerToken": {"type": "http", "scheme": "bearer",
                          "description": "HERALD_ALERTMANAGER_TOKEN, the credential Alertmanager sends."},
    "alertmanagerBasic": {"type": "http", "scheme": "basic",
                          "description": "Basic auth as Alertmanager may send it: user HERALD_ALERTMANAGER_USERNAME, "
                                         "password HERALD_ALERTMANAGER_TOKEN."},
    "integrationKey": {"type": "http", "scheme": "bearer",
                       "description": "An integration's key (docs/integrations.md): a grafana integration's "
                                      "for /api/v1/grafana, the generic integration's own for its events."},
    "integrationBasic": {"type": "http", "scheme": "basic",
                         "description": "Basic auth as Grafana's webhook contact point may send it: any user, "
                                        "the grafana integration's key as the password."},
}


def security_for(path: str) -> list[dict[str, list[str]]] | None:
    """The OpenAPI ``security`` of the operations on ``path`` (None: none needed)."""
    if path == ALERTMANAGER_PATH:
        return [{"alertmanagerToken": []}, {"alertmanagerBasic": []}]
    if path == GRAFANA_PATH:
        return [{"integrationKey": []}, {"integrationBasic": []}]
    if path == GENERIC_EVENTS_PATH:
        return [{"integrationKey": []}]
    if path.startswith(API_PREFIX) and path.endswith(".ics"):
        return [{"apiToken": []}, {}]  # or no token here: the feed token in ?token=
    if path.startswith(API_PREFIX):
        return [{"apiToken": []}]
    return None


def add_security(schema: dict[str, Any]) -> dict[str, Any]:
    """Declare the security schemes and each operation's requirement (in place)."""
    schema.setdefault("components", {}).setdefault("securitySchemes", {}).update(SECURITY_SCHEMES)
    for path, operations in schema.get("paths", {}).items():
        security = security_for(path)
        if security is None:
            continue
        for operation in operations.values():
            if isinstance(operation, dict):
                operation["security"] = security
    return schema


def add_error_shape(schema: dict[str, Any]) -> dict[str, Any]:
    """Every 422 is ``{"detail": "<one sentence>"}`` (``service.api.errors``), not FastAPI's list."""
    schemas = schema.setdefault("components", {}).setdefault("schemas", {})
    if "HTTPValidationError" in schemas:
        schemas["HTTPValidationError"] = {
            "title": "HTTPValidationError", "type": "object", "required": ["detail"],
            "properties": {"detail": {"title": "Detail", "type": "string",
                                      "description": "one sentence naming each field that is wrong"}}}
        schemas.pop("ValidationError", None)
    return schema


def create_docs_app(*, title: str, version: str, description: str,
                    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]] | None = None) -> FastAPI:
    """A FastAPI app whose ``/docs`` and ``/redoc`` load their scripts from this
    server, and whose OpenAPI document carries the security schemes."""
    from fastapi_offline import FastAPIOffline

    app = FastAPIOffline(title=title, version=version, description=description, lifespan=lifespan,
                         static_url=DOCS_ASSETS, favicon_url="/static/favicon.svg")
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = add_error_shape(add_security(generate()))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
