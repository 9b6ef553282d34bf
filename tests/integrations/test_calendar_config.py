"""Schedule configuration: a file, a URL or uploads, with poll interval, timeout and size."""
from __future__ import annotations

import pytest

from integrations.config.model import ConfigError, load_config
from tests.calendar_env import POLICY, PEOPLE


def load(tmp_path, schedules: str):
    (tmp_path / "primary.ics").write_text("BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n")
    (tmp_path / "backup.ics").write_text("BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n")
    path = tmp_path / "herald.yaml"
    path.write_text(PEOPLE + "schedules:\n" + schedules + POLICY)
    return load_config(path)


BASE = "  - {name: primary, calendar: primary.ics}\n  - {name: backup, calendar: backup.ics}\n"


def test_the_source_follows_from_calendar_or_url_and_durations_read_as_seconds(tmp_path):
    config = load(tmp_path, BASE + "  - {name: team, url: 'https://cal.example.com/x.ics', poll_interval: 2m, "
                                   "timeout: 5s, max_bytes: 100000}\n")
    assert config.schedules["primary"].source == "file"
    team = config.schedules["team"]
    assert (team.source, team.poll_interval, team.timeout, team.max_bytes) == ("url", 120.0, 5.0, 100000)
    assert config.schedules["primary"].poll_interval == 300.0 and config.schedules["primary"].max_bytes == 2097152


def test_an_upload_schedule_needs_no_calendar(tmp_path):
    config = load(tmp_path, BASE + "  - {name: team, source: upload}\n")
    assert config.schedules["team"].source == "upload" and config.schedules["team"].calendar is None


@pytest.mark.parametrize("line, message", [
    ("{name: team}", "give one of calendar (a file) or url, or set source: upload"),
    ("{name: team, calendar: primary.ics, url: 'https://x.example/a.ics'}", "give one of calendar"),
    ("{name: team, source: upload, calendar: primary.ics}", "source upload takes neither calendar nor url"),
    ("{name: team, source: url, calendar: primary.ics}", "source url takes url only"),
    ("{name: team, url: 'ftp://x.example/a.ics'}", "schedules.team.url"),
    ("{name: team, url: 'https://x.example/a.ics', poll_interval: soon}", "not a duration"),
    ("{name: team, url: 'https://x.example/a.ics', timeout: 0}", "schedules.team.timeout"),
    ("{name: team, calendar: missing.ics}", "schedules.team.calendar: file not found: missing.ics"),
])
def test_bad_schedule_sources_name_the_field(tmp_path, line, message):
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, BASE + f"  - {line}\n")
    assert message in str(caught.value)
