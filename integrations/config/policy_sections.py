"""YAML sections for how severities climb a policy, business hours and the watchdog.

Kept beside ``integrations/config/model.py``; every value is validated and an error names the
field (a delay can't be negative, a weekday must exist, a time must parse).
"""
from __future__ import annotations

from datetime import time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from integrations.config.values import parse_duration
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from routing.business_hours import DAY_NAMES, BusinessHours
from routing.matchers import validated
from routing.policy import DEFAULT_RULES, SeverityRule
from routing.severity import SEVERITIES


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _duration(value: Any) -> timedelta:
    return parse_duration(value)


#: What ``ack_timeout`` takes for "never".
OFF = ("off", "none", "0", "0s")


def _clock(value: str) -> time:
    try:
        return time.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a time of day (use HH:MM, e.g. 09:00)") from None


class RuleSpec(_Strict):
    """Per severity: tiers paged at once, repeats of the chain, ack timeout, business hours only."""

    page_tiers: int | None = Field(None, ge=1, le=10)
    repeat: int | None = Field(None, ge=0, le=20)
    ack_timeout: Any = None  # a duration, or "off"
    business_hours_only: bool | None = None

    @field_validator("ack_timeout")
    @classmethod
    def _ack_timeout(cls, value: Any) -> Any:
        if value is not None and str(value).lower() not in OFF:
            _duration(value)
        return value


class BusinessHoursSpec(_Strict):
    timezone: str = "UTC"
    days: list[str] = Field(default_factory=lambda: ["mon", "tue", "wed", "thu", "fri"])
    start: str = "09:00"
    end: str = "17:00"

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (an IANA name such as Europe/Berlin)") from None
        return value

    @field_validator("start")
    @classmethod
    def _start(cls, value: str) -> str:
        _clock(value)
        return value

    @field_validator("end")
    @classmethod
    def _end(cls, value: str, info: ValidationInfo) -> str:
        end, start = _clock(value), info.data.get("start")
        if start is not None and end <= _clock(start):
            raise ValueError(f"{value} is not after start ({start}): business hours end after they start")
        return value

    @field_validator("days")
    @classmethod
    def _days(cls, value: list[str]) -> list[str]:
        bad = [d for d in value if d.lower()[:3] not in DAY_NAMES]
        if bad or not value:
            raise ValueError(f"days must be among {', '.join(DAY_NAMES)} (got {bad or 'none'})")
        return value

    def build(self) -> BusinessHours:
        try:
            start, end = time.fromisoformat(self.start), time.fromisoformat(self.end)
        except ValueError as exc:
            raise ValueError(f"business_hours: times are HH:MM ({exc})") from None
        try:
            return BusinessHours(timezone=self.timezone, days=tuple(DAY_NAMES.index(d.lower()[:3]) for d in self.days),
                                 start=start, end=end)
        except (ValueError, KeyError) as exc:  # ZoneInfoNotFoundError is a KeyError
            raise ValueError(f"business_hours: {exc}") from None


class WatchdogSpec(_Strict):
    """Alertmanager's always-firing alert as a dead man's switch."""

    matchers: list[str] = Field(default_factory=lambda: ['alertname="Watchdog"'])
    timeout: Any = "5m"  # silence longer than this opens a P1 incident
    severity: str = "P1"

    @field_validator("timeout")
    @classmethod
    def _timeout(cls, value: Any) -> Any:
        if _duration(value) <= timedelta(0):
            raise ValueError("must be positive")
        return value

    @field_validator("matchers")
    @classmethod
    def _matchers(cls, value: list[str]) -> list[str]:
        return validated(value)

    @field_validator("severity")
    @classmethod
    def _severity(cls, value: str) -> str:
        if value not in SEVERITIES:
            raise ValueError(f"severity must be one of {', '.join(SEVERITIES)}")
        return value

    def timeout_delta(self) -> timedelta:
        delta = _duration(self.timeout)
        if delta <= timedelta(0):
            raise ValueError("must be positive")
        return delta


def build_rules(where: str, specs: dict[str, RuleSpec]) -> dict[str, SeverityRule]:
    rules = dict(DEFAULT_RULES)
    for severity, spec in specs.items():
        if severity not in SEVERITIES:
            raise ValueError(f"{where}.{severity}: unknown severity; use {', '.join(SEVERITIES)}")
        base = DEFAULT_RULES[severity]
        timeout = base.ack_timeout
        if spec.ack_timeout is not None:
            timeout = None if str(spec.ack_timeout).lower() in OFF else _duration(spec.ack_timeout)
        try:
            rules[severity] = SeverityRule(
                page_tiers=spec.page_tiers if spec.page_tiers is not None else base.page_tiers,
                repeat=spec.repeat if spec.repeat is not None else base.repeat,
                ack_timeout=timeout,
                business_hours_only=(spec.business_hours_only if spec.business_hours_only is not None
                                     else base.business_hours_only))
        except ValueError as exc:
            raise ValueError(f"{where}.{severity}: {exc}") from None
    return rules
