"""``herald schedules lint`` (exit codes for CI) and ``herald oncall`` (a table), with and
without Redis."""
from __future__ import annotations

from datetime import timedelta

import pytest
import redis

from integrations.calendar_copies import CalendarCopies
from integrations.handoff_store import HandoffStore, StoredHandoff
from service.cli.main import main
from tests.calendar_env import calendar, event, now_utc, write_schedule_config


@pytest.fixture
def conf(tmp_path, redis_url, monkeypatch):
    monkeypatch.setenv("HERALD_REDIS_URL", redis_url)
    return write_schedule_config(tmp_path / "conf")


@pytest.fixture
def client(redis_url):
    c = redis.Redis.from_url(redis_url, decode_responses=True)
    yield c
    c.close()


def gappy(now) -> bytes:
    """alice until now + 2 days, nobody for a day, alice again from now + 3 days."""
    return calendar(event("g1", "alice@example.com", now - timedelta(days=1), now + timedelta(days=2)),
                    event("g2", "alice@example.com", now + timedelta(days=3), now + timedelta(days=60)))


def test_lint_passes_on_full_coverage_and_fails_on_a_gap(conf, tmp_path, capsys):
    assert main(["schedules", "lint", "--config", str(conf), "--schedule", "primary", "--offline"]) == 0
    assert "primary (file, " in capsys.readouterr().out
    published = tmp_path / "published.ics"
    published.write_bytes(gappy(now_utc()))
    code = main(["schedules", "lint", "--config", str(conf), "--schedule", "primary", "--file",
                 f"primary={published}", "--offline"])
    out = capsys.readouterr().out
    assert code == 1
    assert "primary (file, 2 shifts, next 30 days): 1 problem" in out and "gap L1: nobody on call for L1" in out
    assert main(["schedules", "lint", "--config", str(conf), "--schedule", "primary", "--file",
                 f"primary={published}", "--days", "1", "--offline"]) == 0  # the gap starts after one day


def test_lint_reports_broken_calendars_and_unloaded_uploads(conf, tmp_path, capsys):
    broken = tmp_path / "broken.ics"
    broken.write_bytes(b"BEGIN:VCALENDAR\r\nnope")
    assert main(["schedules", "lint", "--config", str(conf), "--file", f"backup={broken}", "--offline"]) == 1
    out = capsys.readouterr().out
    assert "backup (file, 0 shifts, next 30 days): 1 problem" in out and "not a readable iCalendar" in out
    assert "team (upload, 0 shifts, next 30 days): 1 problem" in out and "no calendar loaded" in out


def test_lint_with_redis_checks_the_uploaded_copy_with_handoffs(conf, client, capsys):
    now = now_utc()
    CalendarCopies(client).save("team", gappy(now), origin="upload", now=now)
    args = ["schedules", "lint", "--config", str(conf), "--schedule", "team", "--skip-contacts"]
    assert main(args) == 1
    assert "gap L1" in capsys.readouterr().out
    HandoffStore(client).create(StoredHandoff(id="", schedule="team", tier="L1", to="erin",
                                              start=now + timedelta(days=1), end=now + timedelta(days=4)))
    HandoffStore(client).create(StoredHandoff(id="", schedule="team", tier="L2", to="carol",
                                              start=now - timedelta(days=1), end=now + timedelta(days=40)))
    assert main(args) == 0, capsys.readouterr().out


def test_lint_usage_and_config_errors_exit_2(conf, capsys):
    assert main(["schedules", "lint", "--config", str(conf), "--schedule", "nope"]) == 2
    assert "no schedule named 'nope'" in capsys.readouterr().err
    assert main(["schedules", "lint", "--config", str(conf), "--file", "primary"]) == 2
    assert main(["schedules", "lint", "--config", str(conf.parent / "missing.yaml")]) == 2
    with pytest.raises(SystemExit) as caught:
        main(["schedules", "lint", "--days", "0"])
    assert caught.value.code == 2


