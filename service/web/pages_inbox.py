"""``GET /ui/inbox`` (dev mode only: ``HERALD_TWILIO_API_BASE`` points at the provider
simulator on loopback): what each person received (and the outgoing webhooks the
simulator's receiver verified), with buttons that answer as that person would — an SMS
reply (``4|6|8 <code>``: ack, resolve, escalate) through the simulator's
``POST /_sim/reply``, a keypress on a call through ``POST /_sim/press``, or a click on a
Slack button (in their DM, or in a channel as a person chosen there) through
``POST /_sim/slack/click``, which posts Herald a signed interaction as Slack would. The
Slack channels' messages are shown with their threads."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import httpx
from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from service.web.base import PREFIX, ConsoleRoute, back, flash, logged_in, writer
from service.web.render import dev_inbox_enabled, page, safe_link
from service.web.session import Viewer

router = APIRouter(prefix=PREFIX + "/inbox", route_class=ConsoleRoute, include_in_schema=False)
CODE = re.compile(r"#([A-Za-z0-9-]{1,16})\b")
ACK_LINK = re.compile(r"ack: (\S+/ack/\S+)")
CALL_SID = re.compile(r"^CA[0-9a-f]{32}$")
SLACK_TS = re.compile(r"^\d{1,12}\.\d{1,6}$")
SLACK_ACTIONS = ("herald_ack", "herald_resolve", "herald_escalate", "herald_take")
ACTIONS = {"4": "Acknowledge", "6": "Resolve", "8": "Escalate"}
TIMEOUT = httpx.Timeout(5.0)


@dataclass
class SlackChannel:
    name: str
    messages: list[dict[str, Any]] = field(default_factory=list)  # newest first, each with its "replies"


@dataclass
class Inbox:
    person: str
    name: str
    phone: str
    email: str
    messages: list[dict[str, Any]] = field(default_factory=list)


def _simulator(request: Request) -> str:
    settings = request.app.state.herald.settings
    if not dev_inbox_enabled(settings):
        raise HTTPException(404, "The dev inbox exists only when Herald talks to the provider simulator.")
    return settings.twilio_api_base.rstrip("/")


def _view(message: dict[str, Any], public_url: str) -> dict[str, Any]:
    text = message.get("body") or message.get("subject") or ""
    link = next((m.group(1) for m in [ACK_LINK.search(text)] if m), None)
    codes = list(dict.fromkeys(CODE.findall(text)))
    buttons = [(str(e.get("action_id")), str((e.get("text") or {}).get("text") or e.get("action_id")))
               for block in message.get("blocks") or [] if isinstance(block, dict) and block.get("type") == "actions"
               for e in block.get("elements") or [] if isinstance(e, dict) and e.get("action_id") in SLACK_ACTIONS]
    return {**message, "text": text, "buttons": buttons, "when": datetime.fromtimestamp(float(message.get("time", 0)), timezone.utc),
            "codes": codes, "ack_link": link if link and link.startswith(public_url) and safe_link(link) else None}


def inboxes(herald: Any, messages: list[dict[str, Any]]) -> list[Inbox]:
    """Each configured person's messages, newest first (inbound replies included)."""
    boxes = {p.id: Inbox(p.id, p.name, p.phone or "", p.email or "") for p in herald.config.people.values()}
    by_address = {a: b for b in boxes.values() for a in (b.phone, b.email) if a}
    public = herald.settings.public_url.rstrip("/") + "/"
    for message in reversed(messages):
        box = by_address.get(message.get("to", "")) or by_address.get(message.get("from", ""))
        if box is not None:
            box.messages.append(_view(message, public))
    return sorted(boxes.values(), key=lambda b: (not b.messages, b.name))


def slack_channels(herald: Any, messages: list[dict[str, Any]]) -> list[SlackChannel]:
    """The Slack channel messages (not DMs), by channel, newest first, each with its thread."""
    public = herald.settings.public_url.rstrip("/") + "/"
    emails = {p.email for p in herald.config.people.values() if p.email}
    channels: dict[str, SlackChannel] = {}
    tops: dict[str, dict[str, Any]] = {}
    for message in messages:  # oldest first: a thread's parent comes before its replies
        if message.get("channel") != "slack" or message.get("to") in emails:
            continue
        view = {**_view(message, public), "replies": []}
        parent = tops.get(str(message.get("thread_ts") or ""))
        if parent is not None:
            parent["replies"].append(view)
            continue
        tops[str(message.get("provider_id"))] = view
        channels.setdefault(str(message.get("to")), SlackChannel(str(message.get("to")))).messages.insert(0, view)
    return sorted(channels.values(), key=lambda c: c.name)


