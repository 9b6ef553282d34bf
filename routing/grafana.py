"""Grafana Alerting's webhook contact point (payload version "1") -> an :class:`AlertGroup`.

Pure. Grafana's webhook is Alertmanager's payload (``receiver``, ``status``, ``alerts``,
``groupLabels``, ``commonLabels``, ``commonAnnotations``, ``externalURL``, ``groupKey``,
``truncatedAlerts``) with ``version: "1"`` and Grafana's own fields: ``orgId``, ``title``,
``state``, ``message`` on the notification and, on each alert, ``silenceURL``,
``dashboardURL``, ``panelURL``, ``imageURL`` and ``values``. Unknown fields are tolerated.

The group is ``("grafana:<integration>", groupKey)``: each Grafana notification group is
one incident per matching policy while it fires, and the notification that says its
alerts resolved resolves it (the same episode rule as Alertmanager's). Each alert keeps its
fingerprint and labels (with the integration's labels and ``integration=<name>`` added);
its Grafana links (dashboard, panel, silence, image, the rule) travel in its ``links``
annotation (``routing.integration.links_annotation``), shown on the incident and in pages.
Severity: the file's severity mapping over each firing alert's labels, unless the
integration gives its own ``severity`` map (then its ``severity`` label's word, mapped).
"""
from __future__ import annotations

import json
from typing import Any

from pydantic import Field, field_validator

from routing.alertmanager import AlertIn, _Lenient, alert_fingerprint
from routing.grouping import NO_DIGEST, AlertGroup
from routing.incident import AlertState
from routing.integration import INTEGRATION_LABEL, MAX_TITLE, Integration, Link, links_annotation
from routing.routes import Route, policies_for
from routing.severity import SeverityMapping, most_severe

#: The version Grafana's webhook contact point sends (Alertmanager's is "4").
GRAFANA_VERSION = "1"
#: The longest ``values`` annotation kept (Grafana sends every query's value).
MAX_VALUES = 500


class GrafanaAlertIn(AlertIn):
    """One alert: Alertmanager's fields and Grafana's links and values."""

    silence_url: str = Field(default="", alias="silenceURL")
    dashboard_url: str = Field(default="", alias="dashboardURL")
    panel_url: str = Field(default="", alias="panelURL")
    image_url: str = Field(default="", alias="imageURL")
    values: dict[str, Any] | None = None
    value_string: str = Field(default="", alias="valueString")


class GrafanaPayload(_Lenient):
    version: str
    group_key: str = Field(alias="groupKey", min_length=1, max_length=4096)
    truncated_alerts: int = Field(default=0, alias="truncatedAlerts")
    status: str
    receiver: str = Field(default="", max_length=1024)
    org_id: int = Field(default=0, alias="orgId")
    group_labels: dict[str, str] = Field(default_factory=dict, alias="groupLabels")
    common_labels: dict[str, str] = Field(default_factory=dict, alias="commonLabels")
    common_annotations: dict[str, str] = Field(default_factory=dict, alias="commonAnnotations")
    external_url: str = Field(default="", alias="externalURL")
    title: str = ""
    state: str = ""
    message: str = ""
    alerts: list[GrafanaAlertIn] = Field(min_length=1, max_length=10_000)

    @field_validator("version")
    @classmethod
    def _v1(cls, value: str) -> str:
        if value != GRAFANA_VERSION:
            raise ValueError(f"unsupported webhook version {value!r}; Grafana's webhook contact point "
                             f"sends version {GRAFANA_VERSION} (Alertmanager's version 4 goes to /api/v1/alertmanager)")
        return value


def is_grafana_body(data: object) -> bool:
    """Whether a decoded body looks like Grafana's webhook (version "1" and its ``orgId``
    or ``state``): what the Alertmanager route tells its sender to post elsewhere."""
    return isinstance(data, dict) and str(data.get("version")) == GRAFANA_VERSION and (
        "orgId" in data or "state" in data or "alerts" in data)


