"""Alertmanager's always-firing Watchdog alert, taken out of a webhook before it is routed.

Its alerts are pings of the heartbeat ``watchdog`` (``service.engine.heartbeats``), never an
incident. The webhook's edge splits them off here (pure: no I/O), pings for them, and
routes only the rest.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from routing.alertmanager import AlertIn, WebhookPayload
from routing.matchers import all_match, compiled


@dataclass(frozen=True)
class WatchdogSplit:
    """``rest``: the payload without its Watchdog alerts (None if nothing is left);
    ``ping``: whether a firing Watchdog alert was among them (a resolved one is no ping)."""
    rest: WebhookPayload | None
    ping: bool


def split_watchdog(matchers: Sequence[str] | None, payload: WebhookPayload) -> WatchdogSplit:
    """Take the alerts matching every one of ``matchers`` (the configured
    ``watchdog.matchers``; None: no Watchdog configured) out of ``payload``."""
    if matchers is None:
        return WatchdogSplit(payload, False)
    matching = compiled(tuple(matchers))
    is_watchdog = [all_match(matching, a.labels) for a in payload.alerts]
    if not any(is_watchdog):
        return WatchdogSplit(payload, False)
    ping = any(a.status == "firing" for a, w in zip(payload.alerts, is_watchdog) if w)
    rest = [a for a, w in zip(payload.alerts, is_watchdog) if not w]
    if not rest:
        return WatchdogSplit(None, ping)
    return WatchdogSplit(payload.model_copy(update={"alerts": rest, "common_labels": _common(rest, "labels"),
                                                    "common_annotations": _common(rest, "annotations")}), ping)


def _common(alerts: list[AlertIn], field: str) -> dict[str, str]:
    """What Alertmanager computes as common labels (annotations) of the alerts left."""
    first, *others = (getattr(a, field) for a in alerts)
    return {k: v for k, v in first.items() if all(o.get(k) == v for o in others)}
