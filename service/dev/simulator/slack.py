"""The slice of Slack's Web API that Herald uses, for the official ``slack_sdk.WebClient``
pointed at the simulator (``base_url=<simulator>/api/``), and Slack's side of the app:
button clicks and ``/herald`` commands posted to Herald, signed as Slack signs them.

Web API (``POST``/``GET /api/<method>``, ``Authorization: Bearer <bot token>``; answers are
Slack's: HTTP 200 ``{"ok": true, ...}`` or ``{"ok": false, "error": "..."}``, 429 with
``Retry-After`` when rate limited):

    auth.test  chat.postMessage  chat.update  conversations.open  users.lookupByEmail
    users.info  usergroups.users.update

The simulator's users: one per person of the dev configuration, by email (``U…`` ids
derived from the email, so they are the same every start). Messages are kept in the
simulator's inbox (channel "slack") with their blocks and thread; a DM's ``to`` is the
person's email, a channel message's the channel.

Acting as Slack towards Herald (``/_sim/slack/...``, JSON bodies):

    POST /_sim/slack/click    {"ts", "action_id", "email"|"user"}  a button click -> /webhooks/slack/interactions
    POST /_sim/slack/command  {"text", "email"|"user", "channel"?} /herald ...  -> /webhooks/slack/commands
    POST /_sim/slack/respond/{id}  a response_url: what Herald answers there lands in the inbox
    GET  /_sim/slack/users    the simulated workspace's users
    GET  /_sim/slack/usergroups  each user group's members
"""
from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from integrations.slack_client import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from service.dev.simulator.callbacks import CallbackSender
from service.dev.simulator.state import SimMessage, SimulatorState

DEFAULT_SLACK_TOKEN = "xoxb-simulator"
DEFAULT_SLACK_SIGNING_SECRET = "sim-slack-signing-secret"
TEAM_ID, TEAM_DOMAIN, APP_ID = "T0HERALD1", "herald-sim", "A0HERALD1"
_FAIL = {"5xx": (500, "internal_error"), "4xx": (200, "channel_not_found"), "429": (429, "ratelimited"),
         "timeout": (504, "request_timeout"), "undelivered": (200, "is_archived")}


def user_id_for(email: str) -> str:
    """The simulated Slack user id of an email: the same every start."""
    return "U" + hashlib.sha256(email.casefold().encode()).hexdigest()[:10].upper()


def channel_id_for(name: str) -> str:
    """The id of a channel given by #name (an id stays itself)."""
    if not name.startswith("#"):
        return name
    return "C" + hashlib.sha256(name[1:].encode()).hexdigest()[:10].upper()


class SlackWorkspace:
    """The simulated workspace: users, channels' names, DMs and user groups."""

    def __init__(self, users: Iterable[tuple[str, str]] = ()) -> None:
        self.users: dict[str, dict[str, Any]] = {}
        self.channel_names: dict[str, str] = {}
        self.dms: dict[str, str] = {}  # DM channel id -> user id
        self.usergroups: dict[str, list[str]] = {}
        for name, email in users:
            self.add_user(name, email)

    def add_user(self, name: str, email: str) -> dict[str, Any]:
        uid = user_id_for(email)
        handle = email.split("@", 1)[0]
        self.users[uid] = {"id": uid, "team_id": TEAM_ID, "name": handle, "real_name": name, "deleted": False,
                           "is_bot": False, "profile": {"email": email, "real_name": name, "display_name": handle}}
        return self.users[uid]

    def by_email(self, email: str) -> dict[str, Any] | None:
        return next((u for u in self.users.values() if u["profile"]["email"].casefold() == email.casefold()), None)

    def dm_for(self, uid: str) -> str:
        dm = "D" + uid[1:]
        self.dms[dm] = uid
        return dm

    def resolve(self, channel: str) -> str:
        cid = channel_id_for(channel)
        if channel.startswith("#"):
            self.channel_names[cid] = channel
        return cid

    def address(self, cid: str) -> str:
        """Who a message in ``cid`` is to: the DM's user's email, or the #channel."""
        if cid in self.dms:
            return self.users[self.dms[cid]]["profile"]["email"]
        return self.channel_names.get(cid, cid)


