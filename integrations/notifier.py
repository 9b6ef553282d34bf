"""What a notifier is handed and what it answers: the contract between the delivery
pipeline (dedup -> send -> retry -> record) and each channel adapter."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

CHANNELS = ("sms", "voice", "email", "slack")


@dataclass(frozen=True, slots=True)
class OutboundPage:
    """One message to one person on one channel for one incident escalation round."""

    incident_id: str
    code: str  # short per-recipient incident code a person can reply with ("12")
    round: int
    tier: str
    person_id: str
    person_name: str
    channel: str  # "sms" | "voice" | "email" | "slack" | "console"
    address: str  # phone number or email address (slack: the email its user is found by; "" for console)
    severity: str  # "P0".."P3"
    title: str
    summary: str
    ack_url: str
    resolve_url: str = ""
    generator_url: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    drill: bool = False
    kind: str = "page"  # "page", or "notice": information to read (a handoff), nothing to acknowledge


@dataclass(frozen=True, slots=True)
class SendResult:
    """``sent``: the provider accepted it. ``retry``: transient (timeout, 429, 5xx).
    ``failed``: permanent (4xx, bad address): move on to the next channel.
    ``detail`` is safe to show: it never carries a credential."""

    outcome: str  # "sent" | "retry" | "failed"
    provider_id: str = ""
    detail: str = ""


class Notifier(Protocol):
    channel: str

    def send(self, page: OutboundPage) -> SendResult: ...