def test_oncall_prints_a_table_with_handoffs_from_redis(conf, client, capsys):
    now = now_utc()
    HandoffStore(client).create(StoredHandoff(id="", schedule="backup", tier="L2", to="erin",
                                              start=now - timedelta(hours=1), end=now + timedelta(hours=1)))
    assert main(["oncall", "--config", str(conf)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split() == ["SCHEDULE", "TIER", "PERSON", "NAME", "FROM", "UNTIL", "SOURCE"]
    rows = [line.split() for line in lines[2:]]
    assert [(r[0], r[1], r[2], r[-1]) for r in rows[:2]] == [("primary", "L1", "alice", "calendar"),
                                                              ("backup", "L2", "erin", "h1")]
    assert rows[2][:3] == ["team", "L1", "-"] and "(nobody" in lines[4]

    later = (now + timedelta(hours=2)).isoformat()
    assert main(["oncall", "--config", str(conf), "--schedule", "backup", "--tier", "L2", "--at", later]) == 0
    out = capsys.readouterr().out
    assert "bob" in out and "erin" not in out
    assert main(["oncall", "--config", str(conf), "--schedule", "backup", "--offline"]) == 0
    assert "bob" in capsys.readouterr().out  # no Redis: no handoffs
    assert main(["oncall", "--config", str(conf), "--at", "soon"]) == 2


def test_oncall_falls_back_to_files_when_redis_is_unreachable(conf, monkeypatch, capsys):
    monkeypatch.setenv("HERALD_REDIS_URL", "redis://127.0.0.1:1/0")
    assert main(["oncall", "--config", str(conf), "--schedule", "primary"]) == 0
    captured = capsys.readouterr()
    assert "alice" in captured.out and "Redis unreachable" in captured.err


def test_lint_reports_an_unknown_person_on_call_now_in_a_series_that_began_earlier(conf, tmp_path, capsys):
    """A weekly event naming nobody known, begun three weeks ago: its first occurrence is
    before the days checked, the one running now is in them -- lint counts it (it used to
    say it only as a warning about an earlier shift, and exit 0)."""
    now = now_utc().replace(microsecond=0)
    weekly_unknown = event("zed", "zed@example.com", now - timedelta(days=21, hours=1),
                           now - timedelta(days=14, hours=1)).replace("SUMMARY", "RRULE:FREQ=WEEKLY\r\nSUMMARY")
    published = tmp_path / "published.ics"
    published.write_bytes(calendar(event("a", "alice@example.com", now - timedelta(days=40), now + timedelta(days=60)),
                                   weekly_unknown))
    code = main(["schedules", "lint", "--config", str(conf), "--schedule", "primary", "--file",
                 f"primary={published}", "--offline", "--days", "7"])
    captured = capsys.readouterr()
    assert code == 1, captured.out
    lines = captured.out.splitlines()
    assert lines[0] == "primary (file, 1 shifts, next 7 days): 1 problem"
    assert lines[1:] == ["  unknown_person L1: zed: nobody known in attendee zed@example.com; summary 'On call'"]
    assert captured.err == ""  # said once, in the report


def test_lint_of_a_series_naming_nobody_only_before_the_days_checked_warns_without_failing(conf, tmp_path, capsys):
    now = now_utc().replace(microsecond=0)
    ended = event("zed", "zed@example.com", now - timedelta(days=21), now - timedelta(days=14)).replace(
        "SUMMARY", "RRULE:FREQ=WEEKLY;COUNT=2\r\nSUMMARY")
    published = tmp_path / "published.ics"
    published.write_bytes(calendar(event("a", "alice@example.com", now - timedelta(days=40), now + timedelta(days=60)),
                                   ended))
    code = main(["schedules", "lint", "--config", str(conf), "--schedule", "primary", "--file",
                 f"primary={published}", "--offline", "--days", "7"])
    captured = capsys.readouterr()
    assert code == 0, captured.out
    assert captured.err.count("warning: primary: unknown person: zed: nobody known") == 1, captured.err