def _ok(**data: Any) -> JSONResponse:
    return JSONResponse({"ok": True, **data})


def _err(error: str, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"ok": False, "error": error}, status_code=status, headers=headers)


async def _params(request: Request) -> dict[str, Any]:
    """A Web API call's arguments: query, form or JSON body, as Slack accepts them all."""
    params: dict[str, Any] = dict(request.query_params)
    kind = request.headers.get("content-type", "")
    if "json" in kind:
        try:
            body = await request.json()
        except ValueError:
            body = None
        if isinstance(body, dict):
            params.update(body)
    elif "form" in kind:
        params.update({k: v for k, v in (await request.form()).items() if isinstance(v, str)})
    if isinstance(params.get("blocks"), str):
        try:
            params["blocks"] = json.loads(params["blocks"])
        except ValueError:
            params["blocks"] = "invalid"
    return params


def new_ts() -> str:
    """A message ts, as Slack makes them ("1712345678.000100"), unique in this process."""
    return f"{time.time():.6f}"


def slack_api_router(state: SimulatorState, workspace: SlackWorkspace, token: str) -> APIRouter:
    router = APIRouter(prefix="/api")

    def authorised(request: Request) -> bool:
        header = request.headers.get("authorization", "")
        return header == f"Bearer {token}"

    async def gate(request: Request) -> JSONResponse | None:
        """Slack's answers before the method runs: the token, and an injected failure."""
        if not authorised(request):
            return _err("not_authed" if "authorization" not in request.headers else "invalid_auth")
        failure = state.take_failure("slack")
        if failure is not None:
            status, error = _FAIL[failure.mode]
            return _err(error, status, {"Retry-After": "1"} if status == 429 else None)
        return None

    def message_json(m: SimMessage) -> dict[str, Any]:
        return {"type": "message", "ts": m.provider_id, "text": m.body, "blocks": m.blocks,
                "bot_id": "B0HERALD1", "app_id": APP_ID, **({"thread_ts": m.thread_ts} if m.thread_ts else {})}

    @router.api_route("/auth.test", methods=["GET", "POST"])
    async def auth_test(request: Request) -> JSONResponse:
        return await gate(request) or _ok(url=f"https://{TEAM_DOMAIN}.slack.com/", team="Herald simulator",
                                          team_id=TEAM_ID, user="herald", user_id="U0HERALDBOT", bot_id="B0HERALD1")

    @router.post("/chat.postMessage")
    async def post_message(request: Request) -> JSONResponse:
        refused = await gate(request)
        if refused:
            return refused
        p = await _params(request)
        channel, text, blocks = str(p.get("channel") or ""), str(p.get("text") or ""), p.get("blocks") or []
        if not channel:
            return _err("channel_not_found")
        if blocks == "invalid" or not isinstance(blocks, list):
            return _err("invalid_blocks")
        if not text and not blocks:
            return _err("no_text")
        cid = workspace.resolve(channel)
        if cid.startswith("D") and cid not in workspace.dms:
            return _err("channel_not_found")
        thread = str(p.get("thread_ts") or "")
        if thread and not any(m.provider_id == thread and m.slack_channel == cid for m in state.messages_for(channel="slack")):
            return _err("thread_not_found")
        message = state.record(SimMessage(channel="slack", to=workspace.address(cid), from_="herald",
                                          provider_id=new_ts(), body=text, blocks=blocks, thread_ts=thread,
                                          slack_channel=cid, status="posted"))
        return _ok(channel=cid, ts=message.provider_id, message=message_json(message))

    @router.post("/chat.update")
    async def update(request: Request) -> JSONResponse:
        refused = await gate(request)
        if refused:
            return refused
        p = await _params(request)
        cid, ts = str(p.get("channel") or ""), str(p.get("ts") or "")
        blocks = p.get("blocks") or []
        if blocks == "invalid" or not isinstance(blocks, list):
            return _err("invalid_blocks")
        message = next((m for m in state.messages_for(channel="slack") if m.provider_id == ts
                        and m.slack_channel == cid and m.direction == "outbound"), None)
        if message is None:
            return _err("message_not_found")
        state.update(message, body=str(p.get("text") or message.body), blocks=blocks, status="updated",
                     edits=message.edits + 1)
        return _ok(channel=cid, ts=ts, text=message.body, message=message_json(message))

    @router.post("/conversations.open")
    async def open_dm(request: Request) -> JSONResponse:
        refused = await gate(request)
        if refused:
            return refused
        users = [u for u in str((await _params(request)).get("users") or "").split(",") if u]
        if len(users) != 1:
            return _err("not_enough_users" if not users else "too_many_users")
        if users[0] not in workspace.users:
            return _err("user_not_found")
        return _ok(channel={"id": workspace.dm_for(users[0])})

    @router.api_route("/users.lookupByEmail", methods=["GET", "POST"])
    async def lookup(request: Request) -> JSONResponse:
        refused = await gate(request)
        if refused:
            return refused
        user = workspace.by_email(str((await _params(request)).get("email") or ""))
        return _ok(user=user) if user else _err("users_not_found")

    @router.api_route("/users.info", methods=["GET", "POST"])
    async def info(request: Request) -> JSONResponse:
        refused = await gate(request)
        if refused:
            return refused
        user = workspace.users.get(str((await _params(request)).get("user") or ""))
        return _ok(user=user) if user else _err("user_not_found")

    @router.post("/usergroups.users.update")
    async def usergroup_update(request: Request) -> JSONResponse:
        refused = await gate(request)
        if refused:
            return refused
        p = await _params(request)
        group = str(p.get("usergroup") or "")
        users = p.get("users")
        users = [u for u in (users if isinstance(users, list) else str(users or "").split(",")) if u]
        if not group.startswith("S"):
            return _err("no_such_subteam")
        if not users:
            return _err("no_users_provided")
        if any(u not in workspace.users for u in users):
            return _err("invalid_users")
        workspace.usergroups[group] = users
        state.touch()
        return _ok(usergroup={"id": group, "team_id": TEAM_ID, "users": users, "user_count": len(users)})

    return router


