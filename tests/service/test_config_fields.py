"""One wrong value for every field of the configuration file: ``herald check-config`` and
``herald serve`` stop with one clean line naming the file and the field, never a traceback.

The fields come from the models (``tests/config_fields.py``): a field added later fails
``test_every_field_has_a_wrong_value`` until it gets a wrong value here. (A schedule's
``timezone: Europe/Berln`` used to pass validation and crash the calendar loader with 24
lines of stack naming neither file nor field.)"""
from __future__ import annotations

import copy
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from service.dev.local_redis import free_port
from service.app import create_app
from service.cli.main import main
from integrations.config.model import ConfigError, load_config
from service.settings import Settings
from tests.config_fields import schema_fields
from tests.herald_env import ROOT, env_for

EMPTY_CALENDAR = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nEND:VCALENDAR\r\n"

#: A configuration that sets every field somewhere, so each can be made wrong.
BASE: dict[str, Any] = {
    "people": [
        {"id": "alice", "name": "Alice Adams", "email": "alice@example.com", "phone": "+15550100001"},
        {"id": "erin", "name": "Erin Engel", "email": "erin@example.com", "phone": "+15550100004"},
    ],
    "schedules": [
        {"name": "primary", "calendar": "primary.ics", "timezone": "Europe/Berlin", "match": ["attendee"],
         "tier_markers": {"backup": "L2"}, "default_tier": "L1", "digest": False},
        {"name": "feed", "url": "http://127.0.0.1:9/feed.ics", "poll_interval": "5m", "timeout": "10s",
         "max_bytes": 65536},
        {"name": "team", "source": "upload", "max_bytes": 4096},
    ],
    "policies": [{
        "name": "default",
        "escalate_after": {"P1": "5m"},
        "severities": {"P1": {"page_tiers": 1, "repeat": 2, "ack_timeout": "off", "business_hours_only": False}},
        "business_hours": {"timezone": "Europe/Berlin", "days": ["mon", "tue"], "start": "09:00", "end": "17:00"},
        "tiers": [
            {"name": "L1", "schedule": "primary", "tier": "L1", "escalate_after": {"P1": "5m"},
             "channels": {"P1": ["sms"]}},
            {"name": "L2", "schedule": "primary", "tier": "L2"},
            {"name": "engineering", "people": ["erin"]},
        ],
    }],
    "route": {"policy": "default", "routes": [
        {"name": "silenced", "matchers": ['severity="none"'], "policy": "default", "continue": False,
         "routes": []},
    ]},
    "severity": {"label": "severity", "map": {"critical": "P1"}, "priority_label": "priority", "default": "P2"},
    "watchdog": {"matchers": ['alertname="Watchdog"'], "timeout": "5m", "severity": "P1"},
    "webhooks": [{"name": "ops", "url": "http://127.0.0.1:9/hook", "events": ["incident.opened"],
                  "secret_env": "HERALD_TEST_WEBHOOK_SECRET", "timeout": "5s"}],
    "integrations": [
        {"name": "ci", "kind": "generic", "policy": "default", "labels": {"team": "ci"}, "severity": {"high": "P1"},
         "default_severity": "P2", "rate_per_minute": 60, "key_sha256": "0" * 64,
         "mapping": {"title": "title", "dedup_key": "id"}, "sample": {"title": "Build failed", "id": "42"}},
        {"name": "pd", "kind": "pagerduty", "key_env": "HERALD_TEST_FIELDS_KEY"},
    ],
    "roles": {"alice": "admin", "erin": "manager"},
    "signin": {"code": True, "oidc": {"issuer": "http://127.0.0.1:9/idp", "client_id": "herald",
                                      "client_secret_env": "HERALD_TEST_FIELDS_OIDC_SECRET", "email_claim": "email"}},
    "urgency": {"high": ["P0", "P1"], "low": ["P2", "P3"]},
    "slack": {"channel": "#incidents", "policies": {"default": "#ops"}, "dm_paging": True,
              "user_groups": [{"schedule": "primary", "tier": "L1", "usergroup": "S0PRIMARY1", "channel": "#oncall"}]},
}

