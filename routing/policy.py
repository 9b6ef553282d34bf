"""Escalation policies: the tiers an incident climbs and how long each may take.

A tier targets a schedule (and the tier inside that schedule's calendar) or a fixed
list of people. Each tier has an acknowledgement window per severity; when it passes
unacknowledged the next tier is paged. Channels per severity default to the
operating model's: P0/P1 phone + SMS, P2 SMS + email, P3 email.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from routing.business_hours import BusinessHours
from routing.severity import SEVERITIES

#: Response SLAs of the operating model: P0 immediate, P1 5 min, P2 15 min, P3 1 h.
DEFAULT_ESCALATE_AFTER: Mapping[str, timedelta] = {
    "P0": timedelta(minutes=5),
    "P1": timedelta(minutes=5),
    "P2": timedelta(minutes=15),
    "P3": timedelta(hours=1),
}

DEFAULT_CHANNELS: Mapping[str, tuple[str, ...]] = {
    "P0": ("voice", "sms"),
    "P1": ("voice", "sms"),
    "P2": ("sms", "email"),
    "P3": ("email",),
}

#: The order a person's channels are tried in when one fails (``routing.page_outcomes``);
#: with Slack DMs as a paging channel (``slack.dm_paging``), Slack comes between SMS and email.
FALLBACK_ORDER: tuple[str, ...] = ("sms", "voice", "email")
FALLBACK_WITH_SLACK: tuple[str, ...] = ("sms", "voice", "slack", "email")


@dataclass(frozen=True)
class Tier:
    name: str
    schedule: str | None = None
    schedule_tier: str | None = None  # the tier inside the schedule; defaults to ``name``
    people: tuple[str, ...] = ()
    escalate_after: Mapping[str, timedelta] = field(default_factory=lambda: dict(DEFAULT_ESCALATE_AFTER))
    channels: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: dict(DEFAULT_CHANNELS))

    def __post_init__(self) -> None:
        if not self.schedule and not self.people:
            raise ValueError(f"tier {self.name!r} must name a schedule or people")
        for severity, delay in self.escalate_after.items():
            if severity not in SEVERITIES:
                raise ValueError(f"tier {self.name!r}: unknown severity {severity!r}")
            if delay < timedelta(0):
                raise ValueError(f"tier {self.name!r}: delay for {severity} cannot be negative")

    def delay(self, severity: str) -> timedelta:
        return self.escalate_after.get(severity, DEFAULT_ESCALATE_AFTER[severity])

    def channels_for(self, severity: str) -> tuple[str, ...]:
        return tuple(self.channels.get(severity, DEFAULT_CHANNELS[severity]))


@dataclass(frozen=True)
class SeverityRule:
    """How a severity climbs a policy.

    ``page_tiers``: tiers paged together at the start (P0 pages L1 and L2 at once);
    ``repeat``: how many times the whole chain starts over after the last tier;
    ``ack_timeout``: an acknowledged, unresolved incident re-triggers after this
    (None: never); ``business_hours_only``: outside the policy's business hours the
    incident is recorded and paged when they start.
    """

    page_tiers: int = 1
    repeat: int = 0
    ack_timeout: timedelta | None = None
    business_hours_only: bool = False

    def __post_init__(self) -> None:
        if self.page_tiers < 1:
            raise ValueError("page_tiers must be at least 1")
        if self.repeat < 0:
            raise ValueError("repeat cannot be negative")
        if self.ack_timeout is not None and self.ack_timeout <= timedelta(0):
            raise ValueError("ack_timeout must be positive")


DEFAULT_RULES: Mapping[str, SeverityRule] = {
    "P0": SeverityRule(page_tiers=2, repeat=3),
    "P1": SeverityRule(repeat=2),
    "P2": SeverityRule(repeat=1),
    "P3": SeverityRule(business_hours_only=True),
}


@dataclass(frozen=True)
class Policy:
    name: str
    tiers: tuple[Tier, ...]
    rules: Mapping[str, SeverityRule] = field(default_factory=lambda: dict(DEFAULT_RULES))
    business_hours: BusinessHours | None = None
    #: People who may act on this policy's incidents by SMS or keypress without being
    #: paged or on call (incident commanders, a team lead): see routing/responders.py.
    responders: tuple[str, ...] = ()
    #: The channels a failed page falls back through, in order.
    fallback: tuple[str, ...] = FALLBACK_ORDER

    def rule(self, severity: str) -> SeverityRule:
        return self.rules.get(severity, DEFAULT_RULES[severity])

    def __post_init__(self) -> None:
        if not self.tiers:
            raise ValueError(f"policy {self.name!r} has no tiers")
        names = [t.name for t in self.tiers]
        if len(set(names)) != len(names):
            raise ValueError(f"policy {self.name!r} names a tier twice")


#: Who is on call right now for each tier of a policy: tier name -> person ids.
Roster = Mapping[str, tuple[str, ...]]
