"""``GET /ui/webhooks``: outgoing webhooks' delivery log (the same records as
``GET /api/v1/webhooks/deliveries``), filtered by endpoint and state."""
from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from integrations.webhooks import STATES
from routing.errors import Invalid
from service.api.webhooks import deliveries
from service.web.base import PREFIX, ConsoleRoute, logged_in
from service.web.render import page
from service.web.session import Viewer

router = APIRouter(prefix=PREFIX + "/webhooks", route_class=ConsoleRoute, include_in_schema=False)


@router.get("", response_class=HTMLResponse)
def webhooks_page(request: Request, endpoint: str = "", state: str = "", limit: int = 200,
                  _viewer: Viewer = Depends(logged_in)) -> Response:
    herald = request.app.state.herald
    error, rows = None, []
    try:
        rows = deliveries(herald, endpoint or None, state or None, max(1, min(limit, 1000)))
    except Invalid as exc:
        error = str(exc)
    return page(request, "webhooks.html", code=400 if error else 200, error=error, rows=rows,
                endpoints=herald.config.webhooks, endpoint=endpoint, state=state, states=STATES)