PRIMARY, FEED, TEAM = ("schedules", 0), ("schedules", 1), ("schedules", 2)
POLICY = ("policies", 0)
L1, ENGINEERING = (*POLICY, "tiers", 0), (*POLICY, "tiers", 2)
RULE, HOURS = (*POLICY, "severities", "P1"), (*POLICY, "business_hours")
CHILD = ("route", "routes", 0)
HOOK = ("webhooks", 0)


@pytest.fixture(autouse=True)
def webhook_secret(monkeypatch):
    """The signing secret BASE's webhook names (a missing one is its wrong value)."""
    monkeypatch.setenv("HERALD_TEST_WEBHOOK_SECRET", "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldY")
    monkeypatch.delenv("HERALD_TEST_UNSET_SECRET", raising=False)
CI, PD = ("integrations", 0), ("integrations", 1)
GROUP = ("slack", "user_groups", 0)
os.environ.setdefault("HERALD_TEST_FIELDS_KEY", "pd-key-for-the-field-tests")
os.environ.setdefault("HERALD_TEST_FIELDS_OIDC_SECRET", "oidc-secret-for-the-field-tests")
OIDC = ("signin", "oidc")

#: ``Model.key`` -> (where in BASE, a wrong value, the field path the error must name).
#: A list item is named by its ``name`` (people: ``id``); by its index when that is not
#: a usable name.
WRONG: dict[str, tuple[tuple[Any, ...], Any, str]] = {
    "FileSpec.people": (("people",), "alice", "people"),
    "FileSpec.schedules": (("schedules",), "primary", "schedules"),
    "FileSpec.policies": (("policies",), [], "policies"),
    "FileSpec.route": (("route",), ["default"], "route"),
    "FileSpec.severity": (("severity",), "critical", "severity"),
    "FileSpec.watchdog": (("watchdog",), "5m", "watchdog"),
    "PersonSpec.id": (("people", 0, "id"), "alice adams", "people.0.id"),
    "PersonSpec.name": (("people", 0, "name"), ["Alice"], "people.alice.name"),
    "PersonSpec.email": (("people", 0, "email"), "alice at example.com", "people.alice.email"),
    "PersonSpec.phone": (("people", 0, "phone"), "555-1234", "people.alice.phone"),
    "ScheduleSpec.name": ((*PRIMARY, "name"), "primary rota", "schedules.0.name"),
    "ScheduleSpec.calendar": ((*PRIMARY, "calendar"), "missing.ics", "schedules.primary.calendar"),
    "ScheduleSpec.url": ((*FEED, "url"), "ftp://127.0.0.1/feed.ics", "schedules.feed.url"),
    "ScheduleSpec.source": ((*TEAM, "source"), "ftp", "schedules.team.source"),
    "ScheduleSpec.poll_interval": ((*FEED, "poll_interval"), "soon", "schedules.feed.poll_interval"),
    "ScheduleSpec.timeout": ((*FEED, "timeout"), "1h", "schedules.feed.timeout"),
    "ScheduleSpec.max_bytes": ((*TEAM, "max_bytes"), 10, "schedules.team.max_bytes"),
    "ScheduleSpec.timezone": ((*PRIMARY, "timezone"), "Europe/Berln", "schedules.primary.timezone"),
    "ScheduleSpec.match": ((*PRIMARY, "match"), [], "schedules.primary.match"),
    "ScheduleSpec.tier_markers": ((*PRIMARY, "tier_markers"), {"": "L2"}, "schedules.primary.tier_markers"),
    "ScheduleSpec.default_tier": ((*PRIMARY, "default_tier"), "", "schedules.primary.default_tier"),
    "ScheduleSpec.digest": ((*PRIMARY, "digest"), "maybe", "schedules.primary.digest"),
    "PolicySpec.name": ((*POLICY, "name"), ["default"], "policies.0.name"),
    "PolicySpec.escalate_after": ((*POLICY, "escalate_after"), {"P1": "soon"}, "policies.default.escalate_after"),
    "PolicySpec.tiers": ((*POLICY, "tiers"), [], "policies.default.tiers"),
    "PolicySpec.severities": ((*POLICY, "severities"), {"P9": {}}, "policies.default.severities"),
    "PolicySpec.business_hours": ((*POLICY, "business_hours"), "weekdays", "policies.default.business_hours"),
    "PolicySpec.responders": ((*POLICY, "responders"), ["zed"], "policies.default.responders"),
    "RuleSpec.page_tiers": ((*RULE, "page_tiers"), 0, "policies.default.severities.P1.page_tiers"),
    "RuleSpec.repeat": ((*RULE, "repeat"), -1, "policies.default.severities.P1.repeat"),
    "RuleSpec.ack_timeout": ((*RULE, "ack_timeout"), "soon", "policies.default.severities.P1.ack_timeout"),
    "RuleSpec.business_hours_only": ((*RULE, "business_hours_only"), "maybe",
                                     "policies.default.severities.P1.business_hours_only"),
    "BusinessHoursSpec.timezone": ((*HOURS, "timezone"), "Europe/Berln", "policies.default.business_hours.timezone"),
    "BusinessHoursSpec.days": ((*HOURS, "days"), ["someday"], "policies.default.business_hours.days"),
    "BusinessHoursSpec.start": ((*HOURS, "start"), "9am", "policies.default.business_hours.start"),
    "BusinessHoursSpec.end": ((*HOURS, "end"), "08:00", "policies.default.business_hours.end"),
    "TierSpec.name": ((*L1, "name"), {"L": 1}, "policies.default.tiers.0.name"),
    "TierSpec.schedule": ((*L1, "schedule"), "nope", "policies.default.tiers.L1.schedule"),
    "TierSpec.tier": ((*L1, "tier"), ["L1"], "policies.default.tiers.L1.tier"),
    "TierSpec.people": ((*ENGINEERING, "people"), ["zed"], "policies.default.tiers.engineering.people"),
    "TierSpec.escalate_after": ((*L1, "escalate_after"), {"P1": -5}, "policies.default.tiers.L1.escalate_after"),
    "TierSpec.channels": ((*L1, "channels"), {"P1": ["pager"]}, "policies.default.tiers.L1.channels"),
    "RouteSpec.name": ((*CHILD, "name"), ["silenced"], "route.routes.0.name"),
    "RouteSpec.policy": ((*CHILD, "policy"), "other", "route.routes.silenced.policy"),
    "RouteSpec.matchers": ((*CHILD, "matchers"), ["Watchdog"], "route.routes.silenced.matchers"),
    "RouteSpec.continue": ((*CHILD, "continue"), "maybe", "route.routes.silenced.continue"),
    "RouteSpec.routes": ((*CHILD, "routes"), "none", "route.routes.silenced.routes"),
    "SeveritySpec.label": (("severity", "label"), "", "severity.label"),
    "SeveritySpec.map": (("severity", "map"), {"critical": "P7"}, "severity.map.critical"),
    "SeveritySpec.priority_label": (("severity", "priority_label"), ["priority"], "severity.priority_label"),
    "SeveritySpec.default": (("severity", "default"), "urgent", "severity.default"),
    "WatchdogSpec.matchers": (("watchdog", "matchers"), ["Watchdog"], "watchdog.matchers"),
    "WatchdogSpec.timeout": (("watchdog", "timeout"), "soon", "watchdog.timeout"),
    "WatchdogSpec.severity": (("watchdog", "severity"), "P9", "watchdog.severity"),
    "FileSpec.webhooks": (("webhooks",), "ops", "webhooks"),
    "WebhookSpec.name": ((*HOOK, "name"), "ops hook", "webhooks.0.name"),
    "WebhookSpec.url": ((*HOOK, "url"), "ftp://127.0.0.1/hook", "webhooks.ops.url"),
    "WebhookSpec.events": ((*HOOK, "events"), ["incident.exploded"], "webhooks.ops.events"),
    "WebhookSpec.secret_env": ((*HOOK, "secret_env"), "HERALD_TEST_UNSET_SECRET", "webhooks.ops.secret_env"),
    "WebhookSpec.timeout": ((*HOOK, "timeout"), "1h", "webhooks.ops.timeout"),
    "FileSpec.integrations": (("integrations",), "ci", "integrations"),
    "IntegrationSpec.name": ((*CI, "name"), ["ci"], "integrations.0.name"),
    "IntegrationSpec.kind": ((*CI, "kind"), "nagios", "integrations.ci.kind"),
    "IntegrationSpec.policy": ((*CI, "policy"), "nope", "integrations.ci.policy"),
    "IntegrationSpec.labels": ((*CI, "labels"), {"1bad": "x"}, "integrations.ci.labels"),
    "IntegrationSpec.severity": ((*CI, "severity"), {"high": "P9"}, "integrations.ci.severity"),
    "IntegrationSpec.default_severity": ((*CI, "default_severity"), "P9", "integrations.ci.default_severity"),
    "IntegrationSpec.rate_per_minute": ((*CI, "rate_per_minute"), 0, "integrations.ci.rate_per_minute"),
    "IntegrationSpec.key_env": ((*PD, "key_env"), "HERALD_TEST_UNSET_FIELDS_KEY", "integrations.pd.key_env"),
    "IntegrationSpec.key_sha256": ((*CI, "key_sha256"), "abc", "integrations.ci.key_sha256"),
    "IntegrationSpec.mapping": ((*CI, "mapping"), {"title": "a["}, "integrations.ci.mapping"),
    "IntegrationSpec.sample": ((*CI, "sample"), {"other": 1}, "integrations.ci.sample"),
    "FileSpec.roles": (("roles",), {"zed": "admin"}, "roles.zed"),
    "FileSpec.signin": (("signin",), "oidc", "signin"),
    "SigninSpec.code": (("signin", "code"), "maybe", "signin.code"),
    "SigninSpec.oidc": ((*OIDC,), "https://idp.example.com", "signin.oidc"),
    "OidcSpec.issuer": ((*OIDC, "issuer"), "http://idp.example.com", "signin.oidc.issuer"),
    "OidcSpec.client_id": ((*OIDC, "client_id"), "", "signin.oidc.client_id"),
    "OidcSpec.client_secret_env": ((*OIDC, "client_secret_env"), "HERALD_TEST_UNSET_OIDC_SECRET",
                                   "signin.oidc.client_secret_env"),
    "OidcSpec.email_claim": ((*OIDC, "email_claim"), "", "signin.oidc.email_claim"),
    "FileSpec.urgency": (("urgency",), "high", "urgency"),
    "UrgencySpec.high": (("urgency", "high"), ["P0", "P1", "P2"], "urgency.high"),
    "UrgencySpec.low": (("urgency", "low"), ["P9"], "urgency.low"),
    "FileSpec.slack": (("slack",), "#incidents", "slack"),
    "SlackSpec.channel": (("slack", "channel"), "incidents", "slack.channel"),
    "SlackSpec.policies": (("slack", "policies"), {"nope": "#x"}, "slack.policies.nope"),
    "SlackSpec.dm_paging": (("slack", "dm_paging"), "maybe", "slack.dm_paging"),
    "SlackSpec.user_groups": (("slack", "user_groups"), "S0PRIMARY1", "slack.user_groups"),
    "UserGroupSpec.schedule": ((*GROUP, "schedule"), "nope", "slack.user_groups.0.schedule"),
    "UserGroupSpec.tier": ((*GROUP, "tier"), "", "slack.user_groups.0.tier"),
    "UserGroupSpec.usergroup": ((*GROUP, "usergroup"), "group", "slack.user_groups.0.usergroup"),
    "UserGroupSpec.channel": ((*GROUP, "channel"), "team", "slack.user_groups.0.channel"),
}
FIELDS = schema_fields()


