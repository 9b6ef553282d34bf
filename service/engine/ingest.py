"""The synchronous driver of the ingest flow (``service.engine.ingest_flow``): the CLI, the
heartbeat sweep, drills, the worker and benchmarks store alert groups through it. The
webhook drives the same flow on the event loop (``service.engine.ingest_async``)."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from integrations.store import GroupRead
from routing.alertmanager import WebhookPayload
from routing.decide import Decision
from routing.grouping import AlertGroup
from service.engine.ingest_flow import CatchUp, Flow, Pause, Script, group_flow, synthetic_group, webhook_flow
from service.engine.runtime import Herald

__all__ = ["ingest", "ingest_group", "ingest_synthetic", "run"]


def run(herald: Herald, flow: Flow) -> Any:
    """Answer ``flow``'s requests with blocking calls (redis-py, the calendars' own
    ``refresh``) until it returns; answer what it returns."""
    reply: Any = None
    while True:
        try:
            request = flow.send(reply)
        except StopIteration as done:
            return done.value
        if isinstance(request, Script):
            reply = herald.store.script(request.script)(keys=request.keys, args=request.args)
        elif isinstance(request, CatchUp):
            reply = herald.calendars.refresh(request.now)
        elif isinstance(request, Pause):
            reply = None
        else:  # pragma: no cover - a request this driver does not know is a bug
            raise TypeError(f"unknown ingest request {request!r}")


def ingest(herald: Herald, payload: WebhookPayload, digest: str | None = None) -> list[dict[str, Any]]:
    """Store an Alertmanager group (``ingest_flow.webhook_flow``); answer ``{id, status,
    changed}`` per incident touched. Watchdog alerts are the caller's to take out first
    (``routing.watchdog``; the webhook's route does)."""
    return run(herald, webhook_flow(herald, payload, digest))


def ingest_group(herald: Herald, group: AlertGroup, drill: bool = False,
                 read: GroupRead | None = None) -> list[Decision]:
    """Decide and store one alert group per matching policy (``ingest_flow.group_flow``)."""
    return run(herald, group_flow(herald, group, drill=drill, read=read))


def ingest_synthetic(herald: Herald, group_key: str, labels: dict[str, str], annotations: dict[str, str],
                     status: Literal["firing", "resolved"], severity: str | None = None, drill: bool = False, *,
                     policy: str | None = None, starts_at: datetime | None = None) -> list[Decision]:
    """Open or resolve an alert group Herald raises itself (a heartbeat gone silent, a
    drill) through the webhook's own flow: route, decide, store (see
    ``ingest_flow.synthetic_group``)."""
    now = herald.clock()
    group = synthetic_group(herald, group_key, labels, annotations, status, now, severity, policy=policy,
                            starts_at=starts_at)
    return run(herald, group_flow(herald, group, drill=drill, now=now))
