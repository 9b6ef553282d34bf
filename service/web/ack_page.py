"""``GET|POST /ack/{token}`` — the page behind the link in every SMS and email.

The token is the credential: it names one incident and one person and expires.
GET only shows the page (SMS and mail apps fetch links to preview them); only the
POST from its buttons acknowledges or resolves. The token is looked up first: a right
one always works; wrong ones are counted per client address and for the ack links as a
whole (``service.api.guess_limits``), and past either limit a wrong one is answered 429.
"""
from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.concurrency import run_in_threadpool

from routing.incident import Acknowledge, Resolve
from service.api.guess_limits import ALLOWED, FailureLimiter, Verdict, client_address

router = APIRouter(tags=["ack"])
_templates = Environment(loader=FileSystemLoader(Path(__file__).resolve().parent.parent / "templates"),
                         autoescape=select_autoescape(["html"]))

SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                               "frame-ancestors 'none'",
}


def _page(status: int = 200, **context) -> HTMLResponse:
    html = _templates.get_template("ack.html").render(**context)
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


def _expired() -> HTMLResponse:
    return _page(404, message="This link has expired or is not valid. Use the web console or reply to the page.",
                 error=True, incident=None)


def _limited(verdict: Verdict) -> HTMLResponse:
    response = _page(429, message=f"{verdict.reason.capitalize()}. Wait a minute, or reply to the page.",
                     error=True, incident=None)
    response.headers["Retry-After"] = str(verdict.retry_after)
    return response


def _names(herald) -> dict[str, str]:
    """Person id -> name, for "who was paged" on the page."""
    return {pid: p.name for pid, p in herald.config.people.items()}


def _grant(request: Request, token: str):
    """(herald, grant, incident, verdict). A token that is not stored is a wrong guess and
    counts; its ``verdict`` says whether to answer 429 rather than 404. A stored token
    whose incident is gone answers 404 without counting (it was a real link)."""
    herald = request.app.state.herald
    grant = herald.store.read_ack_token(token)
    if grant is None:
        settings = herald.settings
        limiter = FailureLimiter(herald.attempts, "ack", settings.ack_attempts_per_ip, settings.ack_attempts_global)
        return herald, None, None, limiter.failed(client_address(request))
    return herald, grant, herald.store.get(grant.incident_id), ALLOWED


@router.get("/ack/{token}", response_class=HTMLResponse)
def show(token: str, request: Request) -> HTMLResponse:
    """Show the incident this link is for, with Acknowledge and Resolve buttons."""
    herald, grant, incident, verdict = _grant(request, token)
    if not verdict.allowed:
        return _limited(verdict)
    if grant is None or incident is None:
        return _expired()
    return _page(incident=incident, names=_names(herald), person=herald.config.people[grant.person].name
                 if grant.person in herald.config.people else grant.person)


@router.post("/ack/{token}", response_class=HTMLResponse)
async def act(token: str, request: Request, action: str = Form("ack")) -> HTMLResponse:
    """Acknowledge (``action=ack``) or resolve (``action=resolve``) as the link's person."""
    herald, grant, incident, verdict = await run_in_threadpool(_grant, request, token)
    if not verdict.allowed:
        return _limited(verdict)
    if grant is None or incident is None:
        return _expired()
    if action not in ("ack", "resolve"):
        return _page(400, message=f"unknown action {action!r}", error=True, incident=incident, person=grant.person)
    command = (Acknowledge(by=grant.person, via="link") if action == "ack"
               else Resolve(by=grant.person, via="link"))
    decision = await run_in_threadpool(herald.act, grant.incident_id, command)
    done = "acknowledged" if action == "ack" else "resolved"
    message = (f"Incident #{incident.id} {done}. Thank you." if decision.changed
               else f"Incident #{incident.id} was already {decision.incident.status}.")
    person = herald.config.people[grant.person].name if grant.person in herald.config.people else grant.person
    return _page(message=message, incident=decision.incident, person=person, names=_names(herald))
