"""The YAML configuration file: people, schedules, policies, routes, severity, webhooks.

Validated at start-up; every error names the file, the field and what is wrong, e.g.
``herald.yaml: schedules.primary.timezone: unknown time zone 'Europe/Berln' (...)``.
A list item is named by its ``name`` (people: ``id``), or by its index when it has no
usable name. Every value is checked here, so nothing that loads can fail later in the
calendar loader or the router. ``load_config(path)`` is the only entry point;
``herald check-config`` calls it.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

import jmespath
import yaml
from jmespath.exceptions import JMESPathError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from routing.errors import Invalid
from routing.generic_json import MappingError, event_of
from routing.integration import DEFAULT_RATE_PER_MINUTE, Integration
from routing.matchers import MatcherError, validated
from routing.personal_rules import Urgencies
from routing.policy import DEFAULT_CHANNELS, DEFAULT_ESCALATE_AFTER, FALLBACK_ORDER, FALLBACK_WITH_SLACK, Policy, Tier
from routing.routes import Route, build_route
from routing.severity import SEVERITIES, SeverityMapping
from schedules.calendar_options import CalendarOptions
from schedules.model import Person
from schedules.timezones import zone_from_name
from integrations.config.values import parse_duration
from integrations.config.paths import NAME, field_path, labels, message
from integrations.config.policy_sections import BusinessHoursSpec, RuleSpec, WatchdogSpec, build_rules
from integrations.config.slack_section import SlackSpec
from integrations.config.webhooks import WebhookEndpoint, WebhookSpec, build_endpoints
from integrations.config.signin_section import Role, SigninSpec, check_signin

CHANNEL_NAMES = ("voice", "sms", "email", "console", "slack")


class ConfigError(Invalid):
    """The configuration file is missing or wrong; the message says where and why (an
    ``Invalid``, so also a ValueError)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PersonSpec(_Strict):
    id: str = Field(pattern=NAME)
    name: str
    email: str | None = Field(None, pattern=r"^[^@\s]+@[^@\s]+$")
    phone: str | None = Field(None, pattern=r"^\+[1-9]\d{6,14}$")


class ScheduleSpec(_Strict):
    """One rotation calendar and where it comes from: a file (``calendar``), an http(s)
    ``url`` polled every ``poll_interval``, or ``source: upload`` (PUT /api/v1/schedules/NAME)."""

    name: str = Field(pattern=NAME)
    calendar: str | None = None  # a path (relative to the config file)
    url: str | None = Field(None, pattern=r"^https?://[^\s]+$")
    source: Literal["file", "url", "upload"] | None = None  # default: file with calendar, url with url
    poll_interval: float = Field(300.0, ge=1)  # seconds (or 30s, 5m, ...) between polls of url
    timeout: float = Field(10.0, gt=0, le=120)  # seconds for one fetch of url
    max_bytes: int = Field(2 * 1024 * 1024, ge=1024)  # largest calendar fetched, read or uploaded
    timezone: str = "UTC"
    match: list[Literal["attendee", "organizer", "summary", "description"]] = Field(
        default_factory=lambda: ["attendee", "summary"], min_length=1)
    tier_markers: dict[str, str] = Field(default_factory=dict)
    default_tier: str = Field("L1", min_length=1)
    digest: bool = False  # at each shift start, send the incoming on-call a digest of what is open

    @field_validator("poll_interval", "timeout", mode="before")
    @classmethod
    def _seconds(cls, value: Any) -> float:
        return parse_duration(value).total_seconds()

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        if zone_from_name(value) is None:
            raise ValueError(f"unknown time zone {value!r} (an IANA name such as Europe/Berlin, "
                             "or a Windows zone name)")
        return value

    @field_validator("tier_markers")
    @classmethod
    def _markers(cls, value: dict[str, str]) -> dict[str, str]:
        if any(not marker for marker in value):
            raise ValueError("a marker cannot be empty (it would match every title)")
        empty = [marker for marker, tier in value.items() if not tier]
        if empty:
            raise ValueError(f"marker {empty[0]!r} needs a tier")
        return value

    def calendar_options(self) -> CalendarOptions:
        """How the calendar parser reads this schedule's events."""
        return CalendarOptions(timezone=self.timezone, match=tuple(self.match),
                               tier_markers=dict(self.tier_markers), default_tier=self.default_tier)

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
        self.calendar_options()  # the parser's own checks: the fields above should have caught it
        return self


