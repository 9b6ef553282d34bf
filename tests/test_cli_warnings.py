"""What ``herald oncall``, ``herald schedules lint`` and ``herald simulate`` say besides
their answer: each warning once, on stderr, on a line of its own (the calendar book's
log lines used to print every problem a second time, in between the table's lines),
and a warning when the Redis they reached holds no Herald data (on a machine with some
other Redis on the default port they showed the wrong person without a word).

The commands run as real processes: only there does Python print unhandled log records
to stderr, which is how the duplicates came about."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import pytest
import redis

from integrations import keys
from service.dev.local_redis import free_port
from tests.herald_env import ROOT, weekly_calendar, write_config

BROKEN = "not a readable iCalendar file"
UNKNOWN = "nobody known in attendee zed@example.com"


def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "service.cli.main", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env={**os.environ, **env})


def with_problems(tmp_path):
    """Alice is L1, plus a shift (begun two weeks ago, weekly) for someone nobody knows;
    the L2 calendar does not parse."""
    config = write_config(tmp_path / "conf")
    start = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=14)
    unknown = "\r\n".join(["BEGIN:VEVENT", "UID:zed-1", "DTSTAMP:20260101T000000Z",
                           f"DTSTART:{start:%Y%m%dT%H%M%SZ}", f"DTEND:{start + timedelta(hours=1):%Y%m%dT%H%M%SZ}",
                           "RRULE:FREQ=WEEKLY", "SUMMARY:On call Zed", "ATTENDEE:mailto:zed@example.com",
                           "END:VEVENT"])
    primary = weekly_calendar("p1", "alice@example.com", "Alice Adams")
    primary = primary.replace("END:VCALENDAR", unknown + "\r\nEND:VCALENDAR")
    (config.parent / "primary.ics").write_text(primary, newline="")
    (config.parent / "backup.ics").write_text("BEGIN:VCALENDAR\r\nnope", newline="")
    return config


def only_warning_lines(stderr: str) -> None:
    lines = stderr.splitlines()
    assert lines and all(line.startswith("warning: ") for line in lines), stderr


def test_oncall_prints_each_warning_once_on_stderr_after_the_table(tmp_path):
    result = run("oncall", "--offline", env={"HERALD_CONFIG": str(with_problems(tmp_path))})
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].split()[:3] == ["backup", "L2", "-"]  # the table ends the output
    assert "warning" not in result.stdout and BROKEN not in result.stdout
    assert result.stderr.count(BROKEN) == 1 and result.stderr.count(UNKNOWN) == 1, result.stderr
    only_warning_lines(result.stderr)


def test_lint_reports_each_problem_once(tmp_path):
    result = run("schedules", "lint", "--offline", env={"HERALD_CONFIG": str(with_problems(tmp_path))})
    assert result.returncode == 1
    both = result.stdout + result.stderr
    assert both.count(BROKEN) == 1 and both.count(UNKNOWN) == 1, both
    assert BROKEN in result.stdout  # the report: backup has 1 problem
    if result.stderr:
        only_warning_lines(result.stderr)


def test_a_calendar_without_problems_prints_no_warning(tmp_path):
    result = run("oncall", "--offline", env={"HERALD_CONFIG": str(write_config(tmp_path / "conf"))})
    assert result.returncode == 0 and result.stderr == "", result.stderr


# -- the Redis reached --------------------------------------------------------------------------
COMMANDS = {"oncall": ["oncall"], "lint": ["schedules", "lint"], "simulate": ["simulate", "PAYLOAD"]}


def command(name: str, tmp_path) -> list[str]:
    payload = tmp_path / "alert.json"
    payload.write_text((ROOT / "deploy" / "examples" / "test-alert.json").read_text())
    return [str(payload) if word == "PAYLOAD" else word for word in COMMANDS[name]]


@pytest.mark.parametrize("name", COMMANDS)
def test_a_redis_without_herald_data_is_named(name, tmp_path, redis_url):
    env = {"HERALD_CONFIG": str(write_config(tmp_path / "conf")), "HERALD_REDIS_URL": redis_url}
    result = run(*command(name, tmp_path), env=env)
    assert f"warning: no Herald data at {redis_url} (HERALD_REDIS_URL)" in result.stderr, result.stderr
    assert "alice" in result.stdout or name == "lint"  # the answer from the files still follows

    client = redis.Redis.from_url(redis_url)
    client.zadd(keys.WORKER_HEARTBEAT, {"worker-1": time.time()})  # what a Herald worker's sweep leaves
    client.close()
    result = run(*command(name, tmp_path), env=env)
    assert "no Herald data" not in result.stderr, result.stderr


def test_an_unreachable_redis_is_named_without_its_password(tmp_path):
    url = f"redis://:s3cret-pass@127.0.0.1:{free_port()}/0"
    result = run("oncall", env={"HERALD_CONFIG": str(write_config(tmp_path / "conf")), "HERALD_REDIS_URL": url})
    assert result.returncode == 0
    assert "Redis unreachable at redis://:***@127.0.0.1:" in result.stderr and "no Herald data" not in result.stderr
    assert "s3cret-pass" not in result.stdout + result.stderr
    assert "alice" in result.stdout
