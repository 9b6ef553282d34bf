"""An Alertmanager payload -> what the decision function needs: the policies it routes
to, its severity, a title and the alert snapshots."""
from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import TypeAdapter

from routing.alertmanager import AlertIn, WebhookPayload, alert_fingerprint, routing_labels
from routing.incident import AlertState
from routing.routes import Route, policies_for
from routing.severity import SeverityMapping, most_severe


_SNAPSHOTS = TypeAdapter(list[AlertState])
_RECEIVED = TypeAdapter(list[AlertIn])
#: The digest of a group Herald raised itself: never equal to a payload's.
NO_DIGEST = "-"


@dataclass(frozen=True)
class AlertGroup:
    receiver: str
    group_key: str
    policies: tuple[str, ...]
    severity: str
    title: str
    alerts: tuple[AlertState, ...]
    digest: str = NO_DIGEST  # of the payload (``body_digest`` / ``payload_digest``)
    more_firing: bool = False  # Alertmanager truncated the payload of a group that is firing
    by: str = "alertmanager"  # who sent it: an integration's name (``routing.integration``)
    via: str = "alertmanager"  # and its kind


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


def policies_of(payload: WebhookPayload, route: Route) -> tuple[str, ...]:
    return tuple(policies_for(route, routing_labels(payload)))


def payload_digest(payload: WebhookPayload) -> str:
    """A short digest of a payload's alerts, in fingerprint order. A group's stored
    digest is that of the payload last applied to it, so an equal one is a re-send:
    applying the same alerts again changes nothing (``decide`` is idempotent)."""
    ordered = sorted(payload.alerts, key=alert_fingerprint)
    return hashlib.blake2b(_RECEIVED.dump_json(ordered), digest_size=12).hexdigest()


def body_digest(body: bytes) -> str:
    """The digest of a webhook body exactly as received, for the same purpose as
    ``payload_digest`` at a fraction of the cost: Alertmanager re-sends an unchanged
    group byte for byte (its alerts sorted, no timestamps of its own). A copy that
    differs in any byte (the other instance of an HA pair: its own externalURL) is
    simply decided in full, which finds nothing to change."""
    return hashlib.blake2b(body, digest_size=12).hexdigest()


def snapshots(alerts: Sequence[AlertIn]) -> list[AlertState]:
    """The alerts as the decision function sees them (a caller may build them in parts)."""
    return _SNAPSHOTS.validate_python([  # one call into pydantic-core for the whole list
        {"fingerprint": alert_fingerprint(a), "status": a.status, "labels": a.labels, "annotations": a.annotations,
         "starts_at": a.starts_at, "ends_at": a.ends_at if a.status == "resolved" else None,
         "generator_url": a.generator_url}
        for a in alerts])


def group_of(payload: WebhookPayload, route: Route, severity: SeverityMapping,
             policies: tuple[str, ...] | None = None, digest: str = NO_DIGEST,
             alerts: Sequence[AlertState] | None = None) -> AlertGroup:
    """The group (``policies``: already routed by the caller; ``digest``: of the payload,
    for a group that is to be stored; ``alerts``: the payload's ``snapshots``, if the
    caller built them)."""
    alerts = tuple(snapshots(payload.alerts) if alerts is None else alerts)
    firing = [a for a in alerts if a.status == "firing"] or list(alerts)
    return AlertGroup(
        receiver=payload.receiver,
        group_key=payload.group_key,
        policies=policies_of(payload, route) if policies is None else policies,
        severity=most_severe(severity.of(a.labels) for a in firing),
        title=title_of(payload),
        alerts=alerts,
        digest=digest,
        more_firing=payload.truncated_alerts > 0 and payload.status == "firing",
    )