class ClickRequest(BaseModel):
    ts: str
    action_id: str
    email: str | None = None
    user: str | None = None


class CommandRequest(BaseModel):
    text: str = Field("", max_length=4000)
    email: str | None = None
    user: str | None = None
    channel: str = "#incidents"


def slack_control_router(state: SimulatorState, workspace: SlackWorkspace, sender: CallbackSender,
                         signing_secret: str) -> APIRouter:
    router = APIRouter(prefix="/_sim/slack")

    def who(email: str | None, user: str | None) -> dict[str, Any] | None:
        if user:
            return workspace.users.get(user)
        return workspace.by_email(email or "")

    async def post_signed(kind: str, path: str, body: bytes) -> dict[str, Any]:
        if not sender.herald_url:
            return {"kind": kind, "url": "", "status_code": None, "body": "", "error": "herald_url is not configured"}
        stamp = str(int(time.time()))
        headers = {"Content-Type": "application/x-www-form-urlencoded", TIMESTAMP_HEADER: stamp,
                   SIGNATURE_HEADER: sign(signing_secret, body, stamp), "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)"}
        return await sender._post(kind, f"{sender.herald_url}{path}", body, headers)

    def respond_url(request: Request, user: dict[str, Any]) -> str:
        return f"{str(request.base_url).rstrip('/')}/_sim/slack/respond/{user['id']}-{secrets.token_hex(6)}"

    @router.get("/users")
    async def users() -> list[dict[str, Any]]:
        return list(workspace.users.values())

    @router.get("/usergroups")
    async def usergroups() -> dict[str, list[str]]:
        return dict(workspace.usergroups)

    @router.post("/click")
    async def click(req: ClickRequest, request: Request) -> JSONResponse:
        user = who(req.email, req.user)
        if user is None:
            return JSONResponse({"error": "no such Slack user"}, status_code=404)
        message = next((m for m in state.messages_for(channel="slack") if m.provider_id == req.ts), None)
        if message is None:
            return JSONResponse({"error": "no such message"}, status_code=404)
        found = [(block, element) for block in message.blocks if block.get("type") == "actions"
                 for element in block.get("elements") or [] if element.get("action_id") == req.action_id]
        if not found:
            return JSONResponse({"error": "the message has no such button"}, status_code=409)
        block, button = found[0]
        payload = {
            "type": "block_actions", "api_app_id": APP_ID, "token": "simulator-verification-token",
            "user": {"id": user["id"], "username": user["name"], "name": user["name"], "team_id": TEAM_ID},
            "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN}, "trigger_id": f"{int(time.time())}.{secrets.token_hex(8)}",
            "container": {"type": "message", "message_ts": message.provider_id, "channel_id": message.slack_channel,
                          "is_ephemeral": False},
            "channel": {"id": message.slack_channel, "name": message.to.lstrip("#")},
            "message": {"type": "message", "ts": message.provider_id, "text": message.body, "blocks": message.blocks},
            "response_url": respond_url(request, user),
            "actions": [{"type": "button", "action_id": button["action_id"], "block_id": block.get("block_id", ""),
                         "value": button.get("value", ""), "text": button.get("text", {}),
                         "action_ts": f"{time.time():.6f}"}],
        }
        body = urlencode({"payload": json.dumps(payload, separators=(",", ":"))}).encode()
        return JSONResponse(await post_signed("slack-interaction", "/webhooks/slack/interactions", body))

    @router.post("/command")
    async def command(req: CommandRequest, request: Request) -> JSONResponse:
        user = who(req.email, req.user)
        if user is None:
            return JSONResponse({"error": "no such Slack user"}, status_code=404)
        cid = workspace.resolve(req.channel)
        form = {"token": "simulator-verification-token", "team_id": TEAM_ID, "team_domain": TEAM_DOMAIN,
                "channel_id": cid, "channel_name": req.channel.lstrip("#"), "user_id": user["id"],
                "user_name": user["name"], "command": "/herald", "text": req.text, "api_app_id": APP_ID,
                "response_url": respond_url(request, user), "trigger_id": f"{int(time.time())}.{secrets.token_hex(8)}"}
        entry = await post_signed("slack-command", "/webhooks/slack/commands", urlencode(form).encode())
        answer = ""
        if entry.get("status_code") == 200 and entry.get("body"):
            try:
                answer = str(json.loads(entry["body"]).get("text") or "")
            except (ValueError, AttributeError):
                answer = entry["body"]
        if answer:  # Slack shows the command's answer to the person who typed it
            state.record(SimMessage(channel="slack", to=user["profile"]["email"], from_="herald",
                                    provider_id=new_ts(), body=answer, status="ephemeral", slack_channel=cid))
        return JSONResponse({**entry, "answer": answer})

    @router.post("/respond/{ref}")
    async def respond(ref: str, request: Request) -> JSONResponse:
        uid = ref.split("-", 1)[0]
        user = workspace.users.get(uid)
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"ok": False, "error": "invalid_payload"}, status_code=400)
        if user is None or not isinstance(body, dict):
            return JSONResponse({"ok": False, "error": "expired_url"}, status_code=404)
        state.record(SimMessage(channel="slack", to=user["profile"]["email"], from_="herald", provider_id=new_ts(),
                                body=str(body.get("text") or ""), blocks=body.get("blocks") or [],
                                status=str(body.get("response_type") or "ephemeral")))
        return JSONResponse({"ok": True})

    return router