def _severity_keys(value: dict[str, Any]) -> dict[str, Any]:
    for key in value:
        if key not in SEVERITIES:
            raise ValueError(f"unknown severity {key!r}; use {', '.join(SEVERITIES)}")
    return value


def _durations_valid(value: dict[str, Any]) -> dict[str, Any]:
    for severity, duration in value.items():
        try:
            parse_duration(duration)
        except ValueError as exc:
            raise ValueError(f"{severity}: {exc}") from None
    return value


class TierSpec(_Strict):
    name: str
    schedule: str | None = None
    tier: str | None = Field(None, min_length=1)  # the tier inside the schedule's calendar
    people: list[str] = Field(default_factory=list)
    escalate_after: dict[str, Any] = Field(default_factory=dict)
    channels: dict[str, list[Literal["voice", "sms", "email", "console", "slack"]]] = Field(default_factory=dict)

    _check_escalate = field_validator("escalate_after", "channels")(_severity_keys)
    _check_durations = field_validator("escalate_after")(_durations_valid)

    @model_validator(mode="after")
    def _someone(self) -> "TierSpec":
        if not self.schedule and not self.people:
            raise ValueError("a tier needs a schedule or people")
        return self


class PolicySpec(_Strict):
    name: str
    escalate_after: dict[str, Any] = Field(default_factory=dict)
    tiers: list[TierSpec] = Field(min_length=1)
    severities: dict[str, RuleSpec] = Field(default_factory=dict)
    business_hours: BusinessHoursSpec | None = None
    responders: list[str] = Field(default_factory=list)  # person ids who may act by SMS / keypress

    _check_escalate = field_validator("escalate_after", "severities")(_severity_keys)
    _check_durations = field_validator("escalate_after")(_durations_valid)


