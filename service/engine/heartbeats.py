"""Heartbeats and the dead man's switch.

A heartbeat is alive while pings arrive within its timeout. Alertmanager's
always-firing ``Watchdog`` alert (``watchdog.matchers`` in the config) is the heartbeat
``watchdog``: its alerts are pings and never open an incident of their own (the
webhook's route splits them off, ``split``, before the rest is ingested). Generic
heartbeats are pinged over the API (``POST /api/v1/heartbeats/{name}``). A heartbeat is
armed by its first ping.

When a deadline passes, the periodic heartbeat task (an entry of the due index, due at
the next deadline and at least every ``HERALD_SWEEP_INTERVAL``: service/worker/due.py) opens an incident through the webhook's own path (``ingest_synthetic``): receiver
``herald``, group key ``heartbeat:<name>``, one alert ``HeraldHeartbeatMissing`` (or
``WatchdogMissing``) whose episode is the deadline that passed, so two passes opening
it at once make one incident and one page. The next ping resolves it the same way.
"""
from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from integrations.heartbeat_store import Heartbeat, HeartbeatStore
from routing.alertmanager import WebhookPayload
from routing.decide import Decision
from routing.watchdog import WatchdogSplit, split_watchdog
from service.engine.ingest import ingest_synthetic
from service.engine.ingest_flow import synthetic_group
from service.engine.runtime import Herald

if TYPE_CHECKING:
    from service.engine.ingest_async import AsyncIngest

log = logging.getLogger("herald.heartbeats")

WATCHDOG = "watchdog"
DEFAULT_TIMEOUT = 300.0  # seconds, when the first ping names none
NAME_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"


def heartbeat_store(herald: Herald) -> HeartbeatStore:
    return herald.heartbeats


def ping(herald: Herald, name: str, *, kind: str = "heartbeat", timeout: float | None = None,
         severity: str | None = None) -> Heartbeat:
    """Record a ping; if the heartbeat had gone silent, resolve its incident now."""
    store = heartbeat_store(herald)
    beat = store.ping(name, herald.clock(), kind=kind, timeout=timeout, severity=severity,
                      default_timeout=DEFAULT_TIMEOUT)
    if beat.missing_since is not None:
        _resolve(herald, name, beat.kind, beat.severity, beat.missing_since)
        beat = replace(beat, missing_since=None)
    return beat


def remove(herald: Herald, name: str) -> Heartbeat | None:
    """Stop watching a heartbeat; an incident open for its silence is resolved."""
    store = heartbeat_store(herald)
    beat = store.get(name)
    if beat is None:
        return None
    if beat.missing_since is not None:
        _resolve(herald, name, beat.kind, beat.severity, beat.missing_since)
    store.delete(name)
    return beat


def split(herald: Herald, payload: WebhookPayload) -> WatchdogSplit:
    """Take the configured Watchdog's alerts out of a webhook payload (no I/O)."""
    spec = herald.config.watchdog
    return split_watchdog(None if spec is None else spec.matchers, payload)


def ping_watchdog(herald: Herald) -> Heartbeat:
    """A firing Watchdog alert arrived: ping the ``watchdog`` heartbeat."""
    spec = herald.config.watchdog
    assert spec is not None
    return ping(herald, WATCHDOG, kind=WATCHDOG, timeout=spec.timeout_delta().total_seconds(), severity=spec.severity)


async def ping_watchdog_async(herald: Herald, ingest: AsyncIngest) -> Heartbeat:
    """``ping_watchdog`` on the API's event loop: the same script through the webhook's
    Redis client and, if the Watchdog had gone silent, its incident resolved through the
    webhook's own driver."""
    spec = herald.config.watchdog
    assert spec is not None
    now = herald.clock()
    script, keys_, args = HeartbeatStore.ping_call(WATCHDOG, now, kind=WATCHDOG, severity=spec.severity,
                                                   timeout=spec.timeout_delta().total_seconds(),
                                                   default_timeout=DEFAULT_TIMEOUT)
    beat = HeartbeatStore.pinged(WATCHDOG, await ingest.scripts.run(script, keys_, args))
    if beat.missing_since is not None:
        group_key, labels, annotations = _silence(herald, WATCHDOG, beat.kind, beat.severity, beat.missing_since, None)
        await ingest.group(synthetic_group(herald, group_key, labels, annotations, "resolved", now, beat.severity,
                                           starts_at=beat.missing_since))
        await ingest.scripts.run(*HeartbeatStore.clear_call(WATCHDOG, beat.missing_since))
        beat = replace(beat, missing_since=None)
    return beat


def check(herald: Herald) -> int:
    """The periodic heartbeat task: open an incident for each heartbeat past its deadline (once
    per silence), resolve those whose pings came back. Answer how many changed."""
    now = herald.clock()
    store = heartbeat_store(herald)
    beats = {b.name: b for b in store.all()}
    done = 0
    for name, since in store.missing().items():
        beat = beats.get(name)
        if beat is not None and beat.late(now) and beat.deadline == since:
            continue  # still silent, already paged
        try:
            kind = beat.kind if beat else (WATCHDOG if name == WATCHDOG else "heartbeat")
            _resolve(herald, name, kind, beat.severity if beat else _default_severity(herald), since)
            done += 1
        except Exception:  # one heartbeat must not stop the others
            log.exception("heartbeat %s: resolving failed", name)
    for beat in beats.values():
        if not beat.late(now) or beat.missing_since == beat.deadline:
            continue
        try:
            log.warning("heartbeat %s silent since %s", beat.name, beat.deadline.isoformat())
            _group(herald, beat.name, beat.kind, beat.severity, "firing", beat.deadline, beat.timeout)
            store.mark_missing(beat.name, beat.deadline)
            done += 1
        except Exception:
            log.exception("heartbeat %s: opening its incident failed", beat.name)
    return done


def _default_severity(herald: Herald) -> str:
    return herald.config.watchdog.severity if herald.config.watchdog else "P1"


def _resolve(herald: Herald, name: str, kind: str, severity: str, since: datetime) -> None:
    _group(herald, name, kind, severity, "resolved", since, None)
    heartbeat_store(herald).clear_missing(name, since)


def _silence(herald: Herald, name: str, kind: str, severity: str, since: datetime,
             timeout: float | None) -> tuple[str, dict[str, str], dict[str, str]]:
    """The group key, labels and annotations of heartbeat ``name``'s silence that began at ``since``."""
    watchdog = kind == WATCHDOG
    labels = {"alertname": "WatchdogMissing" if watchdog else "HeraldHeartbeatMissing", "heartbeat": name,
              herald.config.severity.priority_label: severity}
    summary = "monitoring pipeline silent" if watchdog else f"heartbeat {name} missed"
    what = "Alertmanager's Watchdog alert" if watchdog else f"the heartbeat {name}"
    annotations = {"summary": summary,
                   "description": f"No ping of {what} since its deadline {since.isoformat()}"
                                  + (f" (timeout {timeout:g}s)." if timeout else ".")}
    return f"heartbeat:{name}", labels, annotations


def _group(herald: Herald, name: str, kind: str, severity: str, status: Literal["firing", "resolved"], since: datetime,
           timeout: float | None) -> list[Decision]:
    """The one alert of heartbeat ``name``'s silence that began at ``since``."""
    group_key, labels, annotations = _silence(herald, name, kind, severity, since, timeout)
    return ingest_synthetic(herald, group_key, labels, annotations, status, severity, starts_at=since)
