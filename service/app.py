"""The FastAPI application factory."""
from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from service.web import ack_page as ack_pages
from service.api import alertmanager as api_alertmanager
from service.api import incidents as api_incidents
from service.api import maintenance as api_maintenance
from service.api import health
from service.api import provider_webhooks
from service.api import slack_webhooks
from service.api import dry_run as simulation
from service.api import feeds as api_feeds
from service.api import handoffs as api_handoffs
from service.api import oncall as api_oncall
from service.api import schedules as api_schedules
from service.api import drills as api_drills
from service.api import heartbeats as api_heartbeats
from service.api import reports as api_reports
from service.api import webhooks as api_webhooks
from service.api import integrations as api_integrations
from service.api import pagerduty as api_pagerduty
from service.api import opsgenie as api_opsgenie
from service.api import grafana as api_grafana
from service.api import generic as api_generic
from service.api import people as api_people
from service.api import people_rules as api_people_rules
from service.web import sessions_api as api_sessions
from service import web  # the web console: /ui and /static
from service.api.docs import create_docs_app
from service.api.auth import configured_tokens
from service.api import errors
from service.api import refusals as http_refusals
from service.telemetry import logs
from service.telemetry import metrics
from service.api.guards import BodyLimit, SecurityHeaders
from service.engine.runtime import Herald
from service.engine.people import gauges as people_gauges
from service.settings import Settings
from service.web.session import credentials as console_credentials

log = logging.getLogger("herald.api")


def create_app(settings: Settings | None = None, herald: Herald | None = None) -> FastAPI:
    settings = settings or Settings()
    configured_tokens(settings)  # a malformed HERALD_API_TOKENS stops start-up (ValueError naming the entry)
    console_credentials(settings)  # so does a HERALD_CONSOLE_PASSWORD under 16 characters
    herald = herald or Herald.from_settings(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from service.engine.ingest_async import AsyncIngest
        from service.redis_clients import connect_async

        # The webhook drives the ingest flow on the event loop with its own asyncio client
        # (service.engine.ingest_async), never through the thread pool.
        # No per-socket timeout: AsyncIngest puts one deadline on each call instead.
        app.state.ingest = AsyncIngest(herald, connect_async(settings, socket_timeout=None), timeout=5)
        try:
            yield
        finally:
            http_refusals.REFUSALS.flush()  # the refusals of the interval still open
            ingest, app.state.ingest = app.state.ingest, None
            await ingest.aclose()
            # The calendar refresher stops with the app (a Herald the caller passed in still
            # answers on demand afterwards; it must not outlive the Redis it polls).
            herald.close()

    # /docs and /redoc from this server, not a CDN; the OpenAPI document's security schemes
    app = create_docs_app(title="Herald", version="0.1.0", lifespan=lifespan,
                          description="Alert routing and paging for Prometheus Alertmanager.")
    app.state.herald = herald
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes,  # declared or streamed (chunked) bodies
                       timeout=settings.http_body_timeout, min_rate=settings.http_body_min_rate)  # and slow ones
    app.add_middleware(SecurityHeaders)
    app.add_middleware(logs.RequestIdMiddleware)  # outermost: even a 413 carries its request id
    metrics.observe(redis_url=settings.redis_url, queue_name=settings.queue, calendars=herald.calendars,
                    people=lambda: people_gauges(herald))
    errors.install(app)  # every 4xx: {"detail": "<one sentence naming the field>"}; Redis away: 503

    # Routes are matched in order, at a cost per route passed: the event endpoints come first.
    app.include_router(api_alertmanager.router)
    app.include_router(api_pagerduty.router)  # PagerDuty Events API v2: /v2/enqueue, /v2/change/enqueue
    app.include_router(api_opsgenie.router)  # Opsgenie's Alert API and heartbeat pings (/v2/alerts, /v2/heartbeats)
    app.include_router(api_grafana.router)  # Grafana Alerting's webhook contact point
    app.include_router(api_generic.router)  # generic JSON integrations (JMESPath mappings)
    for module in (api_incidents, api_maintenance, simulation, ack_pages, health, provider_webhooks, slack_webhooks):
        app.include_router(module.router)
    for module in (api_schedules, api_feeds, api_oncall, api_handoffs):  # schedules, on call, handoffs
        app.include_router(module.router)
    app.include_router(api_integrations.router)  # integrations and their keys; each source's route is its own
    app.include_router(api_people.router)  # people's contacts: verification, test pages
    app.include_router(api_people_rules.router)  # personal notification rules
    for module in (api_heartbeats, api_drills, api_reports, api_sessions, web, metrics):  # ..., console sessions, UI
        app.include_router(module.router)
    app.include_router(api_webhooks.router)  # outgoing webhooks' delivery log
    return app
