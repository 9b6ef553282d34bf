"""The test alert ``herald fire`` (and ``herald dev``) posts: an Alertmanager webhook body
(version 4) for one alert that starts now — or ends now, to resolve it. Pure: the name,
the severity, the labels and ``now`` in, the payload out. The alert's identity (its group
and fingerprint) is the name plus the labels, never the time.
"""
from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from typing import Any

from routing.errors import Invalid
from routing.severity import SeverityMapping

DEFAULT_NAME = "HeraldTestAlert"
#: The receiver name test alerts carry: their incidents never merge with a real group.
RECEIVER = "herald-fire"
GO_ZERO_TIME = "0001-01-01T00:00:00Z"


class FireError(Invalid):
    """Bad input or an answer that is not a stored alert; the message says which."""


def rfc3339(at: datetime) -> str:
    return at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def severity_labels(severity: str, mapping: SeverityMapping) -> dict[str, str]:
    """Labels that ``mapping`` turns into ``severity``: the priority label when the
    configuration has one, and the severity label's value that maps to it."""
    labels: dict[str, str] = {}
    if mapping.priority_label:
        labels[mapping.priority_label] = severity
    value = next((v for v, s in mapping.values.items() if s == severity), None)
    if value is not None:
        labels[mapping.label] = value
    if not labels and mapping.default != severity:
        raise FireError(f"--severity {severity}: the configuration maps no {mapping.label!r} value to {severity} "
                        "and has no priority label")
    return labels


def fire_payload(name: str = DEFAULT_NAME, severity: str = "P1", *, now: datetime, resolve: bool = False,
                 labels: dict[str, str] | None = None, summary: str | None = None,
                 mapping: SeverityMapping | None = None) -> dict[str, Any]:
    """The Alertmanager webhook body for one test alert starting (or, ``resolve``,
    ending) at ``now``."""
    if not name or len(name) > 200 or not name.isprintable():
        raise FireError(f"alert name {name!r}: give 1 to 200 printable characters")
    identity = {"alertname": name, **(labels or {})}
    mapping = mapping or SeverityMapping()
    all_labels = {**identity, **severity_labels(severity, mapping)}
    fingerprint = hashlib.sha256("\0".join(f"{k}={v}" for k, v in sorted(identity.items())).encode()).hexdigest()[:16]
    group = "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(identity.items())) + "}"
    status = "resolved" if resolve else "firing"
    annotations = {"summary": summary or f"Test alert {name} from herald fire",
                   "description": "Sent by `herald fire`; `herald fire --resolve` resolves it."}
    stamp = rfc3339(now)
    alert = {"status": status, "labels": all_labels, "annotations": annotations, "startsAt": stamp,
             "endsAt": stamp if resolve else GO_ZERO_TIME, "generatorURL": "", "fingerprint": fingerprint}
    return {"version": "4", "groupKey": f"{{}}/{{herald_fire=\"true\"}}:{group}", "truncatedAlerts": 0,
            "status": status, "receiver": RECEIVER, "groupLabels": identity, "commonLabels": all_labels,
            "commonAnnotations": annotations, "externalURL": "", "alerts": [alert]}
