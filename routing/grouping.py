"""An Alertmanager payload -> what the decision function needs: the policies it routes
to, its severity, a title and the alert snapshots."""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass

from routing.alertmanager import WebhookPayload, alert_fingerprint, routing_labels
from routing.incident import AlertState
from routing.routes import Route, policies_for
from routing.severity import SeverityMapping, most_severe


@dataclass(frozen=True)
class AlertGroup:
    receiver: str
    group_key: str
    policies: tuple[str, ...]
    severity: str
    title: str
    alerts: tuple[AlertState, ...]


def title_of(payload: WebhookPayload) -> str:
    """``commonAnnotations.summary`` if there is one, else alertname and where it fires."""
    summary = payload.common_annotations.get("summary", "").strip()
    if summary:
        return summary[:200]
    labels = routing_labels(payload)
    first = payload.alerts[0].labels
    name = labels.get("alertname") or first.get("alertname") or "alert"
    where = next((labels.get(k) or "" for k in ("service", "instance", "job") if labels.get(k)), "")
    if not where and len(payload.alerts) == 1:
        where = next((first[k] for k in ("service", "instance", "job") if first.get(k)), "")
    count = len(payload.alerts)
    text = f"{name} {where}".strip()
    return (f"{text} ({count} alerts)" if count > 1 else text)[:200]


def group_of(payload: WebhookPayload, route: Route, severity: SeverityMapping) -> AlertGroup:
    alerts = tuple(
        AlertState(
            fingerprint=alert_fingerprint(a), status=a.status, labels=a.labels,
            annotations=a.annotations, starts_at=a.starts_at,
            ends_at=a.ends_at if a.status == "resolved" else None, generator_url=a.generator_url,
        )
        for a in payload.alerts
    )
    firing = [a for a in alerts if a.status == "firing"] or list(alerts)
    return AlertGroup(
        receiver=payload.receiver,
        group_key=payload.group_key,
        policies=tuple(policies_for(route, routing_labels(payload))),
        severity=most_severe(severity.of(a.labels) for a in firing),
        title=title_of(payload),
        alerts=alerts,
    )


def alerts_digest(alerts: Iterable[AlertState]) -> str:
    """A short digest of an alert set: equal digests mean a re-send changes nothing."""
    canonical = sorted((a.model_dump_json() for a in alerts))
    return hashlib.blake2b(json.dumps(canonical).encode(), digest_size=12).hexdigest()
