"""The YAML configuration file: people, schedules, policies, routes, severity.

Validated at start-up; every error names the file, the field and what is wrong.
``load_config(path)`` is the only entry point; ``herald check-config`` calls it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from routing.matchers import MatcherError
from service.config_policy import BusinessHoursSpec, RuleSpec, WatchdogSpec, build_rules
from routing.policy import DEFAULT_CHANNELS, DEFAULT_ESCALATE_AFTER, Policy, Tier
from routing.routes import Route, build_route
from routing.severity import SEVERITIES, SeverityMapping
from schedules.model import Person

_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
CHANNEL_NAMES = ("voice", "sms", "email", "console")


class ConfigError(ValueError):
    """The configuration file is missing or wrong; the message says where and why."""


def parse_duration(value: Any) -> timedelta:
    """``90``, ``"90s"``, ``"5m"``, ``"1h30m"`` -> timedelta; never negative."""
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError(f"a duration cannot be negative: {value!r}")
        return timedelta(seconds=value)
    text = str(value).strip()
    found = _DURATION.match(text)
    if not text or not found or not any(found.groups()):
        raise ValueError(f"not a duration: {value!r} (use e.g. 30s, 5m, 1h30m)")
    hours, minutes, seconds = (int(g or 0) for g in found.groups())
    return timedelta(hours=hours, minutes=minutes, seconds=seconds)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PersonSpec(_Strict):
    id: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    name: str
    email: str | None = None
    phone: str | None = Field(None, pattern=r"^\+[1-9]\d{6,14}$")


class ScheduleSpec(_Strict):
    """One rotation calendar and where it comes from: a file (``calendar``), an http(s)
    ``url`` polled every ``poll_interval``, or ``source: upload`` (PUT /api/v1/schedules/NAME)."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    calendar: str | None = None  # a path (relative to the config file)
    url: str | None = Field(None, pattern=r"^https?://[^\s]+$")
    source: Literal["file", "url", "upload"] | None = None  # default: file with calendar, url with url
    poll_interval: float = Field(300.0, ge=1)  # seconds (or 30s, 5m, ...) between polls of url
    timeout: float = Field(10.0, gt=0, le=120)  # seconds for one fetch of url
    max_bytes: int = Field(2 * 1024 * 1024, ge=1024)  # largest calendar fetched, read or uploaded
    timezone: str = "UTC"
    match: list[Literal["attendee", "organizer", "summary", "description"]] = ["attendee", "summary"]
    tier_markers: dict[str, str] = Field(default_factory=dict)
    default_tier: str = "L1"
    digest: bool = False  # at each shift start, send the incoming on-call a digest of what is open

    @field_validator("poll_interval", "timeout", mode="before")
    @classmethod
    def _seconds(cls, value: Any) -> float:
        return parse_duration(value).total_seconds()

    @model_validator(mode="after")
    def _one_source(self) -> "ScheduleSpec":
        given = [key for key in ("calendar", "url") if getattr(self, key) is not None]
        if self.source is None:
            if len(given) != 1:
                raise ValueError("give one of calendar (a file) or url, or set source: upload")
            self.source = "file" if given == ["calendar"] else "url"
        wanted = {"file": ["calendar"], "url": ["url"], "upload": []}[self.source]
        if given != wanted:
            raise ValueError(f"source {self.source} takes " + (f"{wanted[0]} only" if wanted else
                                                                "neither calendar nor url"))
        return self


def _severity_keys(value: dict[str, Any]) -> dict[str, Any]:
    for key in value:
        if key not in SEVERITIES:
            raise ValueError(f"unknown severity {key!r}; use {', '.join(SEVERITIES)}")
    return value


class TierSpec(_Strict):
    name: str
    schedule: str | None = None
    tier: str | None = None  # the tier inside the schedule's calendar
    people: list[str] = Field(default_factory=list)
    escalate_after: dict[str, Any] = Field(default_factory=dict)
    channels: dict[str, list[Literal["voice", "sms", "email", "console"]]] = Field(default_factory=dict)

    _check_escalate = field_validator("escalate_after", "channels")(_severity_keys)


class PolicySpec(_Strict):
    name: str
    escalate_after: dict[str, Any] = Field(default_factory=dict)
    tiers: list[TierSpec] = Field(min_length=1)
    severities: dict[str, RuleSpec] = Field(default_factory=dict)
    business_hours: BusinessHoursSpec | None = None
    responders: list[str] = Field(default_factory=list)  # person ids who may act by SMS / keypress

    _check_escalate = field_validator("escalate_after")(_severity_keys)


