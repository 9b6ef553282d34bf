"""``POST /api/v1/simulate`` and ``herald simulate``: an Alertmanager payload in, the
full paging plan out — route, severity, and for each step the time, tier, people
and channels, plus any maintenance window or business hours that would hold it.
Nothing is stored and nothing is sent."""
from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import datetime, timezone
from typing import Any

import redis
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from routing.alertmanager import WebhookPayload
from routing.grouping import group_of
from routing.incident import AlertsReceived
from routing.maintenance import hold_for
from routing.dry_run import plan
from routing.personal_rules import Rulebook
from service.api.alertmanager import _explain, read_body
from service.api.incidents import api_caller
from service.engine.runtime import Herald

router = APIRouter(prefix="/api/v1", tags=["simulate"])
log = logging.getLogger("herald.simulate")


def simulate(herald: Herald, payload: WebhookPayload, at: datetime) -> dict[str, Any]:
    group = group_of(payload, herald.config.route, herald.config.severity)
    notes = []
    try:
        held = herald.maintenance.all()
    except redis.RedisError:
        held = []
        notes.append("Redis unreachable: maintenance windows, handoffs and rate windows are not included")
    windows = {c: herald.settings.rate_window(c) for c in ("sms", "voice", "email", "slack")}
    try:
        busy = herald.paging.windows_running(list(herald.config.people), [c for c, w in windows.items() if w > 0],
                                             herald.clock())
    except redis.RedisError:
        busy = {}
    try:
        rules = Rulebook(herald.config.urgency, herald.rules.all())
    except redis.RedisError:
        rules = Rulebook(herald.config.urgency)
        notes.append("Redis unreachable: personal notification rules are not included")
    herald.calendars.refresh(herald.clock())
    plans = []
    for name in group.policies:
        policy = herald.config.policies[name]
        command = AlertsReceived(new_id="dry-run", receiver=group.receiver, group_key=group.group_key,
                                 severity=group.severity, title=group.title, alerts=list(group.alerts))
        result = plan(command, policy, at, lambda t, p=policy: herald.calendars.roster_at(p, t),
                      lambda t: hold_for(group.alerts, held, t), windows=windows, busy_until=busy, rules=rules)
        plans.append({**asdict(result), "steps": [asdict(s) for s in result.steps]})
    return {"at": at, "receiver": group.receiver, "group_key": group.group_key, "title": group.title,
            "severity": group.severity, "policies": list(group.policies), "plans": plans, "notes": notes}


@router.post("/simulate")
async def simulate_endpoint(request: Request, at: datetime | None = Query(None, description="default: now"),
                            _caller: str = Depends(api_caller)) -> dict[str, Any]:
    """Dry run: the paging plan this Alertmanager payload would get, at ``at``."""
    herald = request.app.state.herald
    body = await read_body(request, herald.settings.max_body_bytes)
    try:
        payload = WebhookPayload.model_validate_json(body)
    except ValidationError as exc:
        raise HTTPException(400, _explain(exc)) from None
    if at is not None and at.tzinfo is None:
        raise HTTPException(400, "at needs a time zone, e.g. 2026-11-27T03:00:00Z")
    when = (at or herald.clock()).astimezone(timezone.utc)
    return await run_in_threadpool(simulate, herald, payload, when)


def render(result: dict[str, Any]) -> str:
    """The plan as text for a terminal."""
    lines = [f"{result['title']}  severity {result['severity']}  routes to {', '.join(result['policies'])}"]
    for item in result["plans"]:
        lines.append(f"policy {item['policy']}:")
        rows = [(s["at"], f"round {s['round']}: {s['tier']} -> {', '.join(s['people'])} via {', '.join(s['channels'])}"
                 + (f" (personal rules: {', '.join(s['personal'])})" if s.get("personal") else ""))
                for s in item["steps"]]
        rows += [(e["at"], f"{e['kind']}: " + ", ".join(f"{k}={v}" for k, v in e.items() if k not in ("at", "kind")))
                 for e in item["events"]]
        for at, text in sorted(rows, key=lambda r: r[0]):
            lines.append(f"  {at.strftime('%Y-%m-%d %H:%M:%S')}Z  {text}")
        if item["truncated"]:
            lines.append("  … (plan cut after 60 steps)")
    lines += [f"note: {n}" for n in result["notes"]]
    return "\n".join(lines)