class RouteSpec(_Strict):
    """One node of the route tree (Alertmanager's route): the root is the default."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str = ""
    policy: str | None = None  # children inherit their parent's
    matchers: list[str] = Field(default_factory=list)
    continue_: bool = Field(False, alias="continue")
    routes: list["RouteSpec"] = Field(default_factory=list)

    _check_matchers = field_validator("matchers")(validated)


class SeveritySpec(_Strict):
    label: str = Field("severity", min_length=1)
    map: dict[str, Literal["P0", "P1", "P2", "P3"]] = Field(
        default_factory=lambda: {"critical": "P1", "warning": "P2", "info": "P3"})
    priority_label: str = Field("priority", min_length=1)
    default: Literal["P0", "P1", "P2", "P3"] = "P2"


class UrgencySpec(_Strict):
    """Which severities are high urgency and which low, for personal notification rules
    (``routing.personal_rules``): every severity in exactly one."""

    high: list[Literal["P0", "P1", "P2", "P3"]] = Field(default_factory=lambda: ["P0", "P1"])
    low: list[Literal["P0", "P1", "P2", "P3"]] = Field(default_factory=lambda: ["P2", "P3"])

    def build(self) -> Urgencies:
        return Urgencies(high=tuple(dict.fromkeys(self.high)), low=tuple(dict.fromkeys(self.low)))


#: The fields a generic integration's mapping may give (each a JMESPath expression).
MAPPING_FIELDS = ("title", "dedup_key", "severity", "status", "details", "links", "source")
#: A key held in an environment variable is at least this long.
MIN_KEY_LENGTH = 16


def key_digest(key: str) -> str:
    """How an integration key is stored and compared: its SHA-256, hex."""
    return hashlib.sha256(key.encode()).hexdigest()


class IntegrationSpec(_Strict):
    """One integration (``routing.integration``): a source other than Alertmanager with its
    own key. The key is never in the file: ``key_env`` names the environment variable that
    holds it, or ``key_sha256`` gives its digest; without either, keys are made with the
    API (``POST /api/v1/integrations/NAME/keys``)."""

    name: str = Field(pattern=NAME)
    kind: Literal["pagerduty", "opsgenie", "grafana", "generic"]
    policy: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    severity: dict[str, Literal["P0", "P1", "P2", "P3"]] = Field(default_factory=dict)
    default_severity: Literal["P0", "P1", "P2", "P3"] = "P2"
    rate_per_minute: int = Field(DEFAULT_RATE_PER_MINUTE, ge=1, le=1_000_000)
    key_env: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    key_sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")
    mapping: dict[str, str] = Field(default_factory=dict)
    sample: Any = None

    @field_validator("labels")
    @classmethod
    def _label_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not name or not (name[0].isalpha() or name[0] == "_") or not all(
                    ch.isalnum() or ch == "_" for ch in name):
                raise ValueError(f"{name!r} is not a label name (letters, digits and _, not starting with a digit)")
        return value

    @field_validator("severity")
    @classmethod
    def _words(cls, value: dict[str, str]) -> dict[str, str]:
        return {word.strip().lower(): level for word, level in value.items()}

    @field_validator("mapping")
    @classmethod
    def _expressions(cls, value: dict[str, str]) -> dict[str, str]:
        for name, expression in value.items():
            if name not in MAPPING_FIELDS:
                raise ValueError(f"unknown field {name!r}; a mapping gives {', '.join(MAPPING_FIELDS)}")
            try:
                jmespath.compile(expression)
            except JMESPathError as exc:
                raise ValueError(f"{name}: not a JMESPath expression: {' '.join(str(exc).split())}") from None
        return value

    @model_validator(mode="after")
    def _consistent(self) -> "IntegrationSpec":
        if self.key_env and self.key_sha256:
            raise ValueError("give key_env or key_sha256, not both")
        if self.kind == "generic" and "title" not in self.mapping:
            raise ValueError("mapping: a generic integration maps at least title")
        if self.kind != "generic" and (self.mapping or self.sample is not None):
            raise ValueError(f"mapping and sample are for generic integrations, not {self.kind}")
        return self

    def build(self) -> Integration:
        return Integration(name=self.name, kind=self.kind, policy=self.policy, labels=dict(self.labels),
                           severity=dict(self.severity), default_severity=self.default_severity,
                           rate_per_minute=self.rate_per_minute, mapping=dict(self.mapping), sample=self.sample)


class FileSpec(_Strict):
    people: list[PersonSpec] = Field(min_length=1)
    schedules: list[ScheduleSpec] = Field(default_factory=list)
    policies: list[PolicySpec] = Field(min_length=1)
    route: RouteSpec
    severity: SeveritySpec = Field(default_factory=SeveritySpec)
    watchdog: WatchdogSpec | None = None
    webhooks: list[WebhookSpec] = Field(default_factory=list)
    integrations: list[IntegrationSpec] = Field(default_factory=list)
    roles: dict[str, Role] = Field(default_factory=dict)  # person id -> console role (signin_section.py)
    signin: SigninSpec = Field(default_factory=SigninSpec)
    urgency: UrgencySpec = Field(default_factory=UrgencySpec)
    slack: SlackSpec | None = None


@dataclass(frozen=True)
class HeraldConfig:
    path: Path
    people: dict[str, Person]
    schedules: dict[str, ScheduleSpec]
    policies: dict[str, Policy]
    route: Route
    severity: SeverityMapping
    watchdog: WatchdogSpec | None = None
    webhooks: tuple[WebhookEndpoint, ...] = ()
    integrations: dict[str, Integration] = field(default_factory=dict)
    #: The digests of the keys the file gives (``key_env``, ``key_sha256``) -> integration name.
    integration_keys: dict[str, str] = field(default_factory=dict)
    roles: dict[str, str] = field(default_factory=dict)  # person id -> responder | manager | admin
    signin: SigninSpec = field(default_factory=SigninSpec)
    #: Which severities are high and low urgency, for personal notification rules.
    urgency: Urgencies = field(default_factory=Urgencies)
    slack: SlackSpec | None = None

    def calendar_path(self, schedule: str) -> Path:
        return (self.path.parent / self.schedules[schedule].calendar).resolve()


def load_config(path: str | Path) -> HeraldConfig:
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {' '.join(str(exc).split())}") from exc
    try:
        spec = FileSpec.model_validate(raw if raw is not None else {})
    except ValidationError as exc:
        problems = "; ".join(f"{field_path(raw, err['loc']) or '(top)'}: {message(err['msg'])}"
                             for err in exc.errors())
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


def _used_once(section: str, names: list[str], key: str) -> None:
    for i, name in enumerate(names):
        if names.index(name) != i:
            raise ValueError(f"{section}.{i}.{key}: {name!r} is used twice")


def _build(path: Path, spec: FileSpec) -> HeraldConfig:
    _used_once("people", [p.id for p in spec.people], "id")
    _used_once("schedules", [s.name for s in spec.schedules], "name")
    _used_once("policies", [p.name for p in spec.policies], "name")
    people = {p.id: Person(id=p.id, name=p.name, email=p.email, phone=p.phone) for p in spec.people}
    schedules = {s.name: s for s in spec.schedules}
    for sched in spec.schedules:
        if sched.calendar is not None and not (path.parent / sched.calendar).is_file():
            raise ValueError(f"schedules.{sched.name}.calendar: file not found: {sched.calendar}")
    slack_dm = spec.slack is not None and spec.slack.dm_paging
    fallback = FALLBACK_WITH_SLACK if slack_dm else FALLBACK_ORDER
    policies: dict[str, Policy] = {}
    for label, pol in zip(labels(spec.policies), spec.policies, strict=True):
        here = f"policies.{label}"
        base = {**DEFAULT_ESCALATE_AFTER, **_durations(f"{here}.escalate_after", pol.escalate_after)}
        tiers = []
        for tier_label, t in zip(labels(pol.tiers), pol.tiers, strict=True):
            where = f"{here}.tiers.{tier_label}"
            if t.schedule and t.schedule not in schedules:
                raise ValueError(f"{where}.schedule: no schedule named {t.schedule!r}")
            unknown = [p for p in t.people if p not in people]
            if unknown:
                raise ValueError(f"{where}.people: no person with id {unknown[0]!r}")
            slack_at = next((sev for sev, chans in t.channels.items() if "slack" in chans), None)
            if slack_at is not None and not slack_dm:
                raise ValueError(f"{where}.channels.{slack_at}: the slack channel needs slack.dm_paging: true")
            try:
                tiers.append(Tier(
                    name=t.name, schedule=t.schedule,
                    schedule_tier=(t.tier or schedules[t.schedule].default_tier) if t.schedule else None,
                    people=tuple(t.people),
                    escalate_after={**base, **_durations(f"{where}.escalate_after", t.escalate_after)},
                    channels={**DEFAULT_CHANNELS, **{k: tuple(v) for k, v in t.channels.items()}},
                ))
            except ValueError as exc:
                raise ValueError(f"{where}: {exc}") from None
        try:
            hours = pol.business_hours.build() if pol.business_hours else None
        except ValueError as exc:
            raise ValueError(f"{here}.{exc}") from None
        unknown = [p for p in pol.responders if p not in people]
        if unknown:
            raise ValueError(f"{here}.responders: no person with id {unknown[0]!r}")
        policies[pol.name] = Policy(name=pol.name, tiers=tuple(tiers),
                                    rules=build_rules(f"{here}.severities", pol.severities), business_hours=hours,
                                    responders=tuple(dict.fromkeys(pol.responders)), fallback=fallback)
    _check_routes(spec.route, "route", policies, root=True)
    route = build_route(spec.route.model_dump(by_alias=True))
    severity = SeverityMapping(label=spec.severity.label, values=dict(spec.severity.map),
                               priority_label=spec.severity.priority_label, default=spec.severity.default)
    if spec.watchdog is not None:
        try:
            spec.watchdog.timeout_delta()
        except ValueError as exc:
            raise ValueError(f"watchdog.timeout: {exc}") from None
    integrations, integration_keys = _integrations(spec.integrations, policies)
    try:
        urgency = spec.urgency.build()
    except ValueError as exc:
        raise ValueError(f"urgency.{exc}") from None
    if spec.slack is not None:
        _check_slack(spec.slack, policies, schedules)
    check_signin(spec.signin, dict(spec.roles), set(people))
    return HeraldConfig(path=path, people=people, schedules=schedules, policies=policies,
                        route=route, severity=severity, watchdog=spec.watchdog,
                        integrations=integrations, integration_keys=integration_keys,
                        webhooks=build_endpoints(spec.webhooks), urgency=urgency, slack=spec.slack,
                        roles=dict(spec.roles), signin=spec.signin)


def _check_sample(where: str, spec: IntegrationSpec) -> None:
    """The mapping must read the file's sample body as the route would (``routing.generic_json``)."""
    try:
        event_of(spec.build(), spec.sample)
    except MappingError as exc:
        raise ValueError(f"{where}.sample: {exc}") from None


