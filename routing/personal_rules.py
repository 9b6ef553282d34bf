"""Personal notification rules: how each person wants to be paged, per urgency.

A person may say, for each urgency (``high``: P0 and P1, ``low``: P2 and P3 unless the
configuration file's ``urgency:`` section maps them otherwise), which channels page
them and after how many minutes while the incident is unacknowledged — for example
voice at 0, SMS at 0 and email at +5. An urgency with no steps keeps the policy's
channels for that person, and so does a person with no rules at all.

Pure data: ``decide`` is handed a :class:`Rulebook` (the urgencies and the rules of the
people it may page) and ``routing.escalation`` turns each step into a page due at
``now + delay``. A delayed step is an ordinary pending page with a later ``at``: it is
in the incident's due entry (``Incident.due_at``), it goes through the same rate window,
bundling and fallback when it is due, and an acknowledgement cancels it with every
other pending page.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from routing.severity import SEVERITIES

Urgency = Literal["high", "low"]
URGENCIES: tuple[Urgency, ...] = ("high", "low")
#: The channels a rule may page on (the console is not a way to reach a person).
RULE_CHANNELS = ("voice", "sms", "email")
#: The longest delay of a step: a day.
MAX_DELAY_MINUTES = 24 * 60
#: Steps per urgency at most (each channel once).
MAX_STEPS = len(RULE_CHANNELS)


class RuleStep(BaseModel):
    """Page on ``channel`` ``delay_minutes`` after the tier pages this person, unless the
    incident has been acknowledged (or resolved) by then."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    channel: Literal["voice", "sms", "email"]
    delay_minutes: int = Field(0, ge=0, le=MAX_DELAY_MINUTES)

    @property
    def delay(self) -> timedelta:
        return timedelta(minutes=self.delay_minutes)


class PersonalRules(BaseModel):
    """One person's rules: the steps for each urgency (empty: the policy's channels).

    Each channel appears at most once per urgency — a page is one (round, person,
    channel), the unit the pipeline deduplicates and bundles by — and the steps are
    kept in the order they fire (by delay, then as given)."""

    model_config = ConfigDict(extra="forbid")

    high: list[RuleStep] = Field(default_factory=list, max_length=MAX_STEPS)
    low: list[RuleStep] = Field(default_factory=list, max_length=MAX_STEPS)

    @field_validator("high", "low")
    @classmethod
    def _each_channel_once(cls, steps: list[RuleStep]) -> list[RuleStep]:
        seen: set[str] = set()
        for step in steps:
            if step.channel in seen:
                raise ValueError(f"channel {step.channel!r} appears twice (each channel at most once per urgency)")
            seen.add(step.channel)
        return sorted(steps, key=lambda s: s.delay_minutes)

    def steps(self, urgency: Urgency) -> tuple[RuleStep, ...]:
        return tuple(self.high if urgency == "high" else self.low)

    @property
    def empty(self) -> bool:
        return not self.high and not self.low


@dataclass(frozen=True)
class Urgencies:
    """Which severities are ``high`` urgency and which ``low`` (each severity in one)."""

    high: tuple[str, ...] = ("P0", "P1")
    low: tuple[str, ...] = ("P2", "P3")

    def __post_init__(self) -> None:
        for name in URGENCIES:
            unknown = [s for s in getattr(self, name) if s not in SEVERITIES]
            if unknown:
                raise ValueError(f"{name}: unknown severity {unknown[0]!r} (one of {', '.join(SEVERITIES)})")
        both = set(self.high) & set(self.low)
        if both:
            raise ValueError(f"high: {sorted(both)[0]} is in both high and low")
        missing = [s for s in SEVERITIES if s not in self.high and s not in self.low]
        if missing:
            raise ValueError(f"low: {missing[0]} is in neither high nor low (every severity needs an urgency)")

    def of(self, severity: str) -> Urgency:
        return "high" if severity in self.high else "low"


@dataclass(frozen=True)
class Rulebook:
    """What ``decide`` needs to follow personal rules: the urgencies, and the rules of the
    people it may page (people not in ``rules`` keep the policy's channels)."""

    urgencies: Urgencies = field(default_factory=Urgencies)
    rules: Mapping[str, PersonalRules] = field(default_factory=dict)

    def steps(self, person: str, severity: str) -> tuple[RuleStep, ...]:
        """The person's steps for ``severity``'s urgency; empty: the policy's channels."""
        rules = self.rules.get(person)
        return rules.steps(self.urgencies.of(severity)) if rules is not None else ()


#: No personal rules at all: everyone is paged on the policy's channels.
NO_RULES = Rulebook()

