"""The shift-start digest, sent from the sweep once per shift start and person."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from service.worker import due
from service.engine.runtime import Herald
from service.settings import Settings
from service.engine.shift_digest import digest_text, send_digests
from tests.herald_env import CONFIG, env_for, weekly_calendar


def one_shift(start: datetime) -> str:
    stamp = lambda t: t.strftime("%Y%m%dT%H%M%SZ")  # noqa: E731
    return "\r\n".join(["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//t//EN", "BEGIN:VEVENT", "UID:s1",
                        "DTSTAMP:20260101T000000Z", f"DTSTART:{stamp(start)}",
                        f"DTEND:{stamp(start + timedelta(hours=8))}", "SUMMARY:On call Alice Adams",
                        "ATTENDEE:mailto:alice@example.com", "END:VEVENT", "END:VCALENDAR", ""])


@pytest.fixture
def now() -> datetime:
    """This test's now: the sweep compares the shift start with the real clock."""
    return datetime.now(timezone.utc).replace(microsecond=0)


@pytest.fixture
def herald_with_digest(tmp_path, redis_url, monkeypatch):
    built: list[Herald] = []

    def build(shift_start: datetime, digest: bool = True) -> Herald:
        (tmp_path / "primary.ics").write_text(one_shift(shift_start), newline="")
        (tmp_path / "backup.ics").write_text(weekly_calendar("b1", "bob@example.com", "Bob Brown"), newline="")
        text = (CONFIG % {"delay": "1h"}).replace("{name: primary, calendar: primary.ics, default_tier: L1}",
                                                  f"{{name: primary, calendar: primary.ics, default_tier: L1, "
                                                  f"digest: {str(digest).lower()}}}")
        (tmp_path / "herald.yaml").write_text(text)
        for key, value in env_for(tmp_path / "herald.yaml", redis_url).items():
            monkeypatch.setenv(key, value)
        built.append(Herald.from_settings(Settings()))
        return built[-1]
    yield build
    for herald in built:
        herald.close()


def test_incoming_on_call_gets_one_digest_per_shift_start(herald_with_digest, now, capsys):
    herald = herald_with_digest(now - timedelta(minutes=5))
    assert send_digests(herald, now) == 1
    assert send_digests(herald, now + timedelta(minutes=1)) == 0  # a second sweep, or another worker
    printed = capsys.readouterr().out
    assert printed.count("NOTICE [sms] -> Alice Adams: Your shift on primary L1 started at") == 1


def test_no_digest_for_an_old_shift_or_a_schedule_without_digest(herald_with_digest, now):
    assert send_digests(herald_with_digest(now - timedelta(hours=2)), now) == 0
    assert send_digests(herald_with_digest(now - timedelta(minutes=5), digest=False), now) == 0


def test_the_sweep_sends_it(herald_with_digest, now, capsys, monkeypatch):
    herald = herald_with_digest(now - timedelta(minutes=1))
    due.run_now(herald, periodic=True)
    assert "Your shift on primary L1" in capsys.readouterr().out


def test_digest_text_lists_incidents_and_notes(now):
    from integrations.handoff_store import StoredHandoff
    from routing.incident import Incident

    incident = Incident(id="12", receiver="r", group_key="g", policy="p", severity="P1", title="Disk full",
                        created_at=now)
    note = StoredHandoff(id="h1", schedule="primary", tier="L1", to="alice", start=now, end=now, note="db2 flaky")
    text = digest_text("primary", "L1", now, [incident], [note])
    assert "Open incidents (1): #12 triggered P1 Disk full" in text and "alice: db2 flaky" in text
    assert "No open incidents." in digest_text("primary", "L1", now, [], [])