class SeveritySpec(_Strict):
    label: str = "severity"
    map: dict[str, Literal["P0", "P1", "P2", "P3"]] = Field(
        default_factory=lambda: {"critical": "P1", "warning": "P2", "info": "P3"})
    priority_label: str = "priority"
    default: Literal["P0", "P1", "P2", "P3"] = "P2"


class FileSpec(_Strict):
    people: list[PersonSpec] = Field(min_length=1)
    schedules: list[ScheduleSpec] = Field(default_factory=list)
    policies: list[PolicySpec] = Field(min_length=1)
    route: dict[str, Any]
    severity: SeveritySpec = Field(default_factory=SeveritySpec)
    watchdog: WatchdogSpec | None = None


@dataclass(frozen=True)
class HeraldConfig:
    path: Path
    people: dict[str, Person]
    schedules: dict[str, ScheduleSpec]
    policies: dict[str, Policy]
    route: Route
    severity: SeverityMapping
    watchdog: WatchdogSpec | None = None

    def calendar_path(self, schedule: str) -> Path:
        return (self.path.parent / self.schedules[schedule].calendar).resolve()


def load_config(path: str | Path) -> HeraldConfig:
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    try:
        spec = FileSpec.model_validate(raw if raw is not None else {})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top)'}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"{path}: {problems}") from None
    try:
        return _build(path, spec)
    except (ValueError, MatcherError) as exc:
        raise ConfigError(f"{path}: {exc}") from None


def _durations(where: str, values: dict[str, Any]) -> dict[str, timedelta]:
    out = {}
    for severity, value in values.items():
        try:
            out[severity] = parse_duration(value)
        except ValueError as exc:
            raise ValueError(f"{where}.{severity}: {exc}") from None
    return out


def _build(path: Path, spec: FileSpec) -> HeraldConfig:
    people = {p.id: Person(id=p.id, name=p.name, email=p.email, phone=p.phone) for p in spec.people}
    if len(people) != len(spec.people):
        raise ValueError("people: an id is used twice")
    schedules = {s.name: s for s in spec.schedules}
    if len(schedules) != len(spec.schedules):
        raise ValueError("schedules: a name is used twice")
    for i, sched in enumerate(spec.schedules):
        if sched.calendar is not None and not (path.parent / sched.calendar).is_file():
            raise ValueError(f"schedules.{i}.calendar: file not found: {sched.calendar}")
    policies: dict[str, Policy] = {}
    for i, pol in enumerate(spec.policies):
        base = {**DEFAULT_ESCALATE_AFTER, **_durations(f"policies.{i}.escalate_after", pol.escalate_after)}
        tiers = []
        for j, t in enumerate(pol.tiers):
            where = f"policies.{i}.tiers.{j}"
            if t.schedule and t.schedule not in schedules:
                raise ValueError(f"{where}.schedule: no schedule named {t.schedule!r}")
            unknown = [p for p in t.people if p not in people]
            if unknown:
                raise ValueError(f"{where}.people: no person with id {unknown[0]!r}")
            tiers.append(Tier(
                name=t.name, schedule=t.schedule,
                schedule_tier=(t.tier or schedules[t.schedule].default_tier) if t.schedule else None,
                people=tuple(t.people),
                escalate_after={**base, **_durations(f"{where}.escalate_after", t.escalate_after)},
                channels={**DEFAULT_CHANNELS, **{k: tuple(v) for k, v in t.channels.items()}},
            ))
        if pol.name in policies:
            raise ValueError(f"policies.{i}.name: {pol.name!r} is used twice")
        unknown = [p for p in pol.responders if p not in people]
        if unknown:
            raise ValueError(f"policies.{i}.responders: no person with id {unknown[0]!r}")
        policies[pol.name] = Policy(
            name=pol.name, tiers=tuple(tiers), rules=build_rules(f"policies.{i}.severities", pol.severities),
            business_hours=pol.business_hours.build() if pol.business_hours else None,
            responders=tuple(dict.fromkeys(pol.responders)))
    route = build_route(spec.route)
    for _, node in route.walk():
        if node.policy not in policies:
            raise ValueError(f"route: no policy named {node.policy!r}")
    severity = SeverityMapping(label=spec.severity.label, values=dict(spec.severity.map),
                               priority_label=spec.severity.priority_label, default=spec.severity.default)
    if spec.watchdog is not None:
        spec.watchdog.timeout_delta()
    return HeraldConfig(path=path, people=people, schedules=schedules, policies=policies,
                        route=route, severity=severity, watchdog=spec.watchdog)
