"""Rendering console pages: one Jinja2 environment (autoescape on for every template),
the security headers every page carries, and the small formatting filters.

Pages load one stylesheet and one script from ``/static`` (same origin, served here
from ``service/static``), so the Content-Security-Policy allows nothing inline and
nothing from elsewhere.
"""
from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from service.web.ack_page import SECURITY_HEADERS

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
STATIC = Path(__file__).resolve().parent.parent / "static"
router = APIRouter(include_in_schema=False)

HEADERS = {
    **SECURITY_HEADERS,
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; "
                               "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
}


def when(moment: datetime | None, fmt: str = "%a %d %b %H:%M") -> str:
    """A UTC time for people: ``Tue 05 May 09:00 UTC`` (empty for None)."""
    if moment is None:
        return ""
    return moment.astimezone(timezone.utc).strftime(fmt) + " UTC"


def iso(moment: datetime | None) -> str:
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z") if moment else ""


def span(seconds: float | None) -> str:
    """``45s``, ``12m``, ``3h 05m``, ``2d 4h``."""
    if seconds is None:
        return ""
    s = int(abs(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    return f"{s // 86400}d {s % 86400 // 3600}h"


def ago(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return ""
    delta = (now - moment).total_seconds()
    return f"{span(delta)} ago" if delta >= 0 else f"in {span(delta)}"


def safe_link(url: object) -> str | None:
    """``url`` when it is an absolute http(s) link, else None (no javascript:, data:, ...)."""
    if not isinstance(url, str) or len(url) > 2048:
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    return url.strip() if parts.scheme in ("http", "https") and parts.netloc else None


_env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, undefined=StrictUndefined,
                   trim_blocks=True, lstrip_blocks=True)
_env.filters.update(when=when, iso=iso, span=span)
_env.globals.update(ago=ago, safe_link=safe_link)


def page(request: Request, template: str, code: int = 200, **context: Any) -> HTMLResponse:
    """Render ``template`` with the viewer, the CSRF token and ``now`` in its context."""
    viewer = getattr(request.state, "viewer", None)
    herald = request.app.state.herald
    context.setdefault("now", herald.clock())
    context.setdefault("flash", None)
    context.setdefault("error", None)
    html = _env.get_template(template).render(
        viewer=viewer, csrf=viewer.csrf if viewer else "", path=request.url.path,
        dev_inbox=dev_inbox_enabled(herald.settings), **context)
    return HTMLResponse(html, status_code=code, headers=HEADERS)


def dev_inbox_enabled(settings: Any) -> bool:
    """Dev mode: the Twilio API base points at a provider simulator on loopback."""
    base = getattr(settings, "twilio_api_base", None)
    if not base:
        return False
    host = urlsplit(base).hostname or ""
    return host in ("127.0.0.1", "localhost", "::1")


_NAME = re.compile(r"^[a-z0-9_-]{1,64}\.(css|js|svg)$")
_TYPES = {"css": "text/css; charset=utf-8", "js": "text/javascript; charset=utf-8", "svg": "image/svg+xml"}


@router.get("/static/{name}")
def static_file(name: str) -> Response:
    """The console's stylesheet, script and icon: plain file names of a known type only."""
    found = _NAME.match(name)
    path = STATIC / name
    if not found or not path.is_file():
        raise HTTPException(404, "not found")
    return Response(path.read_bytes(), media_type=_TYPES[found.group(1)],
                    headers={"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"})
