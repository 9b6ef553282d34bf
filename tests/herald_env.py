"""Builds a small, fast Herald configuration in a temporary folder for tests."""
from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
AM_TOKEN = "test-am-token"
API_TOKEN = "test-api-token"


def weekly_calendar(uid: str, person_email: str, name: str) -> str:
    """One endless weekly shift starting in the past: ``person`` is always on call."""
    return "\r\n".join([
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Herald tests//EN",
        "BEGIN:VEVENT", f"UID:{uid}", "DTSTAMP:20260101T000000Z",
        "DTSTART:20260105T080000Z", "DTEND:20260112T080000Z", "RRULE:FREQ=WEEKLY",
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


def write_config(directory: Path, delay: str = "1h") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "primary.ics").write_text(weekly_calendar("p1", "alice@example.com", "Alice Adams"), newline="")
    (directory / "backup.ics").write_text(weekly_calendar("b1", "bob@example.com", "Bob Brown"), newline="")
    path = directory / "herald.yaml"
    path.write_text(CONFIG % {"delay": delay})
    return path


def env_for(config: Path, redis_url: str, public_url: str = "http://127.0.0.1:9") -> dict[str, str]:
    return {
        "HERALD_CONFIG": str(config), "HERALD_REDIS_URL": redis_url, "HERALD_PUBLIC_URL": public_url,
        "HERALD_ALERTMANAGER_TOKEN": AM_TOKEN, "HERALD_API_TOKEN": API_TOKEN,
    }


def fixture_payload(name: str) -> dict:
    return json.loads((FIXTURES / "alertmanager" / name).read_text())
