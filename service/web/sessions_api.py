"""``DELETE /api/v1/sessions`` — log out everyone: end every web console session at once.

Console sessions live in Redis (``integrations.console_sessions``); this deletes them
all, in one atomic step, so every console cookie stops working in every replica at
once — for a lost laptop, a departing colleague, or after rotating credentials (which
also ends the sessions made with the old ones by itself). API tokens are not sessions:
to lock a token out, remove it from ``HERALD_API_TOKENS``. Admin scope.
"""
from __future__ import annotations

import logging
import time

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from service.api.auth import Caller, require_scope

router = APIRouter(prefix="/api/v1", tags=["sessions"])
log = logging.getLogger("herald.console")


class SessionsEnded(BaseModel):
    ended: int = Field(description="How many console sessions were live and are now ended.")


@router.delete("/sessions", response_model=SessionsEnded)
def end_every_session(request: Request, caller: Caller = Depends(require_scope("admin"))) -> SessionsEnded:
    """Log out everyone: end every web console session now (whoever logs in afterwards
    starts a new one). Answers how many were live."""
    ended = request.app.state.herald.sessions.end_all(time.time())
    log.info("every console session ended by API token %s (%d were live)", caller.name, ended)
    return SessionsEnded(ended=ended)
