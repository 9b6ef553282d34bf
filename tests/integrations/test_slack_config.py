"""The slack: section of the configuration file: what loads, and errors that name file and field."""
from __future__ import annotations

import pytest

from integrations.config.model import ConfigError, load_config
from routing.policy import FALLBACK_ORDER, FALLBACK_WITH_SLACK
from tests.herald_env import write_config


def _config(tmp_path, slack: str, channels: str = "{P1: [sms], P2: [sms]}"):
    path = write_config(tmp_path)
    text = path.read_text().replace("{name: L1, schedule: primary, channels: {P1: [sms], P2: [sms]}}",
                                    f"{{name: L1, schedule: primary, channels: {channels}}}")
    path.write_text(text + slack)
    return path


def test_a_slack_section_loads_with_channels_groups_and_dm_paging(tmp_path):
    config = load_config(_config(tmp_path, """
slack:
  channel: "#incidents"
  policies: {default: C0DEFAULT1}
  dm_paging: true
  user_groups:
    - {schedule: primary, usergroup: S0PRIMARY1, channel: "#oncall"}
""", channels="{P1: [slack, sms]}"))
    assert config.slack is not None and config.slack.channel_for("default") == "C0DEFAULT1"
    assert config.slack.channel_for("other") == "#incidents"
    assert config.policies["default"].tiers[0].channels_for("P1") == ("slack", "sms")
    assert config.policies["default"].fallback == FALLBACK_WITH_SLACK  # slack between voice and email


def test_without_a_slack_section_nothing_changes(tmp_path):
    config = load_config(_config(tmp_path, ""))
    assert config.slack is None and config.policies["default"].fallback == FALLBACK_ORDER


@pytest.mark.parametrize("slack, channels, where", [
    ("\nslack: {channel: '#incidents', policies: {nosuch: '#x'}}\n", None, "slack.policies.nosuch: no policy named 'nosuch'"),
    ("\nslack: {channel: 'incidents'}\n", None, "slack.channel:"),
    ("\nslack: {channel: '#incidents'}\n", "{P1: [slack]}", "policies.default.tiers.L1.channels.P1: the slack channel needs slack.dm_paging: true"),
    ("", "{P1: [slack]}", "policies.default.tiers.L1.channels.P1: the slack channel needs slack.dm_paging: true"),
    ("\nslack: {user_groups: [{schedule: nosuch, usergroup: S0ABC}]}\n", None, "slack.user_groups.0.schedule: no schedule named 'nosuch'"),
    ("\nslack: {user_groups: [{schedule: primary, usergroup: S0ABC}]}\n", None, "slack.user_groups.0.channel: give the channel"),
    ("\nslack: {channel: '#x', user_groups: [{schedule: primary, usergroup: group}]}\n", None, "slack.user_groups.0.usergroup:"),
    ("\nslack: {channel: '#x', dm_paging: maybe}\n", None, "slack.dm_paging:"),
])
def test_a_wrong_slack_section_is_refused_naming_file_and_field(tmp_path, slack, channels, where):
    path = _config(tmp_path, slack, channels or "{P1: [sms], P2: [sms]}")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value).startswith(f"{path}: ") and where in str(caught.value), str(caught.value)
