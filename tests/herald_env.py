"""Builds a small, fast Herald configuration in a temporary folder for tests."""
from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
AM_TOKEN = "test-am-token"
API_TOKEN = "test-api-token"


#: The weekly shifts' first start, a Monday 08:00 UTC. Tests that put Herald's clock at
#: a fixed day in 2026 (the SLA report, the watchdog) need someone on call then.
WEEKLY_START = datetime(2026, 1, 5, 8, 0, tzinfo=timezone.utc)


@cache
def _weekly_start() -> datetime:
    """WEEKLY_START, or a Monday 08:00 UTC four weeks before now when the clock is
    earlier than that: the shifts have begun whatever the date (one value per process)."""
    latest = datetime.now(timezone.utc) - timedelta(weeks=4)
    if WEEKLY_START <= latest:
        return WEEKLY_START
    return WEEKLY_START - timedelta(weeks=(WEEKLY_START - latest) // timedelta(weeks=1) + 1)


def weekly_calendar(uid: str, person_email: str, name: str) -> str:
    """One endless weekly shift, Mondays 08:00 UTC, started in the past: ``person`` is
    always on call."""
    start = _weekly_start()
    return "\r\n".join([
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Herald tests//EN",
        "BEGIN:VEVENT", f"UID:{uid}", f"DTSTAMP:{start - timedelta(days=4):%Y%m%dT000000Z}",
        f"DTSTART:{start:%Y%m%dT%H%M%SZ}", f"DTEND:{start + timedelta(weeks=1):%Y%m%dT%H%M%SZ}",
        "RRULE:FREQ=WEEKLY",
        f"SUMMARY:On call {name}", f"ATTENDEE;CN={name}:mailto:{person_email}",
        "END:VEVENT", "END:VCALENDAR", ""])


CONFIG = """
people:
  - {id: alice, name: Alice Adams, email: alice@example.com, phone: "+15550100001"}
  - {id: bob, name: Bob Brown, email: bob@example.com, phone: "+15550100002"}
  - {id: erin, name: Erin Engel, email: erin@example.com, phone: "+15550100004"}
  - {id: dave, name: Dave Dietz, email: dave@example.com, phone: "+15550100005"}
schedules:
  - {name: primary, calendar: primary.ics, default_tier: L1}
  - {name: backup, calendar: backup.ics, default_tier: L2}
policies:
  - name: default
    escalate_after: {P0: %(delay)s, P1: %(delay)s, P2: %(delay)s, P3: %(delay)s}
    tiers:
      - {name: L1, schedule: primary, channels: {P1: [sms], P2: [sms]}}
      - {name: L2, schedule: backup, channels: {P1: [sms], P2: [sms]}}
      - {name: engineering, people: [erin], channels: {P1: [sms], P2: [sms]}}
      - {name: executive, people: [dave], channels: {P1: [sms], P2: [sms]}}
route: {policy: default}
"""


def write_config(directory: Path, delay: str = "1h", extra: str = "") -> Path:
    """The test configuration in ``directory`` (``extra``: more top-level YAML sections)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "primary.ics").write_text(weekly_calendar("p1", "alice@example.com", "Alice Adams"), newline="")
    (directory / "backup.ics").write_text(weekly_calendar("b1", "bob@example.com", "Bob Brown"), newline="")
    path = directory / "herald.yaml"
    path.write_text(CONFIG % {"delay": delay} + extra)
    return path


def env_for(config: Path, redis_url: str, public_url: str = "http://127.0.0.1:9") -> dict[str, str]:
    return {
        "HERALD_CONFIG": str(config), "HERALD_REDIS_URL": redis_url, "HERALD_PUBLIC_URL": public_url,
        "HERALD_ALERTMANAGER_TOKEN": AM_TOKEN, "HERALD_API_TOKEN": API_TOKEN,
    }


GO_ZERO_TIME = "0001-01-01T00:00:00Z"  # a firing alert's endsAt
#: How long before now the newest time in the captured payloads is put.
FIXTURE_AGE = timedelta(minutes=5)
_RFC3339 = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)")


def _captured(name: str) -> dict:
    return json.loads((FIXTURES / "alertmanager" / name).read_text())


def _alert_times(payload: dict) -> list[str]:
    return [a[key] for a in payload["alerts"] for key in ("startsAt", "endsAt") if a[key] != GO_ZERO_TIME]


def _parse(value: str) -> tuple[datetime, str, str]:
    """(the whole seconds, the fraction as written, the offset as written)."""
    match = _RFC3339.fullmatch(value)
    if match is None:
        raise ValueError(f"not an RFC 3339 time: {value!r}")
    seconds, fraction, offset = match.groups()
    return datetime.fromisoformat(seconds + offset.replace("Z", "+00:00")), fraction or "", offset


@cache
def fixture_shift() -> timedelta:
    """How far fixture_payload moves the captured times: a whole number of seconds that
    puts the newest time of all captured payloads FIXTURE_AGE before now. Computed once
    per process, so the same payload is the same bytes every time it is asked for (a
    re-send must be a re-send) and the payloads of one group stay one group."""
    newest = max(_parse(t)[0] for path in (FIXTURES / "alertmanager").glob("*.json")
                 for t in _alert_times(_captured(path.name)))
    return datetime.now(timezone.utc).replace(microsecond=0) - FIXTURE_AGE - newest


def fixture_time(value: str) -> str:
    """A time as captured (RFC 3339) moved by fixture_shift(), its precision and offset
    kept as they were; Go's zero time stays as it is."""
    if value == GO_ZERO_TIME:
        return value
    seconds, fraction, offset = _parse(value)
    return f"{seconds + fixture_shift():%Y-%m-%dT%H:%M:%S}{fraction}{offset}"


def fixture_payload(name: str) -> dict:
    """A webhook body captured from the real Alertmanager (fixtures/alertmanager/), its
    alerts' startsAt/endsAt moved to just before now: the newest time of all the payloads
    is FIXTURE_AGE ago, the gaps between them are as captured, a firing alert's endsAt is
    Go's zero time, a resolved alert's lies after its startsAt and in the past."""
    payload = _captured(name)
    for alert in payload["alerts"]:
        for key in ("startsAt", "endsAt"):
            alert[key] = fixture_time(alert[key])
    return payload


def open_group(client, group: str) -> str:
    """Post firing.json as Alertmanager would, under ``group`` (its groupKey), through a
    TestClient; the id of the incident it opened."""
    payload = fixture_payload("firing.json")
    payload["groupKey"] = group
    r = client.post("/api/v1/alertmanager", content=json.dumps(payload),
                    headers={"Authorization": f"Bearer {AM_TOKEN}"})
    assert r.status_code == 200, r.text
    return r.json()["incidents"][0]["id"]
