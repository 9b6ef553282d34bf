"""What Slack posts to Herald: button clicks (``/webhooks/slack/interactions``) and the
``/herald`` slash command (``/webhooks/slack/commands``).

Every request's Slack signature is checked first (``X-Slack-Signature``, v0 HMAC-SHA256
with the app's signing secret over ``v0:timestamp:body``, the timestamp within 5 minutes):
401 otherwise, and nothing is read or changed. Then the Slack user is mapped to a Herald
person by email (cached: no Slack call on the way once known) and the action goes through
``Herald.act`` — one Redis round trip — so Slack gets its answer well within its 3 s.

* A click answers 200 with an empty body at once (Slack's "acknowledge"); what it did is
  told to the clicker afterwards, ephemerally, through the payload's ``response_url``, and
  the incident's channel message follows through the Slack sink like every other change.
* A command answers with an ephemeral message in the response itself.

Each click and command acts at most once (its ``action_ts`` / ``trigger_id`` is claimed
in Redis): a replayed signed request within the 5 minutes does nothing.
"""
from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, BackgroundTasks, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from integrations.slack_client import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature
from routing.errors import Invalid
from routing.text import clean_text
from service.api.alertmanager import read_body
from service.engine import slack_inbound
from service.engine.replies import once

router = APIRouter(prefix="/webhooks/slack", tags=["provider webhooks"])
log = logging.getLogger("herald.webhooks")
SLACK_LIMIT = 64 * 1024


async def _signed_form(request: Request) -> dict[str, str]:
    """The form fields of a request whose Slack signature checks out (401 otherwise)."""
    herald = request.app.state.herald
    body = await read_body(request, SLACK_LIMIT)
    secret = herald.settings.slack_signing_secret.get_secret_value() if herald.settings.slack_signing_secret else ""
    now = herald.clock().timestamp
    if not secret or not verify_signature(secret, body, request.headers.get(TIMESTAMP_HEADER),
                                          request.headers.get(SIGNATURE_HEADER), now=now):
        raise HTTPException(401, "invalid, missing or expired X-Slack-Signature (or Slack is not configured)")
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


def _respond(url: str, text: str) -> None:
    """Tell the clicker what their click did (after the 200), through Slack's response_url."""
    from slack_sdk.webhook import WebhookClient

    try:
        WebhookClient(url, timeout=5).send(text=text, response_type="ephemeral", replace_original=False)
    except Exception as exc:  # the action is done; only the note to the clicker is lost
        log.warning("slack response_url failed: %s", type(exc).__name__)


def _response_url(payload: dict[str, Any]) -> str | None:
    url = str(payload.get("response_url") or "")
    return url if url.startswith(("https://", "http://")) else None


@router.post("/interactions")
async def slack_interactions(request: Request, tasks: BackgroundTasks) -> Response:
    """A click on one of Herald's buttons (Acknowledge, Resolve, Escalate, Page me instead)."""
    form = await _signed_form(request)
    try:
        payload = json.loads(form.get("payload") or "")
    except ValueError:
        raise Invalid("payload: not JSON", field="payload") from None
    if not isinstance(payload, dict):
        raise Invalid("payload: not a JSON object", field="payload")
    if payload.get("type") != "block_actions":
        return Response(status_code=200)  # another kind of interaction: nothing for Herald
    herald = request.app.state.herald
    clicked = (payload.get("actions") or [{}])[0] if isinstance(payload.get("actions"), list) else {}
    stamp = clicked.get("action_ts") or payload.get("trigger_id")  # once per click
    event_id = f"{clean_text((payload.get('user') or {}).get('id'), 32)}:{clean_text(stamp, 100)}"
    text = await run_in_threadpool(once, herald, "slack-action", event_id,
                                   lambda: slack_inbound.interaction(herald, payload))
    url = _response_url(payload)
    if text is not None and url:
        tasks.add_task(_respond, url, text)
    return Response(status_code=200)


@router.post("/commands")
async def slack_commands(request: Request) -> JSONResponse:
    """``/herald oncall [schedule]``, ``/herald ack N``, ``/herald resolve N``, ``/herald escalate N``."""
    form = await _signed_form(request)
    user_id = form.get("user_id") or ""
    if not user_id:
        raise Invalid("user_id: missing", field="user_id")
    herald = request.app.state.herald
    event_id = clean_text(form.get("trigger_id") or f"{user_id}:{form.get('text', '')}", 100)
    text = await run_in_threadpool(once, herald, "slack-command", event_id,
                                   lambda: slack_inbound.command(herald, user_id, form.get("text") or ""))
    return JSONResponse({"response_type": "ephemeral", "text": text if text is not None else ""})