def links_of_alert(alert: GrafanaAlertIn) -> list[Link]:
    """The alert's Grafana links, most useful first; empty ones left out."""
    found = [(alert.dashboard_url, "Dashboard"), (alert.panel_url, "Panel"), (alert.generator_url, "Alert rule"),
             (alert.silence_url, "Silence"), (alert.image_url, "Image")]
    return [Link(href.strip(), text) for href, text in found if href and href.strip()]


def _values_text(values: dict[str, Any] | None, value_string: str) -> str:
    if values:
        text = ", ".join(f"{k}={json.dumps(v, separators=(',', ':'))}" for k, v in sorted(values.items()))
    else:
        text = value_string.strip()
    return text[:MAX_VALUES]


def alert_labels(integration: Integration, alert: GrafanaAlertIn) -> dict[str, str]:
    return {**alert.labels, **integration.labels, INTEGRATION_LABEL: integration.name}


def routing_labels(integration: Integration, payload: GrafanaPayload) -> dict[str, str]:
    """What the route tree matches on: the group's common labels (group labels win), then
    the integration's labels and name (which win: its config decides where its alerts go)."""
    return {**payload.common_labels, **payload.group_labels, **integration.labels, INTEGRATION_LABEL: integration.name}


def snapshot(integration: Integration, alert: GrafanaAlertIn) -> AlertState:
    annotations = dict(alert.annotations)
    values = _values_text(alert.values, alert.value_string)
    if values:
        annotations.setdefault("values", values)
    links = links_of_alert(alert)
    if links:
        annotations["links"] = links_annotation(links)
    else:
        annotations.pop("links", None)  # never a sender's own (unchecked) links annotation
    resolved = alert.status == "resolved"
    return AlertState(fingerprint=alert_fingerprint(alert), status=alert.status,
                      labels=alert_labels(integration, alert), annotations=annotations,
                      starts_at=alert.starts_at, ends_at=alert.ends_at if resolved else None,
                      generator_url=alert.generator_url)


def severity_of(integration: Integration, severity: SeverityMapping, alerts: list[AlertState]) -> str:
    firing = [a for a in alerts if a.status == "firing"] or alerts
    if integration.severity:
        return most_severe(integration.severity_of(a.labels.get("severity")) for a in firing)
    return most_severe(severity.of(a.labels) for a in firing)


def title_of(payload: GrafanaPayload) -> str:
    """``commonAnnotations.summary``, else the alert name and where it fires, else Grafana's
    title without its ``[FIRING:n]`` prefix (which changes as alerts come and go)."""
    summary = payload.common_annotations.get("summary", "").strip()
    if summary:
        return summary[:MAX_TITLE]
    labels = {**payload.common_labels, **payload.group_labels}
    first = payload.alerts[0].labels
    name = labels.get("alertname") or (first.get("alertname") if len(payload.alerts) == 1 else "")
    if not name:
        title = payload.title.strip()
        if title.startswith("[") and "]" in title:
            title = title.split("]", 1)[1].strip()
        name = title or first.get("alertname") or "Grafana alert"
    where_from = labels if len(payload.alerts) > 1 else {**first, **labels}
    where = next((where_from[k] for k in ("service", "instance", "job") if where_from.get(k)), "")
    text = f"{name} {where}".strip()
    count = len(payload.alerts)
    return (f"{text} ({count} alerts)" if count > 1 else text)[:MAX_TITLE]


def grafana_group(payload: GrafanaPayload, integration: Integration, route: Route, severity: SeverityMapping,
                  digest: str = NO_DIGEST) -> AlertGroup:
    """The alert group of one Grafana notification, for ``integration``."""
    alerts = [snapshot(integration, a) for a in payload.alerts]
    policies = (integration.policy,) if integration.policy else tuple(
        policies_for(route, routing_labels(integration, payload)))
    return AlertGroup(receiver=integration.receiver, group_key=payload.group_key, policies=policies,
                      severity=severity_of(integration, severity, alerts), title=title_of(payload),
                      alerts=tuple(alerts), digest=digest,
                      more_firing=payload.truncated_alerts > 0 and payload.status == "firing",
                      by=integration.name, via=integration.kind)
