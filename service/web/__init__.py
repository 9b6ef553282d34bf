"""The web console: server-rendered pages under ``/ui`` for on-call engineers.

``router`` holds every console route and ``/static``; ``service.app`` includes it like
any API router. Pages: ``/ui/`` (on call now), ``/ui/incidents``, ``/ui/incidents/{id}``,
``/ui/schedules``, ``/ui/reports``, ``/ui/webhooks``, ``/ui/people``, ``/ui/inbox`` (dev mode), ``/ui/login``
(shared credentials), ``/ui/signin`` (personal sign-in: a code or OpenID Connect) and ``/ui/me`` (my page).
"""
from __future__ import annotations

from fastapi import APIRouter

from service.web import (pages_home, pages_inbox, pages_incidents, pages_me, pages_people, pages_reports,
                         pages_schedules, pages_signin, pages_webhooks, render)

router = APIRouter()
for _module in (render, pages_home, pages_signin, pages_me, pages_incidents, pages_schedules, pages_reports,
                pages_webhooks, pages_inbox, pages_people):
    router.include_router(_module.router)