@router.get("", response_class=HTMLResponse)
async def inbox_page(request: Request, _viewer: Viewer = Depends(logged_in)) -> Response:
    base = _simulator(request)
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT) as client:
            answer = await client.get(f"{base}/_sim/messages")
            answer.raise_for_status()
            messages = answer.json()
    except (httpx.HTTPError, ValueError) as exc:
        return page(request, "inbox.html", code=502, boxes=[], actions=ACTIONS, slack=[], slack_people=[],
                    error=f"The simulator at {base} did not answer: {type(exc).__name__}")
    herald = request.app.state.herald
    hooks = await _webhooks(base)
    slack_people = [(p.email, p.name) for p in herald.config.people.values() if p.email]
    return page(request, "inbox.html", boxes=inboxes(herald, messages), actions=ACTIONS, flash=flash(request),
                webhooks=hooks, slack=slack_channels(herald, messages), slack_people=slack_people)


async def _webhooks(base: str) -> list[dict[str, Any]]:
    """The outgoing webhooks the simulator's receiver got, newest first (none if it cannot say)."""
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT) as client:
            answer = await client.get(f"{base}/_sim/webhooks")
            answer.raise_for_status()
            found = answer.json()
    except (httpx.HTTPError, ValueError):
        return []
    out = []
    for entry in reversed(found[-100:] if isinstance(found, list) else []):
        event = entry.get("event") if isinstance(entry.get("event"), dict) else {}
        incident = (event.get("data") or {}).get("incident") or {}
        out.append({"when": datetime.fromtimestamp(float(entry.get("time", 0)), timezone.utc),
                    "id": str(entry.get("id", "")), "type": str(entry.get("type", "")),
                    "verified": bool(entry.get("verified")), "error": str(entry.get("error", "")),
                    "incident": str(incident.get("id", "")), "title": str(incident.get("title", ""))})
    return out


async def _post(base: str, path: str, payload: dict[str, str]) -> None:
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT) as client:
            answer = await client.post(f"{base}{path}", json=payload)
    except httpx.HTTPError as exc:
        raise HTTPException(502, f"The simulator did not answer: {type(exc).__name__}") from None
    if answer.status_code >= 300:
        raise HTTPException(502, f"The simulator refused: {answer.text[:200]}")


@router.post("/reply")
async def reply(request: Request, phone: str = Form(""), action: str = Form(""), code: str = Form(""),
                _viewer: Viewer = Depends(writer)) -> Response:
    """Reply by SMS as the person with ``phone``: ``<action> <code>``."""
    base = _simulator(request)
    phones = {p.phone for p in request.app.state.herald.config.people.values() if p.phone}
    if phone not in phones or action not in ACTIONS or (code and not CODE.fullmatch("#" + code)):
        raise HTTPException(400, "Reply as a configured person with 4, 6 or 8 and an incident code.")
    await _post(base, "/_sim/reply", {"from": phone, "body": f"{action} {code}".strip()})
    return back(PREFIX + "/inbox", "replied")


@router.post("/press")
async def press(request: Request, call_sid: str = Form(""), digits: str = Form(""),
                _viewer: Viewer = Depends(writer)) -> Response:
    """Press a key on a call, as the person who answered it."""
    base = _simulator(request)
    if not CALL_SID.match(call_sid) or digits not in ACTIONS:
        raise HTTPException(400, "Press 4, 6 or 8 on a call the simulator placed.")
    await _post(base, "/_sim/press", {"call_sid": call_sid, "digits": digits})
    return back(PREFIX + "/inbox", "replied")


@router.post("/slack-click")
async def slack_click(request: Request, ts: str = Form(""), action_id: str = Form(""), email: str = Form(""),
                      _viewer: Viewer = Depends(writer)) -> Response:
    """Click a button of a Slack message as the person with ``email``: the simulator posts
    Herald the signed interaction Slack would."""
    base = _simulator(request)
    emails = {p.email for p in request.app.state.herald.config.people.values() if p.email}
    if email not in emails or action_id not in SLACK_ACTIONS or not SLACK_TS.match(ts):
        raise HTTPException(400, "Click one of Herald's Slack buttons as a configured person with an email.")
    await _post(base, "/_sim/slack/click", {"ts": ts, "action_id": action_id, "email": email})
    return back(PREFIX + "/inbox", "clicked")