def write(directory: Path, config: dict[str, Any]) -> Path:
    (directory / "primary.ics").write_text(EMPTY_CALENDAR, newline="")
    path = directory / "herald.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def with_wrong(field: str) -> tuple[dict[str, Any], str]:
    """BASE with the field's wrong value, and the field path the error must name."""
    where, value, named = WRONG[field]
    config = copy.deepcopy(BASE)
    node = config
    for key in where[:-1]:
        node = node[key]
    node[where[-1]] = value
    return config, named


def test_the_base_configuration_is_valid(tmp_path):
    config = load_config(write(tmp_path, BASE))
    assert set(config.schedules) == {"primary", "feed", "team"}
    assert config.route.routes[0].name == "silenced"


def test_every_field_has_a_wrong_value():
    missing = [field for field in FIELDS if field not in WRONG]
    stale = [field for field in WRONG if field not in FIELDS]
    assert not missing, f"add a wrong value for these fields to WRONG: {missing}"
    assert not stale, f"these fields are no longer in the schema: {stale}"


@pytest.mark.parametrize("field", FIELDS)
def test_check_config_names_the_file_and_the_field(field, tmp_path, capsys):
    config, named = with_wrong(field)
    path = write(tmp_path, config)
    code = main(["check-config", str(path)])  # an exception here is the traceback the issue is about
    out, err = capsys.readouterr()
    assert code != 0, out
    assert err.startswith(f"herald: configuration error: {path}: "), err
    assert f" {named}: " in err or f" {named}." in err, err
    assert "Traceback" not in out + err and len(err.splitlines()) == 1, err


