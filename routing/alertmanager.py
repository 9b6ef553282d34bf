"""Alertmanager webhook payload (version 4) -> normalised alerts.

Parsed exactly as Alertmanager sends it: unknown fields (``truncatedAlerts``,
``notification_reason``, ``routeLabels`` …) are tolerated, firing alerts carry
``endsAt: 0001-01-01T00:00:00Z``, and receiver names may hold any characters.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

ZERO_TIME = datetime(1, 1, 1, tzinfo=timezone.utc)


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class AlertIn(_Lenient):
    status: Literal["firing", "resolved"]
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: datetime = Field(alias="startsAt")
    ends_at: datetime | None = Field(default=None, alias="endsAt")
    generator_url: str = Field(default="", alias="generatorURL")
    fingerprint: str = ""

    @field_validator("starts_at", "ends_at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("timestamps must carry a time zone")
        return value.astimezone(timezone.utc)


class WebhookPayload(_Lenient):
    version: str
    group_key: str = Field(alias="groupKey", min_length=1, max_length=4096)
    truncated_alerts: int = Field(default=0, alias="truncatedAlerts")
    status: Literal["firing", "resolved"]
    receiver: str = Field(min_length=1, max_length=1024)
    group_labels: dict[str, str] = Field(default_factory=dict, alias="groupLabels")
    common_labels: dict[str, str] = Field(default_factory=dict, alias="commonLabels")
    common_annotations: dict[str, str] = Field(default_factory=dict, alias="commonAnnotations")
    external_url: str = Field(default="", alias="externalURL")
    alerts: list[AlertIn] = Field(min_length=1, max_length=10_000)

    @field_validator("version")
    @classmethod
    def _v4(cls, value: str) -> str:
        if value != "4":
            raise ValueError(f"unsupported webhook version {value!r}; Herald understands version 4")
        return value


def alert_fingerprint(alert: AlertIn) -> str:
    """Alertmanager's fingerprint, or a stable stand-in built from the labels."""
    if alert.fingerprint:
        return alert.fingerprint
    return "labels:" + ",".join(f"{k}={v}" for k, v in sorted(alert.labels.items()))


def is_resolved(alert: AlertIn) -> bool:
    return alert.status == "resolved"


def routing_labels(payload: WebhookPayload) -> dict[str, str]:
    """Labels the route tree matches on: the group's common labels (group labels win)."""
    return {**payload.common_labels, **payload.group_labels}
