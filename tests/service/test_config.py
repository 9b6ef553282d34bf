from pathlib import Path

import pytest

from integrations.config.model import ConfigError, load_config, parse_duration

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "deploy/examples/herald.yaml"

MINIMAL = """
people: [{id: alice, name: Alice, phone: "+15550100001"}]
schedules: [{name: primary, calendar: primary.ics}]
policies:
  - name: default
    tiers: [{name: L1, schedule: primary}, {name: exec, people: [alice]}]
route: {policy: default}
"""


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "primary.ics").write_text("BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n")
    path = tmp_path / "herald.yaml"
    path.write_text(text)
    return path


def test_example_configuration_loads():
    config = load_config(EXAMPLE)
    assert [t.name for t in config.policies["default"].tiers] == ["L1", "L2", "engineering", "executive"]
    assert config.policies["default"].tiers[1].schedule_tier == "L2"
    assert config.people["alice"].phone == "+15550100001"


def test_minimal_configuration_gets_sla_defaults(tmp_path):
    config = load_config(write(tmp_path, MINIMAL))
    tier = config.policies["default"].tiers[0]
    assert tier.delay("P1").total_seconds() == 300 and tier.delay("P3").total_seconds() == 3600
    assert tier.channels_for("P3") == ("email",)
    assert config.severity.of({"severity": "critical"}) == "P1"


@pytest.mark.parametrize("change,message", [
    (("schedule: primary}", "schedule: nope}"), "policies.default.tiers.L1.schedule: no schedule named 'nope'"),
    (("people: [alice]", "people: [zed]"), "policies.default.tiers.exec.people: no person with id 'zed'"),
    (("route: {policy: default}", "route: {policy: other}"), "route.policy: no policy named 'other'"),
    (("tiers: [", "escalate_after: {P1: -5}\n    tiers: ["), "cannot be negative"),
    (("tiers: [", "escalate_after: {P9: 5m}\n    tiers: ["), "unknown severity 'P9'"),
    (("calendar: primary.ics", "calendar: missing.ics"), "file not found: missing.ics"),
    (('phone: "+15550100001"', 'phone: "555-1234"'), "people.alice.phone"),
    (("route: {policy: default}", "route: {policy: default, routes: [{matchers: ['bad'], policy: default}]}"),
     "cannot parse matcher"),
    (("name: Alice", "name: Alice, pager: yes"), "people.alice.pager: Extra inputs are not permitted"),
    (("  - name: default\n", "  - name: default\n    responders: [alice, zed]\n"),
     "policies.default.responders: no person with id 'zed'"),
    (("  - name: default\n", "  - name: default\n    responders: alice\n"), "policies.default.responders"),
])
def test_errors_name_the_file_the_field_and_the_problem(tmp_path, change, message):
    path = write(tmp_path, MINIMAL.replace(*change))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(path) in str(err.value) and message in str(err.value)


def test_responders_are_optional_people_of_the_configuration(tmp_path):
    assert load_config(write(tmp_path, MINIMAL)).policies["default"].responders == ()
    text = MINIMAL.replace("  - name: default\n", "  - name: default\n    responders: [alice, alice]\n")
    assert load_config(write(tmp_path, text)).policies["default"].responders == ("alice",)


def test_unreadable_and_invalid_yaml(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("people: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


@pytest.mark.parametrize("value,seconds", [(90, 90), ("90s", 90), ("5m", 300), ("1h30m", 5400), ("0s", 0)])
def test_durations(value, seconds):
    assert parse_duration(value).total_seconds() == seconds


@pytest.mark.parametrize("value", ["", "5x", "-5m", -1, True, "m"])
def test_bad_durations(value):
    with pytest.raises(ValueError):
        parse_duration(value)