@pytest.mark.parametrize("field", FIELDS)
def test_serve_start_up_names_the_file_and_the_field(field, tmp_path, redis_url, monkeypatch):
    """What ``herald serve`` builds before it listens (``create_app``) refuses the file."""
    config, named = with_wrong(field)
    path = write(tmp_path, config)
    for key, value in env_for(path, redis_url).items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError) as caught:
        create_app(Settings()).state.herald.close()  # built: the wrong value got through
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and (f" {named}: " in message or f" {named}." in message), message


def test_a_list_item_without_a_usable_name_is_named_by_its_index(tmp_path):
    config = copy.deepcopy(BASE)
    config["people"].append({"id": "alice", "name": "Alice Again"})  # the same id twice
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, config))
    assert "people.2.id: 'alice' is used twice" in str(caught.value)


def run_herald(args: list[str], config: Path, redis_url: str, port: int) -> tuple[int, str, str]:
    """Run ``herald ARGS`` to its end. A ``serve`` that starts listening on ``port`` instead
    of refusing its configuration is stopped, and answers -1."""
    env = {**os.environ, **env_for(config, redis_url)}
    with subprocess.Popen([sys.executable, "-m", "service.cli.main", *args], cwd=ROOT, env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        while process.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", port)).close()
            except OSError:
                time.sleep(0.05)
                continue
            process.terminate()
            out, err = process.communicate()
            return -1, out, err
        out, err = process.communicate()
        return process.returncode, out, err


@pytest.mark.parametrize("command", [["check-config"], ["serve", "--port", "PORT"], ["worker", "--burst"]],
                         ids=["check-config", "serve", "worker"])
def test_the_timezone_typo_from_the_issue_is_one_clean_line(command, tmp_path, redis_url):
    config = copy.deepcopy(BASE)
    config["schedules"][0]["timezone"] = "Europe/Berln"
    path = write(tmp_path, config)
    port = free_port()
    args = [str(port) if word == "PORT" else word for word in command]
    if command == ["check-config"]:
        args.append(str(path))
    code, out, err = run_herald(args, path, redis_url, port)
    assert code == 1, out + err
    assert "Traceback" not in out + err, err
    assert err.strip() == (f"herald: configuration error: {path}: schedules.primary.timezone: "
                           "unknown time zone 'Europe/Berln' (an IANA name such as Europe/Berlin, "
                           "or a Windows zone name)"), err
