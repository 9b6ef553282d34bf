"""The ``webhooks:`` section: outgoing webhook endpoints (docs/webhooks.md).

Each endpoint gets the events it asks for, signed per the Standard Webhooks
specification with a secret read from the environment variable it names
(``secret_env``) when the file loads: a missing or malformed secret is a configuration
error naming the endpoint, the field and the variable, never the secret.
"""
from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from integrations.config.paths import NAME, labels
from integrations.config.values import parse_duration

#: Every event type an endpoint may ask for (routing.webhook_events maps the timeline to them).
EventType = Literal["incident.opened", "incident.acknowledged", "incident.escalated", "incident.resolved",
                    "page.sent", "page.failed", "handoff.created"]
EVENT_TYPES: tuple[str, ...] = ("incident.opened", "incident.acknowledged", "incident.escalated",
                                "incident.resolved", "page.sent", "page.failed", "handoff.created")


class WebhookSpec(BaseModel):
    """One endpoint: where, which events, the signing secret's variable, the timeout."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME)
    url: str = Field(pattern=r"^https?://[^\s/]+[^\s]*$", max_length=2000)
    events: list[EventType] = Field(default_factory=lambda: list(EVENT_TYPES), min_length=1)
    secret_env: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    timeout: float = Field(10.0, gt=0, le=60)  # seconds (or 5s, 1m) for one delivery attempt

    @field_validator("timeout", mode="before")
    @classmethod
    def _seconds(cls, value: Any) -> float:
        return parse_duration(value).total_seconds()


@dataclass(frozen=True)
class WebhookEndpoint:
    """An endpoint ready to send to: its secret read (``whsec_<base64>``), never printed."""

    name: str
    url: str
    events: frozenset[str]
    timeout: float
    secret: str = field(repr=False)

    @property
    def sink(self) -> str:
        """Its name as a follower (``integrations.followers``)."""
        return f"webhook:{self.name}"


def secret_problem(value: str | None) -> str | None:
    """What is wrong with a Standard Webhooks secret, or None."""
    if value is None:
        return "is not set"
    body = value.removeprefix("whsec_")
    if not value.startswith("whsec_") or not body:
        return "must be whsec_ followed by base64 (e.g. whsec_ and 24 or more random bytes, base64-encoded)"
    try:
        raw = base64.b64decode(body + "=" * (-len(body) % 4), validate=True)
    except (binascii.Error, ValueError):
        return "is not whsec_ followed by valid base64"
    if len(raw) < 16:
        return "is too short: use at least 16 random bytes (24 is usual)"
    return None


def build_endpoints(specs: list[WebhookSpec], environ: Mapping[str, str] | None = None) -> tuple[WebhookEndpoint, ...]:
    """The endpoints of the ``webhooks:`` section; ValueError naming ``webhooks.<name>.<field>``."""
    environ = os.environ if environ is None else environ
    names = [s.name for s in specs]
    for i, name in enumerate(names):
        if names.index(name) != i:
            raise ValueError(f"webhooks.{i}.name: {name!r} is used twice")
    out = []
    for label, spec in zip(labels(specs), specs, strict=True):
        problem = secret_problem(environ.get(spec.secret_env))
        if problem is not None:
            raise ValueError(f"webhooks.{label}.secret_env: the environment variable {spec.secret_env} {problem}")
        out.append(WebhookEndpoint(name=spec.name, url=spec.url, events=frozenset(spec.events),
                                   timeout=spec.timeout, secret=environ[spec.secret_env]))
    return tuple(out)