def _integrations(specs: list[IntegrationSpec], policies: dict[str, Policy]
                  ) -> tuple[dict[str, Integration], dict[str, str]]:
    _used_once("integrations", [i.name for i in specs], "name")
    built: dict[str, Integration] = {}
    digests: dict[str, str] = {}
    for label, spec in zip(labels(specs), specs, strict=True):
        where = f"integrations.{label}"
        if spec.policy is not None and spec.policy not in policies:
            raise ValueError(f"{where}.policy: no policy named {spec.policy!r}")
        if spec.key_env:
            key = os.environ.get(spec.key_env, "")
            if len(key) < MIN_KEY_LENGTH:
                state = "is not set" if not key else f"holds fewer than {MIN_KEY_LENGTH} characters"
                raise ValueError(f"{where}.key_env: the environment variable {spec.key_env} {state}")
            digest = key_digest(key)
        else:
            digest = spec.key_sha256 or ""
        if spec.sample is not None:
            _check_sample(where, spec)
        if digest:
            if digest in digests:
                raise ValueError(f"{where}: the same key as integration {digests[digest]!r}")
            digests[digest] = spec.name
        built[spec.name] = spec.build()
    return built, digests


def _check_slack(slack: SlackSpec, policies: dict[str, Policy], schedules: dict[str, ScheduleSpec]) -> None:
    for policy in slack.policies:
        if policy not in policies:
            raise ValueError(f"slack.policies.{policy}: no policy named {policy!r}")
    for i, group in enumerate(slack.user_groups):
        where = f"slack.user_groups.{i}"
        if group.schedule not in schedules:
            raise ValueError(f"{where}.schedule: no schedule named {group.schedule!r}")
        if group.channel is None and slack.channel is None:
            raise ValueError(f"{where}.channel: give the channel to announce changes in (or slack.channel)")
    seen = [(g.schedule, g.tier or schedules[g.schedule].default_tier) for g in slack.user_groups]
    for i, pair in enumerate(seen):
        if seen.index(pair) != i:
            raise ValueError(f"slack.user_groups.{i}: schedule {pair[0]!r} tier {pair[1]!r} has a user group already")


def _check_routes(node: RouteSpec, where: str, policies: dict[str, Policy], root: bool = False) -> None:
    if root and not node.policy:
        raise ValueError(f"{where}.policy: the root route must name a policy")
    if node.policy is not None and node.policy not in policies:
        raise ValueError(f"{where}.policy: no policy named {node.policy!r}")
    for label, child in zip(labels(node.routes), node.routes, strict=True):
        _check_routes(child, f"{where}.routes.{label}", policies)
